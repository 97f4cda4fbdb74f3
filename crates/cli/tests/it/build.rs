//! `berth build`: the Dockerfile corpus under `tests/build/` (each case a
//! context with its Dockerfile and an `expect.json` of the image's config,
//! history, layers and files, or the error), the layer cache, Ctrl-C.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Berth;
use crate::containers::setup;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build")
}

fn inspect(b: &Berth, image: &str) -> Value {
    let out = b.ok(&["image", "inspect", image]);
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

/// `history` oldest first.
fn history(b: &Berth, image: &str) -> Vec<String> {
    let out = b.ok(&["history", "--no-trunc", "--format", "{{json .}}", image]);
    let mut v: Vec<String> = out
        .lines()
        .map(|l| {
            let e: Value = serde_json::from_str(l).expect("history JSON");
            e["CreatedBy"].as_str().unwrap_or("").to_string()
        })
        .collect();
    v.reverse();
    v
}

/// Checks one case; returns what is wrong.
fn check_case(b: &Berth, dir: &Path) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    let mut bad = Vec::new();
    let ctx = dir.to_str().unwrap();
    if let Some(pre) = expect.get("pre") {
        let file = dir.join(pre["file"].as_str().unwrap());
        b.ok(&[
            "build",
            "-q",
            "-f",
            file.to_str().unwrap(),
            "-t",
            pre["tag"].as_str().unwrap(),
            ctx,
        ]);
    }
    let tag = format!("corpus-{name}:1");
    let mut args = vec!["build", "--progress", "plain", "-t", &tag];
    let extra: Vec<String> = expect["args"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    args.extend(extra.iter().map(String::as_str));
    args.push(ctx);
    let r = b.run(&args);
    if let Some(errors) = expect.get("error") {
        if r.code != 1 {
            bad.push(format!("exit {} (want 1): {}", r.code, r.stderr));
        }
        let last = r.stderr.lines().last().unwrap_or("");
        for e in errors.as_array().unwrap() {
            let e = e.as_str().unwrap();
            if !last.contains(e) {
                bad.push(format!("the error line lacks {e:?}: {last:?}"));
            }
        }
        for o in expect["output"].as_array().into_iter().flatten() {
            if !r.stderr.contains(o.as_str().unwrap()) {
                bad.push(format!("the step's output {o} is not shown: {}", r.stderr));
            }
        }
        let left = b.ok(&["ps", "-aq"]);
        if !left.trim().is_empty() {
            bad.push(format!("containers left behind: {left}"));
        }
        return bad.into_iter().map(|m| format!("{name}: {m}")).collect();
    }
    if r.code != 0 {
        return vec![format!("{name}: build failed: {}{}", r.stdout, r.stderr)];
    }
    let img = inspect(b, &tag);
    for (k, want) in expect["config"].as_object().into_iter().flatten() {
        let got = img["Config"].get(k).cloned().unwrap_or(Value::Null);
        if &got != want {
            bad.push(format!("Config.{k} = {got}, want {want}"));
        }
    }
    if let Some(a) = expect.get("author")
        && &img["Author"] != a
    {
        bad.push(format!("Author = {}, want {a}", img["Author"]));
    }
    let layers = img["RootFS"]["Layers"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if let Some(n) = expect["layers"].as_u64()
        && layers as u64 != n + 1
    {
        bad.push(format!("{} layers on busybox's one, want {n}", layers - 1));
    }
    if let Some(n) = expect["layers_total"].as_u64()
        && layers as u64 != n
    {
        bad.push(format!("{layers} layers, want {n}"));
    }
    if let Some(want) = expect["history"].as_array() {
        let got = history(b, &tag);
        let want: Vec<String> = want
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        if got.len() < want.len() || got[got.len() - want.len()..] != want[..] {
            bad.push(format!("history ends {got:?}, want {want:?}"));
        }
    }
    let needs_mount = expect.get("files").is_some() || expect.get("stat").is_some();
    if needs_mount {
        let root = PathBuf::from(b.ok(&["image", "mount", &tag]).trim());
        for (path, want) in expect["files"].as_object().into_iter().flatten() {
            let p = root.join(path.trim_start_matches('/'));
            match (want.as_str(), std::fs::read_to_string(&p)) {
                (Some(w), Ok(got)) if got == w => {}
                (Some(w), got) => bad.push(format!("{path}: {got:?}, want {w:?}")),
                (None, _) => {
                    if std::fs::symlink_metadata(&p).is_ok() {
                        bad.push(format!("{path} should not exist"));
                    }
                }
            }
        }
        for (path, want) in expect["stat"].as_object().into_iter().flatten() {
            let p = root.join(path.trim_start_matches('/'));
            match std::fs::symlink_metadata(&p) {
                Ok(m) => {
                    let got = format!("{:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid());
                    if got != want.as_str().unwrap() {
                        bad.push(format!("{path}: {got}, want {want}"));
                    }
                }
                Err(e) => bad.push(format!("{path}: {e}")),
            }
        }
        b.ok(&["image", "umount", &tag]);
    }
    bad.into_iter().map(|m| format!("{name}: {m}")).collect()
}

/// One test per case of the corpus, named after its directory.
macro_rules! corpus {
    ($($test:ident => $dir:literal,)*) => {
        /// Every case's directory, in order.
        const CASES: &[&str] = &[$($dir),*];

        mod corpus {
            $(
                #[test]
                fn $test() {
                    super::run_case($dir);
                }
            )*
        }
    };
}

corpus! {
    from_cmd => "01-from-cmd",
    shell_form_cmd => "02-shell-form-cmd",
    entrypoint_resets_inherited_cmd => "03-entrypoint-resets-inherited-cmd",
    entrypoint_and_cmd => "04-entrypoint-and-cmd",
    env_forms => "05-env-forms",
    env_overrides_arg => "06-env-overrides-arg",
    arg_default_and_build_arg => "07-arg-default-and-build-arg",
    arg_before_from => "08-arg-before-from",
    substitution_modifiers => "09-substitution-modifiers",
    labels => "10-labels",
    workdir_relative => "11-workdir-relative",
    workdir_variables => "12-workdir-variables",
    user => "13-user",
    expose => "14-expose",
    volume => "15-volume",
    shell => "16-shell",
    stopsignal => "17-stopsignal",
    healthcheck => "18-healthcheck",
    healthcheck_none => "19-healthcheck-none",
    onbuild_triggers => "20-onbuild-triggers",
    maintainer => "21-maintainer",
    copy_file_rename => "22-copy-file-rename",
    copy_dir_contents => "23-copy-dir-contents",
    copy_globs => "24-copy-globs",
    copy_many_needs_slash => "25-copy-many-needs-slash",
    copy_missing_source => "26-copy-missing-source",
    copy_chown_chmod => "27-copy-chown-chmod",
    copy_into_existing_dir => "28-copy-into-existing-dir",
    dockerignore => "29-dockerignore",
    add_archive => "30-add-archive",
    heredoc_run => "31-heredoc-run",
    heredoc_copy => "32-heredoc-copy",
    escape_directive => "33-escape-directive",
    continuations_and_comments => "34-continuations-and-comments",
    multistage_copy_from => "35-multistage-copy-from",
    target => "36-target",
    scratch => "37-scratch",
    run_fails => "38-run-fails",
    unknown_instruction => "39-unknown-instruction",
    exec_form_run => "40-exec-form-run",
    copy_from_image => "41-copy-from-image",
    run_deletes_and_replaces => "42-run-deletes-and-replaces",
    no_mount_point_stubs => "43-no-mount-point-stubs",
    unknown_stage_target => "44-unknown-stage-target",
}

/// Builds one case of the corpus in a store of its own.
fn run_case(dir: &str) {
    let Some(b) = setup() else { return };
    let failures = check_case(&b, &corpus().join(dir));
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A case added to `tests/build/` but not to the list above would never run.
#[test]
fn corpus_lists_every_case() {
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, CASES, "tests/build/ and the corpus! list differ");
}

/// Builds `ctx` with plain progress; returns (image ID, steps served from the cache).
fn build_counting(b: &Berth, ctx: &Path, extra: &[&str]) -> (String, Vec<usize>) {
    let iid = ctx.with_extension("iid");
    let mut args = vec![
        "build",
        "--progress",
        "plain",
        "--iidfile",
        iid.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    let r = b.run(&args);
    assert_eq!(r.code, 0, "build: {}", r.stderr);
    let cached = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_suffix(" CACHED")?.strip_prefix('#')?.parse().ok())
        .collect();
    (std::fs::read_to_string(iid).unwrap(), cached)
}

#[test]
fn cache_is_invalidated_by_what_changed_and_nothing_else() {
    let Some(b) = setup() else { return };
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let write = |name: &str, text: &str| std::fs::write(ctx.join(name), text).unwrap();
    write(
        "Dockerfile",
        "FROM busybox\nARG X\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY . /ctx/\nENV E=1\n",
    );
    write(".dockerignore", "ignored.txt\n");
    write("a.txt", "a\n");
    write("b.txt", "b\n");
    write("ignored.txt", "i\n");
    // Steps: 1 FROM, 2 ARG, 3 RUN, 4 COPY a, 5 RUN, 6 COPY ., 7 ENV.
    let (first, cached) = build_counting(&b, &ctx, &[]);
    assert!(cached.is_empty(), "a first build uses no cache: {cached:?}");
    let (again, cached) = build_counting(&b, &ctx, &[]);
    assert_eq!(again, first, "an unchanged rebuild is the same image");
    assert_eq!(cached, vec![3, 4, 5, 6, 7]);

    // A new mtime, the same bytes: still cached. An ignored file: not seen.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("a.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    write("ignored.txt", "changed\n");
    let (same, cached) = build_counting(&b, &ctx, &[]);
    assert_eq!(
        (same.as_str(), cached.as_slice()),
        (first.as_str(), &[3, 4, 5, 6, 7][..])
    );

    // b.txt is only in the last COPY.
    write("b.txt", "b2\n");
    let (_, cached) = build_counting(&b, &ctx, &[]);
    assert_eq!(cached, vec![3, 4, 5], "b.txt invalidates from COPY . on");

    // a.txt is in the first COPY: everything after it runs again.
    write("a.txt", "a2\n");
    let (_, cached) = build_counting(&b, &ctx, &[]);
    assert_eq!(cached, vec![3], "a.txt invalidates from COPY a.txt on");

    // A build arg in scope changes the RUNs after it.
    let (_, cached) = build_counting(&b, &ctx, &["--build-arg", "X=1"]);
    assert!(cached.is_empty(), "X=1 reaches every RUN: {cached:?}");
    let (_, cached) = build_counting(&b, &ctx, &["--build-arg", "X=1"]);
    assert_eq!(cached, vec![3, 4, 5, 6, 7]);

    // --no-cache builds everything (and says nothing is cached).
    let (fresh, cached) = build_counting(&b, &ctx, &["--no-cache"]);
    assert!(cached.is_empty());
    assert_ne!(fresh, first);

    // The cache survives image removal and goes with builder prune.
    b.ok(&["rmi", "-f", first.trim()]);
    let pruned = b.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Deleted build cache objects"), "{pruned}");
    let (_, cached) = build_counting(&b, &ctx, &[]);
    assert!(cached.is_empty(), "after builder prune: {cached:?}");
}

#[test]
fn contexts_from_stdin_and_quiet_output() {
    let Some(b) = setup() else { return };
    // A Dockerfile on stdin: no context.
    let r = b.run_stdin(
        &["build", "-q", "-t", "fromstdin", "-"],
        b"FROM busybox\nRUN echo hi > /hi\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.stdout.trim();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "-q prints the ID: {id}"
    );
    assert!(r.stderr.is_empty(), "-q prints nothing else: {}", r.stderr);
    // A tar archive on stdin is the context.
    let mut t = crate::fixtures::Tar::new();
    t.file("Dockerfile", b"FROM busybox\nCOPY in.txt /in.txt\n")
        .file("in.txt", b"tar context\n");
    let r = b.run_stdin(
        &["build", "-q", "-t", "fromtar", "-"],
        &crate::fixtures::gzip(&t.bytes()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = b.ok(&["run", "--rm", "fromtar", "cat", "/in.txt"]);
    assert_eq!(out, "tar context\n");
    // -f - with a directory context.
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "file\n").unwrap();
    let r = b.run_stdin(
        &["build", "-q", "-f", "-", ctx.to_str().unwrap()],
        b"FROM busybox\nCOPY f /f\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Unparseable: the line and exit 1, nothing left.
    let r = b.run_stdin(&["build", "-"], b"FROM busybox\nCOPY\n");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("Dockerfile:2"), "{}", r.stderr);
}

#[test]
fn interrupt_cancels_a_running_step_and_leaves_nothing() {
    let Some(b) = setup() else { return };
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo started; sleep 60\n",
    )
    .unwrap();
    let child = b
        .cmd(&["build", "--progress", "plain", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the step's container to run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.run(&["ps", "-q"]).stdout.trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("canceled"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "cancel took {:?}",
        started.elapsed()
    );
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "", "no container is left");
    let build_mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(b.runroot().to_str().unwrap()))
        .count();
    assert_eq!(build_mounts, 0, "no mount is left");
}

#[test]
fn add_from_urls_and_a_context_from_a_url() {
    let Some(b) = setup() else { return };
    if !crate::require_tool("python3") {
        return;
    }
    let served = b.path("www");
    std::fs::create_dir(&served).unwrap();
    std::fs::write(served.join("data.txt"), "remote\n").unwrap();
    let mut ctx = crate::fixtures::Tar::new();
    ctx.file("Dockerfile", b"FROM busybox\nCOPY in.txt /in.txt\n")
        .file("in.txt", b"from a URL context\n");
    std::fs::write(
        served.join("ctx.tar.gz"),
        crate::fixtures::gzip(&ctx.bytes()),
    )
    .unwrap();
    let (mut server, port) = crate::serve_dir(&served);
    let url = format!("http://127.0.0.1:{port}/data.txt");
    // sha256 of "remote\n".
    let sum = "sha256:6ba7ed2e2b3a4de0d7bd17d2f2a0d2cd4b6dc6c1e7bfc0b47ab2d5a0f5f6b8c8";
    let real_sum = {
        let out = std::process::Command::new("sha256sum")
            .arg(served.join("data.txt"))
            .output()
            .unwrap();
        format!(
            "sha256:{}",
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
        )
    };
    let good = b.run_stdin(
        &["build", "-q", "-t", "addurl", "-"],
        format!("FROM busybox\nADD --checksum={real_sum} {url} /dl/\nADD {url} /named\n")
            .as_bytes(),
    );
    let bad = b.run_stdin(
        &["build", "-q", "-"],
        format!("FROM busybox\nADD --checksum={sum} {url} /dl/\n").as_bytes(),
    );
    let from_url = b.run(&[
        "build",
        "-q",
        "-t",
        "urlctx",
        &format!("http://127.0.0.1:{port}/ctx.tar.gz"),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert_eq!(
        b.ok(&["run", "--rm", "addurl", "cat", "/dl/data.txt", "/named"]),
        "remote\nremote\n"
    );
    let mode = b.ok(&["run", "--rm", "addurl", "ls", "-l", "/named"]);
    assert!(
        mode.starts_with("-rw-------"),
        "ADD of a URL is 0600, as docker's: {mode}"
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("checksum mismatch") && bad.stderr.contains("Dockerfile:2"),
        "{}",
        bad.stderr
    );
    assert_eq!(from_url.code, 0, "{}", from_url.stderr);
    assert_eq!(
        b.ok(&["run", "--rm", "urlctx", "cat", "/in.txt"]),
        "from a URL context\n"
    );
}
