//! `berth cp`: files between a container and the host.
//!
//! A container path is resolved by the kernel as if the rootfs were `/`
//! (`openat2` with `RESOLVE_IN_ROOT`), so no symlink in the container points the
//! copy at the host; and a running container is frozen while its files are
//! copied, so it cannot swap a directory for a symlink mid-copy (the race
//! behind CVE-2018-15664, closed the way docker closed it). Nothing runs inside
//! the container (CVE-2019-14271 came from a helper that did).

use std::fs;
use std::path::{Path, PathBuf};

use berth_layer::tree::{chown_tree, copy_over, copy_tree};
use berth_snapshot::mount::{is_mount_point, mount_all, unmount_if_mounted};

use super::Container;
use crate::{Engine, Error, Result};

/// The container's root, mounted for as long as this lives; the container
/// frozen if it runs.
struct OpenRoot<'a> {
    engine: &'a Engine,
    container: &'a Container,
    path: PathBuf,
    own_mount: bool,
    paused: bool,
}

impl Drop for OpenRoot<'_> {
    fn drop(&mut self) {
        if self.paused {
            let _ = self
                .engine
                .oci_runtime(&self.container.record.host_config)
                .resume(&self.container.id);
        }
        if self.own_mount {
            let _ = unmount_if_mounted(&self.path);
            let _ = fs::remove_dir(&self.path);
        }
    }
}

/// [`berth_layer::root::resolve`], with `cp`'s words for a path that is not there.
fn resolve_in_root(root: &Path, path: &str, follow: bool) -> Result<PathBuf> {
    berth_layer::root::resolve(root, path, follow).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound(format!("Could not find the file {path} in container"))
        } else {
            Error::io(format!("{}:{path}", root.display()))(e)
        }
    })
}

impl Engine {
    fn open_root<'a>(&'a self, c: &'a Container) -> Result<OpenRoot<'a>> {
        let running_root = self.paths.rootfs(&c.id);
        let mut root = OpenRoot {
            engine: self,
            container: c,
            path: running_root.clone(),
            own_mount: false,
            paused: false,
        };
        if c.state.running && is_mount_point(&running_root) {
            if !c.state.paused {
                self.oci_runtime(&c.record.host_config).pause(&c.id)?;
                root.paused = true;
            }
            return Ok(root);
        }
        let target = self.paths.cp_mount(&c.id);
        fs::create_dir_all(&target).map_err(Error::io(target.display()))?;
        mount_all(&self.container_mounts(c)?, &target)?;
        root.path = target;
        root.own_mount = true;
        Ok(root)
    }

    /// `berth cp CONTAINER:SRC DEST`.
    pub fn copy_from_container(
        &self,
        name: &str,
        src: &str,
        dest: &Path,
        follow: bool,
    ) -> Result<()> {
        let c = self.container(name)?;
        let root = self.open_root(&c)?;
        let real = resolve_in_root(&root.path, src, follow)?;
        let base = real
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("root"));
        let target = if dest.is_dir() {
            dest.join(base)
        } else {
            dest.to_path_buf()
        };
        copy_over(&real, &target, true).map_err(Error::io(target.display()))?;
        // The owners the container sees, as docker's archive of it has them.
        if let Some(m) = &c.record.id_mappings {
            chown_tree(&target, &|u, g| m.to_container(u, g))
                .map_err(Error::io(target.display()))?;
        }
        Ok(())
    }

    /// `berth cp SRC CONTAINER:DEST`.
    pub fn copy_to_container(
        &self,
        name: &str,
        dest: &str,
        src: &Path,
        archive: bool,
    ) -> Result<()> {
        let c = self.container(name)?;
        if c.record.host_config.readonly_rootfs {
            return Err(Error::ReadOnlyRootfs);
        }
        fs::symlink_metadata(src).map_err(Error::io(src.display()))?;
        let root = self.open_root(&c)?;
        let (target, replace) = match resolve_in_root(&root.path, dest, true) {
            Ok(real) if real.is_dir() => {
                let base = src.file_name().ok_or_else(|| {
                    Error::InvalidArgument(format!("cannot copy {}", src.display()))
                })?;
                (real.join(base), true)
            }
            Ok(real) => (real, true),
            Err(Error::NotFound(_)) => {
                let (parent, base) = match dest.trim_end_matches('/').rsplit_once('/') {
                    Some((p, b)) => (if p.is_empty() { "/" } else { p }, b),
                    None => ("/", dest),
                };
                let dir = resolve_in_root(&root.path, parent, true)?;
                (dir.join(base), false)
            }
            Err(e) => return Err(e),
        };
        let copied = if replace {
            copy_over(src, &target, archive)
        } else {
            copy_tree(src, &target, archive)
        };
        copied.map_err(Error::io(target.display()))?;
        // Files copied in belong to the container's root user, as docker's
        // do; with -a they keep their owners, as the container sees them.
        if !archive {
            let root = c.record.root_ids();
            chown_tree(&target, &|_, _| root).map_err(Error::io(target.display()))?;
        } else if let Some(m) = &c.record.id_mappings {
            chown_tree(&target, &|u, g| m.to_host(u, g)).map_err(Error::io(target.display()))?;
        }
        Ok(())
    }
}
