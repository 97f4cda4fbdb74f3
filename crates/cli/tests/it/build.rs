//! `berth build`: the Dockerfile corpus under `tests/build/` (each case a
//! context with its Dockerfile and an `expect.json` of the image's config,
//! history, layers and files, or the error), the layer cache, Ctrl-C.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixtures::busybox_rootfs;
use crate::{Berth, require_root};

fn setup() -> Option<Berth> {
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

#[test]
fn dockerfile_corpus() {
    let Some(b) = setup() else { return };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        failures.extend(check_case(&b, dir));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
