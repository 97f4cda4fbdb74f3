//! `berth create`: a container record, its writable snapshot on the image's
//! layers, and the files it gets (hosts, hostname, resolv.conf).

use std::collections::BTreeMap;
use std::path::Path;

use berth_layer::tree::{Placeholder, ensure};
use berth_oci::ChainId;
use berth_oci::image::RunConfig;
use berth_runtime::spec::MountSpec;
use berth_store::db::ContainerRow;

use super::names::{new_id, random_name, valid_name};
use super::{
    ContainerConfig, ContainerRecord, ContainerState, DeviceMapping, HealthConfig, HostConfig,
    SecurityOptions,
};
use crate::keys;
use crate::networks::{EndpointSettings, NetworkMode};
use crate::paths::Paths;
use crate::{Engine, Error, Result};

/// The flags of `create` / `run`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CreateOptions {
    /// The image, as the user named it.
    pub image: String,
    /// `--name`.
    pub name: Option<String>,
    /// The command after the image name (replaces CMD).
    pub cmd: Vec<String>,
    /// `--entrypoint` (empty string = none).
    pub entrypoint: Option<String>,
    /// `-e` and `--env-file` entries: `K=V`, or `K` to take the caller's value.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// Which streams a client attaches at start (docker's `Attach*`: all but
    /// stdin without `-d`, stdin too with `-i`): recorded in the config.
    pub attach: AttachStreams,
    /// `-v`.
    pub volumes: Vec<String>,
    /// `--mount`.
    pub mounts: Vec<String>,
    /// `--tmpfs PATH[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--network`: the default bridge when absent; `bridge`, `host`, `none`,
    /// `container:NAME` or a user-defined network.
    pub network: Option<String>,
    /// `-p` specs.
    pub publish: Vec<String>,
    /// docker's `PortBindings` as the API gives them (beside `-p`).
    pub port_bindings: BTreeMap<String, Vec<berth_network::ports::HostBinding>>,
    /// `--expose` ports (beside the image's EXPOSE).
    pub expose: Vec<String>,
    /// `-P`.
    pub publish_all: bool,
    /// `--network-alias`, `--ip`, `--mac-address` for the network of
    /// `--network`; the API's `NetworkingConfig` gives them per network.
    pub endpoint: EndpointSettings,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    pub dns_options: Vec<String>,
    /// `--add-host`.
    pub add_hosts: Vec<String>,
    /// `--security-opt`s (a seccomp profile as its JSON text).
    pub security_opt: Vec<String>,
    /// `--restart`.
    pub restart: Option<String>,
    /// `--log-driver` (json-file when absent).
    pub log_driver: Option<String>,
    /// `--log-opt K=V`s.
    pub log_opts: BTreeMap<String, String>,
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--init`.
    pub init: bool,
    /// `--ulimit`s (checked at create).
    pub ulimits: Vec<berth_runtime::spec::Ulimit>,
    /// `--shm-size`, bytes.
    pub shm_size: Option<i64>,
    /// `--oom-score-adj` (-1000 to 1000).
    pub oom_score_adj: Option<i32>,
    /// `--sysctl NAME=VALUE`s.
    pub sysctls: Vec<String>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--cpu-period`, microseconds.
    pub cpu_period: Option<i64>,
    /// `--cpu-quota`, microseconds.
    pub cpu_quota: Option<i64>,
    /// `--memory-reservation`, bytes.
    pub memory_reservation: Option<i64>,
    /// `--memory-swappiness` (0-100; -1 for the default).
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--health-*` / `--no-healthcheck` (over the image's HEALTHCHECK).
    pub healthcheck: Option<HealthConfig>,
    /// `--memory-swap`, bytes of memory plus swap (-1: unlimited swap).
    pub memory_swap: Option<i64>,
    /// `--blkio-weight` (10 to 1000; the caller drops it where the host's
    /// cgroups cannot weigh block I/O, as docker does).
    pub blkio_weight: Option<u16>,
    /// `--device HOST[:CONTAINER][:PERMISSIONS]`.
    pub devices: Vec<String>,
    /// `--device-cgroup-rule`s.
    pub device_cgroup_rules: Vec<String>,
    /// `--cgroupns private|host`.
    pub cgroupns: Option<String>,
    /// `--userns host|auto`.
    pub userns: Option<String>,
    /// `--label K=V`.
    pub labels: Vec<String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout`.
    pub stop_timeout: Option<i64>,
    /// `--runtime PATH`.
    pub runtime: Option<String>,
    /// `--rm`.
    pub auto_remove: bool,
    /// The caller's terminal size (rows, columns), for `-t`.
    pub console_size: Option<(u16, u16)>,
}

/// What a container starts from.
pub(crate) struct Base {
    /// The image ID recorded for it.
    pub image: berth_oci::Digest,
    /// The config its settings default to.
    pub config: berth_oci::image::RunConfig,
    /// The snapshot its layer goes on (none: an empty root).
    pub top: Option<ChainId>,
    /// Put docker's init layer (mount points, /etc files) between: what a
    /// build step commits must not hold it.
    pub init_layer: bool,
}

/// docker's `AttachStdin`, `AttachStdout`, `AttachStderr`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachStreams {
    /// stdin.
    pub stdin: bool,
    /// stdout.
    pub stdout: bool,
    /// stderr.
    pub stderr: bool,
}

/// `--sysctl NAME=VALUE`s, each namespaced (`net.*` only with a network
/// namespace of the container's own).
fn parse_sysctls(given: &[String], own_network: bool) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in given {
        let (name, value) = s.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("invalid --sysctl {s:?}: expected NAME=VALUE"))
        })?;
        berth_runtime::spec::check_sysctl(name.trim(), own_network)?;
        out.insert(name.trim().to_string(), value.to_string());
    }
    Ok(out)
}

/// Parses `-v HOST:CTR[:ro|rw]` / `-v NAME:CTR` / `--mount …` / `--tmpfs …` into
/// runtime mounts; named volumes become directories under `volumes_root`.
fn parse_mounts(opts: &CreateOptions, paths: &Paths) -> Result<Vec<MountSpec>> {
    let bad = |what: &str, v: &str, why: &str| {
        Error::InvalidArgument(format!("invalid {what} {v:?}: {why}"))
    };
    let mut out = Vec::new();
    let volume_dir = |name: &str| -> Result<String> {
        if !valid_name(name) {
            return Err(Error::InvalidArgument(format!(
                "invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let dir = paths.volume_data(name);
        std::fs::create_dir_all(&dir).map_err(Error::io(dir.display()))?;
        Ok(dir.display().to_string())
    };
    let bind = |source: String, dest: &str, ro: bool| MountSpec {
        destination: dest.to_string(),
        kind: "bind".into(),
        source,
        options: if ro {
            vec!["rbind".into(), "rprivate".into(), "ro".into()]
        } else {
            vec!["rbind".into(), "rprivate".into()]
        },
    };
    for v in &opts.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dest, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => return Err(bad("volume", v, "expected HOST:CONTAINER[:ro]")),
        };
        if !dest.starts_with('/') {
            return Err(bad("volume", v, "the container path must be absolute"));
        }
        let ro = match mode {
            "" | "rw" => false,
            "ro" => true,
            _ => return Err(bad("volume", v, "mode must be ro or rw")),
        };
        let source = if src.starts_with('/') {
            if !Path::new(src).exists() {
                std::fs::create_dir_all(src).map_err(Error::io(src))?;
            }
            src.to_string()
        } else {
            volume_dir(src)?
        };
        out.push(bind(source, dest, ro));
    }
    for m in &opts.mounts {
        let mut kind = "volume";
        let (mut source, mut target, mut ro, mut size) = (None, None, false, None);
        for field in m.split(',') {
            let (k, val) = field.split_once('=').unwrap_or((field, ""));
            match k {
                "type" => kind = val,
                "source" | "src" => source = Some(val.to_string()),
                "target" | "destination" | "dst" => target = Some(val.to_string()),
                "readonly" | "ro" => ro = val.is_empty() || val == "true" || val == "1",
                "tmpfs-size" => size = Some(val.to_string()),
                _ => return Err(bad("--mount", m, &format!("unknown field {k:?}"))),
            }
        }
        let target = target.ok_or_else(|| bad("--mount", m, "target is required"))?;
        if !target.starts_with('/') {
            return Err(bad("--mount", m, "target must be absolute"));
        }
        match kind {
            "bind" => {
                let s = source.ok_or_else(|| bad("--mount", m, "source is required"))?;
                if !Path::new(&s).exists() {
                    return Err(bad("--mount", m, "bind source path does not exist"));
                }
                out.push(bind(s, &target, ro));
            }
            "volume" => {
                let s = match source {
                    Some(s) if !s.is_empty() => s,
                    _ => new_id()?,
                };
                out.push(bind(volume_dir(&s)?, &target, ro));
            }
            "tmpfs" => {
                let mut options = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                if let Some(s) = size {
                    options.push(format!("size={s}"));
                }
                out.push(MountSpec {
                    destination: target,
                    kind: "tmpfs".into(),
                    source: String::new(),
                    options,
                });
            }
            other => return Err(bad("--mount", m, &format!("unknown type {other:?}"))),
        }
    }
    for t in &opts.tmpfs {
        let (dest, extra) = t.split_once(':').unwrap_or((t, ""));
        if !dest.starts_with('/') {
            return Err(bad("--tmpfs", t, "the path must be absolute"));
        }
        let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
        options.extend(
            extra
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string),
        );
        out.push(MountSpec {
            destination: dest.to_string(),
            kind: "tmpfs".into(),
            source: String::new(),
            options,
        });
    }
    Ok(out)
}

/// The image's HEALTHCHECK under the `--health-*` flags, as docker merges
/// them; `None` when neither says anything.
fn healthcheck(opts: &CreateOptions, ic: &RunConfig) -> Result<Option<HealthConfig>> {
    let image: Option<HealthConfig> = ic
        .extra
        .get("Healthcheck")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    match (image, &opts.healthcheck) {
        (None, None) => Ok(None),
        (base, Some(over)) => {
            over.check()?;
            Ok(Some(base.unwrap_or_default().merged(over)))
        }
        (base, None) => Ok(base),
    }
}

/// docker's checks of the CFS and memory settings, in its words.
fn check_cpu_and_memory(h: &HostConfig) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    if h.nano_cpus > 0 && h.cpu_period > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if h.nano_cpus > 0 && h.cpu_quota > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
    }
    if h.cpu_period != 0 && !(1000..=1_000_000).contains(&h.cpu_period) {
        return bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        );
    }
    if h.cpu_quota > 0 && h.cpu_quota < 1000 {
        return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    if let Some(s) = h.memory_swappiness
        && !(0..=100).contains(&s)
    {
        return bad(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        ));
    }
    if h.memory_swap != 0 && h.memory == 0 {
        return bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        );
    }
    if h.memory_swap > 0 && h.memory_swap < h.memory {
        return bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        );
    }
    if h.blkio_weight != 0 && !(10..=1000).contains(&h.blkio_weight) {
        return bad("Range of blkio weight is from 10 to 1000".into());
    }
    if h.memory > 0 && h.memory_reservation > h.memory {
        return bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        );
    }
    if !h.cpuset_mems.is_empty() {
        // The host's memory (NUMA) nodes: node0, node1, …
        let nodes = std::fs::read_dir("/sys/devices/system/node")
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_prefix("node"))
                            .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
                    .count()
            })
            .unwrap_or(1)
            .max(1);
        berth_runtime::spec::check_cpuset(&h.cpuset_mems, nodes).map_err(|_| {
            Error::InvalidArgument(format!(
                "Requested memory nodes are not available - requested {}, available: {}",
                h.cpuset_mems,
                if nodes == 1 {
                    "0".to_string()
                } else {
                    format!("0-{}", nodes - 1)
                }
            ))
        })?;
    }
    Ok(())
}

/// `K=V` entries over `base`, a later key replacing an earlier one; a bare `K`
/// takes the caller's value (and is dropped when the caller has none).
pub(crate) fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let mut env: Vec<String> = base.to_vec();
    for e in over {
        let entry = match e.split_once('=') {
            Some(_) => e.clone(),
            None => match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    env
}

impl Engine {
    /// `berth create`: records a container of an image present in the store and
    /// prepares its writable layer. Returns its ID.
    pub fn create_container(&self, opts: &CreateOptions) -> Result<String> {
        let img = self.resolve(&opts.image)?;
        let (_, image_config) = self.config_of(&img)?;
        let chains = self.ensure_unpacked(&img)?;
        let base = Base {
            image: img.id.clone(),
            config: image_config.config.unwrap_or_default(),
            top: chains.last().cloned(),
            init_layer: true,
        };
        self.create_from(opts, &base)
    }

    /// Creates a container on `base`.
    pub(crate) fn create_from(&self, opts: &CreateOptions, base: &Base) -> Result<String> {
        let ic = &base.config;

        // dockerd's `--bridge=none`: no default network at all.
        let default_mode = if self.network_defaults.no_default_bridge {
            "none"
        } else {
            "default"
        };
        let mut network_mode = match opts.network.as_deref() {
            None | Some("") | Some("default") => default_mode.to_string(),
            Some(n) => n.to_string(),
        };
        let (mode, bridge) = match NetworkMode::parse(&network_mode) {
            NetworkMode::Bridge(name) => {
                let n = self.network(&name)?;
                if n.config.driver == "bridge" {
                    (NetworkMode::Bridge(name), Some(n))
                } else {
                    // The host or none network named by its name or ID.
                    network_mode = n.name.clone();
                    (NetworkMode::parse(&n.name), None)
                }
            }
            NetworkMode::Container(other) => {
                self.container(&other)?;
                if opts.hostname.is_some() {
                    return Err(Error::InvalidArgument(
                        "conflicting options: hostname and the network mode".into(),
                    ));
                }
                (NetworkMode::Container(other), None)
            }
            other => (other, None),
        };
        let mut port_bindings = opts.port_bindings.clone();
        for spec in &opts.publish {
            for (port, binding) in berth_network::ports::parse_publish(spec)? {
                port_bindings
                    .entry(port.to_string())
                    .or_default()
                    .push(binding);
            }
        }
        if !port_bindings.is_empty() || opts.publish_all {
            if matches!(mode, NetworkMode::Container(_)) {
                return Err(Error::InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ));
            }
            if mode == NetworkMode::None {
                return Err(Error::InvalidArgument(
                    "conflicting options: port publishing and the none network mode".into(),
                ));
            }
        }
        SecurityOptions::parse(&opts.security_opt)?;
        if opts.auto_remove
            && opts
                .restart
                .as_deref()
                .map(super::RestartPolicy::parse)
                .transpose()?
                .is_some_and(|p| p.is_set())
        {
            return Err(Error::InvalidArgument(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        super::LogConfig {
            kind: opts.log_driver.clone().unwrap_or_default(),
            config: opts.log_opts.clone(),
        }
        .limits()?;
        for h in &opts.add_hosts {
            crate::networks::check_extra_host(h)?;
        }
        for d in &opts.dns {
            if d.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::InvalidArgument(format!(
                    "invalid --dns {d:?}: not an IP address"
                )));
            }
        }
        if bridge.is_none()
            && (!opts.endpoint.aliases.is_empty() || opts.endpoint.requested_ip.is_some())
        {
            return Err(Error::InvalidArgument(
                "network-scoped aliases and addresses are only supported on bridge networks".into(),
            ));
        }
        let (mut config, argv) = merge_config(opts, ic)?;
        let mut exposed = Vec::new();
        for e in &opts.expose {
            exposed.extend(berth_network::ports::parse_expose(e)?);
        }
        for p in port_bindings.keys() {
            exposed.push(p.parse()?);
        }
        for port in exposed {
            config
                .exposed_ports
                .get_or_insert_with(BTreeMap::new)
                .insert(port.to_string(), serde_json::json!({}));
        }
        if let Some(c) = opts.cpus
            && !(c > 0.0 && c.is_finite())
        {
            return Err(Error::InvalidArgument(format!("invalid --cpus {c}")));
        }
        if let Some(m) = opts.memory
            && m < 6 << 20
        {
            return Err(Error::InvalidArgument(
                "minimum memory limit allowed is 6MB".into(),
            ));
        }
        let id = new_id()?;
        let hostname = match (&opts.hostname, &mode) {
            (Some(h), _) => h.clone(),
            (None, NetworkMode::Host) => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            (None, _) => id[..12].to_string(),
        };
        let mounts = parse_mounts(opts, &self.paths)?;
        config.hostname = hostname.clone();
        let host_config = HostConfig {
            binds: opts.volumes.clone(),
            tmpfs: (!opts.tmpfs.is_empty()).then(|| {
                opts.tmpfs
                    .iter()
                    .map(|t| {
                        let (path, options) = t.split_once(':').unwrap_or((t, ""));
                        (path.to_string(), options.to_string())
                    })
                    .collect()
            }),
            mounts,
            readonly_rootfs: opts.read_only,
            network_mode,
            port_bindings,
            publish_all_ports: opts.publish_all,
            dns: opts.dns.clone(),
            dns_search: opts.dns_search.clone(),
            dns_options: opts.dns_options.clone(),
            extra_hosts: opts.add_hosts.clone(),
            security_opt: opts.security_opt.clone(),
            restart_policy: match &opts.restart {
                Some(r) => super::RestartPolicy::parse(r)?,
                None => super::RestartPolicy::default(),
            },
            log_config: super::LogConfig {
                kind: opts
                    .log_driver
                    .clone()
                    .unwrap_or_else(|| "json-file".into()),
                config: opts.log_opts.clone(),
            },
            memory: opts.memory.unwrap_or(0),
            nano_cpus: opts.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            pids_limit: opts.pids_limit,
            cap_add: opts.cap_add.clone(),
            cap_drop: opts.cap_drop.clone(),
            privileged: opts.privileged,
            init: opts.init.then_some(true),
            auto_remove: opts.auto_remove,
            runtime: opts.runtime.clone().unwrap_or_default(),
            console_size: opts
                .console_size
                .filter(|_| opts.tty)
                .map(|(rows, cols)| [rows, cols])
                .unwrap_or_default(),
            ulimits: opts.ulimits.clone(),
            shm_size: opts.shm_size.unwrap_or(0),
            oom_score_adj: opts.oom_score_adj.unwrap_or(0),
            sysctls: parse_sysctls(&opts.sysctls, mode != NetworkMode::Host)?,
            cpu_shares: opts.cpu_shares.unwrap_or(0),
            cpuset_cpus: opts.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: opts.cpuset_mems.clone().unwrap_or_default(),
            cpu_period: opts.cpu_period.unwrap_or(0),
            cpu_quota: opts.cpu_quota.unwrap_or(0),
            memory_reservation: opts.memory_reservation.unwrap_or(0),
            memory_swappiness: opts.memory_swappiness.filter(|s| *s != -1),
            oom_kill_disable: opts.oom_kill_disable,
            memory_swap: opts.memory_swap.unwrap_or(0),
            blkio_weight: opts.blkio_weight.unwrap_or(0),
            devices: opts
                .devices
                .iter()
                .map(|d| DeviceMapping::parse(d))
                .collect::<Result<_>>()?,
            device_cgroup_rules: (!opts.device_cgroup_rules.is_empty())
                .then(|| opts.device_cgroup_rules.clone()),
            cgroupns_mode: match opts.cgroupns.as_deref() {
                None | Some("") => if berth_runtime::cgroup::unified() {
                    "private"
                } else {
                    "host"
                }
                .into(),
                Some(m @ ("private" | "host")) => m.into(),
                Some(m) => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid cgroup namespace mode: {m}"
                    )));
                }
            },
            userns_mode: opts.userns.clone().unwrap_or_default(),
        };
        let userns = super::userns::UsernsMode::parse(&host_config.userns_mode)?;
        // Build steps run in the host's: their layers are written as is.
        let userns = if base.init_layer {
            userns
        } else {
            super::userns::UsernsMode::Host
        };
        let remapped = match userns {
            super::userns::UsernsMode::Host => false,
            super::userns::UsernsMode::Auto => true,
            super::userns::UsernsMode::Default => self.userns_remap.is_some(),
        };
        if remapped && host_config.privileged {
            return Err(Error::InvalidArgument(
                "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode".into(),
            ));
        }
        if remapped && mode == NetworkMode::Host {
            return Err(Error::InvalidArgument(
                "cannot share the host's network namespace when user namespaces are enabled".into(),
            ));
        }
        check_cpu_and_memory(&host_config)?;
        for rule in &opts.device_cgroup_rules {
            berth_runtime::spec::DeviceRule::parse(rule)?;
        }
        for d in &host_config.devices {
            d.resolve()?;
        }
        if host_config.cpu_shares < 0 {
            return Err(Error::InvalidArgument(
                "invalid --cpu-shares: it must be positive".into(),
            ));
        }
        if !host_config.cpuset_cpus.is_empty() {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            berth_runtime::spec::check_cpuset(&host_config.cpuset_cpus, cpus)?;
        }
        for u in &host_config.ulimits {
            u.check()?;
        }
        if host_config.shm_size < 0 {
            return Err(Error::InvalidArgument(
                "invalid --shm-size: it must be positive".into(),
            ));
        }
        if !(-1000..=1000).contains(&host_config.oom_score_adj) {
            return Err(Error::InvalidArgument(format!(
                "invalid --oom-score-adj {}: it must be between -1000 and 1000",
                host_config.oom_score_adj
            )));
        }
        // Capability names are checked now, not at start.
        berth_runtime::spec::capabilities(&berth_runtime::spec::SpecOptions {
            cap_add: host_config.cap_add.clone(),
            cap_drop: host_config.cap_drop.clone(),
            ..Default::default()
        })?;
        if !host_config.runtime.is_empty()
            && host_config.runtime != "berth"
            && !Path::new(&host_config.runtime).is_file()
        {
            return Err(Error::InvalidArgument(format!(
                "runtime {:?} not found: give the path of an OCI runtime binary such as /usr/sbin/runc",
                host_config.runtime
            )));
        }
        let name = match &opts.name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !valid_name(n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.to_string()
            }
            None => String::new(),
        };
        // The image's VOLUMEs not mounted otherwise get an anonymous volume
        // each, as docker does, made once everything else is checked (build
        // steps get none: their writes must land in the layer).
        let mut host_config = host_config;
        let mut anonymous_volumes = Vec::new();
        if base.init_layer {
            for path in ic.volumes.iter().flat_map(|v| v.keys()) {
                if host_config.mounts.iter().any(|m| m.destination == *path) {
                    continue;
                }
                let v = self.create_volume(None)?;
                host_config.mounts.push(MountSpec {
                    destination: path.clone(),
                    kind: "bind".into(),
                    source: v.mountpoint.display().to_string(),
                    options: vec!["rbind".into(), "rprivate".into()],
                });
                anonymous_volumes.push(v.name);
            }
        }
        let record = ContainerRecord {
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            host_config,
            created: crate::rfc3339_now(),
            anonymous_volumes,
            id_mappings: self.take_id_mappings(&id, userns)?,
        };

        // Files first, then the snapshot, then the row: a kill before the row
        // leaves garbage the sweep removes, never a row naming nothing.
        let dir = self.paths.container(&id);
        // Held until the row is in: the sweep removes container snapshots that no
        // row names.
        let guard = std::fs::create_dir_all(&dir)
            .map_err(Error::io(dir.display()))
            .and_then(|()| Ok(self.gc.shared()?));
        let _guard = match guard {
            Ok(g) => g,
            Err(e) => {
                self.release_id_mappings(&id);
                return Err(e);
            }
        };
        let etc = self.write_etc_files(&id, &record);
        let prepared = etc.and_then(|()| {
            let parent = if base.init_layer {
                Some(self.init_layer(&id, base.top.as_ref())?)
            } else {
                base.top.as_ref().map(keys::layer)
            };
            self.snapshotter()?
                .prepare(&keys::container(&id), parent.as_deref())?;
            Ok(())
        });
        let undo = || {
            if let Ok(s) = self.snapshotter() {
                let _ = s.remove(&keys::container(&id));
                let _ = s.remove(&keys::container_init(&id));
            }
            let _ = std::fs::remove_dir_all(&dir);
            self.release_id_mappings(&id);
        };
        if let Err(e) = prepared {
            undo();
            return Err(e);
        }
        let row = |name: String| -> Result<ContainerRow> {
            Ok(ContainerRow {
                id: id.clone(),
                name,
                image: base.image.clone(),
                created: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
                record: super::json(&record)?,
                state: super::json(&ContainerState::default())?,
            })
        };
        let inserted = if name.is_empty() {
            let mut done = false;
            for attempt in 0..20 {
                if self.db.put_container(&row(random_name(attempt)?)?)? {
                    done = true;
                    break;
                }
            }
            done
        } else {
            self.db.put_container(&row(name.clone())?)?
        };
        if !inserted {
            undo();
            let holder = self.db.find_containers(&name)?.pop().unwrap_or_default();
            return Err(Error::NameInUse(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        // On its network with an address (released when it is removed), then
        // its files again, now with the address.
        if let Some(n) = &bridge {
            let joined = self
                .join_network(n, &id, &opts.endpoint)
                .and_then(|_| self.write_etc_files(&id, &record));
            if let Err(e) = joined {
                let _ = self.db.delete_container(&id);
                undo();
                return Err(e);
            }
        }
        if let Ok(c) = self.container(&id) {
            self.emit_container(&c, "create", &[]);
        }
        Ok(id)
    }
}

/// The container's config: the image's, overridden by the options as docker
/// does (a new entrypoint drops the image's CMD; env, labels, user, working
/// directory and stop signal override by name). Returns it with the argv.
/// The hostname is the caller's to set.
fn merge_config(opts: &CreateOptions, ic: &RunConfig) -> Result<(ContainerConfig, Vec<String>)> {
    let entrypoint = match &opts.entrypoint {
        Some(e) if e.is_empty() => None,
        Some(e) => Some(vec![e.clone()]),
        None => ic.entrypoint.clone(),
    };
    let cmd = if !opts.cmd.is_empty() {
        Some(opts.cmd.clone())
    } else if opts.entrypoint.is_some() {
        None
    } else {
        ic.cmd.clone()
    };
    let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
    argv.extend(cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(Error::InvalidArgument("no command specified".into()));
    }
    let mut labels = ic.labels.clone().unwrap_or_default();
    for l in &opts.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let config = ContainerConfig {
        hostname: String::new(),
        domainname: String::new(),
        attach_stdin: opts.attach.stdin,
        attach_stdout: opts.attach.stdout,
        attach_stderr: opts.attach.stderr,
        user: opts.user.clone().or(ic.user.clone()).unwrap_or_default(),
        env: merge_env(&ic.env.clone().unwrap_or_default(), &opts.env),
        cmd,
        entrypoint,
        working_dir: opts
            .workdir
            .clone()
            .or(ic.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        labels,
        tty: opts.tty,
        open_stdin: opts.interactive,
        stdin_once: opts.interactive,
        image: opts.image.clone(),
        stop_signal: opts.stop_signal.clone().or(ic.stop_signal.clone()),
        stop_timeout: opts.stop_timeout,
        exposed_ports: ic.exposed_ports.clone(),
        volumes: ic.volumes.clone(),
        on_build: ic.on_build.clone(),
        healthcheck: healthcheck(opts, ic)?,
    };
    if !config.working_dir.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "the working directory {:?} is invalid: it needs to be an absolute path",
            config.working_dir
        )));
    }
    Ok((config, argv))
}

/// What the init layer holds: the mount points every container gets, so that
/// the runtime creates nothing in the container's own layer (and `diff` and
/// `commit` do not show them), as docker's `-init` layer does.
const INIT_DIRS: &[&str] = &["dev", "proc", "sys", "etc"];
const INIT_FILES: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf"];

impl Engine {
    /// The init layer on the image's top layer `parent`, made by the first
    /// container of the image and shared by the rest (its content is the same
    /// for all). Returns its name.
    fn init_layer(&self, id: &str, parent: Option<&ChainId>) -> Result<String> {
        let snap = self.snapshotter()?;
        let name = keys::init(parent);
        if snap.stat(&name).is_ok() {
            return Ok(name);
        }
        let active = keys::container_init(id);
        let mounts = snap.prepare(&active, parent.map(keys::layer).as_deref())?;
        let target = self.paths.init_target(id);
        let filled = std::fs::create_dir_all(&target)
            .map_err(Error::io(target.display()))
            .and_then(|()| Ok(berth_snapshot::mount::mount_all(&mounts, &target)?))
            .and_then(|()| {
                let made = INIT_DIRS
                    .iter()
                    .map(|d| (d, Placeholder::Dir))
                    .chain(INIT_FILES.iter().map(|f| (f, Placeholder::File)))
                    .try_for_each(|(p, what)| ensure(&target, p, what))
                    .map_err(Error::io(target.display()));
                berth_snapshot::mount::unmount_if_mounted(&target)?;
                made
            });
        let _ = std::fs::remove_dir_all(self.paths.bundle(id));
        let committed = filled.and_then(|()| Ok(snap.commit(&name, &active)?));
        match committed {
            Ok(()) => Ok(name),
            // Another container of the image made it first.
            Err(Error::Snapshot(e)) if e.kind() == berth_oci::Kind::AlreadyExists => {
                snap.remove(&active)?;
                Ok(name)
            }
            Err(e) => {
                let _ = snap.remove(&active);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> RunConfig {
        RunConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into(), "--port=80".into()]),
            env: Some(vec!["PATH=/bin".into(), "MODE=prod".into()]),
            user: Some("app".into()),
            working_dir: Some("/srv".into()),
            labels: Some([("a".to_string(), "1".to_string())].into()),
            ..Default::default()
        }
    }

    #[test]
    fn options_override_the_image_config_as_dockers_do() {
        let (c, argv) = merge_config(&CreateOptions::default(), &image()).unwrap();
        assert_eq!(argv, vec!["/entry", "serve", "--port=80"]);
        assert_eq!((c.user.as_str(), c.working_dir.as_str()), ("app", "/srv"));

        let opts = CreateOptions {
            cmd: vec!["debug".into()],
            env: vec!["MODE=dev".into(), "NEW=1".into()],
            labels: vec!["a=2".into(), "b".into()],
            user: Some("root".into()),
            workdir: Some("/tmp".into()),
            ..Default::default()
        };
        let (c, argv) = merge_config(&opts, &image()).unwrap();
        assert_eq!(argv, vec!["/entry", "debug"]);
        assert_eq!(c.env, vec!["PATH=/bin", "MODE=dev", "NEW=1"]);
        assert_eq!(c.labels.get("a").map(String::as_str), Some("2"));
        assert_eq!(c.labels.get("b").map(String::as_str), Some(""));
        assert_eq!((c.user.as_str(), c.working_dir.as_str()), ("root", "/tmp"));

        // A new entrypoint drops the image's CMD; an empty one clears it.
        let opts = CreateOptions {
            entrypoint: Some("/bin/sh".into()),
            ..Default::default()
        };
        assert_eq!(merge_config(&opts, &image()).unwrap().1, vec!["/bin/sh"]);
        let opts = CreateOptions {
            entrypoint: Some(String::new()),
            ..Default::default()
        };
        let err = merge_config(&opts, &image()).unwrap_err();
        assert_eq!(err.to_string(), "no command specified");
        assert_eq!(err.kind(), berth_oci::Kind::InvalidArgument);

        let opts = CreateOptions {
            workdir: Some("rel".into()),
            ..Default::default()
        };
        assert!(
            merge_config(&opts, &image())
                .unwrap_err()
                .to_string()
                .contains("absolute path")
        );
    }
}
