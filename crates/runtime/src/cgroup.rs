//! A container's cgroups: the one place that names them and reads them.
//!
//! Every container's cgroup is `berth/<id>` under each hierarchy the host
//! mounts (cgroup v2 alone, or v1 controllers beside a v2 `unified` tree).

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
const PARENT: &str = "berth";

/// Whether the host's cgroups are v2 alone (docker's default cgroup
/// namespace is private there, the host's on v1).
pub fn unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// Whether a block I/O weight can be set: v2's `io.weight` or v1's
/// `blkio.weight` (the CFQ/BFQ schedulers'), at the root of the hierarchy.
pub fn blkio_weight_supported() -> bool {
    let root = Path::new(ROOT);
    if unified() {
        return root.join("cgroup.subtree_control").exists()
            && std::fs::read_to_string(root.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|x| x == "io"));
    }
    root.join("blkio/blkio.weight").exists() || root.join("blkio/blkio.bfq.weight").exists()
}

/// The cgroup of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    id: String,
}

impl Cgroup {
    /// The cgroup of the container with this ID.
    pub fn of(id: &str) -> Cgroup {
        Cgroup { id: id.to_string() }
    }

    /// The path the runtime spec names (`linux.cgroupsPath`).
    pub fn spec_path(&self) -> String {
        format!("/{PARENT}/{}", self.id)
    }

    /// Its directories on this host: one on cgroup v2, one per hierarchy on v1.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let root = Path::new(ROOT);
        if unified() {
            return vec![root.join(PARENT).join(&self.id)];
        }
        std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path().join(PARENT).join(&self.id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The PIDs of its processes, from the first hierarchy that lists any.
    pub fn pids(&self) -> Vec<i32> {
        self.dirs()
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|text| parse_pids(&text))
            .find(|pids| !pids.is_empty())
            .unwrap_or_default()
    }

    /// Whether the kernel's OOM killer killed one of its processes.
    pub fn oom_killed(&self) -> bool {
        self.dirs().iter().any(|d| {
            ["memory.oom_control", "memory.events"]
                .iter()
                .filter_map(|f| std::fs::read_to_string(d.join(f)).ok())
                .any(|t| oom_kills(&t) > 0)
        })
    }

    /// Removes what the runtime left of it (libcontainer keeps the directories
    /// on some hierarchies); what is still busy stays.
    pub fn remove(&self) {
        for d in self.dirs() {
            let _ = std::fs::remove_dir(&d);
        }
    }
}

/// What a container's cgroups have counted, as far as this host's
/// hierarchies tell (v2, or the v1 `cpuacct`, `memory`, `pids` and `blkio`
/// controllers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of all its processes, nanoseconds.
    pub cpu_total: u64,
    /// Of which in user mode.
    pub cpu_user: u64,
    /// Of which in the kernel.
    pub cpu_system: u64,
    /// Memory charged, bytes.
    pub memory: u64,
    /// Its memory limit, bytes (`None`: unlimited).
    pub memory_limit: Option<u64>,
    /// Inactive file cache in that memory (docker subtracts it).
    pub memory_inactive_file: u64,
    /// Processes now.
    pub pids: u64,
    /// Its process limit (`None`: unlimited).
    pub pids_limit: Option<u64>,
    /// Bytes read and written, per block device.
    pub io: Vec<DeviceIo>,
}

/// One block device's bytes moved by a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceIo {
    /// The device's major number.
    pub major: u64,
    /// Its minor number.
    pub minor: u64,
    /// Bytes read.
    pub read: u64,
    /// Bytes written.
    pub write: u64,
}

impl DeviceIo {
    /// The device of a `MAJ:MIN` field.
    fn of(field: &str) -> Option<DeviceIo> {
        let (major, minor) = field.split_once(':')?;
        Some(DeviceIo {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
            ..Default::default()
        })
    }
}

/// v2's `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N …` per device.
fn io_v2(text: &str) -> Vec<DeviceIo> {
    text.lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let mut d = DeviceIo::of(fields.next()?)?;
            for f in fields {
                match f.split_once('=') {
                    Some(("rbytes", n)) => d.read = n.parse().unwrap_or(0),
                    Some(("wbytes", n)) => d.write = n.parse().unwrap_or(0),
                    _ => {}
                }
            }
            Some(d)
        })
        .collect()
}

/// v1's `blkio.throttle.io_service_bytes`: `MAJ:MIN Read N`, `MAJ:MIN Write
/// N`… per device, then `Total N`.
fn io_v1(text: &str) -> Vec<DeviceIo> {
    let mut out: Vec<DeviceIo> = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [dev, op, n] = f.as_slice() else { continue };
        let (Some(d), Ok(n)) = (DeviceIo::of(dev), n.parse::<u64>()) else {
            continue;
        };
        let i = match out
            .iter()
            .position(|o| (o.major, o.minor) == (d.major, d.minor))
        {
            Some(i) => i,
            None => {
                out.push(d);
                out.len() - 1
            }
        };
        match *op {
            "Read" => out[i].read = n,
            "Write" => out[i].write = n,
            _ => {}
        }
    }
    out
}

impl Cgroup {
    /// Its counters now. Each file is read from the one hierarchy that has
    /// it (a v1 host mounts each controller apart, some under several
    /// names): `stats` reads a hundred containers twice in a snapshot.
    pub fn usage(&self) -> Usage {
        let mut u = Usage::default();
        let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).ok();
        let number = |d: &Path, f: &str| read(d, f).and_then(|t| t.trim().parse::<u64>().ok());
        if unified() {
            let d = Path::new(ROOT).join(PARENT).join(&self.id);
            if let Some(stat) = read(&d, "cpu.stat") {
                let field = |k: &str| keyed(&stat, k).map(|us| us * 1000);
                u.cpu_total = field("usage_usec").unwrap_or(0);
                u.cpu_user = field("user_usec").unwrap_or(0);
                u.cpu_system = field("system_usec").unwrap_or(0);
            }
            if let Some(n) = number(&d, "memory.current") {
                u.memory = n;
                u.memory_limit = number(&d, "memory.max");
                if let Some(stat) = read(&d, "memory.stat") {
                    u.memory_inactive_file = keyed(&stat, "inactive_file").unwrap_or(0);
                }
            }
            if let Some(stat) = read(&d, "io.stat") {
                u.io = io_v2(&stat);
            }
            if let Some(n) = number(&d, "pids.current") {
                u.pids = n;
                u.pids_limit = number(&d, "pids.max");
            }
            return u;
        }
        let v1 = |controller: &str| Path::new(ROOT).join(controller).join(PARENT).join(&self.id);
        let cpu = v1("cpuacct");
        if let Some(n) = number(&cpu, "cpuacct.usage") {
            u.cpu_total = n;
            if let Some(stat) = read(&cpu, "cpuacct.stat") {
                // USER_HZ ticks of 10 ms.
                u.cpu_user = keyed(&stat, "user").map_or(0, |t| t * 10_000_000);
                u.cpu_system = keyed(&stat, "system").map_or(0, |t| t * 10_000_000);
            }
        }
        let memory = v1("memory");
        if let Some(n) = number(&memory, "memory.usage_in_bytes") {
            u.memory = n;
            // v1 says "no limit" with a huge page-aligned number.
            u.memory_limit = number(&memory, "memory.limit_in_bytes").filter(|l| *l < 1 << 62);
            if let Some(stat) = read(&memory, "memory.stat") {
                u.memory_inactive_file = keyed(&stat, "total_inactive_file").unwrap_or(0);
            }
        }
        let blkio = v1("blkio");
        if let Some(stat) = read(&blkio, "blkio.throttle.io_service_bytes_recursive")
            .or_else(|| read(&blkio, "blkio.throttle.io_service_bytes"))
        {
            u.io = io_v1(&stat);
        }
        let pids = v1("pids");
        if let Some(n) = number(&pids, "pids.current") {
            u.pids = n;
            u.pids_limit = number(&pids, "pids.max");
        }
        u
    }
}

/// New resource limits for a running container's cgroups (`update`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Memory, bytes.
    pub memory: Option<u64>,
    /// CPUs, in billionths (docker's NanoCpus): a CFS quota per 100 ms period.
    pub nano_cpus: Option<u64>,
    /// Processes.
    pub pids: Option<u64>,
}

impl Cgroup {
    /// Writes `limits` into every hierarchy that has the controller; the
    /// first write the kernel refuses (memory below what is in use) is the
    /// error.
    pub fn set_limits(&self, limits: &Limits) -> std::io::Result<()> {
        const PERIOD: u64 = 100_000;
        for d in self.dirs() {
            let write = |f: &str, v: String| -> std::io::Result<()> {
                let p = d.join(f);
                if p.exists() {
                    std::fs::write(&p, v)?;
                }
                Ok(())
            };
            if let Some(m) = limits.memory {
                write("memory.max", m.to_string())?;
                write("memory.limit_in_bytes", m.to_string())?;
            }
            if let Some(n) = limits.nano_cpus {
                let quota = n * PERIOD / 1_000_000_000;
                write("cpu.max", format!("{quota} {PERIOD}"))?;
                write("cpu.cfs_period_us", PERIOD.to_string())?;
                write("cpu.cfs_quota_us", quota.to_string())?;
            }
            if let Some(p) = limits.pids {
                write("pids.max", p.to_string())?;
            }
        }
        Ok(())
    }
}

/// The number after `key ` in a flat-keyed cgroup file.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The whole machine's CPU time, nanoseconds (the `cpu` line of /proc/stat,
/// in USER_HZ ticks of 10 ms): what docker divides a container's by.
pub fn system_cpu_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("cpu "))?;
            Some(
                line.split_whitespace()
                    .skip(1)
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum::<u64>()
                    * 10_000_000,
            )
        })
        .unwrap_or(0)
}

/// The machine's memory (`MemTotal` of /proc/meminfo), in bytes: what a
/// container without a memory limit shows as its limit, as in docker.
pub fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .strip_suffix(" kB")?
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

fn parse_pids(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The `oom_kill` count of a v1 `memory.oom_control` or v2 `memory.events`.
fn oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|n| n.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_io_in_both_versions() {
        let v2 = io_v2("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            v2,
            [DeviceIo {
                major: 8,
                minor: 0,
                read: 4096,
                write: 8192
            }]
        );
        let v1 = io_v1(
            "254:0 Read 10\n254:0 Write 20\n254:0 Sync 20\n254:0 Total 30\n7:1 Write 5\nTotal 35\n",
        );
        assert_eq!(
            v1,
            [
                DeviceIo {
                    major: 254,
                    minor: 0,
                    read: 10,
                    write: 20
                },
                DeviceIo {
                    major: 7,
                    minor: 1,
                    read: 0,
                    write: 5
                }
            ]
        );
    }

    #[test]
    fn names_and_counters() {
        assert_eq!(Cgroup::of("abc").spec_path(), "/berth/abc");
        assert_eq!(parse_pids("12\n 13\n\nx\n"), vec![12, 13]);
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"), 0);
        assert_eq!(
            keyed("usage_usec 120\nuser_usec 100\n", "user_usec"),
            Some(100)
        );
        assert_eq!(keyed("total_inactive_file 4096\n", "inactive_file"), None);
        assert!(system_cpu_time() > 0);
    }
}
