//! import, save, load.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use berth_engine::{ArchiveCompression, Engine, ImportOptions, SaveOptions};

use crate::cli::{Compress, ImportArgs, LoadArgs, SaveArgs};
use crate::format::print_out;
use crate::progress::Reporter;

/// `berth import`.
pub fn import(engine: &Engine, a: ImportArgs) -> Result<()> {
    let mut opts = ImportOptions::new(a.source.clone());
    opts.changes = a.changes;
    opts.message = a.message;
    opts.reference = a.reference;
    let progress = Reporter::new(a.quiet);
    let id = if a.source == "-" {
        engine.import(std::io::stdin().lock(), &opts, &progress)
    } else if berth_engine::is_url(&a.source) {
        engine.import_url(&a.source, &opts, &progress)
    } else {
        let f = File::open(&a.source).with_context(|| format!("open {}", a.source))?;
        engine.import(BufReader::with_capacity(1 << 20, f), &opts, &progress)
    }
    .with_context(|| format!("importing {}", a.source))?;
    print_out(&format!("{id}\n"));
    Ok(())
}

fn compression_for(path: Option<&Path>, flag: Option<Compress>) -> ArchiveCompression {
    match flag {
        Some(Compress::Gzip) => ArchiveCompression::Gzip,
        Some(Compress::Zstd) => ArchiveCompression::Zstd,
        None => match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some("gz" | "tgz") => ArchiveCompression::Gzip,
            Some("zst" | "zstd") => ArchiveCompression::Zstd,
            _ => ArchiveCompression::None,
        },
    }
}

/// A file written under a temporary name and renamed into place only when
/// complete, so a failed save never leaves a truncated archive behind.
struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    fn create(target: &Path) -> Result<AtomicFile> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .context("the output needs a file name")?
            .to_string_lossy();
        let tmp = dir.join(format!(".{name}.berth-{}", std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
            file: Some(file),
        })
    }

    fn commit(mut self) -> Result<()> {
        // No fsync, as cp and docker save: the rename already guarantees that a
        // killed save leaves no partial archive under the name asked for.
        self.file.take();
        std::fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("writing {}", self.target.display()))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// `berth save`.
pub fn save(engine: &Engine, a: SaveArgs) -> Result<()> {
    let mut opts = SaveOptions::default();
    opts.compression = compression_for(a.output.as_deref(), a.compress);
    let progress = Reporter::new(a.quiet || a.output.is_none());
    match &a.output {
        Some(path) => {
            let mut out = AtomicFile::create(path)?;
            let file = out.file.as_mut().context("output closed")?;
            engine
                .save(&a.images, file, &opts, &progress)
                .with_context(|| format!("saving to {}", path.display()))?;
            out.commit()
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::stdout().lock();
            engine.save(&a.images, &mut out, &opts, &progress)?;
            out.flush().context("writing to stdout")?;
            Ok(())
        }
    }
}

/// `berth load`.
pub fn load(engine: &Engine, a: LoadArgs) -> Result<()> {
    let progress = Reporter::new(a.quiet).each_item_once();
    let outcome = match &a.input {
        Some(path) => {
            let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
            engine
                .load(f, &progress)
                .with_context(|| format!("loading {}", path.display()))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            engine
                .load(std::io::stdin().lock(), &progress)
                .context("loading from stdin")?
        }
    };
    let mut out = String::new();
    for (id, tags) in &outcome.images {
        if tags.is_empty() {
            out.push_str(&format!("Loaded image ID: {id}\n"));
        }
        for t in tags {
            out.push_str(&format!("Loaded image: {}\n", t.familiar()));
        }
    }
    print_out(&out);
    Ok(())
}
