//! The system calls the applier makes, each resolving paths inside the target
//! root. The only file of this crate that talks to the kernel.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};

pub use rustix::fs::Stat;

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// Resolution for a layer's parent directories: the kernel refuses any path that
/// leaves the root or passes through a symlink. Tar writers emit real paths, so
/// an entry under a symlink (`lnk -> /etc`, then `lnk/passwd`) is an attack, not
/// an image: it fails with `ELOOP`/`EXDEV` instead of being followed.
fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Whether an error from [`open_dir_in`] means the path is not plainly beneath the
/// root.
pub fn is_escape(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(e) if e == rustix::io::Errno::LOOP.raw_os_error() || e == rustix::io::Errno::XDEV.raw_os_error())
}

/// Opens the directory `path` for reading and creating entries in it.
pub fn open_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens directory `rel` (components joined by `/`; empty = the root) inside `root`.
pub fn open_dir_in(root: &impl AsFd, rel: &[u8]) -> io::Result<OwnedFd> {
    let rel = if rel.is_empty() { b".".as_slice() } else { rel };
    Ok(rfs::openat2(
        root,
        os(rel),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        beneath(),
    )?)
}

pub fn stat_at(dir: &impl AsFd, name: &[u8]) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => Ok(Some(s)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

pub fn mkdir_at(dir: &impl AsFd, name: &[u8], mode: u32) -> io::Result<()> {
    Ok(rfs::mkdirat(dir, os(name), Mode::from_raw_mode(mode))?)
}

pub fn open_dir_at(dir: &impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

pub fn create_file_at(dir: &impl AsFd, name: &[u8]) -> io::Result<std::fs::File> {
    let fd = rfs::openat(
        dir,
        os(name),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(std::fs::File::from(fd))
}

pub fn symlink_at(target: &[u8], dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    Ok(rfs::symlinkat(os(target), dir, os(name))?)
}

pub fn link_at(old_dir: &impl AsFd, old: &[u8], dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    Ok(rfs::linkat(
        old_dir,
        os(old),
        dir,
        os(name),
        AtFlags::empty(),
    )?)
}

pub fn mknod_at(
    dir: &impl AsFd,
    name: &[u8],
    kind: FileType,
    mode: u32,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    Ok(rfs::mknodat(
        dir,
        os(name),
        kind,
        Mode::from_raw_mode(mode),
        rfs::makedev(major, minor),
    )?)
}

pub use rustix::fs::FileType as Kind;

/// Removes `name` in `dir`, recursively if it is a directory.
pub fn remove_all_at(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    match rfs::unlinkat(dir, os(name), AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = open_dir_at(dir, name)?;
    clear_dir(&sub, &|_| false)?;
    match rfs::unlinkat(dir, os(name), AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes every entry of `dir` for which `keep(name)` is false.
pub fn clear_dir(dir: &OwnedFd, keep: &dyn Fn(&[u8]) -> bool) -> io::Result<()> {
    let names = list_dir(dir)?;
    for name in names {
        if !keep(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

pub fn list_dir(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    let mut it = rfs::Dir::read_from(dir)?;
    while let Some(entry) = it.read() {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    Ok(names)
}

pub fn chown_at(dir: &impl AsFd, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    Ok(rfs::chownat(
        dir,
        os(name),
        Some(rfs::Uid::from_raw(uid)),
        Some(rfs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

pub fn fchown(fd: &impl AsFd, uid: u32, gid: u32) -> io::Result<()> {
    Ok(rfs::fchown(
        fd,
        Some(rfs::Uid::from_raw(uid)),
        Some(rfs::Gid::from_raw(gid)),
    )?)
}

pub fn fchmod(fd: &impl AsFd, mode: u32) -> io::Result<()> {
    Ok(rfs::fchmod(fd, Mode::from_raw_mode(mode))?)
}

/// Sets a node's mode by name without following a symlink (devices, fifos).
pub fn chmod_at(dir: &impl AsFd, name: &[u8], mode: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        dir,
        os(name),
        Mode::from_raw_mode(mode),
        AtFlags::empty(),
    )?)
}

fn timestamps(mtime: (i64, u32)) -> Timestamps {
    let t = rfs::Timespec {
        tv_sec: mtime.0,
        tv_nsec: mtime.1 as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

pub fn futimens(fd: &impl AsFd, mtime: (i64, u32)) -> io::Result<()> {
    Ok(rfs::futimens(fd, &timestamps(mtime))?)
}

pub fn utimens_at(dir: &impl AsFd, name: &[u8], mtime: (i64, u32)) -> io::Result<()> {
    Ok(rfs::utimensat(
        dir,
        os(name),
        &timestamps(mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

pub fn fsetxattr(fd: &impl AsFd, name: &[u8], value: &[u8]) -> io::Result<()> {
    Ok(rfs::fsetxattr(
        fd,
        os(name),
        value,
        rfs::XattrFlags::empty(),
    )?)
}
