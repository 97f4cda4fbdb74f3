//! What the garbage collector must keep: every layer and blob an image or
//! the build cache names.

use std::collections::HashSet;

use berth_oci::{ChainId, Digest};

use super::{Db, digest_col};
use crate::Error;

impl Db {
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

    fn column_set(&self, sql: &str) -> Result<HashSet<Digest>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }
}
