//! Container commands: run, create, start, stop, kill, rm, ps, logs, exec,
//! attach, commit, diff, export, and the rest of docker's lifecycle.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use berth_engine::runtime::attach::{self, AttachEnd};
use berth_engine::runtime::logs::{LogsOptions, Stream};
use berth_engine::{
    CommitOptions, ContainerFilter, CreateOptions, EndpointSettings, Engine, ExecOptions,
    PullOptions, human_duration, human_size,
};
use serde_json::{Value, json};

use super::{ExitWith, finish, report};
use crate::cli::{
    AttachArgs, CommitArgs, ContainerOp, ContainerPruneArgs, ContainersArgs, CpArgs, CreateFlags,
    DiffArgs, ExecArgs, ExportArgs, InspectArgs, KillArgs, LogsArgs, ObjectKind, PortArgs, PsArgs,
    RenameArgs, RmArgs, RunArgs, StartArgs, StopArgs, TopArgs, UpdateArgs, WaitArgs,
};
use crate::format::{Format, print_out};
use crate::progress::Reporter;

/// Runs one container command (top-level or under `berth container`).
pub fn dispatch(engine: &Engine, op: ContainerOp) -> Result<()> {
    match op {
        ContainerOp::Run(a) => run(engine, a),
        ContainerOp::Create(a) => create(engine, &a.create),
        ContainerOp::Start(a) => start(engine, a),
        ContainerOp::Stop(a) => stop(engine, a),
        ContainerOp::Restart(a) => restart(engine, a),
        ContainerOp::Kill(a) => kill(engine, a),
        ContainerOp::Pause(a) => pause(engine, a, true),
        ContainerOp::Unpause(a) => pause(engine, a, false),
        ContainerOp::Rm(a) => remove(engine, a),
        ContainerOp::Logs(a) => logs(engine, a),
        ContainerOp::Wait(a) => wait(engine, a),
        ContainerOp::Attach(a) => attach(engine, a),
        ContainerOp::Top(a) => top(engine, a),
        ContainerOp::Stats(a) => super::stats::stats(engine, a),
        ContainerOp::Update(a) => update(engine, a),
        ContainerOp::Rename(a) => rename(engine, a),
        ContainerOp::Exec(a) => exec(engine, a),
        ContainerOp::Diff(a) => diff(engine, a),
        ContainerOp::Port(a) => port(engine, a),
        ContainerOp::Commit(a) => commit(engine, a),
        ContainerOp::Export(a) => export(engine, a),
        ContainerOp::Cp(a) => cp(engine, a),
    }
}

/// `berth update`: new limits, applied to a running container's cgroups
/// and kept for its next starts; prints each container as docker does.
fn update(engine: &Engine, a: UpdateArgs) -> Result<()> {
    if a.memory.is_none() && a.cpus.is_none() && a.pids_limit.is_none() && a.restart.is_none() {
        bail!("you must provide one or more flags when using this command");
    }
    let mut opts = berth_engine::UpdateOptions::default();
    opts.memory = a.memory;
    opts.nano_cpus = a.cpus.map(|c| (c * 1e9) as i64);
    opts.pids_limit = a.pids_limit;
    opts.restart = a.restart.clone();
    let mut failed = false;
    for name in &a.containers {
        match engine.update_container(name, &opts) {
            Ok(()) => print_out(&format!("{name}\n")),
            Err(e) => report(e.into(), &mut failed),
        }
    }
    finish(failed)
}

/// `--security-opt`s as the engine takes them: a seccomp profile's file is
/// read here and passed as its JSON, as docker's CLI does.
fn security_options(given: &[String]) -> Result<Vec<String>> {
    given
        .iter()
        .map(|o| {
            let path = o
                .strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"));
            match path {
                Some(p)
                    if !["unconfined", "builtin", "default"].contains(&p)
                        && !p.starts_with('{') =>
                {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading seccomp profile {p}"))?;
                    Ok(format!("seccomp={text}"))
                }
                _ => Ok(o.clone()),
            }
        })
        .collect()
}

/// The create options from the flags; pulls the image first when the policy says so.
fn create_options(engine: &Engine, f: &CreateFlags) -> Result<CreateOptions> {
    // The flags are checked before the image is looked for, as docker's.
    if let Some(r) = &f.restart {
        berth_engine::RestartPolicy::parse(r)?;
    }
    let missing = engine.resolve(f.image()).is_err();
    if f.pull == "always" || (missing && f.pull == "missing") {
        if missing {
            eprintln!("Unable to find image '{}' locally", f.image());
        }
        let mut opts = PullOptions::default();
        if let Some(p) = &f.platform {
            opts.platform = Some(super::registry::parse_platform(p)?);
        }
        engine
            .pull(f.image(), &opts, &Reporter::new(f.quiet))
            .with_context(|| format!("pulling {}", f.image()))?;
    } else if missing {
        engine.resolve(f.image())?;
    }
    let mut env = read_env_files(&f.env_file)?;
    env.extend(f.env.iter().cloned());
    // docker reads a label file as it reads an env file.
    let mut labels = read_env_files(&f.label_file)?;
    labels.extend(f.label.iter().cloned());
    let mut o = CreateOptions::default();
    o.image = f.image().to_string();
    o.name = f.name.clone();
    o.cmd = f.command().to_vec();
    o.entrypoint = f.entrypoint.clone();
    o.env = env;
    o.workdir = f.workdir.clone();
    o.user = f.user.clone();
    o.hostname = f.hostname.clone();
    o.tty = f.tty;
    o.console_size = terminal_size();
    o.interactive = f.interactive;
    o.volumes = f.volume.clone();
    o.mounts = f.mount.clone();
    o.tmpfs = f.tmpfs.clone();
    o.read_only = f.read_only;
    o.network = f.network.clone();
    o.publish = f.publish.clone();
    o.publish_all = f.publish_all;
    o.expose = f.expose.clone();
    o.endpoint = EndpointSettings {
        aliases: f.network_alias.clone(),
        requested_ip: f.ip.clone(),
        mac_address: f.mac_address.clone(),
    };
    o.dns = f.dns.clone();
    o.dns_search = f.dns_search.clone();
    o.dns_options = f.dns_option.clone();
    o.add_hosts = f.add_host.clone();
    o.security_opt = security_options(&f.security_opt)?;
    o.log_driver = f.log_driver.clone();
    o.restart = f.restart.clone();
    o.log_opts = f
        .log_opt
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => bail!("invalid --log-opt {kv:?}: expected KEY=VALUE"),
        })
        .collect::<Result<_>>()?;
    o.memory = f.memory;
    o.cpus = f.cpus;
    o.pids_limit = f.pids_limit.filter(|p| *p > 0);
    o.cap_add = f.cap_add.clone();
    o.cap_drop = f.cap_drop.clone();
    o.privileged = f.privileged;
    o.init = f.init;
    o.cpuset_mems = f.cpuset_mems.clone();
    o.cpu_period = f.cpu_period;
    o.cpu_quota = f.cpu_quota;
    o.memory_reservation = f.memory_reservation;
    o.memory_swappiness = f.memory_swappiness;
    o.oom_kill_disable = f.oom_kill_disable;
    o.healthcheck = health_flags(f)?;
    o.memory_swap = f.memory_swap;
    o.blkio_weight = match f.blkio_weight {
        Some(w) if w != 0 && !berth_engine::runtime::cgroup::blkio_weight_supported() => {
            // As docker: a warning, and the weight left out.
            eprintln!(
                "WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
            );
            None
        }
        w => w,
    };
    o.devices = f.device.clone();
    o.device_cgroup_rules = f.device_cgroup_rule.clone();
    o.cgroupns = f.cgroupns.clone();
    o.userns = f.userns.clone();
    o.ulimits = f
        .ulimit
        .iter()
        .map(|u| berth_engine::runtime::spec::Ulimit::parse(u))
        .collect::<Result<_, _>>()?;
    o.shm_size = f.shm_size;
    o.oom_score_adj = f.oom_score_adj;
    o.sysctls = f.sysctl.clone();
    o.cpu_shares = f.cpu_shares;
    o.cpuset_cpus = f.cpuset_cpus.clone();
    o.labels = labels;
    o.stop_signal = f.stop_signal.clone();
    o.stop_timeout = f.stop_timeout;
    o.runtime = f.runtime.clone();
    o.auto_remove = f.rm;
    Ok(o)
}

/// What docker records as attached: nothing with `-d`, else stdout and
/// stderr, and stdin with `-i` (`docker create` counts as attached).
fn attach_streams(detach: bool, interactive: bool) -> berth_engine::AttachStreams {
    berth_engine::AttachStreams {
        stdin: !detach && interactive,
        stdout: !detach,
        stderr: !detach,
    }
}

/// Creates the container, and writes its ID to `--cidfile` (which must
/// not exist: docker's guard against two containers sharing one).
fn create_container(engine: &Engine, f: &CreateFlags, opts: &CreateOptions) -> Result<String> {
    let cidfile = match &f.cidfile {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                        "Container ID file found, make sure the other container isn't running or delete {}",
                        path.display()
                    ),
                    _ => anyhow::Error::from(e).context(format!("open {}", path.display())),
                })?,
        ),
        None => None,
    };
    let id = match engine.create_container(opts) {
        Ok(id) => id,
        Err(e) => {
            if let Some(path) = &f.cidfile {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    if let (Some(mut file), Some(path)) = (cidfile, &f.cidfile) {
        use std::io::Write;
        file.write_all(id.as_bytes())
            .with_context(|| format!("writing the container ID to {}", path.display()))?;
    }
    Ok(id)
}

/// `berth create`.
pub fn create(engine: &Engine, f: &CreateFlags) -> Result<()> {
    let mut opts = create_options(engine, f)?;
    opts.attach = attach_streams(false, f.interactive);
    let id = create_container(engine, f, &opts)?;
    print_out(&format!("{id}\n"));
    Ok(())
}

/// `berth run`.
pub fn run(engine: &Engine, a: RunArgs) -> Result<()> {
    let f = &a.create;
    let mut opts = create_options(engine, f)?;
    opts.attach = attach_streams(a.detach, f.interactive);
    let id = create_container(engine, f, &opts)?;
    if a.detach {
        engine.start_container(&id, false)?;
        print_out(&format!("{id}\n"));
        return Ok(());
    }
    let started = engine.start_container(&id, true)?;
    let stream = started
        .attach
        .context("the container's monitor gave no attach connection")?;
    let keys = attach::parse_detach_keys(&a.detach_keys)?;
    let end = session(stream, f.tty, f.interactive, a.sig_proxy && !f.tty, keys)?;
    exit_with(engine, &id, end)
}

/// Turns how an attachment ended into the command's exit.
fn exit_with(engine: &Engine, id: &str, end: AttachEnd) -> Result<()> {
    let code = match end {
        AttachEnd::Exited(c) => c,
        AttachEnd::Detached => return Ok(()),
        AttachEnd::Disconnected => engine.wait_container(id).unwrap_or(125),
    };
    if code == 0 {
        Ok(())
    } else {
        Err(ExitWith(code).into())
    }
}

/// The terminal in raw mode while attached; restored on drop.
struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = rustix::termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &raw)
            .ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin().as_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout().as_fd()).ok()?;
    Some((ws.ws_row, ws.ws_col))
}

/// Signals a session handles on a thread of its own: blocked here (threads
/// spawned after inherit the mask), then taken with `sigwait`.
fn block_signals(signals: &[i32]) -> Option<libc::sigset_t> {
    if signals.is_empty() {
        return None;
    }
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid signals;
    // pthread_sigmask only changes this thread's mask.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    Some(set)
}

/// Relays this terminal to an attach connection until the container exits or
/// the user detaches.
fn session(
    stream: UnixStream,
    tty: bool,
    stdin: bool,
    sig_proxy: bool,
    detach_keys: Vec<u8>,
) -> Result<AttachEnd> {
    let mut signals = Vec::new();
    if tty {
        signals.push(libc::SIGWINCH);
    }
    if sig_proxy {
        signals.extend([
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ]);
    }
    if let Some(set) = block_signals(&signals) {
        let s = stream.try_clone()?;
        std::thread::spawn(move || {
            loop {
                let mut sig = 0;
                // SAFETY: `set` is an initialised sigset_t and `sig` a valid out-pointer.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                let sent = if sig == libc::SIGWINCH {
                    match terminal_size() {
                        Some((rows, cols)) => attach::send_resize(&s, rows, cols),
                        None => Ok(()),
                    }
                } else {
                    attach::send_signal(&s, sig)
                };
                if sent.is_err() {
                    return;
                }
            }
        });
    }
    let raw = if tty && stdin {
        RawTerminal::enter()
    } else {
        None
    };
    if tty && let Some((rows, cols)) = terminal_size() {
        let _ = attach::send_resize(&stream, rows, cols);
    }
    let detached = Arc::new(AtomicBool::new(false));
    if stdin {
        let s = stream.try_clone()?;
        let d = detached.clone();
        let keys = if raw.is_some() {
            detach_keys
        } else {
            Vec::new()
        };
        std::thread::spawn(move || attach::pump_stdin(std::io::stdin(), s, keys, d));
    }
    let end = attach::pump_output(
        &stream,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        &detached,
    );
    drop(raw);
    Ok(end)
}

/// `berth start`.
pub fn start(engine: &Engine, a: StartArgs) -> Result<()> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let name = &a.containers[0];
        let c = engine.container(name)?;
        let started = engine.start_container(name, true)?;
        let stream = started
            .attach
            .context("the container's monitor gave no attach connection")?;
        let keys = attach::parse_detach_keys(&a.detach_keys)?;
        let tty = c.record.config.tty;
        let end = session(
            stream,
            tty,
            a.interactive && c.record.config.open_stdin,
            !tty,
            keys,
        )?;
        return exit_with(engine, &c.id, end);
    }
    if a.all_restartable {
        let mut failed = false;
        for (c, started) in engine.start_restartable()? {
            match started {
                Ok(()) => print_out(&format!("{}\n", c.name)),
                Err(e) => report(
                    anyhow::Error::from(e).context(format!("container {}", c.name)),
                    &mut failed,
                ),
            }
        }
        return finish(failed);
    }
    each(&a.containers, |n| {
        engine.start_container(n, false)?;
        Ok(Some(n.clone()))
    })
}

/// Runs `op` on every argument, printing what it returns and reporting errors
/// one by one, as docker does.
fn each(names: &[String], mut op: impl FnMut(&String) -> Result<Option<String>>) -> Result<()> {
    let mut failed = false;
    let mut out = String::new();
    for n in names {
        match op(n) {
            Ok(Some(line)) => {
                out.push_str(&line);
                out.push('\n');
            }
            Ok(None) => {}
            Err(e) => {
                print_out(&std::mem::take(&mut out));
                report(e, &mut failed);
            }
        }
    }
    print_out(&out);
    finish(failed)
}

/// `berth stop`.
pub fn stop(engine: &Engine, a: StopArgs) -> Result<()> {
    each(&a.containers, |n| {
        if let Some(sig) = &a.signal {
            engine.kill_container(n, sig)?;
        }
        engine.stop_container(n, a.time)?;
        Ok(Some(n.clone()))
    })
}

/// `berth restart`.
pub fn restart(engine: &Engine, a: StopArgs) -> Result<()> {
    each(&a.containers, |n| {
        engine.restart_container(n, a.time)?;
        Ok(Some(n.clone()))
    })
}

/// `berth kill`.
pub fn kill(engine: &Engine, a: KillArgs) -> Result<()> {
    each(&a.containers, |n| {
        engine.kill_container(n, &a.signal)?;
        Ok(Some(n.clone()))
    })
}

/// `berth pause` / `unpause`.
pub fn pause(engine: &Engine, a: ContainersArgs, pause: bool) -> Result<()> {
    each(&a.containers, |n| {
        engine.pause_container(n, pause)?;
        Ok(Some(n.clone()))
    })
}

/// `berth rm`.
pub fn remove(engine: &Engine, a: RmArgs) -> Result<()> {
    each(&a.containers, |n| {
        engine.remove_container_with(n, a.force, a.volumes)?;
        Ok(Some(n.clone()))
    })
}

/// `berth wait`.
pub fn wait(engine: &Engine, a: WaitArgs) -> Result<()> {
    each(&a.containers, |n| {
        Ok(Some(engine.wait_for(n, &a.condition)?.to_string()))
    })
}

/// `berth rename`.
pub fn rename(engine: &Engine, a: RenameArgs) -> Result<()> {
    engine.rename_container(&a.container, &a.new_name)?;
    Ok(())
}

/// `berth container prune`.
pub fn prune(engine: &Engine, _a: ContainerPruneArgs) -> Result<()> {
    let (ids, bytes) = engine.prune_containers()?;
    let mut out = String::new();
    super::deleted_section(&mut out, "Containers", &ids);
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(bytes)));
    print_out(&out);
    Ok(())
}

/// The IMAGE column: the name it was created from while that image is
/// there (`images`: the IDs of those there), else the image's short ID (as
/// docker's).
pub(crate) fn image_column<'a>(
    c: &berth_engine::Container,
    mut images: impl Iterator<Item = &'a berth_oci::Digest>,
) -> String {
    if images.any(|id| *id == c.image) {
        c.record.config.image.clone()
    } else {
        c.image.short().to_string()
    }
}

pub(crate) fn quote_command(c: &berth_engine::Container, no_trunc: bool) -> String {
    let cmd = c.command_line();
    let shown = if no_trunc || cmd.chars().count() <= 20 {
        cmd
    } else {
        let mut t: String = cmd.chars().take(19).collect();
        t.push('…');
        t
    };
    // Go's strconv.Quote, as docker's CLI prints it.
    let mut quoted = String::from("\"");
    for ch in shown.chars() {
        match ch {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `berth ps`.
pub fn ps(engine: &Engine, a: PsArgs) -> Result<()> {
    let filter = ContainerFilter::parse(&a.filters)?;
    let all = a.all || a.latest || a.last.is_some();
    let mut list = engine.list_containers(all, &filter)?;
    if a.latest {
        list.truncate(1);
    }
    if let Some(n) = a.last {
        list.truncate(n);
    }
    if crate::format::quiet(a.quiet, a.format.as_deref()) {
        let out: String = list
            .iter()
            .map(|c| {
                format!(
                    "{}\n",
                    if a.no_trunc {
                        c.id.as_str()
                    } else {
                        c.short_id()
                    }
                )
            })
            .collect();
        print_out(&out);
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let images = engine.images(&Default::default())?;
    let mut rows = Vec::new();
    for c in &list {
        let image = image_column(c, images.iter().map(|i| &i.id));
        let created = berth_engine::parse_time(&c.record.created).unwrap_or(now);
        let mut row = json!({
            "ID": if a.no_trunc { c.id.clone() } else { c.short_id().to_string() },
            "Image": image,
            "Command": quote_command(c, a.no_trunc),
            "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
            "RunningFor": format!("{} ago", human_duration(now - created)),
            "Ports": berth_engine::ports_column(&engine.container_ports(c)),
            "State": c.state.status,
            "Status": c.status_line(now),
            "Names": c.name,
            "Labels": c.record.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            "Mounts": c.record.host_config.mounts.iter().map(|m| m.destination.clone()).collect::<Vec<_>>().join(","),
            "Networks": engine.container_network_names(c).join(","),
        });
        if a.size {
            let (rw, virt) = engine.container_size(&c.id).unwrap_or((0, 0));
            row["Size"] = Value::String(format!(
                "{} (virtual {})",
                human_size(rw),
                human_size(rw + virt)
            ));
        }
        rows.push(row);
    }
    let mut header = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
    });
    header["Size"] = Value::String("SIZE".into());
    let default = if a.size {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    Format::parse(a.format.as_deref()).print(default, &header, &rows)
}

/// `berth port CONTAINER [PORT]`: the host side of its published ports.
fn port(engine: &Engine, a: PortArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    let ports = engine.container_ports(&c);
    let mut out = String::new();
    match &a.port {
        Some(p) => {
            let want: berth_engine::network::ports::ContainerPort = p.parse()?;
            for v in ports.iter().filter(|v| v.port == want) {
                if let Some(h) = v.host_text() {
                    out.push_str(&format!("{h}\n"));
                }
            }
            if out.is_empty() {
                bail!("No public port '{want}' published for {}", c.name);
            }
        }
        None => {
            for v in &ports {
                if let Some(h) = v.host_text() {
                    out.push_str(&format!("{} -> {h}\n", v.port));
                }
            }
        }
    }
    print_out(&out);
    Ok(())
}

/// `--since` / `--until`: RFC 3339, a Unix time, or a duration back from now.
fn parse_when(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return chrono::DateTime::from_timestamp(secs as i64, 0).context("time out of range");
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("invalid time {s:?}: expected RFC 3339, seconds, or 10m"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => bail!("invalid time {s:?}: unit must be s, m or h"),
    };
    Ok(chrono::Utc::now() - chrono::Duration::seconds(secs))
}

/// `berth logs`.
pub fn logs(engine: &Engine, a: LogsArgs) -> Result<()> {
    let mut opts = LogsOptions::default();
    if a.tail != "all" {
        opts.tail = Some(
            a.tail
                .parse()
                .with_context(|| format!("invalid --tail {:?}", a.tail))?,
        );
    }
    opts.since = a.since.as_deref().map(parse_when).transpose()?;
    opts.until = a.until.as_deref().map(parse_when).transpose()?;
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    engine.container_logs(&a.container, &opts, a.follow, &mut |line| {
        let w: &mut dyn Write = match line.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if a.timestamps {
            write!(w, "{} ", line.time)?;
        }
        w.write_all(line.text.as_bytes())?;
        w.flush()
    })?;
    Ok(())
}

/// `berth attach`.
pub fn attach(engine: &Engine, a: AttachArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    if !c.state.running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if c.state.paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let stream = engine.attach_container(&c.id)?;
    let keys = attach::parse_detach_keys(&a.detach_keys)?;
    let tty = c.record.config.tty;
    let end = session(
        stream,
        tty,
        !a.no_stdin && c.record.config.open_stdin,
        a.sig_proxy && !tty,
        keys,
    )?;
    exit_with(engine, &c.id, end)
}

/// `berth top`.
pub fn top(engine: &Engine, a: TopArgs) -> Result<()> {
    let top = engine.top_container(&a.container, &a.ps_args)?;
    let mut lines = vec![top.titles.join("\t")];
    lines.extend(top.processes.iter().map(|p| p.join("\t")));
    // docker's top: columns at least 20 wide.
    print_out(&crate::format::align_min(&lines, 20));
    Ok(())
}

/// `berth exec`.
pub fn exec(engine: &Engine, a: ExecArgs) -> Result<()> {
    let mut opts = ExecOptions::default();
    opts.cmd = a.command().to_vec();
    opts.env = read_env_files(&a.env_file)?;
    opts.env.extend(a.env.iter().cloned());
    opts.workdir = a.workdir.clone();
    opts.user = a.user.clone();
    opts.tty = a.tty;
    opts.console_size = terminal_size();
    opts.interactive = a.interactive;
    opts.privileged = a.privileged;
    let exec = engine.exec_container(a.container(), &opts)?;
    if a.detach {
        return Ok(());
    }
    if let Some(master) = &exec.terminal {
        let raw = if a.interactive {
            RawTerminal::enter()
        } else {
            None
        };
        if let Some((rows, cols)) = terminal_size() {
            berth_engine::runtime::set_window_size(master, rows, cols);
        }
        relay_terminal(master, a.interactive);
        drop(raw);
    }
    let code = exec.wait()?;
    if code == 0 {
        Ok(())
    } else {
        Err(ExitWith(code).into())
    }
}

/// Copies stdin to the pty master and the master to stdout until the terminal
/// closes (EIO once every process holding it is gone).
fn relay_terminal(master: &std::os::fd::OwnedFd, stdin: bool) {
    if stdin && let Ok(m) = rustix::io::dup(master) {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let input = std::io::stdin();
            loop {
                match rustix::io::read(input.as_fd(), &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if rustix::io::write(&m, &buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    let mut buf = [0u8; 16384];
    let mut out = std::io::stdout();
    loop {
        match rustix::io::read(master, &mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// `berth diff`.
pub fn diff(engine: &Engine, a: DiffArgs) -> Result<()> {
    let out: String = engine
        .container_diff(&a.container)?
        .iter()
        .map(|c| format!("{} /{}\n", c.kind.letter(), c.path))
        .collect();
    print_out(&out);
    Ok(())
}

/// `berth commit`.
pub fn commit(engine: &Engine, a: CommitArgs) -> Result<()> {
    let mut opts = CommitOptions::default();
    opts.author = a.author.clone();
    opts.message = a.message.clone();
    opts.changes = a.change.clone();
    opts.pause = a.pause;
    opts.reference = a.reference.clone();
    let id = engine
        .commit_container(&a.container, &opts)
        .with_context(|| format!("committing {}", a.container))?;
    print_out(&format!("{id}\n"));
    Ok(())
}

/// `berth export`.
pub fn export(engine: &Engine, a: ExportArgs) -> Result<()> {
    match &a.output {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            let mut tmp = tempfile_in(dir.unwrap_or(std::path::Path::new(".")))?;
            engine.export_container(&a.container, &mut tmp.1)?;
            tmp.1.flush()?;
            std::fs::rename(&tmp.0, path).with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            engine.export_container(&a.container, &mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

fn tempfile_in(
    dir: &std::path::Path,
) -> Result<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)> {
    let path = dir.join(format!(".berth-export-{}", std::process::id()));
    let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok((path, std::io::BufWriter::with_capacity(1 << 20, f)))
}

/// `--health-*` and `--no-healthcheck` as the config the image's
/// HEALTHCHECK is merged under; `None` when none was given.
fn health_flags(f: &CreateFlags) -> Result<Option<berth_engine::HealthConfig>> {
    let given = f.health_cmd.is_some()
        || f.health_interval.is_some()
        || f.health_timeout.is_some()
        || f.health_retries.is_some()
        || f.health_start_period.is_some()
        || f.health_start_interval.is_some();
    if f.no_healthcheck {
        if given {
            return Err(super::UsageError(
                "--no-healthcheck conflicts with --health-* options".into(),
            )
            .into());
        }
        return Ok(Some(berth_engine::HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    if !given {
        return Ok(None);
    }
    Ok(Some(berth_engine::HealthConfig {
        test: f
            .health_cmd
            .iter()
            .flat_map(|cmd| ["CMD-SHELL".to_string(), cmd.clone()])
            .collect(),
        interval: f.health_interval.unwrap_or(0),
        timeout: f.health_timeout.unwrap_or(0),
        retries: f.health_retries.unwrap_or(0),
        start_period: f.health_start_period.unwrap_or(0),
        start_interval: f.health_start_interval.unwrap_or(0),
    }))
}

/// The entries of `--env-file`s, in order.
fn read_env_files(files: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("open {}", file.display()))?;
        env.extend(env_file_lines(&text)?);
    }
    Ok(env)
}

/// The `K=V` (or bare `K`) lines of an `--env-file`, read as docker reads
/// them: leading blanks dropped, `#` comments skipped, a name with blanks in
/// it refused.
fn env_file_lines(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim_start) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_once('=').map_or(line, |(k, _)| k);
        if name.contains(char::is_whitespace) {
            return Err(super::UsageError(format!(
                "poorly formatted environment: variable '{name}' contains whitespaces"
            ))
            .into());
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// `berth cp`.
pub fn cp(engine: &Engine, a: CpArgs) -> Result<()> {
    let split = |s: &str| -> Option<(String, String)> {
        if s.starts_with('/') || s.starts_with('.') || s == "-" {
            return None;
        }
        s.split_once(':')
            .map(|(c, p)| (c.to_string(), p.to_string()))
    };
    match (split(&a.src), split(&a.dest)) {
        (Some((c, p)), None) => {
            engine.copy_from_container(&c, &p, std::path::Path::new(&a.dest), a.follow_link)?;
        }
        (None, Some((c, p))) => {
            engine.copy_to_container(&c, &p, std::path::Path::new(&a.src), a.archive)?;
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
    Ok(())
}

/// `berth inspect` / `container inspect`: containers first, then images,
/// networks and volumes, as docker looks them up; `kind` (`--type`, or
/// `container inspect`) looks in one place only, and a miss is that kind's
/// own error.
pub fn inspect(engine: &Engine, a: InspectArgs, kind: Option<ObjectKind>) -> Result<()> {
    use berth_engine::Error as E;
    let find = |kind: ObjectKind, name: &str| -> std::result::Result<Value, E> {
        match kind {
            ObjectKind::Container => engine.inspect_container(name),
            ObjectKind::Image => super::images::inspect_one(engine, name),
            ObjectKind::Network => engine.inspect_network(name),
            ObjectKind::Volume => engine
                .volume(name)
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null)),
        }
    };
    let mut failed = false;
    let mut found: Vec<Value> = Vec::new();
    'names: for name in &a.images {
        if let Some(kind) = kind {
            match find(kind, name) {
                Ok(v) => found.push(v),
                Err(e) => report(e.into(), &mut failed),
            }
            continue;
        }
        for kind in [
            ObjectKind::Container,
            ObjectKind::Image,
            ObjectKind::Network,
            ObjectKind::Volume,
        ] {
            match find(kind, name) {
                Ok(v) => {
                    found.push(v);
                    continue 'names;
                }
                Err(
                    E::ContainerNotFound(_)
                    | E::ImageNotFound(_)
                    | E::NotFound(_)
                    | E::VolumeNotFound(_),
                ) => {}
                Err(e) => {
                    report(e.into(), &mut failed);
                    continue 'names;
                }
            }
        }
        report(anyhow::anyhow!("No such object: {name}"), &mut failed);
    }
    super::images::print_inspect(&found, a.format.as_deref())?;
    finish(failed)
}
