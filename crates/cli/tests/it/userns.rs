//! User namespaces on real containers: `--userns=auto` (a range per
//! container, taken in the database) and `userns-remap` (docker's
//! daemon.json key), with both runtimes. What is checked on the host, not
//! only inside: who owns what the container writes, that two containers'
//! ranges are disjoint, that the image's layer is neither copied nor
//! chowned, and that exec, cp, commit and export see the container's IDs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::containers::{inspect, setup};
use crate::{Berth, require_tool};

/// The first host UID of a running container's map (`0 HOST SIZE`).
fn host_root(b: &Berth, name: &str) -> (u32, u32) {
    let pid = inspect(b, name, "{{.State.Pid}}");
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
    let f: Vec<u32> = map
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(f.len(), 3, "{name}: one map line expected: {map}");
    assert_eq!(f[0], 0, "{name}: {map}");
    (f[1], f[2])
}

/// `/proc/self/uid_map` of a `--userns host` container, split.
fn host_userns_map(b: &Berth) -> Vec<String> {
    b.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ])
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// The image's one layer directory, from a container's overlay lowers.
fn layer_dir(b: &Berth, name: &str) -> PathBuf {
    let lower = inspect(b, name, "{{.GraphDriver.Data.LowerDir}}");
    PathBuf::from(lower.split(':').next_back().expect("a lower dir"))
}

#[test]
fn userns_auto_gives_each_container_its_own_range_without_copying_layers() {
    let Some(b) = setup() else { return };
    // Under a directory of mode 0700 the container's root, an unprivileged
    // host user, cannot reach its rootfs, and berth says so.
    std::fs::set_permissions(b.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = b.fail(&["run", "--rm", "--userns", "auto", "busybox", "true"]);
    assert!(err.contains("is not searchable by others"), "{err}");
    std::fs::set_permissions(b.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();

    let mut runtimes = vec![None];
    if require_tool("runc") {
        runtimes.push(Some("/usr/sbin/runc"));
    }
    let mut ranges = Vec::new();
    for (i, rt) in runtimes.iter().enumerate() {
        let name = format!("u{i}");
        let mut args = vec!["run", "-d", "--name", &name, "--userns", "auto"];
        if let Some(r) = rt {
            args.extend(["--runtime", r]);
        }
        args.extend([
            "busybox",
            "sh",
            "-c",
            "touch /made && mkdir -p /home/www && chown 33:33 /home/www && sleep 600",
        ]);
        b.ok(&args);
        let pid = inspect(&b, &name, "{{.State.Pid}}");
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        crate::containers::wait_for("the container's files", || root.join("home/www").exists());
        let (start, size) = host_root(&b, &name);
        assert!(start > 0 && size == 65536, "{rt:?}: {start} {size}");
        // Root inside is `start` outside: on its files and its process.
        assert_eq!(owner(&root.join("made")), (start, start), "{rt:?}");
        assert_eq!(owner(&root.join("home/www")), (start + 33, start + 33));
        let upper = PathBuf::from(inspect(&b, &name, "{{.GraphDriver.Data.UpperDir}}"));
        assert_eq!(owner(&upper.join("made")), (start, start));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(uid_line.contains(&start.to_string()), "{uid_line}");
        // Inside, the image's files are root's; on disk the layer is
        // untouched (still root's, the very inode the container reads).
        assert_eq!(
            b.ok_line(&[
                "exec",
                &name,
                "busybox",
                "stat",
                "-c",
                "%u:%g",
                "/bin/busybox"
            ]),
            "0:0"
        );
        let layer = layer_dir(&b, &name).join("bin/busybox");
        assert_eq!(owner(&layer), (0, 0), "the layer was chowned");
        assert_eq!(
            std::fs::metadata(&layer).unwrap().ino(),
            std::fs::metadata(root.join("bin/busybox")).unwrap().ino(),
            "the layer was copied"
        );
        // An exec'd process is in the container's user namespace too.
        let exec_map = b.ok(&["exec", &name, "cat", "/proc/self/uid_map"]);
        assert_eq!(
            exec_map.split_whitespace().nth(1),
            Some(start.to_string().as_str()),
            "{rt:?}: exec ran outside the user namespace: {exec_map}"
        );
        ranges.push(start);
    }
    if let [a, b2] = ranges[..] {
        assert!(a.abs_diff(b2) >= 65536, "ranges overlap: {a} {b2}");
    }

    // cp, commit and export give the container's IDs, not the host's.
    let out = b.path("made.out");
    b.ok(&["cp", "u0:/home/www", out.to_str().unwrap()]);
    assert_eq!(owner(&out), (33, 33));
    let input = b.file("in.txt", b"hi\n");
    b.ok(&["cp", input.to_str().unwrap(), "u0:/in.txt"]);
    assert_eq!(
        b.ok_line(&["exec", "u0", "busybox", "stat", "-c", "%u:%g", "/in.txt"]),
        "0:0"
    );
    b.ok(&["commit", "u0", "committed"]);
    assert_eq!(
        b.ok_line(&[
            "run",
            "--rm",
            "committed",
            "busybox",
            "stat",
            "-c",
            "%u:%g %n",
            "/made",
            "/home/www"
        ]),
        "0:0 /made\n33:33 /home/www"
    );
    let tar = b.path("export.tar");
    b.ok(&["export", "-o", tar.to_str().unwrap(), "u0"]);
    let listing = std::process::Command::new("tar")
        .args(["tvf", tar.to_str().unwrap(), "made", "home/www/"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("0/0") && listing.contains("33/33"),
        "{listing}"
    );

    // --userns host, and what user namespaces refuse, as docker does.
    assert_eq!(host_userns_map(&b), ["0", "0", "4294967295"]);
    let err = b.fail(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        "--privileged",
        "busybox",
        "true",
    ]);
    assert!(err.contains("privileged mode is incompatible"), "{err}");
    let err = b.fail(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        "--network",
        "host",
        "busybox",
        "true",
    ]);
    assert!(err.contains("host's network namespace"), "{err}");

    // Removing a container gives its range back: the next one takes it.
    b.ok(&["rm", "-f", "u0"]);
    b.ok(&[
        "run", "-d", "--name", "again", "--userns", "auto", "busybox", "sleep", "600",
    ]);
    assert_eq!(host_root(&b, "again").0, ranges[0]);
    b.ok(&["rm", "-f", "again", "u1"]);
}

#[test]
fn userns_remap_maps_every_container_onto_the_users_ranges() {
    let Some(b) = setup() else { return };
    std::fs::set_permissions(b.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::write(b.path("registries.json"), r#"{"userns-remap": "default"}"#).unwrap();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "rr",
        "busybox",
        "sh",
        "-c",
        "touch /made; sleep 600",
    ]);
    // default: berth's own entries, added to /etc/subuid as dockerd adds
    // dockremap's, and the whole range mapped.
    let line = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("berthremap:").map(str::to_string))
        .expect("a berthremap entry in /etc/subuid");
    let (start, size) = line.split_once(':').unwrap();
    let expected = (start.parse::<u32>().unwrap(), size.parse::<u32>().unwrap());
    assert_eq!(host_root(&b, "rr"), expected);
    let pid = inspect(&b, "rr", "{{.State.Pid}}");
    let made = PathBuf::from(format!("/proc/{pid}/root/made"));
    crate::containers::wait_for("/made", || made.exists());
    assert_eq!(owner(&made), (expected.0, expected.0));
    // Every container shares it; --userns=host opts out.
    b.ok(&["run", "-d", "--name", "rr2", "busybox", "sleep", "600"]);
    assert_eq!(host_root(&b, "rr2"), expected);
    assert_eq!(host_userns_map(&b)[1], "0");
    assert!(b.ok(&["info"]).contains("  userns\n"));
    assert_eq!(inspect(&b, "rr", "{{.HostConfig.UsernsMode}}"), "");
    // A user without subordinate IDs is one clear error.
    std::fs::write(
        b.path("registries.json"),
        r#"{"userns-remap": "no-such-user-here"}"#,
    )
    .unwrap();
    let err = b.fail(&["run", "--rm", "busybox", "true"]);
    assert!(err.contains("no subordinate UIDs"), "{err}");
    b.ok(&["rm", "-f", "rr", "rr2"]);
}
