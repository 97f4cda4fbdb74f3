//! `berth daemon` driven by the real docker CLIs (docker 28 first on PATH,
//! Debian's docker.io 20.10 at /usr/bin/docker) and by raw HTTP on its unix
//! socket: the same store as the `berth` CLI, docker's shapes, statuses and
//! error bodies, and a clean SIGTERM.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::containers::setup;
use crate::{Berth, Run, require};

/// The docker CLIs under test: the one first on PATH (docker 28 on these
/// machines) and Debian's docker.io (20.10, API 1.41).
pub(crate) fn clients() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (path, what) in [
        (
            "/usr/local/bin/docker",
            "the docker 28 CLI (/usr/local/bin/docker)",
        ),
        (
            "/usr/bin/docker",
            "Debian's docker.io CLI (/usr/bin/docker)",
        ),
    ] {
        if require(Path::new(path).is_file(), what) {
            out.push(PathBuf::from(path));
        }
    }
    out
}

/// A docker CLI command against `host` with the CLI config in `config`, at
/// the API version it negotiates, stdin closed.
pub(crate) fn docker_cli(client: &Path, host: &str, config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(client);
    c.args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_API_VERSION")
        .stdin(Stdio::null());
    c
}

/// A store with busybox, the docker CLIs, and a daemon on the store.
fn started() -> Option<(Berth, Vec<PathBuf>, Daemon)> {
    let b = setup()?;
    let clients = clients();
    let d = Daemon::start(&b);
    Some((b, clients, d))
}

/// A `berth daemon` on a socket in the test's directory, stopped by SIGTERM.
pub(crate) struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    pub(crate) fn start(b: &Berth) -> Daemon {
        Daemon::start_with(b, &[])
    }

    /// A daemon on the test's socket and on whatever else `extra` asks for.
    fn start_with(b: &Berth, extra: &[&str]) -> Daemon {
        let socket = b.path("docker.sock");
        let unix = format!("unix://{}", socket.display());
        let mut args = vec!["daemon", "-H", &unix];
        args.extend_from_slice(extra);
        let child = b
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, socket }
    }

    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A docker CLI pointed at this daemon, with a config of its own.
    pub(crate) fn docker(&self, b: &Berth, client: &Path, args: &[&str]) -> Run {
        docker_cli(client, &self.host(), &b.path("docker-cli-config"), args)
            .output()
            .expect("docker CLI")
            .into()
    }

    pub(crate) fn docker_ok(&self, b: &Berth, client: &Path, args: &[&str]) -> String {
        let r = self.docker(b, client, args);
        assert_eq!(
            r.code,
            0,
            "{} {args:?}: {}{}",
            client.display(),
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// A docker CLI fed `input` on its stdin; its stdout.
    fn docker_stdin(&self, b: &Berth, client: &Path, args: &[&str], input: &[u8]) -> String {
        let mut child = Command::new(client)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", b.path("docker-cli-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker CLI");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One raw HTTP/1.1 exchange: the status line, headers (lower case) and body.
    fn raw(&self, request: &str) -> (u16, Vec<(String, String)>, String) {
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).expect("send");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, body.to_string())
    }

    fn get(&self, path: &str) -> (u16, Vec<(String, String)>, String) {
        self.raw(&format!(
            "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        ))
    }

    /// SIGTERM; the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn docker_clis_see_and_change_the_images_berth_has() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    for (i, client) in clients.iter().enumerate() {
        let v = d.docker_ok(
            &b,
            client,
            &["version", "--format", "{{.Server.APIVersion}}"],
        );
        assert_eq!(v.trim(), "1.47", "{}", client.display());
        let out = d.docker_ok(
            &b,
            client,
            &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        );
        assert!(out.lines().any(|l| l == "busybox:latest"), "{out}");
        let tag = format!("team/bb:{i}");
        d.docker_ok(&b, client, &["tag", "busybox", &tag]);
        // The berth CLI sees what docker did, on the same store.
        let ours = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        assert!(ours.lines().any(|l| l == tag), "{ours}");
        let id = d.docker_ok(&b, client, &["inspect", "--format", "{{.Id}}", &tag]);
        let berth_id = b.ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"]);
        assert_eq!(id.trim(), berth_id.trim());
        let history = d.docker_ok(&b, client, &["history", "-q", &tag]);
        assert!(
            berth_id.contains(history.lines().next().unwrap_or("?")),
            "{history}"
        );
        let out = d.docker_ok(&b, client, &["rmi", &tag]);
        assert!(out.contains(&format!("Untagged: {tag}")), "{out}");
        // …and the daemon sees what the CLI did, at once (its image list
        // is kept only while the database is unchanged).
        let theirs = format!("cli/bb:{i}");
        let listed = || {
            d.docker_ok(
                &b,
                client,
                &["images", "--format", "{{.Repository}}:{{.Tag}}"],
            )
        };
        assert!(!listed().contains(&theirs));
        b.ok(&["tag", "busybox", &theirs]);
        assert!(listed().lines().any(|l| l == theirs), "{}", listed());
        b.ok(&["rmi", &theirs]);
        assert!(!listed().contains(&theirs));
        // dockerd's 404 with dockerd's words, exit 1.
        let r = d.docker(&b, client, &["image", "inspect", "nosuch"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("No such image: nosuch"), "{}", r.stderr);
        let info = d.docker_ok(&b, client, &["info", "--format", "{{.Images}} {{.Driver}}"]);
        assert_eq!(info.trim(), "1 overlay");
    }
}

#[test]
fn docker_clis_run_stop_and_remove_containers_berth_sees() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    for client in &clients {
        let id = d.docker_ok(
            &b,
            client,
            &[
                "run",
                "-d",
                "--name",
                "web",
                "busybox",
                "sh",
                "-c",
                "echo hello; echo oops >&2; exec sleep 300",
            ],
        );
        let id = id.trim();
        assert_eq!(id.len(), 64, "{id}");
        let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.starts_with("web Up"), "{ps}");
        let ps = d.docker_ok(
            &b,
            client,
            &["ps", "--format", "{{.ID}} {{.Names}} {{.Command}}"],
        );
        assert!(ps.contains(&format!("{} web", &id[..12])), "{ps}");
        // Output arrives on its own stream.
        let deadline = Instant::now() + Duration::from_secs(10);
        let logs = loop {
            let r = d.docker(&b, client, &["logs", "web"]);
            if r.stdout.contains("hello") || Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(logs.stdout, "hello\n");
        assert_eq!(logs.stderr, "oops\n");
        let top = d.docker_ok(&b, client, &["top", "web"]);
        assert!(top.contains("sleep 300"), "{top}");
        d.docker_ok(&b, client, &["pause", "web"]);
        let state = b.ok(&["inspect", "--format", "{{.State.Status}}", "web"]);
        assert_eq!(state.trim(), "paused");
        d.docker_ok(&b, client, &["unpause", "web"]);
        d.docker_ok(&b, client, &["stop", "-t", "1", "web"]);
        let code = d.docker_ok(&b, client, &["wait", "web"]);
        assert_eq!(code.trim(), "137");
        let st = d.docker_ok(
            &b,
            client,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                "web",
            ],
        );
        assert_eq!(st.trim(), "exited 137");
        d.docker_ok(&b, client, &["start", "web"]);
        d.docker_ok(&b, client, &["restart", "-t", "1", "web"]);
        d.docker_ok(&b, client, &["rename", "web", "web2"]);
        let r = d.docker(&b, client, &["rm", "web2"]);
        assert_eq!(r.code, 1, "a running container is not removed without -f");
        d.docker_ok(&b, client, &["rm", "-f", "web2"]);
        assert_eq!(b.ok(&["ps", "-aq"]).trim(), "");
        // A container berth made shows in docker's list.
        b.ok(&["create", "--name", "made-by-berth", "busybox", "true"]);
        let ps = d.docker_ok(
            &b,
            client,
            &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
        );
        assert_eq!(ps.trim(), "made-by-berth Created");
        let code = d.docker_ok(&b, client, &["start", "made-by-berth"]);
        assert_eq!(code.trim(), "made-by-berth");
        assert_eq!(
            d.docker_ok(&b, client, &["wait", "made-by-berth"]).trim(),
            "0"
        );
        d.docker_ok(&b, client, &["rm", "made-by-berth"]);
        let r = d.docker(&b, client, &["create", "--name", "x", "busybox:nosuch"]);
        assert_ne!(r.code, 0);
    }
}

#[test]
fn the_api_answers_with_dockers_shapes_statuses_and_errors() {
    let Some(b) = setup() else { return };
    let d = Daemon::start(&b);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    let (status, headers, body) = d.get("/_ping");
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(header(&headers, "api-version"), "1.47");
    assert_eq!(header(&headers, "builder-version"), "1");
    assert_eq!(header(&headers, "ostype"), "linux");
    let (status, headers, body) =
        d.raw("HEAD /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(header(&headers, "api-version"), "1.47");
    // Versioned and unversioned paths; versions out of range are 400s.
    for path in ["/version", "/v1.41/version", "/v1.24/version"] {
        let (status, _, body) = d.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ApiVersion"], "1.47");
        assert_eq!(v["MinAPIVersion"], "1.24");
    }
    let (status, _, body) = d.get("/v1.99/version");
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["message"].as_str().unwrap().contains("too new"), "{body}");
    let (status, _, body) = d.get("/v1.41/nothing/here");
    assert_eq!(status, 404);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["message"].is_string());
    // A list before 1.44 carries VirtualSize; from 1.44 it does not.
    let (_, _, body) = d.get("/v1.41/images/json");
    let old: Value = serde_json::from_str(&body).unwrap();
    assert!(old[0]["VirtualSize"].is_u64(), "{body}");
    let (_, _, body) =
        d.get("/v1.47/images/json?filters=%7B%22reference%22%3A%5B%22busybox%22%5D%7D");
    let new: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(new[0]["RepoTags"][0], "busybox:latest");
    assert!(new[0].get("VirtualSize").is_none());
    let (status, _, _) = d.get("/images/json?filters=%7Bnot-json");
    assert_eq!(status, 400);
    // Names with slashes reach the image routes whole.
    b.ok(&["tag", "busybox", "localhost:5000/a/b:c"]);
    let (status, _, body) = d.get("/images/localhost:5000/a/b:c/json");
    assert_eq!(status, 200, "{body}");
    // Bad create bodies are 400s with a message; an unknown image is the 404
    // that makes docker pull.
    let post = |body: &str| {
        d.raw(&format!(
            "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    let (status, _, body) = post("{not json");
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = post(r#"{"Image":"nosuch:1"}"#);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such image: nosuch:1"), "{body}");
    let (status, _, body) =
        post(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"CapAdd":["BOGUS"]}}"#);
    assert_eq!(status, 400, "{body}");
    // Garbage is a 400, not a crash; the daemon keeps serving.
    let (status, _, _) = d.raw("NOT HTTP AT ALL\r\n\r\n");
    assert_eq!(status, 400);
    let (status, _, _) = d.get("/_ping");
    assert_eq!(status, 200);
    // Containers of an unknown name: 404 on every route.
    for (method, path) in [
        ("GET", "/containers/nosuch/json"),
        ("POST", "/containers/nosuch/start"),
        ("POST", "/containers/nosuch/wait"),
        ("DELETE", "/containers/nosuch"),
    ] {
        let (status, _, body) = d.raw(&format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(body.contains("No such container: nosuch"), "{body}");
    }
    let (status, _, _) = d.get("/networks/nosuch");
    assert_eq!(status, 404);
    let (status, _, body) = d.get("/networks");
    assert_eq!(status, 200);
    assert!(body.contains("\"host\""), "{body}");
}

#[test]
fn sigterm_stops_the_daemon_and_leaves_containers_running() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    let socket = d.socket.clone();
    // A container the daemon started: its monitor owns it, not the daemon.
    match clients.first() {
        Some(client) => {
            d.docker_ok(
                &b,
                client,
                &["run", "-d", "--name", "keeps", "busybox", "sleep", "300"],
            );
        }
        None => {
            b.ok(&["run", "-d", "--name", "keeps", "busybox", "sleep", "300"]);
        }
    }
    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the socket is removed on exit");
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("keeps Up"), "{ps}");
    // Only loopback TCP without client certificates: one line, non-zero exit.
    let r = b.run(&["daemon", "-H", "tcp://0.0.0.0:2375"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("refusing to listen on tcp://0.0.0.0:2375"),
        "{}",
        r.stderr
    );
}

#[test]
fn tcp_with_tlsverify_admits_only_clients_with_a_certificate_from_the_ca() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("openssl") || !crate::require_tool("curl") {
        return;
    }
    let clients = clients();
    let ca = crate::test_ca::TestCa::new(&b.path(""));
    let (srv_crt, srv_key) = ca.issue(
        "server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
    );
    let (cli_crt, cli_key) = ca.issue("client", "extendedKeyUsage=clientAuth");
    let rogue_dir = b.path("rogue");
    std::fs::create_dir_all(&rogue_dir).expect("dir");
    let rogue = crate::test_ca::TestCa::new(&rogue_dir);
    let (rogue_crt, rogue_key) = rogue.issue("client", "extendedKeyUsage=clientAuth");
    // The docker CLI's layout: DOCKER_CERT_PATH with ca.pem, cert.pem, key.pem.
    let cert_dir = |name: &str, crt: &Path, key: &Path| {
        let dir = b.path(name);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::copy(&ca.cert, dir.join("ca.pem")).expect("ca");
        std::fs::copy(crt, dir.join("cert.pem")).expect("cert");
        std::fs::copy(key, dir.join("key.pem")).expect("key");
        dir
    };
    let good = cert_dir("good-certs", &cli_crt, &cli_key);
    let bad = cert_dir("rogue-certs", &rogue_crt, &rogue_key);
    let port = crate::registry::free_port("127.0.0.1");
    let tcp = format!("tcp://127.0.0.1:{port}");
    let path = |p: &Path| p.to_str().expect("utf-8").to_string();
    let (ca_pem, key_pem) = (path(&ca.cert), path(&srv_key));
    let tls_args = |cert: &'static str| -> Vec<String> {
        let cert = if cert.is_empty() {
            path(&srv_crt)
        } else {
            cert.to_string()
        };
        [
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &ca_pem,
            "--tlscert",
            &cert,
            "--tlskey",
            &key_pem,
        ]
        .map(str::to_string)
        .to_vec()
    };
    let args = tls_args("");
    let d = Daemon::start_with(&b, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let docker = |client: &Path, certs: &Path, args: &[&str]| -> Run {
        docker_cli(client, &tcp, &b.path("docker-cli-config"), args)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", certs)
            .output()
            .expect("docker CLI")
            .into()
    };
    for client in &clients {
        let r = docker(client, &good, &["images", "--format", "{{.Repository}}"]);
        assert_eq!((r.code, r.stdout.trim()), (0, "busybox"), "{}", r.stderr);
        let r = docker(client, &bad, &["images"]);
        assert_ne!(r.code, 0, "a certificate from another CA: {}", r.stdout);
    }
    // No client certificate, or no TLS at all: refused before any request.
    let url = format!("https://127.0.0.1:{port}/_ping");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl")
    };
    let with_cert = curl(&[
        "--cacert",
        &path(&ca.cert),
        "--cert",
        &path(&cli_crt),
        "--key",
        &path(&cli_key),
        &url,
    ]);
    assert_eq!(String::from_utf8_lossy(&with_cert.stdout), "OK");
    let anonymous = curl(&["--cacert", &path(&ca.cert), &url]);
    assert!(!anonymous.status.success(), "{anonymous:?}");
    let plain = curl(&[&format!("http://127.0.0.1:{port}/_ping")]);
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "OK");
    drop(d);
    // A certificate that is not there: one line naming it, exit 1.
    let mut args = vec!["daemon".to_string()];
    args.extend(tls_args("/nonexistent/cert.pem"));
    let r = b.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent/cert.pem"), "{}", r.stderr);
}

#[test]
fn socket_activation_hands_the_daemon_its_socket() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("systemd-socket-activate") {
        return;
    }
    let clients = clients();
    let socket = b.path("activated.sock");
    // systemd-socket-activate listens, then starts the daemon with the
    // socket as fd 3 on the first connection, as berth.socket does.
    let berth = b.cmd(&["daemon", "-H", "fd://"]);
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l").arg(&socket);
    for (k, v) in berth.get_envs() {
        if let Some(v) = v {
            cmd.arg(format!(
                "--setenv={}={}",
                k.to_string_lossy(),
                v.to_string_lossy()
            ));
        }
    }
    cmd.arg(berth.get_program()).args(berth.get_args());
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = Daemon { child, socket };
    let (status, _, body) = d.get("/_ping");
    assert_eq!((status, body.as_str()), (200, "OK"));
    for client in &clients {
        let out = d.docker_ok(&b, client, &["images", "--format", "{{.Repository}}"]);
        assert_eq!(out.trim(), "busybox");
    }
}

/// busybox pushed as `REGISTRY/path` to a `berth registry serve` on
/// loopback: the store it came from, the server and the full name.
fn busybox_in_a_registry(path: &str) -> Option<(Berth, crate::registry_server::Served, String)> {
    let source = setup()?;
    let reg = crate::registry_server::Served::start(&[]);
    let name = format!("{}/{path}", reg.addr);
    source.ok(&["tag", "busybox", &name]);
    source.ok(&["push", "-q", &name]);
    Some((source, reg, name))
}

#[test]
fn docker_pulls_through_berth_and_run_pulls_what_is_missing() {
    let Some((source, reg, name)) = busybox_in_a_registry("team/busybox:1.0") else {
        return;
    };
    let clients = clients();
    let b = Berth::new();
    let d = Daemon::start(&b);
    // The registry's word on a name, without pulling it.
    let (status, _, body) = d.get(&format!("/v1.47/distribution/{name}/json"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["Descriptor"]["digest"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:"),
        "{body}"
    );
    assert_eq!(v["Platforms"][0]["os"], "linux", "{body}");
    let (status, _, _) = d.get(&format!(
        "/v1.47/distribution/{}/team/nosuch:1/json",
        reg.addr
    ));
    assert_eq!(status, 404);
    assert_eq!(b.ok(&["images", "-q"]).trim(), "", "nothing was pulled");
    for client in &clients {
        let out = d.docker_ok(&b, client, &["pull", &name]);
        assert!(out.contains("1.0: Pulling from team/busybox"), "{out}");
        assert!(out.contains("Pull complete"), "{out}");
        assert!(
            out.contains(&format!("Status: Downloaded newer image for {name}")),
            "{out}"
        );
        // The berth CLI has it, under the same ID as where it came from.
        let id = b.ok(&["image", "inspect", "--format", "{{.Id}}", &name]);
        let src = source.ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"]);
        assert_eq!(id, src);
        let again = d.docker_ok(&b, client, &["pull", &name]);
        assert!(again.contains("Status: Image is up to date"), "{again}");
        d.docker_ok(&b, client, &["rmi", &name]);
        // `docker run` of a missing image pulls it (the 404 on create), then runs.
        let r = d.docker(
            &b,
            client,
            &["run", "-d", "--name", "pulled", &name, "sleep", "30"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("Unable to find image"), "{}", r.stderr);
        let st = b.ok(&["inspect", "--format", "{{.State.Status}}", "pulled"]);
        assert_eq!(st.trim(), "running");
        d.docker_ok(&b, client, &["rm", "-f", "pulled"]);
        d.docker_ok(&b, client, &["rmi", &name]);
        // A name the registry does not have: one error, exit 1, nothing kept.
        let missing = format!("{}/team/nosuch:1", reg.addr);
        let r = d.docker(&b, client, &["pull", &missing]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(
            r.stderr.contains("Error response from daemon"),
            "{}",
            r.stderr
        );
        assert_eq!(b.ok(&["images", "-q"]).trim(), "");
    }
}

/// Runs `docker ARGS` inside a pseudo-terminal of 33 rows and 101 columns
/// (`script`), as a user at a terminal would; its output, `\r` removed.
fn docker_in_terminal(d: &Daemon, b: &Berth, client: &Path, args: &str) -> (i32, String) {
    let out = Command::new("script")
        .args([
            "-qec",
            &format!(
                "stty rows 33 cols 101; DOCKER_HOST={} DOCKER_CONFIG={} {} {args}",
                d.host(),
                b.path("docker-cli-config").display(),
                client.display()
            ),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

/// Runs `docker ARGS` (a command printing `tty; stty size` and exiting
/// with `code`) in a terminal; checks it got a pty of the client's size.
fn assert_in_terminal(d: &Daemon, b: &Berth, client: &Path, args: &str, code: i32) {
    let (got, out) = docker_in_terminal(d, b, client, args);
    assert_eq!(got, code, "{out}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    // API 1.42 clients send the size with the create, so the process starts
    // with it; older ones resize after the start, a race with dockerd as
    // with berth.
    if client.starts_with("/usr/local") {
        assert!(out.contains("33 101\n"), "{out:?}");
    }
}

#[test]
fn docker_run_attaches_with_and_without_a_terminal() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("script") {
        return;
    }
    let clients = clients();
    let d = Daemon::start(&b);
    for client in &clients {
        // Without a TTY: stdout and stderr apart, the exit code returned.
        let r = d.docker(
            &b,
            client,
            &[
                "run",
                "--name",
                "fg",
                "busybox",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
        );
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (3, "out\n", "err\n")
        );
        d.docker_ok(&b, client, &["rm", "fg"]);
        // --rm: gone after it ends.
        let out = d.docker_ok(&b, client, &["run", "--rm", "busybox", "echo", "hi"]);
        assert_eq!(out, "hi\n");
        assert_eq!(b.ok(&["ps", "-aq"]).trim(), "");
        // -i: stdin reaches the process, and its end ends `cat`.
        let out = d.docker_stdin(
            &b,
            client,
            &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
            b"line one\nline two\n",
        );
        assert_eq!(out, "line one\nline two\ndone\n");
        // `start -a` of a created container.
        d.docker_ok(
            &b,
            client,
            &["create", "--name", "later", "busybox", "echo", "started"],
        );
        let out = d.docker_ok(&b, client, &["start", "-a", "later"]);
        assert_eq!(out, "started\n");
        d.docker_ok(&b, client, &["rm", "later"]);
        // With a terminal: a real pty of the client's size, and the exit code.
        assert_in_terminal(
            &d,
            &b,
            client,
            "run -it --rm busybox sh -c 'tty; stty size; exit 4'",
            4,
        );
    }
}

#[test]
fn docker_commits_diffs_exports_saves_and_loads() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    for (i, client) in clients.iter().enumerate() {
        let name = format!("changer{i}");
        d.docker_ok(
            &b,
            client,
            &[
                "run",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                "mkdir /data; echo x > /data/f; rm /etc/passwd",
            ],
        );
        let diff = d.docker_ok(&b, client, &["diff", &name]);
        assert_eq!(diff, "A /data\nA /data/f\nC /etc\nD /etc/passwd\n");
        let image = format!("mine/img:{i}");
        let id = d.docker_ok(
            &b,
            client,
            &[
                "commit",
                "-a",
                "Ann <ann@example.com>",
                "-m",
                "made here",
                "-c",
                "ENV MODE=made",
                "-c",
                "CMD [\"sh\"]",
                &name,
                &image,
            ],
        );
        assert!(id.trim().starts_with("sha256:"), "{id}");
        let cfg = b.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Author}}|{{.Config.Env}}|{{.Config.Cmd}}",
            &image,
        ]);
        assert!(cfg.starts_with("Ann <ann@example.com>|"), "{cfg}");
        assert!(
            cfg.contains("MODE=made") && cfg.trim_end().ends_with("[sh]"),
            "{cfg}"
        );
        let history = d.docker_ok(&b, client, &["history", "--format", "{{.Comment}}", &image]);
        assert!(history.starts_with("made here\n"), "{history}");
        // export: the flattened filesystem, streamed.
        let out = Command::new(client)
            .args(["export", &name])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", b.path("docker-cli-config"))
            .output()
            .expect("export");
        assert!(out.status.success());
        let mut names = Vec::new();
        for e in tar::Archive::new(&out.stdout[..]).entries().expect("tar") {
            names.push(
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string(),
            );
        }
        assert!(names.iter().any(|n| n == "data/f"), "{names:?}");
        assert!(!names.iter().any(|n| n == "etc/passwd"), "{names:?}");
        // save, remove, load: the same image ID back.
        let archive = b.path(&format!("saved{i}.tar"));
        d.docker_ok(
            &b,
            client,
            &["save", "-o", archive.to_str().unwrap(), &image],
        );
        d.docker_ok(&b, client, &["rm", &name]);
        d.docker_ok(&b, client, &["rmi", &image]);
        let out = d.docker_ok(&b, client, &["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out.trim(), format!("Loaded image: {image}"));
        let again = d.docker_ok(&b, client, &["inspect", "--format", "{{.Id}}", &image]);
        assert_eq!(again.trim(), id.trim());
        // Errors are dockerd's: unknown names, a truncated archive.
        let r = d.docker(&b, client, &["save", "nosuch"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("No such image: nosuch"), "{}", r.stderr);
        let bytes = std::fs::read(&archive).unwrap();
        let cut = b.file("cut.tar", &bytes[..bytes.len() / 2]);
        let r = d.docker(&b, client, &["load", "-i", cut.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        // import: a rootfs tarball as a one-layer image, with a change.
        let imported = format!("imported:{i}");
        let id = d.docker_ok(
            &b,
            client,
            &[
                "import",
                "-c",
                "CMD [\"echo\", \"from import\"]",
                "-m",
                "imported here",
                archive_of_rootfs(&b).to_str().unwrap(),
                &imported,
            ],
        );
        assert!(id.trim().starts_with("sha256:"), "{id}");
        let out = d.docker_ok(&b, client, &["run", "--rm", &imported]);
        assert_eq!(out, "from import\n");
        d.docker_ok(&b, client, &["rmi", &imported]);
        let df = d.docker_ok(
            &b,
            client,
            &["system", "df", "--format", "{{.Type}} {{.TotalCount}}"],
        );
        assert!(df.starts_with("Images 2\nContainers 0\n"), "{df}");
        d.docker_ok(&b, client, &["rmi", &image]);
    }
}

#[test]
fn docker_logs_in_pushes_and_searches_through_berth() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("htpasswd") {
        return;
    }
    let clients = clients();
    let dir = tempfile::tempdir().expect("temp dir");
    let pw = crate::registry_server::htpasswd(dir.path(), &[("alice", "wonderland")]);
    let reg = crate::registry_server::Served::start(&["--htpasswd", pw.to_str().unwrap()]);
    let d = Daemon::start(&b);
    for (i, client) in clients.iter().enumerate() {
        let name = format!("{}/team/app:{i}", reg.addr);
        d.docker_ok(&b, client, &["tag", "busybox", &name]);
        if i == 0 {
            // Before any login. (After one, the daemon pushes with the
            // credentials it keeps, as `berth push` does.)
            let r = d.docker(&b, client, &["push", &name]);
            assert_eq!(r.code, 1, "an anonymous push is refused: {}", r.stdout);
            assert!(r.stderr.contains("authentication required"), "{}", r.stderr);
        }
        let r = d.docker(
            &b,
            client,
            &["login", "-u", "alice", "-p", "wrong", &reg.addr],
        );
        assert_ne!(r.code, 0, "{}", r.stdout);
        let out = d.docker_ok(
            &b,
            client,
            &["login", "-u", "alice", "-p", "wonderland", &reg.addr],
        );
        assert!(out.contains("Login Succeeded"), "{out}");
        let out = d.docker_ok(&b, client, &["push", &name]);
        assert!(out.contains(&format!("{i}: digest: sha256:")), "{out}");
        // berth pulls what docker pushed, with the daemon's stored login.
        let fresh = Berth::new();
        std::fs::create_dir_all(fresh.path("docker-config")).unwrap();
        std::fs::copy(
            b.path("docker-config/config.json"),
            fresh.path("docker-config/config.json"),
        )
        .expect("the daemon kept the login where berth login keeps it");
        fresh.ok(&["pull", "-q", &name]);
        let found = d.docker_ok(&b, client, &["search", &format!("{}/app", reg.addr)]);
        assert!(found.contains("team/app"), "{found}");
    }
    // A daemon with no stored login pulls with the client's X-Registry-Auth
    // (base64url JSON, as docker sends it), and without it is refused.
    let fresh = Berth::new();
    let fd = Daemon::start(&fresh);
    let name = format!("{}/team/app", reg.addr);
    let pull = |auth: Option<&str>| {
        let header = auth
            .map(|a| format!("X-Registry-Auth: {a}\r\n"))
            .unwrap_or_default();
        fd.raw(&format!(
            "POST /v1.47/images/create?fromImage={name}&tag=0 HTTP/1.1\r\nHost: docker\r\n{header}Content-Length: 0\r\nConnection: close\r\n\r\n"
        ))
    };
    let (status, _, body) = pull(None);
    assert!(
        status >= 400 || body.contains("errorDetail"),
        "{status} {body}"
    );
    let auth = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"username":"alice","password":"wonderland","serveraddress":"x"}"#);
    let (status, _, body) = pull(Some(&auth));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Downloaded newer image"), "{body}");
    let (status, _, _) = pull(Some("%%%not base64"));
    assert_eq!(status, 400);
    // docker build sends the client's logins as X-Registry-Config: a daemon
    // with no login of its own builds FROM the private image.
    let ctx = b.path("private-ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {name}:0\nRUN true\n"))
        .expect("Dockerfile");
    for client in &clients {
        let r = Command::new(client)
            .args([
                "build",
                "-q",
                "-t",
                "from-private",
                ctx.to_str().expect("utf-8"),
            ])
            .env("DOCKER_HOST", fd.host())
            .env("DOCKER_CONFIG", b.path("docker-cli-config"))
            .output()
            .expect("docker build");
        assert!(
            r.status.success(),
            "{}: {}",
            client.display(),
            String::from_utf8_lossy(&r.stderr)
        );
        fresh.ok(&["rmi", &format!("{name}:0")]);
    }
    // Without the client's logins, the same build is refused.
    if let Some(client) = clients.first() {
        let r = Command::new(client)
            .args(["build", "-q", ctx.to_str().expect("utf-8")])
            .env("DOCKER_HOST", fd.host())
            .env("DOCKER_CONFIG", fresh.path("no-logins"))
            .output()
            .expect("docker build");
        assert!(!r.status.success());
    }
}

#[test]
fn docker_exec_runs_in_the_container_with_and_without_a_terminal() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("script") {
        return;
    }
    let clients = clients();
    let d = Daemon::start(&b);
    for client in &clients {
        d.docker_ok(
            &b,
            client,
            &["run", "-d", "--name", "box", "busybox", "sleep", "300"],
        );
        let r = d.docker(
            &b,
            client,
            &["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 5"],
        );
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (5, "out\n", "err\n")
        );
        let out = d.docker_stdin(
            &b,
            client,
            &["exec", "-i", "box", "sh", "-c", "read x; echo got $x"],
            b"piped\n",
        );
        assert_eq!(out, "got piped\n");
        assert_in_terminal(
            &d,
            &b,
            client,
            "exec -it box sh -c 'tty; stty size; exit 6'",
            6,
        );
        // docker's 127 and 126, with the reason.
        let r = d.docker(&b, client, &["exec", "box", "nosuchcmd"]);
        assert_eq!(r.code, 127, "{}", r.stderr);
        assert!(
            r.stderr.contains("executable file not found in $PATH"),
            "{}",
            r.stderr
        );
        let r = d.docker(&b, client, &["exec", "box", "/etc/passwd"]);
        assert_eq!(r.code, 126, "{}", r.stderr);
        d.docker_ok(
            &b,
            client,
            &["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"],
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.docker(&b, client, &["exec", "box", "cat", "/tmp/d"]).code != 0 {
            assert!(Instant::now() < deadline, "the detached exec never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        d.docker_ok(&b, client, &["stop", "-t", "1", "box"]);
        let r = d.docker(&b, client, &["exec", "box", "true"]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("is not running"), "{}", r.stderr);
        d.docker_ok(&b, client, &["rm", "box"]);
    }
}

#[test]
fn docker_py_drives_the_api() {
    let Some(b) = setup() else { return };
    let have = Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success());
    if !require(have, "docker-py (pip install docker)") {
        return;
    }
    let d = Daemon::start(&b);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/daemon/docker_py.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(d.host())
        .env_remove("DOCKER_HOST")
        .output()
        .expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// docker-compose on project `project` in `dir`, against the daemon.
pub(crate) fn compose(d: &Daemon, b: &Berth, dir: &Path, project: &str, args: &[&str]) -> Run {
    Command::new("docker-compose")
        .args(["-p", project])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", b.path("docker-cli-config"))
        .stdin(Stdio::null())
        .output()
        .expect("docker-compose")
        .into()
}

#[test]
fn docker_compose_brings_a_project_up_and_down() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("docker-compose") {
        return;
    }
    let d = Daemon::start(&b);
    let dir = b.path("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        r#"version: "3.8"
services:
  web:
    image: busybox
    network_mode: host
    command: ["sh", "-c", "echo web up; sleep 300"]
    labels:
      tier: front
  job:
    image: busybox
    network_mode: none
    command: ["sh", "-c", "echo job ran as $$ROLE"]
    environment:
      ROLE: worker
"#,
    )
    .unwrap();
    let compose = |args: &[&str]| compose(&d, &b, &dir, "demo", args);
    let r = compose(&["up", "-d"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let ps = b.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("demo_web_1 Up"), "{ps}");
    let label = b.ok(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"tier\"}} {{index .Config.Labels \"com.docker.compose.project\"}}",
        "demo_web_1",
    ]);
    assert_eq!(label.trim(), "front demo");
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let r = compose(&["logs", "--no-color"]);
        if r.stdout.contains("job ran as worker") && r.stdout.contains("web up")
            || Instant::now() > deadline
        {
            break r.stdout;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        logs.contains("job ran as worker") && logs.contains("web up"),
        "{logs}"
    );
    let r = compose(&["ps"]);
    assert!(
        r.stdout.contains("demo_job_1") && r.stdout.contains("Exit 0"),
        "{}",
        r.stdout
    );
    let r = compose(&["down", "-t", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn docker_cp_copies_both_ways_inside_the_container_root() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    for (i, client) in clients.iter().enumerate() {
        let name = format!("cpbox{i}");
        d.docker_ok(
            &b,
            client,
            &["run", "-d", "--name", &name, "busybox", "sleep", "300"],
        );
        let host = b.path(&format!("host{i}"));
        std::fs::create_dir_all(host.join("tree/sub")).unwrap();
        std::fs::write(host.join("file.txt"), "from the host\n").unwrap();
        std::fs::write(host.join("tree/sub/deep.txt"), "deep\n").unwrap();
        let file = host.join("file.txt");
        d.docker_ok(
            &b,
            client,
            &["cp", file.to_str().unwrap(), &format!("{name}:/tmp/")],
        );
        d.docker_ok(
            &b,
            client,
            &[
                "cp",
                host.join("tree").to_str().unwrap(),
                &format!("{name}:/tmp/tree"),
            ],
        );
        let out = b.ok(&[
            "exec",
            &name,
            "cat",
            "/tmp/file.txt",
            "/tmp/tree/sub/deep.txt",
        ]);
        assert_eq!(out, "from the host\ndeep\n");
        let owner = b.ok(&["exec", &name, "ls", "-n", "/tmp/file.txt"]);
        let cols: Vec<&str> = owner.split_whitespace().collect();
        assert_eq!((cols[2], cols[3]), ("0", "0"), "{owner}");
        b.ok(&[
            "exec",
            &name,
            "sh",
            "-c",
            "mkdir -p /out/d && echo made > /out/d/f && ln -s f /out/d/l",
        ]);
        let back = b.path(&format!("back{i}"));
        d.docker_ok(
            &b,
            client,
            &["cp", &format!("{name}:/out/d"), back.to_str().unwrap()],
        );
        assert_eq!(std::fs::read_to_string(back.join("f")).unwrap(), "made\n");
        assert_eq!(std::fs::read_link(back.join("l")).unwrap(), Path::new("f"));
        let one = b.path(&format!("one{i}.txt"));
        d.docker_ok(
            &b,
            client,
            &["cp", &format!("{name}:/out/d/f"), one.to_str().unwrap()],
        );
        assert_eq!(std::fs::read_to_string(&one).unwrap(), "made\n");
        let r = d.docker(
            &b,
            client,
            &["cp", &format!("{name}:/nosuch"), back.to_str().unwrap()],
        );
        assert_eq!(r.code, 1);
        // docker 28 shows the daemon's words; 20.10 its own for a 404.
        assert!(
            r.stderr.contains("Could not find the file /nosuch")
                || r.stderr
                    .contains(&format!("No such container:path: {name}:/nosuch")),
            "{}",
            r.stderr
        );
        d.docker_ok(&b, client, &["rm", "-f", &name]);
    }
    // A hostile archive cannot write outside the directory it is put into.
    b.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "300"]);
    let mut tar = Vec::new();
    {
        let mut h = tar::Header::new_old();
        let name = b"../../../../escaped";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(4);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(b"evil");
        tar.resize(tar.len() + 508 + 1024, 0);
    }
    let mut req = format!(
        "PUT /containers/target/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        tar.len()
    )
    .into_bytes();
    req.extend_from_slice(&tar);
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.write_all(&req).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(answer.contains("\"message\""), "{answer}");
    let found = b.run(&["exec", "target", "ls", "/escaped"]);
    assert_ne!(found.code, 0, "nothing lands outside the target directory");
    assert!(!Path::new("/escaped").exists());
}

#[test]
fn docker_build_uses_berths_builder_and_cache() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG WHO=nobody\nRUN echo built by $WHO > /who\nCOPY note.txt /note.txt\nCMD [\"cat\", \"/who\", \"/note.txt\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("note.txt"), "a note\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "secret\n").unwrap();
    std::fs::write(ctx.join("secret"), "never sent\n").unwrap();
    for (i, client) in clients.iter().enumerate() {
        let tag = format!("built:{i}");
        let build = || {
            d.docker_ok(
                &b,
                client,
                &[
                    "build",
                    "--build-arg",
                    "WHO=docker",
                    "-t",
                    &tag,
                    ctx.to_str().unwrap(),
                ],
            )
        };
        let out = build();
        assert!(out.contains("Step 1/5 : FROM busybox"), "{out}");
        assert!(
            out.contains("Step 3/5 : RUN echo built by $WHO > /who"),
            "{out}"
        );
        assert!(out.contains("Successfully built "), "{out}");
        assert!(out.contains(&format!("Successfully tagged {tag}")), "{out}");
        let ran = d.docker_ok(&b, client, &["run", "--rm", &tag]);
        assert_eq!(ran, "built by docker\na note\n");
        let again = build();
        assert!(again.contains("Using cache"), "{again}");
        let id = d.docker_ok(
            &b,
            client,
            &[
                "build",
                "-q",
                "--build-arg",
                "WHO=docker",
                ctx.to_str().unwrap(),
            ],
        );
        let want = b.ok(&["image", "inspect", "--format", "{{.Id}}", &tag]);
        assert_eq!(id.trim(), want.trim(), "a cached rebuild is the same image");
        // The berth CLI builds the same image from the same cache.
        let ours = b.ok(&[
            "build",
            "-q",
            "--build-arg",
            "WHO=docker",
            ctx.to_str().unwrap(),
        ]);
        assert_eq!(ours.trim(), want.trim());
        let r = d.docker(&b, client, &["run", "--rm", &tag, "cat", "/secret"]);
        assert_ne!(r.code, 0, ".dockerignore kept it out");
    }
    // The context is unpacked in memory while the build runs, and nothing
    // of it is left after.
    let pid = d.child.id();
    let scratch_of = |pid: u32| -> Vec<PathBuf> {
        let prefix = format!("berth-scratch-{pid}-");
        [PathBuf::from("/dev/shm"), std::env::temp_dir()]
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    };
    if let Some(client) = clients.first() {
        let slow = b.path("slow-ctx");
        std::fs::create_dir_all(&slow).unwrap();
        std::fs::write(slow.join("Dockerfile"), "FROM busybox\nRUN sleep 1\n").unwrap();
        let mut build = Command::new(client)
            .args(["build", "-q", "--no-cache", slow.to_str().unwrap()])
            .env("DOCKER_HOST", d.host())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker build");
        let mut seen = Vec::new();
        while build.try_wait().expect("wait").is_none() {
            seen.extend(scratch_of(pid));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            seen.iter().any(|p| p.starts_with("/dev/shm")),
            "the context was unpacked in memory: {seen:?}"
        );
    }
    assert_eq!(scratch_of(pid), Vec::<PathBuf>::new());
    // A daemon killed mid-build leaves its scratch; the next one sweeps it,
    // and leaves a live daemon's alone.
    let mut gone = Command::new("true").spawn().expect("true");
    gone.wait().expect("wait");
    let stale = PathBuf::from(format!("/dev/shm/berth-scratch-{}-build-test", gone.id()));
    let live = PathBuf::from(format!(
        "/dev/shm/berth-scratch-{}-build-test",
        std::process::id()
    ));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    drop(d);
    let d = Daemon::start(&b);
    assert!(!stale.exists(), "swept");
    assert!(live.exists(), "another daemon's is kept");
    std::fs::remove_dir(&live).unwrap();
    // A failing step: docker's exit 1 and the step's words.
    let bad = b.path("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("Dockerfile"), "FROM busybox\nRUN exit 7\n").unwrap();
    for client in &clients {
        let r = d.docker(&b, client, &["build", bad.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains("exit code: 7"), "{all}");
    }
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "", "no step container is left");
}

#[test]
fn volumes_are_shared_by_docker_and_berth_and_outlive_containers() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    for (i, client) in clients.iter().enumerate() {
        let vol = format!("data{i}");
        assert_eq!(
            d.docker_ok(&b, client, &["volume", "create", &vol]).trim(),
            vol
        );
        let ls = d.docker_ok(
            &b,
            client,
            &["volume", "ls", "--format", "{{.Driver}} {{.Name}}"],
        );
        assert!(ls.lines().any(|l| l == format!("local {vol}")), "{ls}");
        let mount = format!("{vol}:/data");
        d.docker_ok(
            &b,
            client,
            &[
                "run",
                "--name",
                &format!("writer{i}"),
                "-v",
                &mount,
                "busybox",
                "sh",
                "-c",
                "echo kept > /data/f",
            ],
        );
        // Another container, made by berth, reads what docker's wrote.
        let out = b.ok(&["run", "--rm", "-v", &mount, "busybox", "cat", "/data/f"]);
        assert_eq!(out, "kept\n");
        let r = d.docker(&b, client, &["volume", "rm", &vol]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("volume is in use"), "{}", r.stderr);
        d.docker_ok(&b, client, &["rm", &format!("writer{i}")]);
        let path = d.docker_ok(
            &b,
            client,
            &["volume", "inspect", "--format", "{{.Mountpoint}}", &vol],
        );
        assert!(Path::new(path.trim()).join("f").is_file(), "{path}");
        d.docker_ok(&b, client, &["volume", "rm", &vol]);
        let r = d.docker(&b, client, &["volume", "inspect", &vol]);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.to_lowercase().contains("no such volume"),
            "{}",
            r.stderr
        );
    }
    // An empty named volume gets the image's files at its path (copy-up):
    // even /bin, whose busybox then runs; an empty host directory does not.
    let ran = b.ok(&[
        "run",
        "--rm",
        "-v",
        "tools:/bin",
        "busybox",
        "echo",
        "copied",
    ]);
    assert_eq!(ran, "copied\n");
    let data = b.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "tools"]);
    assert!(Path::new(data.trim()).join("busybox").is_file(), "{data}");
    let host = b.path("empty-host-dir");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/bin", host.display());
    let r = b.run(&["run", "--rm", "-v", &bind, "busybox", "echo", "x"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 0);
    b.ok(&["volume", "rm", "tools"]);
    // The berth CLI's own volume commands.
    assert_eq!(b.ok(&["volume", "create", "mine"]).trim(), "mine");
    assert_eq!(b.ok(&["volume", "ls", "-q"]).trim(), "mine");
    let table = b.ok(&["volume", "ls"]);
    assert!(
        table.starts_with("DRIVER    VOLUME NAME\nlocal     mine\n"),
        "{table:?}"
    );
    let pruned = b.ok(&["volume", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Volumes:\nmine\n"), "{pruned}");
    assert_eq!(b.ok(&["volume", "ls", "-q"]).trim(), "");
    let r = b.run(&["volume", "rm", "nosuch"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.trim(), "Error: get nosuch: no such volume");
}

/// A busybox rootfs tarball in the test's directory.
pub(crate) fn archive_of_rootfs(b: &Berth) -> PathBuf {
    let path = b.path("rootfs-import.tar");
    if !path.exists() {
        std::fs::write(&path, crate::fixtures::busybox_rootfs()).unwrap();
    }
    path
}

#[test]
fn docker_hub_names_come_from_the_mirror_the_config_file_names() {
    let Some((_source, reg, _)) = busybox_in_a_registry("library/busybox:latest") else {
        return;
    };
    let clients = clients();
    // A fresh store; the daemon's addresses and the mirror from one
    // daemon.json-style file.
    let b = Berth::new();
    let socket = b.path("from-config.sock");
    let settings = serde_json::json!({
        "hosts": [format!("unix://{}", socket.display())],
        "registry-mirrors": [format!("http://{}", reg.addr)],
    });
    let config = b.file("daemon.json", settings.to_string().as_bytes());
    let child = b
        .cmd(&["daemon", "--config-file", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth daemon");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not listen where its config said"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = Daemon { child, socket };
    for client in &clients {
        let out = d.docker_ok(&b, client, &["pull", "busybox"]);
        assert!(out.contains("busybox:latest"), "{out}");
        let ran = d.docker_ok(&b, client, &["run", "--rm", "busybox", "echo", "offline"]);
        assert_eq!(ran, "offline\n");
        d.docker_ok(&b, client, &["rmi", "busybox"]);
    }
}

#[test]
fn events_show_what_docker_and_berth_did() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    for (i, client) in clients.iter().enumerate() {
        let since = now().to_string();
        let name = format!("evt{i}");
        let r = d.docker(
            &b,
            client,
            &["run", "--name", &name, "busybox", "sh", "-c", "exit 3"],
        );
        assert_eq!(r.code, 3, "{}", r.stderr);
        b.ok(&["rm", &name]);
        d.docker_ok(&b, client, &["volume", "create", &format!("vol{i}")]);
        let until = (now() + 1).to_string();
        let out = d.docker_ok(
            &b,
            client,
            &[
                "events",
                "--since",
                &since,
                "--until",
                &until,
                "--format",
                "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
            ],
        );
        // Go templates print `<no value>` for an attribute an event lacks.
        let out = out.replace(" <no value>", "");
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(
            lines,
            vec![
                format!("container create {name}").as_str(),
                format!("container start {name}").as_str(),
                format!("container die {name} 3").as_str(),
                // berth's own `rm` shows too: one journal for every process.
                format!("container destroy {name}").as_str(),
                "volume create",
            ],
            "{out}"
        );
        let filtered = d.docker_ok(
            &b,
            client,
            &[
                "events",
                "--since",
                &since,
                "--until",
                &until,
                "--filter",
                "event=die",
                "--format",
                "{{.Actor.Attributes.name}}",
            ],
        );
        assert_eq!(filtered.trim(), name);
    }
    // Without --since, only what happens from now on, streamed as it happens.
    let client = clients.first().cloned();
    if let Some(client) = client {
        let mut follower = Command::new(&client)
            .args([
                "events",
                "--format",
                "{{.Action}} {{.Actor.Attributes.name}}",
            ])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", b.path("docker-cli-config"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker events");
        std::thread::sleep(Duration::from_millis(500));
        b.ok(&["create", "--name", "later", "busybox", "true"]);
        let mut stdout = follower.stdout.take().expect("stdout");
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.last() != Some(&b'\n') && stdout.read(&mut byte).unwrap_or(0) == 1 {
            line.push(byte[0]);
        }
        let _ = follower.kill();
        let _ = follower.wait();
        assert_eq!(String::from_utf8_lossy(&line), "create later\n");
    }
}

#[test]
fn docker_stats_reads_the_containers_cgroups() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    for client in &clients {
        let out = d.docker_ok(
            &b,
            client,
            &[
                "stats",
                "--no-stream",
                "--format",
                "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}",
                "busy",
            ],
        );
        crate::containers::assert_busy_stats(&out, "busy", "64MiB");
    }
    // update: new limits, live and kept.
    for (i, client) in clients.iter().enumerate() {
        let mem = format!("{}m", 32 + i);
        d.docker_ok(
            &b,
            client,
            &[
                "update",
                "--memory",
                &mem,
                "--memory-swap",
                "-1",
                "--pids-limit",
                "20",
                "busy",
            ],
        );
        let out = d.docker_ok(
            &b,
            client,
            &["stats", "--no-stream", "--format", "{{.MemUsage}}", "busy"],
        );
        assert!(out.trim().ends_with(&format!("/ {}MiB", 32 + i)), "{out}");
        let kept = b.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "busy",
        ]);
        assert_eq!(kept.trim(), format!("{} 20", (32 + i) << 20));
    }
    // --ulimit travels as HostConfig.Ulimits.
    for client in &clients {
        let mut args = vec!["run"];
        args.extend_from_slice(crate::containers::ULIMITED_RUN);
        let out = d.docker_ok(&b, client, &args);
        assert_eq!(out, "512\n1024\n", "{}", client.display());
        // …and --shm-size, --oom-score-adj, --sysctl as ShmSize,
        // OomScoreAdj, Sysctls.
        let mut args = vec!["run"];
        args.extend_from_slice(crate::containers::TUNED_RUN);
        crate::containers::assert_tuned(&d.docker_ok(&b, client, &args));
        // --cpu-shares and --cpuset-cpus as CpuShares and CpusetCpus.
        let mut args = vec!["run"];
        args.extend_from_slice(crate::containers::CPU_PINNED_RUN);
        let id = d.docker_ok(&b, client, &args);
        assert_eq!(
            crate::containers::cpu_settings(id.trim()),
            ("512".into(), "0".into())
        );
        d.docker_ok(&b, client, &["rm", "-f", id.trim()]);
    }
    // What berth cannot apply is refused by name, not ignored.
    for client in &clients {
        for (flag, value) in [("--cpu-shares", "512"), ("--blkio-weight", "500")] {
            let r = d.docker(&b, client, &["update", flag, value, "busy"]);
            assert_eq!(r.code, 1, "{}", r.stderr);
            let said = format!("{flag} is not supported");
            assert!(r.stderr.contains(&said), "{}", r.stderr);
        }
    }
    // A restart policy is kept (its monitor reads it at the next exit).
    for client in &clients {
        d.docker_ok(&b, client, &["update", "--restart", "on-failure:3", "busy"]);
        let policy = b.ok(&[
            "inspect",
            "-f",
            "{{json .HostConfig.RestartPolicy}}",
            "busy",
        ]);
        assert_eq!(
            policy.trim(),
            r#"{"MaximumRetryCount":3,"Name":"on-failure"}"#
        );
    }
    let r = b.run(&["inspect", "busy"]);
    assert_eq!(r.code, 0);
    b.ok(&["rm", "-f", "busy"]);
    // BLOCK I/O comes from blkio (v1) or io.stat (v2), in docker's shape.
    // (This host's v1 blk-throttle counts only groups with limits, and its
    // cgroup2 has no io controller, so the figures here are zeros, as
    // dockerd's are; the parsing of both files is unit-tested in runtime.)
    b.ok(&[
        "run",
        "-d",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/f bs=1M count=8 conv=fsync 2>/dev/null; sleep 300",
    ]);
    for client in &clients {
        let out = d.docker_ok(
            &b,
            client,
            &["stats", "--no-stream", "--format", "{{.BlockIO}}", "writer"],
        );
        let (read, written) = out.trim().split_once(" / ").expect("READ / WRITTEN");
        assert!(read.ends_with('B') && written.ends_with('B'), "{out}");
    }
    let (status, _, body) =
        d.raw("GET /containers/writer/stats?stream=0&one-shot=1 HTTP/1.0\r\nHost: docker\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        v["blkio_stats"]["io_service_bytes_recursive"].is_array(),
        "{body}"
    );
    b.ok(&["rm", "-f", "writer"]);
}

#[test]
fn an_images_volumes_get_anonymous_volumes_that_rm_v_removes() {
    let Some((b, clients, d)) = started() else {
        return;
    };
    let rootfs = archive_of_rootfs(&b);
    b.ok(&[
        "import",
        "-c",
        "VOLUME /data",
        rootfs.to_str().unwrap(),
        "withvol",
    ]);
    for client in &clients {
        d.docker_ok(
            &b,
            client,
            &[
                "run",
                "-d",
                "--name",
                "av",
                "withvol",
                "sh",
                "-c",
                "echo kept > /data/f; sleep 300",
            ],
        );
        let vols = d.docker_ok(&b, client, &["volume", "ls", "-q"]);
        assert_eq!(vols.lines().count(), 1, "{vols}");
        let mounts = d.docker_ok(
            &b,
            client,
            &[
                "inspect",
                "--format",
                "{{range .Mounts}}{{.Destination}} {{end}}",
                "av",
            ],
        );
        assert!(mounts.contains("/data"), "{mounts}");
        // Without -v the volume outlives the container; with -v it goes.
        d.docker_ok(&b, client, &["rm", "-f", "av"]);
        assert_eq!(
            d.docker_ok(&b, client, &["volume", "ls", "-q"])
                .lines()
                .count(),
            1
        );
        d.docker_ok(&b, client, &["volume", "prune", "-f"]);
        d.docker_ok(
            &b,
            client,
            &["run", "-d", "--name", "av", "withvol", "sleep", "300"],
        );
        d.docker_ok(&b, client, &["rm", "-f", "-v", "av"]);
        assert_eq!(d.docker_ok(&b, client, &["volume", "ls", "-q"]).trim(), "");
        // --rm takes its anonymous volumes along.
        d.docker_ok(
            &b,
            client,
            &["run", "--rm", "withvol", "sh", "-c", "echo x > /data/f"],
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d
            .docker_ok(&b, client, &["volume", "ls", "-q"])
            .trim()
            .is_empty()
        {
            assert!(
                Instant::now() < deadline,
                "the --rm container's volume stayed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The berth CLI's rm -v too.
    b.ok(&["run", "-d", "--name", "bv", "withvol", "sleep", "300"]);
    b.ok(&["rm", "-f", "-v", "bv"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]).trim(), "");
}
