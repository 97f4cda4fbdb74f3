//! The layer applier on arbitrary bytes, as the fuzz target (`fuzz/`) and the
//! stable smoke test run it: whatever the input (a tar stream, compressed
//! or not, or garbage), applying it never panics and never writes outside
//! the root it is given.

use std::path::Path;

use crate::{ApplyOptions, WhiteoutMode, apply_layer, decompress};

/// Applies `data` into `scratch/root` (both whiteout modes, a 64 MiB cap)
/// and reports an escape: anything that appeared in `scratch` beside
/// `root`. An error from the applier is fine — refusing is its job.
pub fn exercise(data: &[u8], scratch: &Path) -> Result<(), String> {
    for mode in [WhiteoutMode::Overlay, WhiteoutMode::Direct] {
        let root = scratch.join("root");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| format!("scratch root: {e}"))?;
        let opts = ApplyOptions {
            whiteouts: mode,
            max_size: 64 << 20,
            ..ApplyOptions::default()
        };
        if let Ok((_, input)) = decompress(data) {
            let _ = apply_layer(input, &root, &opts);
        }
        let outside: Vec<String> = std::fs::read_dir(scratch)
            .map_err(|e| format!("scratch: {e}"))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "root")
            .collect();
        if !outside.is_empty() {
            return Err(format!("written outside the root: {outside:?}"));
        }
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}

#[cfg(test)]
mod fuzz_smoke {
    use super::exercise;

    /// Hostile tars: parent escapes, absolute paths, symlinks and hard links
    /// pointing out, a file through a symlinked directory, whiteouts of `..`.
    fn seeds() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let entry = |b: &mut tar::Builder<Vec<u8>>,
                     path: &[u8],
                     kind: tar::EntryType,
                     link: Option<&[u8]>,
                     data: &[u8]| {
            let mut h = tar::Header::new_old();
            {
                let raw = h.as_old_mut();
                let n = path.len().min(99);
                raw.name[..n].copy_from_slice(&path[..n]);
                if let Some(l) = link {
                    let n = l.len().min(99);
                    raw.linkname[..n].copy_from_slice(&l[..n]);
                }
            }
            h.set_entry_type(kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).unwrap();
        };
        type Spec = &'static [(&'static [u8], tar::EntryType, Option<&'static [u8]>)];
        let specs: &[Spec] = &[
            &[(b"../escape", tar::EntryType::Regular, None)],
            &[
                (b"/abs", tar::EntryType::Regular, None),
                (b"a/../../up", tar::EntryType::Regular, None),
            ],
            &[
                (b"link", tar::EntryType::Symlink, Some(b"..")),
                (b"link/escape", tar::EntryType::Regular, None),
            ],
            &[
                (b"abs", tar::EntryType::Symlink, Some(b"/tmp")),
                (b"abs/escape", tar::EntryType::Regular, None),
            ],
            &[
                (b"hard", tar::EntryType::Link, Some(b"../escape")),
                (b"d", tar::EntryType::Directory, None),
            ],
            &[
                (b"d/", tar::EntryType::Directory, None),
                (b"d/.wh...", tar::EntryType::Regular, None),
                (b".wh..wh..opq", tar::EntryType::Regular, None),
            ],
            &[
                (b"dev", tar::EntryType::Char, None),
                (b"fifo", tar::EntryType::Fifo, None),
                (b"x/y/z", tar::EntryType::Regular, None),
            ],
        ];
        for spec in specs {
            let mut b = tar::Builder::new(Vec::new());
            for (path, kind, link) in spec.iter() {
                entry(
                    &mut b,
                    path,
                    *kind,
                    *link,
                    if *kind == tar::EntryType::Regular {
                        b"payload"
                    } else {
                        b""
                    },
                );
            }
            out.push(b.into_inner().unwrap());
        }
        out
    }

    /// The fuzz target's body on mutations of hostile tars, on stable Rust.
    #[test]
    fn mutated_hostile_tars_never_escape_or_panic() {
        let mut seeds = seeds();
        // The fuzzer's corpus too (what it found interesting is kept there).
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/layer");
        if let Ok(dir) = std::fs::read_dir(&corpus) {
            seeds.extend(
                dir.flatten()
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .filter(|b| !b.is_empty()),
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("s");
        std::fs::create_dir_all(&scratch).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seed in &seeds {
            exercise(seed, &scratch).unwrap();
        }
        for round in 0..300 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..(1 + next() % 6) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = match next() % 4 {
                    0 => b'.',
                    1 => b'/',
                    2 => 0,
                    _ => next() as u8,
                };
            }
            exercise(&bytes, &scratch).unwrap();
        }
    }
}
