//! Named volumes: directories under `ROOT/volumes/NAME/_data` that outlive
//! containers (`-v NAME:/path` makes one on first use, as docker does).
//!
//! Owns: creating, listing, inspecting, removing and pruning volumes, and
//! knowing which containers mount one. Must not know: how a container
//! mounts it (that is the container service's spec).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::containers::names::valid_name;
use crate::{Engine, Error, Result};

/// A named volume, serialised as docker's `volume inspect` shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Always `local`.
    pub driver: &'static str,
    /// Where its data is on the host.
    pub mountpoint: PathBuf,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// Labels (none yet: berth keeps no volume metadata beyond the directory).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Always `local`.
    pub scope: &'static str,
    /// Driver options (none).
    pub options: std::collections::BTreeMap<String, String>,
}

impl Engine {
    fn volume_at(&self, name: &str) -> Result<Volume> {
        let mountpoint = self.paths.volume_data(name);
        let meta = std::fs::metadata(&mountpoint).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::VolumeNotFound(name.to_string()),
            _ => Error::io(mountpoint.display())(e),
        })?;
        let created = chrono::DateTime::from_timestamp(meta.ctime(), 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        Ok(Volume {
            name: name.to_string(),
            driver: "local",
            mountpoint,
            created_at: created,
            labels: Default::default(),
            scope: "local",
            options: Default::default(),
        })
    }

    /// `volume create [NAME]`: makes the volume (a random name when none is
    /// given); an existing one is returned as it is, as docker does.
    pub fn create_volume(&self, name: Option<&str>) -> Result<Volume> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => crate::containers::names::new_id()?,
        };
        if !valid_name(&name) {
            return Err(Error::InvalidArgument(format!(
                "invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let dir = self.paths.volume_data(&name);
        let existed = dir.is_dir();
        std::fs::create_dir_all(&dir).map_err(Error::io(dir.display()))?;
        if !existed {
            self.emit("volume", "create", &name, &[("driver", "local")]);
        }
        self.volume_at(&name)
    }

    /// One volume.
    pub fn volume(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(Error::VolumeNotFound(name.to_string()));
        }
        self.volume_at(name)
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let dir = self.paths.volumes();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir.display())(e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(Error::io(dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if valid_name(&name)
                && let Ok(v) = self.volume_at(&name)
            {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The containers (IDs) that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let data = self.paths.volume_data(name).display().to_string();
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| c.record.host_config.mounts.iter().any(|m| m.source == data))
            .map(|c| c.id)
            .collect())
    }

    /// `volume rm [-f] NAME`: refused while a container uses it (with
    /// `force`, a missing volume is not an error).
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let v = match self.volume(name) {
            Ok(v) => v,
            Err(Error::VolumeNotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::VolumeInUse {
                name: name.to_string(),
                containers: users,
            });
        }
        self.delete_volume(v)
    }

    /// Removes a volume's directory; the caller checked nothing mounts it.
    fn delete_volume(&self, v: Volume) -> Result<()> {
        let dir = v
            .mountpoint
            .parent()
            .map(PathBuf::from)
            .unwrap_or(v.mountpoint);
        std::fs::remove_dir_all(&dir).map_err(Error::io(dir.display()))?;
        self.emit("volume", "destroy", &v.name, &[("driver", "local")]);
        Ok(())
    }

    /// `volume prune`: every volume no container uses. Returns their names
    /// and the bytes their files held.
    pub fn prune_volumes(&self) -> Result<(Vec<String>, u64)> {
        // What every container mounts, read once for all the volumes.
        let mounted: std::collections::HashSet<String> = self
            .containers()?
            .into_iter()
            .flat_map(|c| c.record.host_config.mounts.into_iter().map(|m| m.source))
            .collect();
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.volumes()? {
            if mounted.contains(&v.mountpoint.display().to_string()) {
                continue;
            }
            bytes += tree_size(&v.mountpoint);
            let name = v.name.clone();
            self.delete_volume(v)?;
            removed.push(name);
        }
        Ok((removed, bytes))
    }
}

/// Bytes of the regular files under `dir` (what removing it frees).
pub(crate) fn tree_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}
