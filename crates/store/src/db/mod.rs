//! The metadata database: which images exist, their names, and the layers and
//! blobs each one holds on to.
//!
//! SQLite in WAL mode, so several berth processes use it at once; every change is
//! one `BEGIN IMMEDIATE` transaction. The database only records references:
//! whatever it names must exist before the row is written (blobs and snapshots are
//! created first), and rows are deleted before what they name, so a kill at any
//! instant leaves at worst unreferenced garbage that the next sweep removes.
//!
//! One module per table family: `images` (images, tags, repo digests, their
//! layers and blobs), `layers` (layer snapshots and verified blob diff IDs),
//! `containers`, `networks` (networks and the containers' endpoints), `build_cache`, and `references` (what the GC must keep);
//! `schema` numbers the schema and migrates older databases on open.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use berth_oci::Digest;
use rusqlite::Connection;

use crate::Error;

mod build_cache;
mod containers;
mod images;
mod layers;
mod networks;
mod references;
mod schema;

pub use build_cache::{BuildLayer, BuildStep};
pub use containers::{ContainerRow, IdRange};
pub use images::{ImageEntry, ImageRecord, Removal};
pub use layers::LayerRecord;
pub use networks::{EndpointRefusal, EndpointRow, NetworkRow};
pub use schema::VERSION as SCHEMA_VERSION;

/// Opens (creating) an SQLite database in WAL mode, as every berth process
/// shares it, and applies `schema`. Two processes creating the same database at
/// once can get "database is locked" straight away (switching a new file to WAL
/// needs an exclusive lock, and SQLite may answer BUSY there without waiting),
/// so the setup is retried for up to ten seconds. `schema` (`IF NOT EXISTS`
/// statements) is applied when the database's `user_version` is 0 and the
/// version then set to 1: a database that needs migrations uses the version
/// itself, and passes an empty schema (as [`Db::open`] does).
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
            // Applied once: parsing it again at every open was a share of
            // every command's time. A database with tables and no version
            // (made before this) is given it; the statements are IF NOT EXISTS.
            if !schema.is_empty() {
                let applied: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                if applied == 0 {
                    conn.execute_batch(schema)?;
                    conn.pragma_update(None, "user_version", 1)?;
                }
            }
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

/// WAL size past which the opening process checkpoints and empties it. The
/// first connection of every command reads the whole WAL back (recovery):
/// at 4 MiB a `run --rm` read 3.3 MB of its two databases in 831 reads and
/// checksummed it all; a `run --rm` writes some 32 kB to each, so 256 KiB
/// costs one checkpoint every few runs.
const WAL_TRUNCATE_BYTES: u64 = 256 << 10;

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

/// A point in the database's history, from [`Db::generation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(i64, u64);

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
        let mut conn = open_sqlite(path, "")?;
        schema::migrate(&mut conn, path)?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    /// Where the database stands: equal generations mean no commit in
    /// between, from this handle or any other connection (another process
    /// included), so whatever was read at the first may be reused.
    pub fn generation(&self) -> Result<Generation, Error> {
        let conn = self.conn();
        // data_version moves on other connections' commits, total_changes
        // on this one's.
        let others: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(Generation(others, conn.total_changes()))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent, so a
        // poisoned mutex is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
