//! `berth load`: docker-archive and OCI archives, plain or compressed.
//!
//! The archive is read once, front to back, so it can come from a pipe: every
//! blob is stored (and verified against its `blobs/sha256/<hex>` name) as it
//! streams by; small metadata files are kept in memory. Then the manifests are
//! read, each layer's diff ID checked while it is unpacked, and only when all is
//! well are the images recorded and tagged.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::thread::ScopedJoinHandle;

use berth_layer::{Compression, SizeBudget, decompress};
use berth_oci::image::{Descriptor, ImageConfig, Index, MAX_LAYERS, Manifest, Platform, from_json};
use berth_oci::{ChainId, Digest, Kind, Reference, chain_ids, media};
use berth_snapshot::Layout;
use berth_store::PendingBlob;
use serde::Deserialize;

use crate::images::import::descriptor;
use crate::keys;
use crate::layers::early::{Early, Follow, Incoming};
use crate::layers::unpack::{Counting, LayerBlob, image_layers};
use crate::{Engine, Error, Progress, Result, to_json};

/// Files up to this size that are not named as blobs are kept in memory.
const SMALL_FILE_MAX: u64 = 16 << 20;

/// What all the files kept in memory may take together; later ones go to the
/// content store, so a flood of small files cannot exhaust memory.
const SMALL_FILES_TOTAL_MAX: u64 = 256 << 20;

/// Blobs waiting for the committer, and committed together with one syncfs.
const COMMIT_BATCH: usize = 384;

/// The largest `manifest.json`, `index.json`, manifest or image config a load
/// reads: real ones are kilobytes (a `manifest.json` for a thousand images of
/// a hundred layers is ~10 MB), and each is read into memory whole.
const METADATA_MAX: u64 = 16 << 20;

/// What a load brought in.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Each image loaded, with the tags it was given.
    pub images: Vec<(Digest, Vec<Reference>)>,
}

/// An entry of a docker-archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// One image found in an archive, before its layers are unpacked.
struct ArchivedImage {
    manifest_digest: Digest,
    manifest: Manifest,
    config: ImageConfig,
    tags: Vec<Reference>,
}

/// The archive's files, as read.
#[derive(Default)]
struct ArchiveFiles {
    blobs: HashMap<String, Digest>,
    small: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
    /// Blobs written by this load and maybe not yet committed: where to read them.
    pending: HashMap<Digest, PathBuf>,
}

impl ArchiveFiles {
    fn resolve<'a>(&'a self, mut path: &'a str) -> &'a str {
        for _ in 0..16 {
            match self.links.get(path) {
                Some(t) => path = t,
                None => break,
            }
        }
        path
    }

    /// Reads a metadata file (manifest.json, index.json, a manifest or a
    /// config), refusing one larger than [`METADATA_MAX`].
    fn read(&self, engine: &Engine, path: &str) -> Result<Vec<u8>> {
        let path = self.resolve(path);
        if let Some(b) = self.small.get(path) {
            return Ok(b.clone());
        }
        let Some(d) = self.blobs.get(path) else {
            return Err(Error::Archive(format!("the archive has no file {path:?}")));
        };
        // Verified when written; it may not be committed yet.
        let file = match self.pending.get(d) {
            Some(pending) => engine.blobs.open_pending(pending, d)?,
            None => engine.blobs.open_blob(d)?,
        };
        let size = file.metadata().map_err(Error::io(path))?.len();
        if size > METADATA_MAX {
            return Err(Error::MetadataTooLarge {
                path: path.to_string(),
                size,
                limit: METADATA_MAX,
            });
        }
        let mut data = Vec::with_capacity(size as usize);
        file.take(METADATA_MAX)
            .read_to_end(&mut data)
            .map_err(Error::io(path))?;
        Ok(data)
    }

    /// Whether the archive has a file at `path`.
    fn has(&self, path: &str) -> bool {
        let path = self.resolve(path);
        self.small.contains_key(path) || self.blobs.contains_key(path)
    }

    /// The digest of a file, storing it as a blob if it was kept in memory.
    fn blob(&self, engine: &Engine, path: &str) -> Result<Digest> {
        let path = self.resolve(path);
        if let Some(d) = self.blobs.get(path) {
            return Ok(d.clone());
        }
        match self.small.get(path) {
            Some(b) => Ok(engine.blobs.put(b)?),
            None => Err(Error::Archive(format!("the archive has no file {path:?}"))),
        }
    }
}

/// Ends a follower's wait: with success through [`EndFollow::complete`] once the
/// entry was read to its end, with a failure if dropped before.
struct EndFollow(Option<Arc<Follow>>);

impl EndFollow {
    fn complete(mut self, visible: u64) {
        if let Some(f) = self.0.take() {
            f.advance(visible);
            f.end(true);
        }
    }
}

impl Drop for EndFollow {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            f.end(false);
        }
    }
}

fn clean_path(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A short label for an archive file in progress output: the 12 first
/// characters of a hex directory name (`<id>/layer.tar`), else the path.
fn progress_id(path: &str) -> String {
    match path.split('/').next() {
        Some(first) if first.len() >= 12 && first.bytes().all(|b| b.is_ascii_hexdigit()) => {
            first[..12].to_string()
        }
        _ => path.chars().take(40).collect(),
    }
}

/// `blobs/sha256/<hex>` → the digest.
fn blob_path_digest(path: &str) -> Option<Digest> {
    Digest::from_hex(path.strip_prefix("blobs/sha256/")?).ok()
}

/// Joins a symlink target to the directory of the link.
fn link_target(path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        path.split('/').collect::<Vec<_>>()[..path.split('/').count() - 1].to_vec()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl Engine {
    /// Loads every image of an archive. `input` may be compressed (gzip, zstd, xz).
    pub fn load(&self, input: impl Read, progress: &dyn Progress) -> Result<LoadOutcome> {
        self.with_sweeps(|| self.load_locked(input, progress))
    }

    fn load_locked(&self, input: impl Read, progress: &dyn Progress) -> Result<LoadOutcome> {
        let counted = Counting::new(input, "archive", progress);
        let (_, tar) = decompress(counted).map_err(|e| Error::Archive(e.to_string()))?;
        let started = std::time::Instant::now();
        // Bounded, so a flood of small files waits for the committer instead
        // of holding a descriptor each (EMFILE).
        let (commits, committed) = mpsc::sync_channel::<PendingBlob>(COMMIT_BATCH);
        let committer = std::thread::spawn(move || -> Result<(), berth_store::Error> {
            let mut failed = None;
            while let Ok(first) = committed.recv() {
                let mut batch = vec![first];
                while batch.len() < COMMIT_BATCH
                    && let Ok(next) = committed.try_recv()
                {
                    batch.push(next);
                }
                if failed.is_none()
                    && let Err(e) = PendingBlob::commit_all(batch)
                {
                    failed = Some(e);
                }
            }
            failed.map_or(Ok(()), Err)
        });
        let snap = self.snapshotter()?;
        // Extract large files as they arrive where a layer can be attached to its
        // parent afterwards (see early.rs).
        let early_ok = snap.layout() == Layout::Diff;
        let early_budget = Arc::new(SizeBudget::new(self.max_image_size));
        let mut early: HashMap<Digest, Early> = HashMap::new();
        let result = std::thread::scope(|scope| {
            let mut handles = Vec::new();
            let read = self.read_archive(
                tar,
                progress,
                &commits,
                early_ok.then_some((scope, &early_budget)),
                &mut handles,
            );
            for (digest, handle) in handles {
                let done = handle
                    .join()
                    .map_err(|_| Error::Panicked("a layer extraction"));
                match (digest, done) {
                    (Some(d), Ok(e)) if !early.contains_key(&d) => {
                        early.insert(d, e);
                    }
                    (_, Ok(e)) => {
                        let _ = snap.remove(&e.key);
                    }
                    (_, Err(_)) => {}
                }
            }
            read
        });
        drop(commits);
        let outcome = result
            .and_then(|files| self.load_images(files, &mut early, committer, started, progress));
        for (_, e) in early {
            let _ = snap.remove(&e.key);
        }
        outcome
    }

    /// The second half of a load: the archive is read; find its images, attach or
    /// unpack their layers, and record them once every blob is durable.
    fn load_images(
        &self,
        files: ArchiveFiles,
        early: &mut HashMap<Digest, Early>,
        committer: std::thread::JoinHandle<Result<(), berth_store::Error>>,
        started: std::time::Instant,
        progress: &dyn Progress,
    ) -> Result<LoadOutcome> {
        tracing::info!(elapsed = ?started.elapsed(), blobs = files.blobs.len(), "archive read");
        let images = if files.has("manifest.json") {
            self.docker_archive_images(&files)?
        } else if files.has("index.json") {
            self.oci_archive_images(&files)?
        } else {
            return Err(Error::Archive(
                "not a docker-archive or OCI archive: no manifest.json or index.json".into(),
            ));
        };
        if images.is_empty() {
            return Err(Error::Archive("the archive holds no image".into()));
        }
        let mut outcome = LoadOutcome::default();
        let mut unpacked = Vec::new();
        for ArchivedImage {
            manifest_digest,
            manifest,
            config,
            tags,
        } in images
        {
            let layers = image_layers(&manifest, &config, |d| files.pending.get(d).cloned())?;
            let chains = self.attach_early(&layers, early, progress)?;
            tracing::info!(elapsed = ?started.elapsed(), image = %manifest.config.digest, "layers unpacked");
            unpacked.push((manifest_digest, manifest, config, tags, chains));
        }
        // Images are recorded only once every blob they name is durable.
        committer
            .join()
            .map_err(|_| Error::Panicked("the blob committer"))??;
        tracing::info!(elapsed = ?started.elapsed(), "blobs committed");
        for (manifest_digest, manifest, config, tags, chains) in unpacked {
            for (tag, before) in
                self.record_image(&manifest_digest, &manifest, &config, &chains, &tags)?
            {
                progress.message(&format!(
                    "The image {} already exists, renaming the old one with ID {before} to empty string",
                    tag.familiar()
                ));
            }
            outcome.images.push((manifest.config.digest.clone(), tags));
        }
        Ok(outcome)
    }

    /// Reads the archive front to back, storing its files as blobs; with `early`,
    /// large files are extracted as they arrive, their threads in `handles`
    /// (with the file's digest once known).
    fn read_archive<'scope, 'env>(
        &'env self,
        tar: impl Read,
        progress: &'env dyn Progress,
        commits: &mpsc::SyncSender<PendingBlob>,
        early: Option<(&'scope std::thread::Scope<'scope, 'env>, &Arc<SizeBudget>)>,
        handles: &mut Vec<(Option<Digest>, ScopedJoinHandle<'scope, Early>)>,
    ) -> Result<ArchiveFiles> {
        let mut buf = vec![0u8; 1 << 20];
        let corrupt = |e: io::Error| Error::Archive(format!("corrupt or truncated archive: {e}"));
        let mut files = ArchiveFiles::default();
        let mut small_total = 0u64;
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let path = clean_path(&entry.path_bytes());
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                if let Some(t) = entry.link_name_bytes() {
                    let target = link_target(&path, &String::from_utf8_lossy(&t));
                    files.links.insert(path, target);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.size();
            let named = blob_path_digest(&path);
            if let Some(d) = &named
                && self.blobs.contains(d)
            {
                files.blobs.insert(path, d.clone());
                continue;
            }
            let id = named
                .as_ref()
                .map(|d| d.short().to_string())
                .unwrap_or_else(|| progress_id(&path));
            let mut w = self.blobs.writer()?;
            // Where this entry's early extraction sits in `handles`, if it has one.
            let mut early_index = None;
            let read_err = |e: io::Error| match e.kind() {
                io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => corrupt(e),
                _ => Error::io(&path)(e),
            };
            if size <= SMALL_FILE_MAX && small_total + size <= SMALL_FILES_TOTAL_MAX {
                small_total += size;
                // Small files are kept in memory too: manifests and configs are read
                // back before their blobs are committed.
                let mut data = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut data).map_err(corrupt)?;
                if named.is_none() {
                    files.small.insert(path, data);
                    continue;
                }
                w.write_all(&data).map_err(Error::io(&path))?;
                files.small.insert(path.clone(), data);
            } else {
                let busy = handles.iter().filter(|(_, h)| !h.is_finished()).count();
                // Only large files are worth extracting before the manifest says
                // they are layers, and no more of them than one image may have.
                let speculate = size > SMALL_FILE_MAX
                    && busy < crate::parallel::cpu_workers()
                    && handles.len() < MAX_LAYERS;
                let follow = match early {
                    Some((scope, budget)) if speculate => {
                        let follow = Arc::new(Follow::default());
                        let incoming = Incoming {
                            path: w.path(),
                            named: named.clone(),
                            label: id.clone(),
                            size,
                            budget: budget.clone(),
                        };
                        match self.start_early(scope, incoming, follow.clone(), progress) {
                            Ok(h) => {
                                handles.push((named.clone(), h));
                                early_index = Some(handles.len() - 1);
                                Some(follow)
                            }
                            Err(e) => {
                                tracing::debug!(file = %path, error = %e, "no early extraction");
                                None
                            }
                        }
                    }
                    _ => None,
                };
                // Whatever ends this entry early ends the follower's wait too.
                let ended = EndFollow(follow.clone());
                let shown: &dyn Progress = if follow.is_some() {
                    &crate::NoProgress
                } else {
                    progress.start(&id, "Reading", Some(size));
                    progress
                };
                let mut counted = Counting::new(&mut entry, &id, shown);
                loop {
                    let n = counted.read(&mut buf).map_err(read_err)?;
                    if n == 0 {
                        break;
                    }
                    w.write_all(&buf[..n]).map_err(Error::io(&path))?;
                    if let Some(f) = &follow {
                        f.advance(w.on_disk());
                    }
                }
                w.flush().map_err(Error::io(&path))?;
                ended.complete(w.on_disk());
                if follow.is_none() {
                    progress.done(&id, "Read");
                }
            }
            let pending = match &named {
                Some(d) => w.finish_sized(d, size).map_err(|e| match e {
                    berth_store::Error::DigestMismatch { actual, .. } => Error::Archive(format!(
                        "{path} has digest {actual} (corrupt or tampered archive)"
                    )),
                    other => other.into(),
                })?,
                None => w.finish(None)?,
            };
            let digest = pending.digest().clone();
            if let Some(i) = early_index {
                handles[i].0 = Some(digest.clone());
            }
            files
                .pending
                .insert(digest.clone(), pending.path().to_path_buf());
            files.blobs.insert(path, digest);
            // The committer fsyncs and renames while the archive streams on; if it
            // has stopped on an error, dropping the blob removes it and the error
            // comes out when the committer is joined.
            let _ = commits.send(pending);
        }
        Ok(files)
    }

    /// Makes an image's layer snapshots: those extracted early are attached to
    /// their parents and committed bottom-up; the rest are unpacked from their
    /// blobs. Returns the chain IDs.
    fn attach_early(
        &self,
        layers: &[LayerBlob],
        early: &mut HashMap<Digest, Early>,
        progress: &dyn Progress,
    ) -> Result<Vec<ChainId>> {
        let snap = self.snapshotter()?;
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        for (i, layer) in layers.iter().enumerate() {
            let committed = snap
                .stat(&keys::layer(&chains[i]))
                .is_ok_and(|s| s.kind == berth_snapshot::Kind::Committed);
            if committed {
                continue;
            }
            let Some(Early { key, applied }) = early.remove(&layer.blob) else {
                self.unpack(&layers[..=i], progress)?;
                continue;
            };
            if let Err(Error::Tarball(berth_layer::Error::ImageTooLarge { .. })) = &applied {
                // The archive's early extractions ran out of budget together;
                // this layer is unpacked from its blob under its image's own.
                let _ = snap.remove(&key);
                self.unpack(&layers[..=i], progress)?;
                continue;
            }
            let parent = (i > 0).then(|| keys::layer(&chains[i - 1]));
            let attached = applied
                .map_err(|e| match e {
                    Error::Tarball(source) => Error::Layer {
                        layer: layer.diff_id.clone(),
                        source,
                    },
                    other => other,
                })
                .and_then(|a| {
                    self.accept_diff_id(layer, a.diff_id.clone())?;
                    snap.rebase(&key, parent.as_deref())?;
                    self.commit_layer(snap, &key, &chains[i], layer, a.content_size)
                });
            match attached {
                Ok(()) => progress.done(layer.blob.short(), "Loaded"),
                // Another load committed the same layer first: theirs serves.
                Err(Error::Snapshot(e)) if e.kind() == Kind::AlreadyExists => {
                    let _ = snap.remove(&key);
                }
                Err(e) => {
                    let _ = snap.remove(&key);
                    return Err(e);
                }
            }
        }
        self.unpack(layers, progress)
    }

    fn docker_archive_images(&self, files: &ArchiveFiles) -> Result<Vec<ArchivedImage>> {
        let entries: Vec<ArchiveManifest> =
            serde_json::from_slice(&files.read(self, "manifest.json")?)
                .map_err(|e| Error::Archive(format!("manifest.json: {e}")))?;
        // Before any config is read or layer unpacked.
        for entry in &entries {
            let name = match entry.repo_tags.as_deref() {
                Some([first, ..]) => first.as_str(),
                _ => entry.config.as_str(),
            };
            crate::images::catalog::check_layer_count(name, entry.layers.len())?;
        }
        // Docker 25+ also writes an OCI layout: reuse its manifests so that their
        // digests survive a save/load round trip.
        let mut oci_manifests: HashMap<Digest, (Digest, Manifest)> = HashMap::new();
        if files.has("index.json")
            && let Ok(index) = from_json::<Index>("index.json", &files.read(self, "index.json")?)
        {
            for d in index
                .manifests
                .iter()
                .filter(|d| media::is_manifest(&d.media_type))
            {
                let path = format!("blobs/sha256/{}", d.digest.hex());
                if let Ok(raw) = files.read(self, &path)
                    && let Ok(m) = from_json::<Manifest>("manifest", &raw)
                {
                    oci_manifests.insert(m.config.digest.clone(), (d.digest.clone(), m));
                }
            }
        }
        let mut out = Vec::new();
        for entry in entries {
            let config_raw = files.read(self, &entry.config)?;
            let config_digest = self.blobs.put(&config_raw)?;
            let config: ImageConfig = from_json("image config", &config_raw)
                .map_err(|e| Error::Archive(format!("{}: {e}", entry.config)))?;
            let mut layer_blobs = Vec::new();
            for l in &entry.layers {
                layer_blobs.push(files.blob(self, l)?);
            }
            let (manifest_digest, manifest) = match oci_manifests.get(&config_digest) {
                Some((d, m)) if m.layers.iter().map(|l| &l.digest).eq(layer_blobs.iter()) => {
                    files.blob(self, &format!("blobs/sha256/{}", d.hex()))?;
                    (d.clone(), m.clone())
                }
                _ => self.synthesize_manifest(
                    files,
                    &config_digest,
                    config_raw.len() as u64,
                    &layer_blobs,
                )?,
            };
            let mut tags = Vec::new();
            for t in entry.repo_tags.unwrap_or_default() {
                tags.push(Reference::parse(&t)?.with_default_tag());
            }
            out.push(ArchivedImage {
                manifest_digest,
                manifest,
                config,
                tags,
            });
        }
        Ok(out)
    }

    /// An OCI manifest for layers that came without one (old docker-archives).
    fn synthesize_manifest(
        &self,
        files: &ArchiveFiles,
        config: &Digest,
        config_size: u64,
        layers: &[Digest],
    ) -> Result<(Digest, Manifest)> {
        let mut descs = Vec::new();
        for l in layers {
            // The blob may still be pending: size and sniff it through one handle.
            let mut file = match files.pending.get(l) {
                Some(p) => self.blobs.open_pending(p, l)?,
                None => self.blobs.open_blob(l)?,
            };
            let size = file.metadata().map_err(Error::io(l))?.len();
            let mut head = [0u8; 8];
            let n = file.read(&mut head).map_err(Error::io(l))?;
            let media_type = match Compression::detect(&head[..n])? {
                Compression::Gzip => media::OCI_LAYER_GZIP,
                Compression::Zstd => media::OCI_LAYER_ZSTD,
                _ => media::OCI_LAYER_TAR,
            };
            descs.push(descriptor(media_type, l.clone(), size));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: descriptor(media::OCI_CONFIG, config.clone(), config_size),
            layers: descs,
            annotations: Default::default(),
            extra: Default::default(),
        };
        let raw = to_json(&manifest)?;
        Ok((self.blobs.put(&raw)?, manifest))
    }

    fn oci_archive_images(&self, files: &ArchiveFiles) -> Result<Vec<ArchivedImage>> {
        let index: Index = from_json("index.json", &files.read(self, "index.json")?)?;
        let mut out: Vec<ArchivedImage> = Vec::new();
        for desc in &index.manifests {
            let (digest, manifest) = self.pick_manifest(files, desc, 0)?;
            let config_path = format!("blobs/sha256/{}", manifest.config.digest.hex());
            let config_raw = files.read(self, &config_path)?;
            let config: ImageConfig = from_json("image config", &config_raw)
                .map_err(|e| Error::Archive(format!("{config_path}: {e}")))?;
            for l in &manifest.layers {
                files.blob(self, &format!("blobs/sha256/{}", l.digest.hex()))?;
            }
            let tag = desc
                .annotations
                .get("io.containerd.image.name")
                .or_else(|| desc.annotations.get("org.opencontainers.image.ref.name"))
                .and_then(|n| Reference::parse(n).ok())
                .filter(|r| r.tag().is_some() || r.digest().is_some());
            match out.iter_mut().find(|i| i.manifest_digest == digest) {
                Some(existing) => existing.tags.extend(tag),
                None => out.push(ArchivedImage {
                    manifest_digest: digest,
                    manifest,
                    config,
                    tags: tag.into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }

    /// Follows an index entry to the manifest for this host's platform.
    fn pick_manifest(
        &self,
        files: &ArchiveFiles,
        desc: &Descriptor,
        depth: u32,
    ) -> Result<(Digest, Manifest)> {
        let raw = files.read(self, &format!("blobs/sha256/{}", desc.digest.hex()))?;
        if Digest::of(&raw) != desc.digest {
            return Err(Error::Archive(format!(
                "blob {} does not match its digest",
                desc.digest
            )));
        }
        files.blob(self, &format!("blobs/sha256/{}", desc.digest.hex()))?;
        if media::is_index(&desc.media_type) {
            if depth > 4 {
                return Err(Error::Archive("indexes nested too deep".into()));
            }
            let index: Index = from_json("index", &raw)?;
            let pick = index
                .for_platform(&Platform::host())
                .or_else(|| index.manifests.first())
                .ok_or_else(|| Error::Archive("an index lists no manifest".into()))?;
            return self.pick_manifest(files, pick, depth + 1);
        }
        Ok((desc.digest.clone(), from_json("manifest", &raw)?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn symlinks_resolve_inside_the_archive() {
        assert_eq!(
            super::link_target("abc/layer.tar", "../def/layer.tar"),
            "def/layer.tar"
        );
        assert_eq!(super::clean_path(b"./blobs//sha256/x"), "blobs/sha256/x");
        assert_eq!(
            super::progress_id("0123456789abcdef/layer.tar"),
            "0123456789ab"
        );
        assert_eq!(super::progress_id("short.tar"), "short.tar");
    }
}
