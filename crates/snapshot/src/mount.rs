//! Mount descriptions and the code that mounts them.
//!
//! overlayfs takes its layer list in the mount data, which the kernel limits to
//! one page. A deep image's absolute `lowerdir` list can exceed it, so a long
//! description is mounted from a thread that has its own working directory
//! (`unshare(CLONE_FS)`) set to the snapshot root, with paths made relative —
//! Docker's overlay2 uses the same chdir trick, but process-wide.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

use crate::Error;
use crate::idmap::{UserNamespace, idmapped_tree};

/// How to mount one filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type: `overlay` or `bind`.
    pub kind: String,
    /// What to mount (a directory for `bind`; `overlay` for overlayfs).
    pub source: PathBuf,
    /// Options: `ro`, `rbind`, or overlay's `lowerdir=…`, `upperdir=…`, `workdir=…`.
    pub options: Vec<String>,
}

/// Largest mount data the kernel accepts: one page, with its terminating NUL.
const MOUNT_DATA_MAX: usize = 4095;

impl Mount {
    /// This mount for contents thrown away when it ends (a `--rm`
    /// container's layer): overlayfs's `volatile`, so neither the container's
    /// fsyncs nor the unmount sync the upper file system (the unmount's sync
    /// was a journal commit of the whole host file system on every `run
    /// --rm`). Other kinds are unchanged. A volatile mount leaves a marker in
    /// its work directory that refuses any later mount; it is cleared here, as
    /// podman does, since whatever such a layer holds is to be thrown away.
    pub fn volatile(mut self) -> Result<Mount, Error> {
        if self.kind != "overlay" {
            return Ok(self);
        }
        if let Some(work) = self.options.iter().find_map(|o| o.strip_prefix("workdir=")) {
            let marker = Path::new(work).join("work/incompat");
            match std::fs::remove_dir_all(&marker) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&marker)(e));
                }
                _ => {}
            }
        }
        self.options.push("volatile".into());
        Ok(self)
    }

    /// Mounts this description on `target`.
    pub fn mount(&self, target: &Path) -> Result<(), Error> {
        self.mount_in(target, None)
    }

    /// Mounts this description on `target` with the layers' IDs mapped
    /// through `ns`: what is root's on disk is the container's root's, and
    /// nothing is copied or chowned. For overlay, only the read-only layers
    /// are mapped (one ID-mapped copy of the snapshot root's mount, the
    /// layers named relative to it); the container's own layer is not, so
    /// what the container writes is owned on the host by the IDs it runs as,
    /// and copy-up keeps the mapped owner. A bind mount is mapped whole.
    pub fn mount_mapped(&self, target: &Path, ns: &UserNamespace) -> Result<(), Error> {
        self.mount_in(target, Some(ns))
    }

    fn mount_in(&self, target: &Path, ns: Option<&UserNamespace>) -> Result<(), Error> {
        let ro = self.options.iter().any(|o| o == "ro");
        let mounted = match self.kind.as_str() {
            "bind" => self.mount_bind(target, ns, ro),
            "overlay" => {
                let flags = if ro {
                    MountFlags::RDONLY
                } else {
                    MountFlags::empty()
                };
                match ns {
                    None => self.mount_overlay(target, flags),
                    Some(ns) => self.mount_overlay_mapped(target, flags, ns),
                }
            }
            other => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("unknown mount type {other}"),
            )),
        };
        mounted.map_err(|source| Error::Mount {
            target: target.to_path_buf(),
            source,
        })
    }

    fn mount_bind(
        &self,
        target: &Path,
        ns: Option<&UserNamespace>,
        ro: bool,
    ) -> std::io::Result<()> {
        match ns {
            None => rustix::mount::mount_bind_recursive(&self.source, target)?,
            Some(ns) => {
                let tree = idmapped_tree(&self.source, ns, true)?;
                rustix::mount::move_mount(
                    &tree,
                    "",
                    rustix::fs::CWD,
                    target,
                    rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                )?;
            }
        }
        if ro {
            remount_read_only(target)?;
        }
        Ok(())
    }

    /// The overlay options without `ro`, joined.
    fn overlay_data(&self, map: impl Fn(&str) -> String) -> String {
        let data: Vec<String> = self
            .options
            .iter()
            .filter(|o| *o != "ro")
            .map(|o| map(o))
            .collect();
        data.join(",")
    }

    fn mount_overlay(&self, target: &Path, flags: MountFlags) -> std::io::Result<()> {
        let data = self.overlay_data(str::to_string);
        if data.len() <= MOUNT_DATA_MAX {
            return mount_overlay(target, flags, &data);
        }
        let base = common_dir(&self.options).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "overlay options too long")
        })?;
        let prefix = format!("{}/", base.display());
        let short = data.replace(&prefix, "");
        if short.len() > MOUNT_DATA_MAX {
            return Err(too_many_layers());
        }
        let target = std::path::absolute(target)?;
        in_own_cwd(|| {
            rustix::process::chdir(&base)?;
            mount_overlay(&target, flags, &short)
        })
    }

    fn mount_overlay_mapped(
        &self,
        target: &Path,
        flags: MountFlags,
        ns: &UserNamespace,
    ) -> std::io::Result<()> {
        let base = common_dir(&self.options).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "overlay layers outside one snapshot root",
            )
        })?;
        let prefix = format!("{}/", base.display());
        let data = self.overlay_data(|o| match o.strip_prefix("lowerdir=") {
            Some(v) => format!("lowerdir={}", v.replace(&prefix, "")),
            None => o.to_string(),
        });
        if data.len() > MOUNT_DATA_MAX {
            return Err(too_many_layers());
        }
        // The merged root is the container layer's: its root's.
        if let Some(upper) = self
            .options
            .iter()
            .find_map(|o| o.strip_prefix("upperdir="))
        {
            let (uid, gid) = ns.mappings().root();
            rustix::fs::chown(
                upper,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )?;
        }
        let tree = idmapped_tree(&base, ns, false)?;
        let target = std::path::absolute(target)?;
        in_own_cwd(|| {
            rustix::process::fchdir(&tree)?;
            mount_overlay(&target, flags, &data)
        })
    }
}

fn too_many_layers() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "too many layers for one overlay mount",
    )
}

/// Makes the bind mount on `target` read-only; on failure it is unmounted.
fn remount_read_only(target: &Path) -> std::io::Result<()> {
    let flags = MountFlags::BIND | MountFlags::RDONLY;
    rustix::mount::mount_remount(target, flags, "").map_err(|e| {
        let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
        e.into()
    })
}

/// Runs `f` on a thread of its own whose working directory (and root and
/// umask: `unshare(CLONE_FS)`) it may change without moving the process's.
fn in_own_cwd<T: Send>(f: impl FnOnce() -> std::io::Result<T> + Send) -> std::io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: CLONE_FS unshares only this thread's cwd, root and umask;
            // no file descriptor table is split.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("mount thread panicked")))
    })
}

fn mount_overlay(target: &Path, flags: MountFlags, data: &str) -> std::io::Result<()> {
    let data = CString::new(data).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in mount options")
    })?;
    Ok(rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        flags,
        Some(data.as_c_str()),
    )?)
}

/// The directory that holds every snapshot path named in overlay options.
fn common_dir(options: &[String]) -> Option<PathBuf> {
    let paths: Vec<&str> = options
        .iter()
        .filter_map(|o| o.split_once('='))
        .filter(|(k, _)| matches!(*k, "lowerdir" | "upperdir" | "workdir"))
        .flat_map(|(_, v)| v.split(':'))
        .collect();
    let first = Path::new(paths.first()?);
    // Snapshot paths are <root>/<id>/fs: the root is two levels up.
    let base = first.parent()?.parent()?;
    paths
        .iter()
        .all(|p| Path::new(p).starts_with(base))
        .then(|| base.to_path_buf())
}

/// Mounts every description in order on `target`.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), Error> {
    for m in mounts {
        m.mount(target)?;
    }
    Ok(())
}

/// Mounts every description in order on `target`, ID-mapped through `ns`
/// ([`Mount::mount_mapped`]).
pub fn mount_all_mapped(mounts: &[Mount], target: &Path, ns: &UserNamespace) -> Result<(), Error> {
    for m in mounts {
        m.mount_mapped(target, ns)?;
    }
    Ok(())
}

/// Unmounts `target`; a busy mount is detached lazily rather than failing.
pub fn unmount(target: &Path) -> Result<(), Error> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(target, UnmountFlags::DETACH)
            .map_err(|e| Error::Mount {
                target: target.to_path_buf(),
                source: e.into(),
            }),
        Err(e) => Err(Error::Mount {
            target: target.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Whether `path` is a mount point, from `/proc/self/mountinfo`. (Comparing
/// device numbers misses bind mounts within one filesystem.)
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(path) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|p| unescape(p) == path.as_os_str().as_encoded_bytes())
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Unmounts `target` if it is mounted; returns whether it was.
pub fn unmount_if_mounted(target: &Path) -> Result<bool, Error> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(target, UnmountFlags::DETACH).map_err(|e| Error::Mount {
                target: target.to_path_buf(),
                source: e.into(),
            })?;
            Ok(true)
        }
        Err(e) => Err(Error::Mount {
            target: target.to_path_buf(),
            source: e.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::idmap::IdMappings;
    use std::os::unix::fs::MetadataExt;

    /// A scratch directory holding a layer (`1/fs`), a container layer
    /// (`2/fs`, `2/work`) and `merged`, and the overlay of the two.
    fn scratch_overlay() -> (tempfile::TempDir, Mount) {
        let root = tempfile::tempdir().unwrap();
        let d = |p: &str| root.path().join(p);
        for dir in ["1/fs", "2/fs", "2/work", "merged"] {
            std::fs::create_dir_all(d(dir)).unwrap();
        }
        let overlay = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", d("1/fs").display()),
                format!("upperdir={}", d("2/fs").display()),
                format!("workdir={}", d("2/work").display()),
            ],
        };
        (root, overlay)
    }

    #[test]
    fn mapped_overlay_shows_the_layers_as_the_containers_and_copies_nothing() {
        let (root, overlay) = scratch_overlay();
        let d = |p: &str| root.path().join(p);
        std::fs::create_dir_all(d("1/fs/etc")).unwrap();
        std::fs::write(d("1/fs/etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        let ns = UserNamespace::new(&IdMappings::from_root(400_000, 400_000, 65536)).unwrap();
        overlay.mount_mapped(&d("merged"), &ns).unwrap();
        let merged = |p: &str| std::fs::symlink_metadata(d("merged").join(p)).unwrap();
        assert_eq!((merged("").uid(), merged("").gid()), (400_000, 400_000));
        assert_eq!(merged("etc/passwd").uid(), 400_000);
        // A change copies the file up owned by the mapped ID; the layer below
        // keeps its own.
        std::fs::write(d("merged/etc/passwd"), "changed\n").unwrap();
        unmount(&d("merged")).unwrap();
        let disk = |p: &str| std::fs::symlink_metadata(d(p)).unwrap();
        assert_eq!(disk("1/fs/etc/passwd").uid(), 0);
        assert_eq!(disk("2/fs/etc/passwd").uid(), 400_000);
        assert_eq!(
            std::fs::read_to_string(d("1/fs/etc/passwd")).unwrap().len(),
            26
        );
    }

    #[test]
    fn a_volatile_overlay_mounts_again_and_a_bind_is_left_as_it_is() {
        let (root, overlay) = scratch_overlay();
        let d = |p: &str| root.path().join(p);
        for round in 0..2 {
            let m = overlay.clone().volatile().unwrap();
            m.mount(&d("merged")).unwrap();
            let line = std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .find(|l| l.contains(d("merged").to_str().unwrap()))
                .map(str::to_string)
                .unwrap();
            assert!(line.contains("volatile"), "{line}");
            std::fs::write(d("merged/f"), format!("{round}")).unwrap();
            unmount(&d("merged")).unwrap();
            // The kernel's marker that refuses the next mount, cleared by
            // the next volatile().
            assert!(d("2/work/work/incompat/volatile").exists());
        }
        // A plain mount of the same layer is refused until it is cleared.
        assert!(overlay.mount(&d("merged")).is_err());
        let bind = Mount {
            kind: "bind".into(),
            source: d("1/fs"),
            options: vec!["rbind".into(), "ro".into()],
        };
        assert_eq!(bind.clone().volatile().unwrap(), bind);
    }
}
