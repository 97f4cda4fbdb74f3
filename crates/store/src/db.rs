//! The metadata database: which images exist, their names, and the layers and
//! blobs each one holds on to.
//!
//! SQLite in WAL mode, so several berth processes use it at once; every change is
//! one `BEGIN IMMEDIATE` transaction. The database only records references:
//! whatever it names must exist before the row is written (blobs and snapshots are
//! created first), and rows are deleted before what they name, so a kill at any
//! instant leaves at worst unreferenced garbage that the next sweep removes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use berth_oci::{ChainId, Digest};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::Error;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id       TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    created  INTEGER NOT NULL,
    added    INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    labels   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    name  TEXT PRIMARY KEY,
    image TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image);
CREATE TABLE IF NOT EXISTS repo_digests (
    name  TEXT PRIMARY KEY,
    image TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image);
CREATE TABLE IF NOT EXISTS image_layers (
    image TEXT NOT NULL,
    idx   INTEGER NOT NULL,
    chain TEXT NOT NULL,
    PRIMARY KEY (image, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain);
CREATE TABLE IF NOT EXISTS image_blobs (
    image TEXT NOT NULL,
    blob  TEXT NOT NULL,
    PRIMARY KEY (image, blob)
);
CREATE TABLE IF NOT EXISTS blob_diff_ids (
    blob    TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS layers (
    chain   TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    size    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    image   TEXT NOT NULL,
    created INTEGER NOT NULL,
    record  TEXT NOT NULL,
    state   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image);
CREATE TABLE IF NOT EXISTS build_cache (
    key     TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    blob    TEXT,
    diff_id TEXT,
    size    INTEGER,
    chain   TEXT,
    used    INTEGER NOT NULL
);
";

/// Opens (creating) an SQLite database in WAL mode, as every berth process
/// shares it, and applies `schema`. Two processes creating the same database at
/// once can get "database is locked" straight away (switching a new file to WAL
/// needs an exclusive lock, and SQLite may answer BUSY there without waiting),
/// so the setup is retried for up to ten seconds.
pub fn open_sqlite(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let mut attempt = 0;
    loop {
        let opened = Connection::open(path).and_then(|conn| {
            conn.busy_timeout(Duration::from_secs(60))?;
            // Each berth command is a short process, often the only one open: a
            // checkpoint (and the WAL's deletion) at every close cost more than
            // the command's own work. SQLite checkpoints as the WAL grows instead.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(schema)?;
            truncate_long_wal(&conn, path)?;
            Ok(conn)
        });
        match opened {
            Err(e)
                if attempt < 200
                    && matches!(
                        e.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// WAL size past which the opening process checkpoints and empties it.
const WAL_TRUNCATE_BYTES: u64 = 4 << 20;

/// Keeps the WAL short. Without checkpoints on close, every process that opens
/// the database recovers the WAL's index by reading all of it, and recovery
/// forgets what earlier checkpoints copied back, so SQLite never restarts the
/// log: it grew to tens of megabytes, read in full by every command. A
/// TRUNCATE checkpoint, at most once per `WAL_TRUNCATE_BYTES` written, bounds
/// that read.
fn truncate_long_wal(conn: &Connection, path: &Path) -> rusqlite::Result<()> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES);
    if long {
        // The result row says whether another connection kept it from
        // finishing; the next opener tries again then.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// What the database keeps about an image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    /// Image ID: the config digest.
    pub id: Digest,
    /// The manifest's digest.
    pub manifest: Digest,
    /// Creation time from the config, seconds since the epoch (0 if unknown).
    pub created: i64,
    /// When the image came into this store, seconds since the epoch.
    pub added: i64,
    /// Sum of the uncompressed layer sizes, in bytes.
    pub size: u64,
    /// The config's labels, kept here so listing never reads configs.
    pub labels: BTreeMap<String, String>,
}

/// An image with its names.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    /// The image.
    pub record: ImageRecord,
    /// Fully qualified tags, e.g. `docker.io/library/busybox:latest`, sorted.
    pub tags: Vec<String>,
    /// Repo digests, e.g. `docker.io/library/busybox@sha256:…`, sorted.
    pub digests: Vec<String>,
}

/// A layer a build step made.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildLayer {
    /// The compressed blob.
    pub blob: Digest,
    /// Its uncompressed digest.
    pub diff_id: Digest,
    /// The blob's size.
    pub blob_size: u64,
    /// The chain ID of the snapshot it was committed as.
    pub chain: ChainId,
}

/// A cached build step: when it ran (its history time) and its layer, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildStep {
    /// The step's cache key.
    pub key: Digest,
    /// RFC 3339 time of the step.
    pub created: String,
    /// The layer it made (none for metadata steps).
    pub layer: Option<BuildLayer>,
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A layer snapshot's bookkeeping.
#[derive(Clone, Debug)]
pub struct LayerRecord {
    /// Chain ID naming the snapshot.
    pub chain: ChainId,
    /// The layer's uncompressed digest.
    pub diff_id: Digest,
    /// Bytes of file content in the layer.
    pub size: u64,
}

/// The database handle. Cheap to share between threads.
pub struct Db {
    conn: Mutex<Connection>,
}

fn digest_col(s: String) -> Result<Digest, Error> {
    Digest::parse(&s).map_err(|_| Error::Corrupt(format!("not a digest: {s:?}")))
}

impl Db {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, Error> {
        // SQLite reports a file it may not write as "readonly database"; the
        // system's own words name the file and the cause.
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(path)(e)),
            _ => {}
        }
        let conn = open_sqlite(path, SCHEMA)?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent, so a
        // poisoned mutex is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an image with the layers (chain IDs, bottom first) and blobs it uses.
    /// Replaces an earlier record of the same ID.
    pub fn put_image(
        &self,
        rec: &ImageRecord,
        layers: &[ChainId],
        blobs: &[Digest],
    ) -> Result<(), Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let labels =
            serde_json::to_string(&rec.labels).map_err(|e| Error::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO images (id, manifest, created, added, size, labels) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET manifest = excluded.manifest, size = excluded.size, labels = excluded.labels",
            params![rec.id.to_string(), rec.manifest.to_string(), rec.created, rec.added, rec.size as i64, labels],
        )?;
        tx.execute(
            "DELETE FROM image_layers WHERE image = ?1",
            [rec.id.to_string()],
        )?;
        tx.execute(
            "DELETE FROM image_blobs WHERE image = ?1",
            [rec.id.to_string()],
        )?;
        for (i, chain) in layers.iter().enumerate() {
            tx.execute(
                "INSERT INTO image_layers (image, idx, chain) VALUES (?1, ?2, ?3)",
                params![rec.id.to_string(), i as i64, chain.to_string()],
            )?;
        }
        for blob in blobs {
            tx.execute(
                "INSERT OR IGNORE INTO image_blobs (image, blob) VALUES (?1, ?2)",
                params![rec.id.to_string(), blob.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a layer snapshot's diff ID and size.
    pub fn put_layer(&self, layer: &LayerRecord) -> Result<(), Error> {
        self.conn().execute(
            "INSERT OR REPLACE INTO layers (chain, diff_id, size) VALUES (?1, ?2, ?3)",
            params![
                layer.chain.to_string(),
                layer.diff_id.to_string(),
                layer.size as i64
            ],
        )?;
        Ok(())
    }

    /// The recorded layer of a chain ID.
    pub fn layer(&self, chain: &ChainId) -> Result<Option<LayerRecord>, Error> {
        let row = self
            .conn()
            .query_row(
                "SELECT diff_id, size FROM layers WHERE chain = ?1",
                [chain.to_string()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((diff, size)) => Ok(Some(LayerRecord {
                chain: chain.clone(),
                diff_id: digest_col(diff)?,
                size: size as u64,
            })),
        }
    }

    /// Forgets a layer's bookkeeping.
    pub fn delete_layer(&self, chain: &ChainId) -> Result<(), Error> {
        self.conn()
            .execute("DELETE FROM layers WHERE chain = ?1", [chain.to_string()])?;
        Ok(())
    }

    /// Records that the layer blob `blob` was read and found to hold `diff_id`.
    pub fn put_blob_diff_id(&self, blob: &Digest, diff_id: &Digest) -> Result<(), Error> {
        self.conn().execute(
            "INSERT OR REPLACE INTO blob_diff_ids (blob, diff_id) VALUES (?1, ?2)",
            params![blob.to_string(), diff_id.to_string()],
        )?;
        Ok(())
    }

    /// The diff ID a layer blob was found to hold, if it was ever checked.
    pub fn blob_diff_id(&self, blob: &Digest) -> Result<Option<Digest>, Error> {
        let d: Option<String> = self
            .conn()
            .query_row(
                "SELECT diff_id FROM blob_diff_ids WHERE blob = ?1",
                [blob.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        d.map(digest_col).transpose()
    }

    /// Every blob found to hold `diff_id` (its compressed and uncompressed forms).
    pub fn blobs_with_diff_id(&self, diff_id: &Digest) -> Result<Vec<Digest>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT blob FROM blob_diff_ids WHERE diff_id = ?1")?;
        let rows = stmt.query_map([diff_id.to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(digest_col(row?)?);
        }
        Ok(out)
    }

    /// Adds blobs an image keeps alive (what a push compressed and sent).
    pub fn add_image_blobs(&self, image: &Digest, blobs: &[Digest]) -> Result<(), Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !image_exists(&tx, image)? {
            return Err(Error::ImageNotFound(image.clone()));
        }
        for blob in blobs {
            tx.execute(
                "INSERT OR IGNORE INTO image_blobs (image, blob) VALUES (?1, ?2)",
                params![image.to_string(), blob.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Points `name` at `image`; returns the image it pointed at before.
    pub fn tag(&self, name: &str, image: &Digest) -> Result<Option<Digest>, Error> {
        self.set_name("tags", name, image)
    }

    /// Records a repo digest (`repo@sha256:…`) for `image`.
    pub fn add_repo_digest(&self, name: &str, image: &Digest) -> Result<Option<Digest>, Error> {
        self.set_name("repo_digests", name, image)
    }

    fn set_name(&self, table: &str, name: &str, image: &Digest) -> Result<Option<Digest>, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The image may have been deleted since the caller resolved it (a
        // concurrent rmi): never leave a name pointing at nothing.
        if !image_exists(&tx, image)? {
            return Err(Error::ImageNotFound(image.clone()));
        }
        let before = image_named(&tx, table, name)?;
        tx.execute(
            &format!("INSERT OR REPLACE INTO {table} (name, image) VALUES (?1, ?2)"),
            params![name, image.to_string()],
        )?;
        tx.commit()?;
        before.map(digest_col).transpose()
    }

    /// The image a tag or repo digest names.
    pub fn resolve_name(&self, name: &str) -> Result<Option<Digest>, Error> {
        let conn = self.conn();
        for table in ["tags", "repo_digests"] {
            let img = image_named(&conn, table, name)?;
            if let Some(img) = img {
                return digest_col(img).map(Some);
            }
        }
        Ok(None)
    }

    /// Image IDs whose hex starts with `prefix`.
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<Digest>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM images WHERE id >= ?1 AND id < ?2")?;
        let lo = format!("sha256:{prefix}");
        let hi = format!("sha256:{prefix}\u{7f}");
        let rows = stmt.query_map([lo, hi], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }

    /// Every image with its names, newest first.
    pub fn images(&self) -> Result<Vec<ImageEntry>, Error> {
        self.query_images(None)
    }

    /// One image with its names.
    pub fn image(&self, id: &Digest) -> Result<Option<ImageEntry>, Error> {
        Ok(self.query_images(Some(id))?.pop())
    }

    fn query_images(&self, only: Option<&Digest>) -> Result<Vec<ImageEntry>, Error> {
        let conn = self.conn();
        let filter = if only.is_some() {
            "WHERE id = ?1"
        } else {
            "WHERE ?1 IS NULL OR 1"
        };
        let only_s = only.map(|d| d.to_string());
        let mut names: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
        for (i, table) in ["tags", "repo_digests"].into_iter().enumerate() {
            let where_ = if only.is_some() {
                "WHERE image = ?1"
            } else {
                "WHERE ?1 IS NULL OR 1"
            };
            let mut stmt = conn.prepare(&format!(
                "SELECT image, name FROM {table} {where_} ORDER BY name"
            ))?;
            let rows = stmt.query_map([&only_s], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (img, name) = row?;
                let e = names.entry(img).or_default();
                if i == 0 {
                    e.0.push(name)
                } else {
                    e.1.push(name)
                }
            }
        }
        let mut stmt = conn.prepare(&format!(
            "SELECT id, manifest, created, added, size, labels FROM images {filter} ORDER BY created DESC, id"
        ))?;
        let rows = stmt.query_map([&only_s], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, manifest, created, added, size, labels) = row?;
            let (tags, digests) = names.remove(&id).unwrap_or_default();
            out.push(ImageEntry {
                record: ImageRecord {
                    id: digest_col(id)?,
                    manifest: digest_col(manifest)?,
                    created,
                    added,
                    size: size as u64,
                    labels: serde_json::from_str(&labels)
                        .map_err(|e| Error::Corrupt(e.to_string()))?,
                },
                tags,
                digests,
            });
        }
        Ok(out)
    }

    /// The chain IDs of an image's layers, bottom first.
    pub fn image_layers(&self, id: &Digest) -> Result<Vec<ChainId>, Error> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT chain FROM image_layers WHERE image = ?1 ORDER BY idx")?;
        let rows = stmt.query_map([id.to_string()], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }

    /// `rmi NAME`, decided in one transaction so that a concurrent `tag` is seen:
    /// removes the name, and deletes the image (repo digests included) when no
    /// tag is left on it.
    pub fn remove_name(&self, name: &str) -> Result<Removal, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut image = None;
        for table in ["tags", "repo_digests"] {
            let img = image_named(&tx, table, name)?;
            if let Some(img) = img {
                tx.execute(&format!("DELETE FROM {table} WHERE name = ?1"), [name])?;
                image = Some(img);
            }
        }
        let Some(image) = image else {
            return Ok(Removal::NotFound);
        };
        let id = digest_col(image)?;
        let tags_left: i64 = tx.query_row(
            "SELECT COUNT(*) FROM tags WHERE image = ?1",
            [id.to_string()],
            |r| r.get(0),
        )?;
        let removal = if tags_left > 0 {
            Removal::Untagged { image: id }
        } else {
            let names = delete_image_rows(&tx, &id)?;
            Removal::Deleted { image: id, names }
        };
        tx.commit()?;
        Ok(removal)
    }

    /// `rmi ID`: deletes the image and its names, unless more than one tag names
    /// it and `force` is off.
    pub fn remove_image(&self, id: &Digest, force: bool) -> Result<Removal, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !image_exists(&tx, id)? {
            return Ok(Removal::NotFound);
        }
        let tags: i64 = tx.query_row(
            "SELECT COUNT(*) FROM tags WHERE image = ?1",
            [id.to_string()],
            |r| r.get(0),
        )?;
        if tags > 1 && !force {
            return Ok(Removal::Refused {
                tags: tags as usize,
            });
        }
        let names = delete_image_rows(&tx, id)?;
        tx.commit()?;
        Ok(Removal::Deleted {
            image: id.clone(),
            names,
        })
    }

    /// Every chain ID some image or the build cache uses.
    pub fn referenced_chains(&self) -> Result<HashSet<ChainId>, Error> {
        self.column_set(
            "SELECT chain FROM image_layers UNION SELECT chain FROM build_cache WHERE chain IS NOT NULL",
        )
    }

    /// Every blob some image or the build cache uses.
    pub fn referenced_blobs(&self) -> Result<HashSet<Digest>, Error> {
        self.column_set(
            "SELECT blob FROM image_blobs UNION SELECT blob FROM build_cache WHERE blob IS NOT NULL",
        )
    }

    /// Records a build step's result under its cache key.
    pub fn put_build_step(&self, step: &BuildStep) -> Result<(), Error> {
        let layer = step.layer.as_ref();
        self.conn().execute(
            "INSERT OR REPLACE INTO build_cache (key, created, blob, diff_id, size, chain, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                step.key.to_string(),
                step.created,
                layer.map(|l| l.blob.to_string()),
                layer.map(|l| l.diff_id.to_string()),
                layer.map(|l| l.blob_size as i64),
                layer.map(|l| l.chain.to_string()),
                chrono_now(),
            ],
        )?;
        Ok(())
    }

    /// The cached result of a build step, marked as used now.
    pub fn build_step(&self, key: &Digest) -> Result<Option<BuildStep>, Error> {
        let conn = self.conn();
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = conn
            .query_row(
                "SELECT created, blob, diff_id, size, chain FROM build_cache WHERE key = ?1",
                [key.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((created, blob, diff_id, size, chain)) = row else {
            return Ok(None);
        };
        conn.execute(
            "UPDATE build_cache SET used = ?2 WHERE key = ?1",
            params![key.to_string(), chrono_now()],
        )?;
        let layer = match (blob, diff_id, size, chain) {
            (Some(b), Some(d), Some(s), Some(c)) => Some(BuildLayer {
                blob: digest_col(b)?,
                diff_id: digest_col(d)?,
                blob_size: s as u64,
                chain: digest_col(c)?,
            }),
            _ => None,
        };
        Ok(Some(BuildStep {
            key: key.clone(),
            created,
            layer,
        }))
    }

    /// Forgets every cached build step; returns how many there were.
    pub fn clear_build_cache(&self) -> Result<usize, Error> {
        Ok(self.conn().execute("DELETE FROM build_cache", [])?)
    }

    /// Images using the layer `chain`.
    pub fn images_using(&self, chain: &ChainId) -> Result<Vec<Digest>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT DISTINCT image FROM image_layers WHERE chain = ?1")?;
        let rows = stmt.query_map([chain.to_string()], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }

    fn column_set(&self, sql: &str) -> Result<HashSet<Digest>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }
}

/// A container's row: its settings and its state, each a JSON document the
/// engine defines, kept apart so the monitor's state updates and a rename never
/// overwrite each other.
#[derive(Clone, Debug)]
pub struct ContainerRow {
    /// The 64-hex container ID.
    pub id: String,
    /// The unique name (without docker's leading `/`).
    pub name: String,
    /// The image ID it was created from.
    pub image: Digest,
    /// Creation time, nanoseconds since the epoch.
    pub created: i64,
    /// The container's settings.
    pub record: String,
    /// The container's state.
    pub state: String,
}

fn container_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, i64, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_container(row: (String, String, String, i64, String, String)) -> Result<ContainerRow, Error> {
    let (id, name, image, created, record, state) = row;
    Ok(ContainerRow {
        id,
        name,
        image: digest_col(image)?,
        created,
        record,
        state,
    })
}

const CONTAINER_COLS: &str = "SELECT id, name, image, created, record, state FROM containers";

impl Db {
    /// Records a new container. Returns false (and writes nothing) when the name
    /// is taken.
    pub fn put_container(&self, row: &ContainerRow) -> Result<bool, Error> {
        let conn = self.conn();
        let n = conn.execute(
            "INSERT OR IGNORE INTO containers (id, name, image, created, record, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![row.id, row.name, row.image.to_string(), row.created, row.record, row.state],
        )?;
        Ok(n == 1)
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{CONTAINER_COLS} ORDER BY created DESC"))?;
        let rows = stmt.query_map([], container_row)?;
        rows.map(|r| to_container(r?)).collect()
    }

    /// The container with this ID.
    pub fn container(&self, id: &str) -> Result<Option<ContainerRow>, Error> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("{CONTAINER_COLS} WHERE id = ?1"),
                [id],
                container_row,
            )
            .optional()?;
        row.map(to_container).transpose()
    }

    /// The IDs of containers named `name` exactly, or whose ID starts with it.
    pub fn find_containers(&self, name_or_prefix: &str) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        if let Some(id) = conn
            .query_row(
                "SELECT id FROM containers WHERE id = ?1 UNION ALL SELECT id FROM containers WHERE name = ?1 LIMIT 1",
                [name_or_prefix],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        {
            return Ok(vec![id]);
        }
        let mut stmt = conn.prepare("SELECT id FROM containers WHERE id >= ?1 AND id < ?2")?;
        let hi = format!("{name_or_prefix}\u{7f}");
        let rows = stmt.query_map([name_or_prefix, hi.as_str()], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Replaces a container's state document.
    pub fn set_container_state(&self, id: &str, state: &str) -> Result<(), Error> {
        self.conn().execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, state],
        )?;
        Ok(())
    }

    /// Renames a container. Returns false when the new name is taken.
    pub fn rename_container(&self, id: &str, name: &str) -> Result<bool, Error> {
        match self.conn().execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets a container.
    pub fn delete_container(&self, id: &str) -> Result<(), Error> {
        self.conn()
            .execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Names of the containers created from an image.
    pub fn containers_of_image(&self, image: &Digest) -> Result<Vec<ContainerRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{CONTAINER_COLS} WHERE image = ?1"))?;
        let rows = stmt.query_map([image.to_string()], container_row)?;
        rows.map(|r| to_container(r?)).collect()
    }
}

/// What [`Db::remove_name`] or [`Db::remove_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Nothing had that name or ID.
    NotFound,
    /// The name went; other tags keep the image.
    Untagged {
        /// The image.
        image: Digest,
    },
    /// The image was deleted together with these names (tags, then repo digests).
    Deleted {
        /// The image.
        image: Digest,
        /// Names removed with it.
        names: Vec<String>,
    },
    /// More than one tag names the image and removal was not forced.
    Refused {
        /// How many tags.
        tags: usize,
    },
}

/// Whether an image row exists.
fn image_exists(conn: &Connection, id: &Digest) -> Result<bool, Error> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM images WHERE id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// The image that `name` names in `table` (`tags` or `repo_digests`).
fn image_named(conn: &Connection, table: &str, name: &str) -> Result<Option<String>, Error> {
    Ok(conn
        .query_row(
            &format!("SELECT image FROM {table} WHERE name = ?1"),
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Deletes an image's rows; returns the names that pointed at it.
fn delete_image_rows(tx: &rusqlite::Transaction<'_>, id: &Digest) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for table in ["tags", "repo_digests"] {
        let mut stmt = tx.prepare(&format!(
            "SELECT name FROM {table} WHERE image = ?1 ORDER BY name"
        ))?;
        let rows = stmt.query_map([id.to_string()], |r| r.get::<_, String>(0))?;
        for r in rows {
            names.push(r?);
        }
    }
    for table in ["tags", "repo_digests", "image_layers", "image_blobs"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE image = ?1"),
            [id.to_string()],
        )?;
    }
    tx.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u8) -> ImageRecord {
        ImageRecord {
            id: Digest::of(&[n]),
            manifest: Digest::of(&[n, n]),
            created: n as i64,
            added: 0,
            size: 10,
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn tags_move_and_images_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("berth.db")).unwrap();
        let (a, b) = (rec(1), rec(2));
        let chain = Digest::of(b"layer");
        db.put_image(
            &a,
            std::slice::from_ref(&chain),
            std::slice::from_ref(&a.manifest),
        )
        .unwrap();
        db.put_image(&b, std::slice::from_ref(&chain), &[]).unwrap();
        assert_eq!(
            db.tag("y:1", &Digest::of(b"gone")).unwrap_err().kind(),
            berth_oci::Kind::NotFound
        );
        assert_eq!(db.tag("x:1", &a.id).unwrap(), None);
        assert_eq!(db.tag("x:1", &b.id).unwrap(), Some(a.id.clone()));
        assert_eq!(db.resolve_name("x:1").unwrap(), Some(b.id.clone()));
        let list = db.images().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].tags, vec!["x:1".to_string()]);
        assert_eq!(
            db.ids_with_prefix(&a.id.hex()[..5]).unwrap(),
            vec![a.id.clone()]
        );
        assert_eq!(
            db.remove_image(&b.id, false).unwrap(),
            Removal::Deleted {
                image: b.id.clone(),
                names: vec!["x:1".into()]
            }
        );
        assert_eq!(db.resolve_name("x:1").unwrap(), None);
        assert_eq!(db.referenced_chains().unwrap().len(), 1);
        db.tag("a:1", &a.id).unwrap();
        db.tag("a:2", &a.id).unwrap();
        assert_eq!(
            db.remove_image(&a.id, false).unwrap(),
            Removal::Refused { tags: 2 }
        );
        assert_eq!(
            db.remove_name("a:1").unwrap(),
            Removal::Untagged {
                image: a.id.clone()
            }
        );
        assert!(matches!(
            db.remove_name("a:2").unwrap(),
            Removal::Deleted { .. }
        ));
        assert!(db.referenced_chains().unwrap().is_empty());
        assert!(db.referenced_blobs().unwrap().is_empty());
    }
}
