//! Content digests (`sha256:<hex>`) and chain IDs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::Error;

/// A sha256 content digest. Other algorithms are refused: berth writes and
/// verifies sha256 only, as Docker and every registry in use do.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// The chain ID of a layer stack (OCI image-spec "ChainID"): names a snapshot.
pub type ChainId = Digest;

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(value: &str) -> Result<Digest, Error> {
        let bad = |reason| Error::InvalidDigest {
            value: value.to_string(),
            reason,
        };
        let (algo, hex) = value
            .split_once(':')
            .ok_or_else(|| bad("missing algorithm"))?;
        if algo != "sha256" {
            return Err(bad("unsupported digest algorithm"));
        }
        Digest::from_hex(hex).map_err(|_| bad("expected 64 lowercase hex characters"))
    }

    /// Builds a digest from its 64 hex characters.
    pub fn from_hex(hex: &str) -> Result<Digest, Error> {
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::InvalidDigest {
                value: hex.to_string(),
                reason: "expected 64 lowercase hex characters",
            });
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        let mut h = Hasher::new();
        h.update(data);
        h.finish()
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as Docker shows IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let out = self.0.finalize();
        let mut hex = String::with_capacity(64);
        for b in out.iter() {
            use fmt::Write;
            let _ = write!(hex, "{b:02x}");
        }
        Digest { hex }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The chain IDs of a stack of layers given their diff IDs, bottom first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<ChainId> {
    let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        out.push(chain_id(out.last(), diff));
    }
    out
}

/// The chain ID of the layer `diff` on the chain `parent`.
pub fn chain_id(parent: Option<&ChainId>, diff: &Digest) -> ChainId {
    match parent {
        None => diff.clone(),
        Some(parent) => Digest::of(format!("{parent} {diff}").as_bytes()),
    }
}

/// A reader that hashes and counts what passes through it, and refuses to pass
/// more than a limit (the guard against decompression bombs).
pub struct HashingReader<R> {
    inner: R,
    /// None when the digest is known already (see [`HashingReader::known`]).
    hasher: Option<Hasher>,
    known: Option<Digest>,
    count: u64,
    limit: u64,
}

impl<R: std::io::Read> HashingReader<R> {
    /// Wraps `inner`; reading more than `limit` bytes fails with
    /// `ErrorKind::FileTooLarge`.
    pub fn new(inner: R, limit: u64) -> Self {
        HashingReader {
            inner,
            hasher: Some(Hasher::new()),
            known: None,
            count: 0,
            limit,
        }
    }

    /// Counts and limits without hashing, for a stream whose digest was verified
    /// when it was stored (an uncompressed layer blob is its own diff ID): sha256
    /// at ~1.5 GB/s is a tenth of a load's time, spent twice for nothing.
    pub fn known(inner: R, limit: u64, digest: Digest) -> Self {
        HashingReader {
            inner,
            hasher: None,
            known: Some(digest),
            count: 0,
            limit,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Reads what is left to the end and returns the digest and byte count of
    /// everything read.
    pub fn finish(mut self) -> std::io::Result<(Digest, u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        let digest = match (self.hasher.take(), self.known.take()) {
            (Some(h), _) => h.finish(),
            (None, Some(d)) => d,
            (None, None) => Hasher::new().finish(),
        };
        Ok((digest, self.count))
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("more than {} bytes", self.limit),
            ));
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_refuses_bad_digests() {
        for bad in [
            "sha256:abc",
            "md5:00",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::Kind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn chain_id_follows_the_image_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
