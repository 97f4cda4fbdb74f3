//! Archives from and for the peers: Debian's podman and skopeo.

use std::process::Command;

use serde_json::Value;

use crate::fixtures::{ArchiveImage, Tar, busybox_layer, docker_archive};
use crate::{Berth, require_root, require_tool};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn podman(b: &Berth) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(b.path("podman-root"))
        .arg("--runroot")
        .arg(b.path("podman-run"))
        .arg("--storage-driver")
        .arg("vfs")
        .arg("--events-backend")
        .arg("none");
    c
}

#[test]
fn podman_save_loads_into_berth() {
    if !require_root() || !require_tool("podman") {
        return;
    }
    let b = Berth::new();
    let rootfs = b.file("rootfs.tar", &busybox_layer());
    run(podman(&b)
        .args(["import", "--change", "CMD [\"sh\"]"])
        .arg(&rootfs)
        .arg("localhost/pbox:1"));
    let podman_id = run(podman(&b).args(["images", "--no-trunc", "--format", "{{.ID}}"]))
        .trim()
        .to_string();
    for format in ["docker-archive", "oci-archive"] {
        let archive = b.path(&format!("podman-{format}.tar"));
        run(podman(&b)
            .args(["save", "--format", format, "-o"])
            .arg(&archive)
            .arg("localhost/pbox:1"));
        let target = Berth::new();
        let out = target.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out, "Loaded image: localhost/pbox:1\n", "{format}");
        let id = target.ok(&["inspect", "-f", "{{.Id}}", "localhost/pbox:1"]);
        assert!(
            id.trim().ends_with(podman_id.trim_start_matches("sha256:")),
            "{format}: {id} vs {podman_id}"
        );
        let view = target.ok(&["image", "mount", "localhost/pbox:1"]);
        let sh = std::path::Path::new(view.trim()).join("bin/busybox");
        assert!(sh.is_file(), "{format}: busybox in the union view");
        target.ok(&["image", "umount", "localhost/pbox:1"]);
    }
}

#[test]
fn skopeo_reads_what_berth_saves_and_berth_reads_skopeo_oci_archives() {
    if !require_root() || !require_tool("skopeo") {
        return;
    }
    let b = Berth::new();
    let img = ArchiveImage::new(
        &["demo:1"],
        vec![
            busybox_layer(),
            Tar::new().file("etc/motd", b"hello\n").bytes(),
        ],
    );
    b.load(&docker_archive(&[img]));
    let saved = b.path("berth.tar");
    b.ok(&["save", "-o", saved.to_str().unwrap(), "demo:1"]);
    let inspect: Value = serde_json::from_str(&b.ok(&["inspect", "demo:1"])).unwrap();
    let diff_ids = inspect[0]["RootFS"]["Layers"].clone();

    for transport in ["docker-archive", "oci-archive"] {
        let s: Value =
            serde_json::from_str(&run(Command::new("skopeo")
                .args(["inspect", &format!("{transport}:{}", saved.display())])))
            .unwrap();
        assert_eq!(
            s["Layers"].as_array().map(Vec::len),
            Some(2),
            "{transport}: {s}"
        );
        let config: Value = serde_json::from_str(&run(Command::new("skopeo").args([
            "inspect",
            "--config",
            &format!("{transport}:{}", saved.display()),
        ])))
        .unwrap();
        assert_eq!(config["rootfs"]["diff_ids"], diff_ids, "{transport}");
    }
    // The OCI layout berth writes carries the manifest berth stores: same digest.
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci-archive:{}", saved.display()),
    ]));
    let manifest_digest = berth_oci::Digest::of(raw.as_bytes());
    assert!(
        b.root()
            .join("blobs/sha256")
            .join(manifest_digest.hex())
            .is_file(),
        "skopeo sees berth's own manifest blob"
    );

    // OCI to OCI, skopeo copies blobs as they are: the image ID survives.
    let oci = b.path("skopeo-oci.tar");
    run(Command::new("skopeo").args([
        "copy",
        &format!("oci-archive:{}", saved.display()),
        &format!("oci-archive:{}:demo:1", oci.display()),
    ]));
    let other = Berth::new();
    let out = other.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: demo:1\n");
    assert_eq!(other.ids(), b.ids(), "the image ID survives skopeo");
    // docker-archive to OCI, skopeo rewrites the config (so the ID changes) and
    // compresses layers: the layers' content must still be the same.
    let converted = b.path("skopeo-converted.tar");
    run(Command::new("skopeo").args([
        "copy",
        &format!("docker-archive:{}", saved.display()),
        &format!("oci-archive:{}:demo:2", converted.display()),
    ]));
    let third = Berth::new();
    assert_eq!(
        third.ok(&["load", "-i", converted.to_str().unwrap()]),
        "Loaded image: demo:2\n"
    );
    let layers = third.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", "demo:2"]);
    assert_eq!(serde_json::from_str::<Value>(&layers).unwrap(), diff_ids);
}
