//! The applier on real directories: whiteout modes, ordering through the write
//! pool, and metadata. Runs as root (chown, mknod); skips otherwise unless CI=true.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_layer::{ApplyOptions, WhiteoutMode, apply_layer};
use berth_oci::Digest;

fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "these tests need root under CI"
    );
    eprintln!("skipped: needs root");
    false
}

/// A layer tar from (path, contents); a path ending in `/` is a directory.
fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
        }
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn apply(dir: &Path, tar: &[u8], mode: WhiteoutMode, workers: usize) -> berth_layer::Applied {
    let mut opts = ApplyOptions::default();
    opts.whiteouts = mode;
    opts.workers = workers;
    apply_layer(tar, dir, &opts).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn direct_mode_deletes_and_opaque_spares_the_same_layer() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lower = layer(&[
        ("d/", b""),
        ("d/old1", b"1"),
        ("d/old2", b"2"),
        ("gone", b"x"),
        ("keep", b"k"),
    ]);
    apply(dir.path(), &lower, WhiteoutMode::Direct, 4);
    // The new file comes before the opaque marker: it must survive it.
    let upper = layer(&[
        ("d/", b""),
        ("d/new", b"n"),
        ("d/.wh..wh..opq", b""),
        (".wh.gone", b""),
    ]);
    let applied = apply(dir.path(), &upper, WhiteoutMode::Direct, 4);
    assert_eq!(applied.diff_id, Digest::of(&upper));
    assert_eq!(names(dir.path()), vec!["d", "keep"]);
    assert_eq!(names(&dir.path().join("d")), vec!["new"]);
}

#[test]
fn overlay_mode_writes_whiteout_devices_and_opaque_xattr() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = layer(&[
        ("d/", b""),
        ("d/.wh..wh..opq", b""),
        ("d/new", b"n"),
        (".wh.gone", b""),
    ]);
    apply(dir.path(), &upper, WhiteoutMode::Overlay, 2);
    let wh = fs::symlink_metadata(dir.path().join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(dir.path().join("d"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
}

#[test]
fn pool_and_inline_writes_agree() {
    if !root() {
        return;
    }
    // Many small files, a large one, a path written twice, and a file that a
    // later entry replaces with a directory: same tree with or without the pool.
    let mut entries: Vec<(String, Vec<u8>)> = vec![("dir/".into(), vec![])];
    for i in 0..500 {
        entries.push((format!("dir/f{i}"), vec![i as u8; 100 + i]));
    }
    entries.push(("dir/big".into(), vec![7u8; 1 << 20]));
    entries.push(("dir/f3".into(), b"second".to_vec()));
    entries.push(("x".into(), b"file".to_vec()));
    entries.push(("x/".into(), vec![]));
    entries.push(("x/inner".into(), b"inner".to_vec()));
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let tar = layer(&refs);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pa = apply(a.path(), &tar, WhiteoutMode::Overlay, 0);
    let pb = apply(b.path(), &tar, WhiteoutMode::Overlay, 8);
    assert_eq!(pa, pb);
    assert_eq!(fs::read(b.path().join("dir/f3")).unwrap(), b"second");
    assert_eq!(fs::read(b.path().join("x/inner")).unwrap(), b"inner");
    for i in (0..500).step_by(37) {
        let p = format!("dir/f{i}");
        assert_eq!(
            fs::read(a.path().join(&p)).unwrap(),
            fs::read(b.path().join(&p)).unwrap()
        );
    }
    // Directory times are set after their children are written.
    assert_eq!(
        fs::metadata(b.path().join("dir")).unwrap().mtime(),
        1_600_000_000
    );
}
