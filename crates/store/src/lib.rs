//! berth's local store: the content store (immutable blobs by digest, written
//! temp → fsync → rename and verified on the way), the metadata database (images,
//! tags, repo digests, which layers and blobs each image uses) and the store-wide
//! lock that keeps garbage collection away from work in progress.
//!
//! It knows nothing of layers' contents, snapshots or the CLI.
#![deny(missing_docs)]

pub mod blobs;
pub mod db;
pub mod lock;

pub use blobs::{BlobWriter, Blobs, PartialBlob, PendingBlob};
pub use db::{Db, ImageRecord, Removal, open_sqlite};
pub use lock::{GcGuard, GcLock};

use berth_oci::{Digest, Kind};
use std::path::PathBuf;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A blob is not in the store.
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    /// No image has this ID.
    #[error("image {0} not found")]
    ImageNotFound(Digest),
    /// Written content does not match the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of what was written.
        actual: Digest,
    },
    /// Written content does not have the size it was expected to have.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Bytes expected.
        expected: u64,
        /// Bytes written.
        actual: u64,
    },
    /// A file of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A row in the database holds something that is not what it should be.
    #[error("metadata database holds a corrupt value: {0}")]
    Corrupt(String),
    /// The database was written by a newer berth, with tables this one does
    /// not know.
    #[error(
        "{path}: metadata schema version {found} is newer than version {supported}, the newest this berth knows; use a newer berth"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest version this berth migrates to.
        supported: u32,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::BlobNotFound(_) | Error::ImageNotFound(_) => Kind::NotFound,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } | Error::Corrupt(_) => {
                Kind::DataLoss
            }
            Error::Io { source, .. } => Kind::of_io(source),
            Error::SchemaTooNew { .. } => Kind::FailedPrecondition,
            Error::Db(e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => Kind::ResourceExhausted,
                Some(rusqlite::ErrorCode::PermissionDenied | rusqlite::ErrorCode::ReadOnly) => {
                    Kind::PermissionDenied
                }
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    Kind::Unavailable
                }
                _ => Kind::Internal,
            },
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
