//! Several berth processes at once, and berth killed at any instant.

use std::process::Stdio;
use std::time::Duration;

use crate::fixtures::{ArchiveImage, Tar, docker_archive};
use crate::{Berth, require_root};

/// A layer of many small files: slow enough to be caught mid-way.
fn many_files(tag: &str, n: usize) -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("data/");
    for i in 0..n {
        t.file(
            &format!("data/{tag}-{i}"),
            format!("{tag} file {i}").repeat(50).as_bytes(),
        );
    }
    t.bytes()
}

/// Starts every command at once, then expects each to succeed.
fn all_succeed_at_once(b: &Berth, commands: &[Vec<&str>], round: usize) {
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            b.cmd(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn concurrent_loads_sharing_layers_both_succeed() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let base = many_files("base", 3000);
    let one = b.file(
        "one.tar",
        &docker_archive(&[ArchiveImage::new(
            &["one:1"],
            vec![base.clone(), Tar::new().file("one", b"1").bytes()],
        )]),
    );
    let two = b.file(
        "two.tar",
        &docker_archive(&[ArchiveImage::new(
            &["two:1"],
            vec![base, Tar::new().file("two", b"2").bytes()],
        )]),
    );
    for round in 0..3 {
        let loads: Vec<Vec<&str>> = [&one, &two]
            .iter()
            .map(|p| vec!["load", "-q", "-i", p.to_str().unwrap()])
            .collect();
        all_succeed_at_once(&b, &loads, round);
        assert_eq!(b.ids().len(), 2);
        // The base is shared, whichever load won the race to unpack it.
        assert_eq!(b.snapshot_dirs(), 3, "round {round}");
        for img in ["one:1", "two:1"] {
            let view = b.ok(&["image", "mount", img]);
            assert!(
                std::path::Path::new(view.trim())
                    .join("data/base-2999")
                    .exists()
            );
            b.ok(&["image", "umount", img]);
        }
        b.ok(&["rmi", "one:1", "two:1"]);
        assert_eq!(b.snapshot_dirs(), 0);
    }
}

#[test]
fn concurrent_rmi_and_tag_never_leave_a_broken_name() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let archive = b.file(
        "x.tar",
        &docker_archive(&[ArchiveImage::new(&["x:1"], vec![many_files("x", 200)])]),
    );
    for round in 0..8 {
        b.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
        let rmi = b
            .cmd(&["rmi", "x:1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let tag = b
            .cmd(&["tag", "x:1", "y:1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (rmi, tag) = (
            rmi.wait_with_output().unwrap(),
            tag.wait_with_output().unwrap(),
        );
        assert!(rmi.status.success(), "round {round}: rmi x:1 must succeed");
        // Either the tag came first (y:1 keeps the image) or the image was gone.
        let has_y = b.run(&["inspect", "y:1"]).code == 0;
        assert_eq!(tag.status.success(), has_y, "round {round}");
        if has_y {
            let view = b.ok(&["image", "mount", "y:1"]);
            assert!(
                std::path::Path::new(view.trim())
                    .join("data/x-199")
                    .exists(),
                "round {round}"
            );
            b.ok(&["image", "umount", "y:1"]);
            b.ok(&["rmi", "y:1"]);
        }
        assert!(b.ids().is_empty());
        assert_eq!(b.snapshot_dirs(), 0, "round {round}");
    }
}

#[test]
fn sigkill_at_any_instant_leaves_a_usable_store() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let archive = b.file(
        "k.tar",
        &docker_archive(&[ArchiveImage::new(
            &["k:1"],
            vec![
                many_files("a", 2000),
                many_files("b", 2000),
                Tar::new().file("top", b"t").bytes(),
            ],
        )]),
    );
    let rootfs = b.file("k-rootfs.tar", &many_files("c", 2000));
    // Spread the kills over the whole run: reading, extracting, committing, recording.
    for (round, delay_ms) in [5u64, 20, 40, 60, 90, 120, 160, 220, 300]
        .into_iter()
        .enumerate()
    {
        let args: Vec<&str> = if round % 3 == 2 {
            vec!["import", "-q", rootfs.to_str().unwrap(), "kimport:1"]
        } else {
            vec!["load", "-q", "-i", archive.to_str().unwrap()]
        };
        let mut child = b
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // The next commands work without repair…
        for id in b.ids() {
            let view = b.ok(&["image", "mount", &id]);
            assert!(
                std::path::Path::new(view.trim()).join("data").is_dir(),
                "round {round}"
            );
            b.ok(&["image", "umount", &id]);
        }
        b.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
        let view = b.ok(&["image", "mount", "k:1"]);
        assert!(
            std::path::Path::new(view.trim())
                .join("data/b-1999")
                .exists(),
            "round {round}"
        );
        b.ok(&["image", "umount", "k:1"]);
        // …and removing everything leaves nothing: the garbage was swept.
        b.ok(&["image", "prune", "-a", "-f"]);
        assert!(b.ids().is_empty());
        assert_eq!(b.snapshot_dirs(), 0, "round {round}: snapshots left");
        let ingest = std::fs::read_dir(b.root().join("ingest")).unwrap().count();
        assert_eq!(ingest, 0, "round {round}: ingest files left");
        let blobs = std::fs::read_dir(b.root().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(blobs, 0, "round {round}: blobs left");
    }
}

#[test]
fn processes_creating_one_store_at_once_all_succeed() {
    if !require_root() {
        return;
    }
    // Switching a new database to WAL needs an exclusive lock: two loads
    // starting on a fresh root used to fail with "database is locked".
    let scratch = Berth::new();
    let archive = scratch.file(
        "tiny.tar",
        &docker_archive(&[ArchiveImage::new(
            &["t:1"],
            vec![Tar::new().file("f", b"x").bytes()],
        )]),
    );
    for round in 0..10 {
        let b = Berth::new();
        let loads = vec![vec!["load", "-q", "-i", archive.to_str().unwrap()]; 6];
        all_succeed_at_once(&b, &loads, round);
    }
}
