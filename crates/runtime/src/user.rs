//! `--user NAME|UID[:GROUP|GID]` resolved against the container's own
//! /etc/passwd and /etc/group, read with every path resolved inside the rootfs
//! (an image's `/etc/passwd -> /host/file` symlink cannot read the host's).

use std::io::Read;
use std::path::Path;

use berth_layer::root::{open_in_root, open_root};
use rustix::fs::OFlags;

use crate::Error;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Supplementary groups (from /etc/group memberships).
    pub additional_gids: Vec<u32>,
    /// Home directory (for `HOME`), `/` when unknown.
    pub home: String,
}

/// Reads a file of the rootfs, resolving symlinks as if `rootfs` were `/`.
/// A missing file reads as empty.
pub fn read_in_root(rootfs: &Path, path: &str) -> Result<String, Error> {
    let root = open_root(rootfs).map_err(Error::io(rootfs))?;
    let fd = match open_in_root(&root, path, OFlags::RDONLY) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(Error::io(rootfs.join(path))(e)),
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(16 << 20)
        .read_to_string(&mut text)
        .map_err(Error::io(rootfs.join(path)))?;
    Ok(text)
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, …) in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User, Error> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let passwd = read_in_root(rootfs, "/etc/passwd")?;
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let matches = f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user);
        matches.then(|| {
            (
                f[0].to_string(),
                f[2].parse::<u32>().ok(),
                f[3].parse::<u32>().ok(),
                f[5].to_string(),
            )
        })
    });
    let (name, uid, mut gid, home) = match (entry, user.parse::<u32>()) {
        (Some((name, Some(uid), Some(gid), home)), _) => (Some(name), uid, gid, home),
        (_, Ok(uid)) => (None, uid, 0, "/".to_string()),
        _ => {
            return Err(Error::Invalid(format!(
                "unable to find user {user}: no matching entries in passwd file"
            )));
        }
    };
    let groups = read_in_root(rootfs, "/etc/group")?;
    let group_entries: Vec<(String, u32, Vec<String>)> = groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect();
    if let Some(g) = group {
        gid = match group_entries.iter().find(|(n, _, _)| n == g) {
            Some((_, id, _)) => *id,
            None => g.parse::<u32>().map_err(|_| {
                Error::Invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    // As docker (runc's user lookup): the primary group is a supplementary
    // one too, with the groups listing the user unless a group was given.
    let mut additional_gids: Vec<u32> = match &name {
        Some(n) if group.is_none() => group_entries
            .iter()
            .filter(|(_, _, members)| members.iter().any(|m| m == n))
            .map(|(_, id, _)| *id)
            .collect(),
        _ => Vec::new(),
    };
    additional_gids.push(gid);
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(User {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nadm:x:4:www,other\n",
        )
        .unwrap();
        let u = resolve(dir.path(), "www").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.as_slice()),
            (33, 33, &[4, 33][..])
        );
        // A group given: it alone, as docker's `id` shows.
        let u = resolve(dir.path(), "33:0").unwrap();
        assert_eq!((u.gid, u.additional_gids.as_slice()), (0, &[0][..]));
        assert_eq!(u.home, "/var/www");
        assert_eq!(resolve(dir.path(), "1000:adm").unwrap().gid, 4);
        assert_eq!(resolve(dir.path(), "").unwrap().uid, 0);
        assert!(resolve(dir.path(), "nobody").is_err());
        assert!(resolve(dir.path(), "www:nogroup").is_err());
    }

    #[test]
    fn passwd_symlink_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/passwd")).unwrap();
        // Resolved inside the rootfs: /etc/passwd -> /etc/passwd loops, or is absent.
        let r = read_in_root(dir.path(), "/etc/passwd");
        assert!(r.map(|s| s.is_empty()).unwrap_or(true));
    }
}
