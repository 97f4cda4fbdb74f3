//! Restart policies on real containers: kept by the container's monitor,
//! with docker's back-off, ended by a user's stop, honoured after a
//! simulated reboot by `start --all-restartable`.

use std::time::{Duration, Instant};

use crate::Berth;
use crate::containers::{crash, inspect, setup};

/// Waits until `template` on `id` reads `want`.
fn until(b: &Berth, id: &str, template: &str, want: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let now = inspect(b, id, template);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{template} of {id}: {now}, waited for {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn on_failure_restarts_with_back_off_up_to_its_count() {
    let Some(b) = setup() else { return };
    let started = Instant::now();
    let id = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "exit 3",
        ])
        .trim()
        .to_string();
    assert_eq!(
        inspect(&b, &id, "{{json .HostConfig.RestartPolicy}}"),
        r#"{"MaximumRetryCount":2,"Name":"on-failure"}"#
    );
    until(
        &b,
        &id,
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        "2 exited 3",
        Duration::from_secs(10),
    );
    // Two delays: 100 ms, then 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(&b, &id, "{{.RestartCount}} {{.State.Status}}"),
        "2 exited"
    );
    // A success is not restarted; a manual start counts afresh.
    let ok = b
        .ok(&["run", "-d", "--restart", "on-failure", "busybox", "true"])
        .trim()
        .to_string();
    b.ok(&["wait", &ok]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        inspect(&b, &ok, "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );
    // --restart and --rm do not go together; a bad policy is one line.
    for bad in [
        &["--rm", "--restart", "always"][..],
        &["--restart", "sometimes"],
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(bad);
        args.extend(["busybox", "true"]);
        crate::assert_failed(&b.run(&args), bad);
    }
}

#[test]
fn always_keeps_a_crashing_container_up_until_the_user_stops_it() {
    let Some(b) = setup() else { return };
    let id = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "sleep 0.2; exit 1",
        ])
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while inspect(&b, &id, "{{.RestartCount}}")
        .parse::<u32>()
        .unwrap()
        < 2
    {
        assert!(Instant::now() < deadline, "not restarted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ps = b.ok(&["ps", "--format", "{{.Status}}", "-a"]);
    assert!(
        ps.starts_with("Up") || ps.starts_with("Restarting (1)"),
        "{ps}"
    );
    b.ok(&["stop", "-t", "1", &id]);
    let count = inspect(&b, &id, "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(inspect(&b, &id, "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&b, &id, "{{.RestartCount}}"),
        count,
        "stopped means stopped"
    );
    // `update --restart no` takes effect at the next exit.
    b.ok(&["start", &id]);
    b.ok(&["update", "--restart", "no", &id]);
    until(
        &b,
        &id,
        "{{.State.Status}}",
        "exited",
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        inspect(&b, &id, "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );
    b.ok(&["rm", "-f", &id]);
}

#[test]
fn a_reboot_brings_back_what_the_policies_keep_running() {
    let Some(b) = setup() else { return };
    let keep = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    let stopped = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    let plain = b
        .ok(&["run", "-d", "busybox", "sleep", "300"])
        .trim()
        .to_string();
    b.ok(&["stop", "-t", "1", &stopped]);
    // A crash of the machine: every monitor and process killed at once.
    for id in [&keep, &plain] {
        crash(&b, id);
    }
    let out = b.ok(&["start", "--all-restartable"]);
    let name = inspect(&b, &keep, "{{.Name}}");
    assert_eq!(out.trim(), name.trim_start_matches('/'));
    assert_eq!(inspect(&b, &keep, "{{.State.Status}}"), "running");
    assert_eq!(
        inspect(&b, &stopped, "{{.State.Status}}"),
        "exited",
        "the user stopped it"
    );
    assert_eq!(
        inspect(&b, &plain, "{{.State.Status}}"),
        "exited",
        "no policy"
    );
    b.ok(&["rm", "-f", &keep, &stopped, &plain]);
}

/// A pipeline ends when its reader does: SIGPIPE has its default action in
/// the container (berth, as every Rust program, ignores it, and an ignored
/// signal would stay ignored across the exec).
#[test]
fn a_closed_pipe_ends_the_writer() {
    let Some(b) = setup() else { return };
    for runtime in [None, Some("/usr/sbin/runc")] {
        let mut args = vec!["run", "--rm"];
        if let Some(r) = runtime {
            if !crate::require_tool("runc") {
                continue;
            }
            args.extend(["--runtime", r]);
        }
        args.extend(["busybox", "sh", "-c", "yes | head -n 2"]);
        let started = Instant::now();
        let out = b.ok(&args);
        assert_eq!(out, "y\ny\n");
        assert!(started.elapsed() < Duration::from_secs(10), "{runtime:?}");
    }
}
