//! The filesystem backend: one file per object under a root directory.
//!
//! Writes go to a hidden temporary file in the destination's directory and are
//! renamed into place, so a reader — or a server restarted after SIGKILL —
//! never sees a partial object. Listings skip the hidden temporaries.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use berth_oci::{Digest, Hasher};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{ByteStream, LockGuard, Meta, Storage, StorageError};

/// A mapped object goes out in pieces of this size.
const PIECE: usize = 4 << 20;

/// Objects as files under `root`.
pub struct FsStorage {
    root: PathBuf,
    fsync: bool,
}

impl FsStorage {
    /// A store rooted at `root` (created when missing). With `fsync`, streamed
    /// objects (blobs) reach the disk before they are renamed into place.
    pub fn new(root: &Path, fsync: bool) -> Result<FsStorage, StorageError> {
        fs::create_dir_all(root)
            .map_err(|e| StorageError::io("create", &root.display().to_string(), e))?;
        Ok(FsStorage {
            root: root.to_path_buf(),
            fsync,
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// A temporary name next to `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = format!(".tmp-{}", crate::random_hex(8));
    match path.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => fs::create_dir_all(dir),
        None => Ok(()),
    }
}

fn meta_of(name: String, m: &fs::Metadata) -> Meta {
    Meta {
        name,
        size: m.len(),
        modified: m.modified().unwrap_or(std::time::UNIX_EPOCH),
    }
}

async fn blocking<T: Send + 'static>(
    op: &'static str,
    key: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| StorageError::io(op, key, e)),
        Err(e) => Err(StorageError::io(op, key, io::Error::other(e))),
    }
}

/// Objects at least this big are served from a memory map.
const MAP_FROM: u64 = 1 << 20;

/// A read-only shared mapping of a whole file.
struct Mapping {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only, owned by this value alone and unmapped
// only on drop; sharing `&[u8]` views of it between threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, unmapped once.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

/// Maps a blob file. Blobs are written once and renamed into place, never
/// changed or truncated (a deleted one stays mapped until unmapped), so the
/// mapping cannot shrink under its readers.
fn map_file(file: &File, len: u64) -> io::Result<Bytes> {
    let len = usize::try_from(len).map_err(io::Error::other)?;
    // SAFETY: a fresh read-only private mapping of `len` bytes of an open
    // file; no existing memory is touched.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::READ,
            rustix::mm::MapFlags::SHARED,
            file,
            0,
        )
    }?;
    // SAFETY: advice on the range just mapped; failure is harmless.
    let _ = unsafe { rustix::mm::madvise(ptr, len, rustix::mm::Advice::Sequential) };
    Ok(Bytes::from_owner(Mapping { ptr, len }))
}

/// `range` of a mapped object, in pieces hyper writes one after another.
fn stream_mapped(all: Bytes, range: Range<u64>) -> ByteStream {
    let (start, end) = (range.start as usize, range.end as usize);
    let pieces = (start..end)
        .step_by(PIECE)
        .map(move |o| Ok(all.slice(o..(o + PIECE).min(end))));
    Box::pin(futures_util::stream::iter(pieces))
}

enum Piece {
    Data(Bytes),
    End,
}

#[async_trait::async_trait]
impl Storage for FsStorage {
    fn describe(&self) -> String {
        format!("filesystem {}", self.root.display())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let path = self.path(key);
        blocking("read", key, move || match fs::read(&path) {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(u64, ByteStream)>, StorageError> {
        let path = self.path(key);
        let opened = blocking("open", key, move || {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if not_found(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            let size = file.metadata()?.len();
            let (start, end) = match &range {
                Some(r) => (r.start.min(size), r.end.min(size)),
                None => (0, size),
            };
            if size >= MAP_FROM {
                let all = map_file(&file, size)?;
                return Ok(Some((size, stream_mapped(all, start..end))));
            }
            // Smaller objects are read whole, here on the blocking thread.
            let mut data = vec![0u8; end.saturating_sub(start) as usize];
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut data)?;
            let once: ByteStream =
                Box::pin(futures_util::stream::once(
                    async move { Ok(Bytes::from(data)) },
                ));
            Ok(Some((size, once)))
        })
        .await?;
        Ok(opened)
    }

    async fn stat(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        let path = self.path(key);
        let name = key.rsplit('/').next().unwrap_or(key).to_string();
        blocking("stat", key, move || match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(meta_of(name, &m))),
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = self.path(key);
        blocking("write", key, move || {
            create_parent(&path)?;
            let tmp = temp_path(&path);
            let written = fs::write(&tmp, &data).and_then(|()| fs::rename(&tmp, &path));
            if written.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            written
        })
        .await
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
    ) -> Result<(u64, Digest), StorageError> {
        let path = self.path(key);
        let fsync = self.fsync;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(8);
        let writer = tokio::task::spawn_blocking(move || -> io::Result<Option<(u64, Digest)>> {
            create_parent(&path)?;
            let tmp = temp_path(&path);
            let result = (|| {
                let mut file = File::create(&tmp)?;
                let mut hasher = Hasher::new();
                let mut size = 0u64;
                loop {
                    match rx.blocking_recv() {
                        Some(Piece::Data(data)) => {
                            hasher.update(&data);
                            file.write_all(&data)?;
                            size += data.len() as u64;
                        }
                        Some(Piece::End) => break,
                        None => return Ok(None), // the body failed: keep nothing
                    }
                }
                if fsync {
                    file.sync_data()?;
                }
                drop(file);
                fs::rename(&tmp, &path)?;
                Ok(Some((size, hasher.finish())))
            })();
            if !matches!(result, Ok(Some(_))) {
                let _ = fs::remove_file(&tmp);
            }
            result
        });
        let mut failure = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(data) => {
                    if tx.send(Piece::Data(data)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(Piece::End).await;
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| StorageError::io("write", key, io::Error::other(e)))?
            .map_err(|e| StorageError::io("write", key, e))?;
        match (failure, written) {
            (Some(e), _) => Err(StorageError::Body(e)),
            (None, Some(done)) => Ok(done),
            (None, None) => Err(StorageError::io(
                "write",
                key,
                io::Error::other("writer stopped"),
            )),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (src, dst) = (self.path(from), self.path(to));
        blocking("rename", from, move || {
            create_parent(&dst)?;
            fs::rename(&src, &dst)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key);
        blocking("remove", key, move || match fs::remove_file(&path) {
            Err(e) if !not_found(&e) => Err(e),
            _ => Ok(()),
        })
        .await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let path = self.path(prefix);
        blocking("remove", prefix, move || match fs::remove_dir_all(&path) {
            Err(e) if !not_found(&e) => Err(e),
            _ => Ok(()),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Meta>, StorageError> {
        let path = self.path(prefix);
        blocking("list", prefix, move || list_dir(&path, false)).await
    }

    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let path = self.path(prefix);
        let dirs = blocking("list", prefix, move || list_dir(&path, true)).await?;
        Ok(dirs.into_iter().map(|m| m.name).collect())
    }

    async fn lock(&self, exclusive: bool) -> Result<LockGuard, StorageError> {
        let path = self.root.join(".gc.lock");
        let file = blocking("lock", ".gc.lock", move || {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            if exclusive {
                file.lock()?;
            } else {
                file.lock_shared()?;
            }
            Ok(file)
        })
        .await?;
        Ok(Box::new(file))
    }

    fn has_locks(&self) -> bool {
        true
    }
}

fn list_dir(path: &Path, dirs: bool) -> io::Result<Vec<Meta>> {
    let entries = match fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        if meta.is_dir() == dirs {
            out.push(meta_of(name, &meta));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
