//! Networks and endpoints: a row per network (its settings a JSON document
//! the engine defines) and a row per container on a network, whose address
//! is unique in the network. An address is handed out inside the
//! transaction that records it, so two berth processes starting containers
//! at once never get the same one.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Db;
use crate::Error;

/// A network's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRow {
    /// The 64-hex network ID.
    pub id: String,
    /// The unique name.
    pub name: String,
    /// Creation time, nanoseconds since the epoch.
    pub created: i64,
    /// The network's settings.
    pub config: String,
}

/// A container's place on a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRow {
    /// The network's ID.
    pub network: String,
    /// The container's ID.
    pub container: String,
    /// Its address on the network.
    pub ip: String,
    /// The endpoint's settings (aliases, MAC, …).
    pub config: String,
}

const NETWORK_COLS: &str = "SELECT id, name, created, config FROM networks";
const ENDPOINT_COLS: &str = "SELECT network, container, ip, config FROM endpoints";

fn network_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetworkRow> {
    Ok(NetworkRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        config: r.get(3)?,
    })
}

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        network: r.get(0)?,
        container: r.get(1)?,
        ip: r.get(2)?,
        config: r.get(3)?,
    })
}

/// Why an endpoint could not be recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum EndpointRefusal {
    /// The container is on the network already.
    AlreadyOn,
    /// The chooser found no address (the network is full, or a wanted
    /// address is taken).
    NoAddress,
}

impl Db {
    /// Records a network, unless its name is taken (then false) or `check`
    /// refuses it given the networks that exist (its error is returned):
    /// a subnet that overlaps another is refused here, in the transaction,
    /// so two concurrent creations cannot both take it.
    pub fn put_network<E>(
        &self,
        row: &NetworkRow,
        check: impl FnOnce(&[NetworkRow]) -> Result<(), E>,
    ) -> Result<Result<bool, E>, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = {
            let mut stmt = tx.prepare_cached(NETWORK_COLS)?;
            let rows = stmt.query_map([], network_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        if existing.iter().any(|n| n.name == row.name) {
            return Ok(Ok(false));
        }
        if let Err(e) = check(&existing) {
            return Ok(Err(e));
        }
        tx.execute(
            "INSERT INTO networks (id, name, created, config) VALUES (?1, ?2, ?3, ?4)",
            params![row.id, row.name, row.created, row.config],
        )?;
        tx.commit()?;
        Ok(Ok(true))
    }

    /// Every network, oldest first.
    pub fn networks(&self) -> Result<Vec<NetworkRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{NETWORK_COLS} ORDER BY created, name"))?;
        let rows = stmt.query_map([], network_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The network named `name` exactly, with this ID, or the IDs starting
    /// with it.
    pub fn find_networks(&self, name_or_prefix: &str) -> Result<Vec<NetworkRow>, Error> {
        let conn = self.conn();
        if let Some(row) = conn
            .query_row(
                &format!(
                    "{NETWORK_COLS} WHERE id = ?1 UNION ALL {NETWORK_COLS} WHERE name = ?1 LIMIT 1"
                ),
                [name_or_prefix],
                network_row,
            )
            .optional()?
        {
            return Ok(vec![row]);
        }
        let mut stmt =
            conn.prepare_cached(&format!("{NETWORK_COLS} WHERE id >= ?1 AND id < ?2"))?;
        let hi = format!("{name_or_prefix}\u{7f}");
        let rows = stmt.query_map([name_or_prefix, hi.as_str()], network_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a network unless a container is on it: the containers on it
    /// are returned then and nothing changes.
    pub fn delete_network(&self, id: &str) -> Result<Vec<String>, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let users = {
            let mut stmt =
                tx.prepare_cached("SELECT container FROM endpoints WHERE network = ?1")?;
            let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        if users.is_empty() {
            tx.execute("DELETE FROM networks WHERE id = ?1", [id])?;
            tx.commit()?;
        }
        Ok(users)
    }

    /// Records `container` on `network` with the address `choose` picks
    /// given the addresses taken there, all in one transaction.
    pub fn add_endpoint(
        &self,
        network: &str,
        container: &str,
        config: &str,
        choose: impl FnOnce(&[String]) -> Option<String>,
    ) -> Result<Result<String, EndpointRefusal>, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let taken = {
            let mut stmt =
                tx.prepare_cached("SELECT container, ip FROM endpoints WHERE network = ?1")?;
            let rows = stmt.query_map([network], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        if taken.iter().any(|(c, _)| c == container) {
            return Ok(Err(EndpointRefusal::AlreadyOn));
        }
        let ips: Vec<String> = taken.into_iter().map(|(_, ip)| ip).collect();
        let Some(ip) = choose(&ips) else {
            return Ok(Err(EndpointRefusal::NoAddress));
        };
        tx.execute(
            "INSERT INTO endpoints (network, container, ip, config) VALUES (?1, ?2, ?3, ?4)",
            params![network, container, ip, config],
        )?;
        tx.commit()?;
        Ok(Ok(ip))
    }

    /// Takes a container off a network (false if it was not on it).
    pub fn delete_endpoint(&self, network: &str, container: &str) -> Result<bool, Error> {
        let n = self.conn().execute(
            "DELETE FROM endpoints WHERE network = ?1 AND container = ?2",
            [network, container],
        )?;
        Ok(n == 1)
    }

    /// The endpoints on a network.
    pub fn network_endpoints(&self, network: &str) -> Result<Vec<EndpointRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{ENDPOINT_COLS} WHERE network = ?1 ORDER BY rowid"
        ))?;
        let rows = stmt.query_map([network], endpoint_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A container's endpoints, in the order it joined the networks.
    pub fn container_endpoints(&self, container: &str) -> Result<Vec<EndpointRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{ENDPOINT_COLS} WHERE container = ?1 ORDER BY rowid"
        ))?;
        let rows = stmt.query_map([container], endpoint_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every endpoint.
    pub fn endpoints(&self) -> Result<Vec<EndpointRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{ENDPOINT_COLS} ORDER BY rowid"))?;
        let rows = stmt.query_map([], endpoint_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
