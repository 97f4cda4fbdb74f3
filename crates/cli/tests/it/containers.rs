//! Containers: real ones, on overlayfs, run by the built-in runtime and by
//! Debian's runc, with their monitors, logs, terminals, limits, commits and copies.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{Tar, busybox_rootfs};
use crate::{Berth, assert_failed, require_root, require_tool};

/// A berth with the busybox image imported as `busybox`.
/// A berth with a busybox image (CMD sh), when root.
pub fn setup() -> Option<Berth> {
    if !require_root() {
        return None;
    }
    let b = Berth::new();
    let r = b.run_stdin(
        &["import", "-c", "CMD [\"sh\"]", "-", "busybox"],
        &busybox_rootfs(),
    );
    assert_eq!(r.code, 0, "import: {}", r.stderr);
    Some(b)
}

fn runc() -> Option<&'static str> {
    require_tool("runc").then_some("/usr/sbin/runc")
}

/// `run` with the runtime under test.
fn run_args<'a>(runtime: Option<&'a str>, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run"];
    if let Some(r) = runtime {
        v.extend(["--runtime", r]);
    }
    v.extend_from_slice(args);
    v
}

pub(crate) fn inspect(b: &Berth, name: &str, template: &str) -> String {
    b.ok(&["inspect", "--format", template, name])
        .trim()
        .to_string()
}

pub(crate) fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn exit_codes(runtime: Option<&str>) {
    let Some(b) = setup() else { return };
    let r = b.run(&run_args(
        runtime,
        &[
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    ));
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let r = b.run(&run_args(runtime, &["--rm", "busybox", "nosuchcmd"]));
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("nosuchcmd"), "{}", r.stderr);
    let r = b.run(&run_args(runtime, &["--rm", "busybox", "/etc/passwd"]));
    assert_eq!(r.code, 126, "{}", r.stderr);
    let r = b.run(&run_args(runtime, &["--pull", "never", "nosuchimage"]));
    assert_failed(&r, "run of a missing image");
    // A --rm container's layer is thrown away: mounted volatile (no syncs);
    // another's is not.
    let root_mount = ["busybox", "grep", " / / ", "/proc/self/mountinfo"];
    let rm: Vec<&str> = ["--rm"].iter().chain(&root_mount).copied().collect();
    let r = b.run(&run_args(runtime, &rm));
    assert!(r.stdout.contains("volatile"), "{r:?}");
    let r = b.run(&run_args(runtime, &root_mount));
    assert!(r.code == 0 && !r.stdout.contains("volatile"), "{r:?}");
    b.ok(&["container", "prune", "-f"]);
    // Every mount of such a layer is volatile (the kernel refuses a plain
    // mount after a volatile one): cp in and out of a created one, then its
    // start.
    let mut create = vec!["create", "--rm"];
    if let Some(r) = runtime {
        create.extend(["--runtime", r]);
    }
    create.extend(["busybox", "cat", "/copied"]);
    let id = b.ok(&create).trim().to_string();
    let copied = b.file("copied", b"in\n");
    let dest = format!("{id}:/copied");
    b.ok(&["cp", copied.to_str().unwrap(), &dest]);
    let back = b.path("back");
    b.ok(&["cp", &dest, back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), b"in\n");
    assert_eq!(b.ok(&["start", "-a", &id]), "in\n");
    // --rm left nothing behind, even after failed starts: no container, no mount.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(b.runroot().to_str().unwrap()), "{mounts}");
}

#[test]
fn exit_codes_builtin() {
    exit_codes(None);
}

#[test]
fn exit_codes_runc() {
    if let Some(r) = runc() {
        exit_codes(Some(r));
    }
}

fn lifecycle(runtime: Option<&str>) {
    let Some(b) = setup() else { return };
    let mut create = vec!["create", "--name", "web"];
    if let Some(r) = runtime {
        create.extend(["--runtime", r]);
    }
    create.extend([
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 7' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    let id = b.ok(&create).trim().to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(inspect(&b, "web", "{{.State.Status}}"), "created");
    assert!(
        b.ok(&["ps"]).lines().count() == 1,
        "ps shows running ones only"
    );
    assert!(b.ok(&["ps", "-a"]).contains("Created"));
    assert_eq!(b.ok(&["start", "web"]), "web\n");
    assert_eq!(inspect(&b, &id[..12], "{{.State.Running}}"), "true");
    let ps = b.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(
        ps.contains("Up ") && ps.contains(" web\n") && ps.contains(&id[..12]),
        "{ps}"
    );
    wait_for("the first log line", || b.ok(&["logs", "web"]) == "up\n");

    // The monitor, not this command, holds the container: it outlives us.
    let pid: i32 = inspect(&b, "web", "{{.State.Pid}}").parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    b.ok(&["pause", "web"]);
    assert_eq!(inspect(&b, "web", "{{.State.Status}}"), "paused");
    assert!(b.ok(&["ps"]).contains("(Paused)"));
    b.ok(&["unpause", "web"]);

    let top = b.ok(&["top", "web"]);
    assert!(top.starts_with("UID") && top.contains("sh -c"), "{top}");

    let r = b.run(&["rm", "web"]);
    assert_failed(&r, "rm of a running container");
    assert!(r.stderr.contains("stop the container"), "{}", r.stderr);

    assert_eq!(b.ok(&["stop", "web"]), "web\n");
    assert_eq!(inspect(&b, "web", "{{.State.Status}}"), "exited");
    assert_eq!(inspect(&b, "web", "{{.State.ExitCode}}"), "7");
    assert_eq!(b.ok(&["logs", "web"]), "up\nbye\n");
    assert!(
        b.ok(&["ps", "-a", "--filter", "exited=7"])
            .contains("Exited (7)")
    );
    assert_eq!(b.ok(&["ps", "-aq", "--filter", "status=running"]), "");

    b.ok(&["restart", "web"]);
    assert_eq!(inspect(&b, "web", "{{.State.Status}}"), "running");
    // The shell prints "up" once its trap is set; a TERM before that would
    // find the default action (the race behind a rare exit code 2 here).
    wait_for("the restarted shell's trap", || {
        b.ok(&["logs", "web"]) == "up\nbye\nup\n"
    });
    b.ok(&["kill", "-s", "TERM", "web"]);
    assert_eq!(b.ok(&["wait", "web"]), "7\n");
    let logs = b.ok(&["logs", "-t", "--tail", "1", "web"]);
    assert!(logs.ends_with(" bye\n") && logs.starts_with("20"), "{logs}");

    b.ok(&["rename", "web", "web2"]);
    b.ok(&["start", "web2"]);
    assert_eq!(b.ok(&["rm", "-f", "web2"]), "web2\n");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    let r = b.run(&["logs", "web2"]);
    assert_failed(&r, "logs of a removed container");
    assert!(r.stderr.contains("No such container: web2"));

    // A random docker-style name.
    let id = b.ok(&["create", "busybox", "true"]);
    let name = inspect(&b, id.trim(), "{{.Name}}");
    assert!(name.starts_with('/') && name.contains('_'), "{name}");

    // `restart` keeps a --rm container, as dockerd does; its next stop
    // removes it.
    let mut rm = vec!["run", "-d", "--rm", "--name", "gone"];
    if let Some(r) = runtime {
        rm.extend(["--runtime", r]);
    }
    rm.extend(["busybox", "sleep", "60"]);
    b.ok(&rm);
    b.ok(&["restart", "-t", "1", "gone"]);
    assert_eq!(inspect(&b, "gone", "{{.State.Status}}"), "running");
    b.ok(&["stop", "-t", "1", "gone"]);
    wait_for("the --rm container's removal", || {
        b.run(&["inspect", "gone"]).code != 0
    });
}

#[test]
fn lifecycle_builtin() {
    lifecycle(None);
}

#[test]
fn lifecycle_runc() {
    if let Some(r) = runc() {
        lifecycle(Some(r));
    }
}

#[test]
fn detached_and_reconciled_after_monitor_death() {
    let Some(b) = setup() else { return };
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    // The monitor and the container die together, as on a host crash.
    crash(&b, &id);
    assert_eq!(inspect(&b, &id, "{{.State.Status}}"), "exited");
    assert!(b.ok(&["ps", "-a"]).contains("Exited (255)"));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(&id), "reconcile unmounts: {mounts}");
    // And it starts again.
    b.ok(&["start", &id]);
    b.ok(&["rm", "-f", &id]);
}

/// A host crash for one container: its monitor and its init SIGKILLed at
/// once; returns when the monitor is gone.
pub(crate) fn crash(b: &Berth, id: &str) {
    let monitor = inspect(b, id, "{{index .State.Monitor 0}}");
    let pid = inspect(b, id, "{{.State.Pid}}");
    let _ = Command::new("kill").args(["-9", &monitor, &pid]).status();
    wait_for("the processes to go", || {
        !std::path::Path::new(&format!("/proc/{monitor}")).exists()
    });
}

#[test]
fn stdin_env_user_workdir_and_mounts() {
    let Some(b) = setup() else { return };
    let r = b.run_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"piped in\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, "piped in\n"));
    let envf = b.file("env.list", b"# comment\nFROM_FILE=1\n");
    let out = b.ok(&[
        "run",
        "--rm",
        "-e",
        "A=b",
        "--env-file",
        envf.to_str().unwrap(),
        "-u",
        "www",
        "-w",
        "/tmp",
        "-h",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $A $FROM_FILE $HOME; id; pwd; hostname",
    ]);
    assert_eq!(
        out,
        "b 1 /var/www\nuid=33(www) gid=33(www) groups=4(adm),33(www)\n/tmp\nbox\n"
    );
    let host = b.path("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host").unwrap();
    let vol = format!("{}:/mnt", host.display());
    let out = b.ok(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "cat /mnt/in; echo back > /mnt/out",
    ]);
    assert_eq!(out, "from host");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/mnt:ro", host.display());
    let r = b.run(&["run", "--rm", "-v", &ro, "busybox", "touch", "/mnt/x"]);
    assert_eq!(r.code, 1, "a read-only bind refuses writes");
    let r = b.run(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/ok && touch /nope",
    ]);
    assert_eq!(r.code, 1, "--read-only: {}", r.stderr);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    assert_eq!(out.trim(), "lo");
    let r = b.run(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "chown",
        "1",
        "/tmp",
    ]);
    assert_ne!(r.code, 0, "without CAP_CHOWN: {}", r.stdout);
}

#[test]
fn copy_on_write_isolation() {
    let Some(b) = setup() else { return };
    b.ok(&[
        "create",
        "--name",
        "ca",
        "busybox",
        "sh",
        "-c",
        "echo a > /etc/passwd; echo a > /tmp/f",
    ]);
    let lower = lowest_layer(&b);
    let before = checksum_tree(&lower);
    assert!(!before.is_empty());
    b.ok(&["start", "ca"]);
    b.ok(&["wait", "ca"]);
    b.ok(&[
        "run",
        "--name",
        "cb",
        "busybox",
        "sh",
        "-c",
        "echo b > /tmp/f",
    ]);
    let a = b.ok(&["run", "--rm", "busybox", "cat", "/etc/passwd"]);
    assert!(
        a.starts_with("root:"),
        "a fresh container sees the image: {a}"
    );
    b.ok(&["start", "ca"]);
    b.ok(&["wait", "ca"]);
    // Each container kept its own writes; the image's layer is unchanged.
    assert_eq!(
        b.ok(&["diff", "ca"]),
        "C /etc\nC /etc/passwd\nC /tmp\nA /tmp/f\n"
    );
    assert_eq!(b.ok(&["diff", "cb"]), "C /tmp\nA /tmp/f\n");
    assert_eq!(checksum_tree(&lower), before);
}

/// The image's (only) layer directory.
fn lowest_layer(b: &Berth) -> std::path::PathBuf {
    let ctr = inspect(b, "ca", "{{.GraphDriver.Data.LowerDir}}");
    std::path::PathBuf::from(ctr.split(':').next_back().unwrap())
}

fn checksum_tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -type f -exec sha256sum {{}} + | sort",
            dir.display()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, p)| (std::path::PathBuf::from(p), h.to_string()))
        .collect()
}

#[test]
fn commit_with_every_change() {
    let Some(b) = setup() else { return };
    b.ok(&[
        "run", "--name", "cc", "busybox", "sh", "-c",
        "mkdir -p /data/sub && echo hi > /data/sub/f && rm /bin/wc && rm -r /tmp && mkdir /tmp && echo new > /tmp/t",
    ]);
    let changes = [
        "CMD [\"cat\", \"/data/sub/f\"]",
        "ENTRYPOINT [\"/bin/busybox\"]",
        "ENV A=1 B=two",
        "EXPOSE 8080/tcp 53/udp",
        "LABEL purpose=test",
        "ONBUILD RUN echo child",
        "USER www",
        "VOLUME /data",
        "WORKDIR /data",
        "STOPSIGNAL SIGINT",
    ];
    let mut args = vec!["commit", "-a", "Ann <ann@example.com>", "-m", "seeded data"];
    for c in &changes {
        args.extend(["-c", c]);
    }
    args.extend(["cc", "committed:1.0"]);
    let id = b.ok(&args).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let cfg = inspect(&b, "committed:1.0", "{{json .Config}}");
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["Cmd"], serde_json::json!(["cat", "/data/sub/f"]));
    assert_eq!(v["Entrypoint"], serde_json::json!(["/bin/busybox"]));
    assert!(v["Env"].as_array().unwrap().contains(&"B=two".into()));
    assert!(v["ExposedPorts"].get("53/udp").is_some());
    assert_eq!(v["Labels"]["purpose"], "test");
    assert_eq!(v["OnBuild"], serde_json::json!(["RUN echo child"]));
    assert_eq!(
        (v["User"].as_str(), v["WorkingDir"].as_str()),
        (Some("www"), Some("/data"))
    );
    assert!(v["Volumes"].get("/data").is_some());
    assert_eq!(v["StopSignal"], "SIGINT");
    assert_eq!(
        inspect(&b, "committed:1.0", "{{.Author}}"),
        "Ann <ann@example.com>"
    );
    let history = b.ok(&["history", "--no-trunc", "committed:1.0"]);
    let top = history.lines().nth(1).unwrap();
    assert!(
        top.contains("seeded data") && top.contains("sh -c 'mkdir"),
        "{history}"
    );

    // The new layer: files added, a file deleted (whiteout), a directory replaced
    // (opaque): all as seen by a container of the new image.
    let out = b.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "",
        "committed:1.0",
        "sh",
        "-c",
        "cat /data/sub/f; ls /bin/wc 2>&1; ls /tmp",
    ]);
    assert_eq!(out, "hi\nls: /bin/wc: No such file or directory\nt\n");
    // The old image is as it was.
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /data 2>&1; ls /bin/wc",
    ]);
    assert_eq!(out, "ls: /data: No such file or directory\n/bin/wc\n");
    // The image used by a container cannot go without -f.
    let r = b.run(&["rmi", "busybox"]);
    assert_failed(&r, "rmi of an image a container uses");
    assert!(
        r.stderr.contains("being used by stopped container"),
        "{}",
        r.stderr
    );
}

#[test]
fn export_and_cp_stay_inside() {
    let Some(b) = setup() else { return };
    b.ok(&[
        "run",
        "--name",
        "cx",
        "busybox",
        "sh",
        "-c",
        "echo secret-inside > /tmp/f; ln -s / /tmp/up; ln -s /etc /tmp/etclink; mkdir /tmp/hostdir",
    ]);
    let tarball = b.path("x.tar");
    b.ok(&["export", "-o", tarball.to_str().unwrap(), "cx"]);
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&tarball)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("bin/busybox") && list.contains("tmp/f"),
        "{list}"
    );

    let out = b.path("out");
    std::fs::create_dir(&out).unwrap();
    b.ok(&["cp", "cx:/tmp/f", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("f")).unwrap(),
        "secret-inside\n"
    );
    // Through a symlink to `/`: the container's /etc/passwd, never the host's.
    b.ok(&[
        "cp",
        "cx:/tmp/up/etc/passwd",
        out.join("passwd").to_str().unwrap(),
    ]);
    let copied = std::fs::read_to_string(out.join("passwd")).unwrap();
    assert!(copied.contains("www:x:33"), "{copied}");
    assert_ne!(copied, std::fs::read_to_string("/etc/passwd").unwrap());

    // Into the container through its symlinks: lands inside, host untouched.
    let marker = format!("/tmp/berth-cp-escape-{}", std::process::id());
    let src = b.file("payload", b"payload");
    let dest = format!("cx:/tmp/up{marker}");
    b.ok(&["cp", src.to_str().unwrap(), &dest]);
    assert!(
        !std::path::Path::new(&marker).exists(),
        "cp wrote on the host"
    );
    let check = b.path("check");
    std::fs::create_dir(&check).unwrap();
    b.ok(&["cp", &format!("cx:{marker}"), check.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(check.join(marker.rsplit('/').next().unwrap())).unwrap(),
        "payload"
    );
    let r = b.run(&["cp", "cx:/nope", out.to_str().unwrap()]);
    assert_failed(&r, "cp of a missing path");
}

#[test]
fn exec_in_running_container() {
    let Some(b) = setup() else { return };
    b.ok(&[
        "run", "-d", "--name", "ce", "-e", "BASE=1", "busybox", "sleep", "1000",
    ]);
    let out = b.ok(&[
        "exec",
        "-e",
        "X=2",
        "-w",
        "/tmp",
        "ce",
        "sh",
        "-c",
        "echo $BASE $X; pwd; ps | wc -l",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1 2", "/tmp"]);
    let r = b.run(&["exec", "ce", "sh", "-c", "exit 4"]);
    assert_eq!(r.code, 4);
    let r = b.run(&["exec", "ce", "nosuch"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    let r = b.run_stdin(&["exec", "-i", "ce", "cat"], b"to exec\n");
    assert_eq!(r.stdout, "to exec\n");
    b.ok(&["stop", "-t", "0", "ce"]);
    let r = b.run(&["exec", "ce", "true"]);
    assert_failed(&r, "exec in a stopped container");
}

/// Runs berth under `script`, which gives it a real pseudo-terminal.
fn in_terminal(b: &Berth, line: &str) -> String {
    let cmd = b.cmd(&[]);
    let mut envs = String::new();
    for (k, v) in cmd.get_envs() {
        if let (k, Some(v)) = (k.to_string_lossy(), v) {
            envs.push_str(&format!("{k}={} ", v.to_string_lossy()));
        }
    }
    let nsenter = b
        .netns()
        .map(|ns| format!("nsenter --net={} -- ", ns.display()))
        .unwrap_or_default();
    let prog = format!(
        "{nsenter}{} --root {} --runroot {} --storage-driver overlay",
        env!("CARGO_BIN_EXE_berth"),
        b.root().display(),
        b.runroot().display()
    );
    let out = Command::new("script")
        .args([
            "-qec",
            &format!("stty rows 33 cols 101; env {envs} {prog} {line}"),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn terminal_is_real() {
    let Some(b) = setup() else { return };
    if !require_tool("script") {
        return;
    }
    let out = in_terminal(&b, "run -t --rm busybox sh -c 'tty; stty size; echo $TERM'");
    assert!(out.contains("/dev/pts/0\n33 101\nxterm\n"), "{out:?}");
    b.ok(&["run", "-d", "--name", "ct", "busybox", "sleep", "1000"]);
    let out = in_terminal(&b, "exec -t ct sh -c 'tty; stty size'");
    assert!(
        out.contains("/dev/pts/") && out.contains("33 101"),
        "{out:?}"
    );
}

#[test]
fn limits_are_enforced() {
    let Some(b) = setup() else { return };
    // The shell doubles a string until the 8 MiB limit kills it.
    let r = b.run(&[
        "run",
        "--name",
        "oom",
        "-m",
        "8m",
        "busybox",
        "sh",
        "-c",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ]);
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert_eq!(inspect(&b, "oom", "{{.State.OOMKilled}}"), "true");
    let r = b.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done",
    ]);
    assert!(
        r.stderr.contains("can't fork"),
        "the pids limit held nothing back: {}",
        r.stderr
    );
    let id = b.ok(&["run", "-d", "--cpus", "0.5", "busybox", "sleep", "100"]);
    let quota = [
        "/sys/fs/cgroup/cpu,cpuacct/berth",
        "/sys/fs/cgroup/cpu/berth",
    ]
    .iter()
    .find_map(|d| std::fs::read_to_string(format!("{d}/{}/cpu.cfs_quota_us", id.trim())).ok())
    .or_else(|| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{}/cpu.max", id.trim())).ok())
    .expect("the container's cpu cgroup");
    assert!(quota.starts_with("50000"), "{quota}");
}

/// The seed's walk-through: tomcat's webapps is empty, webapps.dist is not;
/// copy one into the other inside a container, commit it, run the new image.
#[test]
fn tomcat_walk_through() {
    let Some(b) = setup() else { return };
    let mut t = Tar::new();
    t.dir("usr/")
        .dir("usr/local/")
        .dir("usr/local/tomcat/")
        .dir("usr/local/tomcat/webapps/");
    t.dir("usr/local/tomcat/webapps.dist/")
        .dir("usr/local/tomcat/webapps.dist/ROOT/");
    t.file(
        "usr/local/tomcat/webapps.dist/ROOT/index.jsp",
        b"<h1>Tomcat</h1>\n",
    );
    t.file(
        "usr/local/tomcat/webapps.dist/ROOT/RELEASE-NOTES.txt",
        b"notes\n",
    );
    let tomcat_layer = t.bytes();
    let base = busybox_rootfs();
    // A two-layer tomcat-like image: busybox, then tomcat's files.
    let archive = crate::fixtures::docker_archive(&[crate::fixtures::ArchiveImage::new(
        &["tomcat:9.0"],
        vec![base, tomcat_layer],
    )]);
    b.load(&archive);
    b.ok(&[
        "run",
        "--name",
        "tc",
        "-w",
        "/usr/local/tomcat",
        "tomcat:9.0",
        "sh",
        "-c",
        "ls webapps | wc -l; cp -r webapps.dist/* webapps/; ls webapps",
    ]);
    assert_eq!(b.ok(&["logs", "tc"]), "0\nROOT\n");
    let id = b.ok(&[
        "commit",
        "-a",
        "kuangshen",
        "-m",
        "add webapps app",
        "tc",
        "tomcat02:1.0",
    ]);
    assert!(b.ok(&["images"]).contains("tomcat02"));
    let history = b.ok(&["history", "tomcat02:1.0"]);
    let first = history.lines().nth(1).unwrap();
    assert!(
        first.starts_with(&id.trim()["sha256:".len()..][..12]) && first.contains("add webapps app"),
        "{history}"
    );
    assert_eq!(inspect(&b, "tomcat02:1.0", "{{.Author}}"), "kuangshen");
    let new = b.ok(&[
        "run",
        "--rm",
        "tomcat02:1.0",
        "cat",
        "/usr/local/tomcat/webapps/ROOT/index.jsp",
    ]);
    assert_eq!(new, "<h1>Tomcat</h1>\n");
    let old = b.run(&[
        "run",
        "--rm",
        "tomcat:9.0",
        "ls",
        "/usr/local/tomcat/webapps/ROOT",
    ]);
    assert_eq!(
        old.code, 1,
        "the old image does not have it: {}",
        old.stdout
    );
}

#[test]
fn vfs_driver_diff_and_commit() {
    if !require_root() {
        return;
    }
    let b = Berth::with_driver("vfs");
    let r = b.run_stdin(
        &["import", "-c", "CMD [\"sh\"]", "-", "busybox"],
        &busybox_rootfs(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    b.ok(&[
        "run",
        "--name",
        "v1",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/new; rm /bin/wc",
    ]);
    assert_eq!(
        b.ok(&["diff", "v1"]),
        "C /bin\nD /bin/wc\nC /tmp\nA /tmp/new\n"
    );
    b.ok(&["commit", "v1", "vimg"]);
    let out = b.ok(&[
        "run",
        "--rm",
        "vimg",
        "sh",
        "-c",
        "cat /tmp/new; ls /bin/wc 2>&1; true",
    ]);
    assert_eq!(out, "x\nls: /bin/wc: No such file or directory\n");
}

#[test]
fn signals_reach_an_attached_container() {
    let Some(b) = setup() else { return };
    let child = b
        .cmd(&[
            "run",
            "--name",
            "sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got INT; exit 3' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the container to start", || {
        b.run(&["logs", "sig"]).stdout == "ready\n"
    });
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\ngot INT\n");
    // logs -f of a stopped container ends; of a running one follows.
    b.ok(&["start", "sig"]);
    let follower = b
        .cmd(&["logs", "-f", "sig"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    b.ok(&["kill", "-s", "INT", "sig"]);
    let out = follower.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ready\ngot INT\nready\ngot INT\n"
    );
}

#[test]
fn version_and_info_answer_like_docker() {
    let Some(b) = setup() else { return };
    let v = b.ok(&[
        "version",
        "--format",
        "{{.Server.ApiVersion}} {{.Client.Os}}",
    ]);
    assert_eq!(v.trim(), "1.47 linux");
    let text = b.ok(&["version"]);
    assert!(text.starts_with("Client:\n Version:"), "{text}");
    let commit = b.ok(&["version", "--format", "{{.Server.GitCommit}}"]);
    let commit = commit.trim();
    assert!(
        commit == "unknown" || (commit.len() == 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(
        text.contains(&format!("\n Git commit:        {commit}\n")),
        "{text}"
    );
    assert!(text.contains("\n Built:             "), "{text}");
    assert!(text.contains("\nServer: berth\n Engine:\n"), "{text}");
    b.ok(&["create", "--name", "counted", "busybox", "true"]);
    let info = b.ok(&[
        "info",
        "--format",
        "{{.Images}} {{.Containers}} {{.ContainersStopped}} {{.OSType}}",
    ]);
    assert_eq!(info.trim(), "1 1 1 linux");
    let same = b.ok(&["system", "info", "--format", "{{json .Plugins.Volume}}"]);
    assert_eq!(same.trim(), r#"["local"]"#);
    let text = b.ok(&["info"]);
    for line in [
        " Containers: 1\n",
        "  Stopped: 1\n",
        " Images: 1\n",
        " Logging Driver: json-file\n",
        " Default Runtime: berth\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let doc: serde_json::Value =
        serde_json::from_str(&b.ok(&["info", "--format", "json"])).expect("JSON");
    assert_eq!(doc["ContainersStopped"], 1);
    let r = b.run(&["info", "--format", "{{.Nope"]);
    assert_eq!(
        r.code, 64,
        "docker's status for a bad template: {}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn events_show_what_happened_and_follow() {
    let Some(b) = setup() else { return };
    b.ok(&["create", "--name", "ev1", "busybox", "true"]);
    b.ok(&["rm", "ev1"]);
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let past = |extra: &[&str]| {
        let mut args = vec!["events", "--since", "10m", "--until", &until];
        args.extend_from_slice(extra);
        b.ok(&args)
    };
    let lines = past(&[
        "--filter",
        "container=ev1",
        "--format",
        "{{.Type}} {{.Action}} {{index .Actor.Attributes \"name\"}}",
    ]);
    assert_eq!(lines, "container create ev1\ncontainer destroy ev1\n");
    let text = past(&["--filter", "event=create", "--filter", "type=container"]);
    let line = text.lines().next().expect("an event");
    assert!(line.contains(" container create "), "{line}");
    assert!(line.ends_with("(image=busybox, name=ev1)"), "{line}");
    let json: serde_json::Value = serde_json::from_str(
        past(&["--format", "json"])
            .lines()
            .next()
            .expect("an event"),
    )
    .expect("JSON");
    assert_eq!(json["Type"], "container");
    let r = b.run(&["events", "--filter", "bogus=1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Without --until it follows: a container made afterwards shows up.
    let mut follow = b
        .cmd(&[
            "events",
            "--filter",
            "container=ev2",
            "--format",
            "{{.Action}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("events");
    std::thread::sleep(std::time::Duration::from_millis(300));
    b.ok(&["create", "--name", "ev2", "busybox", "true"]);
    let mut first = String::new();
    let mut out = std::io::BufReader::new(follow.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut out, &mut first).expect("read");
    assert_eq!(first, "create\n");
    let _ = follow.kill();
    let _ = follow.wait();
}

/// `NAME|CPU%|MEM USAGE / LIMIT|PIDS` of one busy-looping process under
/// a memory limit, as `stats --format` prints it (berth's or docker's).
pub(crate) fn assert_busy_stats(out: &str, name: &str, limit: &str) {
    let cols: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(cols.len(), 4, "{out}");
    assert_eq!(cols[0], name);
    let cpu: f64 = cols[1].trim_end_matches('%').parse().unwrap_or(0.0);
    assert!(cpu > 30.0, "a busy loop shows CPU use: {out}");
    assert!(
        cols[2].ends_with(&format!(" / {limit}")),
        "the memory limit: {out}"
    );
    assert_eq!(cols[3], "1", "{out}");
}

#[test]
fn stats_read_the_containers_cgroups() {
    let Some(b) = setup() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "spin",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    let out = b.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}",
        "spin",
    ]);
    assert_busy_stats(&out, "spin", "64MiB");
    let table = b.ok(&["container", "stats", "--no-stream"]);
    assert!(
        table.starts_with("CONTAINER ID   NAME      CPU %"),
        "{table}"
    );
    assert!(
        table.lines().nth(1).is_some_and(|l| l.contains(" spin ")),
        "{table}"
    );
    b.ok(&["rm", "-f", "spin"]);
    let r = b.run(&["stats", "--no-stream", "nosuch"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn update_changes_limits_live_and_keeps_them() {
    let Some(b) = setup() else { return };
    b.ok(&["run", "-d", "--name", "limited", "busybox", "sleep", "300"]);
    assert_eq!(
        b.ok(&["update", "-m", "32m", "--pids-limit", "20", "limited"]),
        "limited\n"
    );
    let kept = b.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
        "limited",
    ]);
    assert_eq!(kept.trim(), format!("{} 20", 32 << 20));
    let live = b.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}",
        "limited",
    ]);
    assert!(live.trim().ends_with("/ 32MiB"), "{live}");
    let r = b.run(&["update", "limited"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("one or more flags"), "{}", r.stderr);
    let r = b.run(&["update", "-m", "1k", "limited"]);
    assert_eq!(r.code, 1, "too small a limit: {}", r.stderr);
    b.ok(&["rm", "-f", "limited"]);
}

/// `run` arguments that print the soft and hard open-file limits under
/// `--ulimit nofile=512:1024` (berth's or docker's `run`).
pub(crate) const ULIMITED_RUN: &[&str] = &[
    "--rm",
    "--ulimit",
    "nofile=512:1024",
    "busybox",
    "sh",
    "-c",
    "ulimit -n; ulimit -Hn",
];

#[test]
fn ulimits_reach_the_container_and_stay_under_the_hosts() {
    let Some(b) = setup() else { return };
    for runtime in [None, runc()] {
        let out = b.ok(&run_args(runtime, ULIMITED_RUN));
        assert_eq!(out, "512\n1024\n", "{runtime:?}");
    }
    b.ok(&[
        "create",
        "--name",
        "lim",
        "--ulimit",
        "nproc=100:200",
        "busybox",
        "true",
    ]);
    let kept = b.ok(&["inspect", "-f", "{{json .HostConfig.Ulimits}}", "lim"]);
    assert_eq!(kept.trim(), r#"[{"Hard":200,"Name":"nproc","Soft":100}]"#);
    // Above the host's own hard limit, or unknown: one line, 125, nothing made.
    for bad in ["nofile=1:99999999999", "bogus=1"] {
        let r = b.run(&["run", "--rm", "--ulimit", bad, "busybox", "true"]);
        assert_eq!(r.code, 125, "{bad}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
}

/// `run` arguments with `--shm-size 8m`, `--oom-score-adj 500` and two
/// namespaced sysctls that print what the container sees.
pub(crate) const TUNED_RUN: &[&str] = &[
    "--rm",
    "--network",
    "none",
    "--shm-size",
    "8m",
    "--oom-score-adj",
    "500",
    "--sysctl",
    "kernel.shmmax=1048576",
    "--sysctl",
    "net.ipv4.ip_forward=1",
    "busybox",
    "sh",
    "-c",
    "cat /proc/self/oom_score_adj /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward; df -k /dev/shm | tail -1",
];

/// What [`TUNED_RUN`] prints when every setting took.
pub(crate) fn assert_tuned(out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.get(..3), Some(&["500", "1048576", "1"][..]), "{out}");
    assert_eq!(
        lines.get(3).and_then(|l| l.split_whitespace().nth(1)),
        Some("8192"),
        "{out}"
    );
}

#[test]
fn shm_size_oom_score_adj_and_namespaced_sysctls_apply() {
    let Some(b) = setup() else { return };
    for runtime in [None, runc()] {
        assert_tuned(&b.ok(&run_args(runtime, TUNED_RUN)));
    }
    // What would change the host, or is out of range: refused at create.
    for bad in [
        &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..],
        &["--sysctl", "vm.swappiness=1"],
        &["--oom-score-adj", "2000"],
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(bad);
        args.extend_from_slice(&["busybox", "true"]);
        let r = b.run(&args);
        assert_eq!(r.code, 1, "{bad:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "", "nothing was made");
}

/// The `cpu.shares` and `cpuset.cpus` a running container's cgroups hold
/// (cgroup v1, as on these hosts; v2's `cpu.weight` and `cpuset.cpus`).
pub(crate) fn cpu_settings(id: &str) -> (String, String) {
    let read = |paths: &[String]| {
        paths
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    (
        read(&[
            format!("/sys/fs/cgroup/cpu/berth/{id}/cpu.shares"),
            format!("/sys/fs/cgroup/berth/{id}/cpu.weight"),
        ]),
        read(&[
            format!("/sys/fs/cgroup/cpuset/berth/{id}/cpuset.cpus"),
            format!("/sys/fs/cgroup/berth/{id}/cpuset.cpus"),
        ]),
    )
}

/// `run` arguments for a detached container with 512 CPU shares on CPU 0.
pub(crate) const CPU_PINNED_RUN: &[&str] = &[
    "-d",
    "--cpu-shares",
    "512",
    "--cpuset-cpus",
    "0",
    "busybox",
    "sleep",
    "300",
];

#[test]
fn cpu_shares_and_cpusets_reach_the_cgroups() {
    let Some(b) = setup() else { return };
    for runtime in [None, runc()] {
        let id = b.ok(&run_args(runtime, CPU_PINNED_RUN));
        let id = id.trim();
        assert_eq!(cpu_settings(id), ("512".into(), "0".into()), "{runtime:?}");
        let kept = b.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}",
            id,
        ]);
        assert_eq!(kept.trim(), "512 0");
        b.ok(&["rm", "-f", id]);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = b.run(&[
        "create",
        "--cpuset-cpus",
        &cpus.to_string(),
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 1, "a CPU this host lacks: {}", r.stderr);
    assert!(r.stderr.contains("this host has CPUs"), "{}", r.stderr);
}

/// `--device` (with its cgroup permissions), `--device-cgroup-rule`,
/// `--cgroupns` and `--memory-swap`, on both runtimes.
#[test]
fn devices_cgroup_namespaces_and_swap_limits_apply() {
    let Some(b) = setup() else { return };
    for runtime in [None, runc()] {
        // Read-only in the device cgroup: reads pass, writes do not (the
        // fuse device is not in the default list).
        let out = b.ok(&run_args(
            runtime,
            &[
                "--rm",
                "--device",
                "/dev/fuse:/dev/myfuse:r",
                "busybox",
                "sh",
                "-c",
                "ls -l /dev/myfuse | cut -c1; cat /dev/null < /dev/myfuse && echo read; true > /dev/myfuse || echo denied",
            ],
        ));
        assert!(out.starts_with("c\nread\n"), "{runtime:?}: {out}");
        assert!(out.contains("denied"), "{runtime:?}: {out}");
        // A node made for it opens only once a rule allows it.
        let probe = "mknod /tmp/f c 10 229 2>/dev/null; true < /tmp/f 2>/dev/null && echo opened || echo refused";
        let without = b.ok(&run_args(runtime, &["--rm", "busybox", "sh", "-c", probe]));
        assert_eq!(without, "refused\n", "{runtime:?}");
        let with = b.ok(&run_args(
            runtime,
            &[
                "--rm",
                "--device-cgroup-rule",
                "c 10:229 rwm",
                "busybox",
                "sh",
                "-c",
                probe,
            ],
        ));
        assert_eq!(with, "opened\n", "{runtime:?}");
        // A private cgroup namespace sees its own cgroup as the root.
        let own = b.ok(&run_args(
            runtime,
            &[
                "--rm",
                "--cgroupns",
                "private",
                "busybox",
                "cat",
                "/proc/self/cgroup",
            ],
        ));
        assert!(!own.contains("/berth/"), "{runtime:?}: {own}");
        let host = b.ok(&run_args(
            runtime,
            &[
                "--rm",
                "--cgroupns",
                "host",
                "busybox",
                "cat",
                "/proc/self/cgroup",
            ],
        ));
        assert!(host.contains("/berth/"), "{runtime:?}: {host}");
    }
    let id = b.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--memory-swap",
        "96m",
        "busybox",
        "sleep",
        "30",
    ]);
    let id = id.trim();
    let memsw = format!("/sys/fs/cgroup/memory/berth/{id}/memory.memsw.limit_in_bytes");
    if let Ok(v) = std::fs::read_to_string(&memsw) {
        assert_eq!(v.trim(), (96u64 << 20).to_string());
    }
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.MemorySwap}} {{.HostConfig.CgroupnsMode}}",
            id
        ])
        .trim(),
        format!("{} host", 96u64 << 20)
    );
    b.ok(&["rm", "-f", id]);
    for (bad, said) in [
        (&["--memory-swap", "96m"][..], "always set the Memory limit"),
        (
            &["--memory", "64m", "--memory-swap", "32m"],
            "larger than memory limit",
        ),
        (&["--device", "/etc/passwd"], "not a device node"),
        (
            &["--device", "/nonexistent"],
            "error gathering device information",
        ),
        (
            &["--device-cgroup-rule", "x 1:3 rwm"],
            "invalid device cgroup format",
        ),
        (&["--blkio-weight", "5"], "Range of blkio weight"),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(bad);
        args.extend(["busybox", "true"]);
        let r = b.run(&args);
        if bad[0] == "--blkio-weight" && r.code == 0 {
            // Discarded with docker's warning where the host cannot weigh I/O.
            assert!(r.stderr.contains("Weight discarded"), "{}", r.stderr);
            b.ok(&["rm", r.stdout.trim()]);
            continue;
        }
        assert_eq!(r.code, 1, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains(said), "{bad:?}: {}", r.stderr);
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "", "nothing was made");
}

#[test]
fn logs_rotate_under_a_fast_writer_and_the_none_driver_keeps_nothing() {
    let Some(b) = setup() else { return };
    // The same rotation for docker's json-file and berth's compact local
    // format; the local files keep more lines in the same bytes.
    let mut kept = Vec::new();
    for driver in ["json-file", "local"] {
        let id = b
            .ok(&[
                "run",
                "-d",
                "--log-driver",
                driver,
                "--log-opt",
                "max-size=20k",
                "--log-opt",
                "max-file=3",
                "busybox",
                "sh",
                "-c",
                "i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done",
            ])
            .trim()
            .to_string();
        b.ok(&["wait", &id]);
        let log = std::path::PathBuf::from(inspect(&b, &id, "{{.LogPath}}"));
        let name = log.file_name().unwrap().to_string_lossy().to_string();
        let files: Vec<_> = std::fs::read_dir(log.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
            .collect();
        assert_eq!(files.len(), 3, "max-file=3");
        for f in &files {
            assert!(f.metadata().unwrap().len() <= 20_000, "{:?}", f.path());
        }
        assert_eq!(
            b.ok(&["logs", "--tail", "2", &id]),
            "line 4998\nline 4999\n"
        );
        let all = b.ok(&["logs", &id]);
        let lines: Vec<&str> = all.lines().collect();
        let first: usize = lines[0].trim_start_matches("line ").parse().unwrap();
        assert!(first > 0, "the oldest lines were rotated away");
        assert_eq!(lines.len(), 5000 - first, "what is kept is contiguous");
        assert_eq!(
            inspect(&b, &id, "{{json .HostConfig.LogConfig}}"),
            format!(r#"{{"Config":{{"max-file":"3","max-size":"20k"}},"Type":"{driver}"}}"#)
        );
        kept.push(lines.len());
    }
    assert!(
        kept[1] > kept[0],
        "local keeps more lines than json-file: {kept:?}"
    );
    // The none driver: nothing written, `logs` says why.
    let quiet = b
        .ok(&["run", "-d", "--log-driver", "none", "busybox", "echo", "hi"])
        .trim()
        .to_string();
    b.ok(&["wait", &quiet]);
    let r = b.run(&["logs", &quiet]);
    assert_failed(&r, "logs of the none driver");
    assert!(
        r.stderr.contains("does not support reading"),
        "{}",
        r.stderr
    );
    for bad in [
        &["--log-driver", "syslog"][..],
        &["--log-opt", "max-size=lots"],
        &["--log-opt", "nope=1"],
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(bad);
        args.extend(["busybox", "true"]);
        assert_failed(&b.run(&args), bad);
    }
}

/// A hundred detached containers run at once: every start succeeds and `ps`
/// lists them all. (The built-in runtime moves each init into its cgroups
/// while the init makes its /dev; with the device rules applied after the
/// move, the release build's `bench/stats.sh` saw one start in twenty fail
/// with a hundred running.)
#[test]
fn a_hundred_detached_containers_all_start() {
    let Some(b) = setup() else { return };
    for i in 0..100 {
        let r = b.run(&[
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            "busybox",
            "sleep",
            "600",
        ]);
        assert_eq!(r.code, 0, "start {i}: {}", r.stderr);
    }
    assert_eq!(b.ok(&["ps", "-q"]).lines().count(), 100);
    let ids: Vec<String> = b.ok(&["ps", "-aq"]).lines().map(str::to_string).collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    b.ok(&rm);
}
