//! What the endpoints do, over a [`Storage`]: blobs, uploads, manifests, tags,
//! referrers, the catalog and search. HTTP is the caller's business.

use berth_oci::Kind;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_oci::image::{Descriptor, ImageConfig, Index, Manifest};
use berth_oci::reference::valid_tag;
use berth_oci::{Digest, media};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::errors::{ApiError, ApiResult, Code};
use crate::storage::{ByteStream, Meta, Storage, keys};

/// The manifest types berth stores and serves.
const MANIFEST_TYPES: [&str; 4] = [
    media::OCI_MANIFEST,
    media::OCI_INDEX,
    media::DOCKER_MANIFEST,
    media::DOCKER_MANIFEST_LIST,
];

/// Manifests served from memory are content-addressed, so caching them is
/// safe with several servers on one bucket; this bounds the memory.
const MANIFEST_CACHE_BYTES: usize = 64 << 20;

/// The registry: storage plus the rules of the distribution spec.
pub struct Registry {
    /// Where everything is kept.
    pub storage: Arc<dyn Storage>,
    /// Limits and switches.
    pub config: Config,
    manifests: Mutex<ManifestCache>,
    descriptions: Mutex<HashMap<Digest, String>>,
}

#[derive(Default)]
struct ManifestCache {
    bytes: usize,
    entries: HashMap<Digest, Bytes>,
    /// The type each repository's revision was stored with. Another server
    /// on the same bucket may re-PUT the same bytes with another type of the
    /// same kind (a schema2 or an OCI manifest without `mediaType`); a stale
    /// entry then serves the older of two types the bytes were validated as,
    /// never a manifest as an index.
    types: HashMap<(String, Digest), &'static str>,
}

impl ManifestCache {
    fn remember_type(&mut self, name: &str, digest: &Digest, media_type: &str) {
        if let Some(t) = MANIFEST_TYPES.iter().find(|t| **t == media_type) {
            self.bytes += name.len() + 128;
            self.types.insert((name.to_string(), digest.clone()), t);
        }
    }
}

/// A manifest as served.
pub struct ServedManifest {
    /// Its bytes, exactly as pushed.
    pub body: Bytes,
    /// Its media type (the Content-Type).
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
}

/// What a manifest PUT stored.
pub struct StoredManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// The subject it refers to, if any.
    pub subject: Option<Digest>,
}

/// An upload session's progress.
pub struct UploadState {
    /// Bytes received so far.
    pub size: u64,
    parts: Vec<Part>,
}

/// One stored chunk of an upload.
struct Part {
    offset: u64,
    /// Its sha256 when this process just hashed it (else it is in storage, if at all).
    digest: Option<Digest>,
}

#[derive(Serialize, Deserialize)]
struct UploadInfo {
    repository: String,
    started: u64,
}

/// One search hit, in Docker Hub's `/v1/search` shape.
#[derive(Debug, Serialize)]
pub struct SearchHit {
    /// Repository name.
    pub name: String,
    /// Description from the image's labels.
    pub description: String,
    /// Always 0: this registry has no stars.
    pub star_count: u64,
    /// Always false.
    pub is_official: bool,
    /// Always false.
    pub is_automated: bool,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn parse_digest(s: &str) -> ApiResult<Digest> {
    Digest::parse(s).map_err(|e| ApiError::new(Code::DigestInvalid, e.to_string()))
}

fn blob_unknown(d: &Digest) -> ApiError {
    ApiError::new(Code::BlobUnknown, "blob unknown to registry")
        .detail(serde_json::json!({ "digest": d.to_string() }))
}

fn manifest_unknown(reference: &str) -> ApiError {
    ApiError::new(Code::ManifestUnknown, "manifest unknown")
        .detail(serde_json::json!({ "reference": reference }))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::ManifestInvalid, message)
}

/// Wraps a request body: fails once it passes `max` bytes or stalls for `idle`.
pub fn bounded(body: ByteStream, max: u64, idle: Duration) -> ByteStream {
    let state = (body, 0u64, false);
    Box::pin(futures_util::stream::unfold(
        state,
        move |(mut body, seen, done)| async move {
            if done {
                return None;
            }
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped sending the body",
                    )),
                    (body, seen, true),
                )),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(e), (body, seen, true))),
                Ok(Some(Ok(data))) => {
                    let seen = seen + data.len() as u64;
                    if seen > max {
                        Some((
                            Err(std::io::Error::new(
                                std::io::ErrorKind::FileTooLarge,
                                format!("the body is larger than the limit of {max} bytes"),
                            )),
                            (body, seen, true),
                        ))
                    } else {
                        Some((Ok(data), (body, seen, false)))
                    }
                }
            }
        },
    ))
}

impl Registry {
    /// A registry over `storage`.
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> Registry {
        Registry {
            storage,
            config,
            manifests: Mutex::new(ManifestCache::default()),
            descriptions: Mutex::new(HashMap::new()),
        }
    }

    fn writable(&self) -> ApiResult<()> {
        if self.config.read_only {
            return Err(ApiError::new(
                Code::Unsupported,
                "the registry is read-only",
            ));
        }
        Ok(())
    }

    fn deletable(&self) -> ApiResult<()> {
        self.writable()?;
        if !self.config.delete {
            return Err(ApiError::new(
                Code::Unsupported,
                "deletion is disabled on this registry",
            ));
        }
        Ok(())
    }

    // ---- blobs ----

    /// A blob's metadata when it exists and is linked into `name`.
    async fn linked_blob(&self, name: &str, d: &Digest) -> ApiResult<Option<Meta>> {
        let (link, blob) = futures_util::future::join(
            self.storage.stat(&keys::layer_link(name, d)),
            self.storage.stat(&keys::blob(d)),
        )
        .await;
        Ok(match (link?, blob?) {
            (Some(_), Some(b)) => Some(b),
            _ => None,
        })
    }

    /// A blob of repository `name`: its size; BLOB_UNKNOWN unless it is linked there.
    pub async fn blob_size(&self, name: &str, digest: &str) -> ApiResult<u64> {
        let d = parse_digest(digest)?;
        match self.linked_blob(name, &d).await? {
            Some(b) => Ok(b.size),
            None => Err(blob_unknown(&d)),
        }
    }

    /// A blob's bytes (or a range), with its total size.
    pub async fn blob(
        &self,
        name: &str,
        digest: &str,
        range: Option<Range<u64>>,
    ) -> ApiResult<(u64, ByteStream)> {
        let d = parse_digest(digest)?;
        if self
            .storage
            .stat(&keys::layer_link(name, &d))
            .await?
            .is_none()
        {
            return Err(blob_unknown(&d));
        }
        self.storage
            .get_stream(&keys::blob(&d), range)
            .await?
            .ok_or_else(|| blob_unknown(&d))
    }

    /// Removes a blob from a repository (the bytes go with garbage collection).
    pub async fn delete_blob(&self, name: &str, digest: &str) -> ApiResult<()> {
        self.deletable()?;
        let d = parse_digest(digest)?;
        let link = keys::layer_link(name, &d);
        if self.storage.stat(&link).await?.is_none() {
            return Err(blob_unknown(&d));
        }
        Ok(self.storage.delete(&link).await?)
    }

    /// Links a blob of repository `from` into `name`; false when `from` lacks it.
    pub async fn mount(&self, name: &str, digest: &str, from: &str) -> ApiResult<bool> {
        self.writable()?;
        let d = parse_digest(digest)?;
        if self.blob_size(from, digest).await.is_err() {
            return Ok(false);
        }
        self.storage
            .put(&keys::layer_link(name, &d), Bytes::new())
            .await?;
        Ok(true)
    }

    // ---- uploads ----

    /// Opens an upload session in `name`.
    pub async fn start_upload(&self, name: &str) -> ApiResult<String> {
        self.writable()?;
        let id = crate::new_uuid();
        let info = UploadInfo {
            repository: name.to_string(),
            started: unix_now(),
        };
        let json = serde_json::to_vec(&info).unwrap_or_default();
        self.storage
            .put(&keys::upload_info(&id), Bytes::from(json))
            .await?;
        Ok(id)
    }

    /// Where an upload stands; BLOB_UPLOAD_UNKNOWN unless it is a live session of `name`.
    pub async fn upload_state(&self, name: &str, id: &str) -> ApiResult<UploadState> {
        let unknown = || ApiError::new(Code::BlobUploadUnknown, "blob upload unknown to registry");
        if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(unknown());
        }
        let info = self
            .storage
            .get(&keys::upload_info(id))
            .await?
            .ok_or_else(unknown)?;
        let info: UploadInfo = serde_json::from_slice(&info).map_err(|_| unknown())?;
        if info.repository != name
            || unix_now().saturating_sub(info.started) > self.config.limits.upload_expiry
        {
            return Err(unknown());
        }
        let mut parts = Vec::new();
        let mut size = 0;
        for m in self.storage.list(&keys::upload_parts(id)).await? {
            let Ok(offset) = m.name.parse::<u64>() else {
                continue;
            };
            if offset != size {
                return Err(ApiError::new(
                    Code::BlobUploadInvalid,
                    "upload parts are not contiguous",
                ));
            }
            parts.push(Part {
                offset,
                digest: None,
            });
            size += m.size;
        }
        Ok(UploadState { size, parts })
    }

    /// Appends a chunk. `start` is Content-Range's first byte; `len` its length.
    /// Returns the session as it stands after the chunk.
    pub async fn append(
        &self,
        name: &str,
        id: &str,
        start: Option<u64>,
        len: Option<u64>,
        body: ByteStream,
    ) -> ApiResult<UploadState> {
        self.writable()?;
        let mut state = self.upload_state(name, id).await?;
        if let Some(start) = start
            && start != state.size
        {
            return Err(ApiError::new(
                Code::BlobUploadInvalid,
                format!(
                    "chunk starts at {start}, the upload has {} bytes",
                    state.size
                ),
            )
            .with_kind(Kind::OutOfRange));
        }
        let limits = &self.config.limits;
        let left = limits.max_blob_bytes.saturating_sub(state.size);
        let body = bounded(body, left, Duration::from_secs(limits.body_idle_timeout));
        let part = keys::upload_part(id, state.size);
        let (written, digest) = self.storage.put_stream(&part, body).await?;
        if let Some(len) = len
            && len != written
        {
            self.storage.delete(&part).await?;
            return Err(ApiError::new(
                Code::BlobUploadInvalid,
                format!("Content-Range announced {len} bytes, the body had {written}"),
            )
            .with_kind(Kind::OutOfRange));
        }
        if written == 0 {
            self.storage.delete(&part).await?;
            return Ok(state);
        }
        self.storage
            .put(
                &keys::upload_part_digest(id, state.size),
                Bytes::from(digest.to_string()),
            )
            .await?;
        state.parts.push(Part {
            offset: state.size,
            digest: Some(digest),
        });
        state.size += written;
        Ok(state)
    }

    /// Finishes an upload: the bytes must hash to `digest`; the blob then
    /// appears in the store and in `name`, whole and verified.
    pub async fn complete(
        &self,
        name: &str,
        id: &str,
        digest: &str,
        last_chunk: Option<ByteStream>,
    ) -> ApiResult<Digest> {
        self.writable()?;
        let expected = parse_digest(digest)?;
        let state = match last_chunk {
            Some(body) => self.append(name, id, None, None, body).await?,
            None => self.upload_state(name, id).await?,
        };
        let (source, actual) = match state.parts.as_slice() {
            [] => {
                self.storage
                    .put(&keys::upload_part(id, 0), Bytes::new())
                    .await?;
                (keys::upload_part(id, 0), Digest::of(b""))
            }
            [part] => {
                let sum = match &part.digest {
                    Some(d) => Some(d.clone()),
                    None => self
                        .storage
                        .get(&keys::upload_part_digest(id, part.offset))
                        .await?
                        .and_then(|b| Digest::parse(std::str::from_utf8(&b).ok()?).ok()),
                };
                match sum {
                    Some(d) => (keys::upload_part(id, part.offset), d),
                    None => self.join_parts(id, &state).await?,
                }
            }
            _ => self.join_parts(id, &state).await?,
        };
        if actual != expected {
            self.storage.delete_prefix(&keys::upload(id)).await?;
            return Err(ApiError::new(
                Code::DigestInvalid,
                format!("the uploaded content has digest {actual}, not {expected}"),
            )
            .detail(serde_json::json!({ "digest": expected.to_string() })));
        }
        let blob = keys::blob(&expected);
        if self.storage.stat(&blob).await?.is_none() {
            self.storage.rename(&source, &blob).await?;
        }
        self.storage
            .put(&keys::layer_link(name, &expected), Bytes::new())
            .await?;
        self.storage.delete_prefix(&keys::upload(id)).await?;
        Ok(expected)
    }

    /// Joins the parts into one object, hashing them on the way.
    async fn join_parts(&self, id: &str, state: &UploadState) -> ApiResult<(String, Digest)> {
        let storage = self.storage.clone();
        let parts: Vec<String> = state
            .parts
            .iter()
            .map(|p| keys::upload_part(id, p.offset))
            .collect();
        let stream = futures_util::stream::iter(parts)
            .then(move |key| {
                let storage = storage.clone();
                async move {
                    match storage.get_stream(&key, None).await {
                        Ok(Some((_, s))) => s,
                        Ok(None) => Box::pin(futures_util::stream::once(async move {
                            Err(std::io::Error::other(format!("upload part {key} vanished")))
                        })) as ByteStream,
                        Err(e) => Box::pin(futures_util::stream::once(async move {
                            Err(std::io::Error::other(e.to_string()))
                        })),
                    }
                }
            })
            .flatten();
        let joined = keys::upload_joined(id);
        let (_, digest) = self.storage.put_stream(&joined, Box::pin(stream)).await?;
        Ok((joined, digest))
    }

    /// Abandons an upload.
    pub async fn cancel_upload(&self, name: &str, id: &str) -> ApiResult<()> {
        self.upload_state(name, id).await?;
        Ok(self.storage.delete_prefix(&keys::upload(id)).await?)
    }

    /// Removes upload sessions started more than `max_age` ago; returns how many.
    pub async fn purge_uploads(&self, max_age: Duration) -> ApiResult<usize> {
        let mut purged = 0;
        let now = unix_now();
        for id in self.storage.list_dirs(keys::UPLOADS).await? {
            let started = match self.storage.get(&keys::upload_info(&id)).await? {
                Some(b) => serde_json::from_slice::<UploadInfo>(&b)
                    .map(|i| i.started)
                    .unwrap_or(0),
                None => 0,
            };
            if now.saturating_sub(started) > max_age.as_secs() {
                self.storage.delete_prefix(&keys::upload(&id)).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    // ---- manifests ----

    async fn manifest_by_digest(&self, d: &Digest) -> ApiResult<Option<Bytes>> {
        if let Ok(cache) = self.manifests.lock()
            && let Some(hit) = cache.entries.get(d)
        {
            return Ok(Some(hit.clone()));
        }
        let Some(body) = self.storage.get(&keys::blob(d)).await? else {
            return Ok(None);
        };
        if let Ok(mut cache) = self.manifests.lock() {
            if cache.bytes + body.len() > MANIFEST_CACHE_BYTES {
                *cache = ManifestCache::default();
            }
            cache.bytes += body.len();
            cache.entries.insert(d.clone(), body.clone());
        }
        Ok(Some(body))
    }

    /// The digest a reference names in `name`, if the repository has it.
    pub async fn resolve(&self, name: &str, reference: &str) -> ApiResult<Digest> {
        if reference.contains(':') {
            let d = parse_digest(reference)?;
            if self
                .storage
                .stat(&keys::revision(name, &d))
                .await?
                .is_none()
            {
                return Err(manifest_unknown(reference));
            }
            return Ok(d);
        }
        if !valid_tag(reference) {
            return Err(manifest_unknown(reference));
        }
        let tag = self.storage.get(&keys::tag(name, reference)).await?;
        tag.and_then(|b| Digest::parse(std::str::from_utf8(&b).ok()?.trim()).ok())
            .ok_or_else(|| manifest_unknown(reference))
    }

    /// A manifest by tag or digest, with the media type decided when it was
    /// stored in this repository.
    pub async fn manifest(&self, name: &str, reference: &str) -> ApiResult<ServedManifest> {
        let digest = self.resolve(name, reference).await?;
        let cached = self.manifests.lock().ok().and_then(|c| {
            c.types
                .get(&(name.to_string(), digest.clone()))
                .map(|t| t.to_string())
        });
        let stored = match cached {
            Some(t) => Some(t),
            None => {
                let revision = self
                    .storage
                    .get(&keys::revision(name, &digest))
                    .await?
                    .ok_or_else(|| manifest_unknown(reference))?;
                let stored = std::str::from_utf8(&revision)
                    .ok()
                    .filter(|t| MANIFEST_TYPES.contains(t))
                    .map(str::to_string);
                if let (Some(t), Ok(mut cache)) = (&stored, self.manifests.lock()) {
                    cache.remember_type(name, &digest, t);
                }
                stored
            }
        };
        let body = self
            .manifest_by_digest(&digest)
            .await?
            .ok_or_else(|| manifest_unknown(reference))?;
        let media_type = match stored {
            Some(t) => t,
            // A revision without a usable type (written by hand): decide it as
            // a PUT would, never serve a guess.
            None => media::manifest_type(&body, None).map_err(|e| {
                ApiError::new(
                    Code::ManifestUnknown,
                    format!("manifest {digest} cannot be served: {e}"),
                )
            })?,
        };
        Ok(ServedManifest {
            body,
            media_type,
            digest,
        })
    }

    /// Stores a manifest after checking it, under its digest and `reference`.
    pub async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> ApiResult<StoredManifest> {
        self.writable()?;
        let max = self.config.limits.max_manifest_bytes;
        if body.len() > max {
            return Err(
                invalid(format!("manifest is larger than {max} bytes")).with_kind(Kind::TooLarge)
            );
        }
        let digest = Digest::of(&body);
        let tag = if reference.contains(':') {
            let wanted = parse_digest(reference)?;
            if wanted != digest {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    format!("the manifest has digest {digest}, not {wanted}"),
                ));
            }
            None
        } else if valid_tag(reference) {
            Some(reference)
        } else {
            return Err(invalid(format!("invalid tag {reference:?}")));
        };
        let checked = check_manifest(&body, content_type)?;
        let media_type = checked.media_type.clone();
        // Shared with other manifest writes, exclusive with collection's sweep:
        // the blobs checked below cannot vanish before the revision is visible.
        let _lock = self.storage.lock(false).await?;
        if checked.is_index {
            for child in &checked.references {
                if self
                    .storage
                    .stat(&keys::revision(name, &child.digest))
                    .await?
                    .is_none()
                {
                    return Err(ApiError::new(
                        Code::ManifestBlobUnknown,
                        format!("manifest {} of the index is not in {name}", child.digest),
                    )
                    .detail(serde_json::json!({ "digest": child.digest.to_string() })));
                }
            }
        } else {
            for desc in &checked.references {
                self.check_referenced_blob(name, desc).await?;
            }
        }
        let subject = checked.subject;
        let artifact_type = checked.artifact_type;
        let checked_annotations = checked.annotations;
        if self.storage.stat(&keys::blob(&digest)).await?.is_none() {
            self.storage.put(&keys::blob(&digest), body.clone()).await?;
        }
        self.storage
            .put(
                &keys::revision(name, &digest),
                Bytes::from(media_type.clone()),
            )
            .await?;
        if let Ok(mut cache) = self.manifests.lock() {
            cache.remember_type(name, &digest, &media_type);
        }
        if let Some(subject) = &subject {
            let desc = serde_json::json!({
                "mediaType": media_type,
                "digest": digest.to_string(),
                "size": body.len(),
                "artifactType": artifact_type,
                "annotations": checked_annotations,
            });
            let desc = strip_nulls(desc);
            self.storage
                .put(
                    &keys::referrer(name, &subject.digest, &digest),
                    Bytes::from(serde_json::to_vec(&desc).unwrap_or_default()),
                )
                .await?;
        }
        if let Some(tag) = tag {
            self.storage
                .put(&keys::tag(name, tag), Bytes::from(digest.to_string()))
                .await?;
        }
        let entry = keys::catalog_entry(name);
        if self.storage.stat(&entry).await?.is_none() {
            self.storage.put(&entry, Bytes::new()).await?;
        }
        Ok(StoredManifest {
            digest,
            subject: subject.map(|s| s.digest),
        })
    }

    async fn check_referenced_blob(&self, name: &str, desc: &Descriptor) -> ApiResult<()> {
        match self.linked_blob(name, &desc.digest).await? {
            Some(b) if b.size == desc.size => Ok(()),
            Some(b) => Err(invalid(format!(
                "blob {} has {} bytes, the manifest says {}",
                desc.digest, b.size, desc.size
            ))),
            None => Err(ApiError::new(
                Code::ManifestBlobUnknown,
                format!("blob {} is not in {name}", desc.digest),
            )
            .detail(serde_json::json!({ "digest": desc.digest.to_string() }))),
        }
    }

    /// Deletes a tag, or a manifest by digest with the tags pointing at it.
    pub async fn delete_manifest(&self, name: &str, reference: &str) -> ApiResult<()> {
        self.deletable()?;
        if !reference.contains(':') {
            let key = keys::tag(name, reference);
            if !valid_tag(reference) || self.storage.stat(&key).await?.is_none() {
                return Err(manifest_unknown(reference));
            }
            return Ok(self.storage.delete(&key).await?);
        }
        let digest = self.resolve(name, reference).await?;
        for tag in self.storage.list(&keys::tags(name)).await? {
            let key = keys::tag(name, &tag.name);
            let points_here = self
                .storage
                .get(&key)
                .await?
                .is_some_and(|b| b.as_ref() == digest.to_string().as_bytes());
            if points_here {
                self.storage.delete(&key).await?;
            }
        }
        if let Some(body) = self.manifest_by_digest(&digest).await?
            && let Ok(json) = serde_json::from_slice::<Value>(&body)
            && let Ok(Some(subject)) = descriptor_field(&json, "subject")
        {
            self.storage
                .delete(&keys::referrer(name, &subject.digest, &digest))
                .await?;
        }
        if let Ok(mut cache) = self.manifests.lock() {
            cache.types.remove(&(name.to_string(), digest.clone()));
        }
        Ok(self.storage.delete(&keys::revision(name, &digest)).await?)
    }

    // ---- discovery ----

    /// Whether the repository exists (has had a manifest).
    pub async fn repository_exists(&self, name: &str) -> ApiResult<bool> {
        Ok(self
            .storage
            .stat(&keys::catalog_entry(name))
            .await?
            .is_some())
    }

    /// The tags of `name`, sorted.
    pub async fn tags(&self, name: &str) -> ApiResult<Vec<String>> {
        if !self.repository_exists(name).await? {
            return Err(
                ApiError::new(Code::NameUnknown, "repository name not known to registry")
                    .detail(serde_json::json!({ "name": name })),
            );
        }
        let mut tags: Vec<String> = self
            .storage
            .list(&keys::tags(name))
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// Every repository, sorted.
    pub async fn repositories(&self) -> ApiResult<Vec<String>> {
        let mut names: Vec<String> = self
            .storage
            .list(keys::CATALOG)
            .await?
            .into_iter()
            .map(|m: Meta| m.name.replace('+', "/"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The manifests whose subject is `digest`, optionally of one artifact type.
    pub async fn referrers(
        &self,
        name: &str,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> ApiResult<Vec<Value>> {
        let d = parse_digest(digest)?;
        let prefix = keys::referrers(name, &d);
        let mut out = Vec::new();
        for m in self.storage.list(&prefix).await? {
            let Some(body) = self.storage.get(&format!("{prefix}/{}", m.name)).await? else {
                continue;
            };
            let Ok(desc) = serde_json::from_slice::<Value>(&body) else {
                continue;
            };
            if let Some(t) = artifact_type
                && desc.get("artifactType").and_then(Value::as_str) != Some(t)
            {
                continue;
            }
            out.push(desc);
        }
        Ok(out)
    }

    /// The description search shows for a repository: its latest image's.
    async fn description(&self, name: &str) -> ApiResult<String> {
        let tags = self.storage.list(&keys::tags(name)).await?;
        let latest = tags
            .iter()
            .find(|m| m.name == "latest")
            .or_else(|| tags.iter().max_by_key(|m| m.modified));
        let Some(tag) = latest else {
            return Ok(String::new());
        };
        let Ok(mut m) = self.manifest(name, &tag.name).await else {
            return Ok(String::new());
        };
        // An index describes itself, or through the host platform's image.
        if let Ok(index) = berth_oci::image::from_json::<Index>("image index", &m.body)
            && !index
                .annotations
                .contains_key("org.opencontainers.image.description")
            && let Some(child) = index
                .for_platform(&berth_oci::image::Platform::host())
                .or(index.manifests.first())
            && let Ok(child) = self.manifest(name, &child.digest.to_string()).await
        {
            m = child;
        }
        if let Ok(cache) = self.descriptions.lock()
            && let Some(d) = cache.get(&m.digest)
        {
            return Ok(d.clone());
        }
        let mut text = String::new();
        if let Ok(manifest) = berth_oci::image::from_json::<Manifest>("image manifest", &m.body) {
            if let Some(d) = manifest
                .annotations
                .get("org.opencontainers.image.description")
            {
                text = d.clone();
            } else if let Some(config) = self
                .storage
                .get(&keys::blob(&manifest.config.digest))
                .await?
                && let Ok(c) = berth_oci::image::from_json::<ImageConfig>("image config", &config)
                && let Some(labels) = c.config.as_ref().and_then(|r| r.labels.as_ref())
            {
                text = labels
                    .get("org.opencontainers.image.description")
                    .or_else(|| labels.get("description"))
                    .cloned()
                    .unwrap_or_default();
            }
        } else if let Ok(index) = berth_oci::image::from_json::<Index>("image index", &m.body) {
            text = index
                .annotations
                .get("org.opencontainers.image.description")
                .cloned()
                .unwrap_or_default();
        }
        if let Ok(mut cache) = self.descriptions.lock() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(m.digest, text.clone());
        }
        Ok(text)
    }

    /// Repositories whose name or description contains `query` (case-insensitive).
    pub async fn search(
        &self,
        query: &str,
        visible: impl Fn(&str) -> bool,
    ) -> ApiResult<Vec<SearchHit>> {
        let q = query.to_lowercase();
        let mut hits = Vec::new();
        for name in self.repositories().await? {
            if !visible(&name) {
                continue;
            }
            let description = self.description(&name).await?;
            if name.contains(&q) || description.to_lowercase().contains(&q) {
                hits.push(SearchHit {
                    name,
                    description,
                    star_count: 0,
                    is_official: false,
                    is_automated: false,
                });
            }
        }
        Ok(hits)
    }
}

/// A manifest's type from its shape, when neither header nor field says.
/// What a pushed manifest is, once checked: its media type (decided once and
/// served as stored: CVE-2021-41190), what it references in the repository
/// (an index's manifests, or a manifest's config and layers, foreign layers
/// aside), its subject and artifact type (for referrers).
#[derive(Debug, Clone)]
pub struct CheckedManifest {
    /// The manifest's media type.
    pub media_type: String,
    /// An index (its references are manifests) or an image manifest.
    pub is_index: bool,
    /// What must be in the repository for it to be accepted.
    pub references: Vec<Descriptor>,
    /// The manifest it refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations, as given (shown in the referrers list).
    pub annotations: Option<Value>,
}

/// Checks a manifest body as `PUT /v2/<name>/manifests/<ref>` receives it,
/// without storage: JSON, schema version 2, a media type berth serves, the
/// shape of an index or a manifest, well-formed descriptors. Pure, so the
/// fuzz target (`fuzz/`) calls exactly what the server does.
pub fn check_manifest(body: &[u8], content_type: Option<&str>) -> ApiResult<CheckedManifest> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("manifest is not JSON: {e}")))?;
    if !json.is_object() {
        return Err(invalid("manifest is not a JSON object"));
    }
    let media_type =
        media::manifest_type(body, content_type).map_err(|e| invalid(format!("manifest: {e}")))?;
    if json.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("only schemaVersion 2 manifests are accepted"));
    }
    if !MANIFEST_TYPES.contains(&media_type.as_str()) {
        return Err(invalid(format!(
            "unsupported manifest media type {media_type}"
        )));
    }
    let is_index = media::is_index(&media_type);
    let subject = descriptor_field(&json, "subject")?;
    let explicit_artifact = json
        .get("artifactType")
        .and_then(Value::as_str)
        .map(str::to_string);
    let (references, artifact_type) = if is_index {
        let index: Index =
            berth_oci::image::from_json("image index", body).map_err(|e| invalid(e.to_string()))?;
        (index.manifests, explicit_artifact)
    } else {
        let manifest: Manifest = berth_oci::image::from_json("image manifest", body)
            .map_err(|e| invalid(e.to_string()))?;
        let config_type = manifest.config.media_type.clone();
        let refs = std::iter::once(manifest.config)
            .chain(manifest.layers)
            // A foreign layer lives elsewhere.
            .filter(|d| d.urls.is_empty())
            .collect();
        (refs, explicit_artifact.or(Some(config_type)))
    };
    Ok(CheckedManifest {
        media_type,
        is_index,
        references,
        subject,
        artifact_type,
        annotations: json.get("annotations").cloned(),
    })
}

/// [`check_manifest`] on arbitrary bytes under every content type a client
/// may claim: what the fuzz target (`fuzz/`) and the stable smoke test run.
/// It must never panic; refusing is its job.
pub fn exercise(data: &[u8]) {
    for content_type in [
        None,
        Some(media::OCI_MANIFEST),
        Some(media::OCI_INDEX),
        Some(media::DOCKER_MANIFEST),
        Some(media::DOCKER_MANIFEST_LIST),
        Some("application/json"),
    ] {
        if let Ok(m) = check_manifest(data, content_type) {
            for d in m.references.iter().chain(m.subject.as_ref()) {
                let _ = d.digest.to_string();
            }
        }
    }
}

fn descriptor_field(json: &Value, field: &str) -> ApiResult<Option<Descriptor>> {
    match json.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| invalid(format!("{field}: {e}"))),
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod fuzz_smoke {
    /// The fuzz target's body on mutations of valid and hostile manifests,
    /// on stable Rust.
    #[test]
    fn mutated_manifests_never_panic() {
        let d = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
        let seeds = [
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":3,"urls":["http://x"]}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":1}}}}"#
            ),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":7,"platform":{{"architecture":"amd64","os":"linux"}}}}],"artifactType":"x/y"}}"#
            ),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{d}","size":-1}},"layers":[]}}"#
            ),
            r#"{"schemaVersion":1,"fsLayers":[],"history":[]}"#.to_string(),
            r#"{"schemaVersion":2,"manifests":null,"layers":{"a":1},"config":[]}"#.to_string(),
            "[1,2,3]".to_string(),
            r#"{"schemaVersion":2.5e400}"#.to_string(),
        ];
        let mut seeds = seeds.to_vec();
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/manifest");
        if let Ok(dir) = std::fs::read_dir(&corpus) {
            seeds.extend(
                dir.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|t| !t.is_empty()),
            );
        }
        let alphabet: &[u8] = b"{}[]:,\"0123456789abcdef-+.eE \\nul";
        let mut x: u64 = 0xdead_beef_cafe_f00d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seed in &seeds {
            super::exercise(seed.as_bytes());
        }
        for round in 0..3000 {
            let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..(1 + next() % 6) {
                let at = (next() as usize) % bytes.len();
                let c = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 => bytes.insert(at, c),
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes[at] = c,
                }
                if bytes.is_empty() {
                    bytes.push(b'{');
                }
            }
            super::exercise(&bytes);
        }
    }
}
