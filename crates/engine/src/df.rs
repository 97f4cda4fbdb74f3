//! `berth system df`: what images use on disk, shared and unique.

use std::collections::HashMap;

use crate::{Engine, Image, ImageFilter, Result};

/// One image's share of the disk.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    /// The image.
    pub image: Image,
    /// Bytes of layers it shares with other images.
    pub shared_size: u64,
    /// Bytes of layers only it uses.
    pub unique_size: u64,
    /// Containers using it.
    pub containers: usize,
}

/// The whole store's disk use.
#[derive(Debug, Clone)]
pub struct DiskUsage {
    /// Per image.
    pub images: Vec<ImageUsage>,
    /// Bytes of all layers, each counted once however many images share it.
    pub layers_size: u64,
    /// Bytes that `image prune -a` would free.
    pub reclaimable: u64,
    /// Bytes of stored blobs (archives' layers as received, configs, manifests).
    pub blobs_size: u64,
}

impl Engine {
    /// Computes disk use from the metadata (no tree walk).
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.images(&ImageFilter::default())?;
        let mut users: HashMap<berth_oci::ChainId, usize> = HashMap::new();
        let mut per_image = Vec::new();
        for img in &images {
            let chains = self.db.image_layers(&img.id)?;
            for c in &chains {
                *users.entry(c.clone()).or_default() += 1;
            }
            per_image.push(chains);
        }
        let mut sizes: HashMap<berth_oci::ChainId, u64> = HashMap::new();
        for c in users.keys() {
            sizes.insert(c.clone(), self.db.layer(c)?.map(|l| l.size).unwrap_or(0));
        }
        let mut out = Vec::new();
        for (img, chains) in images.into_iter().zip(per_image) {
            let (mut shared, mut unique) = (0, 0);
            for c in &chains {
                let s = sizes.get(c).copied().unwrap_or(0);
                if users.get(c).copied().unwrap_or(0) > 1 {
                    shared += s;
                } else {
                    unique += s;
                }
            }
            out.push(ImageUsage {
                image: img,
                shared_size: shared,
                unique_size: unique,
                containers: 0,
            });
        }
        let layers_size: u64 = sizes.values().sum();
        let mut blobs_size = 0;
        for b in self.blobs.list()? {
            blobs_size += self.blobs.size(&b).unwrap_or(0);
        }
        Ok(DiskUsage {
            images: out,
            layers_size,
            reclaimable: layers_size,
            blobs_size,
        })
    }
}
