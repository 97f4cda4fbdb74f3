//! Pull, push, login, search against real servers on loopback: Debian's
//! `docker-registry` (the reference registry) anonymous, with htpasswd, with a
//! token server, behind TLS; skopeo as the independent peer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixtures::{ArchiveImage, Tar, busybox_layer, docker_archive, noise};
use crate::{Berth, require_root, require_tool};

const HELPERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/helpers");

pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free TCP port on `ip` (bound, then released for the server to take).
pub(crate) fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub(crate) fn wait_for_port(addr: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "server for {addr} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {addr}");
}

/// A helper process killed when the test ends.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's docker-registry on a free port, storing under a temp dir.
pub struct TestRegistry {
    /// `host:port`.
    pub addr: String,
    dir: tempfile::TempDir,
    _process: Process,
}

impl TestRegistry {
    /// Starts a registry on `ip`; `extra` is YAML added to its config (auth, TLS).
    pub fn start_on(ip: &str, extra: &str) -> TestRegistry {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("temp dir");
        let addr = format!("{ip}:{}", free_port(ip));
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let log = dir.path().join("log");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("err")).expect("log"))
            .spawn()
            .expect("start docker-registry");
        wait_for_port(&addr, &mut child, &dir.path().join("err"));
        TestRegistry {
            addr,
            dir,
            _process: Process(child),
        }
    }

    pub fn start(extra: &str) -> TestRegistry {
        TestRegistry::start_on("127.0.0.1", extra)
    }

    /// Where the registry keeps a blob's bytes.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A Python helper server from tests/it/helpers; returns it and its port.
fn start_helper(script: &str, args: &[&str], port_file: &Path) -> (Process, u16) {
    let mut child = Command::new("python3")
        .arg(Path::new(HELPERS).join(script))
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("start helper");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(p) = std::fs::read_to_string(port_file)
            && let Ok(port) = p.trim().parse()
        {
            return (Process(child), port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{script} exited with {status}");
        }
        assert!(Instant::now() < deadline, "{script} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A proxy (tests/it/helpers/proxy.py) in front of `reg`, sending blobs at
/// `rate` bytes a second (0: full speed), in `mode` ("" or one of the script's
/// modes); returns it with its port and log file.
fn proxy(reg: &TestRegistry, rate: usize, mode: &str) -> (Process, u16, PathBuf) {
    let port_file = reg.path(&format!("proxy-{mode}.port"));
    let log = reg.path(&format!("proxy-{mode}.log"));
    let (p, port) = start_helper(
        "proxy.py",
        &[
            &reg.addr,
            port_file.to_str().expect("utf-8"),
            log.to_str().expect("utf-8"),
            &rate.to_string(),
            mode,
        ],
        &port_file,
    );
    (p, port, log)
}

/// Asserts that `out` contains every one of `parts`.
fn contains_all(out: &str, parts: &[&str]) {
    for p in parts {
        assert!(out.contains(p), "{p:?} missing from:\n{out}");
    }
}

pub(crate) fn skopeo_inspect(args: &[&str]) -> Value {
    let out = run(Command::new("skopeo").arg("inspect").args(args));
    serde_json::from_str(&out).expect("skopeo json")
}

fn have_registry_tools() -> bool {
    require_root() && require_tool("docker-registry") && require_tool("skopeo")
}

/// An image in berth made from busybox, tagged `name`.
pub(crate) fn import_busybox(b: &Berth, name: &str) -> String {
    let rootfs = b.file("rootfs.tar", &busybox_layer());
    b.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        rootfs.to_str().expect("utf-8"),
        name,
    ])
    .trim()
    .to_string()
}

/// A berth holding the busybox image as `REG/repo`, pushed there; returns it
/// and the full name.
fn pushed_busybox(reg: &TestRegistry, repo: &str) -> (Berth, String) {
    let b = Berth::new();
    let name = format!("{}/{repo}", reg.addr);
    import_busybox(&b, &name);
    b.ok(&["push", "-q", &name]);
    (b, name)
}

#[test]
fn push_then_pull_keeps_every_digest() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let a = Berth::new();
    let name = format!("{}/test/busybox:1", reg.addr);
    let id = import_busybox(&a, &name);
    let pushed = a.ok(&["push", &name]);
    contains_all(&pushed, &[": Pushed"]);
    let digest = pushed
        .lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|l| l.split(' ').next())
        .expect("digest line")
        .to_string();
    // The peer reads what berth pushed, under the same digest.
    let seen = skopeo_inspect(&["--tls-verify=false", &format!("docker://{name}")]);
    assert_eq!(seen["Digest"], digest.as_str());
    let config = skopeo_inspect(&[
        "--tls-verify=false",
        "--config",
        &format!("docker://{name}"),
    ]);
    assert_eq!(config["config"]["Cmd"][0], "sh");
    // Pushing again sends nothing.
    contains_all(&a.ok(&["push", &name]), &["Layer already exists", &digest]);

    let b = Berth::new();
    let pulled = b.ok(&["pull", &name]);
    contains_all(
        &pulled,
        &[
            "Pull complete",
            &format!("Digest: {digest}"),
            "Status: Downloaded newer image",
        ],
    );
    assert!(
        pulled.starts_with("1: Pulling from test/busybox\n"),
        "{pulled}"
    );
    assert!(pulled.ends_with(&format!("\n{name}\n")), "{pulled}");
    assert_eq!(b.ok(&["inspect", "-f", "{{.Id}}", &name]).trim(), id);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{json .RepoDigests}}", &name])
            .trim(),
        format!("[\"{}/test/busybox@{digest}\"]", reg.addr)
    );
    let mount = b.ok(&["image", "mount", &name]);
    assert!(Path::new(mount.trim()).join("bin/busybox").is_file());
    b.ok(&["image", "umount", &name]);
    // Up to date: nothing downloaded.
    contains_all(
        &b.ok(&["pull", &name]),
        &["Already exists", "Status: Image is up to date"],
    );
    // A pulled image goes back byte for byte, and to another repository by mount.
    let other = format!("{}/other/busybox:1", reg.addr);
    b.ok(&["tag", &name, &other]);
    contains_all(
        &b.ok(&["push", &other]),
        &["Mounted from test/busybox", &digest],
    );
    // Pull by digest.
    let c = Berth::new();
    let by_digest = format!("{}/test/busybox@{digest}", reg.addr);
    assert_eq!(c.ok(&["pull", "-q", &by_digest]), format!("{by_digest}\n"));
    assert_eq!(c.ok(&["inspect", "-f", "{{.Id}}", &by_digest]).trim(), id);
    // Search falls back to the catalog, which this registry has.
    let found = c.ok(&["search", &format!("{}/busy", reg.addr)]);
    assert!(found.starts_with("NAME"), "{found}");
    assert!(
        found.contains(&format!("{}/other/busybox", reg.addr)),
        "{found}"
    );
    assert!(
        found.contains(&format!("{}/test/busybox", reg.addr)),
        "{found}"
    );
    // --all-tags pulls every tag.
    a.ok(&["tag", &name, &format!("{}/test/busybox:2", reg.addr)]);
    a.ok(&[
        "push",
        "-q",
        "--all-tags",
        &format!("{}/test/busybox", reg.addr),
    ]);
    let all = Berth::new();
    let out = all.ok(&["pull", "-q", "-a", &format!("{}/test/busybox", reg.addr)]);
    assert_eq!(
        out,
        format!("{0}/test/busybox:1\n{0}/test/busybox:2\n", reg.addr)
    );
}

#[test]
fn what_skopeo_pushes_berth_pulls_and_platforms_resolve() {
    if !have_registry_tools() || !require_tool("curl") {
        return;
    }
    let reg = TestRegistry::start("");
    let a = Berth::new();
    import_busybox(&a, "local/bb:1");
    let archive = a.path("bb.tar");
    a.ok(&["save", "-o", archive.to_str().expect("utf-8"), "local/bb:1"]);
    for (format, repo) in [("v2s2", "peer/docker"), ("oci", "peer/oci")] {
        let target = format!("{}/{repo}:1", reg.addr);
        run(Command::new("skopeo").args([
            "copy",
            "--dest-tls-verify=false",
            "--format",
            format,
            &format!("oci-archive:{}", archive.display()),
            &format!("docker://{target}"),
        ]));
        let raw = run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{target}"),
        ]));
        let manifest: Value = serde_json::from_str(&raw).expect("manifest");
        let config = manifest["config"]["digest"]
            .as_str()
            .expect("config")
            .to_string();
        let b = Berth::new();
        b.ok(&["pull", &target]);
        assert_eq!(
            b.ok(&["inspect", "-f", "{{.Id}}", &target]).trim(),
            config,
            "{format}"
        );
        // Pushed back elsewhere, it keeps the manifest skopeo wrote, byte for byte.
        let back = format!("{}/{repo}-back:1", reg.addr);
        b.ok(&["tag", &target, &back]);
        b.ok(&["push", &back]);
        let raw_back = run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{back}"),
        ]));
        assert_eq!(raw_back, raw, "{format}");
    }

    // zstd on request: an OCI manifest with zstd layers, which pull reads back.
    let zstd = format!("{}/peer/zstd:1", reg.addr);
    a.ok(&["tag", "local/bb:1", &zstd]);
    a.ok(&["push", "--compression", "zstd", &zstd]);
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{zstd}"),
    ]));
    let manifest: Value = serde_json::from_str(&raw).expect("manifest");
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let z = Berth::new();
    z.ok(&["pull", &zstd]);
    assert_eq!(
        z.ok(&["inspect", "-f", "{{.Id}}", &zstd]),
        a.ok(&["inspect", "-f", "{{.Id}}", "local/bb:1"])
    );

    // A multi-platform index: this host's entry is picked, --platform picks another.
    let docker = format!("{}/peer/docker:1", reg.addr);
    let amd = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{docker}"),
    ]));
    let amd_digest = format!("sha256:{}", sha256_hex(amd.as_bytes()));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "digest": amd_digest, "size": amd.len(),
             "platform": {"architecture": "s390x", "os": "linux"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "digest": amd_digest, "size": amd.len(),
             "platform": {"architecture": host_arch(), "os": "linux"}},
        ]
    })
    .to_string();
    run(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.index.v1+json",
        "--data-binary",
        &index,
        &format!("http://{}/v2/peer/docker/manifests/multi", reg.addr),
    ]));
    let b = Berth::new();
    let multi = format!("{}/peer/docker:multi", reg.addr);
    b.ok(&["pull", &multi]);
    let index_digest = format!("sha256:{}", sha256_hex(index.as_bytes()));
    assert!(
        b.ok(&["inspect", "-f", "{{json .RepoDigests}}", &multi])
            .contains(&index_digest),
        "the repo digest is the index's, as docker records it"
    );
    let wrong = b.fail(&["pull", "--platform", "linux/riscv64", &multi]);
    assert!(
        wrong.contains("no matching manifest for linux/riscv64"),
        "{wrong}"
    );
    assert!(wrong.contains("linux/s390x"), "{wrong}");
    b.ok(&["pull", "--platform", "linux/s390x", &multi]);
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), data).expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .expect("hash")
        .to_string()
}

#[test]
fn a_corrupt_blob_is_refused_and_nothing_is_kept() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let (_a, name) = pushed_busybox(&reg, "test/corrupt:1");
    let manifest = skopeo_inspect(&["--tls-verify=false", &format!("docker://{name}")]);
    let layer = manifest["Layers"][0].as_str().expect("layer").to_string();
    // Same length, other bytes: only the digest can tell.
    let file = reg.blob_file(&layer);
    let mut data = std::fs::read(&file).expect("blob");
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&file, &data).expect("corrupt blob");

    let b = Berth::new();
    let err = b.fail(&["pull", &name]);
    assert!(err.contains(&layer), "{err}");
    assert!(
        err.contains("corrupt or tampered") || err.contains("digest"),
        "{err}"
    );
    assert!(b.ids().is_empty());
    assert!(!b.root().join("blobs/sha256").join(&layer[7..]).exists());
    let leftovers: Vec<_> = std::fs::read_dir(b.root().join("ingest"))
        .expect("ingest")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The store works on: the next command is fine.
    import_busybox(&b, "local/ok:1");
    assert_eq!(b.ids().len(), 1);
}

/// A two-layer image (busybox, then `size` random bytes) loaded into `b` as
/// `name` and pushed; `b`'s `base.tar` holds the busybox layer.
fn push_big_image(b: &Berth, name: &str, size: usize) {
    let data = noise(size);
    b.file("base.tar", &busybox_layer());
    let image = ArchiveImage::new(
        &[name],
        vec![busybox_layer(), Tar::new().file("big.bin", &data).bytes()],
    );
    b.load(&docker_archive(&[image]));
    b.ok(&["push", "-q", name]);
}

#[test]
fn an_interrupted_pull_resumes_with_a_range_request() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    // 8 MiB at 4 MiB/s: two seconds, time enough to be killed halfway.
    let (_proxy, port, log) = proxy(&reg, 4 << 20, "");
    let a = Berth::new();
    let name = format!("{}/test/big:1", reg.addr);
    push_big_image(&a, &name, 8 << 20);
    let via = format!("127.0.0.1:{port}/test/big:1");

    let b = Berth::new();
    let mut child = b
        .cmd(&["pull", "-q", &via])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pull");
    let ingest = b.root().join("ingest");
    let deadline = Instant::now() + Duration::from_secs(30);
    let partial = loop {
        let biggest = std::fs::read_dir(&ingest)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("dl-"))
            .filter_map(|e| e.metadata().ok().map(|m| m.len()))
            .max()
            .unwrap_or(0);
        if biggest > 1 << 20 {
            break biggest;
        }
        assert!(Instant::now() < deadline, "the download never got going");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill pull");
    let _ = child.wait();
    assert!(partial < 9 << 20);

    b.ok(&["pull", "-q", &via]);
    let ranges: Vec<u64> = std::fs::read_to_string(&log)
        .expect("proxy log")
        .lines()
        .filter(|l| l.starts_with("GET ") && l.contains("/blobs/"))
        .filter_map(|l| {
            l.split(' ')
                .nth(2)?
                .strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        ranges.iter().any(|&r| r >= 1 << 20),
        "no resuming Range request: {ranges:?}"
    );
    assert_eq!(b.ids().len(), 1);
    let mount = b.ok(&["image", "mount", &via]);
    assert_eq!(
        std::fs::metadata(Path::new(mount.trim()).join("big.bin"))
            .expect("big.bin")
            .len(),
        8 << 20
    );
    b.ok(&["image", "umount", &via]);
}

#[test]
fn concurrent_pulls_fetch_a_shared_layer_once() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let (_proxy, port, log) = proxy(&reg, 8 << 20, "");
    let a = Berth::new();
    push_big_image(&a, &format!("{}/test/one:1", reg.addr), 4 << 20);
    // The same layers under a second repository and config: a different image.
    a.ok(&[
        "import",
        "-c",
        "CMD [\"true\"]",
        a.path("base.tar").to_str().expect("utf-8"),
        &format!("{}/test/two:1", reg.addr),
    ]);
    a.ok(&["push", "-q", &format!("{}/test/two:1", reg.addr)]);

    let b = Berth::new();
    let one = format!("127.0.0.1:{port}/test/one:1");
    let two = format!("127.0.0.1:{port}/test/two:1");
    let children: Vec<_> = [&one, &one, &two]
        .iter()
        .map(|n| {
            b.cmd(&["pull", "-q", n])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("pull")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("pull");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(b.ids().len(), 2);
    let log = std::fs::read_to_string(&log).expect("proxy log");
    let mut gets: std::collections::HashMap<&str, usize> = Default::default();
    for l in log
        .lines()
        .filter(|l| l.starts_with("GET ") && l.contains("/blobs/sha256:"))
    {
        let digest = l
            .split("/blobs/")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or("");
        *gets.entry(digest).or_default() += 1;
    }
    // Configs are small and fetched per image; every layer blob exactly once.
    let big: Vec<_> = gets.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        big.iter().all(|(d, _)| {
            let f = reg.blob_file(d);
            std::fs::metadata(f)
                .map(|m| m.len() < 4096)
                .unwrap_or(false)
        }),
        "layers fetched more than once: {gets:?}"
    );
}

/// A registry that wants user `haochen`, password `s3cret` (bcrypt htpasswd
/// file written into `dir`).
fn htpasswd_registry(dir: &Path) -> TestRegistry {
    let htpasswd = dir.join("htpasswd");
    run(Command::new("htpasswd").args([
        "-Bbc",
        htpasswd.to_str().expect("utf-8"),
        "haochen",
        "s3cret",
    ]));
    TestRegistry::start(&format!(
        "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
        htpasswd.display()
    ))
}

#[test]
fn htpasswd_login_push_pull_logout() {
    if !have_registry_tools() || !require_tool("htpasswd") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let reg = htpasswd_registry(dir.path());
    let b = Berth::new();
    let name = format!("{}/haochen/testrepo:1", reg.addr);
    import_busybox(&b, &name);
    let denied = b.fail(&["push", &name]);
    assert!(denied.contains("unauthorized"), "{denied}");
    assert!(
        denied.contains(&format!("berth login {}", reg.addr)),
        "{denied}"
    );
    let wrong = b.run_stdin(
        &["login", "-u", "haochen", "--password-stdin", &reg.addr],
        b"nope\n",
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(!b.path("docker-config/config.json").exists());
    let ok = b.run_stdin(
        &["login", "-u", "haochen", "--password-stdin", &reg.addr],
        b"s3cret\n",
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.stdout, "Login Succeeded\n");
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(b.path("docker-config/config.json")).expect("config.json"),
    )
    .expect("json");
    assert_eq!(
        config["auths"][&reg.addr]["auth"], "aGFvY2hlbjpzM2NyZXQ=",
        "docker's format: base64 of user:password"
    );
    b.ok(&["push", &name]);
    b.ok(&["rmi", &name]);
    b.ok(&["pull", &name]);
    // skopeo reads the same credentials file.
    run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--authfile",
        b.path("docker-config/config.json").to_str().expect("utf-8"),
        &format!("docker://{name}"),
    ]));
    assert_eq!(
        b.ok(&["logout", &reg.addr]),
        format!("Removing login credentials for {}\n", reg.addr)
    );
    let denied = b.fail(&["pull", &name]);
    assert!(denied.contains("unauthorized"), "{denied}");
}

#[test]
fn token_auth_runs_the_bearer_flow() {
    if !have_registry_tools() || !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("token.key");
    let cert = dir.path().join("token.crt");
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=berth-test-token",
        "-keyout",
        key.to_str().expect("utf-8"),
        "-out",
        cert.to_str().expect("utf-8"),
    ]));
    let port_file = dir.path().join("token.port");
    let log = dir.path().join("token.log");
    let (_server, port) = start_helper(
        "token_server.py",
        &[
            port_file.to_str().expect("utf-8"),
            key.to_str().expect("utf-8"),
            cert.to_str().expect("utf-8"),
            "haochen",
            "s3cret",
            "berth-test-issuer",
            log.to_str().expect("utf-8"),
        ],
        &port_file,
    );
    let reg = TestRegistry::start(&format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{port}/token\n    service: berth-test\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
        cert.display()
    ));
    let b = Berth::new();
    let name = format!("{}/haochen/testrepo:1", reg.addr);
    import_busybox(&b, &name);
    let denied = b.fail(&["push", &name]);
    assert!(denied.contains("unauthorized"), "{denied}");
    let ok = b.run_stdin(
        &["login", "-u", "haochen", "--password-stdin", &reg.addr],
        b"s3cret\n",
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    b.ok(&["push", &name]);
    let c = Berth::new();
    let anonymous = c.fail(&["pull", &name]);
    assert!(anonymous.contains("unauthorized"), "{anonymous}");
    std::fs::create_dir_all(c.path("docker-config")).expect("dir");
    std::fs::copy(
        b.path("docker-config/config.json"),
        c.path("docker-config/config.json"),
    )
    .expect("copy credentials");
    c.ok(&["pull", &name]);
    let tokens = std::fs::read_to_string(&log).expect("token log");
    assert!(
        tokens.contains("token for haochen: ['repository:haochen/testrepo:pull,push'"),
        "{tokens}"
    );
    assert!(
        tokens.contains("token for haochen: ['repository:haochen/testrepo:pull']"),
        "{tokens}"
    );
}

/// The first address of this machine that is not loopback (TLS must be
/// verified there: loopback registries are trusted without, as in docker).
fn outside_ip() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
}

#[test]
fn tls_with_a_test_ca() {
    if !have_registry_tools() || !require_tool("openssl") {
        return;
    }
    let ip = outside_ip();
    if !crate::require(ip.is_some(), "a non-loopback IPv4 address") {
        return;
    }
    let ip = ip.expect("checked");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = crate::test_ca::TestCa::new(dir.path());
    let (srv_crt, srv_key) = ca.issue(
        "registry",
        &format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth"),
    );
    let reg = TestRegistry::start_on(
        &ip,
        &format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            srv_crt.display(),
            srv_key.display()
        ),
    );
    let b = Berth::new();
    let name = format!("{}/test/tls:1", reg.addr);
    import_busybox(&b, &name);
    let refused = b.fail(&["push", &name]);
    assert!(
        refused.contains("TLS") && refused.contains(&reg.addr),
        "{refused}"
    );
    // --tls-verify=false lets it through; so does the CA in berth's certs dir.
    b.ok(&["--tls-verify=false", "push", &name]);
    let certs = b.path("certs.d");
    std::fs::create_dir_all(certs.join(&reg.addr)).expect("certs dir");
    std::fs::copy(&ca.cert, certs.join(&reg.addr).join("ca.crt")).expect("ca");
    std::fs::write(
        b.path("registries.json"),
        serde_json::json!({"certs-dir": certs}).to_string(),
    )
    .expect("registries.json");
    b.ok(&["rmi", &name]);
    b.ok(&["pull", &name]);
    // An insecure-registries entry allows it too.
    let c = Berth::new();
    std::fs::write(
        c.path("registries.json"),
        serde_json::json!({"insecure-registries": [format!("{ip}/32")]}).to_string(),
    )
    .expect("registries.json");
    c.ok(&["pull", &name]);
}

#[test]
fn a_flaky_registry_is_retried_and_a_cut_download_resumed() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let a = Berth::new();
    push_big_image(&a, &format!("{}/test/flaky:1", reg.addr), 4 << 20);
    let (_proxy, port, log) = proxy(&reg, 0, "flaky");
    let b = Berth::new();
    let via = format!("127.0.0.1:{port}/test/flaky:1");
    b.ok(&["pull", "-q", &via]);
    assert_eq!(b.ids().len(), 1);
    let log = std::fs::read_to_string(&log).expect("proxy log");
    // Every path was answered 503 first, so everything was asked twice or more.
    let manifest_gets = log
        .lines()
        .filter(|l| l.starts_with("GET /v2/test/flaky/manifests/1 "))
        .count();
    assert!(manifest_gets >= 2, "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("GET ") && l.contains("/blobs/") && l.contains("bytes=")),
        "the cut blob was not resumed with a Range request:\n{log}"
    );
}

#[test]
fn docker_hub_names_go_to_a_configured_mirror() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let a = Berth::new();
    let id = import_busybox(&a, &format!("{}/library/busybox:latest", reg.addr));
    a.ok(&[
        "push",
        "-q",
        &format!("{}/library/busybox:latest", reg.addr),
    ]);
    let b = Berth::new();
    std::fs::write(
        b.path("registries.json"),
        serde_json::json!({"registry-mirrors": [format!("http://{}", reg.addr)]}).to_string(),
    )
    .expect("registries.json");
    let out = b.ok(&["pull", "busybox"]);
    assert!(
        out.starts_with("Using default tag: latest\nlatest: Pulling from library/busybox\n"),
        "{out}"
    );
    assert!(
        out.ends_with("\ndocker.io/library/busybox:latest\n"),
        "{out}"
    );
    assert_eq!(b.ok(&["inspect", "-f", "{{.Id}}", "busybox"]).trim(), id);
    let listed = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(listed, "busybox:latest\n");
}

#[test]
fn credential_helpers_hold_the_secret() {
    if !have_registry_tools() || !require_tool("htpasswd") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let reg = htpasswd_registry(dir.path());
    // A credential helper that keeps one secret in a file next to itself.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nstore=\"$(dirname \"$0\")/store.json\"\ncase \"$1\" in\n  store) cat > \"$store\" ;;\n  get) read server; if [ -f \"$store\" ]; then cat \"$store\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) rm -f \"$store\" ;;\nesac\n",
    )
    .expect("helper");
    run(Command::new("chmod").arg("755").arg(&helper));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let b = Berth::new();
    std::fs::create_dir_all(b.path("docker-config")).expect("dir");
    std::fs::write(
        b.path("docker-config/config.json"),
        r#"{"credsStore":"berthtest"}"#,
    )
    .expect("config.json");
    let name = format!("{}/haochen/helped:1", reg.addr);
    import_busybox(&b, &name);
    let login = b
        .cmd(&["login", "-u", "haochen", "--password-stdin", &reg.addr])
        .env("PATH", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            std::io::Write::write_all(&mut c.stdin.take().expect("stdin"), b"s3cret\n")?;
            c.wait_with_output()
        })
        .expect("login");
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(bin.join("store.json")).expect("helper store"),
    )
    .expect("json");
    assert_eq!(stored["Username"], "haochen");
    assert_eq!(stored["Secret"], "s3cret");
    let config = std::fs::read_to_string(b.path("docker-config/config.json")).expect("config");
    assert!(
        !config.contains("s3cret") && !config.contains("aGFvY2hlbjpzM2NyZXQ="),
        "{config}"
    );
    let push = b
        .cmd(&["push", "-q", &name])
        .env("PATH", &path)
        .output()
        .expect("push");
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    let logout = b
        .cmd(&["logout", &reg.addr])
        .env("PATH", &path)
        .output()
        .expect("logout");
    assert!(logout.status.success());
    assert!(!bin.join("store.json").exists());
}

#[test]
fn a_registry_that_refuses_one_big_put_gets_chunks() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let (_proxy, port, log) = proxy(&reg, 0, "nomonolithic");
    let b = Berth::new();
    let name = format!("127.0.0.1:{port}/test/chunked:1");
    import_busybox(&b, &name);
    b.ok(&["push", &name]);
    let log = std::fs::read_to_string(log).expect("proxy log");
    assert!(
        log.lines()
            .any(|l| l.starts_with("PATCH /v2/test/chunked/blobs/uploads/")),
        "{log}"
    );
    let seen = skopeo_inspect(&[
        "--tls-verify=false",
        &format!("docker://{}/test/chunked:1", reg.addr),
    ]);
    assert_eq!(seen["Layers"].as_array().map(Vec::len), Some(1));
    let c = Berth::new();
    c.ok(&["pull", &format!("{}/test/chunked:1", reg.addr)]);
}

#[test]
fn search_reads_v1_search_where_the_registry_has_it() {
    if !have_registry_tools() {
        return;
    }
    let reg = TestRegistry::start("");
    let a = Berth::new();
    import_busybox(&a, &format!("{}/library/busybox:1", reg.addr));
    a.ok(&["push", "-q", &format!("{}/library/busybox:1", reg.addr)]);
    a.ok(&[
        "tag",
        &format!("{}/library/busybox:1", reg.addr),
        &format!("{}/haochen/busybox-tools:1", reg.addr),
    ]);
    a.ok(&[
        "push",
        "-q",
        &format!("{}/haochen/busybox-tools:1", reg.addr),
    ]);
    let (_proxy, port, _) = proxy(&reg, 0, "search");
    let term = format!("127.0.0.1:{port}/busybox");
    let table = a.ok(&["search", &term]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("DESCRIPTION")
            && lines[0].contains("OFFICIAL")
    );
    assert!(
        table.contains("test repository haochen/busybox-tools"),
        "{table}"
    );
    let official = a.ok(&[
        "search",
        "--filter",
        "is-official=true",
        "--format",
        "{{.Name}} {{.StarCount}} {{.IsOfficial}}",
        &term,
    ]);
    assert_eq!(official, "library/busybox 3 [OK]\n");
    assert_eq!(
        a.ok(&[
            "search",
            "--filter",
            "stars=4",
            "--format",
            "{{.Name}}",
            &term
        ]),
        ""
    );
    let truncated = a.ok(&["search", "--limit", "1", "--format", "json", &term]);
    assert_eq!(truncated.lines().count(), 1, "{truncated}");
    let err = a.fail(&["search", "--filter", "colour=blue", &term]);
    assert!(err.contains("invalid filter"), "{err}");
}

#[test]
fn errors_say_what_is_wrong() {
    if !have_registry_tools() || !require_tool("curl") {
        return;
    }
    let reg = TestRegistry::start("");
    let (_a, name) = pushed_busybox(&reg, "test/errs:1");
    let b = Berth::new();
    let err = b.fail(&["pull", &format!("{}/test/errs:nope", reg.addr)]);
    assert!(
        err.contains("manifest for") && err.contains("not found: manifest unknown"),
        "{err}"
    );
    let err = b.fail(&["pull", &format!("{}/test/nobody:1", reg.addr)]);
    assert!(err.contains("not found"), "{err}");
    let dead = format!("127.0.0.1:{}/test/errs:1", free_port("127.0.0.1"));
    let err = b.fail(&["pull", &dead]);
    assert!(err.contains("unreachable"), "{err}");
    let err = b.fail(&["push", &format!("{}/test/absent:1", reg.addr)]);
    assert!(err.contains("No such image"), "{err}");
    let err = b.fail(&["pull", "Busybox"]);
    assert!(err.contains("invalid reference"), "{err}");
    // A manifest whose layer no tool can unpack.
    let seen: Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ])))
    .expect("manifest");
    let mut odd = seen.clone();
    odd["layers"][0]["mediaType"] = "application/vnd.example.unknown".into();
    run(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        &format!(
            "Content-Type: {}",
            seen["mediaType"].as_str().expect("media type")
        ),
        "--data-binary",
        &odd.to_string(),
        &format!("http://{}/v2/test/errs/manifests/odd", reg.addr),
    ]));
    let err = b.fail(&["pull", &format!("{}/test/errs:odd", reg.addr)]);
    assert!(
        err.contains("application/vnd.example.unknown") && err.contains("not supported"),
        "{err}"
    );
    assert!(b.ids().is_empty());
}

#[test]
fn foreign_layers_come_from_their_urls() {
    if !have_registry_tools() || !require_tool("curl") {
        return;
    }
    let reg = TestRegistry::start(
        "validation:\n  manifests:\n    urls:\n      allow:\n        - ^http://\n",
    );
    let (_a, name) = pushed_busybox(&reg, "test/foreign:1");
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]));
    let mut manifest: Value = serde_json::from_str(&raw).expect("manifest");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    // The layer is served by a plain web server, and no longer by the registry.
    let web = tempfile::tempdir().expect("web dir");
    std::fs::copy(reg.blob_file(&layer), web.path().join("layer.tar.gz")).expect("copy layer");
    let web_port = free_port("127.0.0.1");
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &web_port.to_string(),
        ])
        .current_dir(web.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("web server");
    let web_addr = format!("127.0.0.1:{web_port}");
    wait_for_port(&web_addr, &mut server, &web.path().join("none"));
    let _server = Process(server);
    run(Command::new("curl").args([
        "-sf",
        "-X",
        "DELETE",
        &format!("http://{}/v2/test/foreign/blobs/{layer}", reg.addr),
    ]));
    manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into();
    manifest["layers"][0]["mediaType"] =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into();
    manifest["layers"][0]["urls"] = serde_json::json!([format!("http://{web_addr}/layer.tar.gz")]);
    run(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.docker.distribution.manifest.v2+json",
        "--data-binary",
        &manifest.to_string(),
        &format!("http://{}/v2/test/foreign/manifests/2", reg.addr),
    ]));
    let b = Berth::new();
    let foreign = format!("{}/test/foreign:2", reg.addr);
    b.ok(&["pull", &foreign]);
    let mount = b.ok(&["image", "mount", &foreign]);
    assert!(Path::new(mount.trim()).join("bin/busybox").is_file());
    b.ok(&["image", "umount", &foreign]);
}
