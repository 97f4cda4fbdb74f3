//! `berth start`: a monitor process per container (berth itself, re-executed
//! with the command the CLI configured) mounts the rootfs, writes the runtime
//! spec, runs the container and records its end. The starting command waits for
//! the monitor's word that the process runs (or why it could not), on a pipe.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use berth_runtime::command::Lookup;
use berth_runtime::monitor::{self, ATTACH_SOCKET, Exit, Hooks, MonitorConfig};
use berth_runtime::spec::{Init, Network, ProcessUser, Resources, SpecOptions};
use berth_runtime::user;
use serde_json::json;

use berth_runtime::cgroup::Cgroup;
use berth_runtime::process::{alive, start_time};

use super::{Container, ContainerState, Operation};
use crate::networks::{NetworkMode, Plugged};
use crate::{Engine, Error, Result};

/// The environment variable naming the monitor's sync descriptor.
const SYNC_FD_ENV: &str = "BERTH_MONITOR_SYNC_FD";

/// A started container.
#[derive(Debug)]
pub struct Started {
    /// The container's ID.
    pub id: String,
    /// Its init's PID.
    pub pid: i32,
    /// The attach connection, when asked for (connected before the start, so no
    /// output is missed).
    pub attach: Option<UnixStream>,
}

impl Engine {
    /// Starts a created or exited container; with `attach`, returns a connection
    /// to its stdio made before the process runs. Starting a running container
    /// does nothing.
    pub fn start_container(&self, name: &str, attach: bool) -> Result<Started> {
        let c = self.container(name)?;
        let _lock = self.lock_container(&c.id)?;
        let c = self.container(&c.id)?;
        if !c.state.check(Operation::Start, &c.id, &c.name)? {
            return Ok(Started {
                id: c.id.clone(),
                pid: c.state.pid,
                attach: if attach {
                    Some(self.attach_container(&c.id)?)
                } else {
                    None
                },
            });
        }
        // The user's start: the restart policy counts afresh and applies again.
        if c.state.restart_count != 0 || c.state.manually_stopped || c.state.restart_pending {
            let mut state = c.state.clone();
            state.restart_count = 0;
            state.manually_stopped = false;
            state.restart_pending = false;
            self.save_state(&c.id, &state)?;
        }
        // The runtime's state of an earlier run is stale now (the container
        // does not run). A cleanup can leave it when it races a `kill --all`
        // still thawing the cgroup, and create would then fail with
        // "container already exists".
        let _ = self.oci_runtime(&c.record.host_config).delete(&c.id);
        let Some((program, args)) = &self.monitor else {
            return Err(Error::Unsupported(
                "this engine has no monitor command configured".into(),
            ));
        };
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::io("pipe")(e.into()))?;
        // The monitor inherits the write end, and only it.
        rustix::io::fcntl_setfd(&write, rustix::io::FdFlags::empty())
            .map_err(|e| Error::io("pipe")(e.into()))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg(&c.id)
            .env(SYNC_FD_ENV, write.as_raw_fd().to_string())
            .env("BERTH_ROOT", self.paths.root())
            .env("BERTH_RUNROOT", self.paths.runroot())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(d) = &self.driver {
            cmd.env("BERTH_STORAGE_DRIVER", d);
        }
        if attach {
            cmd.arg("--wait-attach");
        }
        let mut child = cmd
            .spawn()
            .map_err(Error::io(format!("monitor {}", program.display())))?;
        drop(write);
        let mut sync = File::from(read);
        let first = monitor::read_sync_line(&mut sync);
        let fail = |v: &serde_json::Value| Error::Start {
            message: v["error"]
                .as_str()
                .unwrap_or("the monitor failed")
                .to_string(),
            code: v["code"].as_i64().unwrap_or(125) as i32,
        };
        // The monitor double-forks nothing: it is reaped here once it exits, and
        // otherwise kept for `reap_monitors` (the kernel reparents it when this
        // process ends first).
        let reap_if_done = |child: &mut std::process::Child| {
            let _ = child.try_wait();
        };
        let pid = match &first {
            Some(v) if v["created"].is_i64() => v["created"].as_i64().unwrap_or(0) as i32,
            Some(v) => {
                let _ = child.wait();
                return Err(fail(v));
            }
            None => {
                let _ = child.wait();
                return Err(Error::Start {
                    message: format!("container {}: the monitor exited without a word", c.name),
                    code: 125,
                });
            }
        };
        let stream = if attach {
            match self.attach_container(&c.id) {
                Ok(s) => Some(s),
                Err(e) => {
                    reap_if_done(&mut child);
                    return Err(e);
                }
            }
        } else {
            None
        };
        match monitor::read_sync_line(&mut sync) {
            Some(v) if v["started"].is_i64() => {}
            Some(v) => {
                let _ = child.wait();
                return Err(fail(&v));
            }
            None => {
                let _ = child.wait();
                return Err(Error::Start {
                    message: format!("container {}: the monitor exited before the start", c.name),
                    code: 125,
                });
            }
        }
        reap_if_done(&mut child);
        if let Ok(mut monitors) = self.monitors.lock() {
            monitors.push(child);
        }
        Ok(Started {
            id: c.id,
            pid,
            attach: stream,
        })
    }

    /// A volume (named or anonymous) still empty gets what the image has at
    /// its path (docker's copy-up), so mounting a volume hides nothing the
    /// image ships; a bind mount of a host directory is never written.
    ///
    /// In a user namespace of its own, a new volume (empty, root's) becomes
    /// the container's root's, as docker's remapped root owns its volumes.
    fn fill_empty_volumes(
        &self,
        c: &Container,
        rootfs: &std::path::Path,
        root_ids: (u32, u32),
    ) -> Result<()> {
        let volumes = self.paths.volumes();
        for m in &c.record.host_config.mounts {
            let target = std::path::Path::new(&m.source);
            // VOLUMES/NAME/_data
            let is_volume = m.kind == "bind"
                && target.parent().and_then(|p| p.parent()) == Some(volumes.as_path());
            let empty = std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_none());
            if !is_volume || !empty {
                continue;
            }
            if root_ids != (0, 0)
                && let Ok(meta) = std::fs::metadata(target)
                && (meta.uid(), meta.gid()) == (0, 0)
            {
                std::os::unix::fs::chown(target, Some(root_ids.0), Some(root_ids.1))
                    .map_err(Error::io(target.display()))?;
            }
            let Ok(src) = berth_layer::root::resolve(rootfs, &m.destination, true) else {
                continue;
            };
            if !src.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(&src).map_err(Error::io(src.display()))?;
            for e in entries {
                let e = e.map_err(Error::io(src.display()))?;
                let to = target.join(e.file_name());
                berth_layer::tree::copy_tree(&e.path(), &to, true)
                    .map_err(Error::io(to.display()))?;
            }
        }
        Ok(())
    }

    /// Reaps the monitors this process started that have ended: a
    /// long-lived process (the daemon) calls it now and then, so that
    /// finished monitors do not stay zombies.
    pub fn reap_monitors(&self) {
        if let Ok(mut monitors) = self.monitors.lock() {
            monitors.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        }
    }

    /// Connects to a running container's stdio.
    pub fn attach_container(&self, id: &str) -> Result<UnixStream> {
        let (_dir, path) = monitor::short_socket_path(&self.paths.bundle(id), ATTACH_SOCKET)?;
        Ok(berth_runtime::attach::connect(&path)?)
    }

    /// The monitor's body (the hidden `container-monitor` command): runs the
    /// container to its end. Reports to the starting command on the descriptor
    /// named by the environment.
    pub fn run_monitor(&self, id: &str, wait_attach: bool) -> Result<()> {
        // A session of its own: the terminal's signals and hangup are not ours.
        let _ = rustix::process::setsid();
        let fd: i32 = std::env::var(SYNC_FD_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(Error::Invariant(
                "the monitor was started without its sync descriptor",
            ))?;
        // SAFETY: the starting command put this descriptor here for this process
        // alone, and nothing else in this process owns it.
        let sync: OwnedFd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let _ = rustix::io::fcntl_setfd(&sync, rustix::io::FdFlags::CLOEXEC);
        let mut sync = Some(File::from(sync));
        let mut backoff = super::restart::Backoff::new();
        let mut first = true;
        loop {
            let c = self.container(id)?;
            let cfg = match self.prepare_bundle(&c, wait_attach && first) {
                Ok(cfg) => cfg,
                Err(e) => {
                    self.failed_start(&c, &e, &mut sync);
                    return Err(e);
                }
            };
            let mut hooks = MonitorHooks {
                engine: self,
                container: &c,
                sync: &mut sync,
                plugged: None,
                removed: false,
            };
            let began = std::time::Instant::now();
            // Its health checks run beside it for as long as this run lasts.
            // The built-in runtime forks in this process, and a child forked
            // while another thread starts or ends can wait for ever on a lock
            // of Rust's runtime that thread held (the child's exit takes it):
            // a thread is made only for a container with a check, and the
            // fork waits until it is running.
            let stop_checks = std::sync::atomic::AtomicBool::new(false);
            let run = std::thread::scope(|s| {
                if super::health::has_check(&c) {
                    let (up, running) = std::sync::mpsc::channel();
                    let (c, stop) = (&c, &stop_checks);
                    s.spawn(move || {
                        let _ = up.send(());
                        self.run_health_checks(c, stop)
                    });
                    let _ = running.recv();
                }
                let run = monitor::run(&cfg, &mut hooks);
                stop_checks.store(true, std::sync::atomic::Ordering::Relaxed);
                run
            });
            let exit = match run {
                Ok(exit) => exit,
                Err(e) => {
                    let e = start_failure(e);
                    self.failed_start(&c, &e, &mut sync);
                    return Err(e);
                }
            };
            first = false;
            // Its restart policy, kept here: the monitor outlives each run.
            let delay = backoff.delay(began.elapsed());
            if !self.restart_after(&c.id, exit.code, delay) {
                return Ok(());
            }
        }
    }

    fn failed_start(&self, c: &Container, e: &Error, sync: &mut Option<File>) {
        let code = match e {
            Error::Start { code, .. } => *code,
            _ => 125,
        };
        let mut state = c.state.clone();
        state.failed_start(e.to_string(), code);
        let _ = self.save_state(&c.id, &state);
        let _ = self.release_rootfs(&c.id);
        if let Some(mut s) = sync.take() {
            monitor::write_sync_line(&mut s, &json!({"error": e.to_string(), "code": code}));
        }
        if c.record.host_config.auto_remove {
            let _ = self.remove_container_now(c);
        }
    }

    /// `--init`'s PID 1: berth's own in its runtime; for another runtime a
    /// static init of the host (docker's `docker-init`), as docker mounts it.
    fn init_for(&self, host: &super::HostConfig) -> Result<Init> {
        if host.init != Some(true) {
            return Ok(Init::None);
        }
        if self.oci_runtime(host).name() == "berth" {
            return Ok(Init::Builtin);
        }
        berth_runtime::init::INIT_BINARIES
            .iter()
            .map(std::path::Path::new)
            .find(|p| p.is_file())
            .map(|p| Init::Binary(p.to_path_buf()))
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "--init with the runtime {} needs a static init on the host: {}",
                    host.runtime,
                    berth_runtime::init::INIT_BINARIES.join(" or ")
                ))
            })
    }

    /// Mounts the rootfs and writes `config.json`.
    fn prepare_bundle(&self, c: &Container, wait_attach: bool) -> Result<MonitorConfig> {
        let bundle = self.paths.bundle(&c.id);
        let rootfs = self.paths.rootfs(&c.id);
        std::fs::create_dir_all(&rootfs).map_err(Error::io(rootfs.display()))?;
        let rec = &c.record;
        let root_ids = rec.root_ids();
        berth_snapshot::mount::unmount_if_mounted(&rootfs)?;
        if rec.id_mappings.is_some() {
            self.check_reachable(&rootfs, root_ids.0)?;
            self.check_reachable(&self.paths.container(&c.id), root_ids.0)?;
        }
        self.mount_container_root(c, &rootfs)?;
        let u = user::resolve(&rootfs, &rec.config.user)?;
        // docker creates a working directory that is not there (in the
        // container's layer), resolved inside the root.
        let root_fd = berth_layer::root::open_root(&rootfs).map_err(Error::io(rootfs.display()))?;
        berth_layer::root::mkdir_all(&root_fd, &rec.config.working_dir, root_ids, 0o755).map_err(
            Error::io(format!("working directory {}", rec.config.working_dir)),
        )?;
        self.fill_empty_volumes(c, &rootfs, root_ids)?;
        self.write_etc_files(&c.id, &c.record)?;
        if rec.id_mappings.is_some() {
            self.chown_container_files(&c.id, root_ids)?;
        }
        let mut env = rec.config.env.clone();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", u.home));
        }
        let dir = self.paths.container(&c.id);
        let host = &rec.host_config;
        let security = super::SecurityOptions::parse(&host.security_opt)?;
        let opts = SpecOptions {
            args: std::iter::once(rec.path.clone())
                .chain(rec.args.iter().cloned())
                .collect(),
            env,
            cwd: rec.config.working_dir.clone(),
            user: ProcessUser {
                uid: u.uid,
                gid: u.gid,
            },
            additional_gids: u.additional_gids,
            hostname: rec.config.hostname.clone(),
            terminal: rec.config.tty,
            console_size: Some((host.console_size[0], host.console_size[1]))
                .filter(|(rows, cols)| *rows > 0 && *cols > 0),
            readonly_rootfs: host.readonly_rootfs,
            network: match NetworkMode::parse(&host.network_mode) {
                NetworkMode::Host => Network::Host,
                NetworkMode::None | NetworkMode::Bridge(_) => Network::None,
                NetworkMode::Container(other) => {
                    let other = self.container(&other)?;
                    if !other.state.running {
                        return Err(Error::Start {
                            message: format!(
                                "cannot join network of a non running container: {}",
                                other.id
                            ),
                            code: 125,
                        });
                    }
                    Network::Join(format!("/proc/{}/ns/net", other.state.pid).into())
                }
            },
            mounts: host.mounts.clone(),
            etc_files: crate::networks::etc::ETC_FILES
                .iter()
                .map(|f| (format!("/etc/{f}"), dir.join(f)))
                .collect(),
            cap_add: host.cap_add.clone(),
            cap_drop: host.cap_drop.clone(),
            privileged: host.privileged,
            resources: Resources {
                memory: (host.memory > 0).then_some(host.memory),
                cpus: (host.nano_cpus > 0).then(|| host.nano_cpus as f64 / 1e9),
                pids: host.pids_limit,
                // docker's kernel floor is 2; 0 means "not set".
                cpu_shares: u64::try_from(host.cpu_shares)
                    .ok()
                    .filter(|s| *s > 0)
                    .map(|s| s.max(2)),
                cpuset_cpus: Some(host.cpuset_cpus.clone()).filter(|c| !c.is_empty()),
                cpuset_mems: Some(host.cpuset_mems.clone()).filter(|c| !c.is_empty()),
                cpu_period: u64::try_from(host.cpu_period).ok().filter(|p| *p > 0),
                cpu_quota: (host.cpu_quota != 0).then_some(host.cpu_quota),
                memory_reservation: (host.memory_reservation > 0)
                    .then_some(host.memory_reservation),
                memory_swappiness: host.memory_swappiness.and_then(|s| u64::try_from(s).ok()),
                oom_kill_disable: host.oom_kill_disable,
                memory_swap: (host.memory_swap != 0).then_some(host.memory_swap),
                blkio_weight: (host.blkio_weight != 0).then_some(host.blkio_weight),
            },
            cgroups_path: Cgroup::of(&c.id).spec_path(),
            ulimits: host.ulimits.clone(),
            shm_size: u64::try_from(host.shm_size).ok().filter(|s| *s > 0),
            oom_score_adj: (host.oom_score_adj != 0).then_some(host.oom_score_adj),
            sysctls: host.sysctls.clone(),
            seccomp: security.seccomp,
            no_new_privileges: security.no_new_privileges,
            init: self.init_for(host)?,
            // The built-in runtime loads a filter compiled once; runc
            // compiles its own.
            seccomp_cache: (self.oci_runtime(host).name() == "berth")
                .then(|| self.paths.seccomp_cache()),
            devices: host
                .devices
                .iter()
                .map(super::DeviceMapping::resolve)
                .collect::<Result<_>>()?,
            device_rules: host
                .device_cgroup_rules
                .iter()
                .flatten()
                .map(|r| berth_runtime::spec::DeviceRule::parse(r))
                .collect::<std::result::Result<_, _>>()?,
            cgroupns: host.cgroupns_mode == "private",
            id_mappings: rec.id_mappings.clone(),
        };
        let spec = berth_runtime::spec::build(&opts)?;
        Lookup {
            root: &rootfs,
            mounts: &opts.mounts,
            env: &opts.env,
            cwd: &opts.cwd,
            user: opts.user,
            groups: &opts.additional_gids,
        }
        .check(&opts.args[0])
        .map_err(|e| start_failure(e.into()))?;
        berth_runtime::spec::write(&bundle, &spec)?;
        Ok(MonitorConfig {
            id: c.id.clone(),
            bundle,
            runtime: self.oci_runtime(host),
            terminal: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            log: self.log_path(&c.id),
            log_limits: host.log_config.limits()?,
            wait_attach,
        })
    }

    /// The container's json-file log.
    pub(crate) fn log_path(&self, id: &str) -> std::path::PathBuf {
        self.paths.container_log(id)
    }

    /// After the process ended: the runtime forgets it, its cgroup and mounts go.
    pub(crate) fn cleanup_run(&self, c: &Container) {
        let _ = self.oci_runtime(&c.record.host_config).delete(&c.id);
        Cgroup::of(&c.id).remove();
        let _ = self.release_rootfs(&c.id);
    }
}

struct MonitorHooks<'a> {
    engine: &'a Engine,
    container: &'a Container,
    sync: &'a mut Option<File>,
    /// Its interfaces and host ports, held while it runs.
    plugged: Option<Plugged>,
    /// A `--rm` container's row is gone with this exit; its files go once
    /// the client heard of it.
    removed: bool,
}

impl Hooks for MonitorHooks<'_> {
    fn created(&mut self, pid: i32) -> std::result::Result<(), berth_runtime::Error> {
        // Plugged before the process runs: it starts with its network.
        self.plugged = self
            .engine
            .plug_container(self.container, pid)
            .map_err(|e| berth_runtime::Error::Start {
                message: e.to_string(),
            })?;
        if let Some(s) = self.sync.as_mut() {
            monitor::write_sync_line(s, &json!({ "created": pid }));
        }
        Ok(())
    }

    fn started(&mut self, pid: i32) -> std::result::Result<(), berth_runtime::Error> {
        let me = std::process::id() as i32;
        let ports = self
            .plugged
            .as_ref()
            .map(Plugged::ports)
            .unwrap_or_default();
        let state = ContainerState::started(
            &self.container.state,
            pid,
            start_time(me).map(|s| (me, s)),
            ports,
        );
        self.engine
            .save_state(&self.container.id, &state)
            .map_err(|e| berth_runtime::Error::Runtime {
                message: e.to_string(),
            })?;
        // Here, not in the starting command: before its `die`, and again at
        // each restart by its policy, as docker's.
        self.engine.emit_container(self.container, "start", &[]);
        if let Some(mut s) = self.sync.take() {
            monitor::write_sync_line(&mut s, &json!({ "started": pid }));
        }
        Ok(())
    }

    fn exited(&mut self, exit: Exit) {
        let c = self.container;
        // Its host ports are free before anyone hears of the exit: a script's
        // next `run -p` of the same port must find it free.
        if let Some(p) = self.plugged.as_mut() {
            p.release_ports();
        }
        let code = exit.code.to_string();
        self.engine.emit_container(c, "die", &[("exitCode", &code)]);
        let current = self.engine.container(&c.id);
        let restarting = current.as_ref().is_ok_and(|c| c.state.restart_pending);
        if c.record.host_config.auto_remove && !restarting {
            // The row goes now, before the client hears of the exit; the layer
            // and directory after (`finished`), or by the sweep if this dies.
            self.engine.cleanup_run(c);
            let _ = self.engine.db.delete_container(&c.id);
            self.removed = true;
            return;
        }
        let oom = Cgroup::of(&c.id).oom_killed();
        // State first (a `wait` returns on it), then the cleanup.
        if let Ok(current) = current {
            let mut state = current.state;
            state.exited(exit.code, oom);
            self.engine.cleanup_run(c);
            let _ = self.engine.save_state(&c.id, &state);
        } else {
            self.engine.cleanup_run(c);
        }
    }

    fn finished(&mut self) {
        // Unplugged after the client heard of the exit: deleting a veth waits
        // for the kernel's RCU grace periods (milliseconds) that nobody needs
        // to wait for.
        let plugged = self.plugged.take();
        self.engine.unplug_container(self.container, plugged);
        if self.removed {
            let _ = self.engine.remove_container_files(self.container);
            // `--rm` takes the anonymous volumes with it, as docker's does.
            self.engine.remove_anonymous_volumes(self.container);
        }
    }
}

/// A runtime's failure to start a process as the engine reports it: a
/// command not found or not executable keeps docker's 127 or 126, any other
/// failure to start is 125.
pub(crate) fn start_failure(e: berth_runtime::Error) -> Error {
    match e {
        berth_runtime::Error::Command(e) => Error::Start {
            code: e.exit_code(),
            message: e.to_string(),
        },
        berth_runtime::Error::Start { message } => Error::Start { code: 125, message },
        other => Error::Runtime(other),
    }
}

/// Whether a recorded monitor is still alive.
pub(crate) fn monitor_alive(state: &ContainerState) -> bool {
    state.monitor.is_some_and(|(pid, start)| alive(pid, start))
}
