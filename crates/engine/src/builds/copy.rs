//! COPY and ADD: which files a source names (in the build context, another
//! stage's root or an image's), their digest for the cache, and the copy into
//! the step's root.
//!
//! Every path inside a root goes through [`berth_layer::root`]: an image's
//! `/usr/lib -> /lib` leads to the image's `/lib`, and no symlink, in the
//! context or the image, leads out.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_build::ignore::{Ignore, clean, glob_match};
use berth_oci::Hasher;
use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};

use berth_layer::root::{mkdir_all, open_in_root, open_root, resolve, under};

/// What one copied entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
    /// Content given in the Dockerfile (a heredoc) or fetched (ADD of a URL).
    Data(Vec<u8>),
}

/// One entry to create in the step's root.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Where it comes from (none for data).
    pub src: Option<PathBuf>,
    /// Its path in the root, absolute.
    pub dst: String,
    pub kind: Kind,
    pub mode: u32,
    pub mtime: i64,
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn item_of(src: PathBuf, dst: String, meta: &fs::Metadata) -> io::Result<Option<Item>> {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink(fs::read_link(&src)?)
    } else if ft.is_file() {
        Kind::File
    } else {
        // Devices, fifos and sockets are not copied.
        return Ok(None);
    };
    Ok(Some(Item {
        src: Some(src),
        dst,
        kind,
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime(),
    }))
}

/// What `sources` (patterns relative to `root`) copy to `dest` (absolute; a
/// trailing `/` says it is a directory). `dest_is_dir` tells whether `dest`
/// is a directory in the step's root already. Errors are the user's words.
pub(crate) fn plan(
    root: &Path,
    sources: &[String],
    dest: &str,
    dest_is_dir: &dyn Fn() -> bool,
    ignore: Option<&Ignore>,
) -> Result<Vec<Item>, String> {
    let io = |e: io::Error| e.to_string();
    // Each source: (its path in the root, the paths it names below it).
    let mut matched: Vec<String> = Vec::new();
    let mut all: Option<Vec<String>> = None;
    for s in sources {
        let cleaned = clean(s);
        if has_wildcard(&cleaned) {
            if all.is_none() {
                let mut v = Vec::new();
                walk_dir(root, "", "", ignore, &mut v).map_err(io)?;
                all = Some(v);
            }
            let hits: Vec<String> = all
                .iter()
                .flatten()
                .filter(|p| glob_match(&cleaned, p))
                .cloned()
                .collect();
            matched.extend(hits);
        } else {
            let excluded = !cleaned.is_empty() && ignore.is_some_and(|i| i.excludes(&cleaned));
            let exists = resolve(root, &cleaned, true).is_ok();
            if excluded || !exists {
                return Err(format!(
                    "file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
                ));
            }
            matched.push(cleaned);
        }
    }
    if matched.is_empty() {
        return Err("no source files were specified".into());
    }
    let many = matched.len() > 1;
    if many && !dest.ends_with('/') {
        return Err(
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
                .into(),
        );
    }
    let mut items = Vec::new();
    for rel in matched {
        // The named source itself is followed if it is a link (inside the root).
        let host = resolve(root, &rel, true).map_err(io)?;
        let meta = fs::metadata(&host).map_err(io)?;
        if meta.is_dir() {
            let mut below = Vec::new();
            // Paths below, relative to the named directory; ignore rules apply
            // to their context paths.
            let prefix = if rel.is_empty() {
                String::new()
            } else {
                format!("{rel}/")
            };
            walk_dir(&host, "", &prefix, ignore, &mut below).map_err(io)?;
            items.push(Item {
                src: Some(host.clone()),
                dst: under(dest, ""),
                kind: Kind::Dir,
                mode: 0o755,
                mtime: meta.mtime(),
            });
            for sub in below {
                let p = host.join(&sub);
                let m = fs::symlink_metadata(&p).map_err(io)?;
                if let Some(item) = item_of(p, under(dest, &sub), &m).map_err(io)? {
                    items.push(item);
                }
            }
        } else {
            let name = Path::new(&rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dst = if dest.ends_with('/') || many || dest_is_dir() {
                under(dest, &name)
            } else {
                dest.to_string()
            };
            if let Some(item) = item_of(host, dst, &meta).map_err(io)? {
                items.push(item);
            }
        }
    }
    Ok(items)
}

/// The paths under `dir` (relative to it), in order, less what the ignore
/// rules exclude; `prefix` turns them into context paths for those rules.
fn walk_dir(
    dir: &Path,
    rel: &str,
    prefix: &str,
    ignore: Option<&Ignore>,
    out: &mut Vec<String>,
) -> io::Result<()> {
    let here = if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    };
    let mut names: Vec<String> = fs::read_dir(&here)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let excluded = ignore.is_some_and(|i| i.excludes(&format!("{prefix}{child}")));
        let meta = fs::symlink_metadata(dir.join(&child))?;
        if excluded && !(meta.is_dir() && ignore.is_some_and(Ignore::has_exceptions)) {
            continue;
        }
        if !excluded {
            out.push(child.clone());
        }
        if meta.is_dir() {
            walk_dir(dir, &child, prefix, ignore, out)?;
        }
    }
    Ok(())
}

/// The digest of what a plan copies: paths, kinds, modes and contents (not
/// times, as BuildKit: a touched file with the same bytes stays cached).
pub(crate) fn digest(items: &[Item]) -> io::Result<String> {
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 64 << 10];
    for i in items {
        write!(h, "{}\0{:o}\0", i.dst, i.mode)?;
        match &i.kind {
            Kind::Dir => h.write_all(b"d\0")?,
            Kind::Symlink(t) => write!(h, "l{}\0", t.display())?,
            Kind::Data(d) => {
                write!(h, "f{}\0", d.len())?;
                h.write_all(d)?;
            }
            Kind::File => {
                let Some(src) = &i.src else { continue };
                let mut f = File::open(src)?;
                write!(h, "f{}\0", f.metadata()?.len())?;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.write_all(&buf[..n])?;
                }
            }
        }
    }
    Ok(h.finish().to_string())
}

/// Owner and mode overrides (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Overrides {
    pub uid: u32,
    pub gid: u32,
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

/// Removes what is at `name` in `dir` unless it is a directory; a directory
/// there is an error when `for_dir` is false.
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

/// Creates the plan's entries in `root` (the step's mounted root).
pub(crate) fn apply(root: &Path, items: &[Item], o: Overrides) -> io::Result<()> {
    let root_fd = open_root(root)?;
    let uid = Some(rustix::fs::Uid::from_raw(o.uid));
    let gid = Some(rustix::fs::Gid::from_raw(o.gid));
    for i in items {
        let mode = o.mode.unwrap_or(i.mode);
        if i.kind == Kind::Dir {
            // An existing directory is merged into; its own metadata stays.
            let existed = open_in_root(&root_fd, &i.dst, OFlags::PATH | OFlags::DIRECTORY).is_ok();
            mkdir_all(&root_fd, &i.dst, (o.uid, o.gid), 0o755)?;
            if !existed && i.dst != "/" {
                let (parent, name) = split_parent(&i.dst);
                let pfd = open_in_root(&root_fd, parent, OFlags::PATH | OFlags::DIRECTORY)?;
                rustix::fs::chmodat(&pfd, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
            }
            continue;
        }
        let (parent, name) = split_parent(&i.dst);
        mkdir_all(&root_fd, parent, (o.uid, o.gid), 0o755)?;
        // The O_PATH descriptor mkdir_all returns cannot create entries.
        let dir = open_in_root(&root_fd, parent, OFlags::RDONLY | OFlags::DIRECTORY)?;
        make_room(&dir, name, &i.dst)?;
        match &i.kind {
            Kind::Symlink(target) => {
                rustix::fs::symlinkat(target, &dir, name)?;
                rustix::fs::chownat(&dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
            }
            Kind::File | Kind::Data(_) => {
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
                match &i.kind {
                    Kind::Data(d) => out.write_all(d)?,
                    _ => {
                        if let Some(src) = &i.src {
                            io::copy(&mut File::open(src)?, &mut out)?;
                        }
                    }
                }
                rustix::fs::fchown(&out, uid, gid)?;
                out.set_permissions(fs::Permissions::from_mode(mode))?;
                set_times(&out, i.mtime)?;
            }
            Kind::Dir => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path, text: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn plans_follow_dockers_destination_rules() {
        let ctx = tempfile::tempdir().unwrap();
        let c = ctx.path();
        touch(&c.join("a.txt"), "a");
        touch(&c.join("b.txt"), "b");
        touch(&c.join("dir/x/y.txt"), "y");
        touch(&c.join("dir/skip.log"), "s");
        let ignore = Ignore::parse("**/*.log\n");
        let no = || false;
        let yes = || true;
        let dsts = |items: &[Item]| items.iter().map(|i| i.dst.clone()).collect::<Vec<_>>();

        let p = plan(c, &["a.txt".into()], "/f", &no, Some(&ignore)).unwrap();
        assert_eq!(dsts(&p), vec!["/f"]);
        let p = plan(c, &["a.txt".into()], "/d", &yes, Some(&ignore)).unwrap();
        assert_eq!(dsts(&p), vec!["/d/a.txt"]);
        let p = plan(c, &["*.txt".into()], "/d/", &no, Some(&ignore)).unwrap();
        assert_eq!(dsts(&p), vec!["/d/a.txt", "/d/b.txt"]);
        assert!(
            plan(c, &["*.txt".into()], "/d", &no, None)
                .unwrap_err()
                .contains("must be a directory")
        );
        let p = plan(c, &["dir".into()], "/app", &no, Some(&ignore)).unwrap();
        assert_eq!(dsts(&p), vec!["/app", "/app/x", "/app/x/y.txt"]);
        assert!(plan(c, &["dir/skip.log".into()], "/", &no, Some(&ignore)).is_err());
        assert!(
            plan(c, &["nope".into()], "/", &no, None)
                .unwrap_err()
                .contains("not found")
        );
        assert!(plan(c, &["*.none".into()], "/", &no, None).is_err());
        // `..` stays in the context.
        let p = plan(c, &["../../a.txt".into()], "/f", &no, None).unwrap();
        assert_eq!(dsts(&p), vec!["/f"]);
        let d1 = digest(&plan(c, &["dir".into()], "/app", &no, None).unwrap()).unwrap();
        touch(&c.join("dir/x/y.txt"), "changed");
        let d2 = digest(&plan(c, &["dir".into()], "/app", &no, None).unwrap()).unwrap();
        assert_ne!(d1, d2);
    }

    #[test]
    fn copies_stay_inside_the_root() {
        let ctx = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        touch(&ctx.path().join("f"), "data");
        // The root's /etc points outside it: the copy must land in root/<outside>.
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc")).unwrap();
        let items = plan(ctx.path(), &["f".into()], "/etc/f", &|| false, None).unwrap();
        apply(root.path(), &items, Overrides::default()).unwrap();
        assert!(!outside.path().join("f").exists());
        let inside = root
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("f");
        assert_eq!(fs::read_to_string(inside).unwrap(), "data");
    }
}
