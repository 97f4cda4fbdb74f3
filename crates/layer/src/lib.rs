//! Layer tarballs: detecting their compression and applying them to a directory
//! safely, with OCI whiteouts.
//!
//! berth applies layers with its own code rather than `tar::Archive::unpack`: the
//! crate knows no whiteouts, and resolves symlinks on the host, where a layer's
//! `lib -> /usr/lib` means the rootfs's own `/usr/lib`. Every parent path here is
//! resolved by the kernel with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`,
//! so nothing a layer contains can reach outside the target directory.
#![deny(missing_docs)]

pub mod apply;
pub mod budget;
pub mod compression;
pub mod diff;
pub mod exercise;
pub mod root;
mod sys;
pub mod tree;

pub use apply::{Applied, ApplyOptions, WhiteoutMode, apply_layer};
pub use budget::SizeBudget;
pub use compression::{Compression, Compressor, decompress};

use berth_oci::Kind;

/// Errors of layer handling. Entry names are shown as they are in the archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry's path leaves the layer (`..`, absolute) or is otherwise unusable.
    #[error("layer entry {entry:?}: {reason}")]
    UnsafePath {
        /// The entry's path.
        entry: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A hard link whose target is not a usable path inside the layer.
    #[error("layer entry {entry:?}: hard link to {target:?}: {reason}")]
    BadHardLink {
        /// The entry's path.
        entry: String,
        /// The link's target.
        target: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An entry type berth does not apply.
    #[error("layer entry {entry:?}: unsupported entry type {kind:?}")]
    UnsupportedEntry {
        /// The entry's path.
        entry: String,
        /// The tar type flag.
        kind: char,
    },
    /// The uncompressed layer exceeds the size limit.
    #[error(
        "layer exceeds the size limit: {read} bytes uncompressed so far, the limit is {limit} (max-layer-size); a decompression bomb?"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// Uncompressed bytes read when the limit was passed.
        read: u64,
    },
    /// The layers of one image together exceed the image size limit.
    #[error(
        "image exceeds the size limit: {used} bytes uncompressed so far, the limit is {limit} (max-image-size)"
    )]
    ImageTooLarge {
        /// The limit in bytes.
        limit: u64,
        /// Uncompressed bytes of the image's layers when the limit was passed.
        used: u64,
    },
    /// The stream is not a valid tar archive, or ends too early.
    #[error("corrupt or truncated layer: {0}")]
    Corrupt(#[source] std::io::Error),
    /// The data is compressed in a format berth does not read.
    #[error("unsupported compression: {0}")]
    UnsupportedCompression(&'static str),
    /// Writing an entry failed.
    #[error("layer entry {entry:?}: {source}")]
    Write {
        /// The entry's path.
        entry: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Opening or reading the target failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::UnsafePath { .. }
            | Error::BadHardLink { .. }
            | Error::UnsupportedEntry { .. } => Kind::InvalidArgument,
            Error::UnsupportedCompression(_) => Kind::NotImplemented,
            Error::TooLarge { .. } | Error::ImageTooLarge { .. } => Kind::ResourceExhausted,
            Error::Corrupt(_) => Kind::DataLoss,
            Error::Write { source, .. } | Error::Io { source, .. } => Kind::of_io(source),
        }
    }
}
