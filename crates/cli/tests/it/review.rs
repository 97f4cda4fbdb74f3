//! The attacks of the outside hostile-input review, one test each and named
//! after the attack, so that none can come back: one manifest served as two
//! types (CVE-2021-41190), layer floods, decompression bombs against the size
//! caps, oversized archive metadata, and `/metrics` without a login.

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::fixtures::{ArchiveImage, Tar, docker_archive, gzip};
use crate::registry_server::{
    DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, S3Server, Served, base64_basic, client, config_blob,
    expect_error, header, htpasswd, push_blob, push_image, put_manifest, sha,
};
use crate::{Berth, assert_failed, require_root, require_tool};

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn descriptor(media: &str, data: &[u8]) -> Value {
    json!({"mediaType": media, "digest": sha(data), "size": data.len()})
}

/// A document that is an image manifest (config, layers) and an index
/// (manifests, naming `child`) at once, with `media_type` when given.
fn ambiguous(config: &[u8], layer: &[u8], child: &str, media_type: Option<&str>) -> Vec<u8> {
    let mut doc = json!({
        "schemaVersion": 2,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": 1}],
    });
    if let Some(m) = media_type {
        doc["mediaType"] = m.into();
    }
    serde_json::to_vec(&doc).expect("json")
}

/// Pushes an image of the given uncompressed layer tars (gzipped on the way)
/// that berth can pull; returns its manifest's digest.
fn push_pullable(c: &Client, base: &str, repo: &str, tag: &str, tars: &[Vec<u8>]) -> String {
    let layers: Vec<Vec<u8>> = tars.iter().map(|t| gzip(t)).collect();
    let diff_ids: Vec<String> = tars.iter().map(|t| sha(t)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("json");
    push_blob(c, base, repo, &config);
    for l in &layers {
        push_blob(c, base, repo, l);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": layers.iter().map(|l| descriptor(OCI_LAYER, l)).collect::<Vec<_>>(),
    }))
    .expect("json");
    let resp = put_manifest(c, base, repo, tag, OCI_MANIFEST, &manifest);
    assert_eq!(resp.status(), 201, "{:?}", resp.text());
    sha(&manifest)
}

const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.v2+json";

/// The attack on one registry: every way of sending the ambiguous document
/// is refused and leaves nothing; what was there still serves; a document's
/// type decided at PUT is the one served.
fn ambiguous_manifest_attack(base: &str) {
    let c = client();
    let layer = b"a layer of the victim".to_vec();
    let child = push_image(&c, base, "victim/app", "ok", &layer);
    let config = config_blob();
    for (declared, content_type) in [
        (None, OCI_MANIFEST),
        (None, OCI_INDEX),
        (None, "application/json"),
        (Some(OCI_MANIFEST), OCI_MANIFEST),
        (Some(OCI_INDEX), OCI_INDEX),
    ] {
        let body = ambiguous(&config, &layer, &child, declared);
        let digest = sha(&body);
        for reference in ["evil", digest.as_str()] {
            let resp = put_manifest(&c, base, "victim/app", reference, content_type, &body);
            let case = format!("{declared:?} sent as {content_type} to {reference}");
            let status = resp.status().as_u16();
            let text = resp.text().unwrap_or_default();
            assert_eq!(status, 400, "{case}: {text}");
            assert!(text.contains("MANIFEST_INVALID"), "{case}: {text}");
            assert!(text.contains("ambiguous"), "{case}: {text}");
        }
        let resp = c
            .get(format!("{base}/v2/victim/app/manifests/{digest}"))
            .header("accept", ACCEPT_ALL)
            .send()
            .expect("get");
        expect_error(resp, 404, "MANIFEST_UNKNOWN");
    }
    // A declared type that the fields contradict is refused too.
    let lying = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "config": descriptor(OCI_CONFIG, &config), "layers": [descriptor(OCI_LAYER, &layer)],
    }))
    .expect("json");
    let resp = put_manifest(&c, base, "victim/app", "lying", OCI_INDEX, &lying);
    expect_error(resp, 400, "MANIFEST_INVALID");
    let tags = c
        .get(format!("{base}/v2/victim/app/tags/list"))
        .send()
        .expect("tags")
        .json::<Value>()
        .expect("json");
    assert_eq!(tags["tags"], json!(["ok"]), "nothing was tagged");
    // The registry still serves what it had, as what it is.
    let resp = c
        .get(format!("{base}/v2/victim/app/manifests/ok"))
        .header("accept", OCI_MANIFEST)
        .send()
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), OCI_MANIFEST);
    assert_eq!(header(&resp, "docker-content-digest"), child);
    // The type decided when a document without mediaType was stored is the
    // type it is served as, in each repository on its own.
    push_blob(&c, base, "victim/docker", &config);
    push_blob(&c, base, "victim/docker", &layer);
    let plain = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": descriptor(OCI_CONFIG, &config), "layers": [descriptor(OCI_LAYER, &layer)],
    }))
    .expect("json");
    let resp = put_manifest(&c, base, "victim/docker", "v2", DOCKER_MANIFEST, &plain);
    assert_eq!(resp.status(), 201, "{:?}", resp.text());
    for accept in [ACCEPT_ALL, DOCKER_MANIFEST] {
        let resp = c
            .get(format!("{base}/v2/victim/docker/manifests/v2"))
            .header("accept", accept)
            .send()
            .expect("get");
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "content-type"), DOCKER_MANIFEST);
    }
}

#[test]
fn registry_refuses_a_manifest_that_is_also_an_index_on_the_filesystem() {
    let reg = Served::start(&[]);
    ambiguous_manifest_attack(&reg.url(""));
}

#[test]
fn registry_refuses_a_manifest_that_is_also_an_index_on_s3() {
    if !require_tool("s3s-fs") {
        return;
    }
    let s3 = S3Server::start();
    let reg = Served::start_s3(&s3, &s3.bucket("review"), &[]);
    ambiguous_manifest_attack(&reg.url(""));
}

/// Writes a file of the registry's filesystem storage by hand, as a hostile
/// or older registry would have it.
fn plant(reg: &Served, key: &str, data: &[u8]) {
    let path = reg.dir.join("data").join(key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, data).expect("write");
}

#[test]
fn pull_refuses_a_manifest_that_is_also_an_index() {
    if !require_root() {
        return;
    }
    let reg = Served::start(&[]);
    let base = reg.url("");
    let c = client();
    let tar = Tar::new().file("f", b"x").bytes();
    let child = push_pullable(&c, &base, "amb/app", "good", std::slice::from_ref(&tar));
    let layer = gzip(&tar);
    // The registry on the other end serves the ambiguous document as an image
    // manifest: berth must not take it for either.
    let body = ambiguous(&config_blob(), &layer, &child, None);
    let hex = sha(&body)["sha256:".len()..].to_string();
    plant(&reg, &format!("blobs/sha256/{}/{hex}", &hex[..2]), &body);
    plant(
        &reg,
        &format!("repositories/amb/app/_manifests/revisions/{hex}"),
        OCI_MANIFEST.as_bytes(),
    );
    plant(
        &reg,
        "repositories/amb/app/_manifests/tags/evil",
        sha(&body).as_bytes(),
    );
    let resp = c
        .get(format!("{base}/v2/amb/app/manifests/evil"))
        .header("accept", ACCEPT_ALL)
        .send()
        .expect("get");
    assert_eq!(header(&resp, "content-type"), OCI_MANIFEST);
    let b = Berth::new();
    let reference = format!("{}/amb/app:evil", reg.addr);
    let r = b.run(&["pull", &reference]);
    assert_failed(&r, "pull of an ambiguous manifest");
    assert!(
        r.stderr.contains("ambiguous") && r.stderr.contains(&reference),
        "{}",
        r.stderr
    );
    assert!(b.ids().is_empty());
    assert_eq!(b.snapshot_dirs(), 0);
    // The same registry's honest image pulls.
    b.ok(&["pull", &format!("{}/amb/app:good", reg.addr)]);
}

/// `count` one-file layers, each different.
fn many_layers(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| Tar::new().file(&format!("f{i}"), b"x").bytes())
        .collect()
}

#[test]
fn load_refuses_an_archive_of_126_layers_before_unpacking_any() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let archive = docker_archive(&[ArchiveImage::new(&["flood:1"], many_layers(126))]);
    let p = b.file("flood.tar", &archive);
    let r = b.run(&["load", "-q", "-i", p.to_str().expect("utf-8")]);
    assert_failed(&r, "126 layers");
    assert!(
        r.stderr
            .contains("image flood:1 has 126 layers, more than the 125 berth accepts"),
        "{}",
        r.stderr
    );
    assert_eq!(b.snapshot_dirs(), 0, "nothing was unpacked");
    assert!(b.ids().is_empty());
    // 125 layers is the limit, not past it.
    let archive = docker_archive(&[ArchiveImage::new(&["deep:1"], many_layers(125))]);
    b.load(&archive);
    assert_eq!(b.ids().len(), 1);
}

#[test]
fn pull_refuses_an_image_of_126_layers_before_fetching_a_blob() {
    if !require_root() {
        return;
    }
    let reg = Served::start(&[]);
    let base = reg.url("");
    let c = client();
    push_pullable(&c, &base, "deep/app", "v1", &many_layers(126));
    let b = Berth::new();
    let r = b.run(&["pull", &format!("{}/deep/app:v1", reg.addr)]);
    assert_failed(&r, "pull of 126 layers");
    assert!(r.stderr.contains("has 126 layers"), "{}", r.stderr);
    let fetched: Vec<String> = reg
        .log()
        .lines()
        .filter(|l| l.contains("method=GET") && l.contains("/blobs/"))
        .map(str::to_string)
        .collect();
    assert!(fetched.is_empty(), "blobs were fetched: {fetched:?}");
    assert_eq!(b.snapshot_dirs(), 0);
}

#[test]
fn build_refuses_a_dockerfile_of_126_layers_before_any_step() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), "x").expect("f");
    let mut dockerfile = String::from("FROM scratch\n");
    for i in 0..126 {
        dockerfile.push_str(&format!("COPY f /f{i}\n"));
    }
    std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("Dockerfile");
    let r = b.run(&["build", "-t", "deep", ctx.to_str().expect("utf-8")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "Dockerfile:1: image being built has 126 layers, more than the 125 berth accepts"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("COPY f /f0"), "a step ran: {}", r.stdout);
    assert!(b.ids().is_empty());
    assert_eq!(b.snapshot_dirs(), 0);
}

#[test]
fn gzip_bomb_stops_at_max_layer_size_from_the_flag_and_the_config() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    // 64 MiB of zeros: a 64 KiB gzip.
    let bomb = gzip(&Tar::new().file("zeros", &vec![0u8; 64 << 20]).bytes());
    assert!(bomb.len() < 1 << 20);
    let p = b.file("bomb.tar.gz", &bomb);
    let p = p.to_str().expect("utf-8");
    let r = b.run(&["--max-layer-size", "4MiB", "import", p, "bomb:flag"]);
    assert_failed(&r, "bomb with --max-layer-size");
    assert!(
        r.stderr.contains("bytes uncompressed so far"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("the limit is 4194304 (max-layer-size)"),
        "{}",
        r.stderr
    );
    b.assert_unchanged(&[], 0, "--max-layer-size");
    // The same key in the settings file, as a size or a number.
    for value in [json!("4MB"), json!(4194304)] {
        std::fs::write(
            b.path("registries.json"),
            serde_json::to_vec(&json!({ "max-layer-size": value })).expect("json"),
        )
        .expect("settings");
        let r = b.run(&["import", p, "bomb:config"]);
        assert_failed(&r, "bomb with max-layer-size in the config");
        assert!(
            r.stderr.contains("the limit is 4194304 (max-layer-size)"),
            "{}",
            r.stderr
        );
        b.assert_unchanged(&[], 0, "max-layer-size in the config");
    }
    // The flag wins over the file; 0 is no limit.
    b.ok(&["--max-layer-size", "0", "import", p, "bomb:unlimited"]);
    assert_eq!(b.ids().len(), 1);
    let r = b.run(&["--max-layer-size", "lots", "images"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("invalid size \"lots\""), "{}", r.stderr);
}

#[test]
fn layers_under_the_layer_cap_stop_at_max_image_size() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let layer = |n: u8| Tar::new().file("data", &vec![n; 3 << 20]).bytes();
    let archive = docker_archive(&[ArchiveImage::new(
        &["big:1"],
        vec![layer(1), layer(2), layer(3)],
    )]);
    let p = b.file("big.tar", &archive);
    let p = p.to_str().expect("utf-8");
    let r = b.run(&["--max-image-size", "8MiB", "load", "-q", "-i", p]);
    assert_failed(&r, "--max-image-size");
    assert!(
        r.stderr.contains("image exceeds the size limit")
            && r.stderr.contains("the limit is 8388608 (max-image-size)"),
        "{}",
        r.stderr
    );
    b.assert_unchanged(&[], 0, "--max-image-size");
    b.ok(&["--max-image-size", "10MiB", "load", "-i", p]);
    assert_eq!(b.ids().len(), 1);
}

#[test]
fn max_image_size_counts_each_image_of_an_archive_on_its_own() {
    if !require_root() {
        return;
    }
    // Layers this large are extracted while the archive streams, on a budget
    // for the whole archive; past it they are unpacked again per image.
    let b = Berth::new();
    let layer = |n: u8| Tar::new().file("data", &vec![n; 17 << 20]).bytes();
    let two = docker_archive(&[
        ArchiveImage::new(&["one:1"], vec![layer(1)]),
        ArchiveImage::new(&["two:1"], vec![layer(2)]),
    ]);
    let p = b.file("two.tar", &two);
    b.ok(&[
        "--max-image-size",
        "20MiB",
        "load",
        "-q",
        "-i",
        p.to_str().expect("utf-8"),
    ]);
    assert_eq!(b.ids().len(), 2);
    let ids = b.ids();
    let snapshots = b.snapshot_dirs();
    let stacked = docker_archive(&[ArchiveImage::new(&["stacked:1"], vec![layer(3), layer(4)])]);
    let p = b.file("stacked.tar", &stacked);
    let r = b.run(&[
        "--max-image-size",
        "20MiB",
        "load",
        "-q",
        "-i",
        p.to_str().expect("utf-8"),
    ]);
    assert_failed(&r, "two large layers over --max-image-size");
    assert!(
        r.stderr.contains("image exceeds the size limit"),
        "{}",
        r.stderr
    );
    b.assert_unchanged(&ids, snapshots, "stacked");
}

#[test]
fn oversized_or_malformed_archive_metadata_is_named() {
    if !require_root() {
        return;
    }
    let b = Berth::new();
    let load = |files: &[(&str, Vec<u8>)]| {
        let mut t = Tar::new();
        for (p, d) in files {
            t.file(p, d);
        }
        let p = b.file("meta.tar", &t.bytes());
        b.run(&["load", "-q", "-i", p.to_str().expect("utf-8")])
    };
    // 100,000 entries: ~21 MB, over the 16 MiB berth reads.
    let hex = "0123456789abcdef".repeat(4);
    let entry = json!({
        "Config": format!("{hex}.json"),
        "RepoTags": ["flood:1"],
        "Layers": [format!("{hex}/layer.tar")],
    });
    let huge = serde_json::to_vec(&vec![entry; 100_000]).expect("json");
    assert!(huge.len() > 16 << 20);
    let r = load(&[("manifest.json", huge.clone())]);
    assert_failed(&r, "huge manifest.json");
    assert!(
        r.stderr.contains(&format!(
            "manifest.json is {} bytes, more than the 16777216 berth reads",
            huge.len()
        )),
        "{}",
        r.stderr
    );
    let r = load(&[("index.json", huge.clone())]);
    assert_failed(&r, "huge index.json");
    assert!(r.stderr.contains("index.json is"), "{}", r.stderr);
    // A config past the limit, named by its path.
    let manifest =
        serde_json::to_vec(&json!([{"Config": "big.json", "Layers": []}])).expect("json");
    let r = load(&[
        ("big.json", vec![b' '; 17 << 20]),
        ("manifest.json", manifest),
    ]);
    assert_failed(&r, "huge config");
    assert!(
        r.stderr.contains("big.json is 17825792 bytes"),
        "{}",
        r.stderr
    );
    // Malformed: the file and the parser's words.
    let manifest =
        serde_json::to_vec(&json!([{"Config": "bad.json", "Layers": []}])).expect("json");
    let r = load(&[
        ("bad.json", b"not json".to_vec()),
        ("manifest.json", manifest),
    ]);
    assert_failed(&r, "malformed config");
    assert!(
        r.stderr.contains("bad.json: invalid image config"),
        "{}",
        r.stderr
    );
    let r = load(&[("manifest.json", b"{\"not\": \"a list\"}".to_vec())]);
    assert_failed(&r, "malformed manifest.json");
    assert!(
        r.stderr.contains("manifest.json: invalid type"),
        "{}",
        r.stderr
    );
    let r = load(&[("index.json", b"[]".to_vec())]);
    assert_failed(&r, "malformed index.json");
    assert!(r.stderr.contains("index.json"), "{}", r.stderr);
    assert!(b.ids().is_empty());
}

fn get_status(c: &Client, url: &str, auth: Option<&str>) -> u16 {
    let mut r = c.get(url);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    r.send().expect("request").status().as_u16()
}

#[test]
fn metrics_answer_only_logged_in_users_and_the_metrics_address() {
    if !require_tool("htpasswd") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pw = htpasswd(dir.path(), &[("alice", "wonderland")]);
    let pw = pw.to_str().expect("utf-8");
    let metrics_port = crate::registry::free_port("127.0.0.1");
    let reg = Served::start(&[
        "--htpasswd",
        pw,
        "--metrics-addr",
        &metrics_port.to_string(),
    ]);
    let c = client();
    let basic = format!("Basic {}", base64_basic("alice", "wonderland"));
    assert_eq!(get_status(&c, &reg.url("/metrics"), None), 401);
    let wrong = format!("Basic {}", base64_basic("alice", "nope"));
    assert_eq!(get_status(&c, &reg.url("/metrics"), Some(&wrong)), 401);
    let resp = c
        .get(reg.url("/metrics"))
        .header("authorization", &basic)
        .send()
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().expect("text").contains("# TYPE"));
    // The metrics address serves /metrics alone, to anyone who can reach it.
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let resp = c.get(format!("{metrics}/metrics")).send().expect("metrics");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().expect("text").contains("# TYPE"));
    assert_eq!(get_status(&c, &format!("{metrics}/v2/"), None), 404);
    assert_eq!(get_status(&c, &format!("{metrics}/v2/_catalog"), None), 404);

    // Token auth: an anonymous token is no login.
    let port = crate::registry::free_port("127.0.0.1");
    let addr = format!("127.0.0.1:{port}");
    let realm = format!("http://{addr}/token");
    let reg = Served::start_at(&addr, &["--htpasswd", pw, "--token-realm", &realm]);
    let token = |auth: Option<&str>| -> String {
        let mut r = c.get(format!("{realm}?service=berth-registry"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let v: Value = r.send().expect("token").json().expect("json");
        v["token"].as_str().expect("a token").to_string()
    };
    assert_eq!(get_status(&c, &reg.url("/metrics"), None), 401);
    let anonymous = format!("Bearer {}", token(None));
    assert_eq!(get_status(&c, &reg.url("/metrics"), Some(&anonymous)), 401);
    let alice = format!("Bearer {}", token(Some(&basic)));
    assert_eq!(get_status(&c, &reg.url("/metrics"), Some(&alice)), 200);
}
