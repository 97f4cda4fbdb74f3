//! The images service: the store of images and the names that point at them,
//! and the policy of everything that brings images in or sends them out —
//! pull, push, load, save, import, tag, remove, inspect, mount.
//!
//! It owns image records, references and the registry settings. It asks the
//! layers service to unpack and never touches snapshots or layer trees itself;
//! it knows nothing of containers beyond asking the database whether one uses
//! an image.

pub(crate) mod catalog;
pub(crate) mod import;
pub(crate) mod inspect;
pub(crate) mod load;
pub(crate) mod mount;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod registry;
pub(crate) mod remove;
pub(crate) mod save;
