//! Extracting a load's layers while the archive still streams in.
//!
//! A docker-archive names its layers' order in `manifest.json`, which comes
//! last; waiting for it means reading the whole archive before the first file
//! is created. With a Diff-layout snapshotter a layer's files do not depend on
//! its parent's, so each large archive file is extracted as it arrives — into a
//! parentless `extract-*` snapshot, by a thread that follows the blob's ingest
//! file as it is written — and attached to its parent (`Snapshotter::rebase`)
//! once the manifest has said which layer sits where. A file that turns out not
//! to be a layer fails to extract and is simply dropped.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};

use berth_layer::{
    Applied, ApplyOptions, Compression, SizeBudget, WhiteoutMode, apply_layer, decompress,
};
use berth_oci::Digest;

use crate::keys::{self, Purpose};
use crate::layers::unpack::Counting;
use crate::{Engine, Error, Progress, Result};

/// How far a blob's ingest file is written, shared by its writer and a follower.
#[derive(Default)]
pub(crate) struct Follow {
    state: Mutex<FollowState>,
    grew: Condvar,
}

#[derive(Default)]
struct FollowState {
    visible: u64,
    done: bool,
    failed: bool,
}

impl Follow {
    /// The writer made `visible` bytes readable.
    pub(crate) fn advance(&self, visible: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.visible = visible;
        self.grew.notify_all();
    }

    /// The writer is done: `ok` when the file is complete, else the follower fails.
    pub(crate) fn end(&self, ok: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            s.done = true;
        } else {
            s.failed = true;
        }
        self.grew.notify_all();
    }
}

/// Reads a file as its writer writes it.
struct FollowReader {
    file: File,
    pos: u64,
    follow: Arc<Follow>,
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let visible = {
            let mut s = self.follow.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if s.visible > self.pos || s.done || s.failed {
                    break;
                }
                s = self.follow.grew.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.failed {
                return Err(io::Error::other("the archive could not be read to the end"));
            }
            s.visible
        };
        if visible <= self.pos {
            return Ok(0);
        }
        let max = buf.len().min((visible - self.pos) as usize);
        let n = self.file.read_at(&mut buf[..max], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An archive file being written to the store, to extract as it arrives.
pub(crate) struct Incoming<'a> {
    /// Its ingest file.
    pub path: &'a std::path::Path,
    /// The digest the archive names it by (`blobs/sha256/<hex>`), if it does.
    pub named: Option<Digest>,
    /// Its label in progress output.
    pub label: String,
    /// Its size.
    pub size: u64,
    /// What all of the archive's early extractions may unpack together. Past
    /// it an extraction fails with `ImageTooLarge` and its layer is unpacked
    /// later from its blob, under its own image's budget.
    pub budget: Arc<SizeBudget>,
}

/// An extraction started while the archive streams.
pub(crate) struct Early {
    /// The `extract-*` snapshot it fills.
    pub key: String,
    /// What the extraction found, once it ended.
    pub applied: Result<Applied>,
}

impl Engine {
    /// Starts extracting an incoming file into a new parentless snapshot, on a
    /// thread of `scope`, reading it as `follow` says it grows. A named,
    /// uncompressed file's diff ID is its name, so it is not hashed twice.
    pub(crate) fn start_early<'scope, 'env>(
        &'env self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        incoming: Incoming<'_>,
        follow: Arc<Follow>,
        progress: &'env dyn Progress,
    ) -> Result<std::thread::ScopedJoinHandle<'scope, Early>> {
        let snap = self.snapshotter()?;
        let key = keys::extract(Purpose::Layer);
        snap.prepare(&key, None)?;
        let dir = match snap.apply_dir(&key) {
            Ok(d) => d,
            Err(e) => {
                let _ = snap.remove(&key);
                return Err(e.into());
            }
        };
        let Incoming {
            path,
            named,
            label,
            size,
            budget,
        } = incoming;
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let _ = snap.remove(&key);
                return Err(Error::io(path.display())(e));
            }
        };
        Ok(scope.spawn(move || {
            let reader = FollowReader {
                file,
                pos: 0,
                follow,
            };
            progress.start(&label, "Loading layer", Some(size));
            let applied = (|| {
                let counted = Counting::new(reader, &label, progress);
                let (compression, tar) = decompress(counted)?;
                let mut opts = ApplyOptions::default();
                opts.whiteouts = WhiteoutMode::Overlay;
                opts.max_size = self.max_layer_size;
                opts.image_budget = Some(budget);
                if compression == Compression::None {
                    // Stored under its own digest, which the blob writer checks.
                    opts.known_diff_id = named;
                }
                Ok(apply_layer(tar, &dir, &opts)?)
            })();
            // "Loaded" is said once the layer is attached: its diff ID may still
            // turn out wrong.
            Early { key, applied }
        }))
    }
}
