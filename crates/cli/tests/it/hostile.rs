//! The corpus of hostile and broken input: every case must fail with docker's exit code (1, or 125 for run),
//! one line on stderr naming the problem, nothing written outside the store,
//! and a store left as it was.

use serde_json::json;

use crate::fixtures::{ArchiveImage, Entry, Tar, docker_archive, gzip, zstd};
use crate::{Berth, assert_failed, require_root, tree};

enum Via {
    Import,
    Load,
}

struct Case {
    name: &'static str,
    via: Via,
    data: Vec<u8>,
    expect: &'static str,
    max_layer_size: Option<u64>,
}

fn import(name: &'static str, data: Vec<u8>, expect: &'static str) -> Case {
    Case {
        name,
        via: Via::Import,
        data,
        expect,
        max_layer_size: None,
    }
}

fn load(name: &'static str, data: Vec<u8>, expect: &'static str) -> Case {
    Case {
        name,
        via: Via::Load,
        data,
        expect,
        max_layer_size: None,
    }
}

/// A docker-archive whose files are given by hand.
fn raw_archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut t = Tar::new();
    for (p, d) in files {
        t.file(p, d);
    }
    t.bytes()
}

fn corpus(outside: &str) -> Vec<Case> {
    let escape_abs = format!("{outside}/pwned");
    let good_layer = Tar::new().file("ok", b"fine").bytes();
    let good_id = Digest::of(&good_layer);
    let good = ArchiveImage::new(&["good:1"], vec![good_layer.clone()]);
    let good_cfg = good.config();
    let cfg_name = format!("{}.json", Digest::of(&good_cfg).hex());
    let layer_name = format!("{}/layer.tar", good_id.hex());
    let manifest = |layers: serde_json::Value| {
        serde_json::to_vec(&json!([{"Config": cfg_name, "RepoTags": ["x:1"], "Layers": layers}]))
            .unwrap()
    };
    let big_zeros = Tar::new().file("zeros", &vec![0u8; 8 << 20]).bytes();

    let mut cases = vec![
        import(
            "dotdot",
            Tar::new().file("../pwned", b"x").bytes(),
            "path leaves the layer",
        ),
        import(
            "nested dotdot",
            Tar::new().dir("a/").file("a/../../pwned", b"x").bytes(),
            "path leaves the layer",
        ),
        import(
            "absolute path",
            Tar::new().file(&escape_abs, b"x").bytes(),
            "absolute path",
        ),
        import(
            "symlink parent, absolute",
            Tar::new()
                .symlink("lnk", outside)
                .file("lnk/pwned", b"x")
                .bytes(),
            "parent directory is a symlink",
        ),
        import(
            "symlink parent, relative",
            Tar::new()
                .symlink("lnk", "../../../../../../..")
                .file("lnk/pwned", b"x")
                .bytes(),
            "parent directory is a symlink",
        ),
        import(
            "symlink chain",
            Tar::new()
                .symlink("a", "b")
                .symlink("b", "/")
                .file("a/pwned", b"x")
                .bytes(),
            "parent directory is a symlink",
        ),
        import(
            "symlink then dir under it",
            Tar::new().symlink("d", outside).dir("d/sub/").bytes(),
            "parent directory is a symlink",
        ),
        import(
            "hardlink to absolute",
            Tar::new().hardlink("h", "/etc/passwd").bytes(),
            "absolute path",
        ),
        import(
            "hardlink with dotdot",
            Tar::new().hardlink("h", "../../etc/passwd").bytes(),
            "path leaves the layer",
        ),
        import(
            "hardlink through symlink",
            Tar::new()
                .symlink("etc", "/etc")
                .hardlink("h", "etc/passwd")
                .bytes(),
            "target's directory is a symlink",
        ),
        import(
            "hardlink to missing target",
            Tar::new().hardlink("h", "nowhere").bytes(),
            "target not found",
        ),
        import(
            "hardlink to a directory",
            Tar::new().dir("d/").hardlink("h", "d").bytes(),
            "target is a directory",
        ),
        import(
            "hardlink to itself",
            Tar::new().hardlink("h", "h").bytes(),
            "link to itself",
        ),
        import(
            "whiteout of dotdot",
            Tar::new().file(".wh...", b"").bytes(),
            "invalid whiteout",
        ),
        import(
            "whiteout of dot",
            Tar::new().file(".wh..", b"").bytes(),
            "invalid whiteout",
        ),
        import(
            "whiteout escaping",
            Tar::new().file("../.wh.x", b"").bytes(),
            "path leaves the layer",
        ),
        import(
            "file under a file",
            Tar::new().file("f", b"x").file("f/g", b"y").bytes(),
            "not a directory",
        ),
        import(
            "unsupported entry type",
            Tar::new().raw(Entry::new("vol", b'V')).bytes(),
            "unsupported entry type",
        ),
        import(
            "bad PAX uid",
            Tar::new()
                .pax(&[("uid", b"nobody")])
                .file("f", b"x")
                .bytes(),
            "invalid PAX uid",
        ),
        import(
            "NUL in PAX path",
            Tar::new().pax(&[("path", b"a\0b")]).file("f", b"x").bytes(),
            "NUL in path",
        ),
        import(
            "root entry not a directory",
            Tar::new().file("./", b"x").bytes(),
            "root must be a directory",
        ),
        import(
            "truncated tar",
            Tar::new().file("f", &[1u8; 5000]).truncated(1000),
            "corrupt or truncated",
        ),
        import(
            "truncated gzip",
            gzip(&Tar::new().file("f", &[1u8; 50_000]).bytes())[..200].to_vec(),
            "corrupt or truncated",
        ),
        import(
            "corrupt gzip",
            {
                let mut g = gzip(&Tar::new().file("f", b"abc").bytes());
                let n = g.len();
                g[n / 2] ^= 0xff;
                g[12] ^= 0xff;
                g
            },
            "corrupt or truncated",
        ),
        import(
            "garbage",
            b"this is not a tar archive at all, just text that goes on for a while...".repeat(20),
            "corrupt or truncated",
        ),
        import(
            "bzip2",
            b"BZh91AY&SY\x00\x00\x00\x00".to_vec(),
            "unsupported compression: bzip2",
        ),
        Case {
            max_layer_size: Some(4 << 20),
            ..import("zstd bomb", zstd(&big_zeros), "size limit")
        },
        Case {
            max_layer_size: Some(4 << 20),
            ..import("gzip bomb", gzip(&big_zeros), "size limit")
        },
        load(
            "empty archive",
            Tar::new().bytes(),
            "no manifest.json or index.json",
        ),
        load(
            "not an archive",
            b"garbage".repeat(100),
            "corrupt or truncated archive",
        ),
        load(
            "truncated archive",
            docker_archive(&[ArchiveImage::new(
                &["t:1"],
                vec![Tar::new().file("f", &[3u8; 20_000]).bytes()],
            )])[..9000]
                .to_vec(),
            "corrupt or truncated archive",
        ),
        load(
            "manifest.json not JSON",
            raw_archive(&[("manifest.json", b"{nope".to_vec())]),
            "manifest.json",
        ),
        load(
            "missing layer file",
            raw_archive(&[
                (&cfg_name, good_cfg.clone()),
                ("manifest.json", manifest(json!(["nowhere/layer.tar"]))),
            ]),
            "has no file \"nowhere/layer.tar\"",
        ),
        load(
            "layer count differs from diff IDs",
            raw_archive(&[
                (&cfg_name, good_cfg.clone()),
                (&layer_name, good_layer.clone()),
                (
                    "manifest.json",
                    manifest(json!([layer_name.clone(), layer_name.clone()])),
                ),
            ]),
            "manifest has 2 layers but config has 1 diff IDs",
        ),
        load(
            "layer content differs from its diff ID",
            raw_archive(&[
                (&cfg_name, good_cfg.clone()),
                (&layer_name, Tar::new().file("ok", b"EVIL").bytes()),
                ("manifest.json", manifest(json!([layer_name.clone()]))),
            ]),
            "content has digest",
        ),
        load(
            "blob differs from its name",
            raw_archive(&[(
                &format!("blobs/sha256/{}", Digest::of(b"not in the store").hex()),
                Tar::new().file("ok", b"EVIL").bytes(),
            )]),
            "corrupt or tampered archive",
        ),
        load(
            "config not JSON",
            raw_archive(&[
                (&cfg_name, b"[]".to_vec()),
                (&layer_name, good_layer.clone()),
                ("manifest.json", manifest(json!([layer_name.clone()]))),
            ]),
            "invalid image config",
        ),
        load(
            "hostile layer inside an archive",
            docker_archive(&[ArchiveImage::new(
                &["h:1"],
                vec![Tar::new().symlink("l", "/").file("l/pwned", b"x").bytes()],
            )]),
            "parent directory is a symlink",
        ),
        load(
            "invalid tag in archive",
            docker_archive(&[ArchiveImage::new(&["UPPER:case"], vec![good_layer.clone()])]),
            "invalid reference format",
        ),
    ];
    cases.sort_by_key(|c| c.name);
    cases
}

use berth_oci::Digest;

#[test]
fn hostile_and_broken_inputs_are_refused() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let outside = b.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let outside_s = outside.to_str().unwrap().to_string();
    let cases = corpus(&outside_s);
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
    // A store with one image in it: every failure must leave it as it is.
    let good = ArchiveImage::new(&["good:1"], vec![Tar::new().file("ok", b"fine").bytes()]);
    b.load(&docker_archive(&[good]));
    let ids_before = b.ids();
    for case in cases {
        let input = b.file("case.bin", &case.data);
        let input = input.to_str().unwrap();
        let args: Vec<&str> = match case.via {
            Via::Import => vec!["import", "-q", input, "case:1"],
            Via::Load => vec!["load", "-q", "-i", input],
        };
        let mut cmd = b.cmd(&args);
        if let Some(limit) = case.max_layer_size {
            cmd.env("BERTH_MAX_LAYER_SIZE", limit.to_string());
        }
        let r: crate::Run = cmd.output().unwrap().into();
        assert_failed(&r, case.name);
        assert!(
            r.stderr.contains(case.expect),
            "{}: expected {:?} in {:?}",
            case.name,
            case.expect,
            r.stderr
        );
        assert!(
            tree(&outside).is_empty(),
            "{}: wrote outside the store: {:?}",
            case.name,
            tree(&outside)
        );
        assert!(
            !std::path::Path::new("/pwned").exists()
                && !std::path::Path::new("/etc/pwned").exists()
        );
        b.assert_unchanged(&ids_before, 1, case.name);
    }
}

#[test]
fn accepted_tricks_stay_inside() {
    if !require_root() {
        return;
    }
    // Entries that are legal but were escapes in other tools: a file replacing a
    // symlink that points outside (RUSTSEC-2026-0067's chmod-through-symlink), a
    // symlink pointing outside (harmless until followed on the host), the same path twice.
    let b = Berth::new();
    let outside = b.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, b"secret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let layer = Tar::new()
        .symlink("link", victim.to_str().unwrap())
        .file_mode("link", b"replaced", 0o777, 0, 0)
        .symlink("abs", "/etc/shadow")
        .file("twice", b"one")
        .file("twice", b"two")
        .bytes();
    let p = b.file("tricks.tar", &layer);
    b.ok(&["import", "-q", p.to_str().unwrap(), "tricks"]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let view = b.ok(&["image", "mount", "tricks"]);
    let root = std::path::Path::new(view.trim());
    assert_eq!(std::fs::read(root.join("link")).unwrap(), b"replaced");
    assert_eq!(std::fs::read(root.join("twice")).unwrap(), b"two");
    assert_eq!(
        std::fs::read_link(root.join("abs")).unwrap().to_str(),
        Some("/etc/shadow")
    );
    b.ok(&["image", "umount", "tricks"]);
}
