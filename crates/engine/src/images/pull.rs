//! `berth pull`: manifests resolved to this platform, then every missing layer
//! downloaded, hashed, decompressed and unpacked in one pass, several at once.
//!
//! Each layer streams into `ingest/dl-<hex>` (see `Blobs::resume`) while it is
//! extracted, so an interrupted pull resumes with a Range request, and two pulls
//! of a shared layer fetch it once. The image is recorded only after every blob
//! and diff ID checked out.

use std::collections::HashMap;
use std::io::{self, Read};

use berth_distribution::{FetchedManifest, Registry};
use berth_layer::{Applied, decompress};
use berth_oci::image::{Descriptor, ImageConfig, Index, Manifest, Platform, from_json};
use berth_oci::{Digest, Reference, media};
use berth_store::PartialBlob;

use crate::keys;
use crate::layers::unpack::{Counting, LayerBlob, LayerSource, StoredLayers, image_layers};
use crate::{Engine, Error, Progress, Result};

/// Settings of [`Engine::pull`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PullOptions {
    /// `--platform`: the platform to pick from an index (default: this host's).
    pub platform: Option<Platform>,
    /// `--all-tags`: every tag of the repository.
    pub all_tags: bool,
    /// Credentials for this pull only (a daemon client's `X-Registry-Auth`);
    /// `None` uses the stored login.
    pub credentials: Option<berth_oci::auth::Credentials>,
}

/// One image a pull brought in (or found up to date).
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference pulled, normalised (`docker.io/library/busybox:latest`).
    pub reference: Reference,
    /// The image ID.
    pub id: Digest,
    /// The digest the registry knows it by (the index's for a multi-platform image).
    pub digest: Digest,
    /// False when the image was already here under that name.
    pub downloaded: bool,
}

/// Layer media types berth can pull.
fn supported_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        media::OCI_LAYER_TAR
            | media::OCI_LAYER_GZIP
            | media::OCI_LAYER_ZSTD
            | media::DOCKER_LAYER_GZIP
            | media::DOCKER_LAYER_TAR
            | media::DOCKER_FOREIGN_LAYER_GZIP
            | media::OCI_NONDISTRIBUTABLE_LAYER_TAR
            | media::OCI_NONDISTRIBUTABLE_LAYER_GZIP
            | media::OCI_NONDISTRIBUTABLE_LAYER_ZSTD
    )
}

impl Engine {
    /// Pulls an image (or, with `all_tags`, every tag of a repository).
    pub fn pull(
        &self,
        name: &str,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Pulled>> {
        let reference = Reference::parse(name)?;
        let endpoints = self.pull_endpoints(reference.domain(), opts.credentials.clone())?;
        let pulled =
            self.with_sweeps(|| self.pull_locked(reference, &endpoints, opts, progress))?;
        for p in &pulled {
            self.emit(
                "image",
                "pull",
                &p.reference.familiar(),
                &[("name", &p.reference.familiar())],
            );
        }
        Ok(pulled)
    }

    fn pull_locked(
        &self,
        reference: Reference,
        endpoints: &[Registry],
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Pulled>> {
        if opts.all_tags {
            if reference.tag().is_some() || reference.digest().is_some() {
                return Err(Error::InvalidArgument(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let registry = endpoints.last().ok_or_else(|| {
                Error::InvalidArgument(format!("no registry for {}", reference.domain()))
            })?;
            let mut tags = registry.tags(reference.path())?;
            tags.sort();
            let mut out = Vec::new();
            for tag in tags {
                let r = reference.with_tag(&tag)?;
                out.push(self.pull_one(endpoints, &r, opts, progress)?);
            }
            return Ok(out);
        }
        let reference = if reference.digest().is_none() && reference.tag().is_none() {
            progress.message("Using default tag: latest");
            reference.with_default_tag()
        } else {
            reference
        };
        Ok(vec![self.pull_one(endpoints, &reference, opts, progress)?])
    }

    fn pull_one(
        &self,
        endpoints: &[Registry],
        reference: &Reference,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Pulled> {
        let repo = reference.path();
        let wanted = wanted(reference);
        let (registry, top) = find_manifest(endpoints, reference)?;
        // As dockerd: nothing is said before the manifest is found, so a
        // missing image is one error (the API's 404) and no progress.
        progress.message(&format!("{wanted}: Pulling from {repo}"));
        if let Some(d) = reference.digest()
            && &top.digest != d
        {
            return Err(Error::Archive(format!(
                "manifest for {reference} has digest {} (the registry served other content)",
                top.digest
            )));
        }
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let manifest_raw = self.resolve_platform(registry, reference, &top, &platform)?;
        let manifest: Manifest = from_json("manifest", &manifest_raw.bytes)?;
        crate::images::catalog::check_layer_count(reference, manifest.layers.len())?;
        for l in &manifest.layers {
            if !supported_layer(&l.media_type) {
                return Err(Error::Unsupported(format!(
                    "{reference}: layer media type {:?} is not supported",
                    l.media_type
                )));
            }
        }
        let config_raw = match self.blobs.read(&manifest.config.digest) {
            Ok(raw) => raw,
            Err(_) => {
                let raw = registry.small_blob(repo, &manifest.config.digest)?;
                self.blobs.put(&raw)?;
                raw
            }
        };
        let config: ImageConfig = from_json("image config", &config_raw)?;
        let id = manifest.config.digest.clone();
        let tag = reference.tag().map(|_| reference.clone());
        let up_to_date = match &tag {
            Some(t) => self.db.resolve_name(&t.to_string())?.as_ref() == Some(&id),
            None => self.db.image(&id)?.is_some(),
        };

        let layers = image_layers(&manifest, &config, |_| None)?;
        let source = RemoteLayers {
            registry,
            repo,
            layers: manifest
                .layers
                .iter()
                .map(|l| (l.digest.clone(), l.clone()))
                .collect(),
        };
        // A layer unpacked from another image whose blob differs (a load of the
        // uncompressed tar, say) still needs this image's blob, for save and push.
        let snap = self.snapshotter()?;
        let chains =
            berth_oci::chain_ids(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
        let unpacked: Vec<bool> = chains
            .iter()
            .map(|c| {
                snap.stat(&keys::layer(c))
                    .is_ok_and(|i| i.kind == berth_snapshot::Kind::Committed)
            })
            .collect();
        for (layer, unpacked) in layers.iter().zip(&unpacked) {
            if !unpacked {
                progress.message(&format!("{}: Pulling fs layer", layer.blob.short()));
            }
        }
        for (layer, unpacked) in layers.iter().zip(&unpacked) {
            if !self.blobs.contains(&layer.blob) && *unpacked {
                source.stream(self, layer, progress, "Download complete", &mut |tar| {
                    Ok(Applied {
                        tar_size: self.check_stream(layer, tar)?,
                        diff_id: layer.diff_id.clone(),
                        content_size: 0,
                    })
                })?;
            }
        }
        let chains = self.unpack_from(&layers, &source, progress)?;

        let manifest_digest = self.blobs.put(&manifest_raw.bytes)?;
        let tags: Vec<Reference> = tag.into_iter().collect();
        self.record_image(&manifest_digest, &manifest, &config, &chains, &tags)?;
        let repo_digest =
            Reference::parse(&reference.repository())?.with_digest(top.digest.clone());
        self.db.add_repo_digest(&repo_digest.to_string(), &id)?;
        progress.message(&format!("Digest: {}", top.digest));
        progress.message(&format!(
            "Status: {} for {}",
            if up_to_date {
                "Image is up to date"
            } else {
                "Downloaded newer image"
            },
            reference.familiar()
        ));
        Ok(Pulled {
            reference: reference.clone(),
            id,
            digest: top.digest,
            downloaded: !up_to_date,
        })
    }

    /// Follows an index (or manifest list) to the manifest for `platform`.
    fn resolve_platform(
        &self,
        registry: &Registry,
        reference: &Reference,
        top: &FetchedManifest,
        platform: &Platform,
    ) -> Result<FetchedManifest> {
        let mut current = top.clone();
        for _ in 0..4 {
            let media_type = effective_media_type(reference, &current)?;
            if media::is_manifest(&media_type) {
                return Ok(current);
            }
            if !media::is_index(&media_type) {
                return Err(Error::Unsupported(format!(
                    "{reference}: manifest media type {media_type:?} is not supported"
                )));
            }
            let index: Index = from_json("index", &current.bytes)?;
            let Some(pick) = index.for_platform(platform) else {
                let offered: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref())
                    .map(platform_string)
                    .collect();
                return Err(Error::NotFound(format!(
                    "no matching manifest for {} in the manifest list entries (offered: {})",
                    platform_string(platform),
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(", ")
                    }
                )));
            };
            let next = registry
                .manifest(reference.path(), &pick.digest.to_string())
                .map_err(|e| manifest_error(reference, e))?;
            if next.digest != pick.digest {
                return Err(Error::Archive(format!(
                    "manifest {} of {reference} has digest {} (the registry served other content)",
                    pick.digest, next.digest
                )));
            }
            current = next;
        }
        Err(Error::Archive(format!(
            "{reference}: indexes nested too deep"
        )))
    }
}

/// What a fetched manifest is, by the rule the registry server applies too
/// (`media::manifest_type`): a document whose fields make it both a manifest
/// and an index, or contradict its declared type, is refused.
fn effective_media_type(reference: &Reference, m: &FetchedManifest) -> Result<String> {
    media::manifest_type(&m.bytes, Some(&m.media_type))
        .map_err(|e| Error::Archive(format!("manifest {} of {reference} refused: {e}", m.digest)))
}

/// `os/arch[/variant]`.
pub fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// What a manifest request asks for: the reference's digest, else its tag.
fn wanted(reference: &Reference) -> String {
    reference
        .digest()
        .map(|d| d.to_string())
        .or_else(|| reference.tag().map(str::to_string))
        .unwrap_or_else(|| "latest".into())
}

/// The manifest `reference` names, from the first endpoint that has it (a
/// mirror may lag behind or be down); that endpoint serves the whole image.
fn find_manifest<'a>(
    endpoints: &'a [Registry],
    reference: &Reference,
) -> Result<(&'a Registry, FetchedManifest)> {
    let wanted = wanted(reference);
    let mut last_err = None;
    for registry in endpoints {
        match registry.manifest(reference.path(), &wanted) {
            Ok(m) => return Ok((registry, m)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(match last_err {
        Some(e) => manifest_error(reference, e),
        None => Error::InvalidArgument(format!("no registry for {}", reference.domain())),
    })
}

/// A registry error about a manifest, in docker's words where it has them.
fn manifest_error(reference: &Reference, e: berth_distribution::Error) -> Error {
    use berth_distribution::Error as D;
    match &e {
        D::Registry { code, .. } if code == "MANIFEST_UNKNOWN" || code == "NAME_UNKNOWN" => {
            Error::NotFound(format!(
                "manifest for {} not found: {e}",
                reference.familiar()
            ))
        }
        D::Status { status, .. } if status.as_u16() == 404 => Error::NotFound(format!(
            "manifest for {} not found: manifest unknown",
            reference.familiar()
        )),
        _ => e.into(),
    }
}

/// Layers that come from a registry (each is kept in the store as it streams by).
struct RemoteLayers<'a> {
    registry: &'a Registry,
    repo: &'a str,
    layers: HashMap<Digest, Descriptor>,
}

impl LayerSource for RemoteLayers<'_> {
    fn workers(&self, engine: &Engine) -> Option<usize> {
        Some(engine.max_concurrent_downloads())
    }

    fn apply_from(
        &self,
        engine: &Engine,
        layer: &LayerBlob,
        progress: &dyn Progress,
        apply: &mut dyn FnMut(Box<dyn Read + '_>) -> Result<Applied>,
    ) -> Result<Applied> {
        self.stream(engine, layer, progress, "Pull complete", apply)
    }
}

impl RemoteLayers<'_> {
    /// Streams a layer from the registry into the store and through `apply`;
    /// `status` is what the progress shows when it is done.
    fn stream(
        &self,
        engine: &Engine,
        layer: &LayerBlob,
        progress: &dyn Progress,
        status: &'static str,
        apply: &mut dyn FnMut(Box<dyn Read + '_>) -> Result<Applied>,
    ) -> Result<Applied> {
        let Some(partial) = engine.blobs.resume(&layer.blob)? else {
            // In the store already (maybe fetched meanwhile by another pull).
            let stored = StoredLayers {
                what: "Extracting",
                done: status,
            };
            return stored.apply_from(engine, layer, progress, apply);
        };
        let desc = self.layers.get(&layer.blob).ok_or_else(|| {
            Error::Archive(format!("layer {} is not in the manifest", layer.blob))
        })?;
        let id = layer.blob.short().to_string();
        let mut download = Download {
            registry: self.registry,
            repo: self.repo,
            desc,
            pos: 0,
            partial,
            body: None,
            failure: None,
            tries: 0,
        };
        progress.start(&id, "Downloading", Some(desc.size));
        let applied = {
            let counted = Counting::new(&mut download, &id, progress);
            decompress(counted)
                .map_err(|source| Error::Layer {
                    layer: layer.blob.clone(),
                    source,
                })
                .and_then(|(_, tar)| apply(tar))
        };
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                // A download cut short stays for the next pull to resume; anything
                // else (bad content) is thrown away. Bad content shows best as the
                // digest it really has.
                if let Some(f) = download.failure.take() {
                    return Err(f.into());
                }
                return Err(match download.finish() {
                    Err(digest_err @ Error::BlobDigest { .. }) => digest_err,
                    _ => e,
                });
            }
        };
        download.finish()?;
        progress.done(&id, status);
        Ok(applied)
    }
}

/// A blob streaming from the registry into its partial file: bytes already on
/// disk (an earlier, interrupted pull) are read back first, then the rest comes
/// with a Range request. A dropped connection is picked up where it broke.
struct Download<'a> {
    registry: &'a Registry,
    repo: &'a str,
    desc: &'a Descriptor,
    pos: u64,
    partial: PartialBlob,
    body: Option<Box<dyn Read + Send>>,
    /// The registry error behind an I/O error handed to the decompressor.
    failure: Option<berth_distribution::Error>,
    tries: u32,
}

const DOWNLOAD_TRIES: u32 = 5;

impl Download<'_> {
    fn open(&mut self) -> io::Result<Box<dyn Read + Send>> {
        if !self.desc.urls.is_empty() {
            // A foreign layer: from its own URLs, from the start.
            self.partial.truncate()?;
            self.pos = 0;
            let mut last = None;
            for url in &self.desc.urls {
                match berth_distribution::fetch(url) {
                    Ok((body, _)) => return Ok(body),
                    Err(e) => last = Some(e),
                }
            }
            let e = last.unwrap_or_else(|| {
                berth_distribution::Error::Protocol("a foreign layer without URLs".into())
            });
            let msg = e.to_string();
            self.failure = Some(e);
            return Err(io::Error::other(msg));
        }
        match self.registry.blob(self.repo, &self.desc.digest, self.pos) {
            Ok((resp, honoured)) => {
                let mut body: Box<dyn Read + Send> = Box::new(resp);
                if self.pos > 0 && !honoured {
                    // The server sent it all again: skip what we have.
                    io::copy(&mut (&mut body).take(self.pos), &mut io::sink())?;
                }
                Ok(body)
            }
            Err(e) => {
                let msg = e.to_string();
                self.failure = Some(e);
                Err(io::Error::other(msg))
            }
        }
    }

    /// Reads to the end, checks size and digest, and publishes the blob.
    fn finish(mut self) -> Result<()> {
        let drained = io::copy(&mut self, &mut io::sink());
        if let Some(f) = self.failure.take() {
            return Err(f.into());
        }
        drained.map_err(Error::io(&self.desc.digest))?;
        let (size, expected_size) = (self.pos, self.desc.size);
        let mismatch = |actual| Error::BlobDigest {
            blob: self.desc.digest.clone(),
            actual,
            size,
            expected_size,
        };
        match self.partial.commit() {
            Err(berth_store::Error::DigestMismatch { actual, .. }) => Err(mismatch(actual)),
            // The digest's own bytes, though not the size the manifest says.
            Ok(()) if size != expected_size => Err(mismatch(self.desc.digest.clone())),
            other => Ok(other?),
        }
    }
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.partial.len() {
            let n = self.partial.read_back(buf)?;
            self.pos += n as u64;
            return Ok(n);
        }
        if self.pos >= self.desc.size || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let body = match &mut self.body {
                Some(b) => b,
                None => {
                    let b = self.open()?;
                    self.body.insert(b)
                }
            };
            let max = buf.len().min((self.desc.size - self.pos) as usize);
            match body.read(&mut buf[..max]) {
                Ok(n) if n > 0 => {
                    self.partial.append(&buf[..n])?;
                    self.pos += n as u64;
                    return Ok(n);
                }
                result => {
                    self.body = None;
                    self.tries += 1;
                    if self.tries >= DOWNLOAD_TRIES {
                        return Err(match result {
                            Err(e) => e,
                            Ok(_) => io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                format!(
                                    "blob {}: the connection closed after {} of {} bytes",
                                    self.desc.digest, self.pos, self.desc.size
                                ),
                            ),
                        });
                    }
                    tracing::debug!(blob = %self.desc.digest, pos = self.pos, "download broke; resuming");
                    std::thread::sleep(std::time::Duration::from_millis(200 << self.tries));
                }
            }
        }
    }
}

/// What a registry says of a name without pulling it (`docker manifest
/// inspect`-like, the Engine API's `distribution/{name}/json`).
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The top manifest's (or index's) descriptor.
    pub descriptor: Descriptor,
    /// The platforms it serves.
    pub platforms: Vec<Platform>,
}

impl Engine {
    /// Asks the registry (mirrors first for Docker Hub) about `name`: the
    /// descriptor of what it names and the platforms it has.
    pub fn distribution(
        &self,
        name: &str,
        credentials: Option<berth_oci::auth::Credentials>,
    ) -> Result<Distribution> {
        let reference = Reference::parse(name)?;
        let reference = if reference.digest().is_none() && reference.tag().is_none() {
            reference.with_default_tag()
        } else {
            reference
        };
        let repo = reference.path();
        let endpoints = self.pull_endpoints(reference.domain(), credentials)?;
        let (registry, m) = find_manifest(&endpoints, &reference)?;
        let media_type = effective_media_type(&reference, &m)?;
        let platforms = if media::is_index(&media_type) {
            let index: Index = from_json("index", &m.bytes)?;
            index
                .manifests
                .into_iter()
                .filter_map(|d| d.platform)
                .filter(|p| p.os != "unknown")
                .collect()
        } else {
            let manifest: Manifest = from_json("manifest", &m.bytes)?;
            let raw = registry.small_blob(repo, &manifest.config.digest)?;
            let config: ImageConfig = from_json("config", &raw)?;
            vec![Platform {
                architecture: config.architecture,
                os: config.os,
                variant: config.variant,
            }]
        };
        Ok(Distribution {
            descriptor: crate::images::import::descriptor(
                &media_type,
                m.digest,
                m.bytes.len() as u64,
            ),
            platforms,
        })
    }
}
