//! `berth image mount` / `umount`: an image's union view, read-only, at a path.
//!
//! The view is a snapshot keyed `mount-<image id>`, so the sweep keeps its layers
//! and `rmi` refuses the image while it is mounted; the mount point lives under
//! the runroot.

use std::path::PathBuf;

use berth_oci::Digest;
use berth_snapshot::mount::{is_mount_point, mount_all, unmount_if_mounted};

use crate::keys;
use crate::layers::unpack::image_layers;
use crate::{Engine, Error, Image, NoProgress, Result};

impl Engine {
    fn mount_point(&self, id: &Digest) -> PathBuf {
        self.paths.image_mount(id)
    }

    /// Makes sure an image's layers are unpacked (re-extracting from its blobs any
    /// that are missing, e.g. after a change of storage driver).
    pub(crate) fn ensure_unpacked(&self, img: &Image) -> Result<Vec<berth_oci::ChainId>> {
        let (_, manifest) = self.manifest_of(img)?;
        let (_, config) = self.config_of(img)?;
        let layers = image_layers(&manifest, &config, |_| None)?;
        let _guard = self.gc.shared()?;
        self.unpack(&layers, &NoProgress)
    }

    /// Mounts the image's union view read-only and returns the path. Mounting a
    /// mounted image returns the same path.
    pub fn mount_image(&self, name: &str) -> Result<PathBuf> {
        let img = self.resolve(name)?;
        let chains = self.ensure_unpacked(&img)?;
        let snap = self.snapshotter()?;
        let key = keys::mount(&img.id);
        let target = self.mount_point(&img.id);
        let mounts = match snap.stat(&key) {
            Ok(_) => {
                if is_mount_point(&target) {
                    return Ok(target);
                }
                snap.mounts(&key)?
            }
            Err(_) => match chains.last() {
                Some(top) => snap.view(&key, Some(&keys::layer(top)))?,
                None => {
                    return Err(Error::NoLayers(img.id.short().to_string()));
                }
            },
        };
        std::fs::create_dir_all(&target).map_err(Error::io(target.display()))?;
        if let Err(e) = mount_all(&mounts, &target) {
            let _ = snap.remove(&key);
            return Err(e.into());
        }
        Ok(target)
    }

    /// Unmounts the image's union view. Returns false if it was not mounted.
    pub fn unmount_image(&self, name: &str) -> Result<bool> {
        let img = self.resolve(name)?;
        let snap = self.snapshotter()?;
        let key = keys::mount(&img.id);
        let target = self.mount_point(&img.id);
        let mounted = unmount_if_mounted(&target)?;
        let _ = std::fs::remove_dir(&target);
        if let Some(p) = target.parent() {
            let _ = std::fs::remove_dir(p);
        }
        let had_view = snap.stat(&key).is_ok();
        if had_view {
            snap.remove(&key)?;
        }
        Ok(mounted || had_view)
    }
}
