//! Paths inside a root filesystem (a container's, an image's, a build step's
//! or a build context), resolved by the kernel as if the root were `/`
//! (`openat2` with `RESOLVE_IN_ROOT`): a symlink in the root, absolute or
//! relative, leads somewhere in the root and never out of it.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

/// The root directory, held open to resolve paths from.
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `path` inside `root` as if `root` were `/`.
pub fn open_in_root(root: &OwnedFd, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    Ok(rustix::fs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// The host path `path` inside `root` resolves to; with `follow`, a final
/// symlink is followed too (inside the root).
pub fn resolve(root: &Path, path: &str, follow: bool) -> io::Result<PathBuf> {
    let flags = if follow {
        OFlags::PATH
    } else {
        OFlags::PATH | OFlags::NOFOLLOW
    };
    let fd = open_in_root(&open_root(root)?, path, flags)?;
    let real = fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))?;
    if !real.starts_with(fs::canonicalize(root)?) {
        return Err(io::Error::other(format!(
            "{path} resolves outside its root"
        )));
    }
    Ok(real)
}

/// Joins a directory and a relative path.
pub fn under(dir: &str, rel: &str) -> String {
    let d = dir.trim_end_matches('/');
    if rel.is_empty() {
        if d.is_empty() { "/".into() } else { d.into() }
    } else {
        format!("{d}/{rel}")
    }
}

/// Opens the directory `path` inside the root, creating what is missing with
/// `mode` and owned by `owner`. A dangling symlink on the way is followed the
/// way the kernel would inside the root: its target is created.
pub fn mkdir_all(root: &OwnedFd, path: &str, owner: (u32, u32), mode: u32) -> io::Result<OwnedFd> {
    mkdir_all_depth(root, path, owner, mode, 0)
}

fn mkdir_all_depth(
    root: &OwnedFd,
    path: &str,
    owner: (u32, u32),
    mode: u32,
    depth: u32,
) -> io::Result<OwnedFd> {
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY;
    match open_in_root(root, path, dir_flags) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if depth > 40 {
        return Err(io::Error::other(format!(
            "{path}: too many levels of symbolic links"
        )));
    }
    let mut at = String::from("/");
    let mut fd = open_in_root(root, "/", dir_flags)?;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let parent = at.clone();
        at = under(&at, part);
        fd = match open_in_root(root, &at, dir_flags) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match rustix::fs::readlinkat(&fd, part, Vec::new()) {
                    Ok(target) => {
                        let target = target.to_string_lossy().into_owned();
                        let next = if target.starts_with('/') {
                            target
                        } else {
                            under(&parent, &target)
                        };
                        mkdir_all_depth(root, &next, owner, mode, depth + 1)?;
                    }
                    Err(_) => {
                        match rustix::fs::mkdirat(&fd, part, Mode::from_raw_mode(mode)) {
                            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                            Err(e) => return Err(e.into()),
                        }
                        rustix::fs::chownat(
                            &fd,
                            part,
                            Some(rustix::fs::Uid::from_raw(owner.0)),
                            Some(rustix::fs::Gid::from_raw(owner.1)),
                            AtFlags::SYMLINK_NOFOLLOW,
                        )?;
                    }
                }
                open_in_root(root, &at, dir_flags)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(fd)
}
