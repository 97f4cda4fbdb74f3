//! Restart policies on real containers: kept by the container's monitor,
//! with docker's back-off, ended by a user's stop, honoured after a
//! simulated reboot by `start --all-restartable`; and `--init`, the PID 1
//! that reaps and forwards signals.

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
    let id = b.ok_line(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
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
    let ok = b.ok_line(&["run", "-d", "--restart", "on-failure", "busybox", "true"]);
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
    let keep = b.ok_line(&[
        "run",
        "-d",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    let stopped = b.ok_line(&[
        "run",
        "-d",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    let plain = b.ok_line(&["run", "-d", "busybox", "sleep", "300"]);
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

/// An orphan that the command never waits for stays a zombie without
/// `--init` and is reaped with it, on both runtimes; the init forwards
/// `stop`'s SIGTERM and exits as the command did (143), and an exec'd
/// process keeps its own status.
#[test]
fn init_reaps_orphans_and_forwards_signals() {
    let Some(b) = setup() else { return };
    let mut runtimes: Vec<&[&str]> = vec![&[]];
    if crate::require_tool("runc") {
        runtimes.push(&["--runtime", "/usr/sbin/runc"]);
    }
    for runtime in runtimes {
        // The orphan's parent exits; PID 1 (sleep, or the init) inherits it.
        let start = |init: bool| -> (String, usize) {
            let mut args = vec!["run", "-d"];
            args.extend_from_slice(runtime);
            if init {
                args.push("--init");
            }
            args.extend(["busybox", "sh", "-c", "sh -c 'sleep 0.1 &'; exec sleep 30"]);
            let id = b.ok(&args).trim().to_string();
            std::thread::sleep(Duration::from_millis(800));
            let ps = b.ok(&["exec", &id, "ps", "-o", "stat,comm"]);
            let zombies = ps
                .lines()
                .filter(|l| l.trim_start().starts_with('Z'))
                .count();
            (id, zombies)
        };
        let (id, zombies) = start(false);
        assert_eq!(zombies, 1, "{runtime:?}: a zombie without --init");
        b.ok(&["rm", "-f", &id]);

        let (id, zombies) = start(true);
        assert_eq!(zombies, 0, "{runtime:?}: --init reaped the orphan");
        let code = b.run(&["exec", &id, "sh", "-c", "exit 3"]).code;
        assert_eq!(code, 3, "{runtime:?}: exec's own status");
        // Without an init, sleep as PID 1 would ignore SIGTERM and stop
        // would wait for its kill.
        let started = Instant::now();
        b.ok(&["stop", "-t", "10", &id]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{runtime:?}: the init forwarded SIGTERM"
        );
        assert_eq!(
            inspect(&b, &id, "{{.State.ExitCode}}"),
            "143",
            "{runtime:?}"
        );
        assert_eq!(inspect(&b, &id, "{{.HostConfig.Init}}"), "true");
        b.ok(&["rm", &id]);
    }
}

/// Health checks, kept by the monitor: starting → healthy → unhealthy,
/// shown in `ps`, `inspect` (the last five results), `--filter health=`
/// and `health_status` events; an image's HEALTHCHECK applies unless
/// `--no-healthcheck`.
#[test]
fn health_checks_go_from_starting_to_healthy_to_unhealthy() {
    let Some(b) = setup() else { return };
    let id = b.ok_line(&[
        "run",
        "-d",
        "--health-cmd",
        "test -e /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "60",
    ]);
    let status = |b: &Berth| status_of(b, &id);
    assert!(status(&b).contains("(health: starting)"), "{}", status(&b));
    // Failing from the start, it turns unhealthy after two probes.
    until(
        &b,
        &id,
        "{{.State.Health.Status}}",
        "unhealthy",
        Duration::from_secs(10),
    );
    assert!(status(&b).contains("(unhealthy)"), "{}", status(&b));
    b.ok(&["exec", &id, "touch", "/tmp/ok"]);
    until(
        &b,
        &id,
        "{{.State.Health.Status}}",
        "healthy",
        Duration::from_secs(10),
    );
    assert!(status(&b).contains("(healthy)"), "{}", status(&b));
    assert_eq!(inspect(&b, &id, "{{.State.Health.FailingStreak}}"), "0");
    let log = inspect(&b, &id, "{{len .State.Health.Log}}");
    assert!(
        ("1".."6").contains(&log.as_str()),
        "at most five results: {log}"
    );
    assert_eq!(
        inspect(
            &b,
            &id,
            "{{with $l := .State.Health.Log}}{{(index $l (len (slice $l 1))).Output}}{{end}}"
        ),
        "fine"
    );
    let healthy = b.ok(&["ps", "-q", "--no-trunc", "--filter", "health=healthy"]);
    assert_eq!(healthy.trim(), id);
    assert_eq!(b.ok(&["ps", "-q", "--filter", "health=unhealthy"]), "");
    b.ok(&["exec", &id, "rm", "/tmp/ok"]);
    until(
        &b,
        &id,
        "{{.State.Health.Status}}",
        "unhealthy",
        Duration::from_secs(10),
    );
    let events = b.ok(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        &format!("container={id}"),
        "--format",
        "{{.Action}}",
    ]);
    let health: Vec<&str> = events
        .lines()
        .filter(|l| l.starts_with("health_status"))
        .collect();
    assert_eq!(
        health,
        [
            "health_status: unhealthy",
            "health_status: healthy",
            "health_status: unhealthy"
        ],
        "{events}"
    );
    b.ok(&["rm", "-f", &id]);

    // An image's HEALTHCHECK, with a timeout that a probe exceeds.
    let ctx = b.path("hc");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=200ms --timeout=100ms --retries=1 CMD sleep 5\n",
    )
    .unwrap();
    b.ok(&["build", "-q", "-t", "hc:1", ctx.to_str().unwrap()]);
    let id = b.ok_line(&["run", "-d", "hc:1", "sleep", "60"]);
    until(
        &b,
        &id,
        "{{.State.Health.Status}}",
        "unhealthy",
        Duration::from_secs(10),
    );
    assert_eq!(
        inspect(
            &b,
            &id,
            "{{(index .State.Health.Log 0).Output}} {{(index .State.Health.Log 0).ExitCode}}"
        ),
        "Health check exceeded timeout (100ms) -1"
    );
    b.ok(&["rm", "-f", &id]);
    let id = b.ok_line(&["run", "-d", "--no-healthcheck", "hc:1", "sleep", "60"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(&b, &id, "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    assert_eq!(inspect(&b, &id, "{{.State.Health}}"), "<no value>");
    assert!(!status_of(&b, &id).contains('('));
    b.ok(&["rm", "-f", &id]);
}

fn status_of(b: &Berth, id: &str) -> String {
    b.ok(&[
        "ps",
        "--format",
        "{{.Status}}",
        "--filter",
        &format!("id={id}"),
    ])
}

/// `wait --condition`: the Engine API's next-exit (a created container's
/// first run) and removed (a `--rm` container's end).
#[test]
fn wait_conditions_next_exit_and_removed() {
    let Some(b) = setup() else { return };
    let id = b.ok_line(&["create", "busybox", "sh", "-c", "exit 4"]);
    let waiter = b
        .cmd(&["wait", "--condition", "next-exit", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("berth wait");
    std::thread::sleep(Duration::from_millis(300));
    b.ok(&["start", &id]);
    let out = waiter.wait_with_output().expect("wait's output");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4\n");
    let id = b
        .ok(&[
            "run",
            "-d",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "sleep 0.3; exit 2",
        ])
        .trim()
        .to_string();
    assert_eq!(b.ok(&["wait", "--condition", "removed", &id]), "2\n");
    assert_eq!(b.run(&["inspect", &id]).code, 1, "removed");
    let r = b.run(&["wait", "--condition", "healthy", "nosuch"]);
    assert_eq!(r.code, 125, "a bad condition is a bad command line");
}
