//! `rmi` and `image prune`.

use berth_oci::{Digest, Reference};

use crate::mount::mount_key;
use crate::{Engine, Error, Image, ImageFilter, Result};

/// One line of `rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A tag or repo digest was removed (familiar form).
    Untagged(String),
    /// An image or layer was deleted.
    Deleted(Digest),
}

impl Engine {
    /// `berth rmi [-f] NAME`: untags NAME; deletes the image when no name is left
    /// (or, for an ID, deletes it — with `force` even when several tags name it).
    /// Layers still used by other images stay.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let img = self.resolve(name)?;
        if self.snapshotter()?.stat(&mount_key(&img.id)).is_ok() {
            return Err(Error::Conflict {
                id: img.id.short().to_string(),
                reason: "(cannot be forced) - image is mounted; run `berth image umount` first",
            });
        }
        let by_name = Reference::parse(name)
            .ok()
            .map(|r| r.with_default_tag())
            .filter(|r| img.tags.contains(r) || img.digests.contains(r));
        let mut events = Vec::new();
        match by_name {
            Some(r) => {
                self.db.untag(&r.to_string())?;
                events.push(RemoveEvent::Untagged(r.familiar()));
                let others = img.tags.iter().filter(|t| **t != r).count();
                if others > 0 {
                    return Ok(events);
                }
                // Only repo digests are left: they go with the image, as in Docker.
                for d in img.digests.iter().filter(|d| **d != r) {
                    self.db.untag(&d.to_string())?;
                    events.push(RemoveEvent::Untagged(d.familiar()));
                }
            }
            None => {
                if img.tags.len() > 1 && !force {
                    return Err(Error::Conflict {
                        id: img.id.short().to_string(),
                        reason: "(must be forced) - image is referenced in multiple repositories",
                    });
                }
                for t in img.tags.iter().chain(&img.digests) {
                    self.db.untag(&t.to_string())?;
                    events.push(RemoveEvent::Untagged(t.familiar()));
                }
            }
        }
        events.extend(self.delete(&img)?);
        Ok(events)
    }

    fn delete(&self, img: &Image) -> Result<Vec<RemoveEvent>> {
        self.db.delete_image(&img.id)?;
        let mut events = vec![RemoveEvent::Deleted(img.id.clone())];
        let swept = self.sweep(true)?;
        events.extend(swept.chains.into_iter().map(RemoveEvent::Deleted));
        Ok(events)
    }

    /// `berth image prune [-a]`: removes dangling images (with `all`, every image
    /// not in use). Returns what was removed and the bytes reclaimed.
    pub fn prune_images(&self, all: bool) -> Result<(Vec<RemoveEvent>, u64)> {
        let mut filter = ImageFilter::default();
        if !all {
            filter.dangling = Some(true);
        }
        let mut events = Vec::new();
        let mut any = false;
        for img in self.images(&filter)? {
            if self.snapshotter()?.stat(&mount_key(&img.id)).is_ok() {
                continue;
            }
            for t in img.tags.iter().chain(&img.digests) {
                self.db.untag(&t.to_string())?;
                events.push(RemoveEvent::Untagged(t.familiar()));
            }
            self.db.delete_image(&img.id)?;
            events.push(RemoveEvent::Deleted(img.id.clone()));
            any = true;
        }
        let swept = self.sweep(true)?;
        if any {
            events.extend(swept.chains.into_iter().map(RemoveEvent::Deleted));
        }
        Ok((events, swept.bytes))
    }
}
