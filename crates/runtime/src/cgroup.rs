//! A container's cgroups: the one place that names them and reads them.
//!
//! Every container's cgroup is `berth/<id>` under each hierarchy the host
//! mounts (cgroup v2 alone, or v1 controllers beside a v2 `unified` tree).

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
const PARENT: &str = "berth";

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
        if root.join("cgroup.controllers").exists() {
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
    fn names_and_counters() {
        assert_eq!(Cgroup::of("abc").spec_path(), "/berth/abc");
        assert_eq!(parse_pids("12\n 13\n\nx\n"), vec![12, 13]);
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"), 0);
    }
}
