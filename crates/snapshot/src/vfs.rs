//! The vfs snapshotter: each snapshot is a full copy of its parent plus its own
//! changes, bind-mounted. Slow and large, but works on any filesystem.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::metastore::{MetaStore, Row, bookkept_methods};
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
                let src = self.meta.fs_dir(p.id);
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

    /// An active snapshot is its own directory, read-write; a view shares its
    /// parent's directory, read-only.
    fn mounts_of(&self, r: &Row) -> Vec<Mount> {
        let (id, mode) = match (r.kind, r.parent) {
            (Kind::View, Some(parent)) => (parent, "ro"),
            (Kind::View, None) => (r.id, "ro"),
            _ => (r.id, "rw"),
        };
        vec![Mount {
            kind: "bind".into(),
            source: self.meta.fs_dir(id),
            options: vec!["rbind".into(), mode.into()],
        }]
    }
}

impl Snapshotter for Vfs {
    fn name(&self) -> &'static str {
        "vfs"
    }

    bookkept_methods!();

    fn layout(&self) -> Layout {
        Layout::Full
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, Error> {
        let r = self.meta.mountable(key)?;
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
        self.meta.get(parent_name)?;
        let r = self.meta.create(key, parent, Kind::View, false, |dir, _| {
            fs::create_dir(dir.join("fs")).map_err(Error::io(dir))
        })?;
        Ok(self.mounts_of(&r))
    }
}
