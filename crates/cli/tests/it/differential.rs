//! The same docker commands against berth's daemon and against Debian's
//! dockerd 20.10 (its own data-root, exec-root and socket,
//! `--bridge=none --iptables=false`, as the benchmarks run it), driven by the
//! same docker CLI: where scripts read the answers (table headers, template
//! fields, inspect's keys, errors and exit codes) they must be the same.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::containers::setup;
use crate::daemon::{Daemon, archive_of_rootfs, clients, docker_cli};
use crate::{Run, require_tool};

/// Debian's dockerd on sockets and directories of its own, stopped by its
/// pid (SIGTERM, so that it stops its containerd too).
pub(crate) struct Dockerd {
    child: Child,
    pub(crate) socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// dockerd in `b`'s network namespace, when it has one (nsenter execs
    /// it, so the child's pid is dockerd's).
    pub(crate) fn start(b: &crate::Berth) -> Dockerd {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("docker.sock");
        // Not the host's /etc/docker/daemon.json: its settings are not ours.
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, "{}").expect("daemon.json");
        let child = b
            .in_netns("dockerd")
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dockerd");
        let d = Dockerd { child, socket, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.answers() {
            assert!(Instant::now() < deadline, "dockerd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// Where it keeps its images and containers (answers name it).
    pub(crate) fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn answers(&self) -> bool {
        Command::new("curl")
            .args(["-sf", "--unix-socket"])
            .arg(&self.socket)
            .arg("http://d/_ping")
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = rustix::mount::unmount(
            self.dir.path().join("data/overlay2"),
            rustix::mount::UnmountFlags::DETACH,
        );
    }
}

/// One docker CLI, pointed at either daemon.
struct Both {
    client: PathBuf,
    config: PathBuf,
    berth: String,
    dockerd: String,
}

/// berth's daemon and dockerd side by side, and the first docker CLI; `None`
/// (a skip, a failure under CI) without dockerd, curl or a CLI.
fn both_daemons(b: &crate::Berth) -> Option<(Both, Daemon, Dockerd)> {
    if !require_tool("dockerd") || !require_tool("curl") {
        return None;
    }
    let client = clients().into_iter().next()?;
    let ours = Daemon::start(b);
    let theirs = Dockerd::start(b);
    let both = Both {
        client,
        config: b.path("docker-cli-config"),
        berth: ours.host(),
        dockerd: format!("unix://{}", theirs.socket.display()),
    };
    Some((both, ours, theirs))
}

impl Both {
    fn on(&self, host: &str, args: &[&str]) -> Run {
        docker_cli(&self.client, host, &self.config, args)
            // dockerd 20.10's version, so that both answer the same API.
            .env("DOCKER_API_VERSION", "1.41")
            .output()
            .expect("docker CLI")
            .into()
    }

    /// The command against both: (berth's answer, dockerd's).
    fn run(&self, args: &[&str]) -> (Run, Run) {
        (self.on(&self.berth, args), self.on(&self.dockerd, args))
    }

    /// Both succeed; their outputs.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let (b, d) = self.run(args);
        assert_eq!(b.code, 0, "berth: {args:?}: {}{}", b.stdout, b.stderr);
        assert_eq!(d.code, 0, "dockerd: {args:?}: {}{}", d.stdout, d.stderr);
        (b.stdout, d.stdout)
    }

    /// Both print the same (after `normal`).
    fn same(&self, args: &[&str]) {
        let (b, d) = self.ok(args);
        assert_eq!(normal(&b), normal(&d), "{args:?}");
    }

    /// A table's header is the same.
    fn same_header(&self, args: &[&str]) {
        let (b, d) = self.ok(args);
        let head = |t: &str| {
            t.lines()
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(head(&b), head(&d), "{args:?}\nberth:\n{b}\ndockerd:\n{d}");
    }

    /// Both fail the same way: the exit code, and dockerd's message ends
    /// with berth's (dockerd 20.10 sometimes wraps one error in another:
    /// "no such image: x: No such image: x:latest").
    fn same_failure(&self, args: &[&str]) {
        let (b, d) = self.run(args);
        assert_ne!(d.code, 0, "dockerd: {args:?}");
        assert_eq!(b.code, d.code, "{args:?}: {}\n{}", b.stderr, d.stderr);
        let prefix = "Error response from daemon: ";
        let ours = normal(b.stderr.trim());
        let ours = ours.strip_prefix(prefix).unwrap_or(&ours);
        assert!(
            !ours.is_empty() && normal(d.stderr.trim()).ends_with(ours),
            "{args:?}\nberth:   {}\ndockerd: {}",
            b.stderr,
            d.stderr
        );
    }

    /// `inspect`'s object for `name` on both.
    fn inspect(&self, args: &[&str]) -> (Value, Value) {
        let (b, d) = self.ok(args);
        let first = |t: &str| -> Value {
            serde_json::from_str::<Value>(t).expect("inspect's JSON")[0].take()
        };
        (first(&b), first(&d))
    }
}

/// IDs and digests masked, so that answers of two stores compare.
fn normal(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| !c.is_ascii_alphanumeric() && c != ':') {
        let (body, tail) = word.split_at(
            word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != ':')
                .len(),
        );
        let hex = body.trim_start_matches("sha256:");
        if hex.len() >= 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str("<id>");
        } else {
            out.push_str(body);
        }
        out.push_str(tail);
    }
    out
}

/// The keys of a JSON object.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every key dockerd's object has, berth's has too.
fn has_dockers_keys(what: &str, berth: &Value, dockerd: &Value) {
    let missing: Vec<String> = keys(dockerd).difference(&keys(berth)).cloned().collect();
    assert!(missing.is_empty(), "{what}: berth lacks {missing:?}");
}

#[test]
fn the_docker_cli_reads_the_same_shapes_from_berth_and_dockerd() {
    let Some(b) = setup() else { return };
    let Some((both, _ours, _theirs)) = both_daemons(&b) else {
        return;
    };
    let rootfs = archive_of_rootfs(&b);
    let rootfs = rootfs.to_str().expect("utf-8");
    both.ok(&["import", "-m", "the rootfs", rootfs, "diff/bb:1"]);
    let (_, _) = both.ok(&["tag", "diff/bb:1", "diff/bb:2"]);

    // System.
    both.same(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    both.same(&[
        "info",
        "--format",
        "{{.OSType}} {{.Architecture}} {{.LoggingDriver}}",
    ]);
    // Images.
    both.same_header(&["images"]);
    both.same_header(&["history", "diff/bb:1"]);
    both.same(&[
        "history",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "diff/bb:1",
    ]);
    let (bi, di) = both.inspect(&["image", "inspect", "diff/bb:1"]);
    has_dockers_keys("image inspect", &bi, &di);
    has_dockers_keys("image inspect .Config", &bi["Config"], &di["Config"]);
    has_dockers_keys("image inspect .RootFS", &bi["RootFS"], &di["RootFS"]);
    both.same(&[
        "image",
        "inspect",
        "--format",
        "{{.Comment}} {{.Os}} {{len .RootFS.Layers}}",
        "diff/bb:1",
    ]);
    both.same(&["rmi", "diff/bb:2"]);
    both.same(&["images", "--format", "{{.Repository}}:{{.Tag}}", "diff/bb"]);
    both.same_failure(&["image", "inspect", "nosuch"]);
    both.same_failure(&["rmi", "nosuch:1"]);
    // Containers.
    both.ok(&["create", "--name", "made", "diff/bb:1", "true"]);
    both.same_header(&["ps", "-a"]);
    both.same(&[
        "ps",
        "-a",
        "--format",
        "{{.Image}} {{.Command}} {{.Status}} {{.Names}}",
    ]);
    let (bc, dc) = both.inspect(&["container", "inspect", "made"]);
    has_dockers_keys("container inspect", &bc, &dc);
    has_dockers_keys("container inspect .State", &bc["State"], &dc["State"]);
    has_dockers_keys("container inspect .Config", &bc["Config"], &dc["Config"]);
    both.same(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.Path}} {{json .Args}}",
        "made",
    ]);
    both.same_failure(&["container", "inspect", "nosuch"]);
    both.same_failure(&["rm", "nosuch"]);
    both.same_failure(&["start", "nosuch"]);
    let (rb, rd) = both.run(&[
        "run",
        "--network",
        "none",
        "diff/bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2; mkdir /made; exit 3",
    ]);
    assert_eq!((rb.code, rb.stdout.as_str()), (rd.code, rd.stdout.as_str()));
    let (rb, rd) = both.run(&["run", "--rm", "--network", "none", "diff/bb:1", "/nope"]);
    assert_eq!(
        rb.code, rd.code,
        "a missing command: {}\n{}",
        rb.stderr, rd.stderr
    );
    let last = |host: &str| both.on(host, &["ps", "-lq"]).stdout.trim().to_string();
    let (lb, ld) = (last(&both.berth), last(&both.dockerd));
    let logs = |host: &str, id: &str| {
        let r = both.on(host, &["logs", id]);
        (r.stdout, r.stderr)
    };
    assert_eq!(logs(&both.berth, &lb), logs(&both.dockerd, &ld));
    let diff = |host: &str, id: &str| {
        let mut lines: Vec<String> = both
            .on(host, &["diff", id])
            .stdout
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(diff(&both.berth, &lb), diff(&both.dockerd, &ld));
    let commit = |host: &str, id: &str| {
        let r = both.on(
            host,
            &[
                "commit",
                "-a",
                "me",
                "-m",
                "a change",
                "-c",
                "CMD [\"sh\"]",
                id,
                "diff/committed:1",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    commit(&both.berth, &lb);
    commit(&both.dockerd, &ld);
    both.same(&[
        "inspect",
        "--format",
        "{{.Comment}}|{{.Author}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}",
        "diff/committed:1",
    ]);
    both.same(&["history", "--format", "{{.Comment}}", "diff/committed:1"]);
    // Volumes and the disk.
    both.ok(&["volume", "create", "diffvol"]);
    both.same_header(&["volume", "ls"]);
    both.same(&[
        "volume",
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
        "diffvol",
    ]);
    both.same_failure(&["volume", "inspect", "nosuch"]);
    both.same_header(&["system", "df"]);
    both.same(&["system", "df", "--format", "{{.Type}}"]);
}

/// The breakout corpus against dockerd and berth's daemon through the same
/// docker CLI: berth's answer must be a failure for the corpus's reason;
/// dockerd's is reported beside it. docs/security.md holds the table this
/// test makes (`BERTH_UPDATE_DOCS=1` rewrites it; otherwise a difference
/// fails the test, so the page cannot drift).
#[test]
fn the_breakout_corpus_fails_on_berth_as_on_dockerd() {
    let Some(b) = setup() else { return };
    let Some((both, _ours, _theirs)) = both_daemons(&b) else {
        return;
    };
    let rootfs = archive_of_rootfs(&b);
    both.ok(&["import", rootfs.to_str().expect("utf-8"), "corpus/bb:1"]);
    let verdict = |r: &Run| {
        if r.code == 0 {
            return "**succeeds**".to_string();
        }
        let text = format!("{}{}", r.stdout, r.stderr);
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .replace('|', "\\|");
        format!("fails: `{line}`")
    };
    let mut table =
        String::from("| attempt | docker 20.10 (default profile) | berth |\n|---|---|---|\n");
    let mut wrong = Vec::new();
    for a in crate::breakout::CORPUS {
        let args = [
            "run",
            "--rm",
            "--network",
            "none",
            "corpus/bb:1",
            "sh",
            "-c",
            a.script,
        ];
        let (rb, rd) = both.run(&args);
        let out = format!("{}{}", rb.stdout, rb.stderr);
        if rb.code == 0 || !a.shows.split('|').any(|s| out.contains(s)) {
            wrong.push(format!("{}: exit {}: {out}", a.name, rb.code));
        }
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            a.name,
            verdict(&rd),
            verdict(&rb)
        ));
    }
    assert!(wrong.is_empty(), "berth let through:\n{}", wrong.join("\n"));
    crate::generated_docs(
        "security.md",
        "corpus table",
        "differential::the_breakout_corpus_fails_on_berth_as_on_dockerd",
        &table,
    );
}
