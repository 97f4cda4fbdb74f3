//! The vocabulary every other berth crate speaks: content digests and chain IDs,
//! image references with Docker's normalisation, media types, and the closed set
//! of error kinds that callers test instead of messages.
//!
//! This crate knows nothing of disks, networks or the CLI.
#![deny(missing_docs)]

pub mod auth;
pub mod digest;
pub mod errcode;
pub mod errdefs;
pub mod idmap;
pub mod image;
pub mod media;
pub mod reference;

pub use digest::{ChainId, Digest, Hasher, HashingReader, chain_id, chain_ids};
pub use errdefs::Kind;
pub use reference::Reference;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string that should be a digest is not one.
    #[error("invalid digest {value:?}: {reason}")]
    InvalidDigest {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A manifest, index or config is not valid JSON of its kind.
    #[error("invalid {what}: {source}")]
    Json {
        /// What was parsed.
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A string that should be an image reference is not one.
    #[error("{value:?} is not a valid repository/tag: invalid reference format: {reason}")]
    InvalidReference {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Json { .. } => Kind::DataLoss,
            _ => Kind::InvalidArgument,
        }
    }
}
