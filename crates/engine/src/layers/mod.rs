//! The layers service: the pipelines that turn layer blobs into snapshots —
//! unpacking an image's layers in parallel as they are downloaded or read
//! from an archive, and extracting a load's layers while the archive still
//! streams in.
//!
//! It owns the extraction snapshots and the size budget of an image. It knows
//! nothing of references, registries or containers: callers hand it blobs and
//! chain IDs and get committed snapshots back.

pub(crate) mod early;
pub(crate) mod unpack;
