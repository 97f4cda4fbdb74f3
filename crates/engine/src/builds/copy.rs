//! COPY and ADD: which files a source names (in the build context, another
//! stage's root or an image's) and their digest for the cache. The copy into
//! the step's root is [`berth_layer::tree::write_entries`].
//!
//! Every path inside a root goes through [`berth_layer::root`]: an image's
//! `/usr/lib -> /lib` leads to the image's `/lib`, and no symlink, in the
//! context or the image, leads out.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_build::ignore::{Ignore, clean, glob_match};
use berth_layer::root::{resolve, under};
use berth_layer::tree::{Entry, EntryKind};
use berth_oci::Hasher;

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
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
) -> Result<Vec<Entry>, String> {
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
            items.push(Entry {
                src: Some(host.clone()),
                dst: under(dest, ""),
                kind: EntryKind::Dir,
                mode: 0o755,
                mtime: meta.mtime(),
            });
            for sub in below {
                let p = host.join(&sub);
                let m = fs::symlink_metadata(&p).map_err(io)?;
                if let Some(item) = Entry::of(p, under(dest, &sub), &m).map_err(io)? {
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
            if let Some(item) = Entry::of(host, dst, &meta).map_err(io)? {
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
pub(crate) fn digest(items: &[Entry]) -> io::Result<String> {
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 64 << 10];
    for i in items {
        write!(h, "{}\0{:o}\0", i.dst, i.mode)?;
        match &i.kind {
            EntryKind::Dir => h.write_all(b"d\0")?,
            EntryKind::Symlink(t) => write!(h, "l{}\0", t.display())?,
            EntryKind::Data(d) => {
                write!(h, "f{}\0", d.len())?;
                h.write_all(d)?;
            }
            EntryKind::File => {
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
        let dsts = |items: &[Entry]| items.iter().map(|i| i.dst.clone()).collect::<Vec<_>>();

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
}
