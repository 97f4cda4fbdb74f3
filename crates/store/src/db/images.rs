//! Images and their names: the `images`, `tags`, `repo_digests`,
//! `image_layers` and `image_blobs` tables.

use std::collections::{BTreeMap, HashMap};

use berth_oci::{ChainId, Digest};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Db, digest_col};
use crate::Error;

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

impl Db {
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
        let mut stmt = conn.prepare_cached("SELECT id FROM images WHERE id >= ?1 AND id < ?2")?;
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
            let mut stmt = conn.prepare_cached(&format!(
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
        let mut stmt = conn.prepare_cached(&format!(
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
            conn.prepare_cached("SELECT chain FROM image_layers WHERE image = ?1 ORDER BY idx")?;
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

    /// Images using the layer `chain`.
    pub fn images_using(&self, chain: &ChainId) -> Result<Vec<Digest>, Error> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT DISTINCT image FROM image_layers WHERE chain = ?1")?;
        let rows = stmt.query_map([chain.to_string()], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }
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
