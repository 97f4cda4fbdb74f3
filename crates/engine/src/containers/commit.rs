//! `berth commit`, `diff` and `export`: the container's writable layer as
//! changes, as a new image layer, or the whole flattened filesystem as a tar.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_layer::diff::{Change, each_overlay_change, tree_changes, write_layer};
use berth_layer::{Compression, Compressor};
use berth_oci::idmap::IdMappings;
use berth_oci::image::History;
use berth_oci::{Digest, Hasher, Reference, chain_ids, media};
use berth_snapshot::Layout;
use berth_store::db::LayerRecord;

use super::Container;
use crate::builds::changes::apply_changes;
use crate::images::import::descriptor;
use crate::keys;
use crate::{Engine, Error, Result};

/// The flags of `commit`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommitOptions {
    /// `-a`.
    pub author: Option<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-c` instructions.
    pub changes: Vec<String>,
    /// `-p` (default true): freeze the container while its layer is read.
    pub pause: bool,
    /// `REPO[:TAG]`.
    pub reference: Option<String>,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            author: None,
            message: None,
            changes: Vec::new(),
            pause: true,
            reference: None,
        }
    }
}

/// Hashes what passes (the diff ID) on its way to the compressor.
struct DiffWriter<W: Write> {
    hasher: Hasher,
    inner: W,
}

impl<W: Write> Write for DiffWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hands each change of a layer to its argument, parents first.
pub(crate) type ChangeWalk<'a> =
    dyn Fn(&mut dyn FnMut(Change) -> std::io::Result<()>) -> std::io::Result<()> + Sync + 'a;

/// A layer blob written from a snapshot's changes.
pub(crate) struct WrittenLayer {
    /// Its uncompressed digest.
    pub diff_id: Digest,
    /// The gzip blob.
    pub blob: Digest,
    /// The blob's size.
    pub blob_size: u64,
    /// Bytes of file content.
    pub size: u64,
}

/// Changes handed from the walk to the tar writer at a time.
const CHANGE_BATCH: usize = 512;

/// Where a container's changes are: an overlayfs upper directory over the
/// image's layer directories, or a full copy compared with the image's.
pub(crate) enum ChangeSource {
    Overlay {
        upper: PathBuf,
        lowers: Vec<PathBuf>,
    },
    Trees {
        lower: Option<PathBuf>,
        upper: PathBuf,
    },
}

impl ChangeSource {
    /// The directory the changed files are read from.
    pub(crate) fn dir(&self) -> &Path {
        match self {
            ChangeSource::Overlay { upper, .. } | ChangeSource::Trees { upper, .. } => upper,
        }
    }

    /// Calls `each` with every change, parents before children.
    pub(crate) fn each(
        &self,
        each: &mut dyn FnMut(Change) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match self {
            ChangeSource::Overlay { upper, lowers } => each_overlay_change(upper, lowers, each),
            ChangeSource::Trees { lower, upper } => tree_changes(lower.as_deref(), upper)?
                .into_iter()
                .try_for_each(each),
        }
    }
}

/// Unpauses the container when the commit ends, however it ends.
struct Thaw<'a> {
    engine: &'a Engine,
    container: &'a Container,
}

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let _ = self
            .engine
            .oci_runtime(&self.container.record.host_config)
            .resume(&self.container.id);
    }
}

impl Engine {
    /// Where an active snapshot's changes are, and how to list them.
    pub(crate) fn change_source(&self, key: &str) -> Result<ChangeSource> {
        let snap = self.snapshotter()?;
        let dir = snap.path(key)?;
        Ok(match snap.layout() {
            Layout::Diff => ChangeSource::Overlay {
                lowers: snap
                    .mounts(key)?
                    .iter()
                    .flat_map(|m| m.options.iter())
                    .filter_map(|o| o.strip_prefix("lowerdir="))
                    .flat_map(|l| l.split(':').map(PathBuf::from).collect::<Vec<_>>())
                    .collect(),
                upper: dir,
            },
            Layout::Full => {
                let parent = snap.stat(key)?.parent;
                ChangeSource::Trees {
                    lower: parent.map(|p| snap.path(&p)).transpose()?,
                    upper: dir,
                }
            }
        })
    }

    /// The container's changes against its image and the directory holding them.
    fn changes_of(&self, c: &Container) -> Result<(Vec<Change>, PathBuf)> {
        let source = self.change_source(&keys::container(&c.id))?;
        let mut changes = Vec::new();
        source
            .each(&mut |change| {
                changes.push(change);
                Ok(())
            })
            .map_err(Error::io(source.dir().display()))?;
        Ok((changes, source.dir().to_path_buf()))
    }

    /// Writes the changes `walk` hands out (their files read from `dir`) as a
    /// gzip layer blob in the store. The caller holds the GC lock shared.
    pub(crate) fn write_layer_blob(
        &self,
        dir: &Path,
        walk: &ChangeWalk<'_>,
        ids: Option<&IdMappings>,
    ) -> Result<WrittenLayer> {
        let blob = self.blobs.writer()?;
        let mut gzip = DiffWriter {
            hasher: Hasher::new(),
            inner: Compressor::new(blob, Compression::Gzip).map_err(Error::io("gzip"))?,
        };
        // Three threads, so that reading the files (the slowest part) has one to
        // itself: one walks the layer for changes, one reads them and writes the
        // tar, this one hashes it (the diff ID), compresses and stores it.
        let (mut tar_out, tar_in) = std::io::pipe().map_err(Error::io("pipe"))?;
        // Changes go over in batches: one hand-over per change costs more in
        // wake-ups than the walk itself.
        let (found, batches) = std::sync::mpsc::sync_channel::<Vec<Change>>(16);
        let size = std::thread::scope(|scope| -> Result<u64> {
            let walker = scope.spawn(move || {
                let mut batch = Vec::with_capacity(CHANGE_BATCH);
                let send = |batch: Vec<Change>| {
                    found
                        .send(batch)
                        .map_err(|_| std::io::Error::other("the layer writer stopped"))
                };
                walk(&mut |change| {
                    batch.push(change);
                    if batch.len() == CHANGE_BATCH {
                        send(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(CHANGE_BATCH),
                        ))?;
                    }
                    Ok(())
                })?;
                send(batch)
            });
            let producer = scope.spawn(|| {
                let mut pipe = std::io::BufWriter::with_capacity(1 << 20, tar_in);
                write_layer(dir, batches.into_iter().flatten(), ids, &mut pipe)
            });
            let copied = std::io::copy(&mut tar_out, &mut gzip);
            let walked = walker
                .join()
                .map_err(|_| Error::Panicked("the layer walk"))?;
            let written = producer
                .join()
                .map_err(|_| Error::Panicked("the layer writer"))?;
            // The writer's error first (the walk then only saw it stop); a walk
            // that failed leaves a writer that looks finished.
            let done = written.map_err(Error::io(dir.display()))?;
            walked.map_err(Error::io(dir.display()))?;
            copied.map_err(Error::io("gzip"))?;
            Ok(done)
        })?;
        let diff_id = gzip.hasher.finish();
        let blob = gzip.inner.finish().map_err(Error::io("gzip"))?;
        let blob_digest = blob.commit(None)?;
        let blob_size = self.blobs.size(&blob_digest)?;
        self.db.put_blob_diff_id(&blob_digest, &diff_id)?;
        Ok(WrittenLayer {
            diff_id,
            blob: blob_digest,
            blob_size,
            size,
        })
    }

    /// `berth diff`: what changed in the container's filesystem, sorted by path.
    pub fn container_diff(&self, name: &str) -> Result<Vec<Change>> {
        let c = self.container(name)?;
        Ok(self.changes_of(&c)?.0)
    }

    /// `berth commit`: a new image of the container's image plus its writable
    /// layer. Returns the image ID.
    pub fn commit_container(&self, name: &str, opts: &CommitOptions) -> Result<Digest> {
        let c = self.container(name)?;
        let _lock = self.lock_container(&c.id)?;
        let c = self.container(&c.id)?;
        let reference = opts
            .reference
            .as_deref()
            .map(|r| Reference::parse(r).map(Reference::with_default_tag))
            .transpose()?;
        let img = self.resolve(&c.image.to_string())?;
        let (_, manifest) = self.manifest_of(&img)?;
        let (_, mut config) = self.config_of(&img)?;

        // The new image runs as the container did, then the -c changes.
        let mut run = config.config.clone().unwrap_or_default();
        let cc = &c.record.config;
        run.env = Some(cc.env.clone());
        run.cmd = cc.cmd.clone();
        run.entrypoint = cc.entrypoint.clone();
        run.working_dir = Some(cc.working_dir.clone()).filter(|w| w != "/");
        run.user = Some(cc.user.clone()).filter(|u| !u.is_empty());
        run.labels = Some(cc.labels.clone()).filter(|l| !l.is_empty());
        run.stop_signal = cc.stop_signal.clone();
        apply_changes(&mut run, &opts.changes)?;

        let _thaw = if opts.pause && c.state.running && !c.state.paused {
            self.oci_runtime(&c.record.host_config).pause(&c.id)?;
            Some(Thaw {
                engine: self,
                container: &c,
            })
        } else {
            None
        };
        let source = self.change_source(&keys::container(&c.id))?;
        let _guard = self.gc.shared()?;
        // An overlay upper holds what a container in a user namespace of its
        // own wrote as the host IDs of its range (a full tree, written
        // through an ID-mapped mount, holds the container's own).
        let ids = c
            .record
            .id_mappings
            .as_ref()
            .filter(|_| matches!(source, ChangeSource::Overlay { .. }));
        let written = self.write_layer_blob(source.dir(), &|each| source.each(each), ids)?;
        drop(_thaw);
        let WrittenLayer {
            diff_id,
            blob: blob_digest,
            blob_size,
            size,
        } = written;

        let created = crate::rfc3339_now();
        config.created = Some(created.clone());
        config.config = Some(run);
        config.rootfs.diff_ids.push(diff_id.clone());
        config.history.push(History {
            created: Some(created),
            created_by: Some(c.command_line()),
            author: opts.author.clone(),
            comment: opts.message.clone(),
            empty_layer: false,
        });
        config.author = opts.author.clone();
        // What docker's commit writes into the config: the message (not the
        // base image's comment), the container and its config.
        config.extra.insert(
            "comment".into(),
            opts.message.clone().unwrap_or_default().into(),
        );
        config.extra.insert("container".into(), c.id.clone().into());
        if let Ok(container_config) = serde_json::to_value(&c.record.config) {
            config
                .extra
                .insert("container_config".into(), container_config);
        }
        let mut layers = manifest.layers.clone();
        layers.push(descriptor(media::OCI_LAYER_GZIP, blob_digest, blob_size));
        // The layer's size first: recording the image adds up its layers'.
        if let Some(top) = chain_ids(&config.rootfs.diff_ids).last() {
            self.db.put_layer(&LayerRecord {
                chain: top.clone(),
                diff_id,
                size,
            })?;
        }
        let tags: Vec<Reference> = reference.into_iter().collect();
        self.write_image(&config, layers, &tags)
    }

    /// `berth export`: the container's whole filesystem (image and changes,
    /// flattened) as a tar written to `out`.
    pub fn export_container(&self, name: &str, out: &mut dyn Write) -> Result<()> {
        let c = self.container(name)?;
        // A running container's rootfs is mounted already; overlayfs does not
        // want one upper directory in two mounts.
        let running_root = self.paths.rootfs(&c.id);
        let own_mount = !berth_snapshot::mount::is_mount_point(&running_root);
        let target = if own_mount {
            let t = self.paths.export_mount(&c.id);
            std::fs::create_dir_all(&t).map_err(Error::io(t.display()))?;
            // The view the running container's mount gives: with a user
            // namespace, every owner a host ID of its range.
            self.mount_container_root(&c, &t)?;
            t
        } else {
            running_root
        };
        let ids = c.record.id_mappings.as_ref();
        let result = tree_changes(None, &target)
            .and_then(|changes| write_layer(&target, &changes, ids, &mut *out))
            .map_err(Error::io(target.display()));
        if own_mount {
            let _ = berth_snapshot::mount::unmount_if_mounted(&target);
            let _ = std::fs::remove_dir(&target);
        }
        result.map(|_| ())
    }
}
