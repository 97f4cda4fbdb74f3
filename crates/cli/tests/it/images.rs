//! import, images, tag, rmi, prune, inspect, history, mount.

use serde_json::Value;

use crate::fixtures::{ArchiveImage, Tar, busybox_layer, docker_archive, gzip, zstd};
use crate::{Berth, require_root, tree};

fn import_busybox(b: &Berth, name: &str) -> String {
    let p = b.file("busybox.tar.gz", &gzip(&busybox_layer()));
    b.ok(&[
        "import",
        "-q",
        "-c",
        r#"CMD ["sh"]"#,
        "-m",
        "busybox base",
        p.to_str().unwrap(),
        name,
    ])
    .trim()
    .to_string()
}

#[test]
fn import_lists_inspects_and_shows_history() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let id = import_busybox(&b, "busybox:1.36");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = b.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("busybox      1.36      {}   ", &id[7..19])),
        "{out}"
    );

    let inspect: Value = serde_json::from_str(&b.ok(&["inspect", "busybox:1.36"])).unwrap();
    let i = &inspect[0];
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["RepoTags"][0], "busybox:1.36");
    assert_eq!(i["Config"]["Cmd"][0], "sh");
    assert_eq!(i["Comment"], "busybox base");
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(i["Size"].as_u64().unwrap() > 500_000);
    assert_eq!(i["GraphDriver"]["Name"], "overlay");

    assert_eq!(
        b.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}} {{json .RepoTags}}",
            &id[7..19]
        ])
        .trim(),
        r#"linux/amd64 ["busybox:1.36"]"#
    );
    let hist = b.ok(&["history", "busybox:1.36"]);
    assert!(hist.starts_with("IMAGE          CREATED"), "{hist}");
    assert!(
        hist.lines().nth(1).unwrap().starts_with(&id[7..19]) && hist.contains("busybox base"),
        "{hist}"
    );
}

#[test]
fn import_from_stdin_in_every_compression() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let layer = Tar::new().dir("etc/").file("etc/hello", b"hi\n").bytes();
    let xz = {
        let mut child = std::process::Command::new("xz")
            .args(["-c", "-1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("xz from Debian's xz-utils");
        let mut stdin = child.stdin.take().unwrap();
        let input = layer.clone();
        let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        out.stdout
    };
    for (name, data) in [
        ("xz", xz),
        ("plain", layer.clone()),
        ("gz", gzip(&layer)),
        ("zst", zstd(&layer)),
    ] {
        let r = b.run_stdin(&["import", "-q", "-", &format!("t:{name}")], &data);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
    // Same content, different created times: three images sharing one layer.
    assert_eq!(b.snapshot_dirs(), 1);
    let inspect: Value = serde_json::from_str(&b.ok(&["inspect", "t:gz"])).unwrap();
    assert_eq!(inspect[0]["Comment"], "Imported from -");
}

#[test]
fn import_changes_set_the_config() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let p = b.file("l.tar", &Tar::new().file("a", b"1").bytes());
    let p = p.to_str().unwrap();
    b.ok(&[
        "import",
        "-q",
        "-c",
        "ENV A=1 B=\"two words\"",
        "-c",
        "EXPOSE 8080",
        "-c",
        "LABEL team=berth",
        "-c",
        "WORKDIR /srv",
        "-c",
        "USER 1000",
        "-c",
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
        "-c",
        "VOLUME /data",
        "-c",
        "STOPSIGNAL SIGINT",
        p,
        "cfg",
    ]);
    let cfg: Value =
        serde_json::from_str(&b.ok(&["inspect", "-f", "{{json .Config}}", "cfg"])).unwrap();
    assert_eq!(cfg["Env"], serde_json::json!(["A=1", "B=two words"]));
    assert!(cfg["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(cfg["Labels"]["team"], "berth");
    assert_eq!(cfg["WorkingDir"], "/srv");
    assert_eq!(cfg["User"], "1000");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert!(cfg["Volumes"]["/data"].is_object());
    assert_eq!(cfg["StopSignal"], "SIGINT");
    let err = b.fail(&["import", "-c", "RUN rm -rf /", p]);
    assert!(err.contains("RUN is not allowed"), "{err}");
    assert_eq!(b.ids().len(), 1, "a refused import adds nothing");
}

#[test]
fn tag_and_rmi_behave_like_docker() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let base = Tar::new().dir("bin/").file("bin/tool", b"base").bytes();
    let top = Tar::new().file("extra", b"top").bytes();
    let a = ArchiveImage::new(&["app:1"], vec![base.clone(), top]);
    let c = ArchiveImage::new(&["base:1"], vec![base]);
    b.load(&docker_archive(&[a, c]));
    assert_eq!(b.snapshot_dirs(), 2, "the shared base is stored once");

    b.ok(&["tag", "app:1", "app:2"]);
    b.ok(&["tag", "app:1", "registry.example:5000/team/app"]);
    let out = b.ok(&["images", "app"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let listed = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        listed.contains("registry.example:5000/team/app:latest"),
        "{listed}"
    );

    // By name: untag only while other names remain.
    assert_eq!(b.ok(&["rmi", "app:2"]), "Untagged: app:2\n");
    // By ID with two names left: refused without -f.
    let id = b
        .ok(&["inspect", "-f", "{{.Id}}", "app:1"])
        .trim()
        .to_string();
    let err = b.fail(&["rmi", &id[7..19]]);
    assert!(
        err.contains("must be forced") && err.contains(&id[7..19]),
        "{err}"
    );
    let out = b.ok(&["rmi", "-f", &id[7..19]]);
    assert!(
        out.contains("Untagged: app:1\n") && out.contains(&format!("Deleted: {id}\n")),
        "{out}"
    );
    // The top layer went; the base stays for base:1.
    assert_eq!(out.matches("Deleted:").count(), 2, "{out}");
    assert_eq!(b.snapshot_dirs(), 1);
    let view = b.ok(&["image", "mount", "base:1"]);
    assert_eq!(
        std::fs::read(format!("{}/bin/tool", view.trim())).unwrap(),
        b"base"
    );
    let err = b.fail(&["rmi", "base:1"]);
    assert!(err.contains("mounted"), "{err}");
    b.ok(&["image", "umount", "base:1"]);
    b.ok(&["rmi", "base:1"]);
    assert_eq!(b.snapshot_dirs(), 0);
    assert!(b.ids().is_empty());
    let blobs = std::fs::read_dir(b.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "no blob outlives its images");

    let err = b.fail(&["rmi", "nosuch"]);
    assert_eq!(err, "Error: No such image: nosuch:latest\n");
    let err = b.fail(&["tag", "nosuch", "x"]);
    assert!(err.contains("No such image"), "{err}");
    let err = b.fail(&["inspect", "Bad:Ref"]);
    assert!(err.contains("invalid reference format"), "{err}");
}

#[test]
fn filters_formats_and_prune() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let mut old = ArchiveImage::new(&["old:1"], vec![Tar::new().file("o", b"o").bytes()]);
    old.created = "2020-01-01T00:00:00Z".into();
    let mut new = ArchiveImage::new(&["new:1"], vec![Tar::new().file("n", b"n").bytes()]);
    new.labels = serde_json::json!({"tier": "web"});
    b.load(&docker_archive(&[old, new]));
    assert_eq!(
        b.ok(&[
            "images",
            "--format",
            "{{.Repository}}",
            "--filter",
            "since=old:1"
        ]),
        "new\n"
    );
    assert_eq!(
        b.ok(&[
            "images",
            "--format",
            "{{.Repository}}",
            "--filter",
            "before=new:1"
        ]),
        "old\n"
    );
    assert_eq!(
        b.ok(&[
            "images",
            "--format",
            "{{.Repository}}",
            "-f",
            "label=tier=web"
        ]),
        "new\n"
    );
    assert_eq!(
        b.ok(&[
            "images",
            "--format",
            "{{.Repository}}",
            "-f",
            "reference=ol*"
        ]),
        "old\n"
    );
    let json_lines = b.ok(&["images", "--format", "json"]);
    for line in json_lines.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(
            v["ID"].as_str().unwrap().len() == 12 && v["Size"].is_string(),
            "{line}"
        );
    }
    let table = b.ok(&["images", "--format", "table {{.Repository}}\t{{.Size}}"]);
    assert!(table.starts_with("REPOSITORY   SIZE\n"), "{table}");
    let err = b.fail(&["images", "--filter", "bogus=1"]);
    assert!(err.contains("unknown filter"), "{err}");

    // Re-tagging new:1 onto old:1's image leaves new's image dangling.
    b.ok(&["tag", "old:1", "new:1"]);
    assert_eq!(
        b.ok(&[
            "images",
            "-f",
            "dangling=true",
            "--format",
            "{{.Repository}}:{{.Tag}}"
        ]),
        "<none>:<none>\n"
    );
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Images:\ndeleted: sha256:")
            && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(b.ids().len(), 1);
    let out = b.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.contains("untagged: old:1") && out.contains("untagged: new:1"),
        "{out}"
    );
    assert!(b.ids().is_empty());
}

#[test]
fn mounted_view_is_the_union_of_layers() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let l1 = Tar::new()
        .dir("etc/")
        .file("etc/keep", b"1")
        .file("etc/gone", b"1")
        .dir("opaque/")
        .file("opaque/old", b"1")
        .bytes();
    let l2 = Tar::new()
        .file("etc/.wh.gone", b"")
        .dir("opaque/")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/new", b"2")
        .file("etc/keep", b"2")
        .bytes();
    b.load(&docker_archive(&[ArchiveImage::new(
        &["u:1"],
        vec![l1, l2],
    )]));
    let path = b.ok(&["image", "mount", "u:1"]).trim().to_string();
    assert_eq!(
        b.ok(&["image", "mount", "u:1"]).trim(),
        path,
        "mount is idempotent"
    );
    let root = std::path::Path::new(&path);
    assert_eq!(tree(root), vec!["etc", "etc/keep", "opaque", "opaque/new"]);
    assert_eq!(std::fs::read(root.join("etc/keep")).unwrap(), b"2");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.contains(&path) && l.contains(" - overlay ")),
        "an overlay mount"
    );
    assert!(
        std::fs::write(root.join("x"), b"").is_err(),
        "the view is read-only"
    );
    b.ok(&["image", "umount", "u:1"]);
    assert!(!mounts_contain(&path));
    let err = b.fail(&["image", "umount", "u:1"]);
    assert!(err.contains("not mounted"), "{err}");
}

fn mounts_contain(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(path)
}

#[test]
fn system_df_counts_shared_layers_once() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let base = Tar::new().file("big", &vec![7u8; 100_000]).bytes();
    let x = ArchiveImage::new(
        &["x:1"],
        vec![base.clone(), Tar::new().file("x", b"x").bytes()],
    );
    let y = ArchiveImage::new(&["y:1"], vec![base, Tar::new().file("y", b"yy").bytes()]);
    b.load(&docker_archive(&[x, y]));
    let df = b.ok(&["system", "df"]);
    assert!(
        df.lines()
            .nth(1)
            .unwrap()
            .starts_with("Images          2         0         100kB"),
        "{df}"
    );
    let v = b.ok(&["system", "df", "-v"]);
    let x_line = v.lines().find(|l| l.starts_with("x ")).unwrap();
    assert!(x_line.contains("100kB") && x_line.contains("1B"), "{v}");
}

#[test]
fn import_from_a_url() {
    if !require_root() || !crate::require_tool("python3") {
        return;
    }
    let b = Berth::new();
    let served = b.path("www");
    std::fs::create_dir(&served).unwrap();
    std::fs::write(served.join("rootfs.tar.gz"), gzip(&busybox_layer())).unwrap();
    let (mut server, port) = crate::serve_dir(&served);
    let url = format!("http://127.0.0.1:{}/rootfs.tar.gz", port.trim());
    let r = b.run(&["import", "-q", &url, "fromurl:1"]);
    let missing = b.run(&[
        "import",
        "-q",
        &format!("http://127.0.0.1:{}/nope.tar", port.trim()),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let comment = b.ok(&["inspect", "-f", "{{.Comment}}", "fromurl:1"]);
    assert_eq!(comment.trim(), format!("Imported from {url}"));
    crate::assert_failed(&missing, "missing URL");
    assert!(
        missing.stderr.contains("server answered 404"),
        "{}",
        missing.stderr
    );
    let err = b.fail(&["import", "ftp://example.invalid/x.tar"]);
    assert!(err.contains("open ftp://"), "{err}");
}
