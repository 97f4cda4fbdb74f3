//! The sweep: removes what no image uses — snapshots, blobs, and what a killed
//! command left (ingest files, half-extracted snapshots, orphan directories).
//!
//! It runs with the GC lock held exclusive, so no load or import is between
//! writing content and recording it.

use std::collections::{HashMap, HashSet};

use berth_oci::ChainId;
use berth_snapshot::{Info, Kind};

use crate::keys::{self, SnapshotKey};
use crate::{Engine, Result};

/// What a sweep removed.
#[derive(Debug, Default)]
pub(crate) struct Swept {
    pub chains: Vec<ChainId>,
    pub bytes: u64,
}

impl Engine {
    /// Sweeps, then runs `work` with the GC lock held shared (a load, a pull);
    /// when it fails, sweeps again, so that what it made for an image it did
    /// not record (layers committed before a later one failed) goes at once
    /// rather than at the next command.
    pub(crate) fn with_sweeps<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.sweep(false)?;
        let result = self
            .gc
            .shared()
            .map_err(Into::into)
            .and_then(|_guard| work());
        if result.is_err() {
            let _ = self.sweep(false);
        }
        result
    }

    /// Sweeps, waiting for the lock when `wait`, else skipping if it is busy.
    pub(crate) fn sweep(&self, wait: bool) -> Result<Swept> {
        let _guard = if wait {
            self.gc.exclusive()?
        } else {
            match self.gc.try_exclusive()? {
                Some(g) => g,
                None => return Ok(Swept::default()),
            }
        };
        self.blobs.cleanup()?;
        let mut swept = Swept::default();
        let snap = self.snapshotter()?;
        let mut infos = Vec::new();
        snap.walk(&mut |i| {
            infos.push(i.clone());
            Ok(())
        })?;
        let referenced: HashSet<String> = self
            .db
            .referenced_chains()?
            .iter()
            .map(keys::layer)
            .collect();
        let plan = decide(&infos, &referenced, &mut |id| {
            Ok(self.db.container(id)?.is_some())
        })?;
        for name in &plan.dead {
            snap.remove(name)?;
        }
        for name in &plan.unused {
            let chain = match SnapshotKey::parse(name) {
                SnapshotKey::Layer(c) => Some(c),
                _ => None,
            };
            if let Some(c) = &chain {
                swept.bytes += self.db.layer(c)?.map(|l| l.size).unwrap_or(0);
            }
            snap.remove(name)?;
            if let Some(c) = chain {
                self.db.delete_layer(&c)?;
                swept.chains.push(c);
            }
        }
        snap.cleanup()?;

        let used = self.db.referenced_blobs()?;
        for blob in self.blobs.list()? {
            if !used.contains(&blob) {
                swept.bytes += self.blobs.size(&blob).unwrap_or(0);
                self.blobs.delete(&blob)?;
            }
        }
        Ok(swept)
    }
}

/// What a sweep removes, in the order to remove it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Decision {
    /// Active snapshots nothing will finish: extractions (in flight ones hold
    /// the lock shared, so any left now are dead) and container layers whose
    /// container has no row (a kill inside `create` or `rm`). Children first.
    dead: Vec<String>,
    /// Committed snapshots no image references and nothing stands on; leaves
    /// first, since removing one may free its parent.
    unused: Vec<String>,
}

/// Decides a sweep from the snapshots (`infos`, in creation order), the
/// snapshot names images reference, and whether a container has a row.
fn decide(
    infos: &[Info],
    referenced: &HashSet<String>,
    container_exists: &mut dyn FnMut(&str) -> Result<bool>,
) -> Result<Decision> {
    let mut decision = Decision::default();
    // Walk order is creation order: children come after parents, so go backwards.
    for i in infos.iter().rev().filter(|i| i.kind != Kind::Committed) {
        let gone = match SnapshotKey::parse(&i.name) {
            SnapshotKey::Extract(_) => true,
            key => match key.container() {
                Some(id) => !container_exists(id)?,
                None => false,
            },
        };
        if gone {
            decision.dead.push(i.name.clone());
        }
    }
    let live: Vec<&Info> = infos
        .iter()
        .filter(|i| !decision.dead.contains(&i.name))
        .collect();
    let mut keep = referenced.clone();
    let parents: HashMap<&str, Option<&str>> = live
        .iter()
        .map(|i| (i.name.as_str(), i.parent.as_deref()))
        .collect();
    // Views and containers keep their whole ancestry.
    for i in live.iter().filter(|i| i.kind != Kind::Committed) {
        let mut p = i.parent.as_deref();
        while let Some(name) = p {
            keep.insert(name.to_string());
            p = parents.get(name).copied().flatten();
        }
    }
    let mut children: HashMap<&str, usize> = HashMap::new();
    for i in &live {
        if let Some(p) = &i.parent {
            *children.entry(p.as_str()).or_default() += 1;
        }
    }
    let mut doomed: Vec<&Info> = live
        .iter()
        .copied()
        .filter(|i| i.kind == Kind::Committed && !keep.contains(&i.name))
        .collect();
    while !doomed.is_empty() {
        let (now, later): (Vec<_>, Vec<_>) = doomed
            .into_iter()
            .partition(|i| children.get(i.name.as_str()).copied().unwrap_or(0) == 0);
        if now.is_empty() {
            break;
        }
        for i in now {
            decision.unused.push(i.name.clone());
            if let Some(p) = &i.parent
                && let Some(n) = children.get_mut(p.as_str())
            {
                *n -= 1;
            }
        }
        doomed = later;
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Purpose;

    fn info(name: &str, parent: Option<&str>, kind: Kind) -> Info {
        Info {
            name: name.to_string(),
            parent: parent.map(str::to_string),
            kind,
            created: 0,
        }
    }

    fn chain(n: u8) -> ChainId {
        let hex = format!("{n:02x}").repeat(32);
        berth_oci::Digest::parse(&format!("sha256:{hex}")).unwrap()
    }

    #[test]
    fn unreferenced_layers_go_leaves_first_and_ancestors_of_live_snapshots_stay() {
        let (a, b, c, d) = (
            keys::layer(&chain(1)),
            keys::layer(&chain(2)),
            keys::layer(&chain(3)),
            keys::layer(&chain(4)),
        );
        let ctr = keys::container("c1");
        let infos = vec![
            info(&a, None, Kind::Committed),
            info(&b, Some(&a), Kind::Committed),
            info(&c, Some(&b), Kind::Committed),
            info(&d, None, Kind::Committed),
            // A container on `b` keeps a and b though no image references them.
            info(&ctr, Some(&b), Kind::Active),
        ];
        let none = HashSet::new();
        let got = decide(&infos, &none, &mut |_| Ok(true)).unwrap();
        assert_eq!(got.dead, Vec::<String>::new());
        assert_eq!(got.unused, vec![c.clone(), d.clone()]);

        // Without the container's row, its layer is dead and the chain goes,
        // each layer after the one above it.
        let got = decide(&infos, &none, &mut |_| Ok(false)).unwrap();
        assert_eq!(got.dead, vec![ctr]);
        assert_eq!(got.unused, vec![c.clone(), d.clone(), b.clone(), a.clone()]);

        // A referenced top keeps nothing below it by itself: its parents are
        // referenced too (the store records every chain of an image).
        let referenced: HashSet<String> = [a.clone(), b.clone(), c.clone()].into();
        let got = decide(&infos, &referenced, &mut |_| Ok(false)).unwrap();
        assert_eq!(got.unused, vec![d]);
    }

    #[test]
    fn leftover_extractions_are_dead_but_views_and_mounts_are_not() {
        let a = keys::layer(&chain(1));
        let ex = keys::extract(Purpose::Layer);
        let step = keys::extract(Purpose::BuildStep);
        let mount = keys::mount(&chain(9));
        let infos = vec![
            info(&a, None, Kind::Committed),
            info(&ex, Some(&a), Kind::Active),
            info(&step, None, Kind::Active),
            info(&mount, Some(&a), Kind::View),
        ];
        let got = decide(&infos, &HashSet::new(), &mut |_| Ok(true)).unwrap();
        assert_eq!(got.dead, vec![step, ex]);
        assert!(got.unused.is_empty(), "the mounted view keeps {a}");
    }
}
