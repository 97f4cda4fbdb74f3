//! berth's engine: the one facade (`Engine::import`, `::load`, `::save`, …) that
//! the CLI calls, and that a Docker Engine API server will call the same way.
//!
//! The engine owns policy — what to unpack, what to keep, when to sweep — and
//! takes and returns plain types. Mechanism lives below: `berth_store` (blobs,
//! metadata), `berth_snapshot` (layer trees), `berth_layer` (tar application).
#![deny(missing_docs)]

mod builds;
mod containers;
mod df;
mod events;
mod gc;
mod images;
mod keys;
mod layers;
mod networks;
mod parallel;
mod paths;
mod progress;
mod time;
mod volumes;

pub use berth_build::instruction::parse_duration;
pub use berth_distribution::is_url;
pub use berth_distribution::{Credentials, RegistryConfig, SearchResult, server_key};
pub use berth_layer::diff::{Change, ChangeKind};
pub use berth_network as network;
pub use berth_runtime as runtime;
pub use builds::{BuildOptions, BuildProgress, is_tar_archive};
pub use containers::names::new_id;
pub use containers::{
    AttachStreams, CommitOptions, Container, ContainerConfig, ContainerFilter, ContainerRecord,
    ContainerState, CreateOptions, DeviceMapping, Exec, ExecIo, ExecOptions, Health, HealthConfig,
    HealthResult, HostConfig, RestartPolicy, Started, StateError, Status, Top, UpdateOptions,
};
pub use df::{ContainerUsage, DiskUsage, ImageUsage, VolumeUsage};
pub use events::{EVENT_FILTERS, Event};
pub use images::catalog::{Image, ImageFilter};
pub use images::import::ImportOptions;
pub use images::inspect::{HistoryRow, ImageInspect};
pub use images::load::LoadOutcome;
pub use images::pull::{Distribution, PullOptions, Pulled, platform_string};
pub use images::push::{PushCompression, PushOptions, Pushed};
pub use images::registry::{RegistrySettings, login_domain};
pub use images::remove::RemoveEvent;
pub use images::save::{ArchiveCompression, SaveOptions};
pub use networks::{
    DEFAULT_NETWORK, EndpointSettings, Network, NetworkConfig, NetworkCreateOptions,
    NetworkDefaults, NetworkMode, PortView, ports_column, serve_dns,
};
pub use progress::{NoProgress, Progress};
pub use time::{binary_size, human_duration, human_size, parse_time, rfc3339_now};
pub use volumes::Volume;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use berth_oci::image::MAX_LAYERS;
use berth_oci::{Digest, Kind};
use berth_snapshot::{Overlay, Snapshotter, Vfs};
use berth_store::{Blobs, Db, GcLock};

use crate::paths::Paths;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No image has this name or ID.
    #[error("No such image: {0}")]
    ImageNotFound(String),
    /// An ID prefix names more than one image.
    #[error("image ID prefix {0:?} is ambiguous")]
    AmbiguousId(String),
    /// A reference, digest or JSON document is malformed.
    #[error(transparent)]
    Oci(#[from] berth_oci::Error),
    /// The image cannot be removed as asked.
    #[error("conflict: unable to delete {id} {reason}")]
    Conflict {
        /// The image's short ID.
        id: String,
        /// Why not.
        reason: &'static str,
    },
    /// A `--change` instruction is not valid.
    #[error("invalid --change {change:?}: {reason}")]
    InvalidChange {
        /// The instruction as given.
        change: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--filter` is not valid.
    #[error("invalid filter {filter:?}: {reason}")]
    InvalidFilter {
        /// The filter as given.
        filter: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An archive is not a docker-archive or OCI archive, or is inconsistent.
    #[error("invalid archive: {0}")]
    Archive(String),
    /// An image has more layers than berth accepts ([`MAX_LAYERS`]).
    #[error(
        "image {image} has {count} layers, more than the {limit} berth accepts (docker's limit; overlayfs stacks at most 500)"
    )]
    TooManyLayers {
        /// The image: its reference, or where it came from.
        image: String,
        /// Its layers.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An archive's manifest.json, index.json, manifest or config is larger
    /// than berth reads.
    #[error(
        "invalid archive: {path} is {size} bytes, more than the {limit} berth reads for a manifest, index or config"
    )]
    MetadataTooLarge {
        /// The file in the archive.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A layer's content does not match the digest its image names.
    #[error("layer {expected}: content has digest {actual} (corrupt or tampered layer)")]
    LayerDigest {
        /// The diff ID the image config names.
        expected: Digest,
        /// The digest of the content found.
        actual: Digest,
    },
    /// Applying a layer failed.
    #[error("layer {layer}: {source}")]
    Layer {
        /// The layer's diff ID or blob digest.
        layer: Digest,
        /// What went wrong.
        #[source]
        source: berth_layer::Error,
    },
    /// A tarball (import) could not be applied.
    #[error(transparent)]
    Tarball(#[from] berth_layer::Error),
    /// A build context given as an archive could not be unpacked.
    #[error("build context: {0}")]
    Context(#[source] berth_layer::Error),
    /// The image has no layers, so there is no filesystem to mount.
    #[error("image {0} has no layers to mount")]
    NoLayers(String),
    /// Fetching over HTTP failed.
    #[error(transparent)]
    Fetch(#[from] berth_distribution::Error),
    /// The content store or metadata database failed.
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::Error),
    /// A blob from a registry is not what its digest says.
    #[error(
        "blob {blob}: downloaded {size} of {expected_size} bytes with digest {actual} (corrupt or tampered content); nothing of it was kept"
    )]
    BlobDigest {
        /// The digest asked for.
        blob: Digest,
        /// What arrived hashed to this.
        actual: Digest,
        /// Bytes that arrived.
        size: u64,
        /// Bytes the manifest promised.
        expected_size: u64,
    },
    /// Something asked for does not exist (in a registry).
    #[error("{0}")]
    NotFound(String),
    /// An argument is not valid.
    #[error("{0}")]
    InvalidArgument(String),
    /// Something berth does not support.
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No container has this name or ID.
    #[error("No such container: {0}")]
    ContainerNotFound(String),
    /// An ID prefix names more than one container.
    #[error("container ID prefix {0:?} is ambiguous")]
    AmbiguousContainer(String),
    /// The container's status does not allow this (running, paused, …).
    #[error(transparent)]
    ContainerState(#[from] StateError),
    /// `cp` into a container whose root filesystem is read-only.
    #[error("container rootfs is marked read-only")]
    ReadOnlyRootfs,
    /// An image is used by a container.
    #[error("{0}")]
    ImageInUse(String),
    /// A name is already used.
    #[error("{0}")]
    NameInUse(String),
    /// No volume of that name.
    #[error("get {0}: no such volume")]
    VolumeNotFound(String),
    /// A volume a container still mounts.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The containers (IDs) that mount it.
        containers: Vec<String>,
    },
    /// The container's process could not be started: docker's 126 (cannot be
    /// invoked) or 127 (not found), else 125.
    #[error("{message}")]
    Start {
        /// The runtime's message.
        message: String,
        /// docker's exit code for it.
        code: i32,
    },
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// A network change conflicts with what exists (an overlapping subnet,
    /// a network in use, an address taken).
    #[error("{0}")]
    NetworkConflict(String),
    /// A network setting or the network's kernel state failed.
    #[error(transparent)]
    Network(#[from] berth_network::Error),
    /// The Dockerfile is not valid.
    #[error(transparent)]
    Dockerfile(#[from] berth_build::Error),
    /// A build step failed (line 0: not one instruction's fault).
    #[error("{}", build_message(*line, message))]
    Build {
        /// The instruction's line.
        line: usize,
        /// What went wrong.
        message: String,
    },
    /// A worker thread of berth panicked (a bug).
    #[error("{0} panicked")]
    Panicked(&'static str),
    /// A document berth writes could not be serialised (a bug).
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// The document.
        what: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// Something berth relies on internally did not hold (a bug).
    #[error("{0}")]
    Invariant(&'static str),
    /// A container berth started ended without a recorded exit.
    #[error("the build container {0} went away without an exit code")]
    ContainerVanished(String),
    /// The user interrupted the work.
    #[error("{0}: canceled")]
    Canceled(String),
    /// A storage driver name that berth does not have, or that cannot work here.
    #[error("storage driver {name:?}: {reason}")]
    Driver {
        /// The driver asked for.
        name: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
}

fn build_message(line: usize, message: &str) -> String {
    if line == 0 {
        message.to_string()
    } else {
        format!("Dockerfile:{line}: {message}")
    }
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::ImageNotFound(_) => Kind::NotFound,
            Error::AmbiguousId(_)
            | Error::InvalidChange { .. }
            | Error::InvalidFilter { .. }
            | Error::Driver { .. } => Kind::InvalidArgument,
            Error::Oci(e) => e.kind(),
            Error::Conflict { .. } => Kind::Conflict,
            Error::TooManyLayers { .. } | Error::MetadataTooLarge { .. } => Kind::ResourceExhausted,
            Error::Archive(_) | Error::LayerDigest { .. } | Error::BlobDigest { .. } => {
                Kind::DataLoss
            }
            Error::NotFound(_) | Error::ContainerNotFound(_) | Error::VolumeNotFound(_) => {
                Kind::NotFound
            }
            Error::VolumeInUse { .. } => Kind::Conflict,
            Error::AmbiguousContainer(_) => Kind::InvalidArgument,
            Error::ContainerState(_) | Error::ReadOnlyRootfs => Kind::FailedPrecondition,
            Error::NameInUse(_) | Error::ImageInUse(_) => Kind::Conflict,
            Error::Start { .. } => Kind::FailedPrecondition,
            Error::Runtime(e) => e.kind(),
            Error::Network(e) => e.kind(),
            Error::NetworkConflict(_) => Kind::Conflict,
            Error::Dockerfile(_) => Kind::InvalidArgument,
            Error::Build { .. } => Kind::FailedPrecondition,
            Error::Canceled(_) => Kind::Canceled,
            Error::Panicked(_)
            | Error::Serialize { .. }
            | Error::Invariant(_)
            | Error::ContainerVanished(_) => Kind::Internal,
            Error::InvalidArgument(_) => Kind::InvalidArgument,
            Error::Unsupported(_) => Kind::NotImplemented,
            Error::Layer { source, .. } | Error::Tarball(source) | Error::Context(source) => {
                source.kind()
            }
            Error::NoLayers(_) => Kind::FailedPrecondition,
            Error::Store(e) => e.kind(),
            Error::Fetch(e) => e.kind(),
            Error::Snapshot(e) => e.kind(),
            Error::Io { source, .. } => Kind::of_io(source),
        }
    }

    pub(crate) fn io(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_string();
        move |source| Error::Io { path, source }
    }
}

/// Opens (creating) a lock file; the caller takes the lock it needs.
pub(crate) fn open_lock_file(path: &std::path::Path) -> Result<std::fs::File> {
    std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io(path.display()))
}

/// Serialises a document berth writes (manifest, config, archive metadata).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| Error::Serialize {
        what: "a document",
        source,
    })
}

/// Result of engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    root: PathBuf,
    runroot: PathBuf,
    driver: Option<String>,
    max_layer_size: u64,
    max_image_size: u64,
    registries: RegistrySettings,
    monitor: Option<(PathBuf, Vec<String>)>,
    network_defaults: NetworkDefaults,
    userns_remap: Option<String>,
}

/// Default of [`EngineBuilder::max_layer_size`]: 32 GiB, above the largest
/// layers of real images (CUDA and model images ship layers of a few GiB).
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 32 << 30;

/// Default of [`EngineBuilder::max_image_size`]: 64 GiB.
pub const DEFAULT_MAX_IMAGE_SIZE: u64 = 64 << 30;

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            root: PathBuf::from("/var/lib/berth"),
            runroot: PathBuf::from("/run/berth"),
            driver: None,
            max_layer_size: DEFAULT_MAX_LAYER_SIZE,
            max_image_size: DEFAULT_MAX_IMAGE_SIZE,
            registries: RegistrySettings::default(),
            monitor: None,
            network_defaults: NetworkDefaults::default(),
            userns_remap: None,
        }
    }
}

impl EngineBuilder {
    /// Where images live. Default: `/var/lib/berth`.
    pub fn root(&mut self, root: impl Into<PathBuf>) -> &mut Self {
        self.root = root.into();
        self
    }

    /// Where runtime state (mount points) lives. Default: `/run/berth`.
    pub fn runroot(&mut self, runroot: impl Into<PathBuf>) -> &mut Self {
        self.runroot = runroot.into();
        self
    }

    /// The storage driver, `overlay` or `vfs`. Default: the one this root used
    /// before, else overlay where the kernel can mount it on the root, else vfs.
    pub fn driver(&mut self, driver: Option<String>) -> &mut Self {
        self.driver = driver;
        self
    }

    /// Largest uncompressed layer that import, load, pull and build unpack, in
    /// bytes; 0 for no limit. Default: [`DEFAULT_MAX_LAYER_SIZE`].
    pub fn max_layer_size(&mut self, bytes: u64) -> &mut Self {
        self.max_layer_size = bytes;
        self
    }

    /// Largest total of one image's uncompressed layers, in bytes; 0 for no
    /// limit. Default: [`DEFAULT_MAX_IMAGE_SIZE`].
    pub fn max_image_size(&mut self, bytes: u64) -> &mut Self {
        self.max_image_size = bytes;
        self
    }

    /// How registries are reached (config, TLS, credentials file).
    pub fn registries(&mut self, settings: RegistrySettings) -> &mut Self {
        self.registries = settings;
        self
    }

    /// The command that runs a container's monitor: `program args… ID
    /// [--wait-attach]`, which must call [`Engine::run_monitor`] on an engine of
    /// the same root (passed in `BERTH_ROOT`, `BERTH_RUNROOT`).
    pub fn monitor(&mut self, program: impl Into<PathBuf>, args: Vec<String>) -> &mut Self {
        self.monitor = Some((program.into(), args));
        self
    }

    /// How the default network is shaped (daemon.json's `bip`,
    /// `default-address-pools`, `mtu`).
    pub fn network_defaults(&mut self, defaults: NetworkDefaults) -> &mut Self {
        self.network_defaults = defaults;
        self
    }

    /// daemon.json's `userns-remap`: `default` or `USER[:GROUP]`, whose
    /// subordinate IDs every container without `--userns` maps its own
    /// onto. Default: none (containers share the host's user namespace).
    pub fn userns_remap(&mut self, setting: Option<String>) -> &mut Self {
        self.userns_remap = setting.filter(|s| !s.is_empty());
        self
    }

    /// Opens the store, creating it if needed.
    pub fn build(&self) -> Result<Engine> {
        std::fs::create_dir_all(&self.root).map_err(Error::io(self.root.display()))?;
        let root = std::path::absolute(&self.root).map_err(Error::io(self.root.display()))?;
        if let Some(d) = &self.driver
            && d != "overlay"
            && d != "vfs"
        {
            return Err(Error::Driver {
                name: d.clone(),
                reason: "unknown driver; berth has overlay and vfs",
            });
        }
        let runroot =
            std::path::absolute(&self.runroot).map_err(Error::io(self.runroot.display()))?;
        let paths = Paths::new(root.clone(), runroot);
        Ok(Engine {
            blobs: Blobs::open(&root)?,
            db: Db::open(&paths.db())?,
            gc: GcLock::open(&paths.gc_lock())?,
            snapshotter: OnceLock::new(),
            driver: self.driver.clone(),
            max_layer_size: no_limit_if_zero(self.max_layer_size),
            max_image_size: no_limit_if_zero(self.max_image_size),
            registries: self.registries.clone(),
            monitor: self.monitor.clone(),
            monitors: std::sync::Mutex::new(Vec::new()),
            images_seen: std::sync::Mutex::new(None),
            network_defaults: self.network_defaults.clone(),
            userns_remap: self.userns_remap.clone(),
            paths,
        })
    }
}

/// The engine: one store root, one storage driver.
pub struct Engine {
    paths: Paths,
    blobs: Blobs,
    db: Db,
    gc: GcLock,
    driver: Option<String>,
    snapshotter: OnceLock<Box<dyn Snapshotter>>,
    max_layer_size: u64,
    max_image_size: u64,
    registries: RegistrySettings,
    monitor: Option<(PathBuf, Vec<String>)>,
    network_defaults: NetworkDefaults,
    userns_remap: Option<String>,
    /// Monitors this process started and has not reaped yet (a long-lived
    /// caller reaps them with [`Engine::reap_monitors`]).
    monitors: std::sync::Mutex<Vec<std::process::Child>>,
    /// The image table as last read and when: a long-lived caller (the
    /// daemon) lists images without reading the database again until
    /// something, in any process, changes it.
    images_seen: std::sync::Mutex<Option<(berth_store::db::Generation, std::sync::Arc<[Image]>)>>,
}

fn no_limit_if_zero(limit: u64) -> u64 {
    if limit == 0 { u64::MAX } else { limit }
}

impl Engine {
    /// A builder with the defaults.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        self.paths.root()
    }

    /// The snapshotter, opened on first use (listing images never needs it).
    pub(crate) fn snapshotter(&self) -> Result<&dyn Snapshotter> {
        if let Some(s) = self.snapshotter.get() {
            return Ok(s.as_ref());
        }
        let snaps = self.paths.snapshots();
        std::fs::create_dir_all(&snaps).map_err(Error::io(snaps.display()))?;
        let remembered = self.paths.driver_file();
        let name = match &self.driver {
            Some(d) => d.clone(),
            None => match std::fs::read_to_string(&remembered) {
                Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
                _ => {
                    let d = if Overlay::supported(&snaps) {
                        "overlay"
                    } else {
                        "vfs"
                    };
                    std::fs::write(&remembered, d).map_err(Error::io(remembered.display()))?;
                    d.to_string()
                }
            },
        };
        let dir = self.paths.snapshotter(&name);
        let s: Box<dyn Snapshotter> = match name.as_str() {
            "overlay" => {
                if !dir.exists() && !Overlay::supported(&snaps) {
                    return Err(Error::Driver {
                        name,
                        reason: "overlayfs cannot be mounted on this filesystem (try --storage-driver vfs)",
                    });
                }
                Box::new(Overlay::open(&dir)?)
            }
            "vfs" => Box::new(Vfs::open(&dir)?),
            _ => {
                return Err(Error::Driver {
                    name,
                    reason: "unknown driver; berth has overlay and vfs",
                });
            }
        };
        Ok(self.snapshotter.get_or_init(|| s).as_ref())
    }

    /// The storage driver's name.
    pub fn driver_name(&self) -> Result<&'static str> {
        Ok(self.snapshotter()?.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds a user expects, each from a typed error (no message text).
    #[test]
    fn failures_have_the_kind_a_user_expects() {
        let bogus_cap = berth_runtime::spec::capabilities(&berth_runtime::spec::SpecOptions {
            cap_add: vec!["BOGUS".into()],
            ..Default::default()
        })
        .unwrap_err();
        let cases: Vec<(Error, Kind)> = vec![
            (Error::from(bogus_cap), Kind::InvalidArgument),
            (Error::ContainerNotFound("x".into()), Kind::NotFound),
            (Error::NameInUse("/x".into()), Kind::Conflict),
            (Error::Panicked("commit"), Kind::Internal),
            (
                Error::from(
                    berth_build::plan::Plan::new(
                        berth_build::parse("RUN x\n").unwrap(),
                        &Default::default(),
                        None,
                        &berth_oci::image::Platform::host(),
                    )
                    .unwrap_err(),
                ),
                Kind::InvalidArgument,
            ),
            (Error::Canceled("build".into()), Kind::Canceled),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
        assert_eq!(Kind::Conflict.http_status(), 409);
        assert_eq!(Kind::NotFound.http_status(), 404);
        assert_eq!(Kind::InvalidArgument.http_status(), 400);
    }
}
