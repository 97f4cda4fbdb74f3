//! Layer snapshots (`layers`) and the diff IDs layer blobs were verified to
//! hold (`blob_diff_ids`).

use berth_oci::{ChainId, Digest};
use rusqlite::{OptionalExtension, params};

use super::{Db, digest_col};
use crate::Error;

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

impl Db {
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
        let mut stmt = conn.prepare_cached("SELECT blob FROM blob_diff_ids WHERE diff_id = ?1")?;
        let rows = stmt.query_map([diff_id.to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(digest_col(row?)?);
        }
        Ok(out)
    }
}
