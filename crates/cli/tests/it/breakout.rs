//! The breakout corpus: attempts from inside a default container to reach
//! the host, each of which must fail — for the reason given — with both
//! runtimes. docs/security.md reports the table.

use crate::containers::setup;
use crate::{Berth, require_tool};

/// An attempt: its name, the shell script that tries it, and what its output
/// must show (the reason it fails; `|` separates alternatives).
pub(crate) struct Attempt {
    pub(crate) name: &'static str,
    pub(crate) script: &'static str,
    pub(crate) shows: &'static str,
}

pub(crate) const CORPUS: &[Attempt] = &[
    Attempt {
        name: "unshare -U (a user namespace: mounts, keyrings; CVE-2022-0185)",
        script: "unshare -U true",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "unshare -m -n (other namespaces)",
        script: "unshare -m -n true",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "mount a tmpfs",
        script: "mount -t tmpfs none /tmp",
        shows: "permission denied",
    },
    Attempt {
        name: "mount a cgroup v1 hierarchy for release_agent (CVE-2022-0492)",
        script: "mkdir -p /tmp/cg && mount -t cgroup -o rdma cgroup /tmp/cg",
        shows: "permission denied",
    },
    Attempt {
        name: "write release_agent of the mounted cgroups",
        script: "n=0; for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent; do [ -e $f ] && n=1 && echo /x > $f; done; [ $n = 0 ] && echo none visible; false",
        shows: "ead-only file system|none visible",
    },
    Attempt {
        name: "write /proc/sysrq-trigger",
        script: "echo b > /proc/sysrq-trigger",
        shows: "ead-only file system|nonexistent directory",
    },
    Attempt {
        name: "write /proc/sys (kernel.panic)",
        script: "echo 1 > /proc/sys/kernel/panic",
        shows: "ead-only file system",
    },
    Attempt {
        name: "write /sys (uevent_helper)",
        script: "echo /x > /sys/kernel/uevent_helper",
        shows: "ead-only file system",
    },
    Attempt {
        name: "read /proc/kcore (masked)",
        script: "n=$(dd if=/proc/kcore bs=1 count=16 2>/dev/null | wc -c); echo bytes=$n; [ $n -gt 0 ]",
        shows: "bytes=0",
    },
    Attempt {
        name: "read /proc/keys and /proc/timer_list (masked)",
        script: "n=$(cat /proc/keys /proc/timer_list 2>/dev/null | wc -c); echo bytes=$n; [ $n -gt 0 ]",
        shows: "bytes=0",
    },
    Attempt {
        name: "mknod a block device and open it (device cgroup)",
        script: "mknod /tmp/sda b 8 0 && dd if=/tmp/sda of=/dev/null bs=512 count=1",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "open /dev/mem through a new node (device cgroup)",
        script: "mknod /tmp/mem c 1 1 && dd if=/tmp/mem of=/dev/null bs=1 count=1",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "see or signal a host process (PID namespace)",
        script: "ls /proc | grep -c '^[0-9]' ; kill -0 2 2>&1; [ $(ls /proc | grep -c '^[0-9]') -gt 4 ]",
        shows: "No such process",
    },
    Attempt {
        name: "overwrite the runtime through /proc/1/exe (CVE-2019-5736)",
        script: "echo x >> /proc/1/exe",
        shows: "xt file busy",
    },
    Attempt {
        name: "raise the open-files hard limit",
        script: "ulimit -H -n 1048576",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "set the host's clock",
        script: "date -s '2001-01-01 00:00:00'; [ $(date +%Y) = 2001 ]",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "load a kernel module",
        script: "insmod /tmp/nothing.ko 2>&1; echo x > /tmp/nothing.ko; insmod /tmp/nothing.ko",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "chroot out (needs CAP_SYS_CHROOT, kept by docker: stays inside the root)",
        script: "mkdir -p /tmp/j && chroot /tmp/j /bin/true",
        shows: "No such file",
    },
    Attempt {
        name: "pivot_root",
        script: "mkdir -p /tmp/old && pivot_root / /tmp/old",
        shows: "Operation not permitted",
    },
    Attempt {
        name: "nsenter the host's namespaces through PID 1",
        script: "nsenter -t 1 -m -n true && ls /proc/1/root/ | grep -q berth-it",
        shows: "Operation not permitted",
    },
];

fn attempt(b: &Berth, runtime: Option<&str>, a: &Attempt) -> (i32, String) {
    let mut args = vec!["run", "--rm"];
    if let Some(r) = runtime {
        args.extend(["--runtime", r]);
    }
    args.extend(["busybox", "sh", "-c", a.script]);
    let r = b.run(&args);
    (r.code, r.stdout + &r.stderr)
}

#[test]
fn every_breakout_attempt_fails_for_its_reason() {
    let Some(b) = setup() else { return };
    let mut runtimes = vec![None];
    if require_tool("runc") {
        runtimes.push(Some("/usr/sbin/runc"));
    }
    let mut failures = Vec::new();
    for rt in runtimes {
        for a in CORPUS {
            let (code, out) = attempt(&b, rt, a);
            if code == 0 || !a.shows.split('|').any(|s| out.contains(s)) {
                failures.push(format!("{rt:?} {}: exit {code}: {out}", a.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "attempts that did not fail as expected:\n{}",
        failures.join("\n")
    );
}

/// A working directory through a leaked descriptor (CVE-2024-21626):
/// refused before the process runs, or confined to the container.
#[test]
fn a_working_directory_through_proc_self_fd_does_not_reach_the_host() {
    let Some(b) = setup() else { return };
    for fd in 3..10 {
        let wd = format!("/proc/self/fd/{fd}");
        let r = b.run(&[
            "run",
            "--rm",
            "-w",
            &wd,
            "busybox",
            "sh",
            "-c",
            "ls ../../../ 2>&1; cat ../../../etc/hostname 2>&1",
        ]);
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        assert!(
            r.code != 0 || host.trim().is_empty() || !r.stdout.contains(host.trim()),
            "-w {wd} reached the host: {}{}",
            r.stdout,
            r.stderr
        );
    }
}
