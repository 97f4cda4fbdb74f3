//! The S3 backend, through `object_store` (Apache Arrow's, kept by many users).
//!
//! S3 has no rename and no locks: a rename is a server-side copy and a delete,
//! which is atomic for readers of the destination (a PUT or a copy replaces an
//! object whole); garbage collection relies on its grace period instead of a lock.

use std::ops::Range;
use std::sync::Arc;

use berth_oci::{Digest, Hasher};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::Deserialize;

use super::{ByteStream, LockGuard, Meta, Storage, StorageError};

/// Parts of a streamed upload: S3's minimum is 5 MiB.
const PART: usize = 8 << 20;

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The endpoint URL (e.g. `http://127.0.0.1:9000`); AWS when empty.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region.
    #[serde(default)]
    pub region: Option<String>,
    /// Access key; `AWS_ACCESS_KEY_ID` when empty.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret key; `AWS_SECRET_ACCESS_KEY` when empty.
    #[serde(default)]
    pub secret_access_key: Option<String>,
}

/// Objects in an S3 bucket.
pub struct S3Storage {
    store: Arc<AmazonS3>,
    bucket: String,
}

impl S3Storage {
    /// Connects (lazily: the first request reaches the server).
    pub fn new(config: &S3Config) -> Result<S3Storage, StorageError> {
        if config.bucket.is_empty() {
            return Err(StorageError::Config("an S3 bucket name is needed".into()));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        if let Some(endpoint) = &config.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        b = b.with_region(config.region.as_deref().unwrap_or("us-east-1"));
        if let Some(k) = &config.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &config.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let store = b.build().map_err(|e| StorageError::Config(e.to_string()))?;
        Ok(S3Storage {
            store: Arc::new(store),
            bucket: config.bucket.clone(),
        })
    }
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

fn meta_of(m: &object_store::ObjectMeta) -> Meta {
    Meta {
        name: m.location.filename().unwrap_or_default().to_string(),
        size: m.size,
        modified: m.last_modified.into(),
    }
}

#[async_trait::async_trait]
impl Storage for S3Storage {
    fn describe(&self) -> String {
        format!("s3 bucket {}", self.bucket)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(&Path::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(u64, ByteStream)>, StorageError> {
        let opts = GetOptions::new().with_range(range.map(GetRange::Bounded));
        match self.store.get_opts(&Path::from(key), opts).await {
            Ok(r) => {
                let size = r.meta.size;
                let stream = r
                    .into_stream()
                    .map(|item| item.map_err(std::io::Error::other));
                Ok(Some((size, Box::pin(stream))))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn stat(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(m) => Ok(Some(meta_of(&m))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(data))
            .await?;
        Ok(())
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
    ) -> Result<(u64, Digest), StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut hasher = Hasher::new();
        let mut size = 0u64;
        while let Some(item) = body.next().await {
            let data = match item {
                Ok(d) => d,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(StorageError::Body(e));
                }
            };
            if let Err(e) = writer.wait_for_capacity(4).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            hasher.update(&data);
            size += data.len() as u64;
            writer.put(data);
        }
        writer.finish().await?;
        Ok((size, hasher.finish()))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.store
            .rename(&Path::from(from), &Path::from(to))
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Err(e) if !not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let mut listing = self.store.list(Some(&Path::from(prefix)));
        while let Some(meta) = listing.next().await {
            self.delete(meta?.location.as_ref()).await?;
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Meta>, StorageError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&Path::from(prefix)))
            .await?;
        let mut out: Vec<Meta> = listing.objects.iter().map(meta_of).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&Path::from(prefix)))
            .await?;
        let mut out: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn lock(&self, _exclusive: bool) -> Result<LockGuard, StorageError> {
        Ok(Box::new(()))
    }

    fn has_locks(&self) -> bool {
        false
    }
}
