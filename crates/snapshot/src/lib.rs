//! Snapshotters: directories of layer content, named by chain ID, stacked by
//! parent, and described as mounts.
//!
//! The contract is containerd's. Vocabulary: a *key* names an active snapshot or a
//! view, a *name* names a committed one; both share one namespace. Lifecycle:
//! [`Snapshotter::prepare`] makes an active (writable) snapshot on top of a
//! committed parent; [`Snapshotter::view`] makes a read-only one;
//! [`Snapshotter::commit`] turns an active snapshot into a committed one under a
//! new name (the key disappears); [`Snapshotter::remove`] deletes any snapshot
//! that has no children. Snapshotters return mount *descriptions*; callers mount
//! them ([`Mount::mount`]).
//!
//! Importing a layer: `prepare("extract-x", Some(parent_chain))`, apply the tar to
//! [`Snapshotter::apply_dir`], then `commit(chain_id, "extract-x")`.
//!
//! Errors by misuse, checked by the testsuite: a key or name used twice →
//! `AlreadyExists`; unknown key or parent → `NotFound`; committing a view,
//! committing on an uncommitted parent, removing a snapshot with children →
//! `FailedPrecondition`.
#![deny(missing_docs)]

pub mod idmap;
mod metastore;
pub mod mount;
pub mod overlay;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod vfs;

pub use mount::Mount;
pub use overlay::Overlay;
pub use vfs::Vfs;

use berth_oci::Kind as ErrorKind;
use std::path::PathBuf;

/// What a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Read-only, mounted from a committed parent.
    View,
    /// Writable, not yet committed.
    Active,
    /// Immutable, may be a parent.
    Committed,
}

/// What is known of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Key (active, view) or name (committed).
    pub name: String,
    /// The parent's name, if any.
    pub parent: Option<String>,
    /// What it is.
    pub kind: Kind,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// Disk use of one snapshot, excluding its parents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of file content (hard links counted once).
    pub size: u64,
    /// Number of inodes.
    pub inodes: u64,
}

/// How an active snapshot's [`Snapshotter::apply_dir`] is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// It holds only this snapshot's changes; deletions are overlay whiteouts.
    /// Such a snapshot can be filled before its parent is.
    Diff,
    /// It holds the whole tree, parents' content included; deletions delete.
    Full,
}

/// Errors of snapshotters.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No snapshot has this key or name.
    #[error("snapshot {0:?} not found")]
    NotFound(String),
    /// The key or name is taken.
    #[error("snapshot {0:?} already exists")]
    AlreadyExists(String),
    /// The snapshot is not in a state that allows the operation.
    #[error("snapshot {key:?}: {reason}")]
    FailedPrecondition {
        /// The snapshot.
        key: String,
        /// Why not.
        reason: &'static str,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Mounting or unmounting failed.
    #[error("mount {target}: {source}")]
    Mount {
        /// The mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot database failed.
    #[error("snapshot database: {0}")]
    Db(#[from] rusqlite::Error),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::FailedPrecondition { .. } => ErrorKind::FailedPrecondition,
            Error::Io { source, .. } | Error::Mount { source, .. } => ErrorKind::of_io(source),
            Error::Db(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// A snapshotter. See the module documentation for the contract.
pub trait Snapshotter: Send + Sync {
    /// The driver's name (`overlay`, `vfs`), as `docker info` shows it.
    fn name(&self) -> &'static str;
    /// How [`Snapshotter::apply_dir`] is laid out.
    fn layout(&self) -> Layout;
    /// Information on one snapshot.
    fn stat(&self, key: &str) -> Result<Info, Error>;
    /// Disk use of one snapshot, parents excluded.
    fn usage(&self, key: &str) -> Result<Usage, Error>;
    /// How to mount an active snapshot or a view.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, Error>;
    /// Makes an active snapshot on `parent`. With a [`Layout::Diff`] snapshotter the
    /// parent may itself still be active (layers are filled in parallel); it must
    /// be committed before this one is.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, Error>;
    /// Makes a read-only view of the committed `parent`.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, Error>;
    /// Commits the active snapshot `key` as `name`.
    fn commit(&self, name: &str, key: &str) -> Result<(), Error>;
    /// Gives the active snapshot `key` (which has no children) the committed
    /// `parent`. Only a [`Layout::Diff`] snapshotter can, as its files do not
    /// depend on the parent's: a layer can then be extracted before its parent is
    /// known (a load reads layers before the manifest that orders them).
    fn rebase(&self, key: &str, parent: Option<&str>) -> Result<(), Error> {
        let _ = parent;
        Err(Error::FailedPrecondition {
            key: key.to_string(),
            reason: "this driver cannot change a snapshot's parent",
        })
    }
    /// Removes a snapshot that has no children.
    fn remove(&self, key: &str) -> Result<(), Error>;
    /// Visits every snapshot.
    fn walk(&self, visit: &mut dyn FnMut(&Info) -> Result<(), Error>) -> Result<(), Error>;
    /// The directory holding a snapshot's files, for display (Docker's
    /// `GraphDriver.Data`) and for reading committed layers. Never write to it.
    fn path(&self, key: &str) -> Result<PathBuf, Error>;
    /// The directory into which a layer is applied for the active snapshot `key`.
    fn apply_dir(&self, key: &str) -> Result<PathBuf, Error>;
    /// Removes directories that belong to no snapshot (left by a kill). Must not run
    /// while another process prepares snapshots: berth's engine holds its GC lock
    /// exclusive around it.
    fn cleanup(&self) -> Result<usize, Error>;
}
