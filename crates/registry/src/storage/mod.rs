//! Where a registry keeps its data: one trait, two backends.
//!
//! The registry keeps no state outside its storage (several servers may serve
//! one bucket), so everything — blobs, repository links, tags, upload sessions —
//! is an object under a key. The trait is object-store shaped (whole-object
//! puts, ranged reads, listings of one level) because that is what S3 offers;
//! the filesystem backend implements it with plain files, renames and flock.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::Stream;

pub mod fs;
pub mod s3;

pub use fs::FsStorage;
pub use s3::{S3Config, S3Storage};

/// A stream of bytes: a request body going in, an object coming out.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem call failed.
    #[error("{op} {key}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The key involved.
        key: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The object store answered with an error.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// The body being stored failed (client went away, too large, too slow).
    #[error("{0}")]
    Body(io::Error),
    /// The backend cannot be set up as configured.
    #[error("storage configuration: {0}")]
    Config(String),
}

impl StorageError {
    pub(crate) fn io(op: &'static str, key: &str, source: io::Error) -> StorageError {
        StorageError::Io {
            op,
            key: key.to_string(),
            source,
        }
    }
}

/// What a listing or a stat says of an object.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The last component of the key.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// A held lock; dropping it releases the lock.
pub type LockGuard = Box<dyn Send + Sync>;

/// The operations the registry needs from a place to keep objects.
///
/// Keys are `/`-separated relative paths built only by [`keys`]; no key comes
/// from a client unvalidated.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A short name for logs: `filesystem /srv/registry`, `s3 bucket`.
    fn describe(&self) -> String;
    /// A whole small object (link, tag, manifest); None when missing.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError>;
    /// An object's bytes, or a range of them, with its total size.
    async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(u64, ByteStream)>, StorageError>;
    /// Size and time of an object; None when missing.
    async fn stat(&self, key: &str) -> Result<Option<Meta>, StorageError>;
    /// Writes a whole object atomically: readers see the old one or the new one.
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError>;
    /// Writes a stream atomically and returns its size and sha256. The object
    /// appears only once the stream ended without error.
    async fn put_stream(&self, key: &str, body: ByteStream) -> Result<(u64, Digest), StorageError>;
    /// Moves an object (replacing the destination); atomic for readers of `to`.
    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;
    /// Removes an object; a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Removes every object under `prefix/`.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError>;
    /// The objects directly under `prefix/`.
    async fn list(&self, prefix: &str) -> Result<Vec<Meta>, StorageError>;
    /// The "directories" directly under `prefix/`.
    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// The lock that orders manifest writes (shared) against garbage
    /// collection's sweep (exclusive). Backends without locks return a no-op
    /// guard, and collection relies on its grace period there.
    async fn lock(&self, exclusive: bool) -> Result<LockGuard, StorageError>;
    /// Whether [`Storage::lock`] really excludes.
    fn has_locks(&self) -> bool;
}

/// The layout of keys: the only place that builds them.
pub mod keys {
    use berth_oci::Digest;

    /// A blob's content.
    pub fn blob(d: &Digest) -> String {
        format!("blobs/sha256/{}/{}", &d.hex()[..2], d.hex())
    }
    /// Prefix of the blob shards.
    pub const BLOBS: &str = "blobs/sha256";
    /// The repositories' directory.
    pub const REPOSITORIES: &str = "repositories";
    /// A repository's root.
    pub fn repo(name: &str) -> String {
        format!("repositories/{name}")
    }
    /// The link that puts a blob in a repository.
    pub fn layer_link(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_layers/{}", d.hex())
    }
    /// A repository's layer links.
    pub fn layer_links(name: &str) -> String {
        format!("repositories/{name}/_layers")
    }
    /// The link that puts a manifest in a repository (holds its media type).
    pub fn revision(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_manifests/revisions/{}", d.hex())
    }
    /// A repository's manifests.
    pub fn revisions(name: &str) -> String {
        format!("repositories/{name}/_manifests/revisions")
    }
    /// A tag (holds the digest it points at).
    pub fn tag(name: &str, tag: &str) -> String {
        format!("repositories/{name}/_manifests/tags/{tag}")
    }
    /// A repository's tags.
    pub fn tags(name: &str) -> String {
        format!("repositories/{name}/_manifests/tags")
    }
    /// The manifests whose subject is `subject` (each holds its descriptor).
    pub fn referrers(name: &str, subject: &Digest) -> String {
        format!("repositories/{name}/_referrers/{}", subject.hex())
    }
    /// One referrer.
    pub fn referrer(name: &str, subject: &Digest, d: &Digest) -> String {
        format!(
            "repositories/{name}/_referrers/{}/{}",
            subject.hex(),
            d.hex()
        )
    }
    /// The flat list of repositories (names with `/` written as `+`).
    pub const CATALOG: &str = "_catalog";
    /// One catalog entry.
    pub fn catalog_entry(name: &str) -> String {
        format!("_catalog/{}", name.replace('/', "+"))
    }
    /// Upload sessions.
    pub const UPLOADS: &str = "_uploads";
    /// One upload session.
    pub fn upload(id: &str) -> String {
        format!("_uploads/{id}")
    }
    /// The session's record (repository, start time).
    pub fn upload_info(id: &str) -> String {
        format!("_uploads/{id}/info")
    }
    /// The session's parts.
    pub fn upload_parts(id: &str) -> String {
        format!("_uploads/{id}/parts")
    }
    /// One part, named by its offset so they list in order.
    pub fn upload_part(id: &str, offset: u64) -> String {
        format!("_uploads/{id}/parts/{offset:020}")
    }
    /// The sha256 of a part, when it was hashed as it arrived.
    pub fn upload_part_digest(id: &str, offset: u64) -> String {
        format!("_uploads/{id}/sums/{offset:020}")
    }
    /// Where several parts are joined before verification.
    pub fn upload_joined(id: &str) -> String {
        format!("_uploads/{id}/joined")
    }
}
