//! The store-wide garbage-collection lock.
//!
//! Commands that add content (load, import) hold it shared for their whole run;
//! the sweep that deletes unreferenced blobs and snapshots holds it exclusive. A
//! sweep therefore never deletes a layer that a load in flight has written but
//! not yet recorded. The lock is an advisory `flock`, so a killed process releases it.

use std::fs::File;
use std::path::Path;

use crate::Error;

/// The lock file.
pub struct GcLock {
    file: File,
}

/// A held lock; released on drop.
pub struct GcGuard<'a> {
    lock: &'a GcLock,
}

impl GcLock {
    /// Opens (creating) the lock file at `path`.
    pub fn open(path: &Path) -> Result<GcLock, Error> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io(path))?;
        Ok(GcLock { file })
    }

    /// Holds the lock shared: content may be added, nothing is swept.
    pub fn shared(&self) -> Result<GcGuard<'_>, Error> {
        self.file.lock_shared().map_err(Error::io("gc.lock"))?;
        Ok(GcGuard { lock: self })
    }

    /// Holds the lock exclusive if no one holds it now.
    pub fn try_exclusive(&self) -> Result<Option<GcGuard<'_>>, Error> {
        match self.file.try_lock() {
            Ok(()) => Ok(Some(GcGuard { lock: self })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("gc.lock")(e)),
        }
    }

    /// Holds the lock exclusive: for the sweep.
    pub fn exclusive(&self) -> Result<GcGuard<'_>, Error> {
        self.file.lock().map_err(Error::io("gc.lock"))?;
        Ok(GcGuard { lock: self })
    }
}

impl Drop for GcGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.file.unlock();
    }
}
