//! Seccomp: docker's profile format (`--security-opt seccomp=PROFILE.json`)
//! and berth's default profile in it, turned into the OCI spec's
//! `linux.seccomp` for the container's capabilities and the host's
//! architecture — the rules moby's default profile follows: an allow-list by
//! syscall, everything else `EPERM`; namespaces, mounts, keyrings, BPF, kernel
//! modules, the clock and the like only with the capability that governs
//! them; `clone` without namespace flags; `clone3` answered `ENOSYS` so libc
//! falls back to the `clone` the filter can inspect.
//!
//! The lists are berth's, written here from the kernel's syscall table and the
//! capabilities that guard each call (moby's profile was the reference for
//! which call goes where).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use std::path::{Path, PathBuf};

use crate::Error;

/// A profile in docker's format.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The action for every syscall no rule names.
    pub default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Native architectures and the ones they also run.
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    /// The older form: the architectures, flat.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// The rules.
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// An architecture and its sub-architectures (`SCMP_ARCH_X86_64` runs
/// `SCMP_ARCH_X86` and `SCMP_ARCH_X32` code).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// The native architecture.
    pub architecture: String,
    /// What else it runs.
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

/// One rule: syscalls, an action, argument conditions, and when it applies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The syscalls.
    #[serde(default)]
    pub names: Vec<String>,
    /// The older form: one syscall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, …
    pub action: String,
    /// The errno of an `SCMP_ACT_ERRNO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all of which must hold.
    #[serde(default)]
    pub args: Vec<Arg>,
    /// The rule applies only with all these.
    #[serde(default)]
    pub includes: Filter,
    /// The rule does not apply with any of these.
    #[serde(default)]
    pub excludes: Filter,
}

/// An argument condition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// The argument's index.
    pub index: u32,
    /// The value compared.
    pub value: u64,
    /// The second value (the mask of `SCMP_CMP_MASKED_EQ`).
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_EQ`, `SCMP_CMP_NE`, `SCMP_CMP_MASKED_EQ`, …
    pub op: String,
}

/// When a rule applies: capabilities, architectures, a minimum kernel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`).
    #[serde(default)]
    pub caps: Vec<String>,
    /// Architectures (`amd64`, `arm64`, … as Go names them).
    #[serde(default)]
    pub arches: Vec<String>,
    /// A kernel version (`4.8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// Every syscall a process may make whatever its capabilities.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Calls that only the process's own architecture family has.
const X86_ONLY: &[&str] = &["arch_prctl", "modify_ldt"];

/// Calls a capability unlocks, by capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The namespace flags of `clone`: CLONE_NEWNS, CLONE_NEWCGROUP,
/// CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET.
const CLONE_NAMESPACES: u64 = 0x7E02_0000;

/// `personality` values that only choose a Linux flavour.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

const ENOSYS: u32 = 38;

fn allow(names: &[&str]) -> Rule {
    Rule {
        names: names.iter().map(|n| n.to_string()).collect(),
        action: "SCMP_ACT_ALLOW".into(),
        ..Default::default()
    }
}

fn caps(list: &[&str]) -> Filter {
    Filter {
        caps: list.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    }
}

impl Profile {
    /// berth's default profile.
    pub fn builtin() -> Profile {
        let mut syscalls = vec![allow(ALLOWED)];
        for p in PERSONALITIES {
            syscalls.push(Rule {
                args: vec![Arg {
                    index: 0,
                    value: *p,
                    value_two: 0,
                    op: "SCMP_CMP_EQ".into(),
                }],
                ..allow(&["personality"])
            });
        }
        syscalls.push(Rule {
            includes: Filter {
                arches: vec!["amd64".into(), "x32".into(), "x86".into()],
                ..Default::default()
            },
            ..allow(X86_ONLY)
        });
        // Sockets of every family but vsock (the host's hypervisor channel).
        syscalls.push(Rule {
            args: vec![Arg {
                index: 0,
                value: 40,
                value_two: 0,
                op: "SCMP_CMP_NE".into(),
            }],
            ..allow(&["socket"])
        });
        // clone without namespace flags; every clone with CAP_SYS_ADMIN.
        syscalls.push(Rule {
            args: vec![Arg {
                index: 0,
                value: 0,
                value_two: CLONE_NAMESPACES,
                op: "SCMP_CMP_MASKED_EQ".into(),
            }],
            excludes: Filter {
                caps: vec!["CAP_SYS_ADMIN".into()],
                arches: vec!["s390".into(), "s390x".into()],
                ..Default::default()
            },
            ..allow(&["clone"])
        });
        syscalls.push(Rule {
            names: vec!["clone3".into()],
            action: "SCMP_ACT_ERRNO".into(),
            errno_ret: Some(ENOSYS),
            excludes: caps(&["CAP_SYS_ADMIN"]),
            ..Default::default()
        });
        for (cap, names) in BY_CAPABILITY {
            syscalls.push(Rule {
                includes: caps(&[cap]),
                ..allow(names)
            });
        }
        Profile {
            default_action: "SCMP_ACT_ERRNO".into(),
            default_errno_ret: Some(1),
            arch_map: vec![
                // Not x32, unlike moby: its rules cost ~10 ms at every start
                // (libseccomp builds a third filter), Debian's kernels refuse
                // x32 syscalls unless booted with syscall.x32=y, and an x32
                // process in a container is killed by the filter (its
                // architecture is not in it), never let through.
                ArchMap {
                    architecture: "SCMP_ARCH_X86_64".into(),
                    sub_architectures: vec!["SCMP_ARCH_X86".into()],
                },
                ArchMap {
                    architecture: "SCMP_ARCH_AARCH64".into(),
                    sub_architectures: vec!["SCMP_ARCH_ARM".into()],
                },
                ArchMap {
                    architecture: "SCMP_ARCH_PPC64LE".into(),
                    sub_architectures: vec![],
                },
                ArchMap {
                    architecture: "SCMP_ARCH_S390X".into(),
                    sub_architectures: vec!["SCMP_ARCH_S390".into()],
                },
                ArchMap {
                    architecture: "SCMP_ARCH_RISCV64".into(),
                    sub_architectures: vec![],
                },
            ],
            architectures: Vec::new(),
            syscalls,
        }
    }

    /// A profile from docker's JSON, checked.
    pub fn parse(text: &str) -> Result<Profile, Error> {
        let p: Profile = serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid seccomp profile: {e}")))?;
        if !p.default_action.starts_with("SCMP_ACT_") {
            return Err(Error::Invalid(format!(
                "invalid seccomp profile: unknown defaultAction {:?}",
                p.default_action
            )));
        }
        for r in &p.syscalls {
            if !r.action.starts_with("SCMP_ACT_") {
                return Err(Error::Invalid(format!(
                    "invalid seccomp profile: unknown action {:?}",
                    r.action
                )));
            }
        }
        Ok(p)
    }

    /// The OCI `linux.seccomp` for a process with capabilities `caps`
    /// (`CAP_…` names) on this host.
    pub fn to_oci(&self, caps: &[String]) -> Value {
        let (goarch, native) = native_arch();
        let kernel = kernel_version();
        let mut arches: Vec<String> = self.architectures.clone();
        for m in &self.arch_map {
            if m.architecture == native {
                arches.push(m.architecture.clone());
                arches.extend(m.sub_architectures.iter().cloned());
            }
        }
        let has_cap = |c: &String| caps.iter().any(|x| x == c);
        let mut syscalls = Vec::new();
        for r in &self.syscalls {
            if !r.includes.caps.iter().all(has_cap)
                || (!r.includes.arches.is_empty() && !r.includes.arches.iter().any(|a| a == goarch))
                || r.excludes.caps.iter().any(has_cap)
                || r.excludes.arches.iter().any(|a| a == goarch)
                || r.includes
                    .min_kernel
                    .as_deref()
                    .is_some_and(|k| parse_kernel(k) > kernel)
            {
                continue;
            }
            let mut names = r.names.clone();
            names.extend(r.name.clone());
            let mut rule = json!({"names": names, "action": r.action});
            if let Some(e) = r.errno_ret {
                rule["errnoRet"] = json!(e);
            }
            if !r.args.is_empty() {
                rule["args"] = r
                    .args
                    .iter()
                    .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                    .collect();
            }
            syscalls.push(rule);
        }
        let mut out = json!({"defaultAction": self.default_action, "syscalls": syscalls});
        if let Some(e) = self.default_errno_ret {
            out["defaultErrnoRet"] = json!(e);
        }
        if !arches.is_empty() {
            out["architectures"] = json!(arches);
        }
        out
    }
}

/// The BPF program of an OCI `linux.seccomp` (as [`Profile::to_oci`]
/// writes it), compiled once by libseccomp and kept in `cache` under the
/// hash of the profile: the built-in runtime loads it (spec annotation
/// `io.berth.seccomp.bpf`) instead of compiling several hundred rules
/// for three architectures at every start, the largest part of the
/// filter's cost. Returns the program's path.
pub fn compiled(oci: &Value, cache: &Path) -> Result<PathBuf, Error> {
    let mut h = berth_oci::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(oci.to_string().as_bytes());
    let path = cache.join(format!("{}.bpf", h.finish().hex()));
    if path.is_file() {
        return Ok(path);
    }
    let seccomp: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(oci.clone())
        .map_err(|e| Error::Invalid(format!("seccomp profile: {e}")))?;
    let mut ctx = libcontainer::seccomp::filter_context(&seccomp)
        .map_err(|e| Error::Invalid(format!("seccomp profile: {e}")))?;
    // A binary tree of syscall numbers rather than a list: every syscall the
    // container makes is checked in a few jumps instead of hundreds.
    ctx.set_ctl_optimize(2)
        .map_err(|e| Error::Invalid(format!("seccomp profile: {e}")))?;
    std::fs::create_dir_all(cache).map_err(Error::io(cache))?;
    // Whole or absent: written aside (a name of this process's), then renamed.
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
    let written = ctx
        .export_bpf(&file)
        .map_err(|e| Error::Invalid(format!("seccomp profile: {e}")))
        .and_then(|()| file.sync_all().map_err(Error::io(&tmp)))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(Error::io(&path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    Ok(path)
}

/// Go's name of this architecture and libseccomp's.
fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "x86" => ("386", "SCMP_ARCH_X86"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        _ => ("unknown", "unknown"),
    }
}

fn parse_kernel(v: &str) -> (u32, u32) {
    let mut it = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn kernel_version() -> (u32, u32) {
    let u = rustix::system::uname();
    parse_kernel(&u.release().to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_compiled_once_per_content() {
        let cache = tempfile::tempdir().unwrap();
        let caps: Vec<String> = crate::spec::DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .collect();
        let oci = Profile::builtin().to_oci(&caps);
        let path = compiled(&oci, cache.path()).unwrap();
        let program = std::fs::read(&path).unwrap();
        // struct sock_filter: 8 bytes each; hundreds of them for three arches.
        assert!(
            program.len().is_multiple_of(8) && program.len() / 8 > 100,
            "{}",
            program.len()
        );
        let made = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(compiled(&oci, cache.path()).unwrap(), path);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), made);
        // Another capability set is another profile, another program.
        let admin: Vec<String> = caps
            .iter()
            .cloned()
            .chain(["CAP_SYS_ADMIN".into()])
            .collect();
        let other = compiled(&Profile::builtin().to_oci(&admin), cache.path()).unwrap();
        assert_ne!(other, path);
        assert_eq!(
            std::fs::read_dir(cache.path()).unwrap().count(),
            2,
            "no temporary left"
        );
    }

    fn names(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn the_default_relaxes_with_capabilities() {
        let p = Profile::builtin();
        let plain = p.to_oci(&["CAP_CHOWN".into()]);
        assert_eq!(plain["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed = names(&plain);
        for denied in [
            "mount",
            "unshare",
            "keyctl",
            "add_key",
            "bpf",
            "open_by_handle_at",
            "init_module",
            "ptrace",
            "setns",
        ] {
            assert!(
                !allowed.iter().any(|n| n == denied),
                "{denied} allowed without its capability"
            );
        }
        assert!(allowed.iter().any(|n| n == "read"));
        let admin = names(&p.to_oci(&["CAP_SYS_ADMIN".into(), "CAP_SYS_PTRACE".into()]));
        for ok in [
            "mount",
            "unshare",
            "setns",
            "clone",
            "ptrace",
            "process_vm_readv",
        ] {
            assert!(
                admin.iter().any(|n| n == ok),
                "{ok} not allowed with its capability"
            );
        }
        assert!(!admin.iter().any(|n| n == "keyctl"), "keyrings stay out");
        // clone3 is ENOSYS without CAP_SYS_ADMIN; clone needs no namespace flag.
        let text = plain.to_string();
        assert!(
            text.contains(r#""names":["clone3"]"#) && text.contains(r#""errnoRet":38"#),
            "{text}"
        );
        assert!(text.contains("SCMP_CMP_MASKED_EQ"));
    }

    #[test]
    fn dockers_format_parses_and_bad_profiles_are_refused() {
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        )
        .unwrap();
        let oci = p.to_oci(&[]);
        assert_eq!(oci["syscalls"][0]["names"][0], "mkdir");
        for bad in [
            "",
            "{",
            r#"{"defaultAction":"ALLOW"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"KILL"}]}"#,
        ] {
            let e = Profile::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid seccomp profile"), "{bad}: {e}");
        }
    }
}
