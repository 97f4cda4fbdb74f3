//! `berth save`: images to a docker-archive that is also an OCI layout, as
//! Docker 25+ writes it (`blobs/sha256/…`, `index.json`, `oci-layout`,
//! `manifest.json`, `repositories`). Layers shared by several images are written
//! once. Blobs are copied as stored, so digests never change.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

use berth_layer::{Compression, Compressor};
use berth_oci::image::{Descriptor, Index};
use berth_oci::{Digest, Reference, media};
use serde::Serialize;
use serde_json::json;

use crate::{Engine, Error, Image, Progress, Result, to_json};

/// Compression of the whole archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArchiveCompression {
    /// A plain tar.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// Settings of [`Engine::save`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SaveOptions {
    /// How to compress the archive.
    pub compression: ArchiveCompression,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Writes tar entries by hand so that blob data goes through `io::copy` from
/// `File` to the output: for a file or pipe that is `copy_file_range`/`splice`,
/// with no copy through user space.
struct TarWriter<'a, W: Write> {
    out: &'a mut W,
}

impl<W: Write> TarWriter<'_, W> {
    fn header(&mut self, path: &str, size: u64, dir: bool) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(size);
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mtime(0);
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (512 - size % 512) % 512;
        self.out.write_all(&[0u8; 512][..rem as usize])
    }

    fn dir(&mut self, path: &str) -> io::Result<()> {
        self.header(path, 0, true)
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.header(path, data.len() as u64, false)?;
        self.out.write_all(data)?;
        self.pad(data.len() as u64)
    }

    fn file(&mut self, path: &str, file: &mut std::fs::File, size: u64) -> io::Result<()> {
        self.header(path, size, false)?;
        let copied = io::copy(file, self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: blob changed size while saved"),
            ));
        }
        self.pad(size)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()
    }
}

impl Engine {
    /// Writes `names` (references or IDs) to `out` as one archive.
    pub fn save<W: Write>(
        &self,
        names: &[String],
        out: &mut W,
        opts: &SaveOptions,
        progress: &dyn Progress,
    ) -> Result<()> {
        // Resolve everything first: a wrong name fails before a byte is written.
        let mut images: Vec<(Image, Vec<Reference>)> = Vec::new();
        for name in names {
            let img = self.resolve(name)?;
            let tag = Reference::parse(name)
                .ok()
                .map(Reference::with_default_tag)
                .filter(|r| img.tags.contains(r));
            match images.iter_mut().find(|(i, _)| i.id == img.id) {
                Some((_, tags)) => tags.extend(tag),
                None => images.push((img, tag.into_iter().collect())),
            }
        }
        let compression = match opts.compression {
            ArchiveCompression::None => {
                // Plain archives take the copy_file_range path in write_archive.
                return self.write_archive(&images, out, progress);
            }
            ArchiveCompression::Gzip => Compression::Gzip,
            ArchiveCompression::Zstd => Compression::Zstd,
        };
        let mut c = Compressor::new(out, compression).map_err(Error::io("archive"))?;
        self.write_archive(&images, &mut c, progress)?;
        c.finish().map_err(Error::io("archive"))?;
        Ok(())
    }

    fn write_archive<W: Write>(
        &self,
        images: &[(Image, Vec<Reference>)],
        out: &mut W,
        progress: &dyn Progress,
    ) -> Result<()> {
        let werr = Error::io("archive");
        let mut tar = TarWriter { out };
        let mut written: HashSet<Digest> = HashSet::new();
        let mut manifest_json = Vec::new();
        let mut index = Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: Default::default(),
            extra: Default::default(),
        };
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        tar.dir("blobs/").map_err(Error::io("archive"))?;
        tar.dir("blobs/sha256/").map_err(Error::io("archive"))?;
        for (img, tags) in images {
            let (manifest_raw, manifest) = self.manifest_of(img)?;
            let mut blobs = vec![img.id.clone()];
            blobs.extend(manifest.layers.iter().map(|l| l.digest.clone()));
            for d in &blobs {
                if !written.insert(d.clone()) {
                    continue;
                }
                let size = self.blobs.size(d)?;
                let mut f = self.blobs.open_blob(d)?;
                progress.start(d.short(), "Saving", Some(size));
                tar.file(&blob_path(d), &mut f, size)
                    .map_err(Error::io(blob_path(d)))?;
                progress.advance(d.short(), size);
                progress.done(d.short(), "Saved");
            }
            if written.insert(img.manifest.clone()) {
                tar.bytes(&blob_path(&img.manifest), &manifest_raw)
                    .map_err(Error::io("archive"))?;
            }
            let desc = |annotations| Descriptor {
                media_type: manifest
                    .media_type
                    .clone()
                    .unwrap_or_else(|| media::OCI_MANIFEST.into()),
                digest: img.manifest.clone(),
                size: manifest_raw.len() as u64,
                urls: Vec::new(),
                annotations,
                platform: None,
            };
            if tags.is_empty() {
                index.manifests.push(desc(Default::default()));
            }
            for t in tags {
                let mut a = BTreeMap::new();
                a.insert("io.containerd.image.name".to_string(), t.to_string());
                a.insert(
                    "org.opencontainers.image.ref.name".to_string(),
                    t.tag().unwrap_or("latest").to_string(),
                );
                index.manifests.push(desc(a));
                if let Some(top) = manifest.layers.last() {
                    repositories
                        .entry(t.familiar_repository())
                        .or_default()
                        .insert(
                            t.tag().unwrap_or("latest").to_string(),
                            top.digest.hex().to_string(),
                        );
                }
            }
            manifest_json.push(ArchiveManifest {
                config: blob_path(&img.id),
                repo_tags: (!tags.is_empty())
                    .then(|| tags.iter().map(Reference::familiar).collect()),
                layers: manifest
                    .layers
                    .iter()
                    .map(|l| blob_path(&l.digest))
                    .collect(),
            });
        }
        tar.bytes("index.json", &to_json(&index)?)
            .map_err(Error::io("archive"))?;
        tar.bytes("manifest.json", &to_json(&manifest_json)?)
            .map_err(Error::io("archive"))?;
        tar.bytes(
            "oci-layout",
            &to_json(&json!({"imageLayoutVersion": "1.0.0"}))?,
        )
        .map_err(Error::io("archive"))?;
        if !repositories.is_empty() {
            tar.bytes("repositories", &to_json(&repositories)?)
                .map_err(Error::io("archive"))?;
        }
        tar.finish().map_err(werr)
    }
}
