//! berth's integration tests: the real binary on temporary roots, real overlayfs
//! mounts, real peers (podman, skopeo). One test binary, so it links once.
//!
//! Tests that need root, overlayfs or a peer skip when it is missing, except
//! under `CI=true`, where they fail.

mod archive;
mod breakout;
mod build;
mod concurrency;
mod conformance;
mod containers;
mod daemon;
mod differential;
mod fixtures;
mod hostile;
mod images;
mod interop;
mod lifecycle;
mod network;
mod registry;
mod registry_server;
mod resources;
mod review;
mod security;
mod test_ca;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether the prerequisite `what` holds; panics under CI when it does not.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true");
    }
    eprintln!("skipped: {what} is missing");
    false
}

/// Root is needed to mount, chown and make devices.
pub fn require_root() -> bool {
    require(rustix::process::geteuid().is_root(), "root")
}

/// A command on PATH.
pub fn require_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    require(found, tool)
}

/// A real HTTP server on loopback serving `dir` (python's, on a port the
/// kernel picks): the child to kill and the port.
pub fn serve_dir(dir: &Path) -> (std::process::Child, String) {
    let mut server = Command::new("python3")
        .args(["-c", "import http.server,socketserver,sys,os\nos.chdir(sys.argv[1])\ns=socketserver.TCPServer(('127.0.0.1',0),http.server.SimpleHTTPRequestHandler)\nprint(s.server_address[1],flush=True)\ns.serve_forever()"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut port,
    )
    .expect("the server's port");
    (server, port.trim().to_string())
}

/// The result of one berth run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A berth with its own root, runroot and scratch directory. On the
/// machine's network it runs as dockerd's `--bridge=none` (containers
/// without `--network` get no network), so it never makes a bridge there;
/// [`Berth::networked`] gives it a network namespace of its own instead,
/// where its bridges, veths and nftables table live and die with the test.
pub struct Berth {
    pub dir: tempfile::TempDir,
    pub driver: &'static str,
    netns: Option<PathBuf>,
}

/// A fresh network namespace bound at `path`, its loopback up.
fn new_netns(path: &Path) -> Option<PathBuf> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    std::fs::write(path, b"").ok()?;
    let ok = Command::new("unshare")
        .arg(format!("--net={}", path.display()))
        .args(["ip", "link", "set", "lo", "up"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "cannot make a network namespace for the test at {}",
        path.display()
    );
    Some(path.to_path_buf())
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Berth {
    pub fn new() -> Berth {
        Berth::with_driver("overlay")
    }

    pub fn with_driver(driver: &'static str) -> Berth {
        let dir = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .expect("temp dir");
        Berth {
            dir,
            driver,
            netns: None,
        }
    }

    /// A berth in a network namespace of its own (root only), with the
    /// default bridge: every berth command of the test runs in it, the
    /// "host" is that namespace.
    pub fn networked() -> Berth {
        let mut b = Berth::new();
        b.netns = new_netns(&b.dir.path().join("netns"));
        b
    }

    /// The namespace's file, when the test has one.
    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// `program` run in this berth's network namespace.
    pub fn in_netns(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a scratch file and returns its path.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).expect("write scratch file");
        p
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.in_netns(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("--storage-driver")
            .arg(self.driver)
            .args(args)
            .env_remove("BERTH_ROOT")
            .env_remove("BERTH_MAX_LAYER_SIZE")
            .env_remove("BERTH_MAX_IMAGE_SIZE")
            // Credentials and registry settings of this test only.
            .env("DOCKER_CONFIG", self.path("docker-config"))
            .env("BERTH_REGISTRIES_CONFIG", self.path("registries.json"));
        if self.netns.is_none() {
            c.env("BERTH_BRIDGE", "none");
        } else {
            c.env_remove("BERTH_BRIDGE");
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
            .into()
    }

    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait berth");
        let _ = writer.join();
        out.into()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "berth {args:?} failed:\n{}{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs and expects berth's own failure: exit 125 and one line on stderr.
    pub fn fail(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_failed(&r, args);
        r.stderr
    }

    /// Image IDs in the store.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ok(&["images", "-q", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Loads an archive given as bytes; returns stdout.
    pub fn load(&self, archive: &[u8]) -> String {
        let p = self.file("load.tar", archive);
        self.ok(&["load", "-i", p.to_str().expect("utf-8 path")])
    }

    /// After a failed command: the images are `ids`, `snapshots` snapshot
    /// directories are left, and no partial blob.
    pub fn assert_unchanged(&self, ids: &[String], snapshots: usize, what: &str) {
        assert_eq!(self.ids(), ids, "{what}: the store changed");
        assert_eq!(
            self.snapshot_dirs(),
            snapshots,
            "{what}: a snapshot was left behind"
        );
        let ingest = std::fs::read_dir(self.root().join("ingest"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(ingest, 0, "{what}: partial blobs left behind");
    }

    /// Snapshot directories of the driver (numeric names).
    pub fn snapshot_dirs(&self) -> usize {
        let dir = self.root().join("snapshots").join(self.driver);
        std::fs::read_dir(&dir)
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Containers first: their monitors hold mounts.
        if self.runroot().join("containers").exists() {
            let ids = self.run(&["ps", "-aq", "--no-trunc"]).stdout;
            for id in ids.lines() {
                let _ = self.run(&["rm", "-f", id]);
            }
        }
        // Never leave a mount behind a test, even a failed one.
        if let Ok(mounts) = std::fs::read_dir(self.runroot().join("mounts")) {
            for m in mounts.flatten() {
                let _ = rustix::mount::unmount(
                    m.path().join("merged"),
                    rustix::mount::UnmountFlags::DETACH,
                );
            }
        }
        // Last, the network namespace (its bridges and rules go with it).
        if let Some(ns) = &self.netns {
            let _ = rustix::mount::unmount(ns, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

pub fn assert_failed(r: &Run, what: impl std::fmt::Debug) {
    assert_eq!(
        r.code, 125,
        "{what:?} should fail with 125:\n{}{}",
        r.stdout, r.stderr
    );
    assert_eq!(
        r.stderr.lines().count(),
        1,
        "{what:?}: one line on stderr, got:\n{}",
        r.stderr
    );
    assert!(r.stderr.starts_with("Error: "), "{what:?}: {}", r.stderr);
}

/// Lists a directory tree as sorted relative paths.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
