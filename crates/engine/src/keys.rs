//! Snapshot keys: the one place that builds the names berth gives snapshots,
//! and parses them back for the sweep.
//!
//! A committed image layer is named by its chain ID; everything else carries a
//! prefix saying whose it is, so that the sweep can tell from a key alone what
//! to ask the database about.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_oci::{ChainId, Digest};

/// What a snapshot is for, as its key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SnapshotKey {
    /// An image layer, committed under its chain ID.
    Layer(ChainId),
    /// A container's writable layer (`ctr-<id>`).
    Container(String),
    /// A container's init layer while it is being filled (`ctr-<id>-init`).
    ContainerInit(String),
    /// The init layer shared by the containers of one top layer
    /// (`init-<chain ID>`, `init-scratch`).
    Init(Option<ChainId>),
    /// An image's union view mounted by `berth image mount` (`mount-<hex>`).
    Mount(Digest),
    /// Work in flight (`extract-…`): a layer being unpacked, a build step being
    /// filled or viewed. The sweep removes any it finds, since work in flight
    /// holds the GC lock shared.
    Extract(Extraction),
    /// A name berth does not make; kept as it is.
    Other(String),
}

/// The purpose and owner of an [`SnapshotKey::Extract`] key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extraction {
    /// What is extracted.
    pub purpose: Purpose,
    /// The rest of the key: the process and a sequence number.
    pub tag: String,
}

/// What an extraction snapshot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A layer from a blob (import, load, pull).
    Layer,
    /// A build step's COPY or ADD.
    BuildStep,
    /// A build's read-only view of a chain.
    BuildView,
}

const CONTAINER: &str = "ctr-";
const INIT_SUFFIX: &str = "-init";
const INIT: &str = "init-";
const SCRATCH: &str = "scratch";
const MOUNT: &str = "mount-";
const EXTRACT: &str = "extract-";
const BUILD: &str = "build-";
const VIEW: &str = "view-";

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl SnapshotKey {
    /// A new extraction key, unique among this process's and others'.
    fn fresh_extract(purpose: Purpose) -> SnapshotKey {
        SnapshotKey::Extract(Extraction {
            purpose,
            tag: format!(
                "{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
        })
    }

    /// Reads a key back; never fails, since a store may hold names berth no
    /// longer makes.
    pub(crate) fn parse(name: &str) -> SnapshotKey {
        if let Some(rest) = name.strip_prefix(EXTRACT) {
            let (purpose, tag) = if let Some(t) = rest.strip_prefix(BUILD) {
                (Purpose::BuildStep, t)
            } else if let Some(t) = rest.strip_prefix(VIEW) {
                (Purpose::BuildView, t)
            } else {
                (Purpose::Layer, rest)
            };
            return SnapshotKey::Extract(Extraction {
                purpose,
                tag: tag.to_string(),
            });
        }
        if let Some(rest) = name.strip_prefix(CONTAINER) {
            return match rest.strip_suffix(INIT_SUFFIX) {
                Some(id) => SnapshotKey::ContainerInit(id.to_string()),
                None => SnapshotKey::Container(rest.to_string()),
            };
        }
        if let Some(rest) = name.strip_prefix(INIT) {
            if rest == SCRATCH {
                return SnapshotKey::Init(None);
            }
            if let Ok(c) = Digest::parse(rest) {
                return SnapshotKey::Init(Some(c));
            }
        }
        if let Some(hex) = name.strip_prefix(MOUNT)
            && let Ok(d) = Digest::parse(&format!("sha256:{hex}"))
        {
            return SnapshotKey::Mount(d);
        }
        match Digest::parse(name) {
            Ok(c) => SnapshotKey::Layer(c),
            Err(_) => SnapshotKey::Other(name.to_string()),
        }
    }

    /// The container this snapshot belongs to, if it is a container's.
    pub(crate) fn container(&self) -> Option<&str> {
        match self {
            SnapshotKey::Container(id) | SnapshotKey::ContainerInit(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for SnapshotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotKey::Layer(c) => write!(f, "{c}"),
            SnapshotKey::Container(id) => write!(f, "{CONTAINER}{id}"),
            SnapshotKey::ContainerInit(id) => write!(f, "{CONTAINER}{id}{INIT_SUFFIX}"),
            SnapshotKey::Init(Some(c)) => write!(f, "{INIT}{c}"),
            SnapshotKey::Init(None) => write!(f, "{INIT}{SCRATCH}"),
            SnapshotKey::Mount(d) => write!(f, "{MOUNT}{}", d.hex()),
            SnapshotKey::Extract(e) => {
                let purpose = match e.purpose {
                    Purpose::Layer => "",
                    Purpose::BuildStep => BUILD,
                    Purpose::BuildView => VIEW,
                };
                write!(f, "{EXTRACT}{purpose}{}", e.tag)
            }
            SnapshotKey::Other(name) => f.write_str(name),
        }
    }
}

/// The snapshot key of an image layer: its chain ID, as text.
pub(crate) fn layer(chain: &ChainId) -> String {
    SnapshotKey::Layer(chain.clone()).to_string()
}

/// The snapshot key of a container's writable layer.
pub(crate) fn container(id: &str) -> String {
    SnapshotKey::Container(id.to_string()).to_string()
}

/// The snapshot key of a container's init layer while it is filled.
pub(crate) fn container_init(id: &str) -> String {
    SnapshotKey::ContainerInit(id.to_string()).to_string()
}

/// The name of the init layer shared by the containers on `top`.
pub(crate) fn init(top: Option<&ChainId>) -> String {
    SnapshotKey::Init(top.cloned()).to_string()
}

/// The snapshot key of an image's mounted view.
pub(crate) fn mount(image: &Digest) -> String {
    SnapshotKey::Mount(image.clone()).to_string()
}

/// A new key for work in flight, unique among this process's and others'.
pub(crate) fn extract(purpose: Purpose) -> String {
    SnapshotKey::fresh_extract(purpose).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap()
    }

    #[test]
    fn every_key_reads_back_as_itself() {
        let keys = [
            SnapshotKey::Layer(chain()),
            SnapshotKey::Container("0123abcd".into()),
            SnapshotKey::ContainerInit("0123abcd".into()),
            SnapshotKey::Init(Some(chain())),
            SnapshotKey::Init(None),
            SnapshotKey::Mount(chain()),
            SnapshotKey::fresh_extract(Purpose::Layer),
            SnapshotKey::fresh_extract(Purpose::BuildStep),
            SnapshotKey::fresh_extract(Purpose::BuildView),
            SnapshotKey::Other("something-else".into()),
        ];
        for k in keys {
            assert_eq!(SnapshotKey::parse(&k.to_string()), k, "{k}");
        }
    }

    #[test]
    fn names_are_the_ones_stores_already_hold() {
        let c = chain();
        assert_eq!(SnapshotKey::Layer(c.clone()).to_string(), c.to_string());
        assert_eq!(container("abc"), "ctr-abc");
        assert_eq!(
            SnapshotKey::ContainerInit("abc".into()).to_string(),
            "ctr-abc-init"
        );
        assert_eq!(SnapshotKey::Init(None).to_string(), "init-scratch");
        assert_eq!(
            SnapshotKey::Init(Some(c.clone())).to_string(),
            format!("init-{c}")
        );
        assert_eq!(
            SnapshotKey::Mount(c.clone()).to_string(),
            format!("mount-{}", c.hex())
        );
        // Keys written by older builds are still extractions to sweep.
        assert!(matches!(
            SnapshotKey::parse("extract-build-extract-12-3"),
            SnapshotKey::Extract(Extraction {
                purpose: Purpose::BuildStep,
                ..
            })
        ));
        assert_eq!(SnapshotKey::parse("ctr-abc-init").container(), Some("abc"));
        assert_eq!(SnapshotKey::parse("init-scratch").container(), None);
    }
}
