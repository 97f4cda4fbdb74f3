//! Seccomp and security options on real containers, with both runtimes: the
//! default profile's denials (the ones docker's default makes), its
//! relaxation by capabilities, `unconfined`, a profile file in docker's
//! format, `no-new-privileges`, `--privileged`.

use crate::containers::setup;
use crate::{Berth, assert_failed, require_tool};

/// `run --rm [--runtime R] ARGS…`: exit code and output.
fn run(b: &Berth, runtime: Option<&str>, args: &[&str]) -> (i32, String) {
    let mut v = vec!["run", "--rm"];
    if let Some(r) = runtime {
        v.extend(["--runtime", r]);
    }
    v.extend_from_slice(args);
    let r = b.run(&v);
    (r.code, r.stdout + &r.stderr)
}

fn runtimes() -> Vec<Option<&'static str>> {
    let mut v = vec![None];
    if require_tool("runc") {
        v.push(Some("/usr/sbin/runc"));
    }
    v
}

#[test]
fn the_default_profile_denies_what_dockers_denies_and_capabilities_relax_it() {
    let Some(b) = setup() else { return };
    for rt in runtimes() {
        // A filter is on (mode 2), and creating a user namespace — the door
        // to mounts and keyrings of CVE-2022-0185 — is refused.
        let (code, out) = run(
            &b,
            rt,
            &["busybox", "grep", "Seccomp:", "/proc/self/status"],
        );
        assert_eq!(
            (code, out.split_whitespace().last()),
            (0, Some("2")),
            "{rt:?}: {out}"
        );
        let (code, out) = run(&b, rt, &["busybox", "unshare", "-U", "true"]);
        assert_ne!(code, 0, "{rt:?}: unshare -U got through: {out}");
        assert!(out.contains("Operation not permitted"), "{rt:?}: {out}");
        // CAP_SYS_ADMIN relaxes it, as in docker: unshare and mount.
        let (code, out) = run(
            &b,
            rt,
            &[
                "--cap-add",
                "SYS_ADMIN",
                "busybox",
                "sh",
                "-c",
                "unshare -U true && mount -t tmpfs none /tmp && echo mounted",
            ],
        );
        assert_eq!(code, 0, "{rt:?}: {out}");
        assert!(out.contains("mounted"));
        // unconfined: no filter at all; --privileged: none either.
        for opts in [
            &["--security-opt", "seccomp=unconfined"][..],
            &["--privileged"],
        ] {
            let mut args = opts.to_vec();
            args.extend([
                "busybox",
                "sh",
                "-c",
                "grep Seccomp: /proc/self/status && unshare -U true && echo free",
            ]);
            let (code, out) = run(&b, rt, &args);
            assert_eq!(code, 0, "{rt:?} {opts:?}: {out}");
            assert!(
                out.contains("Seccomp:\t0") && out.contains("free"),
                "{rt:?} {opts:?}: {out}"
            );
        }
    }
}

#[test]
fn profiles_in_dockers_format_and_no_new_privileges() {
    let Some(b) = setup() else { return };
    let profile = b.file(
        "no-mkdir.json",
        br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    );
    let opt = format!("seccomp={}", profile.display());
    for rt in runtimes() {
        let (code, out) = run(
            &b,
            rt,
            &["--security-opt", &opt, "busybox", "mkdir", "/tmp/x"],
        );
        assert_ne!(code, 0, "{rt:?}: {out}");
        assert!(out.contains("Operation not permitted"), "{rt:?}: {out}");
        let (code, _) = run(&b, rt, &["busybox", "mkdir", "/tmp/x"]);
        assert_eq!(code, 0, "{rt:?}: the default allows mkdir");
        let (code, out) = run(
            &b,
            rt,
            &[
                "--security-opt",
                "no-new-privileges",
                "busybox",
                "grep",
                "NoNewPrivs:",
                "/proc/self/status",
            ],
        );
        assert_eq!(
            (code, out.split_whitespace().last()),
            (0, Some("1")),
            "{rt:?}: {out}"
        );
    }
    // What was asked shows in inspect; info names the profile.
    let id = b.ok(&[
        "create",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "true",
    ]);
    let opts = b.ok(&[
        "inspect",
        "-f",
        "{{json .HostConfig.SecurityOpt}}",
        id.trim(),
    ]);
    assert_eq!(opts.trim(), r#"["no-new-privileges"]"#);
    let info = b.ok(&["info"]);
    assert!(
        info.contains("Security Options:\n  seccomp\n   Profile: builtin"),
        "{info}"
    );
    // Bad options: one line, exit 1, nothing made.
    let bad_json = b.file("bad.json", b"{ not json");
    let bad = format!("seccomp={}", bad_json.display());
    for args in [
        &["--security-opt", "seccomp=/nonexistent/profile.json"][..],
        &["--security-opt", &bad],
        &["--security-opt", "apparmor=unknown"],
        &["--security-opt", "no-new-privileges=maybe"],
    ] {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        v.extend(["busybox", "true"]);
        let r = b.run(&v);
        assert_failed(&r, args);
    }
}
