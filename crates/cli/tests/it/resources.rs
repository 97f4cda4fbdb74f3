//! When the machine says no: a full disk, a store the user may not touch.
//! One line on stderr, exit 1 (125 for run), and a store the next command uses as it is.

use std::process::Command;

use crate::fixtures::{ArchiveImage, Tar, busybox_layer, docker_archive, noise};
use crate::{Berth, assert_failed, require_root, require_tool};

/// A size-limited tmpfs mounted on a directory until dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        rustix::mount::mount(
            "tmpfs",
            dir,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            Some(
                std::ffi::CString::new(format!("size={size}"))
                    .expect("options")
                    .as_c_str(),
            ),
        )
        .expect("mount tmpfs");
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn a_full_disk_is_one_line_and_the_store_survives() {
    if !require_root() {
        return;
    }
    let b = Berth::with_driver("vfs");
    let _disk = SmallDisk::mount(&b.root(), "8m");
    let small = b.file("small.tar", &busybox_layer());
    b.ok(&["import", small.to_str().expect("utf-8"), "local/small:1"]);
    let before = b.ids();
    // 16 MiB of noise cannot fit in what is left of 8 MiB.
    let big = ArchiveImage::new(
        &["local/big:1"],
        vec![Tar::new().file("big.bin", &noise(16 << 20)).bytes()],
    );
    let archive = b.path("big.tar");
    std::fs::write(&archive, docker_archive(&[big])).expect("archive");
    let r = b.run(&["load", "-i", archive.to_str().expect("utf-8")]);
    assert_failed(&r, "load onto a full disk");
    assert!(r.stderr.contains("no space left on device"), "{}", r.stderr);
    assert_eq!(b.ids(), before);
    // The next command sweeps what the failed one left, and there is room again.
    let again = b.file("again.tar", &Tar::new().file("hello", b"hello").bytes());
    b.ok(&["import", again.to_str().expect("utf-8"), "local/again:1"]);
    assert_eq!(b.ids().len(), 2);
    let ingest = std::fs::read_dir(b.root().join("ingest"))
        .expect("ingest")
        .count();
    assert_eq!(ingest, 0);
}

#[test]
fn a_store_the_user_may_not_touch_is_one_line() {
    if !require_root() || !require_tool("setpriv") {
        return;
    }
    let b = Berth::new();
    let small = b.file("small.tar", &busybox_layer());
    b.ok(&["import", small.to_str().expect("utf-8"), "local/small:1"]);
    // The scratch directory is root's alone; nobody may read the store in it.
    for args in [
        &["images"][..],
        &["load", "-i", small.to_str().expect("utf-8")][..],
    ] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_berth"))
            .arg("--root")
            .arg(b.root())
            .arg("--runroot")
            .arg(b.runroot())
            .args(args)
            .env("DOCKER_CONFIG", b.path("docker-config"))
            .output()
            .expect("setpriv");
        let r: crate::Run = out.into();
        assert_failed(&r, args);
        assert!(r.stderr.contains("permission denied"), "{}", r.stderr);
        assert!(
            r.stderr.contains(b.root().to_str().expect("utf-8")),
            "{}",
            r.stderr
        );
    }
    assert_eq!(b.ids().len(), 1);
}
