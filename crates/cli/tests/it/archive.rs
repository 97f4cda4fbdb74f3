//! save and load: round trips, compression, both drivers, shared layers.

use std::collections::BTreeMap;

use berth_oci::Digest;
use serde_json::Value;

use crate::fixtures::{ArchiveImage, Entry, Tar, docker_archive, noise};
use crate::{Berth, require_root, tree};

fn layered() -> Vec<ArchiveImage> {
    let base = Tar::new()
        .dir("bin/")
        .file_mode("bin/suid", b"#!/bin/sh\n", 0o4755, 0, 0)
        .file_mode("home-file", b"owned", 0o640, 1000, 1000)
        .symlink("lib", "usr/lib")
        .dir("usr/")
        .dir("usr/lib/")
        .file("usr/lib/libc.so", b"libc")
        .hardlink("usr/lib/libc.so.6", "usr/lib/libc.so")
        .dir("var/")
        .file("var/old", b"old")
        .raw(Entry {
            mode: 0o600,
            ..Entry::new("var/fifo", b'6')
        })
        .raw(Entry {
            mode: 0o666,
            dev: (1, 3),
            ..Entry::new("var/null", b'3')
        })
        .bytes();
    let mid = Tar::new()
        .file("var/.wh.old", b"")
        .file("var/new", b"new")
        .bytes();
    let top = Tar::new().dir("app/").file("app/run", b"run").bytes();
    vec![
        ArchiveImage::new(
            &["stack:1", "stack:latest"],
            vec![base.clone(), mid.clone(), top],
        ),
        ArchiveImage::new(&["stack-base:1"], vec![base, mid]),
    ]
}

/// Blob name → sha256 of its content, for the archive's `blobs/sha256/*`.
fn archive_blobs(path: &std::path::Path) -> BTreeMap<String, Digest> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name.starts_with("blobs/sha256/") && e.header().entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            out.insert(name, Digest::of(&data));
        }
    }
    out
}

fn round_trip(driver: &'static str) {
    let b = Berth::with_driver(driver);
    let images = layered();
    let out = b.load(&docker_archive(&images));
    assert_eq!(
        out,
        "Loaded image: stack:1\nLoaded image: stack:latest\nLoaded image: stack-base:1\n"
    );
    let ids = b.ids();
    let mut want: Vec<String> = images.iter().map(|i| i.id().to_string()).collect();
    want.sort();
    assert_eq!(ids, want, "image ID = config digest");
    let first = b.path("first.tar");
    b.ok(&[
        "save",
        "-o",
        first.to_str().unwrap(),
        "stack:1",
        "stack:latest",
        "stack-base:1",
    ]);
    let blobs = archive_blobs(&first);
    for (name, digest) in &blobs {
        assert_eq!(
            name.strip_prefix("blobs/sha256/").unwrap(),
            digest.hex(),
            "{name} is stored under its digest"
        );
    }
    // Three layers, two configs, two manifests: the shared layers appear once.
    assert_eq!(blobs.len(), 7, "{blobs:?}");
    let manifest: Value = serde_json::from_slice(&tar_file(&first, "manifest.json")).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["stack:1", "stack:latest"])
    );
    let inspect_before = b.ok(&[
        "inspect",
        "-f",
        "{{.Id}} {{json .RootFS}}",
        "stack:1",
        "stack-base:1",
    ]);

    b.ok(&["rmi", "stack:1", "stack:latest", "stack-base:1"]);
    assert!(b.ids().is_empty());
    assert_eq!(b.snapshot_dirs(), 0);
    let r = b.run(&["load", "-i", first.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Loaded image: stack-base:1"),
        "{}",
        r.stdout
    );
    // One line per layer, though both images hold the base's.
    let layers: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.split(':').next())
        .collect();
    let unique: std::collections::BTreeSet<&str> = layers.iter().copied().collect();
    assert_eq!(layers.len(), unique.len(), "{}", r.stderr);
    assert!(!layers.is_empty(), "{}", r.stderr);
    assert_eq!(b.ids(), ids, "image IDs survive save and load");
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{json .RootFS}}",
            "stack:1",
            "stack-base:1"
        ]),
        inspect_before
    );
    let second = b.path("second.tar");
    b.ok(&[
        "save",
        "-o",
        second.to_str().unwrap(),
        "stack:1",
        "stack:latest",
        "stack-base:1",
    ]);
    assert_eq!(
        archive_blobs(&second),
        blobs,
        "manifests, configs and layers are byte for byte the same"
    );

    let view = b.ok(&["image", "mount", "stack:1"]);
    let root = std::path::Path::new(view.trim());
    assert_eq!(
        tree(root),
        vec![
            "app",
            "app/run",
            "bin",
            "bin/suid",
            "home-file",
            "lib",
            "usr",
            "usr/lib",
            "usr/lib/libc.so",
            "usr/lib/libc.so.6",
            "var",
            "var/fifo",
            "var/new",
            "var/null"
        ]
    );
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let fifo = std::fs::symlink_metadata(root.join("var/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo() && fifo.mode() & 0o777 == 0o600);
    let null = std::fs::symlink_metadata(root.join("var/null")).unwrap();
    assert!(null.file_type().is_char_device() && null.rdev() == rustix::fs::makedev(1, 3));
    let suid = std::fs::metadata(root.join("bin/suid")).unwrap();
    assert_eq!(suid.mode() & 0o7777, 0o4755);
    let owned = std::fs::metadata(root.join("home-file")).unwrap();
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mode() & 0o777),
        (1000, 1000, 0o640)
    );
    assert_eq!(owned.mtime(), 1_700_000_000);
    assert_eq!(
        std::fs::read_link(root.join("lib")).unwrap().to_str(),
        Some("usr/lib")
    );
    let a = std::fs::metadata(root.join("usr/lib/libc.so")).unwrap();
    let c = std::fs::metadata(root.join("usr/lib/libc.so.6")).unwrap();
    assert_eq!(a.ino(), c.ino(), "hard links stay linked");
    b.ok(&["image", "umount", "stack:1"]);
}

fn tar_file(archive: &std::path::Path, name: &str) -> Vec<u8> {
    let mut a = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            return data;
        }
    }
    panic!("{name} not in {}", archive.display());
}

#[test]
fn save_load_round_trip_on_overlay() {
    if require_root() {
        round_trip("overlay");
    }
}

#[test]
fn save_load_round_trip_on_vfs() {
    if require_root() {
        round_trip("vfs");
    }
}

#[test]
fn compressed_archives_and_pipes() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    b.load(&docker_archive(&layered()));
    let ids = b.ids();
    for name in ["a.tar.gz", "a.tar.zst"] {
        let p = b.path(name);
        b.ok(&["save", "-o", p.to_str().unwrap(), "stack:1"]);
        let head = std::fs::read(&p).unwrap();
        assert!(
            head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
            "{name} is compressed"
        );
        let other = Berth::new();
        let out = other.ok(&["load", "-q", "-i", p.to_str().unwrap()]);
        assert!(out.contains("Loaded image: stack:1"), "{out}");
        assert!(ids.contains(&other.ids()[0]));
    }
    // save to a pipe, load from a pipe.
    let saved = b
        .cmd(&["save", "--compress", "zstd", "stack-base:1"])
        .output()
        .unwrap();
    assert!(saved.status.success());
    let other = Berth::new();
    let r = other.run_stdin(&["load"], &saved.stdout);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Loaded image: stack-base:1\n");
    // An image saved by ID carries no name.
    let id = &ids[0][7..19];
    let saved = b.cmd(&["save", id]).output().unwrap();
    let r = Berth::new().run_stdin(&["load"], &saved.stdout);
    assert!(
        r.stdout.starts_with("Loaded image ID: sha256:"),
        "{}",
        r.stdout
    );
    // A failed save leaves no file behind.
    let target = b.path("never.tar");
    b.fail(&[
        "save",
        "-o",
        target.to_str().unwrap(),
        "stack:1",
        "nosuch:1",
    ]);
    assert!(!target.exists());
    assert!(
        std::fs::read_dir(b.dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".berth-"))
    );
}

#[test]
fn loading_twice_reuses_everything() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let archive = docker_archive(&layered());
    b.load(&archive);
    let dirs = b.snapshot_dirs();
    b.load(&archive);
    assert_eq!(b.snapshot_dirs(), dirs);
    assert_eq!(b.ids().len(), 2);
}

#[test]
fn large_layers_load_while_their_blobs_commit() {
    if !require_root() {
        return;
    }
    // Blobs are fsynced in the background while the load goes on; with layers
    // this large the commits are still running when the manifest is built.
    // Layers this large are also extracted while the archive streams, before the
    // manifest says their order; the whiteout in the second proves they were
    // stacked in the right order all the same.
    let b = Berth::new();
    let big = noise(48 << 20);
    let layers = vec![
        Tar::new().file("big1", &big).file("gone", b"g").bytes(),
        Tar::new()
            .file("big2", &big[..32 << 20])
            .file(".wh.gone", b"")
            .bytes(),
        Tar::new().file("small", b"s").bytes(),
    ];
    let img = ArchiveImage::new(&["big:1"], layers);
    assert_eq!(b.load(&docker_archive(&[img])), "Loaded image: big:1\n");
    let view = b.ok(&["image", "mount", "big:1"]);
    let root = std::path::Path::new(view.trim());
    assert_eq!(std::fs::read(root.join("big1")).unwrap(), big);
    assert_eq!(std::fs::read(root.join("big2")).unwrap(), &big[..32 << 20]);
    assert!(
        !root.join("gone").exists(),
        "the whiteout of layer 2 hides layer 1's file"
    );
    assert!(root.join("small").exists());
    b.ok(&["image", "umount", "big:1"]);
    let ingest = std::fs::read_dir(b.root().join("ingest")).unwrap().count();
    assert_eq!(ingest, 0, "every pending blob was committed");
    // Saved in Docker 25's layout (blobs named by digest) and loaded elsewhere:
    // the same image, extracted early too.
    let saved = b.path("big-saved.tar");
    b.ok(&["save", "-o", saved.to_str().unwrap(), "big:1"]);
    let c = Berth::new();
    c.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(c.ids(), b.ids());
    let view = c.ok(&["image", "mount", "big:1"]);
    assert!(!std::path::Path::new(view.trim()).join("gone").exists());
    c.ok(&["image", "umount", "big:1"]);
}

#[test]
fn an_early_extraction_that_is_wrong_or_no_layer_leaves_nothing() {
    if !require_root() {
        return;
    }
    let big = noise(20 << 20);
    let img = ArchiveImage::new(&["big:1"], vec![Tar::new().file("big", &big).bytes()]);
    let good = docker_archive(&[img]);
    // A large file that is no layer at all: its extraction fails and is dropped.
    let mut with_junk = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(20 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    with_junk
        .append_data(&mut h, "junk.bin", &noise(20 << 20)[..])
        .unwrap();
    let mut original = tar::Archive::new(&good[..]);
    for entry in original.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        with_junk
            .append_data(&mut header, entry.path().unwrap(), &data[..])
            .unwrap();
    }
    let b = Berth::new();
    assert_eq!(
        b.load(&with_junk.into_inner().unwrap()),
        "Loaded image: big:1\n"
    );
    assert_eq!(
        b.snapshot_dirs(),
        1,
        "the junk file's extraction was removed"
    );

    // The layer's bytes changed after its config was written: the early
    // extraction finds another diff ID, and nothing of it stays.
    let mut bad = good.clone();
    let at = bad
        .windows(64)
        .position(|w| w == &big[1 << 20..(1 << 20) + 64])
        .unwrap();
    bad[at] ^= 0xff;
    let c = Berth::new();
    let err = c.fail(&["load", "-i", c.file("bad.tar", &bad).to_str().unwrap()]);
    assert!(err.contains("content has digest"), "{err}");
    assert!(c.ids().is_empty());
    assert_eq!(c.snapshot_dirs(), 0);
}
