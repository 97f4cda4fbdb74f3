//! `rmi` and `image prune`.

use berth_oci::{Digest, Reference};

use berth_store::Removal;

use crate::keys;
use crate::{Engine, Error, ImageFilter, Result};

fn familiar(name: &str) -> String {
    Reference::parse(name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}

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
        if self.snapshotter()?.stat(&keys::mount(&img.id)).is_ok() {
            return Err(Error::Conflict {
                id: img.id.short().to_string(),
                reason: "(cannot be forced) - image is mounted; run `berth image umount` first",
            });
        }
        let users = self.containers_using(&img.id)?;
        if let Some(c) = users.iter().find(|c| c.state.running) {
            return Err(Error::ImageInUse(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                img.id.short(),
                c.short_id()
            )));
        }
        let by_name = Reference::parse(name)
            .ok()
            .map(|r| r.with_default_tag())
            .filter(|r| img.tags.contains(r) || img.digests.contains(r));
        // The decision is the database's, in one transaction: a tag added since
        // `resolve` keeps the image.
        let removal = match (&by_name, users.first()) {
            // An untag, or a forced one: an image its containers use stays, untagged.
            (Some(r), _) if img.tags.len() + img.digests.len() > 1 || force => {
                self.db.remove_name(&r.to_string())?
            }
            (_, Some(c)) => {
                return Err(Error::ImageInUse(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    img.id.short(),
                    c.short_id()
                )));
            }
            (Some(r), None) => self.db.remove_name(&r.to_string())?,
            (None, None) => self.db.remove_image(&img.id, force)?,
        };
        let mut events = Vec::new();
        match removal {
            Removal::NotFound => return Err(Error::ImageNotFound(name.to_string())),
            Removal::Refused { .. } => {
                return Err(Error::Conflict {
                    id: img.id.short().to_string(),
                    reason: "(must be forced) - image is referenced in multiple repositories",
                });
            }
            Removal::Untagged { .. } => {
                if let Some(r) = by_name {
                    events.push(RemoveEvent::Untagged(r.familiar()));
                }
            }
            Removal::Deleted { image, names } => {
                if let Some(r) = &by_name {
                    events.push(RemoveEvent::Untagged(r.familiar()));
                }
                events.extend(names.iter().map(|n| RemoveEvent::Untagged(familiar(n))));
                events.push(RemoveEvent::Deleted(image));
                let swept = self.sweep(true)?;
                events.extend(swept.chains.into_iter().map(RemoveEvent::Deleted));
            }
        }
        for e in &events {
            match e {
                RemoveEvent::Untagged(name) => {
                    self.emit("image", "untag", &img.id.to_string(), &[("name", name)])
                }
                RemoveEvent::Deleted(d) if *d == img.id => {
                    self.emit("image", "delete", &d.to_string(), &[])
                }
                RemoveEvent::Deleted(_) => {}
            }
        }
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
            if self.snapshotter()?.stat(&keys::mount(&img.id)).is_ok()
                || !self.db.containers_of_image(&img.id)?.is_empty()
            {
                continue;
            }
            if let Removal::Deleted { image, names } = self.db.remove_image(&img.id, true)? {
                events.extend(names.iter().map(|n| RemoveEvent::Untagged(familiar(n))));
                events.push(RemoveEvent::Deleted(image));
                any = true;
            }
        }
        let swept = self.sweep(true)?;
        if any {
            events.extend(swept.chains.into_iter().map(RemoveEvent::Deleted));
        }
        Ok((events, swept.bytes))
    }
}
