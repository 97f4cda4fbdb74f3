//! Images as the engine shows them: resolving names and IDs, listing with
//! filters, tagging, and recording new images.

use std::collections::BTreeMap;

use berth_oci::image::{Descriptor, ImageConfig, MAX_LAYERS, Manifest, from_json};
use berth_oci::{ChainId, Digest, Reference, chain_ids, media};
use berth_store::db::{ImageEntry, ImageRecord};

use crate::images::import::descriptor;
use crate::{Engine, Error, Result, to_json};

/// Refuses an image of more than [`MAX_LAYERS`] layers; called where an image's
/// layer count is first known, before any of its layers is fetched or unpacked.
pub(crate) fn check_layer_count(image: impl std::fmt::Display, count: usize) -> Result<()> {
    if count > MAX_LAYERS {
        return Err(Error::TooManyLayers {
            image: image.to_string(),
            count,
            limit: MAX_LAYERS,
        });
    }
    Ok(())
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// Image ID: the config digest.
    pub id: Digest,
    /// The manifest's digest.
    pub manifest: Digest,
    /// Tags pointing at it.
    pub tags: Vec<Reference>,
    /// Repo digests pointing at it.
    pub digests: Vec<Reference>,
    /// Creation time from the config (seconds since the epoch).
    pub created: i64,
    /// When it came into this store.
    pub added: i64,
    /// Sum of its layers' uncompressed sizes.
    pub size: u64,
    /// Its config's labels.
    pub labels: BTreeMap<String, String>,
}

impl Image {
    fn from_entry(e: ImageEntry) -> Image {
        let parse = |names: Vec<String>| {
            names
                .iter()
                .filter_map(|n| Reference::parse(n).ok())
                .collect()
        };
        Image {
            id: e.record.id,
            manifest: e.record.manifest,
            tags: parse(e.tags),
            digests: parse(e.digests),
            created: e.record.created,
            added: e.record.added,
            size: e.record.size,
            labels: e.record.labels,
        }
    }
}

/// Filters of `berth images --filter`, all of which must match.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ImageFilter {
    /// `dangling=true|false`: untagged images only, or tagged only.
    pub dangling: Option<bool>,
    /// `reference=PATTERN`: a glob over `repo` or `repo:tag` (any may match).
    pub references: Vec<String>,
    /// `before=IMAGE`: created before that image.
    pub before: Option<String>,
    /// `since=IMAGE`: created after that image.
    pub since: Option<String>,
    /// `label=KEY` or `label=KEY=VALUE`.
    pub labels: Vec<String>,
}

impl ImageFilter {
    /// Parses one `--filter` argument.
    pub fn add(&mut self, arg: &str) -> Result<()> {
        let bad = |reason| Error::InvalidFilter {
            filter: arg.to_string(),
            reason,
        };
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE"))?;
        match k {
            "dangling" => {
                self.dangling = Some(v.parse().map_err(|_| bad("dangling takes true or false"))?)
            }
            "reference" => self.references.push(v.to_string()),
            "before" => self.before = Some(v.to_string()),
            "since" => self.since = Some(v.to_string()),
            "label" => self.labels.push(v.to_string()),
            _ => {
                return Err(bad(
                    "unknown filter; berth has dangling, reference, before, since, label",
                ));
            }
        }
        Ok(())
    }
}

/// Glob match as Go's `path.Match`: `*` and `?` do not cross `/`.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match (pattern.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(pattern, &s[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&pattern[1..], &s[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &s[1..]),
        _ => false,
    }
}

impl Engine {
    /// Images matching `filter`, newest first.
    pub fn images(&self, filter: &ImageFilter) -> Result<Vec<Image>> {
        let before = filter
            .before
            .as_deref()
            .map(|n| self.resolve(n))
            .transpose()?;
        let since = filter
            .since
            .as_deref()
            .map(|n| self.resolve(n))
            .transpose()?;
        let mut out = Vec::new();
        for img in self.all_images()?.iter() {
            if let Some(d) = filter.dangling
                && d != img.tags.is_empty()
            {
                continue;
            }
            if let Some(b) = &before
                && (img.created >= b.created || img.id == b.id)
            {
                continue;
            }
            if let Some(s) = &since
                && (img.created <= s.created || img.id == s.id)
            {
                continue;
            }
            if !filter.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => img.labels.get(k).is_some_and(|x| x == v),
                None => img.labels.contains_key(l),
            }) {
                continue;
            }
            if !filter.references.is_empty() {
                let keep: Vec<Reference> = img
                    .tags
                    .iter()
                    .filter(|t| {
                        filter.references.iter().any(|p| {
                            glob(p.as_bytes(), t.familiar().as_bytes())
                                || glob(p.as_bytes(), t.familiar_repository().as_bytes())
                                || glob(p.as_bytes(), t.to_string().as_bytes())
                        })
                    })
                    .cloned()
                    .collect();
                if keep.is_empty() {
                    continue;
                }
                out.push(Image {
                    tags: keep,
                    ..img.clone()
                });
                continue;
            }
            out.push(img.clone());
        }
        Ok(out)
    }

    /// Every image, read from the database again only when it changed since
    /// the last read.
    fn all_images(&self) -> Result<std::sync::Arc<[Image]>> {
        let now = self.db.generation()?;
        let mut seen = self.images_seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((then, images)) = &*seen
            && *then == now
        {
            return Ok(images.clone());
        }
        let images: std::sync::Arc<[Image]> = self
            .db
            .images()?
            .into_iter()
            .map(Image::from_entry)
            .collect();
        *seen = Some((now, images.clone()));
        Ok(images)
    }

    /// Finds an image by reference (`busybox`, `repo:tag`, `repo@sha256:…`), full ID
    /// (`sha256:…`) or ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let id = self.resolve_id(name)?;
        let entry = self
            .db
            .image(&id)?
            .ok_or_else(|| Error::ImageNotFound(name.to_string()))?;
        Ok(Image::from_entry(entry))
    }

    fn resolve_id(&self, name: &str) -> Result<Digest> {
        let hex_prefix = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if let Some(hex) = name.strip_prefix("sha256:")
            && hex_prefix(hex)
        {
            return self.by_prefix(name, hex);
        }
        let reference = Reference::parse(name);
        if let Ok(r) = &reference {
            let r = r.clone().with_default_tag();
            if let Some(id) = self.db.resolve_name(&r.to_string())? {
                return Ok(id);
            }
        }
        if hex_prefix(name) {
            return self.by_prefix(name, name);
        }
        match reference {
            Ok(r) => Err(Error::ImageNotFound(r.with_default_tag().familiar())),
            Err(e) => Err(e.into()),
        }
    }

    fn by_prefix(&self, name: &str, hex: &str) -> Result<Digest> {
        let mut ids = self.db.ids_with_prefix(hex)?;
        match ids.len() {
            0 => Err(Error::ImageNotFound(name.to_string())),
            1 => Ok(ids.remove(0)),
            _ => Err(Error::AmbiguousId(name.to_string())),
        }
    }

    /// `berth tag SOURCE TARGET`. Returns the image the target named before, if
    /// another.
    pub fn tag(&self, source: &str, target: &str) -> Result<Option<Digest>> {
        let img = self.resolve(source)?;
        let target = Reference::parse(target)?;
        if target.digest().is_some() {
            return Err(Error::Oci(berth_oci::Error::InvalidReference {
                value: target.familiar(),
                reason: "refusing to create a tag with a digest reference",
            }));
        }
        let target = target.with_default_tag();
        let before = self.db.tag(&target.to_string(), &img.id)?;
        self.emit(
            "image",
            "tag",
            &img.id.to_string(),
            &[("name", &target.familiar())],
        );
        Ok(before.filter(|b| *b != img.id))
    }

    /// The manifest of an image.
    pub(crate) fn manifest_of(&self, img: &Image) -> Result<(Vec<u8>, Manifest)> {
        let raw = self.blobs.read(&img.manifest)?;
        let m = from_json("manifest", &raw)?;
        Ok((raw, m))
    }

    /// The config of an image.
    pub(crate) fn config_of(&self, img: &Image) -> Result<(Vec<u8>, ImageConfig)> {
        let raw = self.blobs.read(&img.id)?;
        let c = from_json("image config", &raw)?;
        Ok((raw, c))
    }

    /// Stores `config` and an OCI manifest of it and `layers` as blobs, and
    /// records the image under `tags`. Returns the image ID. The caller holds
    /// the GC lock shared; the layers are in the store and unpacked.
    pub(crate) fn write_image(
        &self,
        config: &ImageConfig,
        layers: Vec<Descriptor>,
        tags: &[Reference],
    ) -> Result<Digest> {
        let name = tags
            .first()
            .map_or("being written".to_string(), |t| t.familiar());
        check_layer_count(name, config.rootfs.diff_ids.len())?;
        let config_bytes = to_json(config)?;
        let config_digest = self.blobs.put(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: descriptor(
                media::OCI_CONFIG,
                config_digest.clone(),
                config_bytes.len() as u64,
            ),
            layers,
            annotations: Default::default(),
            extra: Default::default(),
        };
        let manifest_digest = self.blobs.put(&to_json(&manifest)?)?;
        let chains = chain_ids(&config.rootfs.diff_ids);
        self.record_image(&manifest_digest, &manifest, config, &chains, tags)?;
        Ok(config_digest)
    }

    /// Records an image whose manifest, config and layer blobs are in the store and
    /// whose layers are unpacked, and points `tags` at it. Returns, per tag, the
    /// other image it named before.
    pub(crate) fn record_image(
        &self,
        manifest: &Digest,
        manifest_doc: &Manifest,
        config: &ImageConfig,
        chains: &[ChainId],
        tags: &[Reference],
    ) -> Result<Vec<(Reference, Digest)>> {
        let mut size = 0;
        for c in chains {
            size += self.db.layer(c)?.map(|l| l.size).unwrap_or(0);
        }
        let id = manifest_doc.config.digest.clone();
        let labels = config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let rec = ImageRecord {
            id: id.clone(),
            manifest: manifest.clone(),
            created: config
                .created
                .as_deref()
                .and_then(crate::parse_time)
                .unwrap_or(0),
            added: chrono::Utc::now().timestamp(),
            size,
            labels,
        };
        let mut blobs = vec![manifest.clone(), id.clone()];
        blobs.extend(manifest_doc.layers.iter().map(|l| l.digest.clone()));
        self.db.put_image(&rec, chains, &blobs)?;
        let mut replaced = Vec::new();
        for t in tags {
            if let Some(before) = self.db.tag(&t.to_string(), &id)?
                && before != id
            {
                replaced.push((t.clone(), before));
            }
        }
        Ok(replaced)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_like_go_path_match() {
        assert!(super::glob(b"busy*", b"busybox:latest"));
        assert!(super::glob(b"*:1.?", b"a:1.0"));
        assert!(!super::glob(b"*", b"a/b"));
        assert!(super::glob(b"*/*", b"a/b"));
    }
}
