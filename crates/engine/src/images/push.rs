//! `berth push`: only the blobs the registry lacks are sent (HEAD first, then a
//! cross-repository mount where the registry has the blob elsewhere), several
//! at once, the manifest last.
//!
//! A pulled image goes back byte for byte: same blobs, same manifest, same
//! digest. Uncompressed layers (import, load of `docker save` output) are
//! compressed once and the compressed blob kept with the image, so pushing
//! again costs only HEAD requests.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use berth_distribution::{Mounted, Registry};
use berth_layer::{Compression, Compressor};
use berth_oci::image::{Descriptor, Manifest, from_json};
use berth_oci::{Digest, Reference, media};

use crate::layers::unpack::Counting;
use crate::{Engine, Error, Progress, Result, to_json};

/// How uncompressed layers are compressed for a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PushCompression {
    /// gzip (every registry and client reads it).
    #[default]
    Gzip,
    /// zstd (smaller and faster; needs an OCI manifest and a recent client).
    Zstd,
}

/// Settings of [`Engine::push`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PushOptions {
    /// `--all-tags`: every local tag of the repository.
    pub all_tags: bool,
    /// `--compression`.
    pub compression: PushCompression,
    /// Credentials for this push only (a daemon client's `X-Registry-Auth`);
    /// `None` uses the stored login.
    pub credentials: Option<berth_oci::auth::Credentials>,
}

/// One tag pushed.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference pushed.
    pub reference: Reference,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: usize,
}

impl Engine {
    /// Pushes `name` (or with `all_tags`, every local tag of its repository).
    pub fn push(
        &self,
        name: &str,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Pushed>> {
        let reference = Reference::parse(name)?;
        if reference.digest().is_some() {
            return Err(Error::InvalidArgument(format!(
                "cannot push a digest reference ({name}): push a tag"
            )));
        }
        let references: Vec<Reference> = if opts.all_tags {
            if reference.tag().is_some() {
                return Err(Error::InvalidArgument(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let repo = reference.repository();
            let mut refs: Vec<Reference> = self
                .images(&crate::ImageFilter::default())?
                .into_iter()
                .flat_map(|i| i.tags)
                .filter(|t| t.repository() == repo)
                .collect();
            refs.sort_by_key(|r| r.to_string());
            if refs.is_empty() {
                return Err(Error::ImageNotFound(name.to_string()));
            }
            refs
        } else {
            vec![reference.with_default_tag()]
        };
        let _guard = self.gc.shared()?;
        let registry = self.registry_with(references[0].domain(), opts.credentials.clone())?;
        progress.message(&format!(
            "The push refers to repository [{}]",
            references[0].repository()
        ));
        let mut out = Vec::new();
        for r in references {
            out.push(self.push_one(&registry, &r, opts, progress)?);
        }
        Ok(out)
    }

    fn push_one(
        &self,
        registry: &Registry,
        reference: &Reference,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Pushed> {
        let image = self.resolve(&reference.to_string())?;
        let stored = self.blobs.read(&image.manifest)?;
        let manifest: Manifest = from_json("manifest", &stored)?;
        let (bytes, manifest) = self.distributable(&image.id, stored, manifest, opts, progress)?;
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        // Repositories of the same registry that hold this image: mount sources.
        let mount_from: Vec<String> = image
            .digests
            .iter()
            .chain(&image.tags)
            .filter(|r| r.domain() == reference.domain() && r.path() != reference.path())
            .map(|r| r.path().to_string())
            .fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p);
                }
                v
            });
        let repo = reference.path();
        // Layers bottom first, as docker lists them, then the config.
        let mut blobs: Vec<(&Descriptor, bool)> =
            manifest.layers.iter().map(|l| (l, false)).collect();
        blobs.push((&manifest.config, true));
        crate::parallel::map(
            &blobs,
            self.max_concurrent_uploads(),
            |(desc, is_config)| {
                self.push_blob(registry, repo, desc, *is_config, &mount_from, progress)
            },
        )?;
        let tag = reference.tag().unwrap_or("latest");
        registry.put_manifest(repo, tag, &media_type, &bytes)?;
        let digest = Digest::of(&bytes);
        let repo_digest = Reference::parse(&reference.repository())?.with_digest(digest.clone());
        self.db
            .add_repo_digest(&repo_digest.to_string(), &image.id)?;
        progress.message(&format!("{tag}: digest: {digest} size: {}", bytes.len()));
        Ok(Pushed {
            reference: reference.clone(),
            digest,
            size: bytes.len(),
        })
    }

    /// The manifest to push: the stored one when its layers are compressed
    /// already (byte for byte), else one naming compressed forms of the layers.
    fn distributable(
        &self,
        image: &Digest,
        stored: Vec<u8>,
        manifest: Manifest,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<(Vec<u8>, Manifest)> {
        let uncompressed = |t: &str| t == media::OCI_LAYER_TAR || t == media::DOCKER_LAYER_TAR;
        if !manifest.layers.iter().any(|l| uncompressed(&l.media_type)) {
            return Ok((stored, manifest));
        }
        let docker = manifest.media_type.as_deref() == Some(media::DOCKER_MANIFEST)
            && opts.compression == PushCompression::Gzip;
        let (compression, layer_type) = match (opts.compression, docker) {
            (PushCompression::Gzip, true) => (Compression::Gzip, media::DOCKER_LAYER_GZIP),
            (PushCompression::Gzip, false) => (Compression::Gzip, media::OCI_LAYER_GZIP),
            (PushCompression::Zstd, _) => (Compression::Zstd, media::OCI_LAYER_ZSTD),
        };
        let mut out = manifest.clone();
        if !docker {
            out.media_type = Some(media::OCI_MANIFEST.to_string());
            if out.config.media_type == media::DOCKER_CONFIG {
                out.config.media_type = media::OCI_CONFIG.to_string();
            }
        }
        // Compressing is CPU-bound: every layer at once, as many as there are CPUs.
        let tars: Vec<Digest> = out
            .layers
            .iter()
            .filter(|l| uncompressed(&l.media_type))
            .map(|l| l.digest.clone())
            .collect();
        let compressed = crate::parallel::map(&tars, crate::parallel::cpu_workers(), |tar| {
            self.compressed_blob(tar, compression, progress)
        })?;
        let mut kept = Vec::new();
        let mut compressed = compressed.into_iter();
        for layer in out.layers.iter_mut() {
            if !uncompressed(&layer.media_type) {
                continue;
            }
            let Some((digest, size)) = compressed.next() else {
                break;
            };
            kept.push(digest.clone());
            layer.media_type = layer_type.to_string();
            layer.digest = digest;
            layer.size = size;
        }
        let bytes = to_json(&out)?;
        kept.push(self.blobs.put(&bytes)?);
        self.db.add_image_blobs(image, &kept)?;
        Ok((bytes, out))
    }

    /// The compressed form of an uncompressed layer blob: found in the store if
    /// an earlier push made it, else made now.
    fn compressed_blob(
        &self,
        tar: &Digest,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<(Digest, u64)> {
        for candidate in self.db.blobs_with_diff_id(tar)? {
            if &candidate == tar || !self.blobs.contains(&candidate) {
                continue;
            }
            let mut head = [0u8; 4];
            let mut f = self.blobs.open_blob(&candidate)?;
            let n = f.read(&mut head).map_err(Error::io(&candidate))?;
            if berth_layer::Compression::detect(&head[..n]).ok() == Some(compression) {
                return Ok((candidate.clone(), self.blobs.size(&candidate)?));
            }
        }
        let id = tar.short().to_string();
        let input = self.blobs.open_blob(tar)?;
        let total = input.metadata().map_err(Error::io(tar))?.len();
        progress.start(&id, "Compressing", Some(total));
        let mut writer = self.blobs.writer()?;
        let mut c = Compressor::new(&mut writer, compression).map_err(Error::io(tar))?;
        io::copy(
            &mut Counting::new(io::BufReader::with_capacity(1 << 20, input), &id, progress),
            &mut c,
        )
        .map_err(Error::io(tar))?;
        c.finish()
            .map_err(Error::io(tar))?
            .flush()
            .map_err(Error::io(tar))?;
        let size = writer.size();
        let digest = writer.commit(None)?;
        self.db.put_blob_diff_id(&digest, tar)?;
        Ok((digest, size))
    }

    fn push_blob(
        &self,
        registry: &Registry,
        repo: &str,
        desc: &Descriptor,
        is_config: bool,
        mount_from: &[String],
        progress: &dyn Progress,
    ) -> Result<()> {
        let id = desc.digest.short().to_string();
        if registry.blob_size(repo, &desc.digest)?.is_some() {
            if !is_config {
                progress.done(&id, "Layer already exists");
            }
            return Ok(());
        }
        let mut upload = None;
        for from in mount_from {
            match registry.mount_blob(repo, &desc.digest, from) {
                Ok(Mounted::Yes) => {
                    if !is_config {
                        progress.done(&id, &format!("Mounted from {from}"));
                    }
                    return Ok(());
                }
                Ok(Mounted::Upload(url)) => {
                    upload = Some(url);
                    break;
                }
                // A registry may refuse mounts (no pull right on the source): upload.
                Err(e) => tracing::debug!(blob = %desc.digest, from, error = %e, "mount refused"),
            }
        }
        let upload = match upload {
            Some(u) => u,
            None => registry.start_upload(repo)?,
        };
        let path = self.blobs.path(&desc.digest);
        let size = self.blobs.size(&desc.digest)?;
        if !is_config {
            progress.start(&id, "Pushing", Some(size));
        }
        // The body is read on the HTTP client's own thread, which cannot borrow
        // the progress display: it counts, and this thread reports.
        let sent = Arc::new(AtomicU64::new(0));
        let open = || -> io::Result<Box<dyn Read + Send>> {
            sent.store(0, Ordering::Relaxed);
            Ok(Box::new(CountingFile {
                inner: std::fs::File::open(&path)?,
                sent: sent.clone(),
            }))
        };
        let finished = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            if !is_config {
                s.spawn(|| {
                    let mut shown = 0;
                    while !finished.load(Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        let now = sent.load(Ordering::Relaxed);
                        if now > shown {
                            progress.advance(&id, now - shown);
                            shown = now;
                        }
                    }
                });
            }
            let r = registry.upload_blob(repo, upload, &desc.digest, size, &open);
            finished.store(true, Ordering::Relaxed);
            r
        });
        result?;
        if !is_config {
            progress.done(&id, "Pushed");
        }
        Ok(())
    }
}

/// A blob file that counts what the upload has read of it.
struct CountingFile {
    inner: std::fs::File,
    sent: Arc<AtomicU64>,
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
