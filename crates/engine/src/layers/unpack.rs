//! Unpacking layer blobs into snapshots named by chain ID.
//!
//! With a Diff-layout snapshotter (overlay) every missing layer is prepared at
//! once, filled in parallel, then committed bottom-up; with a Full-layout one
//! (vfs) each layer needs its parent's files, so they go one at a time. Layers
//! already present are shared, never unpacked again. A layer whose content does
//! not hash to the diff ID the config names is refused and nothing of it kept.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use berth_layer::{Applied, ApplyOptions, SizeBudget, WhiteoutMode, apply_layer, decompress};
use berth_oci::image::{ImageConfig, Manifest};
use berth_oci::{ChainId, Digest, HashingReader, Kind, chain_ids};
use berth_snapshot::{Layout, Snapshotter};
use berth_store::db::LayerRecord;

use crate::keys::{self, Purpose};
use crate::{Engine, Error, Progress, Result};

/// A layer to unpack: its blob in the content store and the diff ID it must have.
#[derive(Debug, Clone)]
pub(crate) struct LayerBlob {
    pub blob: Digest,
    pub diff_id: Digest,
    /// Where the blob is while its commit may still be under way (a load in
    /// progress); None for blobs long in the store.
    pub pending: Option<PathBuf>,
}

/// The layers of an image: each manifest layer paired with its config diff ID.
/// `pending` says where a blob still being committed can be read.
pub(crate) fn image_layers(
    manifest: &Manifest,
    config: &ImageConfig,
    pending: impl Fn(&Digest) -> Option<PathBuf>,
) -> Result<Vec<LayerBlob>> {
    crate::images::catalog::check_layer_count(
        manifest.config.digest.short(),
        manifest.layers.len(),
    )?;
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        return Err(Error::Archive(format!(
            "image {}: manifest has {} layers but config has {} diff IDs",
            manifest.config.digest.short(),
            manifest.layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    Ok(manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(l, d)| LayerBlob {
            blob: l.digest.clone(),
            diff_id: d.clone(),
            pending: pending(&l.digest),
        })
        .collect())
}

/// Where the layers an unpack extracts come from: the content store, or a
/// registry (which streams each blob into the store as it is extracted).
pub(crate) trait LayerSource: Sync {
    /// Layers extracted at once; None: as many as the CPUs can keep busy.
    fn workers(&self, _engine: &Engine) -> Option<usize> {
        None
    }

    /// Calls `apply` with the layer's uncompressed tar stream; when it returns,
    /// the layer's blob must be in the store and verified.
    fn apply_from(
        &self,
        engine: &Engine,
        layer: &LayerBlob,
        progress: &dyn Progress,
        apply: &mut dyn FnMut(Box<dyn Read + '_>) -> Result<Applied>,
    ) -> Result<Applied>;
}

/// Layers whose blobs are in the store already (load, mount; a pull's layers
/// another pull fetched), with what the progress says while and when done.
pub(crate) struct StoredLayers {
    pub what: &'static str,
    pub done: &'static str,
}

impl StoredLayers {
    /// As a load shows them.
    pub(crate) const LOADED: StoredLayers = StoredLayers {
        what: "Loading layer",
        done: "Loaded",
    };
}

impl LayerSource for StoredLayers {
    fn apply_from(
        &self,
        engine: &Engine,
        layer: &LayerBlob,
        progress: &dyn Progress,
        apply: &mut dyn FnMut(Box<dyn Read + '_>) -> Result<Applied>,
    ) -> Result<Applied> {
        let id = layer.blob.short().to_string();
        let tar = engine.layer_stream(layer, &id, self.what, progress)?;
        let applied = apply(tar)?;
        progress.done(&id, self.done);
        Ok(applied)
    }
}

impl Engine {
    fn open_layer(&self, layer: &LayerBlob) -> Result<std::fs::File> {
        Ok(match &layer.pending {
            Some(p) => self.blobs.open_pending(p, &layer.blob)?,
            None => self.blobs.open_blob(&layer.blob)?,
        })
    }
}

/// Counts bytes read for the progress display.
pub(crate) struct Counting<'a, R> {
    inner: R,
    id: &'a str,
    progress: &'a dyn Progress,
    pending: u64,
}

impl<'a, R> Counting<'a, R> {
    pub(crate) fn new(inner: R, id: &'a str, progress: &'a dyn Progress) -> Self {
        Counting {
            inner,
            id,
            progress,
            pending: 0,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 1 << 20 || n == 0 {
            self.progress.advance(self.id, self.pending);
            self.pending = 0;
        }
        Ok(n)
    }
}

impl Engine {
    /// Makes sure every layer is unpacked; returns the chain IDs, bottom first.
    /// The caller holds the GC lock shared.
    pub(crate) fn unpack(
        &self,
        layers: &[LayerBlob],
        progress: &dyn Progress,
    ) -> Result<Vec<ChainId>> {
        self.unpack_from(layers, &StoredLayers::LOADED, progress)
    }

    /// Like [`Engine::unpack`], with the layers' streams from `source`.
    pub(crate) fn unpack_from(
        &self,
        layers: &[LayerBlob],
        source: &dyn LayerSource,
        progress: &dyn Progress,
    ) -> Result<Vec<ChainId>> {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        // Another process may commit a layer we are also extracting; then we lose
        // the race, drop ours and go again with theirs.
        for _ in 0..3 {
            match self.unpack_once(layers, &chains, source, progress) {
                Err(Error::Snapshot(e)) if e.kind() == Kind::AlreadyExists => continue,
                other => return other.map(|()| chains),
            }
        }
        self.unpack_once(layers, &chains, source, progress)
            .map(|()| chains)
    }

    fn unpack_once(
        &self,
        layers: &[LayerBlob],
        chains: &[ChainId],
        source: &dyn LayerSource,
        progress: &dyn Progress,
    ) -> Result<()> {
        let snap = self.snapshotter()?;
        // The image's layers share one size budget; those it has already count.
        let budget = Arc::new(SizeBudget::new(self.max_image_size));
        let mut missing = Vec::new();
        for (i, chain) in chains.iter().enumerate() {
            let id = layers[i].blob.short().to_string();
            match snap.stat(&keys::layer(chain)) {
                Ok(info) if info.kind == berth_snapshot::Kind::Committed => {
                    // The files are there, but this image's blob must still be the
                    // layer it claims to be: save and push hand the blob on.
                    self.verify_blob(&layers[i], progress)?;
                    let size = self.db.layer(chain)?.map_or(0, |l| l.size);
                    budget.charge(size).map_err(|source| Error::Layer {
                        layer: layers[i].diff_id.clone(),
                        source,
                    })?;
                    progress.done(&id, "Already exists");
                }
                _ => missing.push(i),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let fill = |key: &str, i: usize, mode: WhiteoutMode| {
            self.fill(snap, key, &layers[i], mode, &budget, source, progress)
        };
        match snap.layout() {
            Layout::Diff => {
                let threads = source
                    .workers(self)
                    .unwrap_or_else(crate::parallel::cpu_workers);
                self.unpack_parallel(snap, layers, chains, &missing, threads, &fill)
            }
            Layout::Full => {
                for &i in &missing {
                    let key = keys::extract(Purpose::Layer);
                    let parent = (i > 0).then(|| keys::layer(&chains[i - 1]));
                    snap.prepare(&key, parent.as_deref())?;
                    let done = fill(&key, i, WhiteoutMode::Direct).and_then(|size| {
                        self.commit_layer(snap, &key, &chains[i], &layers[i], size)
                    });
                    if let Err(e) = done {
                        let _ = snap.remove(&key);
                        return Err(e);
                    }
                }
                Ok(())
            }
        }
    }

    fn unpack_parallel(
        &self,
        snap: &dyn Snapshotter,
        layers: &[LayerBlob],
        chains: &[ChainId],
        missing: &[usize],
        threads: usize,
        fill: &(dyn Fn(&str, usize, WhiteoutMode) -> Result<u64> + Sync),
    ) -> Result<()> {
        // Prepare bottom-up so each key's parent is the previous key or chain.
        let mut keys: Vec<(usize, String)> = Vec::new();
        let cleanup = |keys: &[(usize, String)]| {
            for (_, k) in keys.iter().rev() {
                let _ = snap.remove(k);
            }
        };
        for &i in missing {
            let key = keys::extract(Purpose::Layer);
            let parent = match keys.last() {
                Some((j, k)) if *j + 1 == i => Some(k.clone()),
                _ => (i > 0).then(|| keys::layer(&chains[i - 1])),
            };
            if let Err(e) = snap.prepare(&key, parent.as_deref()) {
                cleanup(&keys);
                return Err(e.into());
            }
            keys.push((i, key));
        }
        let sizes = match crate::parallel::map(&keys, threads, |(i, key)| {
            fill(key, *i, WhiteoutMode::Overlay)
        }) {
            Ok(sizes) => sizes,
            Err(e) => {
                cleanup(&keys);
                return Err(e);
            }
        };
        for (n, (i, key)) in keys.iter().enumerate() {
            if let Err(e) = self.commit_layer(snap, key, &chains[*i], &layers[*i], sizes[n]) {
                cleanup(&keys[n..]);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Applies one layer blob into the active snapshot `key`, drawing on its
    /// image's size `budget`; returns its content size.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        snap: &dyn Snapshotter,
        key: &str,
        layer: &LayerBlob,
        mode: WhiteoutMode,
        budget: &Arc<SizeBudget>,
        source: &dyn LayerSource,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let layer_err = |source| Error::Layer {
            layer: layer.diff_id.clone(),
            source,
        };
        let dir = snap.apply_dir(key)?;
        let mut opts = ApplyOptions::default();
        opts.whiteouts = mode;
        opts.max_size = self.max_layer_size;
        opts.image_budget = Some(budget.clone());
        if layer.blob == layer.diff_id {
            // An uncompressed blob is stored under its own digest, verified when it
            // was written: the stream needs no second hash.
            opts.known_diff_id = Some(layer.diff_id.clone());
        }
        let started = std::time::Instant::now();
        let applied = source.apply_from(self, layer, progress, &mut |tar| {
            let applied = apply_layer(tar, &dir, &opts).map_err(layer_err)?;
            self.accept_diff_id(layer, applied.diff_id.clone())?;
            Ok(applied)
        })?;
        tracing::info!(layer = %layer.diff_id, elapsed = ?started.elapsed(), bytes = applied.tar_size, "layer applied");
        Ok(applied.content_size)
    }

    /// A layer blob's uncompressed stream, with its progress reported as `what`.
    pub(crate) fn layer_stream<'a>(
        &self,
        layer: &LayerBlob,
        id: &'a str,
        what: &str,
        progress: &'a dyn Progress,
    ) -> Result<Box<dyn Read + 'a>> {
        let file = self.open_layer(layer)?;
        let total = file.metadata().map_err(Error::io(&layer.blob))?.len();
        progress.start(id, what, Some(total));
        let counted = Counting::new(BufReader::with_capacity(1 << 20, file), id, progress);
        let (_, tar) = decompress(counted).map_err(|source| Error::Layer {
            layer: layer.diff_id.clone(),
            source,
        })?;
        Ok(tar)
    }

    /// Refuses a layer whose content hashed to `actual` instead of its diff ID;
    /// otherwise remembers that its blob holds that diff ID.
    pub(crate) fn accept_diff_id(&self, layer: &LayerBlob, actual: Digest) -> Result<()> {
        if actual != layer.diff_id {
            return Err(Error::LayerDigest {
                expected: layer.diff_id.clone(),
                actual,
            });
        }
        self.db.put_blob_diff_id(&layer.blob, &layer.diff_id)?;
        Ok(())
    }

    /// Checks that a layer blob decompresses to its diff ID, reading it only if it
    /// was never checked (an uncompressed blob is its own diff ID).
    fn verify_blob(&self, layer: &LayerBlob, progress: &dyn Progress) -> Result<()> {
        if layer.blob == layer.diff_id {
            return Ok(());
        }
        match self.db.blob_diff_id(&layer.blob)? {
            Some(d) if d == layer.diff_id => return Ok(()),
            Some(d) => {
                return Err(Error::LayerDigest {
                    expected: layer.diff_id.clone(),
                    actual: d,
                });
            }
            None => {}
        }
        let id = layer.blob.short().to_string();
        let tar = self.layer_stream(layer, &id, "Verifying", progress)?;
        self.check_stream(layer, tar)?;
        Ok(())
    }

    /// Hashes a layer's uncompressed stream and accepts it only if it is the diff
    /// ID the image names (see [`Engine::accept_diff_id`]); returns its size.
    pub(crate) fn check_stream(&self, layer: &LayerBlob, tar: impl Read) -> Result<u64> {
        let (actual, size) = HashingReader::new(tar, self.max_layer_size)
            .finish()
            .map_err(|e| Error::Layer {
                layer: layer.diff_id.clone(),
                source: berth_layer::Error::Corrupt(e),
            })?;
        self.accept_diff_id(layer, actual)?;
        Ok(size)
    }

    /// Commits an extracted layer under its chain ID and records its size.
    pub(crate) fn commit_layer(
        &self,
        snap: &dyn Snapshotter,
        key: &str,
        chain: &ChainId,
        layer: &LayerBlob,
        size: u64,
    ) -> Result<()> {
        snap.commit(&keys::layer(chain), key)?;
        self.db.put_layer(&LayerRecord {
            chain: chain.clone(),
            diff_id: layer.diff_id.clone(),
            size,
        })?;
        Ok(())
    }
}
