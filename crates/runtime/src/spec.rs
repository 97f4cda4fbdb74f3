//! The OCI runtime spec (`config.json`) for a container, from what the engine
//! decided: docker's defaults (namespaces, mounts, capabilities, masked paths,
//! devices) plus the user's flags.
//!
//! The document is written as JSON and checked by parsing it into
//! `oci_spec::runtime::Spec`, the type both runtimes read, so a field berth gets
//! wrong fails here and not inside the runtime.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::Error;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel headers name (what `--privileged` grants).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths docker hides from containers (bind-mounted over with /dev/null or an
/// empty read-only tmpfs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only in containers.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The network a container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's network namespace.
    #[default]
    Host,
    /// A new network namespace with only loopback (the engine may plug
    /// interfaces into it once the runtime created it).
    None,
    /// An existing network namespace (`/proc/PID/ns/net` of another
    /// container: `--network container:NAME`).
    Join(std::path::PathBuf),
}

/// A mount into the container besides the defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountSpec {
    /// Where, inside the container.
    pub destination: String,
    /// `bind` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The host path for a bind; empty for tmpfs.
    pub source: String,
    /// Mount options (`ro`, `rbind`, `size=…`, …).
    pub options: Vec<String>,
}

/// The user a process runs as, resolved against the image's /etc/passwd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessUser {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
}

/// Limits on a container's resources (cgroups).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// CPU quota in CPUs (1.5 = one and a half).
    pub cpus: Option<f64>,
    /// Most processes at once.
    pub pids: Option<i64>,
    /// `--cpu-shares`: relative CPU weight (docker's default 1024).
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`: the CPUs it may run on (`0-1,3`).
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`: the memory nodes it may use.
    #[serde(default)]
    pub cpuset_mems: Option<String>,
    /// `--cpu-period`, microseconds of the CFS period.
    #[serde(default)]
    pub cpu_period: Option<u64>,
    /// `--cpu-quota`, microseconds per period.
    #[serde(default)]
    pub cpu_quota: Option<i64>,
    /// `--memory-reservation`: a soft limit, bytes.
    #[serde(default)]
    pub memory_reservation: Option<i64>,
    /// `--memory-swappiness` (0 to 100).
    #[serde(default)]
    pub memory_swappiness: Option<u64>,
    /// `--oom-kill-disable`.
    #[serde(default)]
    pub oom_kill_disable: bool,
    /// `--memory-swap`: memory plus swap, bytes; -1 for unlimited swap.
    #[serde(default)]
    pub memory_swap: Option<i64>,
    /// `--blkio-weight` (10 to 1000).
    #[serde(default)]
    pub blkio_weight: Option<u16>,
}

/// A device node given to the container (`--device`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Device {
    /// Where it appears in the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    /// Its numbers.
    pub major: u32,
    /// Its numbers.
    pub minor: u32,
    /// Its mode bits (permissions) on the host.
    pub file_mode: u32,
    /// The cgroup access: `r`, `w`, `m`, or a mix.
    pub access: String,
}

/// A `--device-cgroup-rule`: `c 1:3 rwm`, `b 8:* r`, `a *:* m`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceRule {
    /// `a`, `c` or `b`.
    pub kind: char,
    /// `None` for `*`.
    pub major: Option<u32>,
    /// `None` for `*`.
    pub minor: Option<u32>,
    /// `r`, `w`, `m`, or a mix.
    pub access: String,
}

impl DeviceRule {
    /// Parses docker's rule syntax.
    pub fn parse(rule: &str) -> Result<DeviceRule, Error> {
        let bad = || Error::Invalid(format!("invalid device cgroup format '{rule}'"));
        let parts: Vec<&str> = rule.split_whitespace().collect();
        let [kind, numbers, access] = parts[..] else {
            return Err(bad());
        };
        let kind = match kind {
            "a" | "c" | "b" => kind.chars().next().ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
        let number = |n: &str| -> Result<Option<u32>, Error> {
            match n {
                "*" => Ok(None),
                n => n.parse().map(Some).map_err(|_| bad()),
            }
        };
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(bad());
        }
        Ok(DeviceRule {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: access.to_string(),
        })
    }

    fn to_oci(&self) -> Value {
        let mut r = json!({"allow": true, "type": self.kind.to_string(), "access": self.access});
        if let Some(m) = self.major {
            r["major"] = json!(m);
        }
        if let Some(m) = self.minor {
            r["minor"] = json!(m);
        }
        r
    }
}

/// Checks a `--cpuset-cpus` list (`0-1,3`) against the CPUs this host has.
pub fn check_cpuset(list: &str, cpus: usize) -> Result<(), Error> {
    let bad = |why: String| Error::Invalid(format!("invalid --cpuset-cpus {list:?}: {why}"));
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let n = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| bad("expected a list such as 0-1,3".into()))
        };
        let (lo, hi) = (n(lo)?, n(hi)?);
        if lo > hi {
            return Err(bad(format!("{lo} is above {hi}")));
        }
        if hi >= cpus {
            return Err(bad(format!(
                "this host has CPUs 0-{}",
                cpus.saturating_sub(1)
            )));
        }
    }
    Ok(())
}

/// One `--ulimit`: docker's `HostConfig.Ulimits` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// docker's name: `nofile`, `nproc`, `core`…
    pub name: String,
    /// The soft limit (`u64::MAX`: unlimited, docker's -1).
    #[serde(serialize_with = "limit_out", deserialize_with = "limit_in")]
    pub soft: u64,
    /// The hard limit.
    #[serde(serialize_with = "limit_out", deserialize_with = "limit_in")]
    pub hard: u64,
}

/// docker writes "unlimited" as -1.
fn limit_out<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    if *v == u64::MAX {
        s.serialize_i64(-1)
    } else {
        s.serialize_u64(*v)
    }
}

fn limit_in<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = i128::deserialize(d)?;
    Ok(if v < 0 {
        u64::MAX
    } else {
        u64::try_from(v).map_err(serde::de::Error::custom)?
    })
}

/// docker's `--ulimit` names and the kernel's resources.
const ULIMITS: &[(&str, rustix::process::Resource)] = {
    use rustix::process::Resource as R;
    &[
        ("as", R::As),
        ("core", R::Core),
        ("cpu", R::Cpu),
        ("data", R::Data),
        ("fsize", R::Fsize),
        ("locks", R::Locks),
        ("memlock", R::Memlock),
        ("msgqueue", R::Msgqueue),
        ("nice", R::Nice),
        ("nofile", R::Nofile),
        ("nproc", R::Nproc),
        ("rss", R::Rss),
        ("rtprio", R::Rtprio),
        ("rttime", R::Rttime),
        ("sigpending", R::Sigpending),
        ("stack", R::Stack),
    ]
};

impl Ulimit {
    /// Parses `NAME=SOFT[:HARD]` (`-1` is unlimited), as docker's flag.
    pub fn parse(text: &str) -> Result<Ulimit, Error> {
        let bad = |why: &str| Error::Invalid(format!("invalid ulimit {text:?}: {why}"));
        let (name, values) = text
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
        let number = |v: &str| -> Result<u64, Error> {
            match v.trim() {
                "-1" | "unlimited" => Ok(u64::MAX),
                v => v.parse().map_err(|_| bad("limits are numbers")),
            }
        };
        let (soft, hard) = match values.split_once(':') {
            Some((s, h)) => (number(s)?, number(h)?),
            None => (number(values)?, number(values)?),
        };
        let u = Ulimit {
            name: name.trim().to_string(),
            soft,
            hard,
        };
        u.check()?;
        Ok(u)
    }

    /// Refuses an unknown name, a soft limit above the hard one, and a hard
    /// limit above this process's own: raising it needs CAP_SYS_RESOURCE,
    /// and the container would fail to start with a less clear error.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |why: String| Error::Invalid(format!("invalid ulimit {}: {why}", self.name));
        let resource = self.resource().ok_or_else(|| {
            bad(format!(
                "unknown name; one of {}",
                ULIMITS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if self.soft > self.hard {
            return Err(bad(format!(
                "soft limit {} is above hard limit {}",
                self.soft, self.hard
            )));
        }
        let ours = rustix::process::getrlimit(resource)
            .maximum
            .unwrap_or(u64::MAX);
        if self.hard > ours {
            return Err(bad(format!(
                "hard limit {} is above this host's {ours}",
                self.hard
            )));
        }
        Ok(())
    }

    fn resource(&self) -> Option<rustix::process::Resource> {
        ULIMITS
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, r)| *r)
    }

    /// The runtime spec's `process.rlimits` entry.
    fn rlimit(&self) -> Value {
        json!({
            "type": format!("RLIMIT_{}", self.name.to_ascii_uppercase()),
            "soft": self.soft,
            "hard": self.hard,
        })
    }
}

/// Refuses a sysctl that is not namespaced (it would change the host), as
/// docker does: IPC ones (`kernel.msg*`, `kernel.sem`, `kernel.shm*`,
/// `fs.mqueue.*`) always, `net.*` only with a network namespace of the
/// container's own.
pub fn check_sysctl(name: &str, own_network: bool) -> Result<(), Error> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&name) || name.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if name.starts_with("net.") {
        if own_network {
            return Ok(());
        }
        return Err(Error::Invalid(format!(
            "sysctl {name:?} is not allowed with the host's network: it would change the host's"
        )));
    }
    Err(Error::Invalid(format!(
        "sysctl {name:?} is not allowed: only namespaced ones (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) may be set in a container"
    )))
}

/// What the spec is made from.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// The working directory, absolute.
    pub cwd: String,
    /// Who the process runs as.
    pub user: ProcessUser,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// The container's hostname.
    pub hostname: String,
    /// Allocate a pseudo-terminal.
    pub terminal: bool,
    /// The terminal's size (rows, columns), set before the program runs.
    pub console_size: Option<(u16, u16)>,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
    /// The network namespace.
    pub network: Network,
    /// Extra mounts (binds, tmpfs) after the defaults.
    pub mounts: Vec<MountSpec>,
    /// Files berth provides: (destination, host path) for /etc/hosts,
    /// /etc/hostname and /etc/resolv.conf.
    pub etc_files: Vec<(String, PathBuf)>,
    /// Capabilities added to docker's default set (`ALL` = every one).
    pub cap_add: Vec<String>,
    /// Capabilities dropped from it (`ALL` = every one).
    pub cap_drop: Vec<String>,
    /// All capabilities, all devices, no masked paths, /sys writable.
    pub privileged: bool,
    /// cgroup limits.
    pub resources: Resources,
    /// `--ulimit`s (checked by [`Ulimit::check`]).
    pub ulimits: Vec<Ulimit>,
    /// `--shm-size`: bytes of /dev/shm (`None`: docker's 64 MiB).
    pub shm_size: Option<u64>,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `--sysctl`s (checked by [`check_sysctl`]).
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// The cgroup path, relative to the cgroup roots.
    pub cgroups_path: String,
    /// The seccomp filter (`None`: unconfined). `--privileged` has none
    /// whatever this says, as in docker.
    pub seccomp: Option<crate::seccomp::Profile>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--init`: which init runs as PID 1.
    pub init: Init,
    /// Where compiled seccomp filters are kept, for a runtime that loads
    /// them ([`crate::seccomp::compiled`]); `None`: the runtime compiles it.
    pub seccomp_cache: Option<PathBuf>,
    /// `--device`s.
    pub devices: Vec<Device>,
    /// `--device-cgroup-rule`s.
    pub device_rules: Vec<DeviceRule>,
    /// `--cgroupns private`: a cgroup namespace of its own.
    pub cgroupns: bool,
    /// A user namespace of its own with these maps (`--userns=auto`,
    /// `userns-remap`); `None`: the host's.
    pub id_mappings: Option<berth_oci::idmap::IdMappings>,
}

/// The container's PID 1 with `--init`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Init {
    /// The command itself.
    #[default]
    None,
    /// berth's runtime forks and stays as PID 1 ([`crate::init`]).
    Builtin,
    /// A static init binary of the host, mounted at
    /// [`crate::init::INIT_PATH`] and run in front of the command.
    Binary(PathBuf),
}

/// Normalises `net_admin` / `NET_ADMIN` / `CAP_NET_ADMIN` to `CAP_NET_ADMIN`.
pub fn cap_name(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") || up == "ALL" {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The effective capability set: docker's defaults, then drops, then adds.
pub fn capabilities(opts: &SpecOptions) -> Result<Vec<String>, Error> {
    // Only what this process may hand on: a host (or an outer container)
    // without CAP_SYS_RESOURCE cannot grant it, and asking makes the runtime
    // fail at start. "All" means all of these, as in docker.
    let bounding = bounding_set();
    let grantable = |c: &str| {
        ALL_CAPS
            .iter()
            .position(|x| *x == c)
            .is_some_and(|bit| bounding & (1u64 << bit) != 0)
    };
    let all = || -> Vec<String> {
        ALL_CAPS
            .iter()
            .filter(|c| grantable(c))
            .map(|c| c.to_string())
            .collect()
    };
    if opts.privileged {
        return Ok(all());
    }
    let known = |c: &str| c == "ALL" || ALL_CAPS.contains(&c);
    let mut caps: Vec<String> = DEFAULT_CAPS
        .iter()
        .filter(|c| grantable(c))
        .map(|c| c.to_string())
        .collect();
    for d in opts.cap_drop.iter().map(|c| cap_name(c)) {
        if !known(&d) {
            return Err(Error::Invalid(format!("unknown capability to drop: {d:?}")));
        }
        if d == "ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    for a in opts.cap_add.iter().map(|c| cap_name(c)) {
        if !known(&a) {
            return Err(Error::Invalid(format!("unknown capability to add: {a:?}")));
        }
        if a == "ALL" {
            caps = all();
        } else if !grantable(&a) {
            return Err(Error::Invalid(format!(
                "cannot add capability {a}: this host's bounding set does not have it"
            )));
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

/// This process's capability bounding set (all bits when unreadable).
fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": kind, "source": source, "options": options})
}

/// A process's environment as docker completes it: a default `PATH`, then
/// `HOSTNAME`, and `TERM=xterm` on a terminal, each unless already set.
pub fn process_env(env: &[String], hostname: &str, terminal: bool) -> Vec<String> {
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    let mut out = env.to_vec();
    if !has(&out, "PATH") {
        out.insert(0, format!("PATH={}", crate::command::DEFAULT_PATH));
    }
    if !has(&out, "HOSTNAME") {
        out.push(format!("HOSTNAME={hostname}"));
    }
    if terminal && !has(&out, "TERM") {
        out.push("TERM=xterm".to_string());
    }
    out
}

/// Builds the spec document.
pub fn build(opts: &SpecOptions) -> Result<Value, Error> {
    let caps = capabilities(opts)?;
    let sys_opts: &[&str] = if opts.privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                &format!("size={}k", opts.shm_size.unwrap_or(64 << 20).div_ceil(1024)),
            ],
        ),
    ];
    for (dest, host) in &opts.etc_files {
        let host = host.to_string_lossy();
        mounts.push(mount(dest, "bind", &host, &["rbind", "rprivate"]));
    }
    for m in &opts.mounts {
        let options: Vec<&str> = m.options.iter().map(String::as_str).collect();
        let source = if m.kind == "tmpfs" {
            "tmpfs"
        } else {
            &m.source
        };
        mounts.push(mount(&m.destination, &m.kind, source, &options));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if opts.cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    if opts.id_mappings.is_some() {
        namespaces.push(json!({"type": "user"}));
    }
    match &opts.network {
        Network::Host => {}
        Network::None => namespaces.push(json!({"type": "network"})),
        Network::Join(path) => {
            namespaces.push(json!({"type": "network", "path": path.display().to_string()}))
        }
    }

    let mut resources = json!({});
    let devices = if opts.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        let mut allow = vec![json!({"allow": false, "access": "rwm"})];
        // null, zero, full, random, urandom, tty, console, ptmx, and the ptys.
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
        ] {
            allow.push(json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm"}));
        }
        allow.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
        Value::Array(allow)
    };
    let devices = match devices {
        Value::Array(mut rules) if !opts.privileged => {
            rules.extend(opts.devices.iter().map(|d| {
                json!({"allow": true, "type": d.kind.to_string(), "major": d.major,
                       "minor": d.minor, "access": d.access})
            }));
            rules.extend(opts.device_rules.iter().map(DeviceRule::to_oci));
            Value::Array(rules)
        }
        other => other,
    };
    resources["devices"] = devices;
    if let Some(w) = opts.resources.blkio_weight {
        resources["blockIO"] = json!({"weight": w});
    }
    let mut memory = json!({});
    if let Some(m) = opts.resources.memory {
        // docker: without --memory-swap, swap may be as large again as memory.
        memory = json!({"limit": m, "swap": m.saturating_mul(2)});
    }
    if let Some(swap) = opts.resources.memory_swap {
        memory["swap"] = json!(swap);
    }
    if let Some(r) = opts.resources.memory_reservation {
        memory["reservation"] = json!(r);
    }
    if let Some(s) = opts.resources.memory_swappiness {
        memory["swappiness"] = json!(s);
    }
    if opts.resources.oom_kill_disable {
        memory["disableOOMKiller"] = json!(true);
    }
    if memory.as_object().is_some_and(|o| !o.is_empty()) {
        resources["memory"] = memory;
    }
    let mut cpu = json!({});
    if let Some(c) = opts.resources.cpus {
        let period: u64 = 100_000;
        cpu["quota"] = json!((c * period as f64) as i64);
        cpu["period"] = json!(period);
    }
    if let Some(shares) = opts.resources.cpu_shares {
        cpu["shares"] = json!(shares);
    }
    if let Some(set) = &opts.resources.cpuset_cpus {
        cpu["cpus"] = json!(set);
    }
    if let Some(mems) = &opts.resources.cpuset_mems {
        cpu["mems"] = json!(mems);
    }
    if let Some(period) = opts.resources.cpu_period {
        cpu["period"] = json!(period);
    }
    if let Some(quota) = opts.resources.cpu_quota {
        cpu["quota"] = json!(quota);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        resources["cpu"] = cpu;
    }
    if let Some(p) = opts.resources.pids {
        resources["pids"] = json!({"limit": p});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": opts.cgroups_path,
    });
    if let Some(m) = &opts.id_mappings {
        let maps = |maps: &[berth_oci::idmap::IdMap]| -> Vec<Value> {
            maps.iter()
                .map(|m| json!({"containerID": m.container, "hostID": m.host, "size": m.size}))
                .collect()
        };
        linux["uidMappings"] = json!(maps(&m.uids));
        linux["gidMappings"] = json!(maps(&m.gids));
    }
    if !opts.sysctls.is_empty() {
        linux["sysctl"] = json!(opts.sysctls);
    }
    if !opts.devices.is_empty() {
        linux["devices"] = opts
            .devices
            .iter()
            .map(|d| {
                json!({"path": d.path, "type": d.kind.to_string(), "major": d.major,
                       "minor": d.minor, "fileMode": d.file_mode, "uid": 0, "gid": 0})
            })
            .collect();
    }
    if !opts.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }

    let mut args = opts.args.clone();
    if let Init::Binary(path) = &opts.init {
        mounts.push(json!({
            "destination": crate::init::INIT_PATH, "type": "bind",
            "source": path.display().to_string(), "options": ["rbind", "ro"],
        }));
        args.splice(0..0, [crate::init::INIT_PATH.to_string(), "--".to_string()]);
    }
    let env = process_env(&opts.env, &opts.hostname, opts.terminal);
    let mut user = json!({"uid": opts.user.uid, "gid": opts.user.gid});
    if !opts.additional_gids.is_empty() {
        user["additionalGids"] = json!(opts.additional_gids);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": opts.terminal,
            "user": user,
            "args": args,
            "env": env,
            "cwd": opts.cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
        },
        "root": {"path": "rootfs", "readonly": opts.readonly_rootfs},
        "hostname": opts.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    if opts.init == Init::Builtin {
        spec["annotations"] = json!({crate::init::ANNOTATION: "true"});
    }
    if let Some((rows, cols)) = opts.console_size.filter(|_| opts.terminal) {
        spec["process"]["consoleSize"] = json!({"height": rows, "width": cols});
    }
    if !opts.ulimits.is_empty() {
        spec["process"]["rlimits"] = opts.ulimits.iter().map(Ulimit::rlimit).collect();
    }
    if let Some(adj) = opts.oom_score_adj {
        spec["process"]["oomScoreAdj"] = json!(adj);
    }
    // Absent unless set: youki's libcontainer 0.7 loads the seccomp filter
    // after dropping capabilities whenever the key is present, which fails
    // when it is false (loading a filter then needs no_new_privs).
    if opts.no_new_privileges {
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    if let (Some(profile), false) = (&opts.seccomp, opts.privileged) {
        let oci = profile.to_oci(&caps);
        if let Some(cache) = &opts.seccomp_cache {
            let program = crate::seccomp::compiled(&oci, cache)?;
            if !spec["annotations"].is_object() {
                spec["annotations"] = json!({});
            }
            spec["annotations"][libcontainer::seccomp::PRECOMPILED_ANNOTATION] =
                json!(program.display().to_string());
        }
        spec["linux"]["seccomp"] = oci;
    }
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| Error::Invalid(format!("runtime spec: {e}")))?;
    Ok(spec)
}

/// Writes the spec into `bundle/config.json`.
pub fn write(bundle: &Path, spec: &Value) -> Result<(), Error> {
    let path = bundle.join("config.json");
    let bytes = serde_json::to_vec_pretty(spec)
        .map_err(|e| Error::Invalid(format!("runtime spec: {e}")))?;
    std::fs::write(&path, bytes).map_err(Error::io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpusets_are_lists_of_this_hosts_cpus() {
        assert!(check_cpuset("0", 2).is_ok());
        assert!(check_cpuset("0-1", 2).is_ok());
        assert!(check_cpuset("0,1", 2).is_ok());
        for bad in ["2", "0-2", "1-0", "x", "", "0,"] {
            assert!(check_cpuset(bad, 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_namespaced_sysctls_pass() {
        for ok in ["kernel.shmmax", "kernel.sem", "fs.mqueue.msg_max"] {
            assert!(check_sysctl(ok, false).is_ok(), "{ok}");
        }
        assert!(check_sysctl("net.ipv4.ip_forward", true).is_ok());
        assert!(check_sysctl("net.ipv4.ip_forward", false).is_err());
        for bad in [
            "vm.swappiness",
            "kernel.hostname",
            "kernel.pid_max",
            "fs.file-max",
        ] {
            assert!(check_sysctl(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn ulimits_parse_like_dockers_and_stay_under_the_hosts() {
        let u = Ulimit::parse("nofile=512:1024").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 512, 1024));
        let u = Ulimit::parse("core=0").unwrap();
        assert_eq!((u.soft, u.hard), (0, 0));
        for bad in [
            "nofile",
            "bogus=1",
            "nofile=x",
            "nofile=10:5",
            "nofile=1:99999999999",
        ] {
            assert!(Ulimit::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&Ulimit::parse("core=-1").unwrap()).unwrap();
        assert_eq!(json, r#"{"Name":"core","Soft":-1,"Hard":-1}"#);
        let back: Ulimit = serde_json::from_str(&json).unwrap();
        assert_eq!(back.hard, u64::MAX);
        let spec = build(&SpecOptions {
            args: vec!["sh".into()],
            cwd: "/".into(),
            ulimits: vec![Ulimit::parse("nofile=512:1024").unwrap()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            spec["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}])
        );
    }

    #[test]
    fn caps_follow_docker_order_of_drop_then_add() {
        let opts = SpecOptions {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["net_admin".into(), "CAP_CHOWN".into()],
            ..Default::default()
        };
        assert_eq!(capabilities(&opts).unwrap(), ["CAP_NET_ADMIN", "CAP_CHOWN"]);
        let bad = SpecOptions {
            cap_add: vec!["FLY".into()],
            ..Default::default()
        };
        assert!(capabilities(&bad).is_err());
    }

    #[test]
    fn spec_parses_as_oci() {
        let opts = SpecOptions {
            args: vec!["sh".into()],
            cwd: "/".into(),
            hostname: "abc".into(),
            network: Network::None,
            resources: Resources {
                memory: Some(64 << 20),
                cpus: Some(0.5),
                pids: Some(10),
                cpu_shares: Some(512),
                cpuset_cpus: Some("0".into()),
                cpuset_mems: Some("0".into()),
                memory_reservation: Some(32 << 20),
                memory_swappiness: Some(10),
                oom_kill_disable: true,
                ..Default::default()
            },
            cgroups_path: "/berth/x".into(),
            init: Init::Builtin,
            ..Default::default()
        };
        let spec = build(&opts).unwrap();
        assert_eq!(spec["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(spec["linux"]["resources"]["cpu"]["mems"], "0");
        let memory = &spec["linux"]["resources"]["memory"];
        assert_eq!(memory["reservation"], 32 << 20);
        assert_eq!(memory["swappiness"], 10);
        assert_eq!(memory["disableOOMKiller"], true);
        assert_eq!(spec["annotations"][crate::init::ANNOTATION], "true");
        // An init binary runs in front of the command, mounted read-only.
        let spec = build(&SpecOptions {
            init: Init::Binary("/usr/bin/docker-init".into()),
            ..opts.clone()
        })
        .unwrap();
        assert_eq!(spec["process"]["args"][0], crate::init::INIT_PATH);
        assert_eq!(spec["process"]["args"][1], "--");
        assert_eq!(spec["process"]["args"][2], "sh");
        assert!(
            spec["process"]["env"][0]
                .as_str()
                .unwrap()
                .starts_with("PATH=")
        );
        assert_eq!(spec["linux"]["namespaces"].as_array().unwrap().len(), 5);
    }
}
