//! Scratch directories for requests that need files for a moment (a build
//! context, a `docker cp` tar): named for the daemon that made them, removed
//! when the request ends, and swept at start-up when a killed daemon left
//! them behind.

use std::path::{Path, PathBuf};

use super::ApiError;

/// The prefix of every scratch directory's name.
const PREFIX: &str = "berth-scratch-";

/// Where small, short-lived trees go: a tmpfs, so creating and removing
/// their files costs no disk writes.
const MEMORY: &str = "/dev/shm";

/// A scratch directory, removed on drop.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    /// A new empty directory under the temporary directory.
    pub(super) fn new(what: &str) -> Result<Scratch, ApiError> {
        Scratch::under(&std::env::temp_dir(), what)
    }

    /// A new empty directory in memory, or `None` when this host has no
    /// tmpfs at /dev/shm.
    pub(super) fn in_memory(what: &str) -> Result<Option<Scratch>, ApiError> {
        // f_type's width differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        let tmpfs = rustix::fs::statfs(MEMORY).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC);
        if !tmpfs {
            return Ok(None);
        }
        Scratch::under(Path::new(MEMORY), what).map(Some)
    }

    /// `PARENT/berth-scratch-PID-WHAT-ID`, mode 0700.
    fn under(parent: &Path, what: &str) -> Result<Scratch, ApiError> {
        use std::os::unix::fs::DirBuilderExt;
        let id = berth_engine::new_id()?;
        let dir = parent.join(format!(
            "{PREFIX}{}-{what}-{}",
            std::process::id(),
            &id[..16]
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// statfs(2)'s `f_type` of a tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Removes the scratch directories of daemons that are gone (a SIGKILL in
/// the middle of a build leaves its context behind, in memory for a
/// tmpfs); other running daemons' directories are left alone.
pub fn sweep_stale() {
    for parent in [std::env::temp_dir(), PathBuf::from(MEMORY)] {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let alive = rustix::process::Pid::from_raw(pid).is_some_and(|p| {
                !matches!(
                    rustix::process::test_kill_process(p),
                    Err(rustix::io::Errno::SRCH)
                )
            });
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
