//! The overlay snapshotter: each snapshot is `<root>/<id>/fs` holding only its own
//! changes (whiteouts as 0/0 devices), mounted as an overlayfs stack.

use std::fs;
use std::path::{Path, PathBuf};

use crate::metastore::{MetaStore, Row, bookkept_methods};
use crate::{Error, Info, Kind, Layout, Mount, Snapshotter, Usage};

/// Kernel overlayfs snapshots.
pub struct Overlay {
    meta: MetaStore,
}

impl Overlay {
    /// Opens the snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<Overlay, Error> {
        Ok(Overlay {
            meta: MetaStore::open(root)?,
        })
    }

    /// Whether overlayfs can be mounted with `root` as its upper filesystem:
    /// tries a real mount in a scratch directory there.
    pub fn supported(root: &Path) -> bool {
        let Ok(()) = fs::create_dir_all(root) else {
            return false;
        };
        let Ok(dir) = tempfile_dir(root) else {
            return false;
        };
        let d = |n: &str| dir.join(n);
        let ok = ["lower", "upper", "work", "merged"]
            .iter()
            .all(|n| fs::create_dir(d(n)).is_ok())
            && {
                let m = Mount {
                    kind: "overlay".into(),
                    source: "overlay".into(),
                    options: vec![
                        format!("lowerdir={}", d("lower").display()),
                        format!("upperdir={}", d("upper").display()),
                        format!("workdir={}", d("work").display()),
                    ],
                };
                m.mount(&d("merged")).is_ok() && crate::mount::unmount(&d("merged")).is_ok()
            };
        let _ = fs::remove_dir_all(&dir);
        ok
    }

    fn mounts_of(&self, r: &Row) -> Result<Vec<Mount>, Error> {
        let lowers: Vec<String> = self
            .meta
            .ancestors(r)?
            .iter()
            .map(|p| self.meta.fs_dir(p.id).display().to_string())
            .collect();
        let upper = self.meta.fs_dir(r.id);
        if r.kind == Kind::View {
            return Ok(match lowers.len() {
                0 => vec![bind(upper, true)],
                1 => vec![bind(PathBuf::from(&lowers[0]), true)],
                _ => vec![Mount {
                    kind: "overlay".into(),
                    source: "overlay".into(),
                    options: vec!["ro".into(), format!("lowerdir={}", lowers.join(":"))],
                }],
            });
        }
        if lowers.is_empty() {
            return Ok(vec![bind(upper, false)]);
        }
        Ok(vec![Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowers.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", self.meta.dir(r.id).join("work").display()),
            ],
        }])
    }
}

fn bind(source: PathBuf, ro: bool) -> Mount {
    let mut options = vec!["rbind".to_string()];
    options.push(if ro { "ro" } else { "rw" }.to_string());
    Mount {
        kind: "bind".into(),
        source,
        options,
    }
}

fn tempfile_dir(root: &Path) -> std::io::Result<PathBuf> {
    // A probe killed between its mount and unmount leaves both behind.
    for e in fs::read_dir(root)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let dead = name
            .strip_prefix("tmp-probe-")
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            let _ = crate::mount::unmount(&e.path().join("merged"));
            let _ = fs::remove_dir_all(e.path());
        }
    }
    let dir = root.join(format!("tmp-probe-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir)?;
    Ok(dir)
}

fn make_dirs(dir: &Path) -> Result<(), Error> {
    for sub in ["fs", "work"] {
        let p = dir.join(sub);
        fs::create_dir(&p).map_err(Error::io(&p))?;
    }
    // The layer root's mode comes from the layer; a fresh one is like Docker's.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("fs"), fs::Permissions::from_mode(0o755)).map_err(Error::io(dir))
}

impl Snapshotter for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    bookkept_methods!();

    fn layout(&self) -> Layout {
        Layout::Diff
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, Error> {
        let r = self.meta.mountable(key)?;
        self.mounts_of(&r)
    }

    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, Error> {
        let r = self
            .meta
            .create(key, parent, Kind::Active, true, |dir, _| make_dirs(dir))?;
        self.mounts_of(&r)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, Error> {
        let r = self
            .meta
            .create(key, parent, Kind::View, false, |dir, _| make_dirs(dir))?;
        self.mounts_of(&r)
    }

    fn rebase(&self, key: &str, parent: Option<&str>) -> Result<(), Error> {
        self.meta.rebase(key, parent)
    }
}
