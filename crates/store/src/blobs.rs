//! The content store: immutable blobs under `blobs/sha256/<hex>`.
//!
//! A blob is written to `ingest/<unique>` while hashed, then fsynced and renamed
//! to its final name, so nothing partial is ever visible under a digest. Each
//! ingest file is `flock`ed by its writer; [`Blobs::cleanup`] removes those no
//! live process holds (left by a kill).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_oci::{Digest, Hasher};

use crate::Error;

/// The blob store rooted at a directory.
#[derive(Clone, Debug)]
pub struct Blobs {
    dir: PathBuf,
    ingest: PathBuf,
}

static INGEST_SEQ: AtomicU64 = AtomicU64::new(0);

impl Blobs {
    /// Opens the store under `root` (creates `blobs/sha256` and `ingest`).
    pub fn open(root: &Path) -> Result<Blobs, Error> {
        let dir = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        for d in [&dir, &ingest] {
            fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        Ok(Blobs { dir, ingest })
    }

    /// Where the blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).exists()
    }

    /// The blob's size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64, Error> {
        let p = self.path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(Error::io(p)(e)),
        }
    }

    /// Opens the blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        let p = self.path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.clone()),
            _ => Error::io(p)(e),
        })
    }

    /// Opens a blob that may still be pending at `pending` (see [`PendingBlob`]):
    /// the ingest file while it is there, the committed blob once it was renamed.
    pub fn open_pending(&self, pending: &Path, digest: &Digest) -> Result<File, Error> {
        match File::open(pending) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.open_blob(digest),
            Err(e) => Err(Error::io(pending)(e)),
        }
    }

    /// Reads a small blob (manifest, config) whole and checks its digest, so a blob
    /// damaged on disk is reported, not trusted.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .map_err(Error::io(self.path(digest)))?;
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Stores `data` and returns its digest.
    pub fn put(&self, data: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::of(data);
        if self.contains(&digest) {
            return Ok(digest);
        }
        let mut w = self.writer()?;
        w.write_all(data).map_err(Error::io(&w.path))?;
        w.commit(Some(&digest))
    }

    /// Opens a writer for a new blob.
    pub fn writer(&self) -> Result<BlobWriter, Error> {
        let seq = INGEST_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = self
            .ingest
            .join(format!("{}-{seq}-{nanos}", std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        file.lock().map_err(Error::io(&path))?;
        Ok(BlobWriter {
            file: Some(io::BufWriter::with_capacity(1 << 20, file)),
            path,
            hasher: Hasher::new(),
            size: 0,
            written_back: 0,
            dir: self.dir.clone(),
        })
    }

    /// Deletes a blob; a missing blob is not an error.
    pub fn delete(&self, digest: &Digest) -> Result<(), Error> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(p)(e)),
            _ => Ok(()),
        }
    }

    /// Every blob present.
    pub fn list(&self) -> Result<Vec<Digest>, Error> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let entry = entry.map_err(Error::io(&self.dir))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Opens the resumable download of `digest`: `ingest/dl-<hex>`, locked, with
    /// whatever an interrupted download left in it. Waits while another process
    /// downloads the same blob, so a shared layer is fetched once; None when the
    /// blob is in the store (now, or once that other download finished).
    pub fn resume(&self, digest: &Digest) -> Result<Option<PartialBlob>, Error> {
        use std::os::unix::fs::MetadataExt;
        let path = self
            .ingest
            .join(format!("{PARTIAL_PREFIX}{}", digest.hex()));
        loop {
            if self.contains(digest) {
                return Ok(None);
            }
            let file = File::options()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)
                .map_err(Error::io(&path))?;
            file.lock().map_err(Error::io(&path))?;
            // While we waited, the holder may have published the file (renamed it
            // away) and a third process made a new one: the lock is only worth
            // something on the file that is at the path now.
            let held = file.metadata().map_err(Error::io(&path))?;
            match fs::metadata(&path) {
                Ok(m) if m.dev() == held.dev() && m.ino() == held.ino() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path)(e)),
            }
            if self.contains(digest) {
                // A leftover of a download that was published meanwhile.
                let _ = fs::remove_file(&path);
                return Ok(None);
            }
            return Ok(Some(PartialBlob {
                file: Some(file),
                path,
                len: held.len(),
                hasher: Hasher::new(),
                hashed: 0,
                digest: digest.clone(),
                dir: self.dir.clone(),
            }));
        }
    }

    /// Removes ingest files that no live writer holds: what a killed command left.
    /// Interrupted downloads stay for a day, for the next pull to resume.
    pub fn cleanup(&self) -> Result<usize, Error> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.ingest).map_err(Error::io(&self.ingest))? {
            let entry = entry.map_err(Error::io(&self.ingest))?;
            let path = entry.path();
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(PARTIAL_PREFIX))
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age < PARTIAL_KEEP)
            {
                continue;
            }
            let Ok(f) = File::options().write(true).open(&path) else {
                continue;
            };
            if f.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Every this many bytes a blob's writer asks the kernel to start writing them
/// out, so the fsync at commit waits for the tail only, not the whole blob.
const WRITEBACK_STEP: u64 = 16 << 20;

/// Starts writeback of a range without waiting for it (`sync_file_range`
/// with `SYNC_FILE_RANGE_WRITE`); the commit's fsync is what makes it durable.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor
    // is open for as long as `file` is borrowed.
    let _ = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

const PARTIAL_PREFIX: &str = "dl-";
const PARTIAL_KEEP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Batches of at least this many blobs are made durable with one syncfs.
const SYNCFS_BATCH_MIN: usize = 32;

/// A download in progress, kept across interruptions (see [`Blobs::resume`]).
/// Bytes already on disk are read back (and hashed) with
/// [`PartialBlob::read_back`], new ones appended (and hashed) as they arrive;
/// [`PartialBlob::commit`] publishes the blob only if what it hashed is the
/// digest it was opened for: the digest is never taken on the caller's word.
/// Dropped, it stays on disk for the next try.
pub struct PartialBlob {
    file: Option<File>,
    path: PathBuf,
    len: u64,
    hasher: Hasher,
    /// Bytes hashed so far, from the start: read back or appended.
    hashed: u64,
    digest: Digest,
    dir: PathBuf,
}

impl PartialBlob {
    /// Bytes already downloaded.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is downloaded yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes hashed so far: read back with [`PartialBlob::read_back`] or appended.
    pub fn hashed(&self) -> u64 {
        self.hashed
    }

    /// Reads the next already-downloaded bytes (after those hashed so far) and
    /// hashes them; 0 once all are read back.
    pub fn read_back(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("partial blob closed"))?;
        let max = (self.len.saturating_sub(self.hashed)).min(buf.len() as u64) as usize;
        let n = file.read_at(&mut buf[..max], self.hashed)?;
        self.hasher.update(&buf[..n]);
        self.hashed += n as u64;
        Ok(n)
    }

    /// Appends downloaded bytes, once every byte before them was read back.
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.hashed != self.len {
            return Err(io::Error::other(
                "partial blob: bytes on disk must be read back before appending",
            ));
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("partial blob closed"))?;
        file.write_all(data)?;
        self.hasher.update(data);
        let before = self.len;
        self.len += data.len() as u64;
        self.hashed = self.len;
        if self.len / WRITEBACK_STEP != before / WRITEBACK_STEP {
            let start = before / WRITEBACK_STEP * WRITEBACK_STEP;
            start_writeback(file, start, self.len - start);
        }
        Ok(())
    }

    /// Throws away what was downloaded (the server restarted from byte 0).
    pub fn truncate(&mut self) -> io::Result<()> {
        if let Some(f) = &self.file {
            f.set_len(0)?;
        }
        self.len = 0;
        self.hashed = 0;
        self.hasher = Hasher::new();
        Ok(())
    }

    /// Publishes the blob if every byte was hashed and they hash to the digest
    /// it was opened for: fsync, rename. Otherwise the partial file is removed,
    /// so the next try starts afresh, and the error says what it hashed to.
    pub fn commit(mut self) -> Result<(), Error> {
        if self.hashed != self.len {
            self.discard();
            return Err(Error::Corrupt(format!(
                "partial blob {} committed with {} of its {} bytes hashed",
                self.digest, self.hashed, self.len
            )));
        }
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != self.digest {
            self.discard();
            return Err(Error::DigestMismatch {
                expected: self.digest.clone(),
                actual,
            });
        }
        publish(
            self.file.take(),
            &self.path,
            &self.dir.join(self.digest.hex()),
        )
    }

    /// Removes the partial file.
    pub fn discard(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A blob being written. Hashes as it goes; [`BlobWriter::commit`] verifies and
/// publishes it. Dropped without commit, it leaves nothing behind.
pub struct BlobWriter {
    file: Option<io::BufWriter<File>>,
    path: PathBuf,
    hasher: Hasher,
    size: u64,
    /// Bytes whose writeback was started.
    written_back: u64,
    dir: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes that reached the file (written, not waiting in the buffer): what a
    /// reader of [`BlobWriter::path`] can see.
    pub fn on_disk(&self) -> u64 {
        self.size - self.file.as_ref().map_or(0, |f| f.buffer().len() as u64)
    }

    /// The file being written, for a reader that follows the writer.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the digest (when one is expected) and returns the blob, complete
    /// but neither durable nor visible under its digest: [`PendingBlob::commit`]
    /// does both. Reading it meanwhile is fine ([`Blobs::open_pending`]).
    pub fn finish(mut self, expected: Option<&Digest>) -> Result<PendingBlob, Error> {
        let actual = std::mem::take(&mut self.hasher).finish();
        if let Some(expected) = expected
            && expected != &actual
        {
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| Error::Corrupt("blob writer used after commit".into()))?;
        let file = match file.into_inner() {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&self.path);
                return Err(Error::io(&self.path)(e.into_error()));
            }
        };
        Ok(PendingBlob {
            file: Some(file),
            path: std::mem::take(&mut self.path),
            digest: actual,
            dir: self.dir.clone(),
        })
    }

    /// Like [`BlobWriter::finish`], and also checks the size.
    pub fn finish_sized(self, expected: &Digest, size: u64) -> Result<PendingBlob, Error> {
        if self.size != size {
            return Err(Error::SizeMismatch {
                digest: expected.clone(),
                expected: size,
                actual: self.size,
            });
        }
        self.finish(Some(expected))
    }

    /// Finishes and commits: the blob is durable and visible when this returns.
    pub fn commit(self, expected: Option<&Digest>) -> Result<Digest, Error> {
        self.finish(expected)?.commit()
    }
}

/// A complete, verified blob still under its ingest name (and still locked, so
/// no cleanup takes it). Dropped without commit, it leaves nothing behind.
pub struct PendingBlob {
    file: Option<File>,
    path: PathBuf,
    digest: Digest,
    dir: PathBuf,
}

impl PendingBlob {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Where the blob can be read until it is committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fsyncs the blob and renames it to its digest: temp → fsync → rename.
    pub fn commit(mut self) -> Result<Digest, Error> {
        publish(
            self.file.take(),
            &self.path,
            &self.dir.join(self.digest.hex()),
        )?;
        Ok(self.digest.clone())
    }

    /// Commits several blobs: a few one fsync each, as [`PendingBlob::commit`];
    /// many with one `syncfs` for all of them, then a rename each — the same
    /// temp → durable → rename order at the cost of one journal commit instead
    /// of one per blob (an archive of 100,000 small files: seconds, not
    /// minutes). syncfs also waits for everything else dirty on the file
    /// system (a load's extracted layers): worth it only for many blobs.
    pub fn commit_all(batch: Vec<PendingBlob>) -> Result<(), Error> {
        if batch.len() < SYNCFS_BATCH_MIN {
            for b in batch {
                b.commit()?;
            }
            return Ok(());
        }
        if let Some(f) = batch.iter().find_map(|b| b.file.as_ref()) {
            use std::os::fd::AsRawFd;
            // SAFETY: syncfs only reads the descriptor, open while `f` is borrowed.
            if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
                return Err(Error::io(&batch[0].path)(io::Error::last_os_error()));
            }
        }
        for mut b in batch {
            let target = b.dir.join(b.digest.hex());
            publish(None, &b.path, &target)?;
            // Renamed: nothing for Drop to remove; closing unlocks it.
            b.file.take();
        }
        Ok(())
    }
}

/// temp → fsync → rename. The file stays open, so locked, until it is renamed:
/// a process waiting for the lock must find it gone from the path, not half
/// published.
fn publish(file: Option<File>, path: &Path, target: &Path) -> Result<(), Error> {
    if let Some(f) = &file {
        f.sync_all().map_err(Error::io(path))?;
    }
    let renamed = fs::rename(path, target).map_err(Error::io(target));
    drop(file);
    renamed
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer closed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        let on_disk = self.on_disk();
        if on_disk - self.written_back >= WRITEBACK_STEP
            && let Some(f) = &self.file
        {
            start_writeback(f.get_ref(), self.written_back, on_disk - self.written_back);
            self.written_back = on_disk;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_commit_read() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let d = blobs.put(b"hello").unwrap();
        assert_eq!(blobs.read(&d).unwrap(), b"hello");
        assert_eq!(blobs.list().unwrap(), vec![d]);
    }

    #[test]
    fn digest_mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let mut w = blobs.writer().unwrap();
        w.write_all(b"hello").unwrap();
        let err = w.commit(Some(&Digest::of(b"other"))).unwrap_err();
        assert_eq!(err.kind(), berth_oci::Kind::DataLoss);
        assert!(blobs.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn partial_blobs_resume_and_check_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let d = Digest::of(b"hello world");
        let mut p = blobs.resume(&d).unwrap().unwrap();
        p.append(b"hello").unwrap();
        drop(p);
        // An interrupted download survives the sweep and picks up where it was.
        blobs.cleanup().unwrap();
        let mut p = blobs.resume(&d).unwrap().unwrap();
        assert_eq!(p.len(), 5);
        // What is on disk is read back, and hashed, before anything is added.
        assert!(p.append(b" world").is_err());
        let mut buf = [0u8; 3];
        assert_eq!(p.read_back(&mut buf).unwrap(), 3);
        assert_eq!(&buf, b"hel");
        assert_eq!(p.read_back(&mut buf).unwrap(), 2);
        assert_eq!(p.read_back(&mut buf).unwrap(), 0);
        assert_eq!(p.hashed(), 5);
        p.append(b" world").unwrap();
        p.commit().unwrap();
        assert_eq!(blobs.read(&d).unwrap(), b"hello world");
        assert!(blobs.resume(&d).unwrap().is_none());
        // A wrong whole is refused with what it hashed to, and the partial
        // file goes.
        let e = Digest::of(b"x");
        let mut p = blobs.resume(&e).unwrap().unwrap();
        p.append(b"y").unwrap();
        match p.commit() {
            Err(Error::DigestMismatch { expected, actual }) => {
                assert_eq!((expected, actual), (e.clone(), Digest::of(b"y")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(blobs.resume(&e).unwrap().unwrap().len(), 0);
        // Bytes on disk never read back cannot be committed on trust.
        let mut p = blobs.resume(&e).unwrap().unwrap();
        p.append(b"x").unwrap();
        drop(p);
        let p = blobs.resume(&e).unwrap().unwrap();
        assert!(matches!(p.commit(), Err(Error::Corrupt(_))));
        assert!(!blobs.contains(&e));
    }

    #[test]
    fn cleanup_spares_live_writers() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let live = blobs.writer().unwrap();
        fs::write(dir.path().join("ingest/stale"), b"x").unwrap();
        assert_eq!(blobs.cleanup().unwrap(), 1);
        assert!(live.path.exists());
    }

    #[test]
    fn damaged_blob_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let d = blobs.put(b"hello").unwrap();
        fs::write(blobs.path(&d), b"jello").unwrap();
        assert_eq!(
            blobs.read(&d).unwrap_err().kind(),
            berth_oci::Kind::DataLoss
        );
    }
}
