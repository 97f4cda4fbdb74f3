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

/// A container's disk use: its own layer.
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    /// The container.
    pub container: crate::Container,
    /// Bytes of its writable layer.
    pub size: u64,
    /// Volumes it mounts.
    pub volumes: usize,
}

/// A volume's disk use.
#[derive(Debug, Clone)]
pub struct VolumeUsage {
    /// The volume.
    pub volume: crate::Volume,
    /// Containers that mount it.
    pub links: usize,
    /// Bytes of its files.
    pub size: u64,
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
    /// Per container.
    pub containers: Vec<ContainerUsage>,
    /// Per volume.
    pub volumes: Vec<VolumeUsage>,
    /// Steps the build cache remembers (their layers are images' layers).
    pub build_cache_entries: usize,
}

impl Engine {
    /// Computes disk use: images from the metadata, containers' layers
    /// from the snapshotter, volumes by walking their files.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.images(&ImageFilter::default())?;
        let all_containers = self.containers()?;
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
        for (img, chains) in images.into_iter().zip(&per_image) {
            let (mut shared, mut unique) = (0, 0);
            for c in chains {
                let s = sizes.get(c).copied().unwrap_or(0);
                if users.get(c).copied().unwrap_or(0) > 1 {
                    shared += s;
                } else {
                    unique += s;
                }
            }
            let containers = all_containers.iter().filter(|c| c.image == img.id).count();
            out.push(ImageUsage {
                image: img,
                shared_size: shared,
                unique_size: unique,
                containers,
            });
        }
        let layers_size: u64 = sizes.values().sum();
        // What removing every image no container uses would free: the layers
        // no such image's container holds.
        let mut kept: std::collections::HashSet<&berth_oci::ChainId> = Default::default();
        for (u, chains) in out.iter().zip(&per_image) {
            if u.containers > 0 {
                kept.extend(chains.iter());
            }
        }
        let reclaimable = sizes
            .iter()
            .filter(|(c, _)| !kept.contains(c))
            .map(|(_, s)| s)
            .sum();
        fn sources(c: &crate::Container) -> impl Iterator<Item = &str> {
            c.record
                .host_config
                .mounts
                .iter()
                .map(|m| m.source.as_str())
        }
        let volumes_root = self.paths.volumes().display().to_string();
        let mut containers = Vec::new();
        for c in &all_containers {
            let size = self.container_size(&c.id).map(|(rw, _)| rw).unwrap_or(0);
            let volumes = sources(c).filter(|s| s.starts_with(&volumes_root)).count();
            containers.push(ContainerUsage {
                container: c.clone(),
                size,
                volumes,
            });
        }
        let mut volumes = Vec::new();
        for v in self.volumes()? {
            let source = v.mountpoint.display().to_string();
            let links = all_containers
                .iter()
                .filter(|c| sources(c).any(|s| s == source))
                .count();
            let size = crate::volumes::tree_size(&v.mountpoint);
            volumes.push(VolumeUsage {
                volume: v,
                links,
                size,
            });
        }
        let mut blobs_size = 0;
        for b in self.blobs.list()? {
            blobs_size += self.blobs.size(&b).unwrap_or(0);
        }
        Ok(DiskUsage {
            images: out,
            layers_size,
            reclaimable,
            blobs_size,
            containers,
            volumes,
            build_cache_entries: self.db.build_cache_len()?,
        })
    }
}
