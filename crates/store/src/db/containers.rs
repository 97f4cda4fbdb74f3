//! Containers: one row each, settings and state as JSON documents the engine
//! defines.

use berth_oci::Digest;
use rusqlite::{OptionalExtension, params};

use super::{Db, digest_col};
use crate::Error;

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

/// Host IDs taken by one container's user namespace: `size` UIDs from
/// `uid`, `size` GIDs from `gid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First host UID.
    pub uid: u32,
    /// First host GID.
    pub gid: u32,
    /// How many of each.
    pub size: u32,
}

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
        let mut stmt = conn.prepare_cached(&format!("{CONTAINER_COLS} ORDER BY created DESC"))?;
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
        let mut stmt =
            conn.prepare_cached("SELECT id FROM containers WHERE id >= ?1 AND id < ?2")?;
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

    /// Replaces a container's settings document (`update`).
    pub fn set_container_record(&self, id: &str, record: &str) -> Result<(), Error> {
        self.conn().execute(
            "UPDATE containers SET record = ?2 WHERE id = ?1",
            params![id, record],
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
    /// Its endpoints and ID range go with it: their addresses and IDs are
    /// free again.
    pub fn delete_container(&self, id: &str) -> Result<(), Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM endpoints WHERE container = ?1", [id])?;
        tx.execute("DELETE FROM id_ranges WHERE container = ?1", [id])?;
        tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Takes a host ID range for `container`: `choose` picks the first
    /// UID and GID of `size` IDs given the ranges taken (`IdRange`s), all in
    /// one transaction. `None` when it finds none free.
    pub fn take_id_range(
        &self,
        container: &str,
        size: u32,
        choose: impl FnOnce(&[IdRange]) -> Option<(u32, u32)>,
    ) -> Result<Option<IdRange>, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let taken = {
            let mut stmt = tx.prepare_cached("SELECT uid, gid, size FROM id_ranges")?;
            let rows = stmt.query_map([], |r| {
                Ok(IdRange {
                    uid: r.get(0)?,
                    gid: r.get(1)?,
                    size: r.get(2)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let Some((uid, gid)) = choose(&taken) else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO id_ranges (container, uid, gid, size) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![container, uid, gid, size],
        )?;
        tx.commit()?;
        Ok(Some(IdRange { uid, gid, size }))
    }

    /// Gives back a container's ID range (one not yet recorded with the
    /// container, when creating it failed).
    pub fn release_id_range(&self, container: &str) -> Result<(), Error> {
        self.conn()
            .execute("DELETE FROM id_ranges WHERE container = ?1", [container])?;
        Ok(())
    }

    /// Names of the containers created from an image.
    pub fn containers_of_image(&self, image: &Digest) -> Result<Vec<ContainerRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{CONTAINER_COLS} WHERE image = ?1"))?;
        let rows = stmt.query_map([image.to_string()], container_row)?;
        rows.map(|r| to_container(r?)).collect()
    }
}
