//! The sweep: removes what no image uses — snapshots, blobs, and what a killed
//! command left (ingest files, half-extracted snapshots, orphan directories).
//!
//! It runs with the GC lock held exclusive, so no load or import is between
//! writing content and recording it.

use std::collections::{HashMap, HashSet};

use berth_oci::ChainId;
use berth_snapshot::Kind;

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
        // Extractions in flight hold the lock shared, so any left now are dead.
        // Walk order is creation order: children come after parents, so go backwards.
        let keys: HashMap<String, SnapshotKey> = infos
            .iter()
            .map(|i| (i.name.clone(), SnapshotKey::parse(&i.name)))
            .collect();
        let mut dead: HashSet<String> = HashSet::new();
        for i in infos.iter().rev().filter(|i| i.kind != Kind::Committed) {
            let gone = match &keys[&i.name] {
                SnapshotKey::Extract(_) => true,
                // A container's layer whose row never landed (a kill inside
                // `create`) or is gone (a kill inside `rm`).
                key => match key.container() {
                    Some(id) => self.db.container(id)?.is_none(),
                    None => false,
                },
            };
            if gone {
                snap.remove(&i.name)?;
                dead.insert(i.name.clone());
            }
        }
        infos.retain(|i| !dead.contains(&i.name));

        let mut keep: HashSet<String> = self
            .db
            .referenced_chains()?
            .iter()
            .map(keys::layer)
            .collect();
        let parents: HashMap<&str, Option<&str>> = infos
            .iter()
            .map(|i| (i.name.as_str(), i.parent.as_deref()))
            .collect();
        // Views and containers keep their whole ancestry.
        for i in infos.iter().filter(|i| i.kind != Kind::Committed) {
            let mut p = i.parent.as_deref();
            while let Some(name) = p {
                keep.insert(name.to_string());
                p = parents.get(name).copied().flatten();
            }
        }
        let mut children: HashMap<&str, usize> = HashMap::new();
        for i in &infos {
            if let Some(p) = &i.parent {
                *children.entry(p.as_str()).or_default() += 1;
            }
        }
        // Leaves first: removing one may free its parent.
        let mut doomed: Vec<&berth_snapshot::Info> = infos
            .iter()
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
                let chain = match &keys[&i.name] {
                    SnapshotKey::Layer(c) => Some(c.clone()),
                    _ => None,
                };
                if let Some(c) = &chain {
                    swept.bytes += self.db.layer(c)?.map(|l| l.size).unwrap_or(0);
                }
                snap.remove(&i.name)?;
                if let Some(c) = chain {
                    self.db.delete_layer(&c)?;
                    swept.chains.push(c);
                }
                if let Some(p) = &i.parent
                    && let Some(n) = children.get_mut(p.as_str())
                {
                    *n -= 1;
                }
            }
            doomed = later;
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
