//! ID maps of a user namespace (the OCI runtime spec's `uidMappings` and
//! `gidMappings`), and the translation of file owners through them.

/// One line of `/proc/PID/uid_map` (or `gid_map`): `size` IDs from
/// `container` inside map to `size` IDs from `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdMap {
    /// First ID inside the namespace.
    #[serde(rename = "ContainerID")]
    pub container: u32,
    /// First ID on the host.
    #[serde(rename = "HostID")]
    pub host: u32,
    /// How many IDs.
    pub size: u32,
}

impl IdMap {
    /// The host ID that `id` inside maps to, if it is mapped.
    pub fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
        maps.iter()
            .find(|m| id >= m.container && id - m.container < m.size)
            .map(|m| m.host + (id - m.container))
    }

    /// The ID inside that host ID `id` is, if it is mapped.
    pub fn to_container(maps: &[IdMap], id: u32) -> Option<u32> {
        maps.iter()
            .find(|m| id >= m.host && id - m.host < m.size)
            .map(|m| m.container + (id - m.host))
    }

    /// The lines of `/proc/PID/uid_map` for these maps.
    pub fn proc_lines(maps: &[IdMap]) -> String {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
            .collect()
    }
}

/// The UID and GID maps of one container's user namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdMappings {
    /// UID maps.
    pub uids: Vec<IdMap>,
    /// GID maps.
    pub gids: Vec<IdMap>,
}

impl IdMappings {
    /// `size` IDs from 0 inside onto `size` UIDs from `uid` and GIDs from
    /// `gid` outside.
    pub fn from_root(uid: u32, gid: u32, size: u32) -> IdMappings {
        let one = |host| {
            vec![IdMap {
                container: 0,
                host,
                size,
            }]
        };
        IdMappings {
            uids: one(uid),
            gids: one(gid),
        }
    }

    /// The host UID and GID of the container's root; `(0, 0)` maps to
    /// nothing else than itself when root is not mapped.
    pub fn root(&self) -> (u32, u32) {
        (
            IdMap::to_host(&self.uids, 0).unwrap_or(0),
            IdMap::to_host(&self.gids, 0).unwrap_or(0),
        )
    }

    /// Host IDs of a file as the container sees them (`uid`, `gid` inside);
    /// an ID outside the maps becomes the overflow ID, as the kernel shows it.
    pub fn to_host(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            IdMap::to_host(&self.uids, uid).unwrap_or(OVERFLOW_ID),
            IdMap::to_host(&self.gids, gid).unwrap_or(OVERFLOW_ID),
        )
    }

    /// The IDs inside of a file owned by host `uid`, `gid`; a host ID the
    /// container cannot see becomes the overflow ID.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            IdMap::to_container(&self.uids, uid).unwrap_or(OVERFLOW_ID),
            IdMap::to_container(&self.gids, gid).unwrap_or(OVERFLOW_ID),
        )
    }
}

/// `nobody`: what the kernel shows for an ID a namespace does not map.
pub const OVERFLOW_ID: u32 = 65534;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_translate_both_ways() {
        let m = IdMappings::from_root(200_000, 200_000, 65536);
        assert_eq!(m.root(), (200_000, 200_000));
        assert_eq!(m.to_host(33, 0), (200_033, 200_000));
        assert_eq!(m.to_container(200_033, 200_000), (33, 0));
        assert_eq!(m.to_container(0, 0), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.to_host(70_000, 1), (OVERFLOW_ID, 200_001));
    }
}
