//! The vfs snapshotter: each snapshot is a full copy of its parent plus its own
//! changes, bind-mounted. Slow and large, but works on any filesystem.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::metastore::{MetaStore, Row, disk_usage};
use crate::{Error, Info, Kind, Layout, Mount, Snapshotter, Usage};

/// Copying snapshots.
pub struct Vfs {
    meta: MetaStore,
}

impl Vfs {
    /// Opens the snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<Vfs, Error> {
        Ok(Vfs {
            meta: MetaStore::open(root)?,
        })
    }

    fn fs_dir(&self, id: i64) -> PathBuf {
        self.meta.dir(id).join("fs")
    }

    fn populate(&self, dir: &Path, parent: Option<&Row>) -> Result<(), Error> {
        let fs_dir = dir.join("fs");
        match parent {
            None => {
                fs::create_dir(&fs_dir).map_err(Error::io(&fs_dir))?;
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&fs_dir, fs::Permissions::from_mode(0o755))
                    .map_err(Error::io(&fs_dir))
            }
            // `cp -a` keeps owners, modes, times, xattrs, hard links, devices and holes:
            // everything a layer copy must keep, in one well-tested tool.
            Some(p) => {
                let src = self.fs_dir(p.id);
                let out = Command::new("cp")
                    .arg("-a")
                    .arg("--")
                    .arg(&src)
                    .arg(&fs_dir)
                    .output()
                    .map_err(Error::io(&src))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(Error::Io {
                        path: src,
                        source: std::io::Error::other(
                            String::from_utf8_lossy(&out.stderr).trim().to_string(),
                        ),
                    })
                }
            }
        }
    }

    fn mounts_of(&self, r: &Row) -> Vec<Mount> {
        let ro = r.kind == Kind::View;
        vec![Mount {
            kind: "bind".into(),
            source: self.fs_dir(r.id),
            options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
        }]
    }
}

impl Snapshotter for Vfs {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn layout(&self) -> Layout {
        Layout::Full
    }

    fn stat(&self, key: &str) -> Result<Info, Error> {
        let r = self.meta.get(key)?;
        self.meta.info(&r)
    }

    fn usage(&self, key: &str) -> Result<Usage, Error> {
        // A vfs snapshot holds its parents' files too; that is its real disk use.
        let r = self.meta.get(key)?;
        disk_usage(&self.fs_dir(r.id))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, Error> {
        let r = self.meta.get(key)?;
        if r.kind == Kind::Committed {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "a committed snapshot has no mounts; make a view of it",
            });
        }
        Ok(self.mounts_of(&r))
    }

    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, Error> {
        let r = self
            .meta
            .create(key, parent, Kind::Active, false, |dir, p| {
                self.populate(dir, p)
            })?;
        Ok(self.mounts_of(&r))
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, Error> {
        // A view shares its parent's directory: nothing is copied.
        let parent_name = parent.ok_or_else(|| Error::FailedPrecondition {
            key: key.to_string(),
            reason: "a vfs view needs a parent",
        })?;
        let p = self.meta.get(parent_name)?;
        self.meta.create(key, parent, Kind::View, false, |dir, _| {
            fs::create_dir(dir.join("fs")).map_err(Error::io(dir))
        })?;
        Ok(vec![Mount {
            kind: "bind".into(),
            source: self.fs_dir(p.id),
            options: vec!["rbind".into(), "ro".into()],
        }])
    }

    fn commit(&self, name: &str, key: &str) -> Result<(), Error> {
        self.meta.commit(name, key)
    }

    fn remove(&self, key: &str) -> Result<(), Error> {
        self.meta.remove(key)
    }

    fn walk(&self, visit: &mut dyn FnMut(&Info) -> Result<(), Error>) -> Result<(), Error> {
        self.meta.walk(visit)
    }

    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        Ok(self.fs_dir(self.meta.get(key)?.id))
    }

    fn apply_dir(&self, key: &str) -> Result<PathBuf, Error> {
        let r = self.meta.get(key)?;
        if r.kind != Kind::Active {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "only an active snapshot can be written",
            });
        }
        Ok(self.fs_dir(r.id))
    }

    fn cleanup(&self) -> Result<usize, Error> {
        self.meta.cleanup()
    }
}
