//! Every path berth uses under its store root (kept across boots) and its
//! runroot (gone at reboot), built here and nowhere else.
//!
//! ```text
//! ROOT/berth.db                  metadata (store::Db)
//! ROOT/gc.lock                   the sweep's lock
//! ROOT/blobs, ROOT/ingest        content (store::Blobs owns their insides)
//! ROOT/snapshots/driver          the storage driver this root uses
//! ROOT/snapshots/<driver>/       the snapshotter's tree
//! ROOT/volumes/<name>/_data      named volumes
//! ROOT/containers/<id>/          lock, <id>-json.log, hosts, hostname, resolv.conf
//! RUNROOT/containers/<id>/       the bundle: config.json, rootfs/, init/, attach socket
//! RUNROOT/rt, RUNROOT/runc       state of the built-in runtime and of runc
//! RUNROOT/mounts/<hex>/merged    `berth image mount`
//! RUNROOT/build/<key>            a build step's mounted snapshot or view
//! RUNROOT/cp/<id>-<pid>          `berth cp` on a stopped container
//! RUNROOT/export/<id>-<pid>      export and commit of a stopped container
//! RUNROOT/events.jsonl[.1]       the event journal (events.rs)
//! ```

use std::path::{Path, PathBuf};

use berth_oci::Digest;

/// The store root and the runroot, absolute.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    root: PathBuf,
    runroot: PathBuf,
}

impl Paths {
    pub(crate) fn new(root: PathBuf, runroot: PathBuf) -> Paths {
        Paths { root, runroot }
    }

    /// The event journal.
    pub(crate) fn events(&self) -> PathBuf {
        self.runroot.join("events.jsonl")
    }

    /// The journal's one rotated part.
    pub(crate) fn events_rotated(&self) -> PathBuf {
        self.runroot.join("events.jsonl.1")
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn runroot(&self) -> &Path {
        &self.runroot
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.root.join("berth.db")
    }

    /// Compiled seccomp filters, by the hash of their profile.
    pub(crate) fn seccomp_cache(&self) -> PathBuf {
        self.root.join("seccomp")
    }

    pub(crate) fn gc_lock(&self) -> PathBuf {
        self.root.join("gc.lock")
    }

    pub(crate) fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// The file that remembers which storage driver the root uses.
    pub(crate) fn driver_file(&self) -> PathBuf {
        self.snapshots().join("driver")
    }

    pub(crate) fn snapshotter(&self, driver: &str) -> PathBuf {
        self.snapshots().join(driver)
    }

    pub(crate) fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// The directory a named volume's data lives in.
    pub(crate) fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes().join(name).join("_data")
    }

    /// A container's files that outlive its runs.
    pub(crate) fn container(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    pub(crate) fn container_lock(&self, id: &str) -> PathBuf {
        self.container(id).join("lock")
    }

    /// docker's json-file log name.
    pub(crate) fn container_log(&self, id: &str) -> PathBuf {
        self.container(id).join(format!("{id}-json.log"))
    }

    /// A container's OCI bundle while it runs.
    pub(crate) fn bundle(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }

    /// Where a container's root filesystem is mounted while it runs.
    pub(crate) fn rootfs(&self, id: &str) -> PathBuf {
        self.bundle(id).join("rootfs")
    }

    /// Where a container's init layer is mounted while it is filled.
    pub(crate) fn init_target(&self, id: &str) -> PathBuf {
        self.bundle(id).join("init")
    }

    /// State of the built-in runtime.
    pub(crate) fn builtin_runtime_state(&self) -> PathBuf {
        self.runroot.join("rt")
    }

    /// State of an external (runc-compatible) runtime.
    pub(crate) fn external_runtime_state(&self) -> PathBuf {
        self.runroot.join("runc")
    }

    /// Where `berth image mount` mounts an image.
    pub(crate) fn image_mount(&self, image: &Digest) -> PathBuf {
        self.runroot.join("mounts").join(image.hex()).join("merged")
    }

    /// Where a build mounts the snapshot with this key.
    pub(crate) fn build_mount(&self, key: &str) -> PathBuf {
        self.runroot.join("build").join(key)
    }

    /// Where `berth cp` mounts a stopped container's layers.
    pub(crate) fn cp_mount(&self, id: &str) -> PathBuf {
        self.runroot
            .join("cp")
            .join(format!("{id}-{}", std::process::id()))
    }

    /// Where export and commit mount a stopped container's layers.
    pub(crate) fn export_mount(&self, id: &str) -> PathBuf {
        self.runroot
            .join("export")
            .join(format!("{id}-{}", std::process::id()))
    }
}
