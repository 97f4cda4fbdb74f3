//! `berth registry serve` as a real process (the spec's endpoints are in
//! conformance.rs): two servers on one S3 bucket, skopeo and berth as clients,
//! basic and token auth with path tricks, SIGKILL and SIGTERM, resource
//! bounds, garbage collection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::fixtures::noise;
use crate::registry::{Process, free_port, import_busybox, run, skopeo_inspect, wait_for_port};
use crate::{Berth, require_root, require_tool};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A `berth registry serve` process on a free port.
pub struct Served {
    pub addr: String,
    pub dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    process: Option<Process>,
    _temp: Option<tempfile::TempDir>,
}

impl Served {
    /// A server storing under a fresh temp dir's `data`.
    pub fn start(args: &[&str]) -> Served {
        Served::start_at(&format!("127.0.0.1:{}", free_port("127.0.0.1")), args)
    }

    /// The same, listening on `addr`.
    pub fn start_at(addr: &str, args: &[&str]) -> Served {
        let temp = tempfile::Builder::new()
            .prefix("berth-regsrv-")
            .tempdir()
            .expect("temp dir");
        let dir = temp.path().to_path_buf();
        let mut all = vec!["--root".to_string(), dir.join("data").display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        Served::launch(addr, dir, all, Vec::new(), Some(temp))
    }

    /// A server on a bucket of `s3`.
    pub fn start_s3(s3: &S3Server, bucket: &str, args: &[&str]) -> Served {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let mut all = vec![
            "--s3-bucket".to_string(),
            bucket.to_string(),
            "--s3-endpoint".to_string(),
            s3.endpoint(),
            "--s3-region".to_string(),
            "us-east-1".to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), S3_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), S3_SECRET.to_string()),
        ];
        let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
        Served::launch(&addr, dir, all, env, Some(temp))
    }

    fn launch(
        addr: &str,
        dir: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        temp: Option<tempfile::TempDir>,
    ) -> Served {
        let mut s = Served {
            addr: addr.to_string(),
            dir,
            args,
            env,
            process: None,
            _temp: temp,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = self.dir.join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "serve", "--addr", &self.addr])
            .args(&self.args)
            .envs(self.env.iter().cloned())
            .env_remove("BERTH_ROOT")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("log"),
            )
            .spawn()
            .expect("start berth registry serve");
        wait_for_port(&self.addr, &mut child, &log);
        self.process = Some(Process(child));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL, then start again on the same storage and port.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
        self.spawn();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut p = self.process.take().expect("running");
        run(Command::new("kill").args(["-TERM", &p.0.id().to_string()]));
        p.0.wait().expect("wait")
    }

    /// `berth registry gc` on this server's storage.
    pub fn gc(&self, args: &[&str]) -> String {
        let mut storage_args = Vec::new();
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            if matches!(
                a.as_str(),
                "--root" | "--s3-bucket" | "--s3-endpoint" | "--s3-region" | "--config"
            ) && let Some(v) = it.next()
            {
                storage_args.push(a.clone());
                storage_args.push(v.clone());
            }
        }
        run(Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "gc"])
            .args(&storage_args)
            .args(args)
            .envs(self.env.iter().cloned()))
    }
}

const S3_KEY: &str = "berthtest";
const S3_SECRET: &str = "berthtestsecret";

/// s3s-fs (a real S3 server over a directory) on a free port.
pub struct S3Server {
    port: u16,
    dir: tempfile::TempDir,
    _process: Process,
}

impl S3Server {
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port("127.0.0.1");
        let log = dir.path().join("s3.log");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start s3s-fs");
        wait_for_port(&format!("127.0.0.1:{port}"), &mut child, &log);
        S3Server {
            port,
            dir,
            _process: Process(child),
        }
    }

    /// A new bucket (s3s-fs keeps a bucket as a directory).
    pub fn bucket(&self, name: &str) -> String {
        std::fs::create_dir_all(self.dir.path().join("data").join(name)).expect("bucket");
        name.to_string()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub(crate) fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

pub(crate) fn sha(data: &[u8]) -> String {
    format!("sha256:{}", crate::registry::sha256_hex(data))
}

/// The first error code of a spec error body.
pub(crate) fn code_of(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().unwrap_or(Value::Null);
    let code = body["errors"][0]["code"].as_str().unwrap_or("").to_string();
    (status, code)
}

pub(crate) fn expect_error(resp: Response, status: u16, code: &str) {
    let (s, c) = code_of(resp);
    assert_eq!((s.as_u16(), c.as_str()), (status, code));
}

pub(crate) fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Uploads a blob monolithically; returns its digest.
pub(crate) fn push_blob(c: &Client, base: &str, repo: &str, data: &[u8]) -> String {
    let d = sha(data);
    let resp = c
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .expect("monolithic upload");
    assert_eq!(resp.status(), 201, "{:?}", resp.text());
    d
}

/// The JSON a GET answers.
pub(crate) fn json_at(c: &Client, url: String) -> Value {
    c.get(&url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Sends a request that must get an answer.
pub(crate) fn send(r: reqwest::blocking::RequestBuilder) -> Response {
    r.send().expect("request")
}

/// The status a request gets.
pub(crate) fn status_of(r: reqwest::blocking::RequestBuilder) -> u16 {
    send(r).status().as_u16()
}

/// Opens an upload session; returns its absolute URL.
pub(crate) fn start_upload(c: &Client, base: &str, repo: &str) -> String {
    let resp = c
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .expect("post");
    assert_eq!(resp.status(), 202);
    format!("{base}{}", header(&resp, "location"))
}

pub(crate) fn config_blob() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.description": "a conformance fixture"}},
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .expect("json")
}

pub(crate) fn manifest_of(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(l), "size": l.len()}))
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": config.len()},
        "layers": layers,
    }))
    .expect("json")
}

pub(crate) fn put_manifest(
    c: &Client,
    base: &str,
    repo: &str,
    reference: &str,
    media: &str,
    body: &[u8],
) -> Response {
    c.put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media)
        .body(body.to_vec())
        .send()
        .expect("manifest put")
}

/// Pushes config + one layer + manifest as `repo:tag`; returns the manifest digest.
pub(crate) fn push_image(c: &Client, base: &str, repo: &str, tag: &str, layer: &[u8]) -> String {
    let config = config_blob();
    push_blob(c, base, repo, &config);
    push_blob(c, base, repo, layer);
    let m = manifest_of(&config, &[layer]);
    let resp = put_manifest(c, base, repo, tag, OCI_MANIFEST, &m);
    assert_eq!(resp.status(), 201, "{:?}", resp.text());
    sha(&m)
}

fn need_server_tools() -> bool {
    require_root() && require_tool("skopeo")
}

#[test]
fn the_request_log_names_method_path_and_status() {
    let reg = Served::start(&[]);
    push_image(
        &client(),
        &format!("http://{}", reg.addr),
        "conf/a",
        "v1",
        &noise(1000),
    );
    let log = reg.log();
    assert!(
        log.contains("method=PUT path=/v2/conf/a/manifests/v1 status=201"),
        "{log}"
    );
}

#[test]
fn two_servers_share_a_bucket() {
    if !require_tool("s3s-fs") {
        return;
    }
    let s3 = S3Server::start();
    let bucket = s3.bucket("registry");
    let a = Served::start_s3(&s3, &bucket, &[]);
    push_image(
        &client(),
        &format!("http://{}", a.addr),
        "conf/a",
        "v1",
        &noise(100_000),
    );
    // a second server on the same bucket serves what the first stored
    let b = Served::start_s3(&s3, &bucket, &[]);
    let c = client();
    let tags: Value = c
        .get(b.url("/v2/conf/a/tags/list"))
        .send()
        .expect("tags")
        .json()
        .expect("json");
    assert!(
        tags["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("v1")),
        "{tags}"
    );
    let d = push_image(
        &c,
        &format!("http://{}", b.addr),
        "shared/x",
        "1",
        &noise(20_000),
    );
    let resp = c
        .get(a.url(&format!("/v2/shared/x/manifests/{d}")))
        .header("accept", OCI_MANIFEST)
        .send()
        .expect("get");
    assert_eq!(resp.status(), 200);
    // and collection works there too
    let out = a.gc(&["--grace", "0s"]);
    assert!(out.contains("blobs marked"), "{out}");
}

#[test]
fn skopeo_and_berth_push_pull_list_delete_and_search() {
    if !need_server_tools() {
        return;
    }
    let reg = Served::start(&[]);
    let b = Berth::new();
    let name = format!("{}/team/busybox:1.0", reg.addr);
    import_busybox(&b, &name);
    b.ok(&["push", &name]);
    // skopeo reads what berth pushed, copies it within the registry, lists, deletes
    let inspected = skopeo_inspect(&["--tls-verify=false", &format!("docker://{name}")]);
    let digest = inspected["Digest"].as_str().expect("digest").to_string();
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{name}"),
        &format!("docker://{}/team/copy:2", reg.addr),
    ]));
    let copied = skopeo_inspect(&[
        "--tls-verify=false",
        &format!("docker://{}/team/copy:2", reg.addr),
    ]);
    assert_eq!(copied["Digest"], digest, "skopeo changed the digest");
    let tags = run(Command::new("skopeo").args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/team/copy", reg.addr),
    ]));
    assert!(tags.contains("\"2\""), "{tags}");
    // skopeo copies to an OCI layout and back under another name, digests intact
    let layout = b.path("layout");
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:x", layout.display()),
    ]));
    run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:x", layout.display()),
        &format!("docker://{}/team/fromoci:3", reg.addr),
    ]));
    // berth pulls what skopeo pushed; search finds it
    let c = Berth::new();
    c.ok(&["pull", &format!("{}/team/copy:2", reg.addr)]);
    let found = c.ok(&["search", &format!("{}/copy", reg.addr)]);
    assert!(found.contains("team/copy"), "{found}");
    run(Command::new("skopeo").args([
        "delete",
        "--tls-verify=false",
        &format!("docker://{}/team/copy:2", reg.addr),
    ]));
    let gone = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{}/team/copy:2", reg.addr),
        ])
        .output()
        .expect("skopeo");
    assert!(!gone.status.success());
    // the original is untouched
    c.ok(&["pull", &name]);
}

pub(crate) fn htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("htpasswd");
    for (i, (u, p)) in users.iter().enumerate() {
        let flags = if i == 0 { "-Bbc" } else { "-Bb" };
        run(Command::new("htpasswd").args([flags, path.to_str().expect("utf-8"), u, p]));
    }
    path
}

const ACL: &str = r#"
[[acl]]
account = "*"
repository = "${account}/*"
actions = ["*"]

[[acl]]
account = "anonymous"
repository = "public/*"
actions = ["pull"]

[[acl]]
account = "alice"
repository = "public/*"
actions = ["pull", "push"]
"#;

/// Raw HTTP/1.1 request; returns the status line's code.
fn raw_status(addr: &str, request: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("read");
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn basic_auth_with_acls_and_no_bypass() {
    if !need_server_tools() || !require_tool("htpasswd") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pw = htpasswd(dir.path(), &[("alice", "wonderland"), ("bob", "builder")]);
    let config = dir.path().join("registry.toml");
    std::fs::write(&config, ACL).expect("config");
    let reg = Served::start(&[
        "--htpasswd",
        pw.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    let base = format!("http://{}", reg.addr);
    let c = client();
    // anonymous: challenged
    let resp = c.get(format!("{base}/v2/")).send().expect("base");
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").starts_with("Basic "));
    expect_error(
        c.get(format!("{base}/v2/"))
            .basic_auth("alice", Some("wrong"))
            .send()
            .expect("base"),
        401,
        "UNAUTHORIZED",
    );
    // alice pushes into her namespace and public/, not bob's
    let alice = |r: reqwest::blocking::RequestBuilder| r.basic_auth("alice", Some("wonderland"));
    let bob = |r: reqwest::blocking::RequestBuilder| r.basic_auth("bob", Some("builder"));
    let layer = noise(5000);
    let d = sha(&layer);
    for repo in ["alice/app", "public/tool"] {
        let resp = alice(c.post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}")))
            .body(layer.clone())
            .send()
            .expect("push");
        assert_eq!(resp.status(), 201, "{repo}");
    }
    expect_error(
        alice(c.post(format!("{base}/v2/bob/app/blobs/uploads/")))
            .send()
            .expect("push"),
        403,
        "DENIED",
    );
    expect_error(
        bob(c.get(format!("{base}/v2/alice/app/blobs/{d}")))
            .send()
            .expect("get"),
        403,
        "DENIED",
    );
    assert_eq!(
        bob(c.get(format!("{base}/v2/public/tool/blobs/{d}")))
            .send()
            .expect("get")
            .status(),
        200
    );
    // anonymous may pull public/ only
    assert_eq!(
        status_of(c.get(format!("{base}/v2/public/tool/blobs/{d}"))),
        200
    );
    expect_error(
        send(c.get(format!("{base}/v2/alice/app/blobs/{d}"))),
        401,
        "UNAUTHORIZED",
    );
    expect_error(
        send(c.post(format!("{base}/v2/public/tool/blobs/uploads/"))),
        401,
        "UNAUTHORIZED",
    );
    // path tricks name no repository, so nothing of alice's is reached
    let auth = format!(
        "Authorization: Basic {}\r\n",
        base64_basic("bob", "builder")
    );
    for path in [
        format!("/v2/bob/../alice/app/blobs/{d}"),
        format!("/v2/bob/%2e%2e/alice/app/blobs/{d}"),
        format!("/v2/%61lice/app/blobs/{d}"),
        format!("/v2/Alice/app/blobs/{d}"),
        format!("/v2/bob//alice/app/blobs/{d}"),
        format!("//v2/alice/app/blobs/{d}"),
        format!("/v2/alice/app/blobs/{d}"),
    ] {
        for method in ["GET", "HEAD"] {
            let status = raw_status(
                &reg.addr,
                &format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
            );
            assert!(
                matches!(status, 400 | 403 | 404),
                "{method} {path}: {status}"
            );
        }
    }
    // berth's client logs in and pushes
    let b = Berth::new();
    let name = format!("{}/alice/busybox:1", reg.addr);
    import_busybox(&b, &name);
    assert!(b.fail(&["push", &name]).contains("unauthorized"));
    let ok = b.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        b"wonderland\n",
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    b.ok(&["push", &name]);
    // the catalog shows each caller what it may pull
    let cat: Value = alice(c.get(format!("{base}/v2/_catalog")))
        .send()
        .expect("catalog")
        .json()
        .expect("json");
    assert_eq!(cat["repositories"], json!(["alice/busybox"]));
    let cat: Value = bob(c.get(format!("{base}/v2/_catalog")))
        .send()
        .expect("catalog")
        .json()
        .expect("json");
    assert_eq!(cat["repositories"], json!([]), "{cat}");
    let found = b.ok(&["search", &format!("{}/busybox", reg.addr)]);
    assert!(found.contains("alice/busybox"), "{found}");
}

pub(crate) fn base64_basic(user: &str, pass: &str) -> String {
    let out =
        run(Command::new("sh").args(["-c", &format!("printf '%s' '{user}:{pass}' | base64 -w0")]));
    out.trim().to_string()
}

#[test]
fn token_auth_issues_scoped_tokens_that_grant_nothing_elsewhere() {
    if !need_server_tools() || !require_tool("htpasswd") || !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pw = htpasswd(dir.path(), &[("alice", "wonderland"), ("bob", "builder")]);
    let key = dir.path().join("token.pem");
    run(Command::new("openssl").args([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        key.to_str().expect("utf-8"),
    ]));
    let config = dir.path().join("registry.toml");
    std::fs::write(&config, ACL).expect("config");
    let port = free_port("127.0.0.1");
    let addr = format!("127.0.0.1:{port}");
    let realm = format!("http://{addr}/token");
    let mut reg = Served::start_at(
        &addr,
        &[
            "--htpasswd",
            pw.to_str().expect("utf-8"),
            "--config",
            config.to_str().expect("utf-8"),
            "--token-realm",
            &realm,
            "--token-key",
            key.to_str().expect("utf-8"),
        ],
    );
    let base = format!("http://{addr}");
    let c = client();
    let resp = c
        .get(format!("{base}/v2/alice/app/tags/list"))
        .send()
        .expect("get");
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate");
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{realm}\",service=\"berth-registry\",scope=\"repository:alice/app:pull\""
        )
    );
    // alice's token for alice/app
    let token = |user: Option<(&str, &str)>, scope: &str| -> String {
        let mut r = c.get(format!("{realm}?service=berth-registry&scope={scope}"));
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        let v: Value = r.send().expect("token").json().expect("json");
        v["token"].as_str().expect("token").to_string()
    };
    assert_eq!(
        c.get(format!("{realm}?scope=repository:alice/app:pull"))
            .basic_auth("alice", Some("nope"))
            .send()
            .expect("token")
            .status(),
        401
    );
    let t = token(
        Some(("alice", "wonderland")),
        "repository:alice/app:pull,push",
    );
    let layer = noise(4000);
    let d = sha(&layer);
    let resp = c
        .post(format!("{base}/v2/alice/app/blobs/uploads/?digest={d}"))
        .bearer_auth(&t)
        .body(layer.clone())
        .send()
        .expect("push");
    assert_eq!(resp.status(), 201);
    assert_eq!(
        c.get(format!("{base}/v2/alice/app/blobs/{d}"))
            .bearer_auth(&t)
            .send()
            .expect("get")
            .status(),
        200
    );
    // the same token grants nothing on another repository, even one alice owns
    let resp = c
        .get(format!("{base}/v2/alice/other/blobs/{d}"))
        .bearer_auth(&t)
        .send()
        .expect("get");
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").contains("error=\"insufficient_scope\""));
    // bob asking for alice's repository gets a token without the actions
    let tb = token(Some(("bob", "builder")), "repository:alice/app:pull,push");
    assert_eq!(
        c.get(format!("{base}/v2/alice/app/blobs/{d}"))
            .bearer_auth(&tb)
            .send()
            .expect("get")
            .status(),
        401
    );
    // a tampered token is refused
    let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    let forged = parts.join(".");
    let resp = c
        .get(format!("{base}/v2/alice/app/blobs/{d}"))
        .bearer_auth(&forged)
        .send()
        .expect("get");
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").contains("invalid_token"));
    // anonymous tokens pull public/ only
    let resp = c
        .post(format!("{base}/v2/public/x/blobs/uploads/?digest={d}"))
        .bearer_auth(token(
            Some(("alice", "wonderland")),
            "repository:public/x:push",
        ))
        .body(layer.clone())
        .send()
        .expect("push");
    assert_eq!(resp.status(), 201);
    let anon = token(None, "repository:public/x:pull,push");
    assert_eq!(
        c.get(format!("{base}/v2/public/x/blobs/{d}"))
            .bearer_auth(&anon)
            .send()
            .expect("get")
            .status(),
        200
    );
    assert_eq!(
        c.post(format!("{base}/v2/public/x/blobs/uploads/"))
            .bearer_auth(&anon)
            .send()
            .expect("post")
            .status(),
        401
    );
    // tokens survive a restart: they are signed with the configured key
    reg.kill_and_restart();
    assert_eq!(
        c.get(format!("{base}/v2/alice/app/blobs/{d}"))
            .bearer_auth(&t)
            .send()
            .expect("get")
            .status(),
        200
    );
    // berth's and skopeo's clients run the whole challenge flow
    let b = Berth::new();
    let name = format!("{addr}/alice/busybox:1");
    import_busybox(&b, &name);
    let ok = b.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &addr],
        b"wonderland\n",
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    b.ok(&["push", &name]);
    let inspected = skopeo_inspect(&[
        "--tls-verify=false",
        "--creds",
        "alice:wonderland",
        &format!("docker://{name}"),
    ]);
    assert!(inspected["Digest"].as_str().is_some());
    let denied = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            "bob:builder",
            &format!("docker://{name}"),
        ])
        .output()
        .expect("skopeo");
    assert!(!denied.status.success());
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        "alice:wonderland",
        "--dest-creds",
        "alice:wonderland",
        &format!("docker://{name}"),
        &format!("docker://{addr}/public/busybox:1"),
    ]));
    let c2 = Berth::new();
    c2.ok(&["pull", &format!("{addr}/public/busybox:1")]);
}

/// Sends the headers of a PATCH announcing `len` bytes and only part of them.
fn stalled_patch(addr: &str, location: &str, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(
        format!("PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
    )
    .expect("write");
    s.write_all(&vec![b'a'; len / 2]).expect("write");
    s
}

#[test]
fn uploads_are_atomic_across_sigkill_and_concurrent_pushes() {
    let mut reg = Served::start(&[]);
    let base = format!("http://{}", reg.addr);
    let c = client();
    // a half-sent upload, then SIGKILL: nothing visible, the session resumes
    let data = noise(1 << 20);
    let d = sha(&data);
    let resp = c
        .post(format!("{base}/v2/k/blobs/uploads/"))
        .send()
        .expect("post");
    let location = header(&resp, "location");
    let resp = c
        .patch(format!("{base}{location}"))
        .header("content-range", format!("0-{}", (1 << 19) - 1))
        .body(data[..1 << 19].to_vec())
        .send()
        .expect("patch");
    assert_eq!(resp.status(), 202);
    let mut s = stalled_patch(&reg.addr, &location, 1 << 19);
    s.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    reg.kill_and_restart();
    drop(s);
    assert_eq!(status_of(c.head(format!("{base}/v2/k/blobs/{d}"))), 404);
    let resp = c.get(format!("{base}{location}")).send().expect("status");
    assert_eq!(resp.status(), 204);
    assert_eq!(
        header(&resp, "range"),
        format!("0-{}", (1 << 19) - 1),
        "the killed chunk left nothing"
    );
    let resp = c
        .put(format!("{base}{location}?digest={d}"))
        .body(data[1 << 19..].to_vec())
        .send()
        .expect("put");
    assert_eq!(resp.status(), 201);
    let got = c
        .get(format!("{base}/v2/k/blobs/{d}"))
        .send()
        .expect("get")
        .bytes()
        .expect("body");
    assert_eq!(sha(&got), d);
    // no temporary file is left where blobs live
    let strays = run(Command::new("find").args([
        reg.dir.join("data/blobs").to_str().expect("utf-8"),
        "-name",
        ".tmp-*",
    ]));
    assert_eq!(strays.trim(), "");
    // eight concurrent uploads of the same blob all succeed
    let blob = noise(3 << 20);
    let bd = sha(&blob);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (base, blob, bd) = (base.clone(), blob.clone(), bd.clone());
            std::thread::spawn(move || {
                let c = client();
                let resp = c
                    .post(format!("{base}/v2/same{i}/blobs/uploads/"))
                    .send()
                    .expect("post");
                let url = format!("{base}{}", header(&resp, "location"));
                let resp = c.patch(&url).body(blob).send().expect("patch");
                assert_eq!(resp.status(), 202);
                c.put(format!("{url}?digest={bd}"))
                    .send()
                    .expect("put")
                    .status()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), 201);
    }
    for i in 0..8 {
        let got = c
            .get(format!("{base}/v2/same{i}/blobs/{bd}"))
            .send()
            .expect("get")
            .bytes()
            .expect("body");
        assert_eq!(sha(&got), bd);
    }
}

#[test]
fn resources_are_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("registry.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_blob_bytes = 100000\nmax_uploads_in_flight = 1\nheader_timeout = 1\nbody_idle_timeout = 2\nupload_expiry = 1\n",
    )
    .expect("config");
    let reg = Served::start(&["--config", config.to_str().expect("utf-8")]);
    let base = format!("http://{}", reg.addr);
    let c = client();
    // a blob past the size limit
    let resp = c
        .post(format!(
            "{base}/v2/r/blobs/uploads/?digest={}",
            sha(&noise(200_000))
        ))
        .body(noise(200_000))
        .send()
        .expect("post");
    expect_error(resp, 413, "SIZE_INVALID");
    // a client stalling mid-body holds the only upload slot: others get 429, then it times out
    let resp = c
        .post(format!("{base}/v2/r/blobs/uploads/"))
        .send()
        .expect("post");
    let location = header(&resp, "location");
    let mut stalled = stalled_patch(&reg.addr, &location, 1000);
    std::thread::sleep(Duration::from_millis(300));
    let resp = c
        .post(format!("{base}/v2/r/blobs/uploads/?digest={}", sha(b"x")))
        .body(b"x".to_vec())
        .send()
        .expect("post");
    expect_error(resp, 429, "TOOMANYREQUESTS");
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let resp = c
        .post(format!("{base}/v2/r/blobs/uploads/?digest={}", sha(b"x")))
        .body(b"x".to_vec())
        .send()
        .expect("post");
    assert_eq!(resp.status(), 201);
    // connections that send nothing are closed and do not starve others
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&reg.addr).expect("connect"))
        .collect();
    assert_eq!(
        c.get(format!("{base}/v2/")).send().expect("base").status(),
        200
    );
    std::thread::sleep(Duration::from_millis(1500));
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert!(
        matches!(first.read(&mut buf), Ok(0) | Err(_)),
        "an idle connection stayed open"
    );
    // abandoned uploads expire: unknown to clients, removed by gc
    std::thread::sleep(Duration::from_millis(1100));
    expect_error(
        c.get(format!("{base}{location}")).send().expect("status"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    let out = reg.gc(&[]);
    assert!(out.contains("abandoned uploads removed"), "{out}");
    let left = std::fs::read_dir(reg.dir.join("data/_uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "{out}");
}

#[test]
fn sigterm_lets_a_download_in_flight_finish() {
    let mut reg = Served::start(&[]);
    let base = format!("http://{}", reg.addr);
    let c = client();
    let blob = noise(64 << 20);
    let d = push_blob(&c, &base, "big/x", &blob);
    let mut s = TcpStream::connect(&reg.addr).expect("connect");
    s.write_all(
        format!("GET /v2/big/x/blobs/{d} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .expect("write");
    let mut first = vec![0u8; 4096];
    let n = s.read(&mut first).expect("read");
    assert!(n > 0);
    let status = std::thread::scope(|scope| {
        let t = scope.spawn(|| reg.terminate());
        std::thread::sleep(Duration::from_millis(300));
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("read the rest");
        let total = n + rest.len();
        assert!(total > 64 << 20, "the download was cut at {total} bytes");
        t.join().expect("thread")
    });
    assert!(status.success(), "{status:?}");
}

#[test]
fn gc_removes_only_unreferenced_blobs() {
    if !need_server_tools() {
        return;
    }
    let reg = Served::start(&[]);
    let base = format!("http://{}", reg.addr);
    let c = client();
    let shared = noise(10_000);
    let only_b = b"layer only b has".to_vec();
    let a = push_image(&c, &base, "gc/a", "1", &shared);
    let config = config_blob();
    push_blob(&c, &base, "gc/b", &config);
    push_blob(&c, &base, "gc/b", &shared);
    push_blob(&c, &base, "gc/b", &only_b);
    let mb = manifest_of(&config, &[&shared, &only_b]);
    assert_eq!(
        put_manifest(&c, &base, "gc/b", "1", OCI_MANIFEST, &mb).status(),
        201
    );
    // an untagged manifest in a
    let untagged = manifest_of(&config, &[]);
    assert_eq!(
        put_manifest(&c, &base, "gc/a", &sha(&untagged), OCI_MANIFEST, &untagged).status(),
        201
    );
    // a blob being pushed now (its manifest not sent yet)
    let pending = b"pushed, manifest not yet".to_vec();
    push_blob(&c, &base, "gc/c", &pending);
    assert_eq!(
        status_of(c.delete(format!("{base}/v2/gc/b/manifests/{}", sha(&mb)))),
        202
    );
    // the default grace keeps everything recent
    let out = reg.gc(&[]);
    assert!(out.contains("0 blobs and 0 manifests deleted"), "{out}");
    let out = reg.gc(&["--grace", "0s", "--dry-run"]);
    assert!(
        out.contains(&format!("blob would delete: {}", sha(&only_b))),
        "{out}"
    );
    assert!(
        out.contains(&format!("blob would delete: {}", sha(&mb))),
        "{out}"
    );
    assert!(!out.contains(&sha(&shared)), "{out}");
    assert_eq!(
        c.head(format!("{base}/v2/gc/b/blobs/{}", sha(&only_b)))
            .send()
            .expect("head")
            .status(),
        200,
        "dry run removed"
    );
    let out = reg.gc(&["--grace", "0s", "--delete-untagged"]);
    assert!(
        out.contains(&format!("manifest deleted: gc/a@{}", sha(&untagged))),
        "{out}"
    );
    assert!(
        out.contains(&format!("blob deleted: {}", sha(&only_b))),
        "{out}"
    );
    assert!(
        out.contains(&format!("blob deleted: {}", sha(&pending))),
        "{out}"
    );
    expect_error(
        send(c.head(format!("{base}/v2/gc/b/blobs/{}", sha(&only_b)))),
        404,
        "",
    );
    // a is whole: skopeo copies it out
    let dir = tempfile::tempdir().expect("temp dir");
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/gc/a@{a}", reg.addr),
        &format!("oci:{}:a", dir.path().display()),
    ]));
}

#[test]
fn read_only_and_delete_disabled_say_unsupported() {
    let reg = Served::start(&["--read-only"]);
    let c = client();
    expect_error(
        send(c.post(reg.url("/v2/x/blobs/uploads/"))),
        405,
        "UNSUPPORTED",
    );
    let reg = Served::start(&["--no-delete"]);
    let base = format!("http://{}", reg.addr);
    let d = push_image(&c, &base, "x", "1", b"layer");
    expect_error(
        send(c.delete(reg.url(&format!("/v2/x/manifests/{d}")))),
        405,
        "UNSUPPORTED",
    );
}

#[test]
fn serves_https_with_the_given_certificate() {
    if !require_tool("openssl") || !require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key.to_str().expect("utf-8"),
        "-out",
        cert.to_str().expect("utf-8"),
    ]));
    let reg = Served::start(&[
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    let out = run(Command::new("curl").args([
        "-sS",
        "--cacert",
        cert.to_str().expect("utf-8"),
        "-w",
        " %{http_code} %{ssl_verify_result}",
        &format!("https://{}/v2/", reg.addr),
    ]));
    assert_eq!(out.trim(), "{} 200 0");
    // plain HTTP on the TLS port gets nothing served
    let plain = Command::new("curl")
        .args(["-sS", "-m", "5", &format!("http://{}/v2/", reg.addr)])
        .output()
        .expect("curl");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("{}"));
    assert!(reg.log().contains("listening on https://"), "{}", reg.log());
}
