//! The schema and its versions. `PRAGMA user_version` counts the migrations a
//! database has had; on open, those it lacks run in order, in one
//! transaction, so a kill leaves the old version or the new one. A database
//! of a newer version than this berth knows is refused: its tables may mean
//! things this berth would get wrong.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::Error;

/// `MIGRATIONS[n]` takes a database at version `n` to version `n + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The version this berth writes and understands.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// Version 1: the tables of every berth before the schema was numbered.
/// Stores written then have `user_version` 0 and these tables already, and
/// `IF NOT EXISTS` makes the step a no-op for them.
const V1: &str = "
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

/// Version 2: networks and the containers' endpoints on them (one address
/// per container and network, unique within the network).
const V2: &str = "
CREATE TABLE networks (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    config  TEXT NOT NULL
);
CREATE TABLE endpoints (
    network   TEXT NOT NULL,
    container TEXT NOT NULL,
    ip        TEXT NOT NULL,
    config    TEXT NOT NULL,
    PRIMARY KEY (network, container),
    UNIQUE (network, ip)
);
CREATE INDEX endpoints_container ON endpoints(container);
";

/// Version 3: the host ID ranges of `--userns=auto` containers, one per
/// container, none overlapping another (checked when one is taken).
const V3: &str = "
CREATE TABLE id_ranges (
    container TEXT PRIMARY KEY,
    uid       INTEGER NOT NULL,
    gid       INTEGER NOT NULL,
    size      INTEGER NOT NULL
);
";

/// Brings the database at `path` to [`VERSION`].
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    let current = version(conn)?;
    if current == VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while this one waited for the lock.
    let current = version(&tx)?;
    if current > VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found: current,
            supported: VERSION,
        });
    }
    for step in &MIGRATIONS[current as usize..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

fn version(conn: &Connection) -> Result<u32, Error> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}
