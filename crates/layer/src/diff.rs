//! The other direction of [`crate::apply_layer`]: what changed in a container's
//! filesystem, as `docker diff` lines and as an OCI layer tar (deletions as
//! `.wh.` whiteouts, replaced directories as opaque).
//!
//! Two sources of changes: an overlayfs upper directory (changes are exactly its
//! contents; whiteouts are 0:0 character devices, opaque directories carry
//! `trusted.overlay.opaque=y`), or two full trees compared (the vfs driver).

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_oci::idmap::IdMappings;

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Changed (or a directory with changes inside).
    Modified,
    /// New.
    Added,
    /// Removed.
    Deleted,
}

impl ChangeKind {
    /// docker diff's letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path.
#[derive(Debug, Clone)]
pub struct Change {
    /// The path inside the container, relative (no leading `/`).
    pub path: String,
    /// What happened.
    pub kind: ChangeKind,
    /// A directory that replaced one below (nothing of the old one shows).
    pub opaque: bool,
    /// The entry's metadata as the walk found it, so the tar writer need not
    /// look the path up again.
    meta: Option<Metadata>,
}

impl PartialEq for Change {
    fn eq(&self, other: &Change) -> bool {
        (&self.path, self.kind, self.opaque) == (&other.path, other.kind, other.opaque)
    }
}

impl Eq for Change {}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut buf),
        Ok(1) if buf[0] == b'y'
    )
}

/// A directory's entries sorted by name, not yet looked up: a walk that stats
/// each as it goes hands out its first change before the last lookup.
fn sorted_dir_entries(dir: &Path) -> io::Result<Vec<(String, fs::DirEntry)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        out.push((e.file_name().to_string_lossy().into_owned(), e));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<(String, PathBuf, Metadata)>> {
    sorted_dir_entries(dir)?
        .into_iter()
        // Relative to the directory's descriptor: no walk of the whole path.
        .map(|(name, e)| Ok((name, e.path(), e.metadata()?)))
        .collect()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Whether `rel` exists in the union of `lowers` (topmost first), honouring
/// whiteouts and opaque directories on the way.
fn exists_below(lowers: &[PathBuf], rel: &str) -> bool {
    'layers: for lower in lowers {
        // An opaque parent in this layer hides everything further down.
        let mut dir = lower.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(m) if is_whiteout(&m) => return false,
                Ok(m) if i + 1 == parts.len() => return !is_whiteout(&m),
                Ok(m) if m.is_dir() => {
                    if is_opaque(&dir) {
                        // Deeper components can only come from this layer.
                        continue;
                    }
                }
                Ok(_) => return false,
                Err(_) => {
                    let parent_opaque = dir.parent().is_some_and(|p| p != lower && is_opaque(p));
                    if parent_opaque {
                        return false;
                    }
                    continue 'layers;
                }
            }
        }
    }
    false
}

/// The changes an overlayfs upper directory holds, against `lowers` (the
/// image's layer directories, topmost first), sorted by path.
pub fn overlay_changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    each_overlay_change(upper, lowers, &mut |c| {
        out.push(c);
        Ok(())
    })?;
    Ok(out)
}

/// [`overlay_changes`] one at a time, in the same order, as the walk finds
/// them: a layer writer can start on the first while the walk goes on.
pub fn each_overlay_change(
    upper: &Path,
    lowers: &[PathBuf],
    each: &mut dyn FnMut(Change) -> io::Result<()>,
) -> io::Result<()> {
    walk_upper(upper, "", lowers, false, each)
}

/// `new_parent`: the directory is itself new, so nothing under it is below.
fn walk_upper(
    dir: &Path,
    prefix: &str,
    lowers: &[PathBuf],
    new_parent: bool,
    each: &mut dyn FnMut(Change) -> io::Result<()>,
) -> io::Result<()> {
    for (name, entry) in sorted_dir_entries(dir)? {
        let (path, meta) = (entry.path(), entry.metadata()?);
        let rel = join(prefix, &name);
        if is_whiteout(&meta) {
            each(Change {
                path: rel,
                kind: ChangeKind::Deleted,
                opaque: false,
                meta: None,
            })?;
            continue;
        }
        let opaque = meta.is_dir() && !new_parent && is_opaque(&path);
        let kind = if !new_parent && exists_below(lowers, &rel) {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        let is_dir = meta.is_dir();
        each(Change {
            path: rel.clone(),
            kind,
            opaque,
            meta: Some(meta),
        })?;
        if is_dir {
            let fresh = new_parent || kind == ChangeKind::Added || opaque;
            walk_upper(&path, &rel, lowers, fresh, each)?;
        }
    }
    Ok(())
}

fn same_entry(a: &Metadata, b: &Metadata) -> bool {
    a.file_type() == b.file_type()
        && a.mode() == b.mode()
        && a.uid() == b.uid()
        && a.gid() == b.gid()
        && a.rdev() == b.rdev()
        && (a.is_dir()
            || (a.size() == b.size() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec()))
}

/// The changes between a full tree `lower` (the image) and a full tree `upper`
/// (the container), sorted by path.
pub fn tree_changes(lower: Option<&Path>, upper: &Path) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    walk_trees(lower, upper, "", &mut out)?;
    Ok(out)
}

fn walk_trees(
    lower: Option<&Path>,
    upper: &Path,
    prefix: &str,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let ups = sorted_entries(upper)?;
    let lows = match lower {
        Some(l) => sorted_entries(l)?,
        None => Vec::new(),
    };
    let low_map: HashMap<&str, &(String, PathBuf, Metadata)> =
        lows.iter().map(|e| (e.0.as_str(), e)).collect();
    let mut names: Vec<&str> = ups.iter().map(|e| e.0.as_str()).collect();
    for (n, _, _) in &lows {
        if !ups.iter().any(|u| u.0 == *n) {
            names.push(n);
        }
    }
    names.sort_unstable();
    let up_map: HashMap<&str, &(String, PathBuf, Metadata)> =
        ups.iter().map(|e| (e.0.as_str(), e)).collect();
    for name in names {
        let rel = join(prefix, name);
        match (up_map.get(name), low_map.get(name)) {
            (Some(u), None) => {
                out.push(Change {
                    path: rel.clone(),
                    kind: ChangeKind::Added,
                    opaque: false,
                    meta: Some(u.2.clone()),
                });
                if u.2.is_dir() {
                    walk_trees(None, &u.1, &rel, out)?;
                }
            }
            (None, Some(_)) => out.push(Change {
                path: rel,
                kind: ChangeKind::Deleted,
                opaque: false,
                meta: None,
            }),
            (Some(u), Some(l)) => {
                let both_dirs = u.2.is_dir() && l.2.is_dir();
                let at = out.len();
                if both_dirs {
                    walk_trees(Some(&l.1), &u.1, &rel, out)?;
                }
                let changed_inside = out.len() > at;
                if !same_entry(&u.2, &l.2) || changed_inside {
                    let replaced_dir = u.2.is_dir() && !l.2.is_dir();
                    out.insert(
                        at,
                        Change {
                            path: rel.clone(),
                            kind: ChangeKind::Modified,
                            opaque: false,
                            meta: Some(u.2.clone()),
                        },
                    );
                    if replaced_dir {
                        walk_trees(None, &u.1, &rel, out)?;
                    }
                }
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// Writes `changes` as an OCI layer tar, reading what exists from `upper`.
/// With `ids` (a container in a user namespace of its own), the files are
/// owned on disk by host IDs of those maps, and the layer gets the
/// container's own. Returns the bytes of file content written.
pub fn write_layer<C: std::borrow::Borrow<Change>>(
    upper: &Path,
    changes: impl IntoIterator<Item = C>,
    ids: Option<&IdMappings>,
    out: impl Write,
) -> io::Result<u64> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut content = 0u64;
    let mut dirs = ParentDir::default();
    for change in changes {
        let change = change.borrow();
        let (parent, name) = match change.path.rsplit_once('/') {
            Some((p, n)) => (format!("{p}/"), n),
            None => (String::new(), change.path.as_str()),
        };
        if change.kind == ChangeKind::Deleted {
            let mut h = empty_header(tar::EntryType::Regular);
            tar.append_data(&mut h, format!("{parent}.wh.{name}"), io::empty())?;
            continue;
        }
        let path = upper.join(&change.path);
        let meta = match &change.meta {
            Some(m) => m.clone(),
            None => fs::symlink_metadata(&path)?,
        };
        let ft = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        if let Some(ids) = ids {
            let (uid, gid) = ids.to_container(meta.uid(), meta.gid());
            h.set_uid(uid.into());
            h.set_gid(gid.into());
        }
        h.set_size(0);
        if ft.is_dir() {
            tar.append_data(&mut h, format!("{}/", change.path), io::empty())?;
            if change.opaque {
                let mut o = empty_header(tar::EntryType::Regular);
                tar.append_data(&mut o, format!("{}/.wh..wh..opq", change.path), io::empty())?;
            }
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(&path)?;
            tar.append_link(&mut h, &change.path, target)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    tar.append_link(&mut h, &change.path, first)?;
                    continue;
                }
                links.insert(key, change.path.clone());
            }
            h.set_size(meta.len());
            content += meta.len();
            let file = dirs.open(upper, parent.trim_end_matches('/'), name)?;
            // Exactly the size in the header (no read for the end of file); a file
            // that shrank meanwhile fails the tar writer rather than corrupt it.
            tar.append_data(&mut h, &change.path, io::Read::take(file, meta.len()))?;
        } else {
            // Devices, fifos and sockets carry no data; sockets are not archived.
            if ft.is_socket() {
                continue;
            }
            tar.append_data(&mut h, &change.path, io::empty())?;
        }
    }
    tar.into_inner()?.flush()?;
    Ok(content)
}

/// The directory of the files being read, held open: changes come sorted, so
/// siblings follow each other and each file opens without a walk of its path.
#[derive(Default)]
struct ParentDir {
    rel: Option<String>,
    fd: Option<std::os::fd::OwnedFd>,
}

impl ParentDir {
    fn open(&mut self, root: &Path, parent: &str, name: &str) -> io::Result<File> {
        use rustix::fs::{Mode, OFlags};
        if self.rel.as_deref() != Some(parent) || self.fd.is_none() {
            let fd = rustix::fs::open(
                root.join(parent),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            self.fd = Some(fd);
            self.rel = Some(parent.to_string());
        }
        let dir = self
            .fd
            .as_ref()
            .ok_or_else(|| io::Error::other("no directory"))?;
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }
}

fn empty_header(kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(0);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_compared() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        for d in [lower.path(), upper.path()] {
            fs::create_dir_all(d.join("etc")).unwrap();
            fs::write(d.join("etc/keep"), "same").unwrap();
        }
        // Same content, same times: unchanged.
        let t = fs::metadata(lower.path().join("etc/keep"))
            .unwrap()
            .modified()
            .unwrap();
        File::options()
            .write(true)
            .open(upper.path().join("etc/keep"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        fs::write(lower.path().join("gone"), "x").unwrap();
        fs::write(upper.path().join("etc/new"), "n").unwrap();
        let changes = tree_changes(Some(lower.path()), upper.path()).unwrap();
        let lines: Vec<String> = changes
            .iter()
            .map(|c| format!("{} /{}", c.kind.letter(), c.path))
            .collect();
        assert_eq!(lines, ["C /etc", "A /etc/new", "D /gone"]);

        let mut buf = Vec::new();
        write_layer(upper.path(), &changes, None, &mut buf).unwrap();
        let mut ar = tar::Archive::new(buf.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["etc/", "etc/new", ".wh.gone"]);
    }
}
