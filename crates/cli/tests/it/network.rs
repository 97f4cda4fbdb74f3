//! Container networking on real bridges, veths and nftables — each test in
//! a network namespace of its own ([`Berth::networked`]), whose loopback and
//! bridges play the host's; no packet leaves it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::containers::{crash, inspect};
use crate::fixtures::busybox_rootfs;
use crate::{Berth, assert_failed, require_root, require_tool};

/// A networked berth with busybox imported (`httpd`, `nc`, `nslookup`…).
fn setup() -> Option<Berth> {
    if !require_root() || !require_tool("nft") || !require_tool("curl") {
        return None;
    }
    let b = Berth::networked();
    let r = b.run_stdin(
        &["import", "-c", "CMD [\"sh\"]", "-", "busybox"],
        &busybox_rootfs(),
    );
    assert_eq!(r.code, 0, "import: {}", r.stderr);
    Some(b)
}

/// A command run in the test's namespace (its "host").
fn host(b: &Berth, program: &str, args: &[&str]) -> (i32, String) {
    let out = b
        .in_netns(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect(program);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `curl` from the host side, retried while the server comes up.
fn fetch(b: &Berth, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, out) = host(b, "curl", &["-sS", "-g", "--max-time", "3", url]);
        if code == 0 || Instant::now() > deadline {
            assert_eq!(code, 0, "curl {url}: {out}");
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An httpd container serving `hello from NAME` on `port`.
fn web(b: &Berth, name: &str, port: u16, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    let script = format!(
        "mkdir -p /www && echo hello from {name} > /www/index.html && exec httpd -f -p {port} -h /www"
    );
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    b.ok(&args).trim().to_string()
}

fn ip_of(b: &Berth, id: &str) -> String {
    inspect(
        b,
        id,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    )
}

fn listening(b: &Berth) -> String {
    host(b, "ss", &["-ltnuH"]).1
}

#[test]
fn the_default_bridge_gives_each_container_an_address_a_route_and_the_files() {
    let Some(b) = setup() else { return };
    // Another tool's table (as iptables-nft makes them) stays as it is.
    for rule in [
        "add table ip other",
        "add chain ip other keep { type filter hook forward priority 0 ; policy accept ; }",
        "add rule ip other keep counter accept",
    ] {
        let (code, out) = host(&b, "nft", &[rule]);
        assert_eq!(code, 0, "{rule}: {out}");
    }
    let out = b.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "92:d0:c6:0a:29:33",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out.trim(), "92:d0:c6:0a:29:33");
    let out = b.ok(&[
        "run",
        "--rm",
        "--hostname",
        "box",
        "--add-host",
        "db.local:10.1.2.3",
        "--add-host",
        "gw:host-gateway",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "corp.example",
        "--dns-option",
        "ndots:2",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf /etc/hostname",
    ]);
    let gateway = inspect(&b, "bridge", "{{range .IPAM.Config}}{{.Gateway}}{{end}}");
    assert!(out.contains("eth0    inet 172."), "{out}");
    assert!(
        out.contains(&format!("default via {gateway} dev eth0")),
        "{out}"
    );
    assert!(out.contains("10.1.2.3\tdb.local"), "{out}");
    assert!(out.contains(&format!("{gateway}\tgw")), "{out}");
    assert!(out.contains("nameserver 192.0.2.53\n"), "{out}");
    assert!(out.contains("search corp.example\n"), "{out}");
    assert!(out.contains("options ndots:2\n"), "{out}");
    assert!(out.trim_end().ends_with("box"), "{out}");
    // The host's own resolver is kept when it is not on its loopback.
    let out = b.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    let host_servers: Vec<String> = std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("nameserver") && !l.contains("127.") && !l.contains("::1"))
        .map(str::to_string)
        .collect();
    for s in &host_servers {
        assert!(out.contains(s.as_str()), "{out}");
    }
    // `network ls` and inspect as docker shows them.
    let ls = b.ok(&["network", "ls"]);
    let header: Vec<&str> = ls
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(header, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
    for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
        assert!(
            ls.lines().any(|l| l.split_whitespace().nth(1) == Some(name)
                && l.split_whitespace().nth(2) == Some(driver)),
            "{ls}"
        );
    }
    let (_, other) = host(&b, "nft", &["list", "table", "ip", "other"]);
    assert!(
        other.contains("counter") && other.contains("accept"),
        "{other}"
    );
    // Nothing is left behind a --rm container: its monitor removes the veth
    // just after the exit is reported.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, links) = host(&b, "ip", &["-o", "link"]);
        if !links.contains("veth") {
            break;
        }
        assert!(Instant::now() < deadline, "{links}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn published_ports_answer_on_every_host_address_and_are_held_while_the_container_runs() {
    let Some(b) = setup() else { return };
    // An "external" address of the host besides loopback.
    for args in [
        &[
            "link", "add", "ext0", "type", "veth", "peer", "name", "ext1",
        ][..],
        &["addr", "add", "192.0.2.10/24", "dev", "ext0"],
        &["link", "set", "ext0", "up"],
        &["link", "set", "ext1", "up"],
    ] {
        let (code, out) = host(&b, "ip", args);
        assert_eq!(code, 0, "ip {args:?}: {out}");
    }
    let id = web(&b, "web", 80, &["-p", "8080:80", "-p", "127.0.0.1::80"]);
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8080/index.html"),
        "hello from web\n"
    );
    assert_eq!(
        fetch(&b, "http://[::1]:8080/index.html"),
        "hello from web\n"
    );
    assert_eq!(
        fetch(&b, "http://192.0.2.10:8080/index.html"),
        "hello from web\n"
    );
    // From another container, through the host's address (hairpin).
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        "http://192.0.2.10:8080/index.html",
    ]);
    assert_eq!(out, "hello from web\n");
    // The ports are held: ss shows them, and a second container cannot take one.
    let ss = listening(&b);
    assert!(ss.contains("0.0.0.0:8080"), "{ss}");
    assert!(ss.contains("[::]:8080"), "{ss}");
    let r = b.run(&["run", "-d", "-p", "8080:80", "busybox", "sleep", "60"]);
    assert_failed(&r, "a taken port");
    assert!(
        r.stderr.contains("8080") && r.stderr.contains("already in use"),
        "{}",
        r.stderr
    );
    // `port`, the PORTS column and inspect's Ports.
    let ephemeral = b.ok(&["port", &id, "80/tcp"]);
    let lines: Vec<&str> = ephemeral.lines().collect();
    assert!(lines.contains(&"0.0.0.0:8080"), "{ephemeral}");
    let loopback = lines
        .iter()
        .find(|l| l.starts_with("127.0.0.1:"))
        .expect("the ephemeral port");
    assert_eq!(
        fetch(&b, &format!("http://{loopback}/index.html")),
        "hello from web\n"
    );
    let all = b.ok(&["port", &id]);
    assert!(all.contains("80/tcp -> 0.0.0.0:8080\n"), "{all}");
    assert!(all.contains("80/tcp -> [::]:8080\n"), "{all}");
    let ps = b.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains("0.0.0.0:8080->80/tcp"), "{ps}");
    assert!(ps.contains("[::]:8080->80/tcp"), "{ps}");
    let ports = inspect(&b, &id, "{{json .NetworkSettings.Ports}}");
    assert!(
        ports.contains(r#"{"HostIp":"0.0.0.0","HostPort":"8080"}"#),
        "{ports}"
    );
    // The traffic shows in NET I/O (the container's eth0 counters).
    let net = b.ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", &id]);
    assert!(!net.starts_with("0B / "), "{net}");
    let r = b.run(&["port", &id, "81"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("No public port '81/tcp' published"),
        "{}",
        r.stderr
    );
    // Removed: the ports are free, the rules and the veth gone.
    b.ok(&["rm", "-f", &id]);
    let ss = listening(&b);
    assert!(!ss.contains(":8080"), "{ss}");
    let (_, rules) = host(&b, "nft", &["list", "table", "inet", "berth"]);
    assert!(!rules.contains("dport 8080"), "{rules}");
    let (_, links) = host(&b, "ip", &["-o", "link"]);
    assert!(
        !links.contains("veth")
            || links
                .lines()
                .filter(|l| l.contains("veth"))
                .all(|l| l.contains("ext")),
        "{links}"
    );
    let again = web(&b, "web2", 80, &["-p", "8080:80"]);
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8080/index.html"),
        "hello from web2\n"
    );
    b.ok(&["rm", "-f", &again]);
}

#[test]
fn udp_ranges_and_publish_all() {
    let Some(b) = setup() else { return };
    // UDP: a datagram sent to the host's published port reaches a server
    // in the container's network namespace (busybox has no UDP server: a
    // python one is run there from outside) and its answer comes back.
    let id = b
        .ok(&[
            "run",
            "-d",
            "-p",
            "5353:5353/udp",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    assert!(listening(&b).contains("0.0.0.0:5353"), "{}", listening(&b));
    let pid = inspect(&b, &id, "{{.State.Pid}}");
    let mut echo = Command::new("nsenter")
        .args(["-t", &pid, "-n", "python3", "-c"])
        .arg("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nwhile True:\n    d,a=s.recvfrom(512)\n    s.sendto(b'echo:'+d,a)")
        .spawn()
        .expect("python3 in the container's namespace");
    let client = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(0.5)\nfor _ in range(40):\n    s.sendto(b'over udp',('127.0.0.1',5353))\n    try:\n        print(s.recv(512).decode())\n        sys.exit(0)\n    except socket.timeout:\n        pass\nsys.exit(1)";
    let (code, out) = host(&b, "python3", &["-c", client]);
    let _ = echo.kill();
    let _ = echo.wait();
    assert_eq!((code, out.trim()), (0, "echo:over udp"), "{out}");
    b.ok(&["rm", "-f", &id]);
    // A range, and -P for --expose'd ports.
    let id = b
        .ok(&[
            "run",
            "-d",
            "-p",
            "9000-9002:7000-7002",
            "--expose",
            "6000",
            "-P",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    let ps = b.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains("0.0.0.0:9000-9002->7000-7002/tcp"), "{ps}");
    let p = b.ok(&["port", &id, "6000"]);
    let port: u16 = p
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(port > 1024, "{p}");
    b.ok(&["rm", "-f", &id]);
}

#[test]
fn user_networks_resolve_names_and_aliases_and_stay_apart() {
    let Some(b) = setup() else { return };
    b.ok(&["network", "create", "--subnet", "10.89.0.0/24", "app"]);
    b.ok(&["network", "create", "other"]);
    b.ok(&["network", "create", "--internal", "inside"]);
    let db = web(
        &b,
        "db",
        8000,
        &["--network", "app", "--network-alias", "database"],
    );
    let db_ip = ip_of(&b, &db);
    assert!(db_ip.starts_with("10.89.0."), "{db_ip}");
    let short = &db[..12];
    for name in ["db", "database", short] {
        let out = b.ok(&[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "wget",
            "-qO-",
            &format!("http://{name}:8000/index.html"),
        ]);
        assert_eq!(out, "hello from db\n", "by {name}");
    }
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "nslookup",
        "db",
    ]);
    assert!(out.contains(&db_ip), "{out}");
    // Names from outside the network are forwarded (here: nothing resolves
    // them, and the answer comes back instead of a hang).
    let started = Instant::now();
    let _ = b.run(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "nslookup",
        "no-such-name.invalid",
    ]);
    assert!(started.elapsed() < Duration::from_secs(20));
    // The default bridge has no names, as in docker; other networks do not reach.
    let r = b.run(&["run", "--rm", "busybox", "nslookup", "db"]);
    assert!(!r.stdout.contains(&db_ip), "{}", r.stdout);
    let r = b.run(&[
        "run",
        "--rm",
        "--network",
        "other",
        "busybox",
        "wget",
        "-qO-",
        "-T",
        "2",
        &format!("http://{db_ip}:8000/index.html"),
    ]);
    assert_ne!(r.code, 0, "another network reached db: {}", r.stdout);
    // An internal network: its containers reach each other and nothing else.
    let peer = web(&b, "peer", 8000, &["--network", "inside"]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "inside",
        "busybox",
        "wget",
        "-qO-",
        "http://peer:8000/index.html",
    ]);
    assert_eq!(out, "hello from peer\n");
    let r = b.run(&[
        "run",
        "--rm",
        "--network",
        "inside",
        "busybox",
        "wget",
        "-qO-",
        "-T",
        "2",
        &format!("http://{db_ip}:8000/index.html"),
    ]);
    assert_ne!(r.code, 0, "an internal network got out: {}", r.stdout);
    // network inspect lists the containers; rm refuses a network in use.
    let containers = inspect(
        &b,
        "app",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
    );
    assert_eq!(containers, format!("db {db_ip}/24"));
    let r = b.run(&["network", "rm", "app"]);
    assert_failed(&r, "network rm of a network in use");
    assert!(r.stderr.contains("active endpoints"), "{}", r.stderr);
    b.ok(&["rm", "-f", &db, &peer]);
    assert_eq!(b.ok(&["network", "rm", "app"]), "app\n");
    let pruned = b.ok(&["network", "prune", "-f"]);
    assert!(
        pruned.contains("other") && pruned.contains("inside"),
        "{pruned}"
    );
    let ls = b.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "bridge\nhost\nnone\n");
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let Some(b) = setup() else { return };
    b.ok(&["network", "create", "--subnet", "10.77.0.0/24", "back"]);
    let id = b
        .ok(&["run", "-d", "--name", "svc", "busybox", "sleep", "300"])
        .trim()
        .to_string();
    b.ok(&[
        "network",
        "connect",
        "--alias",
        "api",
        "--ip",
        "10.77.0.50",
        "back",
        "svc",
    ]);
    let addrs = b.ok(&["exec", &id, "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains("eth1    inet 10.77.0.50/24"), "{addrs}");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "nslookup",
        "api",
    ]);
    assert!(out.contains("10.77.0.50"), "{out}");
    let nets = inspect(
        &b,
        &id,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
    );
    assert!(nets.contains("back=10.77.0.50"), "{nets}");
    b.ok(&["network", "disconnect", "back", "svc"]);
    let addrs = b.ok(&["exec", &id, "ip", "-4", "-o", "addr"]);
    assert!(!addrs.contains("10.77.0.50"), "{addrs}");
    // --network container:NAME shares its namespace.
    let web_id = web(&b, "front", 8080, &[]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "container:front",
        "busybox",
        "wget",
        "-qO-",
        "http://127.0.0.1:8080/index.html",
    ]);
    assert_eq!(out, "hello from front\n");
    let theirs = b.ok(&[
        "run",
        "--rm",
        "--network",
        "container:front",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(theirs.contains(&ip_of(&b, &web_id)), "{theirs}");
    b.ok(&["rm", "-f", &id, &web_id]);
}

#[test]
fn nothing_leaks_after_a_killed_monitor_or_a_flushed_table() {
    let Some(b) = setup() else { return };
    let id = web(&b, "web", 80, &["-p", "8081:80"]);
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8081/index.html"),
        "hello from web\n"
    );
    // The table flushed behind berth's back: the next start rebuilds it.
    host(&b, "nft", &["flush", "ruleset"]);
    let other = web(&b, "other", 80, &["-p", "8082:80"]);
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8082/index.html"),
        "hello from other\n"
    );
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8081/index.html"),
        "hello from web\n"
    );
    // The monitor SIGKILLed (with its container, as on a crash): the next
    // command reconciles — no rule, no veth, no held port of it stays.
    crash(&b, &id);
    assert!(b.ok(&["ps", "-a"]).contains("Exited (255)"));
    let (_, rules) = host(&b, "nft", &["list", "table", "inet", "berth"]);
    assert!(!rules.contains("dport 8081"), "{rules}");
    assert!(rules.contains("dport 8082"), "{rules}");
    assert!(!listening(&b).contains(":8081"));
    // It starts again, with its port.
    b.ok(&["start", &id]);
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8081/index.html"),
        "hello from web\n"
    );
    b.ok(&["rm", "-f", &id, &other]);
    let (_, links) = host(&b, "ip", &["-o", "link"]);
    assert!(!links.contains("veth"), "{links}");
}

#[test]
fn concurrent_starts_get_distinct_addresses() {
    let Some(b) = setup() else { return };
    let b = std::sync::Arc::new(b);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                b.ok(&[
                    "run",
                    "-d",
                    "--name",
                    &format!("c{i}"),
                    "busybox",
                    "sleep",
                    "60",
                ])
                .trim()
                .to_string()
            })
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ips: Vec<String> = ids.iter().map(|id| ip_of(&b, id)).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "{ips:?}");
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    b.ok(&args);
}

#[test]
fn bad_network_input_gets_one_clear_line() {
    let Some(b) = setup() else { return };
    b.ok(&["network", "create", "--subnet", "10.50.0.0/16", "first"]);
    for (args, says) in [
        (
            &["run", "-p", "80:80:80:80", "busybox", "true"][..],
            "invalid publish spec",
        ),
        (
            &["run", "-p", "99999:80", "busybox", "true"],
            "invalid port",
        ),
        (
            &["run", "-p", "8000-8002:80-81", "busybox", "true"],
            "same length",
        ),
        (
            &["run", "-p", "80/icmp", "busybox", "true"],
            "invalid protocol",
        ),
        (
            &["run", "--network", "nope", "busybox", "true"],
            "network nope not found",
        ),
        (
            &["run", "--network", "none", "-p", "80", "busybox", "true"],
            "conflicting options",
        ),
        (
            &["run", "--ip", "10.50.0.9", "busybox", "true"],
            "user defined networks",
        ),
        (
            &["run", "--add-host", "nocolon", "busybox", "true"],
            "invalid --add-host",
        ),
        (
            &["network", "create", "--subnet", "10.50.1.0/24", "overlap"],
            "overlaps",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.60.0.0/24",
                "--gateway",
                "10.61.0.1",
                "gw",
            ],
            "invalid gateway",
        ),
        (
            &["network", "create", "--subnet", "10.60.0.1/24", "bits"],
            "host bits",
        ),
        (&["network", "create", "first"], "already exists"),
        (
            &["network", "create", "-d", "overlay", "ov"],
            "berth has the bridge driver",
        ),
        (&["network", "rm", "bridge"], "pre-defined network"),
        (&["network", "rm", "nope"], "not found"),
        (&["network", "connect", "nope", "x"], "not found"),
    ] {
        let r = b.run(args);
        assert_failed(&r, args);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "", "nothing was made");
    assert_eq!(
        b.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nfirst\nhost\nnone\n"
    );
}

/// The seed's walk-through: a "tomcat" (here httpd on 8080) published with
/// `-p 8080:8080` and fetched from the host side.
#[test]
fn the_tomcat_walkthrough() {
    let Some(b) = setup() else { return };
    let id = web(&b, "tomcat", 8080, &["-p", "8080:8080"]);
    assert_eq!(
        fetch(&b, "http://localhost:8080/index.html"),
        "hello from tomcat\n"
    );
    let (code, out) = host(
        &b,
        "/bin/busybox",
        &["wget", "-qO-", "http://127.0.0.1:8080/index.html"],
    );
    assert_eq!((code, out.as_str()), (0, "hello from tomcat\n"));
    b.ok(&["rm", "-f", &id]);
}

/// docker's CLIs drive berth's networks through the Engine API: a published
/// port, a user-defined network with names, connect, inspect, rm.
#[test]
fn docker_clis_publish_ports_and_manage_networks_through_the_daemon() {
    let Some(b) = setup() else { return };
    let d = crate::daemon::Daemon::start(&b);
    for (i, client) in crate::daemon::clients().iter().enumerate() {
        let docker = |args: &[&str]| d.docker(&b, client, args);
        let ok = |args: &[&str]| d.docker_ok(&b, client, args);
        let net = format!("apinet{i}");
        let port = 8090 + i as u16;
        ok(&[
            "network",
            "create",
            "--subnet",
            &format!("10.{}.0.0/24", 120 + i),
            &net,
        ]);
        let script =
            "mkdir -p /www && echo hello from api > /www/index.html && exec httpd -f -p 80 -h /www";
        let id = ok(&[
            "run",
            "-d",
            "--name",
            &format!("apiweb{i}"),
            "--network",
            &net,
            "--network-alias",
            "site",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .trim()
        .to_string();
        assert_eq!(
            fetch(&b, &format!("http://127.0.0.1:{port}/index.html")),
            "hello from api\n"
        );
        let out = ok(&["port", &id, "80"]);
        assert!(out.contains(&format!("0.0.0.0:{port}")), "{out}");
        let ps = ok(&["ps", "--format", "{{.Ports}} {{.Networks}}"]);
        assert!(
            ps.contains(&format!("0.0.0.0:{port}->80/tcp")) && ps.contains(&net),
            "{ps}"
        );
        let out = ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "wget",
            "-qO-",
            "http://site:80/index.html",
        ]);
        assert_eq!(out, "hello from api\n");
        let ip = ok(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            &id,
        ]);
        assert!(ip.starts_with(&format!("10.{}.0.", 120 + i)), "{ip}");
        let names = ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}}{{end}}",
            &net,
        ]);
        assert_eq!(names.trim(), format!("apiweb{i}"));
        ok(&["network", "connect", "bridge", &id]);
        let nets = ok(&["inspect", "-f", "{{len .NetworkSettings.Networks}}", &id]);
        assert_eq!(nets.trim(), "2");
        let r = docker(&["network", "rm", &net]);
        assert_ne!(r.code, 0, "a network in use was removed");
        ok(&["rm", "-f", &id]);
        ok(&["network", "rm", &net]);
        let r = docker(&["network", "inspect", &net]);
        assert_ne!(r.code, 0);
    }
}

/// A compose project on its default network: one service calls the other
/// by its service name, one port is published.
#[test]
fn docker_compose_services_find_each_other_on_the_projects_network() {
    let Some(b) = setup() else { return };
    if !require_tool("docker-compose") {
        return;
    }
    let d = crate::daemon::Daemon::start(&b);
    let dir = b.path("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        r#"version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 8000 -h /www"]
    ports: ["8088:8000"]
  client:
    image: busybox
    command: ["sh", "-c", "until wget -qO- http://web:8000/index.html; do sleep 0.2; done; sleep 300"]
"#,
    )
    .unwrap();
    let compose = |args: &[&str]| crate::daemon::compose(&d, &b, &dir, "shop", args);
    let r = compose(&["up", "-d"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        fetch(&b, "http://127.0.0.1:8088/index.html"),
        "hello from web\n"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = b.ok(&["logs", "shop_client_1"]);
        if logs.contains("hello from web") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client never reached web: {logs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let nets = b.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(nets.contains("shop_default"), "{nets}");
    let r = compose(&["down", "-t", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let nets = b.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("shop_default"), "{nets}");
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "");
}

/// The default subnet keeps clear of what the host has (a docker bridge
/// that is down still owns 172.17.0.0/16); `bip` in the settings file sets
/// it; a build's RUN steps get the default bridge.
#[test]
fn the_default_subnet_avoids_the_hosts_and_follows_bip() {
    let Some(b) = setup() else { return };
    for args in [
        &["link", "add", "docker0", "type", "bridge"][..],
        &["addr", "add", "172.17.0.1/16", "dev", "docker0"],
    ] {
        let (code, out) = host(&b, "ip", args);
        assert_eq!(code, 0, "ip {args:?}: {out}");
    }
    let subnet = inspect(&b, "bridge", "{{range .IPAM.Config}}{{.Subnet}}{{end}}");
    assert_eq!(subnet, "172.18.0.0/16", "docker0 holds 172.17.0.0/16");
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN ip route > /route\n",
    )
    .unwrap();
    b.ok(&["build", "-q", "-t", "routed", ctx.to_str().unwrap()]);
    let route = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "routed",
        "cat",
        "/route",
    ]);
    assert!(route.contains("default via 172.18.0.1"), "{route}");

    let c = Berth::networked();
    std::fs::write(
        c.path("registries.json"),
        r#"{"bip": "10.99.0.1/24", "mtu": 1400}"#,
    )
    .unwrap();
    let r = c.run_stdin(&["import", "-", "busybox"], &busybox_rootfs());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = c.ok(&[
        "run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    assert!(out.contains("inet 10.99.0.2/24"), "{out}");
    let out = c.ok(&["run", "--rm", "busybox", "cat", "/sys/class/net/eth0/mtu"]);
    assert_eq!(out.trim(), "1400");
}
