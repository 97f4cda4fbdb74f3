//! Bookkeeping shared by all snapshotters: rows in SQLite (id, name, parent,
//! kind) and the directories `<root>/<id>` they own.
//!
//! Crash ordering: a new snapshot's directory is filled under `tmp-*` and renamed
//! to `<id>` inside the transaction that inserts its row; removal deletes the row
//! first and the directory after. A kill therefore leaves only directories without
//! rows, which [`MetaStore::cleanup`] removes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Error, Info, Kind};

#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: i64,
    pub name: String,
    pub parent: Option<i64>,
    pub kind: Kind,
    pub created: i64,
}

pub(crate) struct MetaStore {
    root: PathBuf,
    conn: Mutex<Connection>,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn kind_code(k: Kind) -> i64 {
    match k {
        Kind::View => 0,
        Kind::Active => 1,
        Kind::Committed => 2,
    }
}

fn kind_of(code: i64) -> Kind {
    match code {
        0 => Kind::View,
        1 => Kind::Active,
        _ => Kind::Committed,
    }
}

const ROW_SQL: &str = "SELECT id, name, parent, kind, created FROM snapshots";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        name: r.get(1)?,
        parent: r.get(2)?,
        kind: kind_of(r.get(3)?),
        created: r.get(4)?,
    })
}

impl MetaStore {
    pub fn open(root: &Path) -> Result<MetaStore, Error> {
        fs::create_dir_all(root).map_err(Error::io(root))?;
        let conn = berth_store::open_sqlite(
            &root.join("metadata.db"),
            "CREATE TABLE IF NOT EXISTS snapshots (
                id      INTEGER PRIMARY KEY AUTOINCREMENT,
                name    TEXT NOT NULL UNIQUE,
                parent  INTEGER,
                kind    INTEGER NOT NULL,
                created INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);",
        )?;
        Ok(MetaStore {
            root: root.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn dir(&self, id: i64) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// The directory holding a snapshot's files.
    pub fn fs_dir(&self, id: i64) -> PathBuf {
        self.dir(id).join("fs")
    }

    /// An active snapshot, the only kind a layer may be written into.
    pub fn writable(&self, key: &str) -> Result<Row, Error> {
        let r = self.get(key)?;
        if r.kind != Kind::Active {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "only an active snapshot can be written",
            });
        }
        Ok(r)
    }

    /// An active snapshot or a view: committed ones have no mounts.
    pub fn mountable(&self, key: &str) -> Result<Row, Error> {
        let r = self.get(key)?;
        if r.kind == Kind::Committed {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "a committed snapshot has no mounts; make a view of it",
            });
        }
        Ok(r)
    }

    pub fn get(&self, name: &str) -> Result<Row, Error> {
        self.conn()
            .query_row(&format!("{ROW_SQL} WHERE name = ?1"), [name], row)
            .optional()?
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    fn by_id(&self, id: i64) -> Result<Row, Error> {
        self.conn()
            .query_row(&format!("{ROW_SQL} WHERE id = ?1"), [id], row)
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("#{id}")))
    }

    pub fn info(&self, r: &Row) -> Result<Info, Error> {
        let parent = match r.parent {
            Some(p) => Some(self.by_id(p)?.name),
            None => None,
        };
        Ok(Info {
            name: r.name.clone(),
            parent,
            kind: r.kind,
            created: r.created,
        })
    }

    /// The row's ancestors, closest first.
    pub fn ancestors(&self, r: &Row) -> Result<Vec<Row>, Error> {
        let mut out = Vec::new();
        let mut next = r.parent;
        while let Some(id) = next {
            let p = self.by_id(id)?;
            next = p.parent;
            out.push(p);
        }
        Ok(out)
    }

    /// Creates a snapshot: `populate` fills a fresh directory (given the parent's
    /// row), which then becomes `<root>/<id>` in the same transaction as the row.
    pub fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        allow_active_parent: bool,
        populate: impl FnOnce(&Path, Option<&Row>) -> Result<(), Error>,
    ) -> Result<Row, Error> {
        let parent_row = match parent {
            Some(p) => {
                let r = self.get(p)?;
                let ok =
                    r.kind == Kind::Committed || (allow_active_parent && r.kind == Kind::Active);
                if !ok {
                    return Err(Error::FailedPrecondition {
                        key: p.to_string(),
                        reason: "parent is not committed",
                    });
                }
                Some(r)
            }
            None => None,
        };
        if self.get(key).is_ok() {
            return Err(Error::AlreadyExists(key.to_string()));
        }
        let tmp = self.root.join(format!(
            "tmp-{}-{}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&tmp).map_err(Error::io(&tmp))?;
        let result = populate(&tmp, parent_row.as_ref())
            .and_then(|()| self.insert(key, parent_row.as_ref(), kind, &tmp));
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn insert(
        &self,
        key: &str,
        parent: Option<&Row>,
        kind: Kind,
        tmp: &Path,
    ) -> Result<Row, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(p) = parent {
            let still: Option<i64> = tx
                .query_row("SELECT id FROM snapshots WHERE id = ?1", [p.id], |r| {
                    r.get(0)
                })
                .optional()?;
            if still.is_none() {
                return Err(Error::NotFound(p.name.clone()));
            }
        }
        let created = now();
        let inserted = tx.execute(
            "INSERT INTO snapshots (name, parent, kind, created) VALUES (?1, ?2, ?3, ?4)",
            params![key, parent.map(|p| p.id), kind_code(kind), created],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(Error::AlreadyExists(key.to_string()));
            }
            other => other?,
        };
        let id = tx.last_insert_rowid();
        let dir = self.dir(id);
        fs::rename(tmp, &dir).map_err(Error::io(&dir))?;
        if let Err(e) = tx.commit() {
            let _ = fs::rename(&dir, tmp);
            return Err(e.into());
        }
        Ok(Row {
            id,
            name: key.to_string(),
            parent: parent.map(|p| p.id),
            kind,
            created,
        })
    }

    pub fn commit(&self, name: &str, key: &str) -> Result<(), Error> {
        let r = self.get(key)?;
        if r.kind != Kind::Active {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "only an active snapshot can be committed",
            });
        }
        if let Some(p) = r.parent
            && self.by_id(p)?.kind != Kind::Committed
        {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "parent is not committed",
            });
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let taken: Option<i64> = tx
            .query_row("SELECT id FROM snapshots WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        if taken.is_some() {
            return Err(Error::AlreadyExists(name.to_string()));
        }
        tx.execute(
            "UPDATE snapshots SET name = ?1, kind = ?2 WHERE id = ?3",
            params![name, kind_code(Kind::Committed), r.id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Points the childless active snapshot `key` at the committed `parent`.
    pub fn rebase(&self, key: &str, parent: Option<&str>) -> Result<(), Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let get = |name: &str| {
            tx.query_row(&format!("{ROW_SQL} WHERE name = ?1"), [name], row)
                .optional()?
                .ok_or_else(|| Error::NotFound(name.to_string()))
        };
        let r = get(key)?;
        if r.kind != Kind::Active {
            return Err(Error::FailedPrecondition {
                key: key.to_string(),
                reason: "only an active snapshot can be rebased",
            });
        }
        childless(&tx, &r)?;
        let parent_id = match parent {
            Some(p) => {
                let pr = get(p)?;
                if pr.kind != Kind::Committed {
                    return Err(Error::FailedPrecondition {
                        key: p.to_string(),
                        reason: "parent is not committed",
                    });
                }
                Some(pr.id)
            }
            None => None,
        };
        tx.execute(
            "UPDATE snapshots SET parent = ?1 WHERE id = ?2",
            params![parent_id, r.id],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn remove(&self, key: &str) -> Result<(), Error> {
        let r = self.get(key)?;
        {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            childless(&tx, &r)?;
            tx.execute("DELETE FROM snapshots WHERE id = ?1", [r.id])?;
            tx.commit()?;
        }
        let dir = self.dir(r.id);
        let doomed = self.root.join(format!("tmp-rm-{}", r.id));
        if fs::rename(&dir, &doomed).is_ok() {
            fs::remove_dir_all(&doomed).map_err(Error::io(&doomed))?;
        }
        Ok(())
    }

    pub fn walk(&self, visit: &mut dyn FnMut(&Info) -> Result<(), Error>) -> Result<(), Error> {
        let rows: Vec<Row> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(&format!("{ROW_SQL} ORDER BY id"))?;
            stmt.query_map([], row)?.collect::<Result<_, _>>()?
        };
        let names: std::collections::HashMap<i64, String> =
            rows.iter().map(|r| (r.id, r.name.clone())).collect();
        for r in &rows {
            visit(&Info {
                name: r.name.clone(),
                parent: r.parent.and_then(|p| names.get(&p).cloned()),
                kind: r.kind,
                created: r.created,
            })?;
        }
        Ok(())
    }

    /// Removes directories without rows: `tmp-*` and `<id>` whose row is gone.
    pub fn cleanup(&self) -> Result<usize, Error> {
        let ids: std::collections::HashSet<i64> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT id FROM snapshots")?;
            stmt.query_map([], |r| r.get::<_, i64>(0))?
                .collect::<Result<_, _>>()?
        };
        let mut removed = 0;
        for entry in fs::read_dir(&self.root).map_err(Error::io(&self.root))? {
            let entry = entry.map_err(Error::io(&self.root))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let orphan =
                name.starts_with("tmp-") || name.parse::<i64>().is_ok_and(|id| !ids.contains(&id));
            if orphan && entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                fs::remove_dir_all(entry.path()).map_err(Error::io(entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Refuses a snapshot that others are built on.
fn childless(conn: &Connection, r: &Row) -> Result<(), Error> {
    let children: i64 = conn.query_row(
        "SELECT COUNT(*) FROM snapshots WHERE parent = ?1",
        [r.id],
        |x| x.get(0),
    )?;
    if children > 0 {
        return Err(Error::FailedPrecondition {
            key: r.name.clone(),
            reason: "snapshot has children",
        });
    }
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Apparent size and inode count of a tree, hard links counted once.
pub(crate) fn disk_usage(dir: &Path) -> Result<crate::Usage, Error> {
    use std::os::unix::fs::MetadataExt;
    let mut usage = crate::Usage::default();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(Error::io(&d))? {
            let entry = entry.map_err(Error::io(&d))?;
            let meta = entry.metadata().map_err(Error::io(entry.path()))?;
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            usage.inodes += 1;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                usage.size += meta.len();
            }
        }
    }
    Ok(usage)
}

/// The [`crate::Snapshotter`] methods that a snapshotter answers from its
/// bookkeeping alone: `stat`, `usage`, `commit`, `remove`, `walk`, `path`,
/// `apply_dir` and `cleanup`. An implementation with a `meta: MetaStore`
/// field calls this inside its `impl Snapshotter` and writes only its
/// mechanism (directories and mount options).
macro_rules! bookkept_methods {
    () => {
        fn stat(&self, key: &str) -> Result<Info, Error> {
            let r = self.meta.get(key)?;
            self.meta.info(&r)
        }

        fn usage(&self, key: &str) -> Result<Usage, Error> {
            // The directory holds what the snapshot costs on disk: overlay's
            // its own changes only, vfs's its parents' files too.
            let r = self.meta.get(key)?;
            $crate::metastore::disk_usage(&self.meta.fs_dir(r.id))
        }

        fn commit(&self, name: &str, key: &str) -> Result<(), Error> {
            self.meta.commit(name, key)
        }

        fn remove(&self, key: &str) -> Result<(), Error> {
            self.meta.remove(key)
        }

        fn walk(&self, visit: &mut dyn FnMut(&Info) -> Result<(), Error>) -> Result<(), Error> {
            self.meta.walk(visit)
        }

        fn path(&self, key: &str) -> Result<PathBuf, Error> {
            Ok(self.meta.fs_dir(self.meta.get(key)?.id))
        }

        fn apply_dir(&self, key: &str) -> Result<PathBuf, Error> {
            Ok(self.meta.fs_dir(self.meta.writable(key)?.id))
        }

        fn cleanup(&self) -> Result<usize, Error> {
            self.meta.cleanup()
        }
    };
}
pub(crate) use bookkept_methods;
