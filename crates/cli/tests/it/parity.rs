//! docker CLI parity, proven against dockerd: every row of `parity.table`
//! runs as `berth …` and as Debian's `docker …` (the docker.io 20.10 CLI)
//! against Debian's dockerd, in order, on the same inputs, and the answers
//! are compared after masking what must differ (IDs, digests, times, sizes,
//! the stores' paths). docs/cli.md — every docker command and flag with
//! berth's status — is generated from the table and both CLIs' `--help`, so
//! it cannot drift from what this test proves.
//!
//! Both sides run in a network namespace of the test's, so that dockerd's
//! and berth's networks never touch the machine's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{archive_of_rootfs, docker_cli};
use crate::differential::Dockerd;
use crate::{Berth, Run, require, require_root, require_tool};

/// The table: `check | command | note` rows under `## area` headings, and
/// `why | command [--flag] | status` lines for what berth lacks.
const TABLE: &str = include_str!("parity.table");

/// Debian's docker CLI: the same release as the dockerd it drives.
const DOCKER: &str = "/usr/bin/docker";

/// What a row compares.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Check {
    /// Both succeed (a step others build on); nothing else compared.
    Run,
    /// Exit code, stdout (masked) and whether stderr is empty.
    Same,
    /// Exit code and stdout's lines in any order.
    Lines,
    /// Both succeed; the table's header and its number of rows.
    Header,
    /// Both fail with the same exit code and the same message.
    Fails,
    /// Exit code, and which streams say something.
    Code,
    /// Both print JSON; every key dockerd's has, berth's has.
    Keys,
    /// berth deliberately differs, the note says why; the exit code is
    /// docker's unless the note starts with "(exit N)".
    Better,
}

struct Row {
    line: usize,
    area: String,
    check: Check,
    command: String,
    note: String,
}

/// The parsed table.
struct Table {
    rows: Vec<Row>,
    /// What berth lacks, by `command` or `command --flag`: the status.
    why: BTreeMap<String, String>,
}

impl Table {
    fn parse(text: &str) -> Table {
        let mut rows = Vec::new();
        let mut why = BTreeMap::new();
        let mut area = String::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(a) = line.strip_prefix("## ") {
                area = a.to_string();
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // A template may hold " | ": the note is after the last one.
            let (kind, command, note) =
                match line
                    .split_once(" | ")
                    .map(|(k, rest)| match rest.strip_suffix(" |") {
                        Some(command) => (k, command, ""),
                        None => match rest.rsplit_once(" | ") {
                            Some((command, note)) => (k, command, note),
                            None => (k, rest, ""),
                        },
                    }) {
                    Some((k, c, n)) => (k.trim(), c.trim(), n.trim()),
                    None => panic!("parity.table:{}: want `check | command | note`", i + 1),
                };
            if kind == "why" {
                why.insert(command.to_string(), note.to_string());
                continue;
            }
            let check = match kind {
                "run" => Check::Run,
                "same" => Check::Same,
                "lines" => Check::Lines,
                "header" => Check::Header,
                "fails" => Check::Fails,
                "code" => Check::Code,
                "keys" => Check::Keys,
                "better" => Check::Better,
                other => panic!("parity.table:{}: unknown check {other:?}", i + 1),
            };
            rows.push(Row {
                line: i + 1,
                area: area.clone(),
                check,
                command: command.to_string(),
                note: note.to_string(),
            });
        }
        Table { rows, why }
    }
}

/// A command line's words: spaces split, '…' and "…" quote.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, ' ') => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in {s:?}");
    if in_word {
        out.push(word);
    }
    out
}

/// One side of the comparison: how it runs a command and what of its
/// answers is its own (paths) rather than docker's shape.
struct Side<'a> {
    run: &'a dyn Fn(&[String]) -> Run,
    /// Its own paths, masked as the placeholder that names them.
    own: Vec<(String, &'static str)>,
    /// Where `{out}` points.
    out: PathBuf,
}

impl Side<'_> {
    fn exec(&self, command: &str, shared: &[(&str, String)]) -> (Vec<String>, Run) {
        let mut text = command.replace("{out}", &self.out.display().to_string());
        for (k, v) in shared {
            text = text.replace(k, v);
        }
        let args = words(&text);
        let mut r = (self.run)(&args);
        for (path, token) in &self.own {
            r.stdout = r.stdout.replace(path.as_str(), token);
            r.stderr = r.stderr.replace(path.as_str(), token);
        }
        (args, r)
    }
}

/// Masks what two stores answer differently for the same thing.
fn normal(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut w: Vec<String> = line.split(' ').map(mask_word).collect();
        mask_times(&mut w);
        let line = w.join(" ");
        // Columns stay columns when a masked cell's width differs.
        let mut squeezed = String::new();
        let mut spaces = 0;
        for c in line.trim_end().chars() {
            if c == ' ' {
                spaces += 1;
                continue;
            }
            match spaces {
                0 => {}
                1 => squeezed.push(' '),
                _ => squeezed.push_str("   "),
            }
            spaces = 0;
            squeezed.push(c);
        }
        lines.push(squeezed);
    }
    lines.join("\n")
}

/// IDs, digests, sizes and timestamps inside one space-free word.
fn mask_word(word: &str) -> String {
    let mut out = String::new();
    for piece in word.split_inclusive(|c: char| !c.is_ascii_alphanumeric() && !":.-".contains(c)) {
        let (body, tail) = piece.split_at(
            piece
                .trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && !":.-".contains(c))
                .len(),
        );
        out.push_str(&mask_body(body));
        out.push_str(tail);
    }
    out
}

fn mask_body(body: &str) -> String {
    let hex = body.trim_start_matches("sha256:");
    if hex.len() >= 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return "<id>".into();
    }
    let digits = body.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &body[digits.len()..];
    let number = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.starts_with(|c: char| c.is_ascii_digit());
    if number && ["B", "kB", "KB", "MB", "GB", "KiB", "MiB", "GiB"].contains(&unit) {
        return "<size>".into();
    }
    // RFC 3339 times, whole or cut by the split at ':'.
    if body.len() >= 10 && body.as_bytes()[4] == b'-' && body.as_bytes()[7] == b'-' {
        return "<time>".into();
    }
    body.to_string()
}

/// "3 seconds ago", "About a minute", "Less than a second", "Up 2 minutes".
fn mask_times(w: &mut Vec<String>) {
    let unit = |s: &str| {
        let s = s.trim_end_matches([',', ')']);
        ["second", "seconds", "minute", "minutes", "hour", "hours"].contains(&s)
    };
    let mut i = 0;
    while i < w.len() {
        let phrase = if i + 2 < w.len() && w[i] == "Less" && w[i + 1] == "than" {
            Some(4.min(w.len() - i))
        } else if i + 2 < w.len() && w[i] == "About" && unit(&w[i + 2]) {
            Some(3)
        } else if i + 1 < w.len()
            && (w[i].chars().all(|c| c.is_ascii_digit()) || w[i] == "a" || w[i] == "an")
            && unit(&w[i + 1])
        {
            Some(2)
        } else {
            None
        };
        if let Some(n) = phrase {
            let tail: String = w[i + n - 1]
                .chars()
                .filter(|c| [',', ')'].contains(c))
                .collect();
            w.splice(i..i + n, [format!("<time>{tail}")]);
        }
        i += 1;
    }
}

/// The one line an error says, without the CLI's own prefixes.
fn message(stderr: &str) -> String {
    let line = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut m = line.trim();
    loop {
        let before = m;
        for prefix in [
            "docker: ",
            "berth: ",
            "Error response from daemon: ",
            "Error: ",
            "error: ",
        ] {
            m = m.strip_prefix(prefix).unwrap_or(m);
        }
        if m == before {
            break;
        }
    }
    normal(m.trim_end_matches('.'))
}

/// Every key of dockerd's JSON that berth's lacks (objects to depth 3, an
/// array by its first element).
fn missing_keys(berth: &Value, docker: &Value, at: &str, depth: usize, out: &mut Vec<String>) {
    match (berth, docker) {
        (Value::Object(b), Value::Object(d)) => {
            for (k, dv) in d {
                match b.get(k) {
                    None => out.push(format!("{at}.{k}")),
                    Some(bv) if depth > 0 => {
                        missing_keys(bv, dv, &format!("{at}.{k}"), depth - 1, out)
                    }
                    Some(_) => {}
                }
            }
        }
        (Value::Array(b), Value::Array(d)) => {
            if let (Some(b), Some(d)) = (b.first(), d.first()) {
                missing_keys(b, d, &format!("{at}[0]"), depth, out);
            }
        }
        _ => {}
    }
}

/// What is wrong with a row's answers, if anything.
fn verdict(row: &Row, b: &Run, d: &Run) -> Option<String> {
    let streams = |r: &Run| {
        (
            r.code,
            r.stdout.trim().is_empty(),
            r.stderr.trim().is_empty(),
        )
    };
    let ok = match row.check {
        Check::Run => b.code == 0 && d.code == 0,
        Check::Same => streams(b) == streams(d) && normal(&b.stdout) == normal(&d.stdout),
        Check::Lines => {
            let sorted = |r: &Run| {
                let mut l: Vec<String> = normal(&r.stdout).lines().map(String::from).collect();
                l.sort();
                l
            };
            b.code == d.code && sorted(b) == sorted(d)
        }
        Check::Header => {
            let head = |r: &Run| {
                let first = r.stdout.lines().next().unwrap_or("");
                (
                    first.split_whitespace().collect::<Vec<_>>().join(" "),
                    r.stdout.lines().count(),
                )
            };
            b.code == 0 && d.code == 0 && head(b) == head(d)
        }
        Check::Fails => {
            // The same words, whatever their case (docker ≥ 23 lowered
            // some); berth may say more around them (what it names).
            let (mb, md) = (
                message(&b.stderr).to_lowercase(),
                message(&d.stderr).to_lowercase(),
            );
            d.code != 0
                && b.code == d.code
                && !mb.is_empty()
                && (md.ends_with(&mb) || mb.contains(&md))
        }
        Check::Code => streams(b) == streams(d),
        Check::Keys => {
            let (Ok(bj), Ok(dj)) = (
                serde_json::from_str::<Value>(&b.stdout),
                serde_json::from_str::<Value>(&d.stdout),
            ) else {
                return Some("not JSON on both sides".into());
            };
            let mut missing = Vec::new();
            missing_keys(&bj, &dj, "", 3, &mut missing);
            // "not A B: why" in the note: keys berth leaves out on purpose.
            let left_out: Vec<&str> = row
                .note
                .strip_prefix("not ")
                .and_then(|n| n.split_once(':'))
                .map(|(keys, _)| keys.split_whitespace().collect())
                .unwrap_or_default();
            missing.retain(|k| !left_out.contains(&k.as_str()));
            if !missing.is_empty() {
                return Some(format!("berth lacks {missing:?}"));
            }
            b.code == 0 && d.code == 0
        }
        // "(exit N)" at the note's start: berth's code; else docker's.
        Check::Better => match row
            .note
            .strip_prefix("(exit ")
            .and_then(|n| n.split_once(')'))
            .and_then(|(n, _)| n.parse::<i32>().ok())
        {
            Some(code) => b.code == code,
            None => b.code == d.code,
        },
    };
    (!ok).then(|| {
        format!(
            "berth  (exit {}):\n{}{}\n---- masked: {:?} / message {:?}\ndocker (exit {}):\n{}{}\n---- masked: {:?} / message {:?}",
            b.code,
            b.stdout,
            b.stderr,
            normal(&b.stdout),
            message(&b.stderr),
            d.code,
            d.stdout,
            d.stderr,
            normal(&d.stdout),
            message(&d.stderr),
        )
    })
}

/// `berth registry serve` in the test's network namespace, for push, pull,
/// login and search by both sides.
struct Registry(Child);

impl Registry {
    fn start(b: &Berth, addr: &str) -> Registry {
        let log = std::fs::File::create(b.path("registry.log")).expect("registry log");
        let child = b
            .in_netns(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "serve", "--addr", addr, "--root"])
            .arg(b.path("registry"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("berth registry serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("http://{addr}/v2/");
        while !b
            .in_netns("curl")
            .args(["-sf", "-o", "/dev/null", &url])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry(child)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A build context both sides build from.
fn build_context(b: &Berth) -> PathBuf {
    let dir = b.path("context");
    std::fs::create_dir_all(&dir).expect("context");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM p/bb:1\nLABEL stage=parity\nENV GREETING=hello\nCOPY hello.txt /hello.txt\nRUN echo built > /built\nWORKDIR /srv\nEXPOSE 8080\nCMD [\"cat\", \"/hello.txt\"]\n",
    )
    .expect("Dockerfile");
    std::fs::write(dir.join("Broken.Dockerfile"), "FROM p/bb:1\nRUN exit 7\n").expect("Dockerfile");
    std::fs::write(dir.join("hello.txt"), "hello from the context\n").expect("hello.txt");
    std::fs::write(dir.join("env.list"), "A=1\n# a comment\n  B=two words\n").expect("env.list");
    std::fs::write(
        dir.join("labels.list"),
        "team=ops\n# a comment\nversion=2\n",
    )
    .expect("labels.list");
    dir
}

#[test]
fn berth_answers_the_parity_table_as_docker_does() {
    if !require_root() || !require_tool("dockerd") || !require_tool("curl") {
        return;
    }
    if !require(Path::new(DOCKER).is_file(), "Debian's docker.io CLI") {
        return;
    }
    let table = Table::parse(TABLE);
    let b = Berth::networked();
    let dockerd = Dockerd::start(&b);
    let registry_addr = "127.0.0.1:5000";
    let _registry = Registry::start(&b, registry_addr);
    let config = b.path("docker-cli-config");
    let host = format!("unix://{}", dockerd.socket.display());
    let run_docker = |args: &[String]| -> Run {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker_cli(Path::new(DOCKER), &host, &config, &args)
            .output()
            .expect("docker CLI")
            .into()
    };
    let run_berth = |args: &[String]| -> Run {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        b.cmd(&args)
            // As the peer runs: dockerd's --bridge=none.
            .env("BERTH_BRIDGE", "none")
            .stdin(Stdio::null())
            .output()
            .expect("berth")
            .into()
    };
    let outs = [b.path("out-berth"), b.path("out-docker")];
    for o in &outs {
        std::fs::create_dir_all(o).expect("out dir");
    }
    let berth = Side {
        run: &run_berth,
        own: vec![
            (b.root().display().to_string(), "<root>"),
            (outs[0].display().to_string(), "<out>"),
        ],
        out: outs[0].clone(),
    };
    let docker = Side {
        run: &run_docker,
        own: vec![
            (dockerd.data_root().display().to_string(), "<root>"),
            (outs[1].display().to_string(), "<out>"),
        ],
        out: outs[1].clone(),
    };
    let shared = [
        ("{rootfs}", archive_of_rootfs(&b).display().to_string()),
        ("{ctx}", build_context(&b).display().to_string()),
        ("{registry}", registry_addr.to_string()),
    ];
    let mut wrong = Vec::new();
    for row in &table.rows {
        let (args, rb) = berth.exec(&row.command, &shared);
        let (_, rd) = docker.exec(&row.command, &shared);
        if let Some(why) = verdict(row, &rb, &rd) {
            wrong.push(format!(
                "parity.table:{} [{}] {:?} {:?}:\n{why}\n",
                row.line, row.area, row.check, args
            ));
        }
    }
    assert!(
        table.rows.len() >= 150,
        "the table has {} rows",
        table.rows.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {} rows differ:\n{}",
        wrong.len(),
        table.rows.len(),
        wrong.join("\n")
    );
}

/// A CLI's flags for one command, from its `--help`: long name → (short
/// name, whether it takes a value, what it does).
type Flags = BTreeMap<String, (Option<char>, bool, String)>;

fn help(program: &str, command: &[&str]) -> Option<Flags> {
    let o = Command::new(program)
        .args(command)
        .arg("--help")
        .env("DOCKER_HOST", "unix:///nonexistent")
        .env("BERTH_ROOT", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut flags = Flags::new();
    for line in text.lines() {
        let l = line.trim_start();
        let (short, rest) = match l.strip_prefix('-') {
            Some(r) if !r.starts_with('-') && r.chars().nth(1) == Some(',') => {
                (r.chars().next(), r[2..].trim_start())
            }
            _ => (None, l),
        };
        let Some(rest) = rest.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.is_empty() || name == "help" {
            continue;
        }
        let after = rest[name.len()..].trim_start();
        // docker: `--name string   what`; clap: `--name <NAME>  what`.
        let (takes, what) = match after.split_once("  ") {
            Some((arg, what)) => (!arg.trim().is_empty(), what.trim()),
            None => (!after.is_empty() && !after.contains(' '), ""),
        };
        flags.insert(name, (short, takes, what.to_string()));
    }
    Some(flags)
}

/// A docker command's subcommands, from its `--help`.
fn subcommands(command: &[&str]) -> Vec<String> {
    let o = Command::new(DOCKER)
        .args(command)
        .arg("--help")
        .output()
        .expect("docker --help");
    let text = String::from_utf8_lossy(&o.stdout);
    let mut out = Vec::new();
    let mut listing = false;
    for line in text.lines() {
        if line.ends_with("Commands:") {
            listing = true;
            continue;
        }
        if listing {
            match line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            {
                Some(name) => out.push(name.to_string()),
                None => listing = false,
            }
        }
    }
    out
}

/// docker's management commands whose subcommands berth implements.
const MANAGED: &[&str] = &[
    "builder",
    "container",
    "image",
    "network",
    "system",
    "volume",
];

/// One name per command, whatever docker alias a row or the page uses.
fn canonical(command: &str) -> String {
    match command {
        "container ls" | "container ps" | "container list" => "ps".into(),
        "image ls" | "image list" => "images".into(),
        "image rm" | "image remove" => "rmi".into(),
        "container rm" | "container remove" => "rm".into(),
        "builder build" | "image build" => "build".into(),
        "system events" => "events".into(),
        "system info" => "info".into(),
        c => match c.split_once(' ') {
            Some(("container" | "image", sub)) if !["inspect", "prune"].contains(&sub) => {
                sub.to_string()
            }
            _ => c.to_string(),
        },
    }
}

/// The command a row runs (its first one or two words).
fn command_of(args: &[String]) -> String {
    match args {
        [m, sub, ..] if MANAGED.contains(&m.as_str()) => format!("{m} {sub}"),
        [c, ..] => c.clone(),
        [] => String::new(),
    }
}

/// The flags a row's arguments set, read with docker's own flag table
/// (up to the first positional argument, as docker's `run` reads them).
fn flags_used(args: &[String], flags: &Flags) -> BTreeSet<String> {
    let by_short: BTreeMap<char, (&String, bool)> = flags
        .iter()
        .filter_map(|(long, (short, takes, _))| short.map(|s| (s, (long, *takes))))
        .collect();
    let mut used = BTreeSet::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            if let Some((_, takes, _)) = flags.get(name) {
                used.insert(name.to_string());
                if *takes && !inline {
                    i += 1;
                }
            }
        } else if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) {
            for (j, c) in cluster.char_indices() {
                let Some((long, takes)) = by_short.get(&c) else {
                    break;
                };
                used.insert(long.to_string());
                if *takes {
                    if j + 1 == cluster.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    used
}

/// docs/cli.md's table: every docker command and flag, berth's status.
#[test]
fn the_cli_page_lists_every_docker_flag_with_berths_status() {
    if !require(Path::new(DOCKER).is_file(), "Debian's docker.io CLI") {
        return;
    }
    let table = Table::parse(TABLE);
    let berth = env!("CARGO_BIN_EXE_berth");
    let mut commands: Vec<String> = subcommands(&[]);
    for m in MANAGED {
        commands.extend(subcommands(&[m]).into_iter().map(|s| format!("{m} {s}")));
    }
    commands.sort();
    commands.dedup();
    let mut rows_by_command: BTreeMap<String, Vec<(&Row, Vec<String>)>> = BTreeMap::new();
    for row in &table.rows {
        let args = words(&row.command);
        rows_by_command
            .entry(canonical(&command_of(&args)))
            .or_default()
            .push((row, args));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut page = String::new();
    let mut missing_commands = String::new();
    for command in &commands {
        let words: Vec<&str> = command.split(' ').collect();
        if MANAGED.contains(&command.as_str()) || command == "help" {
            continue;
        }
        let status_of_command = table.why.get(command.as_str()).cloned();
        let Some(docker_flags) = help(DOCKER, &words) else {
            continue;
        };
        let ours = help(berth, &words);
        let Some(ours) = ours else {
            let why = status_of_command.unwrap_or_else(|| "missing".into());
            *counts.entry(kind_of(&why)).or_default() += 1;
            missing_commands.push_str(&format!("| `docker {command}` | {why} |\n"));
            continue;
        };
        let rows = rows_by_command
            .get(&canonical(command))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let tested = rows
            .iter()
            .filter(|(r, _)| r.check != Check::Better)
            .count();
        page.push_str(&format!(
            "\n### `docker {command}`\n\n{} in the table.\n\n| flag | berth |\n|---|---|\n",
            match tested {
                0 => "No row".to_string(),
                1 => "1 row".to_string(),
                n => format!("{n} rows"),
            }
        ));
        for (flag, (short, _, _)) in &docker_flags {
            let mut better = None;
            let mut same = false;
            for (row, args) in rows {
                if flags_used(&args[command_of(args).split(' ').count()..], &docker_flags)
                    .contains(flag)
                {
                    match row.check {
                        Check::Better => better = Some(row.note.clone()),
                        _ => same = true,
                    }
                }
            }
            let status = if same {
                "same".to_string()
            } else if let Some(note) = better {
                format!("better: {note}")
            } else if ours.contains_key(flag) {
                "accepted, not compared".to_string()
            } else {
                table
                    .why
                    .get(&format!("{command} --{flag}"))
                    .or_else(|| table.why.get(&format!("{} --{flag}", canonical(command))))
                    .or_else(|| table.why.get(&format!("* --{flag}")))
                    .cloned()
                    .unwrap_or_else(|| "missing".into())
            };
            *counts.entry(kind_of(&status)).or_default() += 1;
            let name = match short {
                Some(s) => format!("`-{s}`, `--{flag}`"),
                None => format!("`--{flag}`"),
            };
            page.push_str(&format!("| {name} | {status} |\n"));
        }
    }
    let total: usize = counts.values().sum();
    let mut summary = format!(
        "{} rows in the differential table; {total} docker commands and flags:\n\n| status | count |\n|---|---|\n",
        table.rows.len()
    );
    for (k, n) in &counts {
        summary.push_str(&format!("| {k} | {n} |\n"));
    }
    let content = format!(
        "{summary}\n## Commands berth does not have\n\n| command | berth |\n|---|---|\n{missing_commands}\n## Flags, command by command\n{page}"
    );
    crate::generated_docs(
        "cli.md",
        "flag table",
        "parity::the_cli_page_lists_every_docker_flag_with_berths_status",
        &content,
    );
}

/// The status's kind for the summary.
fn kind_of(status: &str) -> &'static str {
    for kind in [
        "same",
        "better",
        "accepted, not compared",
        "planned",
        "refused",
    ] {
        if status.starts_with(kind) {
            return kind;
        }
    }
    "missing"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_what_differs_between_stores() {
        assert_eq!(
            normal("p/bb   1   1a1d1dc138d5   3 seconds ago   1.98MB"),
            normal("p/bb   1   f5096ff26192   About a minute ago   2.1MB")
        );
        assert_eq!(
            normal("Exited (0) Less than a second ago"),
            normal("Exited (0) 2 seconds ago")
        );
        assert_eq!(normal("Up 3 minutes"), "Up <time>");
        assert_eq!(mask_word("2026-11-30T10:00:01.123Z"), "<time>");
        assert_eq!(mask_word("sha256:0123456789abcdef"), "<id>");
        assert_eq!(normal("a  b"), "a   b");
    }

    #[test]
    fn reads_flags_as_docker_does() {
        let mut flags = Flags::new();
        flags.insert("detach".into(), (Some('d'), false, String::new()));
        flags.insert("name".into(), (None, true, String::new()));
        flags.insert("env".into(), (Some('e'), true, String::new()));
        flags.insert("cpu-shares".into(), (Some('c'), true, String::new()));
        let args = words("-de A=1 --name=x --rm p/bb:1 sh -c 'echo hi'");
        let used = flags_used(&args, &flags);
        assert_eq!(
            used.into_iter().collect::<Vec<_>>(),
            ["detach", "env", "name"]
        );
        assert_eq!(words("a 'b c' \"d\"e"), ["a", "b c", "de"]);
    }
}
