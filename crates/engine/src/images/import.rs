//! `berth import`: a one-layer image from a rootfs tarball.

use std::io::{Read, Write};

use berth_layer::{ApplyOptions, SizeBudget, WhiteoutMode, apply_layer, decompress};
use berth_oci::image::{Descriptor, History, ImageConfig, Platform, RootFs, RunConfig};
use berth_oci::{Digest, Kind, Reference, media};
use berth_snapshot::Layout;
use berth_store::db::LayerRecord;

use crate::builds::changes::apply_changes;
use crate::keys::{self, Purpose};
use crate::layers::unpack::Counting;
use crate::{Engine, Progress, Result, rfc3339_now};

/// Settings of [`Engine::import`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ImportOptions {
    /// `--change` instructions.
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    /// The name to tag the image with.
    pub reference: Option<String>,
    /// Where the tarball came from, for the history comment (`-` for stdin).
    pub source: String,
}

impl ImportOptions {
    /// Options for a tarball read from `source`.
    pub fn new(source: impl Into<String>) -> Self {
        ImportOptions {
            source: source.into(),
            ..Default::default()
        }
    }
}

/// Copies everything read into a writer (the blob being stored).
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl Engine {
    /// Imports a rootfs tarball (plain, gzip, zstd or xz) as a one-layer image;
    /// returns its ID. The uncompressed tar is kept as the layer blob.
    pub fn import(
        &self,
        input: impl Read,
        opts: &ImportOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let reference = opts
            .reference
            .as_deref()
            .map(|r| Reference::parse(r).map(Reference::with_default_tag))
            .transpose()?;
        let mut run = RunConfig::default();
        apply_changes(&mut run, &opts.changes)?;

        self.sweep(false)?;
        let _guard = self.gc.shared()?;
        let snap = self.snapshotter()?;
        let key = keys::extract(Purpose::Layer);
        snap.prepare(&key, None)?;
        let imported = self.import_layer(&key, input, progress);
        let (diff_id, size) = match imported {
            Ok(v) => v,
            Err(e) => {
                let _ = snap.remove(&key);
                return Err(e);
            }
        };
        match snap.commit(&keys::layer(&diff_id), &key) {
            Ok(()) => {}
            // The same tarball was imported before: share that layer.
            Err(e) if e.kind() == Kind::AlreadyExists => snap.remove(&key)?,
            Err(e) => {
                let _ = snap.remove(&key);
                return Err(e.into());
            }
        }
        self.db.put_layer(&LayerRecord {
            chain: diff_id.clone(),
            diff_id: diff_id.clone(),
            size,
        })?;

        let created = rfc3339_now();
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", opts.source));
        let host = Platform::host();
        let mut config = ImageConfig {
            created: Some(created.clone()),
            architecture: host.architecture,
            os: host.os,
            variant: host.variant,
            config: Some(run),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id.clone()],
            },
            history: vec![History {
                created: Some(created),
                comment: Some(comment.clone()),
                ..Default::default()
            }],
            ..Default::default()
        };
        config.extra.insert("comment".into(), comment.into());
        let layer = descriptor(
            media::OCI_LAYER_TAR,
            diff_id.clone(),
            self.blobs.size(&diff_id)?,
        );
        let tags: Vec<Reference> = reference.into_iter().collect();
        self.write_image(&config, vec![layer], &tags)
    }

    /// `berth import URL`: fetches the tarball over http(s) and imports it,
    /// streaming (nothing is staged on disk but the blob itself).
    pub fn import_url(
        &self,
        url: &str,
        opts: &ImportOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let (body, _) = berth_distribution::fetch(url)?;
        self.import(body, opts, progress)
    }

    /// Streams the tarball once: decompressed, stored as a blob and applied to the
    /// snapshot at the same time. Returns the diff ID and content size.
    fn import_layer(
        &self,
        key: &str,
        input: impl Read,
        progress: &dyn Progress,
    ) -> Result<(Digest, u64)> {
        let snap = self.snapshotter()?;
        let dir = snap.apply_dir(key)?;
        progress.start("import", "Importing", None);
        let counted = Counting::new(input, "import", progress);
        let (_, tar) = decompress(counted)?;
        let mut blob = self.blobs.writer()?;
        let mut opts = ApplyOptions::default();
        opts.whiteouts = match snap.layout() {
            Layout::Diff => WhiteoutMode::Overlay,
            Layout::Full => WhiteoutMode::Direct,
        };
        opts.max_size = self.max_layer_size;
        opts.image_budget = Some(std::sync::Arc::new(SizeBudget::new(self.max_image_size)));
        let applied = apply_layer(
            Tee {
                inner: tar,
                copy: &mut blob,
            },
            &dir,
            &opts,
        )?;
        blob.commit(Some(&applied.diff_id))?;
        progress.done("import", "Imported");
        Ok((applied.diff_id, applied.content_size))
    }
}

pub(crate) fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        urls: Vec::new(),
        annotations: Default::default(),
        platform: None,
    }
}
