//! Containers in user namespaces of their own: root inside is an
//! unprivileged user on the host.
//!
//! Two sources of host IDs, both subordinate ranges of `/etc/subuid` and
//! `/etc/subgid` as shadow's tools keep them:
//! - `userns-remap` in the settings file (docker's daemon.json key):
//!   `default` (berth's own `berthremap` entries, added if missing, as
//!   dockerd adds `dockremap`'s) or `USER[:GROUP]`; every container without
//!   `--userns=host` maps its IDs onto that user's ranges, in order, as
//!   docker's does.
//! - `--userns=auto` (beyond docker, as podman's): a range of
//!   [`AUTO_SIZE`] IDs per container out of the `berth` entries (added if
//!   missing), taken in the database so that no two containers share one.
//!
//! Layers are never copied or chowned for either: the rootfs is mounted
//! through an ID-mapped mount ([`berth_snapshot::mount::Mount::mount_mapped`]).

use std::io::{Seek, Write};
use std::path::Path;

use berth_oci::idmap::{IdMap, IdMappings};

use crate::{Engine, Error, Result};

/// IDs of one `--userns=auto` container: 0 to 65535, `nobody` included.
pub const AUTO_SIZE: u32 = 65536;

/// The subordinate ranges `--userns=auto` takes from.
pub const AUTO_USER: &str = "berth";

/// The user of `userns-remap: default`.
pub const REMAP_DEFAULT_USER: &str = "berthremap";

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// How many IDs berth gives its own entries when it adds them: room for
/// 1,000 `--userns=auto` containers.
const ADDED_RANGE: u32 = AUTO_SIZE * 1000;

/// One `name:start:count` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubRange {
    owner: String,
    start: u32,
    count: u32,
}

fn parse_subids(text: &str) -> Vec<SubRange> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ':');
            let owner = f.next()?.to_string();
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            (!owner.is_empty() && !owner.starts_with('#')).then_some(SubRange {
                owner,
                start,
                count,
            })
        })
        .collect()
}

/// The ranges of `owners` in `file`; with `add`, an entry for the first owner
/// is appended when none exists, above every range the file has (under an
/// exclusive lock, so two berths do not add two).
fn ranges_of(file: &str, owners: &[String], add: bool) -> Result<Vec<(u32, u32)>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(add)
        .create(add)
        .open(file)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => std::fs::File::open("/dev/null"),
            _ => Err(e),
        })
        .map_err(Error::io(file))?;
    if add {
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(file)(e.into()))?;
    }
    let text = std::io::read_to_string(&mut f).map_err(Error::io(file))?;
    let all = parse_subids(&text);
    let mine: Vec<(u32, u32)> = all
        .iter()
        .filter(|r| owners.contains(&r.owner) && r.count > 0)
        .map(|r| (r.start, r.count))
        .collect();
    if !mine.is_empty() || !add {
        return Ok(mine);
    }
    let top = all
        .iter()
        .map(|r| u64::from(r.start) + u64::from(r.count))
        .max()
        .unwrap_or(0)
        .max(100_000);
    let start = top.div_ceil(u64::from(AUTO_SIZE)) * u64::from(AUTO_SIZE);
    let start = u32::try_from(start)
        .ok()
        .filter(|s| s.checked_add(ADDED_RANGE).is_some())
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "no room in {file} for {ADDED_RANGE} IDs of {}",
                owners[0]
            ))
        })?;
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    f.seek(std::io::SeekFrom::End(0)).map_err(Error::io(file))?;
    writeln!(f, "{sep}{}:{start}:{ADDED_RANGE}", owners[0]).map_err(Error::io(file))?;
    f.sync_all().map_err(Error::io(file))?;
    Ok(vec![(start, ADDED_RANGE)])
}

/// Maps container IDs from 0 onto `ranges`, one after another.
fn consecutive(ranges: &[(u32, u32)]) -> Vec<IdMap> {
    let mut next = 0u32;
    ranges
        .iter()
        .map_while(|&(host, size)| {
            let m = IdMap {
                container: next,
                host,
                size,
            };
            next = next.checked_add(size)?;
            Some(m)
        })
        .collect()
}

/// `userns-remap`'s value turned into its maps.
fn remap_mappings(setting: &str) -> Result<IdMappings> {
    let (user, group) = match setting {
        "default" => (
            REMAP_DEFAULT_USER.to_string(),
            REMAP_DEFAULT_USER.to_string(),
        ),
        s => match s.split_once(':') {
            Some((u, g)) => (u.to_string(), g.to_string()),
            None => (s.to_string(), s.to_string()),
        },
    };
    let add = setting == "default";
    // An entry may name the user or give its UID (and the group, its GID).
    let host = berth_runtime::user::resolve(Path::new("/"), &format!("{user}:{group}")).ok();
    let owners = |name: &str, id: Option<u32>| {
        let mut o = vec![name.to_string()];
        o.extend(id.map(|i| i.to_string()));
        o
    };
    let uids = ranges_of(SUBUID, &owners(&user, host.as_ref().map(|h| h.uid)), add)?;
    let gids = ranges_of(SUBGID, &owners(&group, host.as_ref().map(|h| h.gid)), add)?;
    if uids.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "userns-remap: no subordinate UIDs for {user:?} in {SUBUID}"
        )));
    }
    if gids.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "userns-remap: no subordinate GIDs for {group:?} in {SUBGID}"
        )));
    }
    Ok(IdMappings {
        uids: consecutive(&uids),
        gids: consecutive(&gids),
    })
}

/// Every `AUTO_SIZE` block of `ranges`, in order.
fn blocks(ranges: &[(u32, u32)]) -> impl Iterator<Item = u32> + '_ {
    ranges
        .iter()
        .flat_map(|&(start, count)| (0..count / AUTO_SIZE).map(move |k| start + k * AUTO_SIZE))
}

fn overlaps(a: u32, b: u32, size_b: u32) -> bool {
    let (a, b) = (u64::from(a), u64::from(b));
    a < b + u64::from(size_b) && b < a + u64::from(AUTO_SIZE)
}

/// What `--userns` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsernsMode {
    /// Not given: `userns-remap`'s maps if it is set, else the host's.
    Default,
    /// `host`: the host's user namespace, whatever `userns-remap` says.
    Host,
    /// `auto`: a range of its own.
    Auto,
}

impl UsernsMode {
    pub(crate) fn parse(mode: &str) -> Result<UsernsMode> {
        match mode {
            "" => Ok(UsernsMode::Default),
            "host" => Ok(UsernsMode::Host),
            "auto" => Ok(UsernsMode::Auto),
            other => Err(Error::InvalidArgument(format!(
                "invalid userns mode {other:?}: berth has host and auto"
            ))),
        }
    }
}

impl Engine {
    /// The maps of a new container `id`: `--userns=auto` takes a range in
    /// the database (given back by [`Engine::release_id_mappings`] if the
    /// container is not made after all, and when it is removed).
    pub(crate) fn take_id_mappings(
        &self,
        id: &str,
        mode: UsernsMode,
    ) -> Result<Option<IdMappings>> {
        match mode {
            UsernsMode::Host => Ok(None),
            UsernsMode::Default => self.userns_remap.as_deref().map(remap_mappings).transpose(),
            UsernsMode::Auto => {
                let owners = [AUTO_USER.to_string()];
                let uids = ranges_of(SUBUID, &owners, true)?;
                let gids = ranges_of(SUBGID, &owners, true)?;
                let free = |taken: &[berth_store::db::IdRange]| {
                    blocks(&uids).zip(blocks(&gids)).find(|&(u, g)| {
                        taken
                            .iter()
                            .all(|t| !overlaps(u, t.uid, t.size) && !overlaps(g, t.gid, t.size))
                    })
                };
                let range = self.db.take_id_range(id, AUTO_SIZE, free)?.ok_or_else(|| {
                    Error::Unsupported(format!(
                        "--userns=auto: every range of {AUTO_SIZE} IDs of {AUTO_USER:?} in {SUBUID} and {SUBGID} is taken"
                    ))
                })?;
                Ok(Some(IdMappings::from_root(
                    range.uid, range.gid, range.size,
                )))
            }
        }
    }

    /// Makes sure the container's root (host UID `uid`) can reach `path`
    /// (its rootfs, its /etc files): the runtime mounts them from inside the
    /// user namespace, where the host's root is nobody. Directories of
    /// berth's own root and runroot are made searchable by others (dockerd
    /// makes its root 0711 for the same reason); one above them that is not
    /// is reported, not changed.
    pub(crate) fn check_reachable(&self, path: &Path, uid: u32) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let (root, runroot) = (self.paths.root(), self.paths.runroot());
        for dir in path.ancestors().collect::<Vec<_>>().into_iter().rev() {
            let meta = std::fs::metadata(dir).map_err(Error::io(dir.display()))?;
            let mode = meta.permissions().mode();
            if !meta.is_dir() || mode & 0o001 != 0 {
                continue;
            }
            if dir.starts_with(root) || dir.starts_with(runroot) {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o011))
                    .map_err(Error::io(dir.display()))?;
                continue;
            }
            return Err(Error::Start {
                message: format!(
                    "{} is not searchable by others (mode {:o}): the container's root user, host UID {uid}, cannot reach {}; make it 0711, or keep berth's root elsewhere",
                    dir.display(),
                    mode & 0o7777,
                    path.display()
                ),
                code: 125,
            });
        }
        Ok(())
    }

    /// The mounts of a container's layer, for whichever command mounts it:
    /// volatile for a `--rm` container ([`berth_snapshot::Mount::volatile`]:
    /// nothing in it outlives the container, and a volatile mount refuses a
    /// plain one after it).
    pub(crate) fn container_mounts(
        &self,
        c: &super::Container,
    ) -> Result<Vec<berth_snapshot::Mount>> {
        let mounts = self.snapshotter()?.mounts(&crate::keys::container(&c.id))?;
        if !c.record.host_config.auto_remove {
            return Ok(mounts);
        }
        Ok(mounts
            .into_iter()
            .map(berth_snapshot::Mount::volatile)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Mounts the container's snapshot ([`Engine::container_mounts`]) on
    /// `target` as it runs: through the maps of its user namespace when it
    /// has one ([`berth_snapshot::mount::Mount::mount_mapped`]).
    pub(crate) fn mount_container_root(&self, c: &super::Container, target: &Path) -> Result<()> {
        let mounts = self.container_mounts(c)?;
        match &c.record.id_mappings {
            None => berth_snapshot::mount::mount_all(&mounts, target)?,
            Some(m) => {
                let ns = berth_snapshot::idmap::UserNamespace::new(m)
                    .map_err(Error::io(format!("user namespace of container {}", c.id)))?;
                berth_snapshot::mount::mount_all_mapped(&mounts, target, &ns)?;
            }
        }
        Ok(())
    }

    /// `userns-remap`'s setting, if any.
    pub fn userns_remap(&self) -> Option<&str> {
        self.userns_remap.as_deref()
    }

    /// Gives back the range a container that was not made took.
    pub(crate) fn release_id_mappings(&self, id: &str) {
        let _ = self.db.release_id_range(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_files_are_read_as_shadow_writes_them() {
        let r = parse_subids("alice:100000:65536\n# comment\nbad\nberth:2000000:131072\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].start, 2_000_000);
        assert_eq!(
            consecutive(&[(100_000, 10), (200_000, 5)]),
            vec![
                IdMap {
                    container: 0,
                    host: 100_000,
                    size: 10
                },
                IdMap {
                    container: 10,
                    host: 200_000,
                    size: 5
                }
            ]
        );
        let b: Vec<u32> = blocks(&[(0, AUTO_SIZE * 2 + 5), (10 * AUTO_SIZE, AUTO_SIZE)]).collect();
        assert_eq!(b, vec![0, AUTO_SIZE, 10 * AUTO_SIZE]);
        assert!(overlaps(AUTO_SIZE, 0, AUTO_SIZE + 1));
        assert!(!overlaps(AUTO_SIZE, 0, AUTO_SIZE));
    }
}
