//! The build cache: a step's key → when it ran and the layer it made.

use berth_oci::{ChainId, Digest};
use rusqlite::{OptionalExtension, params};

use super::{Db, digest_col};
use crate::Error;

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

impl Db {
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

    /// How many steps the build cache holds.
    pub fn build_cache_len(&self) -> Result<usize, Error> {
        let n: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM build_cache", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Forgets every cached build step; returns how many there were.
    pub fn clear_build_cache(&self) -> Result<usize, Error> {
        Ok(self.conn().execute("DELETE FROM build_cache", [])?)
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
