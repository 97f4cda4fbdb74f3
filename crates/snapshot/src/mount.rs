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
    /// Mounts this description on `target`.
    pub fn mount(&self, target: &Path) -> Result<(), Error> {
        let merr = |source: std::io::Error| Error::Mount {
            target: target.to_path_buf(),
            source,
        };
        let ro = self.options.iter().any(|o| o == "ro");
        match self.kind.as_str() {
            "bind" => {
                rustix::mount::mount_bind_recursive(&self.source, target)
                    .map_err(|e| merr(e.into()))?;
                if ro {
                    let flags = MountFlags::BIND | MountFlags::RDONLY;
                    if let Err(e) = rustix::mount::mount_remount(target, flags, "") {
                        let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
                        return Err(merr(e.into()));
                    }
                }
                Ok(())
            }
            "overlay" => {
                let data: Vec<&str> = self
                    .options
                    .iter()
                    .map(String::as_str)
                    .filter(|o| *o != "ro")
                    .collect();
                let flags = if ro {
                    MountFlags::RDONLY
                } else {
                    MountFlags::empty()
                };
                let data = data.join(",");
                if data.len() <= MOUNT_DATA_MAX {
                    return mount_overlay(target, flags, &data, None).map_err(merr);
                }
                let base = common_dir(&self.options).ok_or_else(|| {
                    merr(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "overlay options too long",
                    ))
                })?;
                let prefix = format!("{}/", base.display());
                let short = data.replace(&prefix, "");
                if short.len() > MOUNT_DATA_MAX {
                    return Err(merr(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "too many layers for one overlay mount",
                    )));
                }
                let target = std::path::absolute(target).map_err(merr)?;
                std::thread::scope(|s| {
                    s.spawn(|| {
                        // SAFETY: CLONE_FS unshares only this thread's cwd, root and umask;
                        // no file descriptor table is split.
                        unsafe {
                            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS)
                        }?;
                        mount_overlay(&target, flags, &short, Some(&base))
                    })
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("mount thread panicked")))
                })
                .map_err(merr)
            }
            other => Err(merr(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("unknown mount type {other}"),
            ))),
        }
    }
}

fn mount_overlay(
    target: &Path,
    flags: MountFlags,
    data: &str,
    cwd: Option<&Path>,
) -> std::io::Result<()> {
    if let Some(dir) = cwd {
        rustix::process::chdir(dir)?;
    }
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
