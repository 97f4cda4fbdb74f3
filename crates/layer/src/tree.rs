//! Copying files into a root filesystem and trees between directories: the one
//! place `cp`, COPY/ADD, a container's init files and its working directory
//! create files in a root.
//!
//! Paths inside a root go through [`crate::root`] (`openat2` with
//! `RESOLVE_IN_ROOT`): an image's `/usr/lib -> /lib` leads to the image's
//! `/lib`, and no symlink in the root leads out of it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};

use crate::root::{mkdir_all, open_in_root, open_root};

/// What one entry to create is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory; an existing one is merged into.
    Dir,
    /// A regular file, copied from the entry's source.
    File,
    /// A symbolic link with this target.
    Symlink(PathBuf),
    /// Content given in place (a Dockerfile heredoc, a downloaded file).
    Data(Vec<u8>),
}

/// One entry to create in a root.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where its content comes from on the host (none for data).
    pub src: Option<PathBuf>,
    /// Its path in the root, absolute.
    pub dst: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its permission bits.
    pub mode: u32,
    /// Its modification time (seconds).
    pub mtime: i64,
}

impl Entry {
    /// The entry for the host file `src` (described by its `lstat`) at `dst`;
    /// `None` for devices, fifos and sockets, which are not copied.
    pub fn of(src: PathBuf, dst: String, meta: &fs::Metadata) -> io::Result<Option<Entry>> {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink(fs::read_link(&src)?)
        } else if ft.is_file() {
            EntryKind::File
        } else {
            return Ok(None);
        };
        Ok(Some(Entry {
            src: Some(src),
            dst,
            kind,
            mode: meta.mode() & 0o7777,
            mtime: meta.mtime(),
        }))
    }
}

/// The owner of what [`write_entries`] creates, and a mode for all of it
/// (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner {
    /// The user ID.
    pub uid: u32,
    /// The group ID.
    pub gid: u32,
    /// Permission bits replacing every entry's own.
    pub mode: Option<u32>,
}

fn split_parent(path: &str) -> (&str, &str) {
    let p = path.trim_end_matches('/');
    match p.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", p),
    }
}

/// Removes what is at `name` in `dir` unless it is a directory, which is an
/// error: a file does not replace a directory.
fn make_room(dir: &OwnedFd, name: &str, dst: &str) -> io::Result<()> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                == rustix::fs::FileType::Directory =>
        {
            Err(io::Error::other(format!(
                "cannot copy to {dst}: it is a directory"
            )))
        }
        Ok(_) => Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?),
    }
}

fn set_times(fd: impl AsFd, mtime: i64) -> io::Result<()> {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    rustix::fs::futimens(
        fd,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
    )?;
    Ok(())
}

/// Creates `entries` in `root`, in order; missing parents are made (0755,
/// owned by `owner`).
pub fn write_entries(root: &Path, entries: &[Entry], owner: Owner) -> io::Result<()> {
    let root_fd = open_root(root)?;
    let uid = Some(rustix::fs::Uid::from_raw(owner.uid));
    let gid = Some(rustix::fs::Gid::from_raw(owner.gid));
    let ids = (owner.uid, owner.gid);
    for e in entries {
        let mode = owner.mode.unwrap_or(e.mode);
        if e.kind == EntryKind::Dir {
            // An existing directory is merged into; its own metadata stays.
            let existed = open_in_root(&root_fd, &e.dst, OFlags::PATH | OFlags::DIRECTORY).is_ok();
            mkdir_all(&root_fd, &e.dst, ids, 0o755)?;
            if !existed && e.dst != "/" {
                let (parent, name) = split_parent(&e.dst);
                let pfd = open_in_root(&root_fd, parent, OFlags::PATH | OFlags::DIRECTORY)?;
                rustix::fs::chmodat(&pfd, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
            }
            continue;
        }
        let (parent, name) = split_parent(&e.dst);
        mkdir_all(&root_fd, parent, ids, 0o755)?;
        // The O_PATH descriptor mkdir_all returns cannot create entries.
        let dir = open_in_root(&root_fd, parent, OFlags::RDONLY | OFlags::DIRECTORY)?;
        make_room(&dir, name, &e.dst)?;
        match &e.kind {
            EntryKind::Symlink(target) => {
                rustix::fs::symlinkat(target, &dir, name)?;
                rustix::fs::chownat(&dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
            }
            EntryKind::File | EntryKind::Data(_) => {
                let fd = rustix::fs::openat(
                    &dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut out = File::from(fd);
                match (&e.kind, &e.src) {
                    (EntryKind::Data(d), _) => out.write_all(d)?,
                    (_, Some(src)) => {
                        io::copy(&mut File::open(src)?, &mut out)?;
                    }
                    (_, None) => {}
                }
                rustix::fs::fchown(&out, uid, gid)?;
                out.set_permissions(fs::Permissions::from_mode(mode))?;
                set_times(&out, e.mtime)?;
            }
            EntryKind::Dir => {}
        }
    }
    Ok(())
}

/// What [`ensure`] makes when nothing is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// An empty directory, 0755.
    Dir,
    /// An empty file, 0644.
    File,
}

/// Creates `rel` in `root` unless something is there (a mount point for the
/// runtime). A parent that is missing or not a directory is left for the
/// runtime to report.
pub fn ensure(root: &Path, rel: &str, what: Placeholder) -> io::Result<()> {
    let root_fd = open_root(root)?;
    let (parent, name) = rel.rsplit_once('/').unwrap_or((".", rel));
    let Ok(parent_fd) = open_in_root(&root_fd, parent, OFlags::PATH | OFlags::DIRECTORY) else {
        return Ok(());
    };
    let made = match what {
        Placeholder::Dir => rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)),
        Placeholder::File => rustix::fs::openat(
            &parent_fd,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    match made {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Copies the host tree `src` to `dst`, which must not exist: files,
/// directories and symlinks with their modes and times, and their owners when
/// `keep_owner`. Devices, fifos and sockets are skipped.
pub fn copy_tree(src: &Path, dst: &Path, keep_owner: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_dir() {
        fs::create_dir(dst)?;
        let mut names: Vec<_> = fs::read_dir(src)?.collect::<io::Result<_>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            copy_tree(&e.path(), &dst.join(e.file_name()), keep_owner)?;
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    } else if ft.is_file() {
        let mut from = File::open(src)?;
        let mut to = File::options().write(true).create_new(true).open(dst)?;
        io::copy(&mut from, &mut to)?;
        to.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        to.set_modified(meta.modified()?)?;
    } else {
        return Ok(());
    }
    if keep_owner {
        lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}

/// Copies `src` to `dst` the way `docker cp` does: a directory onto a
/// directory merges (each entry of `src` replaces its namesake), anything
/// else at `dst` is replaced, except that a non-directory never replaces a
/// directory.
pub fn copy_over(src: &Path, dst: &Path, keep_owner: bool) -> io::Result<()> {
    let Ok(existing) = fs::symlink_metadata(dst) else {
        return copy_tree(src, dst, keep_owner);
    };
    let src_is_dir = fs::symlink_metadata(src)?.is_dir();
    match (existing.is_dir(), src_is_dir) {
        (true, true) => {
            for e in fs::read_dir(src)? {
                let e = e?;
                let to = dst.join(e.file_name());
                remove(&to)?;
                copy_tree(&e.path(), &to, keep_owner)?;
            }
            Ok(())
        }
        (true, false) => Err(io::Error::other(format!(
            "cannot overwrite directory {:?} with non-directory {:?}",
            dst.display().to_string(),
            src.display().to_string()
        ))),
        (false, _) => {
            fs::remove_file(dst)?;
            copy_tree(src, dst, keep_owner)
        }
    }
}

/// Removes whatever is at `p`, if anything.
fn remove(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
    }
}

/// Gives `p` and everything below it the owner `owner` picks from each
/// one's current `(uid, gid)` (symlinks themselves, not what they point to).
pub fn chown_tree(p: &Path, owner: &dyn Fn(u32, u32) -> (u32, u32)) -> io::Result<()> {
    let meta = fs::symlink_metadata(p)?;
    let (uid, gid) = owner(meta.uid(), meta.gid());
    if (uid, gid) != (meta.uid(), meta.gid()) {
        lchown(p, Some(uid), Some(gid))?;
    }
    if meta.is_dir() {
        for e in fs::read_dir(p)? {
            chown_tree(&e?.path(), owner)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dst: &str, kind: EntryKind) -> Entry {
        Entry {
            src: None,
            dst: dst.into(),
            kind,
            mode: 0o640,
            mtime: 1_000_000,
        }
    }

    #[test]
    fn entries_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // The root's /etc points outside it: the entry must land in root/<outside>.
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc")).unwrap();
        let e = entry("/etc/f", EntryKind::Data(b"data".to_vec()));
        write_entries(root.path(), &[e], Owner::default()).unwrap();
        assert!(!outside.path().join("f").exists());
        let inside = root
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("f");
        assert_eq!(fs::read_to_string(&inside).unwrap(), "data");
        let m = fs::metadata(&inside).unwrap();
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o640, 1_000_000));
    }

    #[test]
    fn a_file_never_replaces_a_directory() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("d")).unwrap();
        let e = entry("/d", EntryKind::Data(b"x".to_vec()));
        let err = write_entries(root.path(), &[e], Owner::default()).unwrap_err();
        assert!(err.to_string().contains("it is a directory"), "{err}");

        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("f"), "f").unwrap();
        let err = copy_over(&src.path().join("f"), &root.path().join("d"), false).unwrap_err();
        assert!(err.to_string().contains("with non-directory"), "{err}");
    }

    #[test]
    fn copy_over_merges_directories_and_replaces_files() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::write(src.path().join("a"), "new").unwrap();
        fs::create_dir(src.path().join("sub")).unwrap();
        fs::write(src.path().join("sub/b"), "b").unwrap();
        fs::write(dst.path().join("a"), "old").unwrap();
        fs::write(dst.path().join("keep"), "k").unwrap();
        copy_over(src.path(), dst.path(), false).unwrap();
        assert_eq!(fs::read_to_string(dst.path().join("a")).unwrap(), "new");
        assert_eq!(fs::read_to_string(dst.path().join("sub/b")).unwrap(), "b");
        assert_eq!(fs::read_to_string(dst.path().join("keep")).unwrap(), "k");
        let file = dst.path().join("keep");
        copy_over(&src.path().join("a"), &file, false).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
    }

    #[test]
    fn ensure_makes_only_what_is_missing() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/hosts"), "mine").unwrap();
        ensure(root.path(), "etc/hosts", Placeholder::File).unwrap();
        ensure(root.path(), "etc/hostname", Placeholder::File).unwrap();
        ensure(root.path(), "proc", Placeholder::Dir).unwrap();
        ensure(root.path(), "missing/x", Placeholder::File).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("etc/hosts")).unwrap(),
            "mine"
        );
        assert!(root.path().join("etc/hostname").is_file());
        assert!(root.path().join("proc").is_dir());
        assert!(!root.path().join("missing").exists());
    }
}
