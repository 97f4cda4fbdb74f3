//! Containers: an image's read-only layers under one writable layer, run by an
//! OCI runtime under a per-container monitor.
//!
//! A container is a row in the database (settings and state kept apart), an
//! active snapshot `ctr-<id>` on the image's top layer, a directory under the
//! root (`containers/<id>`: log, hosts, hostname, resolv.conf, lock) and, while
//! it runs, a bundle under the runroot (`containers/<id>`: config.json, the
//! mounted rootfs, the attach socket) held by its monitor.

mod commit;
mod cp;
mod create;
mod exec;
mod health;
pub(crate) mod names;
mod ops;
mod restart;
mod start;
mod state;
pub(crate) mod userns;

use std::collections::BTreeMap;
use std::fs::File;

use berth_oci::Digest;
use berth_runtime::Runtime;
use berth_runtime::spec::MountSpec;
use berth_store::db::ContainerRow;
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::{Engine, Error, Result};

pub use commit::CommitOptions;
pub(crate) use create::Base;
pub use create::{AttachStreams, CreateOptions};
pub use exec::{Exec, ExecIo, ExecOptions};
pub use health::{Health, HealthConfig, HealthResult};
pub use ops::{ContainerFilter, Top, UpdateOptions};
pub use restart::RestartPolicy;
pub use start::Started;
pub(crate) use state::Operation;
pub use state::{StateError, Status};

/// A `--device`, as docker records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    /// The device node on the host.
    pub path_on_host: String,
    /// Where it appears in the container.
    pub path_in_container: String,
    /// `rwm` or part of it.
    pub cgroup_permissions: String,
}

impl DeviceMapping {
    /// Parses `HOST[:CONTAINER][:PERMISSIONS]`, as docker's `--device`.
    pub fn parse(spec: &str) -> Result<DeviceMapping> {
        let bad = |why: &str| Error::InvalidArgument(format!("invalid device {spec:?}: {why}"));
        let parts: Vec<&str> = spec.split(':').collect();
        let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
        let (host, container, perms) = match parts[..] {
            [h] => (h, h, "rwm"),
            [h, p] if perms_ok(p) => (h, h, p),
            [h, c] => (h, c, "rwm"),
            [h, c, p] if perms_ok(p) => (h, c, p),
            _ => return Err(bad("expected HOST[:CONTAINER][:PERMISSIONS]")),
        };
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(bad("the paths must be absolute"));
        }
        Ok(DeviceMapping {
            path_on_host: host.into(),
            path_in_container: container.into(),
            cgroup_permissions: perms.into(),
        })
    }

    /// The device as the runtime takes it, from the host's node now.
    pub fn resolve(&self) -> Result<berth_runtime::spec::Device> {
        let st = rustix::fs::stat(self.path_on_host.as_str()).map_err(|e| {
            Error::InvalidArgument(format!(
                "error gathering device information while adding custom device {:?}: {}",
                self.path_on_host,
                std::io::Error::from(e)
            ))
        })?;
        let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::CharacterDevice => 'c',
            rustix::fs::FileType::BlockDevice => 'b',
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "error gathering device information while adding custom device {:?}: not a device node",
                    self.path_on_host
                )));
            }
        };
        Ok(berth_runtime::spec::Device {
            path: self.path_in_container.clone(),
            kind,
            major: rustix::fs::major(st.st_rdev),
            minor: rustix::fs::minor(st.st_rdev),
            file_mode: st.st_mode & 0o7777,
            access: self.cgroup_permissions.clone(),
        })
    }
}

/// docker's `Config` of a container (the parts berth uses).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Hostname.
    pub hostname: String,
    /// Domain name (docker's field; berth sets none).
    #[serde(default)]
    pub domainname: String,
    /// stdin was to be attached (`-i` without `-d`).
    #[serde(default)]
    pub attach_stdin: bool,
    /// stdout was to be attached (no `-d`).
    #[serde(default)]
    pub attach_stdout: bool,
    /// stderr was to be attached (no `-d`).
    #[serde(default)]
    pub attach_stderr: bool,
    /// `USER[:GROUP]`.
    pub user: String,
    /// Environment, `K=V`.
    pub env: Vec<String>,
    /// CMD.
    pub cmd: Option<Vec<String>>,
    /// ENTRYPOINT.
    pub entrypoint: Option<Vec<String>>,
    /// Working directory.
    pub working_dir: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// A pseudo-terminal.
    pub tty: bool,
    /// stdin kept open (`-i`).
    pub open_stdin: bool,
    /// stdin closed after the first attach ends.
    pub stdin_once: bool,
    /// The image as the user named it.
    pub image: String,
    /// Signal that stops the container.
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL.
    pub stop_timeout: Option<i64>,
    /// EXPOSE, from the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// VOLUME, from the image (docker shows `null` for none).
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// ONBUILD, from the image (docker shows `null` for none).
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    /// The health check (the image's HEALTHCHECK under `--health-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
}

/// docker's `HostConfig` (the parts berth uses).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `-v HOST:CTR[:ro]`.
    pub binds: Vec<String>,
    /// Mounts beyond the defaults, as given to the runtime.
    pub mounts: Vec<MountSpec>,
    /// `--tmpfs PATH[:OPTIONS]`, by path (docker's `Tmpfs`; such mounts are
    /// not listed in `Mounts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--network`: `default` (the default bridge), `bridge`, `host`, `none`,
    /// `container:NAME` or a user-defined network's name.
    pub network_mode: String,
    /// `-p`: docker's `PortBindings` (`"80/tcp": [{"HostIp": "", "HostPort": "8080"}]`).
    #[serde(default)]
    pub port_bindings: BTreeMap<String, Vec<berth_network::ports::HostBinding>>,
    /// `-P`: every exposed port on an ephemeral host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--dns`.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--dns-search`.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP`.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `--log-driver` and `--log-opt`s.
    #[serde(default)]
    pub log_config: LogConfig,
    /// `--restart`.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// `--security-opt`: `seccomp=unconfined`, `seccomp=<profile JSON>` (the
    /// CLI reads the file, as docker's does), `no-new-privileges`.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `--memory`, bytes (0 = unlimited).
    pub memory: i64,
    /// `--cpus` × 10⁹.
    pub nano_cpus: i64,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--init`: an init as PID 1 that forwards signals and reaps zombies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// `--runtime`: empty for the built-in one.
    pub runtime: String,
    /// The terminal's size when `-t` was given: height, width (0 = unknown).
    #[serde(default)]
    pub console_size: [u16; 2],
    /// `--ulimit`s.
    #[serde(default)]
    pub ulimits: Vec<berth_runtime::spec::Ulimit>,
    /// `--shm-size`, bytes (0: docker's 64 MiB).
    #[serde(default)]
    pub shm_size: i64,
    /// `--oom-score-adj`.
    #[serde(default)]
    pub oom_score_adj: i32,
    /// `--sysctl`s.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// `--cpu-shares` (0: docker's default).
    #[serde(default)]
    pub cpu_shares: i64,
    /// `--cpuset-cpus`.
    #[serde(default)]
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    #[serde(default)]
    pub cpuset_mems: String,
    /// `--cpu-period`, microseconds (0: unset).
    #[serde(default)]
    pub cpu_period: i64,
    /// `--cpu-quota`, microseconds (0: unset).
    #[serde(default)]
    pub cpu_quota: i64,
    /// `--memory-reservation`, bytes (0: unset).
    #[serde(default)]
    pub memory_reservation: i64,
    /// `--memory-swappiness` (None: the kernel's).
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    #[serde(default)]
    pub oom_kill_disable: bool,
    /// `--memory-swap` (0: twice the memory; -1: unlimited).
    #[serde(default)]
    pub memory_swap: i64,
    /// `--blkio-weight` (0: unset).
    #[serde(default)]
    pub blkio_weight: u16,
    /// `--device`s.
    #[serde(default)]
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`s.
    #[serde(default)]
    pub device_cgroup_rules: Option<Vec<String>>,
    /// `--cgroupns`: `private` or `host`.
    #[serde(default)]
    pub cgroupns_mode: String,
    /// `--userns`: empty, `host` or `auto`.
    #[serde(default)]
    pub userns_mode: String,
}

/// docker's `LogConfig`: the driver (`json-file`, `none`) and its options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// The driver.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Its options (`max-size`, `max-file`).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            kind: "json-file".into(),
            config: BTreeMap::new(),
        }
    }
}

impl LogConfig {
    /// The json-file rotation, or `None` for the `none` driver; an unknown
    /// driver or option is refused.
    pub(crate) fn limits(&self) -> Result<Option<berth_runtime::logs::LogLimits>> {
        match self.kind.as_str() {
            "" | "json-file" => Ok(Some(berth_runtime::logs::LogLimits::from_opts(
                self.config.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?)),
            "local" => Ok(Some(berth_runtime::logs::LogLimits::from_opts_as(
                berth_runtime::logs::LogFormat::Local,
                self.config.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?)),
            "none" => {
                if let Some(k) = self.config.keys().next() {
                    return Err(Error::InvalidArgument(format!(
                        "unknown log opt {k:?} for the none driver"
                    )));
                }
                Ok(None)
            }
            other => Err(Error::InvalidArgument(format!(
                "logging driver {other:?} is not supported: berth has json-file, local and none"
            ))),
        }
    }
}

/// What `--security-opt` asks for, parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecurityOptions {
    /// The seccomp profile: `None` for `seccomp=unconfined`.
    pub seccomp: Option<berth_runtime::seccomp::Profile>,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
}

impl SecurityOptions {
    /// Parses docker's forms (`KEY=VALUE`, and the old `KEY:VALUE`).
    pub(crate) fn parse(given: &[String]) -> Result<SecurityOptions> {
        let mut out = SecurityOptions {
            seccomp: Some(berth_runtime::seccomp::Profile::builtin()),
            no_new_privileges: false,
        };
        for opt in given {
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) if !k.contains(':') => (k, Some(v)),
                _ => match opt.split_once(':') {
                    Some((k, v)) => (k, Some(v)),
                    None => (opt.as_str(), None),
                },
            };
            match (key, value) {
                ("seccomp", Some("unconfined")) => out.seccomp = None,
                ("seccomp", Some("builtin" | "default")) => {}
                ("seccomp", Some(profile)) if profile.trim_start().starts_with('{') => {
                    out.seccomp = Some(berth_runtime::seccomp::Profile::parse(profile)?);
                }
                ("seccomp", _) => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid --security-opt {opt:?}: seccomp takes unconfined or a profile (a JSON file)"
                    )));
                }
                ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
                ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid --security-opt {opt:?}: berth has seccomp=unconfined|PROFILE and no-new-privileges[=true|false]"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// docker's `State`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// created, running, paused, exited, dead.
    pub status: Status,
    /// Whether the process runs (paused included).
    pub running: bool,
    /// Frozen by `pause`.
    pub paused: bool,
    /// Killed by the kernel's OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// The init's PID on the host (0 when not running).
    pub pid: i32,
    /// The exit code.
    pub exit_code: i32,
    /// Why it could not start.
    pub error: String,
    /// When it last started (RFC 3339), or docker's zero time.
    pub started_at: String,
    /// When it last exited.
    pub finished_at: String,
    /// The monitor's PID and start time (clock ticks), to tell it from a reused PID.
    #[serde(default)]
    pub monitor: Option<(i32, u64)>,
    /// Restarts by its policy since the user last started it.
    #[serde(default)]
    pub restart_count: u32,
    /// Stopped or killed by the user: its restart policy rests until the
    /// next start.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Stopped by `restart`: a `--rm` container is kept through this exit,
    /// as docker keeps it; the next start clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart_pending: bool,
    /// The host ports bound while it runs (docker's `NetworkSettings.Ports`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<berth_network::ports::BoundPort>,
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for ContainerState {
    fn default() -> Self {
        ContainerState {
            status: Status::Created,
            running: false,
            paused: false,
            oom_killed: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            monitor: None,
            restart_count: 0,
            manually_stopped: false,
            restart_pending: false,
            ports: Vec::new(),
        }
    }
}

/// What a container is made of, fixed at create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerRecord {
    /// The command.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// docker's Config.
    pub config: ContainerConfig,
    /// docker's HostConfig.
    pub host_config: HostConfig,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Volumes made for the image's `VOLUME`s (removed with `rm -v`, and
    /// with the container when it was `--rm`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anonymous_volumes: Vec<String>,
    /// Its user namespace's maps (`--userns=auto`, `userns-remap`); `None`:
    /// the host's. Fixed at create: the container layer's files are owned
    /// by these IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_mappings: Option<berth_oci::idmap::IdMappings>,
}

impl ContainerRecord {
    /// The host UID and GID of its root user: `(0, 0)` in the host's user
    /// namespace.
    pub(crate) fn root_ids(&self) -> (u32, u32) {
        self.id_mappings.as_ref().map_or((0, 0), |m| m.root())
    }
}

/// A container as listed and inspected.
#[derive(Debug, Clone)]
pub struct Container {
    /// The 64-hex ID.
    pub id: String,
    /// Its name, without docker's leading `/`.
    pub name: String,
    /// The image ID.
    pub image: Digest,
    /// Settings.
    pub record: ContainerRecord,
    /// State.
    pub state: ContainerState,
    /// Its health, when it has a check and was started.
    pub health: Option<Health>,
}

impl Container {
    /// The 12-hex short ID.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// docker's STATUS column: `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
    pub fn status_line(&self, now: i64) -> String {
        let ago = |t: &str| crate::parse_time(t).map(|s| now - s).unwrap_or(0);
        match self.state.status {
            Status::Running => format!(
                "Up {}{}",
                crate::human_duration(ago(&self.state.started_at)),
                self.health
                    .as_ref()
                    .map(health::status_suffix)
                    .unwrap_or_default()
            ),
            Status::Paused => format!(
                "Up {} (Paused)",
                crate::human_duration(ago(&self.state.started_at))
            ),
            Status::Exited => format!(
                "Exited ({}) {} ago",
                self.state.exit_code,
                crate::human_duration(ago(&self.state.finished_at))
            ),
            Status::Restarting => format!(
                "Restarting ({}) {} ago",
                self.state.exit_code,
                crate::human_duration(ago(&self.state.finished_at))
            ),
            Status::Dead => "Dead".into(),
            _ => "Created".into(),
        }
    }

    /// The command as docker's COMMAND column shows it (quoted, untruncated).
    pub fn command_line(&self) -> String {
        // dockerd's `Command`: an argument with a space in single quotes.
        std::iter::once(self.record.path.clone())
            .chain(self.record.args.iter().map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn from_row(row: ContainerRow) -> Result<Container> {
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::Store(berth_store::Error::Corrupt(format!(
            "container {} {what}: {e}",
            row.id
        )))
    };
    let record = serde_json::from_str(&row.record).map_err(|e| corrupt("record", e))?;
    let state = serde_json::from_str(&row.state).map_err(|e| corrupt("state", e))?;
    Ok(Container {
        id: row.id,
        name: row.name,
        image: row.image,
        record,
        state,
        health: None,
    })
}

/// A document of a container's row.
pub(crate) fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| Error::Serialize {
        what: "the container record",
        source,
    })
}

/// Holds a container's lock: commands that change one container take turns.
pub(crate) struct ContainerLock(#[allow(dead_code)] File);

impl Engine {
    /// The OCI runtime the container was created with.
    pub(crate) fn oci_runtime(&self, host: &HostConfig) -> Box<dyn Runtime> {
        berth_runtime::oci::for_name(
            &host.runtime,
            self.paths.builtin_runtime_state(),
            self.paths.external_runtime_state(),
        )
    }

    pub(crate) fn lock_container(&self, id: &str) -> Result<ContainerLock> {
        let path = self.paths.container_lock(id);
        let f = crate::open_lock_file(&path)?;
        f.lock().map_err(Error::io(path.display()))?;
        Ok(ContainerLock(f))
    }

    /// Finds a container by full ID, name or unique ID prefix.
    pub fn container(&self, name: &str) -> Result<Container> {
        let name = name.strip_prefix('/').unwrap_or(name);
        let ids = if name.is_empty() {
            Vec::new()
        } else {
            self.db.find_containers(name)?
        };
        match ids.as_slice() {
            [id] => {
                let row = self
                    .db
                    .container(id)?
                    .ok_or_else(|| Error::ContainerNotFound(name.to_string()))?;
                self.reconcile(from_row(row)?)
            }
            [] => Err(Error::ContainerNotFound(name.to_string())),
            _ => Err(Error::AmbiguousContainer(name.to_string())),
        }
    }

    /// Every container, newest first, with its state checked.
    pub fn containers(&self) -> Result<Vec<Container>> {
        self.db
            .containers()?
            .into_iter()
            .map(|r| from_row(r).and_then(|c| self.reconcile(c)))
            .collect()
    }

    pub(crate) fn save_state(&self, id: &str, state: &ContainerState) -> Result<()> {
        self.db.set_container_state(id, &json(state)?)?;
        Ok(())
    }

    /// A container recorded as running whose monitor is gone was cut short (the
    /// monitor or the host died): record it as exited and release what it held.
    fn reconcile(&self, c: Container) -> Result<Container> {
        let mut c = self.reconcile_state(c)?;
        c.health = self.read_health(&c);
        Ok(c)
    }

    /// The state part of [`Engine::reconcile`].
    fn reconcile_state(&self, mut c: Container) -> Result<Container> {
        if !c.state.running {
            return Ok(c);
        }
        if start::monitor_alive(&c.state) {
            return Ok(c);
        }
        // The runtime's processes may outlive their monitor; they are stopped now,
        // as nothing would record their end.
        let runtime = self.oci_runtime(&c.record.host_config);
        let _ = runtime.kill(&c.id, libc::SIGKILL, true);
        let _ = runtime.delete(&c.id);
        let _ = self.release_rootfs(&c.id);
        let before = c.clone();
        let oom = c.state.oom_killed;
        c.state.exited(255, oom);
        self.save_state(&c.id, &c.state)?;
        // Its veths and its ports' rules go too (the ports died with the monitor).
        self.unplug_container(&before, None);
        Ok(c)
    }

    /// Unmounts the container's rootfs and removes its bundle directory.
    pub(crate) fn release_rootfs(&self, id: &str) -> Result<()> {
        let bundle = self.paths.bundle(id);
        berth_snapshot::mount::unmount_if_mounted(&self.paths.rootfs(id))?;
        match std::fs::remove_dir_all(&bundle) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(bundle.display())(e)),
        }
    }

    /// The bytes of a container's writable layer, and of its image.
    pub fn container_size(&self, id: &str) -> Result<(u64, u64)> {
        let c = self.container(id)?;
        let rw = self
            .snapshotter()?
            .usage(&keys::container(&c.id))
            .map(|u| u.size)
            .unwrap_or(0);
        let image = self.db.image(&c.image)?.map(|i| i.record.size).unwrap_or(0);
        Ok((rw, image))
    }

    /// Containers created from `image`, for `rmi`'s refusal.
    pub(crate) fn containers_using(&self, image: &Digest) -> Result<Vec<Container>> {
        self.db
            .containers_of_image(image)?
            .into_iter()
            .map(|r| from_row(r).and_then(|c| self.reconcile(c)))
            .collect()
    }
}

impl Engine {
    /// `berth inspect CONTAINER`: docker's document.
    pub fn inspect_container(&self, name: &str) -> Result<serde_json::Value> {
        let c = self.container(name)?;
        let dir = self.paths.container(&c.id);
        let snap = self.snapshotter()?;
        let key = keys::container(&c.id);
        let mut data = serde_json::Map::new();
        if let Ok(mounts) = snap.mounts(&key) {
            for o in mounts.iter().flat_map(|m| m.options.iter()) {
                for (opt, field) in [
                    ("lowerdir=", "LowerDir"),
                    ("upperdir=", "UpperDir"),
                    ("workdir=", "WorkDir"),
                ] {
                    if let Some(v) = o.strip_prefix(opt) {
                        data.insert(field.into(), v.into());
                    }
                }
            }
            if !data.contains_key("UpperDir")
                && let Ok(p) = snap.path(&key)
            {
                data.insert("UpperDir".into(), p.display().to_string().into());
            }
        }
        data.insert(
            "MergedDir".into(),
            self.paths.rootfs(&c.id).display().to_string().into(),
        );
        let from_tmpfs_flag = |m: &MountSpec| {
            m.kind == "tmpfs"
                && c.record
                    .host_config
                    .tmpfs
                    .as_ref()
                    .is_some_and(|t| t.contains_key(&m.destination))
        };
        let volumes = self.paths.volumes();
        let mounts: Vec<serde_json::Value> = c
            .record
            .host_config
            .mounts
            .iter()
            .filter(|m| !from_tmpfs_flag(m))
            .map(|m| {
                let ro = m.options.iter().any(|o| o == "ro");
                // A volume's source is VOLUMES/NAME/_data.
                let volume = std::path::Path::new(&m.source)
                    .strip_prefix(&volumes)
                    .ok()
                    .and_then(|p| p.components().next())
                    .map(|n| n.as_os_str().to_string_lossy().into_owned());
                let kind = match (&volume, m.kind.as_str()) {
                    (_, "tmpfs") => "tmpfs",
                    (Some(_), _) => "volume",
                    (None, _) => "bind",
                };
                let mut mount = serde_json::json!({
                    "Type": kind,
                    "Source": m.source,
                    "Destination": m.destination,
                    "Mode": if ro { "ro" } else { "" },
                    "RW": !ro,
                    "Propagation": if kind == "bind" { "rprivate" } else { "" },
                });
                // docker's templates see an empty Name on binds.
                mount["Name"] = volume.clone().unwrap_or_default().into();
                if volume.is_some() {
                    mount["Driver"] = "local".into();
                    mount["Mode"] = if ro { "ro" } else { "z" }.into();
                }
                mount
            })
            .collect();
        let path = |f: &str| dir.join(f).display().to_string();
        // docker's HostConfig also names the log driver; SDKs read it to
        // decide whether logs can be read back.
        let host_config = host_config_shape(serde_json::to_value(&c.record.host_config).map_err(
            |source| Error::Serialize {
                what: "the container's host config",
                source,
            },
        )?);
        let mut state = serde_json::to_value(&c.state).map_err(|source| Error::Serialize {
            what: "the container's state",
            source,
        })?;
        // docker's booleans beside the status.
        state["Restarting"] = (c.state.status == Status::Restarting).into();
        if let Some(h) = &c.health {
            state["Health"] = serde_json::to_value(h).unwrap_or_default();
        }
        state["Dead"] = (c.state.status == Status::Dead).into();
        if let Some(s) = state.as_object_mut() {
            for berths_own in ["Ports", "RestartCount", "ManuallyStopped"] {
                s.remove(berths_own);
            }
        }
        let network_settings = self.network_settings(&c)?;
        Ok(serde_json::json!({
            "Id": c.id,
            "Created": c.record.created,
            "Path": c.record.path,
            "Args": c.record.args,
            "State": state,
            "Image": c.image.to_string(),
            "ResolvConfPath": path("resolv.conf"),
            "HostnamePath": path("hostname"),
            "HostsPath": path("hosts"),
            "LogPath": self.log_path(&c.id).display().to_string(),
            "Name": format!("/{}", c.name),
            "RestartCount": c.state.restart_count,
            "Driver": snap.name(),
            "Platform": "linux",
            "HostConfig": host_config,
            "GraphDriver": {"Data": data, "Name": snap.name()},
            "Mounts": mounts,
            "Config": c.record.config,
            "NetworkSettings": network_settings,
            "ExecIDs": null,
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
        }))
    }
}

/// A host config in dockerd's full shape: the fields berth does not set
/// have docker's zero values, so that templates and SDKs find every key.
fn host_config_shape(given: serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::json!({
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": null,
        "BlkioDeviceWriteBps": null, "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null,
        "Cgroup": "", "CgroupParent": "", "CgroupnsMode": "host", "ContainerIDFile": "",
        "CpuCount": 0, "CpuPercent": 0, "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetMems": "",
        "DeviceCgroupRules": null, "DeviceRequests": null, "Devices": [], "GroupAdd": null,
        "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "IpcMode": "private", "Isolation": "",
        "KernelMemory": 0, "KernelMemoryTCP": 0, "Links": null,
        "MaskedPaths": berth_runtime::spec::MASKED_PATHS,
        "ReadonlyPaths": berth_runtime::spec::READONLY_PATHS,
        "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": null,
        "OomKillDisable": false, "PidMode": "", "UTSMode": "", "UsernsMode": "",
        "VolumeDriver": "", "VolumesFrom": null,
    });
    if let (Some(o), serde_json::Value::Object(given)) = (out.as_object_mut(), given) {
        o.extend(given);
    }
    out
}
