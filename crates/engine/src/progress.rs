//! Progress reports from long operations, for the CLI to draw.

/// Receives progress of load, import and save. Every method has a default that
/// does nothing, so a caller implements only what it shows.
pub trait Progress: Send + Sync {
    /// Work on an item (a layer, by short digest) starts; `total` bytes if known.
    fn start(&self, _id: &str, _what: &str, _total: Option<u64>) {}
    /// `bytes` more of the item are done.
    fn advance(&self, _id: &str, _bytes: u64) {}
    /// The item is done; `status` says how ("Loaded", "Already exists").
    fn done(&self, _id: &str, _status: &str) {}
    /// A line for the user, as Docker prints it.
    fn message(&self, _line: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
