//! Lifecycle commands on existing containers: stop, kill, wait, rm, pause,
//! unpause, rename, prune, top, logs, and the list with its filters.

use std::time::Duration;

use berth_runtime::cgroup::Cgroup;
use berth_runtime::logs::{self, LogLine, LogsOptions};
use berth_runtime::process::{start_time, wait_gone};

use super::names::valid_name;
use super::start::monitor_alive;
use super::{Container, Operation, StateError, Status, json};
use crate::keys;
use crate::{Engine, Error, Result};

/// `ps --filter` settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ContainerFilter {
    /// `status=`: created, running, paused, exited, dead.
    pub status: Vec<String>,
    /// `name=`: a substring of the name.
    pub name: Vec<String>,
    /// `id=`: an ID prefix.
    pub id: Vec<String>,
    /// `ancestor=`: the image (name or ID) it was created from.
    pub ancestor: Vec<String>,
    /// `label=KEY` or `label=KEY=VALUE`.
    pub label: Vec<String>,
    /// `exited=CODE`.
    pub exited: Vec<i32>,
    /// `health=starting|healthy|unhealthy|none`.
    pub health: Vec<String>,
}

impl ContainerFilter {
    /// Parses docker's `--filter KEY=VALUE` arguments.
    pub fn parse(filters: &[String]) -> Result<ContainerFilter> {
        let mut f = ContainerFilter::default();
        for raw in filters {
            let bad = |reason: &'static str| Error::InvalidFilter {
                filter: raw.clone(),
                reason,
            };
            let (k, v) = raw
                .split_once('=')
                .ok_or_else(|| bad("expected KEY=VALUE"))?;
            let v = v.to_string();
            match k {
                "status" => {
                    if ![
                        "created",
                        "restarting",
                        "running",
                        "removing",
                        "paused",
                        "exited",
                        "dead",
                    ]
                    .contains(&v.as_str())
                    {
                        return Err(bad(
                            "status is one of created, running, paused, exited, dead",
                        ));
                    }
                    f.status.push(v)
                }
                "name" => f.name.push(v),
                "id" => f.id.push(v),
                "ancestor" => f.ancestor.push(v),
                "label" => f.label.push(v),
                "exited" => f
                    .exited
                    .push(v.parse().map_err(|_| bad("exited takes an exit code"))?),
                "health" => {
                    if !["starting", "healthy", "unhealthy", "none"].contains(&v.as_str()) {
                        return Err(bad("health is one of starting, healthy, unhealthy, none"));
                    }
                    f.health.push(v)
                }
                _ => return Err(bad("unknown filter")),
            }
        }
        Ok(f)
    }
}

/// Parses `KILL`, `SIGKILL`, `sigkill` or `9`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    } else {
        let up = s.to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        let n = match name {
            "HUP" => libc::SIGHUP,
            "INT" => libc::SIGINT,
            "QUIT" => libc::SIGQUIT,
            "ILL" => libc::SIGILL,
            "TRAP" => libc::SIGTRAP,
            "ABRT" | "IOT" => libc::SIGABRT,
            "BUS" => libc::SIGBUS,
            "FPE" => libc::SIGFPE,
            "KILL" => libc::SIGKILL,
            "USR1" => libc::SIGUSR1,
            "SEGV" => libc::SIGSEGV,
            "USR2" => libc::SIGUSR2,
            "PIPE" => libc::SIGPIPE,
            "ALRM" => libc::SIGALRM,
            "TERM" => libc::SIGTERM,
            "STKFLT" => libc::SIGSTKFLT,
            "CHLD" => libc::SIGCHLD,
            "CONT" => libc::SIGCONT,
            "STOP" => libc::SIGSTOP,
            "TSTP" => libc::SIGTSTP,
            "TTIN" => libc::SIGTTIN,
            "TTOU" => libc::SIGTTOU,
            "URG" => libc::SIGURG,
            "XCPU" => libc::SIGXCPU,
            "XFSZ" => libc::SIGXFSZ,
            "VTALRM" => libc::SIGVTALRM,
            "PROF" => libc::SIGPROF,
            "WINCH" => libc::SIGWINCH,
            "IO" | "POLL" => libc::SIGIO,
            "PWR" => libc::SIGPWR,
            "SYS" => libc::SIGSYS,
            _ => 0,
        };
        if n != 0 {
            return Ok(n);
        }
    }
    Err(Error::InvalidArgument(format!("invalid signal: {s}")))
}

/// What `update` changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UpdateOptions {
    /// Memory limit, bytes (0: none).
    pub memory: Option<i64>,
    /// CPUs in billionths (0: none).
    pub nano_cpus: Option<i64>,
    /// Process limit (0 or less: none).
    pub pids_limit: Option<i64>,
    /// `--restart`: the new policy (its monitor reads it at the next exit).
    pub restart: Option<String>,
}

impl Engine {
    /// Containers matching `filter` (all of them with `all`, else running ones),
    /// newest first.
    pub fn list_containers(&self, all: bool, filter: &ContainerFilter) -> Result<Vec<Container>> {
        let mut ancestors = Vec::new();
        for a in &filter.ancestor {
            ancestors.push(self.resolve(a)?.id);
        }
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| all || c.state.running || !filter.status.is_empty())
            .filter(|c| {
                filter.status.is_empty()
                    || filter.status.iter().any(|s| s == c.state.status.as_str())
            })
            .filter(|c| {
                filter.name.is_empty()
                    || filter
                        .name
                        .iter()
                        .any(|n| c.name.contains(n.trim_start_matches('/')))
            })
            .filter(|c| filter.id.is_empty() || filter.id.iter().any(|i| c.id.starts_with(i)))
            .filter(|c| ancestors.is_empty() || ancestors.contains(&c.image))
            .filter(|c| {
                filter.label.iter().all(|l| match l.split_once('=') {
                    Some((k, v)) => c.record.config.labels.get(k).is_some_and(|x| x == v),
                    None => c.record.config.labels.contains_key(l),
                })
            })
            .filter(|c| {
                filter.exited.is_empty()
                    || (c.state.status == Status::Exited
                        && filter.exited.contains(&c.state.exit_code))
            })
            .filter(|c| {
                let health = c.health.as_ref().map_or("none", |h| h.status.as_str());
                filter.health.is_empty() || filter.health.iter().any(|h| h == health)
            })
            .collect())
    }

    /// Waits for the monitor of a running container to record its end.
    fn wait_monitor(&self, c: &Container, limit: Option<Duration>) -> bool {
        match c.state.monitor {
            Some((pid, start)) => wait_gone(pid, start, limit),
            None => true,
        }
    }

    /// Records that the user stopped the container: its restart policy
    /// rests until the next start.
    fn mark_manually_stopped(&self, c: &Container) -> Result<()> {
        let mut state = self.container(&c.id)?.state;
        if !state.manually_stopped {
            state.manually_stopped = true;
            self.save_state(&c.id, &state)?;
        }
        Ok(())
    }

    /// `berth wait`: blocks until the container stops; returns its exit code.
    /// With a restart policy its monitor lives on, so the state is watched.
    pub fn wait_container(&self, name: &str) -> Result<i32> {
        let c = self.container(name)?;
        if c.state.running && c.record.host_config.restart_policy.is_set() {
            let started = c.state.started_at.clone();
            loop {
                match self.container(&c.id) {
                    Ok(now) if now.state.running && now.state.started_at == started => {}
                    Ok(now) => return Ok(now.state.exit_code),
                    Err(Error::ContainerNotFound(_)) => return Ok(self.removed_exit_code(&c)),
                    Err(e) => return Err(e),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if c.state.running {
            self.wait_monitor(&c, None);
        }
        match self.container(&c.id) {
            Ok(c) => Ok(c.state.exit_code),
            // `--rm` removed it on exit: its code is in the journal.
            Err(Error::ContainerNotFound(_)) => Ok(self.removed_exit_code(&c)),
            Err(e) => Err(e),
        }
    }

    /// The exit code of a container that is gone: its last `die`.
    fn removed_exit_code(&self, c: &Container) -> i32 {
        self.last_exit_code(&c.id).unwrap_or(c.state.exit_code)
    }

    /// `wait --condition`: docker's conditions. `not-running` is
    /// [`Engine::wait_container`]; `next-exit` waits for the end of the next
    /// run (of this one if it runs, else of the next start); `removed` for
    /// the container to be gone. Returns the last exit code.
    pub fn wait_for(&self, name: &str, condition: &str) -> Result<i32> {
        let c = self.container(name)?;
        let tick = || std::thread::sleep(Duration::from_millis(20));
        match condition {
            "" | "not-running" => self.wait_container(name),
            "next-exit" => {
                // The run to wait for: this one if it runs, else the next to
                // start (told by its start time, so that a run too short to
                // be seen running still counts).
                let began = c.state.started_at.clone();
                loop {
                    match self.container(&c.id) {
                        Ok(now) => {
                            let moved_on = now.state.started_at != began;
                            let ended = if c.state.running {
                                !now.state.running || moved_on
                            } else {
                                moved_on && !now.state.running
                            };
                            if ended {
                                return Ok(now.state.exit_code);
                            }
                        }
                        Err(Error::ContainerNotFound(_)) => return Ok(self.removed_exit_code(&c)),
                        Err(e) => return Err(e),
                    }
                    tick();
                }
            }
            "removed" => loop {
                match self.container(&c.id) {
                    Ok(_) => {}
                    Err(Error::ContainerNotFound(_)) => return Ok(self.removed_exit_code(&c)),
                    Err(e) => return Err(e),
                }
                tick();
            },
            other => Err(Error::InvalidArgument(format!(
                "invalid condition: {other:?}: not-running, next-exit or removed"
            ))),
        }
    }

    /// `berth kill`: sends a signal (default SIGKILL) to a running container.
    pub fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let sig = parse_signal(signal)?;
        let c = self.container(name)?;
        c.state.check(Operation::Kill, &c.id, name)?;
        self.mark_manually_stopped(&c)?;
        if c.state.status == Status::Restarting {
            // No process: its monitor ends instead of starting one.
            self.wait_monitor(&c, Some(Duration::from_secs(30)));
            return Ok(());
        }
        self.oci_runtime(&c.record.host_config)
            .kill(&c.id, sig, false)?;
        self.emit_container(&c, "kill", &[("signal", &sig.to_string())]);
        Ok(())
    }

    /// `berth stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (default: the container's `--stop-timeout`, else 10). Stopping a stopped
    /// container does nothing.
    pub fn stop_container(&self, name: &str, timeout: Option<i64>) -> Result<()> {
        let c = self.container(name)?;
        if c.record.host_config.restart_policy.is_set() {
            self.mark_manually_stopped(&c)?;
        }
        if !c.state.running {
            // Waiting to be restarted: its monitor ends instead.
            if c.state.status == super::Status::Restarting {
                self.wait_monitor(&c, Some(Duration::from_secs(30)));
                let _ = self.container(&c.id);
            }
            return Ok(());
        }
        let runtime = self.oci_runtime(&c.record.host_config);
        if c.state.paused {
            runtime.resume(&c.id)?;
        }
        let sig = parse_signal(c.record.config.stop_signal.as_deref().unwrap_or("TERM"))?;
        let secs = timeout.or(c.record.config.stop_timeout).unwrap_or(10);
        let init = start_time(c.state.pid).map(|s| (c.state.pid, s));
        let _ = runtime.kill(&c.id, sig, false);
        let gone = match init {
            Some((pid, start)) if secs >= 0 => {
                wait_gone(pid, start, Some(Duration::from_secs(secs as u64)))
            }
            Some(_) => false,
            None => true,
        };
        if !gone {
            let _ = runtime.kill(&c.id, libc::SIGKILL, true);
        }
        self.wait_monitor(&c, Some(Duration::from_secs(30)));
        // A monitor that died leaves the state to be reconciled here.
        let _ = self.container(&c.id);
        self.emit_container(&c, "stop", &[]);
        Ok(())
    }

    /// `berth restart`.
    pub fn restart_container(&self, name: &str, timeout: Option<i64>) -> Result<()> {
        let c = self.container(name)?;
        // docker keeps a `--rm` container through a restart: its monitor is
        // told not to remove it at this exit.
        if c.record.host_config.auto_remove && c.state.running {
            let mut state = c.state.clone();
            state.restart_pending = true;
            self.save_state(&c.id, &state)?;
        }
        self.stop_container(&c.id, timeout)?;
        self.start_container(&c.id, false).map(|_| ())
    }

    /// `berth pause` / `unpause`: freezes or thaws every process (cgroup freezer).
    pub fn pause_container(&self, name: &str, pause: bool) -> Result<()> {
        let c = self.container(name)?;
        let _lock = self.lock_container(&c.id)?;
        let mut c = self.container(&c.id)?;
        let op = if pause {
            Operation::Pause
        } else {
            Operation::Unpause
        };
        c.state.check(op, &c.id, name)?;
        let runtime = self.oci_runtime(&c.record.host_config);
        if pause {
            runtime.pause(&c.id)?;
        } else {
            runtime.resume(&c.id)?;
        }
        c.state.set_paused(pause);
        self.save_state(&c.id, &c.state)?;
        self.emit_container(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `berth update`: new resource limits, kept in the container's settings
    /// and, when it runs, written into its cgroups at once.
    pub fn update_container(&self, name: &str, opts: &UpdateOptions) -> Result<()> {
        if let Some(m) = opts.memory
            && m > 0
            && m < 6 << 20
        {
            return Err(Error::InvalidArgument(
                "minimum memory limit allowed is 6MB".into(),
            ));
        }
        let c = self.container(name)?;
        let _lock = self.lock_container(&c.id)?;
        let mut c = self.container(&c.id)?;
        let h = &mut c.record.host_config;
        if let Some(m) = opts.memory {
            h.memory = m;
        }
        if let Some(n) = opts.nano_cpus {
            h.nano_cpus = n;
        }
        if let Some(p) = opts.pids_limit {
            h.pids_limit = Some(p).filter(|p| *p > 0);
        }
        if let Some(r) = &opts.restart {
            let policy = super::RestartPolicy::parse(r)?;
            if policy.is_set() && h.auto_remove {
                return Err(Error::InvalidArgument(
                    "restart policy cannot be updated because AutoRemove is enabled for the container"
                        .into(),
                ));
            }
            h.restart_policy = policy;
        }
        if c.state.running {
            let limits = berth_runtime::cgroup::Limits {
                memory: opts
                    .memory
                    .and_then(|m| u64::try_from(m).ok())
                    .filter(|m| *m > 0),
                nano_cpus: opts
                    .nano_cpus
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|n| *n > 0),
                pids: opts
                    .pids_limit
                    .and_then(|p| u64::try_from(p).ok())
                    .filter(|p| *p > 0),
            };
            Cgroup::of(&c.id).set_limits(&limits).map_err(|e| {
                Error::InvalidArgument(format!("cannot update container {}: {e}", c.id))
            })?;
        }
        self.db.set_container_record(&c.id, &json(&c.record)?)?;
        self.emit_container(&c, "update", &[]);
        Ok(())
    }

    /// `berth rename`.
    pub fn rename_container(&self, name: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !valid_name(new_name) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let c = self.container(name)?;
        if c.name == new_name {
            return Err(Error::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if !self.db.rename_container(&c.id, new_name)? {
            let holder = self.container(new_name).map(|h| h.id).unwrap_or_default();
            return Err(Error::NameInUse(format!(
                "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        if let Ok(renamed) = self.container(&c.id) {
            self.emit_container(&renamed, "rename", &[("oldName", &format!("/{}", c.name))]);
        }
        Ok(())
    }

    /// `berth rm [-f]`: removes a stopped container (with `force`, a running one
    /// is killed first). Returns its ID.
    pub fn remove_container(&self, name: &str, force: bool) -> Result<String> {
        self.remove_container_with(name, force, false)
    }

    /// [`Engine::remove_container`]; with `volumes` (`rm -v`), its anonymous
    /// volumes go too (one another container also mounts stays).
    pub fn remove_container_with(&self, name: &str, force: bool, volumes: bool) -> Result<String> {
        let c = self.container(name)?;
        let _lock = self.lock_container(&c.id)?;
        let c = self.container(&c.id)?;
        if !force {
            c.state.check(Operation::Remove, &c.id, &c.name)?;
        }
        if c.record.host_config.restart_policy.is_set() {
            // Its monitor must not start it again while it goes.
            self.mark_manually_stopped(&c)?;
        }
        if c.state.running {
            let runtime = self.oci_runtime(&c.record.host_config);
            if c.state.paused {
                let _ = runtime.resume(&c.id);
            }
            let _ = runtime.kill(&c.id, libc::SIGKILL, true);
            self.wait_monitor(&c, Some(Duration::from_secs(30)));
        } else if c.state.status == Status::Restarting {
            self.wait_monitor(&c, Some(Duration::from_secs(30)));
        }
        let c = match self.container(&c.id) {
            Ok(c) => c,
            // `--rm` got there first.
            Err(Error::ContainerNotFound(_)) => return Ok(c.id),
            Err(e) => return Err(e),
        };
        self.remove_container_now(&c)?;
        if volumes {
            self.remove_anonymous_volumes(&c);
        }
        Ok(c.id)
    }

    /// Removes a container that does not run: the row first, then what it named.
    pub(crate) fn remove_container_now(&self, c: &Container) -> Result<()> {
        self.db.delete_container(&c.id)?;
        self.cleanup_run(c);
        self.emit_container(c, "destroy", &[]);
        self.remove_container_files(c)
    }

    /// Removes the anonymous volumes of a removed container that no other
    /// container mounts.
    pub(crate) fn remove_anonymous_volumes(&self, c: &Container) {
        for v in &c.record.anonymous_volumes {
            if let Err(e) = self.remove_volume(v, true) {
                tracing::debug!(volume = %v, error = %e, "keeping an anonymous volume");
            }
        }
    }

    /// Hands the writable layer of the stopped container `id` to `take` (by
    /// its snapshot key: a build step commits it as a layer), then removes
    /// the container whatever `take` did.
    pub(crate) fn consume_container<T>(
        &self,
        id: &str,
        take: impl FnOnce(&str) -> Result<T>,
    ) -> Result<T> {
        let c = self.container(id)?;
        let _lock = self.lock_container(&c.id)?;
        c.state.check(Operation::Remove, &c.id, &c.name)?;
        let taken = take(&keys::container(&c.id));
        self.remove_container_now(&c)?;
        taken
    }

    /// Removes the writable layer and directory of a container whose row is gone.
    pub(crate) fn remove_container_files(&self, c: &Container) -> Result<()> {
        let snap = self.snapshotter()?;
        let key = keys::container(&c.id);
        if snap.stat(&key).is_ok() {
            snap.remove(&key)?;
        }
        let dir = self.paths.container(&c.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(dir.display())(e)),
        }
    }

    /// `berth container prune`: removes every stopped container. Returns their IDs
    /// and the bytes their writable layers held.
    pub fn prune_containers(&self) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        let snap = self.snapshotter()?;
        for c in self.containers()? {
            if c.state.running {
                continue;
            }
            bytes += snap
                .usage(&keys::container(&c.id))
                .map(|u| u.size)
                .unwrap_or(0);
            let _lock = self.lock_container(&c.id)?;
            self.remove_container_now(&c)?;
            removed.push(c.id);
        }
        Ok((removed, bytes))
    }

    /// `berth logs`: the container's output, through `emit`; with `follow`, until
    /// it stops.
    pub fn container_logs(
        &self,
        name: &str,
        opts: &LogsOptions,
        follow: bool,
        emit: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
    ) -> Result<()> {
        let c = self.container(name)?;
        if c.record.host_config.log_config.limits()?.is_none() {
            return Err(Error::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = self.log_path(&c.id);
        let running = || {
            self.db
                .container(&c.id)
                .ok()
                .flatten()
                .and_then(|r| serde_json::from_str::<super::ContainerState>(&r.state).ok())
                .is_some_and(|s| s.running && monitor_alive(&s))
        };
        let follow_fn: Option<&dyn Fn() -> bool> = if follow { Some(&running) } else { None };
        logs::read(&path, opts, follow_fn, emit)?;
        Ok(())
    }

    /// `berth top`: `ps -f` of the container's processes: the header and rows.
    pub fn top_container(&self, name: &str, ps_args: &[String]) -> Result<Top> {
        let c = self.container(name)?;
        c.state.check(Operation::Top, &c.id, name)?;
        let pids = self.container_pids(&c);
        if pids.is_empty() {
            return Err(StateError::NoProcesses { id: c.id.clone() }.into());
        }
        let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        let mut cmd = std::process::Command::new("ps");
        if ps_args.is_empty() {
            cmd.arg("-f");
        } else {
            cmd.args(ps_args);
        }
        let out = cmd
            .arg("-p")
            .arg(list.join(","))
            .output()
            .map_err(Error::io("ps"))?;
        if !out.status.success() {
            return Err(Error::InvalidArgument(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Top::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    /// PIDs of the container's processes, from its cgroup (or the init alone).
    pub(crate) fn container_pids(&self, c: &Container) -> Vec<i32> {
        let pids = Cgroup::of(&c.id).pids();
        if !pids.is_empty() {
            return pids;
        }
        if c.state.pid > 0 {
            vec![c.state.pid]
        } else {
            Vec::new()
        }
    }
}

/// `top`'s answer in docker's shape: ps's titles and one row per process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    /// The column titles (`UID`, `PID`, … `CMD`).
    pub titles: Vec<String>,
    /// Each process's columns; the last (the command) keeps its spaces.
    pub processes: Vec<Vec<String>>,
}

impl Top {
    fn parse(ps: &str) -> Top {
        let mut lines = ps.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let n = titles.len().max(1);
        let processes = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut cols: Vec<String> = Vec::with_capacity(n);
                let mut rest = l.trim_start();
                for _ in 1..n {
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    cols.push(rest[..end].to_string());
                    rest = rest[end..].trim_start();
                }
                cols.push(rest.to_string());
                cols
            })
            .collect();
        Top { titles, processes }
    }
}
