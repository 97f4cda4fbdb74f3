//! `/containers/…`: create, list, inspect, the lifecycle (start, stop,
//! restart, kill, pause, unpause, rename, wait, remove), logs and top.

use std::collections::BTreeMap;

use berth_engine::runtime::attach::encode_frame;
use berth_engine::runtime::logs::{LogLine, LogsOptions, Stream};
use berth_engine::{ChangeKind, CommitOptions, ContainerFilter, CreateOptions, UpdateOptions};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::attach::exit_code_of;
use super::stream::{bytes, channel};
use super::{Api, ApiError, Body, Call, empty, json};

/// The most a create body may hold.
const MAX_CREATE_BODY: usize = 1 << 20;

/// `GET /containers/json?all=&limit=&size=&filters=`.
pub async fn list(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let filter = ContainerFilter::parse(&call.query.filters()?)?;
    let limit = call.query.number("limit")?.filter(|n| *n > 0);
    // `limit` means the newest N, stopped or not, as `ps -n`.
    let all = call.query.flag("all") || limit.is_some();
    let size = call.query.flag("size");
    let rows = api
        .blocking(move |engine| {
            let mut list = engine.list_containers(all, &filter)?;
            if let Some(n) = limit {
                list.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            }
            let now = chrono::Utc::now().timestamp();
            list.iter()
                .map(|c| summary(engine, c, now, size))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    json(StatusCode::OK, &rows)
}

/// One container as `GET /containers/json` (and `system/df`) lists it;
/// with `size`, its writable layer's and whole root's sizes.
pub(super) fn summary(
    engine: &berth_engine::Engine,
    c: &berth_engine::Container,
    now: i64,
    size: bool,
) -> Result<serde_json::Value, ApiError> {
    let mut row = json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.record.config.image,
        "ImageID": c.image.to_string(),
        "Command": c.command_line(),
        "Created": berth_engine::parse_time(&c.record.created).unwrap_or(0),
        "Ports": engine.container_ports(c).iter().map(|p| {
            let mut v = json!({"PrivatePort": p.port.port, "Type": p.port.protocol.to_string()});
            if let Some((ip, port)) = p.host {
                v["IP"] = json!(ip.to_string());
                v["PublicPort"] = json!(port);
            }
            v
        }).collect::<Vec<_>>(),
        "Labels": c.record.config.labels,
        "State": c.state.status,
        "Status": c.status_line(now),
        "HostConfig": {"NetworkMode": c.record.host_config.network_mode},
        "NetworkSettings": {"Networks": engine.network_settings(c)?["Networks"].take()},
        "Mounts": [],
    });
    if size {
        let (rw, root) = engine.container_size(&c.id)?;
        row["SizeRw"] = json!(rw);
        row["SizeRootFs"] = json!(root);
    }
    Ok(row)
}

/// `GET /containers/{id}/json`.
pub async fn inspect(api: &Api, id: &str) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let v = api
        .blocking(move |engine| Ok(engine.inspect_container(&id)?))
        .await?;
    json(StatusCode::OK, &v)
}

/// What `POST /containers/create` reads of docker's `ContainerConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    image: String,
    cmd: Option<StringOrList>,
    entrypoint: Option<StringOrList>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    hostname: String,
    tty: bool,
    open_stdin: bool,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    labels: Option<BTreeMap<String, String>>,
    stop_signal: Option<String>,
    stop_timeout: Option<i64>,
    healthcheck: Option<berth_engine::HealthConfig>,
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    mac_address: String,
    host_config: Option<HostConfigBody>,
    networking_config: Option<NetworkingConfigBody>,
}

/// docker's `NetworkingConfig`: per network, how the container joins it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfigBody {
    endpoints_config: Option<BTreeMap<String, super::networks::EndpointBody>>,
}

/// docker accepts `"sh"` or `["sh"]` for Cmd and Entrypoint.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfigBody {
    binds: Option<Vec<String>>,
    mounts: Option<Vec<MountBody>>,
    tmpfs: Option<BTreeMap<String, String>>,
    readonly_rootfs: bool,
    network_mode: String,
    memory: i64,
    nano_cpus: i64,
    pids_limit: Option<i64>,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    privileged: bool,
    #[serde(default)]
    init: Option<bool>,
    auto_remove: bool,
    runtime: String,
    console_size: Option<Vec<u16>>,
    ulimits: Option<Vec<berth_engine::runtime::spec::Ulimit>>,
    shm_size: i64,
    oom_score_adj: i32,
    sysctls: Option<BTreeMap<String, String>>,
    cpu_shares: i64,
    cpuset_cpus: String,
    cpuset_mems: String,
    cpu_period: i64,
    cpu_quota: i64,
    memory_reservation: i64,
    memory_swappiness: Option<i64>,
    oom_kill_disable: Option<bool>,
    memory_swap: i64,
    blkio_weight: u16,
    devices: Option<Vec<berth_engine::DeviceMapping>>,
    device_cgroup_rules: Option<Vec<String>>,
    cgroupns_mode: String,
    userns_mode: String,
    port_bindings: Option<BTreeMap<String, Option<Vec<berth_engine::network::ports::HostBinding>>>>,
    publish_all_ports: bool,
    dns: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    dns_options: Option<Vec<String>>,
    extra_hosts: Option<Vec<String>>,
    security_opt: Option<Vec<String>>,
    log_config: Option<LogConfigBody>,
    restart_policy: Option<RestartPolicyBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartPolicyBody {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LogConfigBody {
    #[serde(rename = "Type")]
    kind: String,
    config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MountBody {
    #[serde(rename = "Type")]
    kind: String,
    source: String,
    target: String,
    read_only: bool,
}

impl CreateBody {
    /// berth's create options for this body; `name` from the query.
    fn options(self, name: Option<String>) -> Result<CreateOptions, ApiError> {
        if self.image.is_empty() {
            return Err(ApiError::bad_request(
                "config cannot be empty in order to create a container",
            ));
        }
        let h = self.host_config.unwrap_or_default();
        let mut cmd = self.cmd.map(StringOrList::into_vec).unwrap_or_default();
        // berth's entrypoint is one word; docker's further words come before
        // the command, which gives the same argv.
        let entrypoint = self.entrypoint.map(StringOrList::into_vec).map(|mut e| {
            if e.is_empty() {
                return String::new();
            }
            let first = e.remove(0);
            e.append(&mut cmd);
            cmd = e;
            first
        });
        let mounts = h
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let mut s = format!("type={},source={},target={}", m.kind, m.source, m.target);
                if m.read_only {
                    s.push_str(",readonly");
                }
                s
            })
            .collect();
        let tmpfs = h
            .tmpfs
            .unwrap_or_default()
            .into_iter()
            .map(|(path, opts)| {
                if opts.is_empty() {
                    path
                } else {
                    format!("{path}:{opts}")
                }
            })
            .collect();
        let network = Some(h.network_mode.clone()).filter(|n| !n.is_empty());
        // The endpoint settings of the network the container starts on (the
        // others are joined by `/networks/{id}/connect`, as the CLI does).
        let mut endpoints = self
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        let mode = network.clone().unwrap_or_else(|| "default".into());
        let mut endpoint = endpoints
            .remove(&mode)
            .or_else(|| {
                ["default", "bridge"]
                    .contains(&mode.as_str())
                    .then(|| endpoints.remove("bridge"))
                    .flatten()
            })
            .map(super::networks::EndpointBody::settings)
            .unwrap_or_default();
        if endpoint.mac_address.is_none() && !self.mac_address.is_empty() {
            endpoint.mac_address = Some(self.mac_address.clone());
        }
        let mut o = CreateOptions::default();
        o.image = self.image;
        o.name = name;
        o.cmd = cmd;
        o.entrypoint = entrypoint;
        o.env = self.env.unwrap_or_default();
        o.workdir = Some(self.working_dir).filter(|w| !w.is_empty());
        o.user = Some(self.user).filter(|u| !u.is_empty());
        o.hostname = Some(self.hostname).filter(|h| !h.is_empty());
        o.tty = self.tty;
        o.interactive = self.open_stdin;
        o.attach = berth_engine::AttachStreams {
            stdin: self.attach_stdin,
            stdout: self.attach_stdout,
            stderr: self.attach_stderr,
        };
        o.volumes = h.binds.unwrap_or_default();
        o.mounts = mounts;
        o.tmpfs = tmpfs;
        o.read_only = h.readonly_rootfs;
        o.network = network;
        o.endpoint = endpoint;
        o.port_bindings = h
            .port_bindings
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        o.publish_all = h.publish_all_ports;
        o.expose = self.exposed_ports.unwrap_or_default().into_keys().collect();
        o.dns = h.dns.unwrap_or_default();
        o.dns_search = h.dns_search.unwrap_or_default();
        o.dns_options = h.dns_options.unwrap_or_default();
        o.add_hosts = h.extra_hosts.unwrap_or_default();
        o.security_opt = h.security_opt.unwrap_or_default();
        if let Some(r) = h.restart_policy.filter(|r| !r.name.is_empty()) {
            o.restart = Some(if r.maximum_retry_count > 0 {
                format!("{}:{}", r.name, r.maximum_retry_count)
            } else {
                r.name
            });
        }
        if let Some(l) = h.log_config {
            o.log_driver = Some(l.kind).filter(|k| !k.is_empty());
            o.log_opts = l.config.unwrap_or_default();
        }
        o.memory = Some(h.memory).filter(|m| *m > 0);
        o.cpus = Some(h.nano_cpus).filter(|n| *n > 0).map(|n| n as f64 / 1e9);
        o.pids_limit = h.pids_limit.filter(|p| *p > 0);
        o.cap_add = h.cap_add.unwrap_or_default();
        o.cap_drop = h.cap_drop.unwrap_or_default();
        o.ulimits = h.ulimits.unwrap_or_default();
        o.shm_size = (h.shm_size != 0).then_some(h.shm_size);
        o.oom_score_adj = (h.oom_score_adj != 0).then_some(h.oom_score_adj);
        o.cpu_shares = (h.cpu_shares != 0).then_some(h.cpu_shares);
        o.cpuset_cpus = Some(h.cpuset_cpus.clone()).filter(|c| !c.is_empty());
        o.cpuset_mems = Some(h.cpuset_mems.clone()).filter(|c| !c.is_empty());
        o.cpu_period = (h.cpu_period != 0).then_some(h.cpu_period);
        o.cpu_quota = (h.cpu_quota != 0).then_some(h.cpu_quota);
        o.memory_reservation = (h.memory_reservation != 0).then_some(h.memory_reservation);
        o.memory_swappiness = h.memory_swappiness;
        o.oom_kill_disable = h.oom_kill_disable == Some(true);
        o.memory_swap = (h.memory_swap != 0).then_some(h.memory_swap);
        // As dockerd: a weight the host cannot apply is dropped.
        o.blkio_weight = (h.blkio_weight != 0
            && berth_engine::runtime::cgroup::blkio_weight_supported())
        .then_some(h.blkio_weight);
        o.devices = h
            .devices
            .iter()
            .flatten()
            .map(|d| {
                format!(
                    "{}:{}:{}",
                    d.path_on_host, d.path_in_container, d.cgroup_permissions
                )
            })
            .collect();
        o.device_cgroup_rules = h.device_cgroup_rules.clone().unwrap_or_default();
        o.cgroupns = Some(h.cgroupns_mode.clone()).filter(|m| !m.is_empty());
        o.userns = Some(h.userns_mode.clone()).filter(|m| !m.is_empty());
        o.sysctls = h
            .sysctls
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        o.privileged = h.privileged;
        o.init = h.init == Some(true);
        o.labels = self
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        o.stop_signal = self.stop_signal.filter(|s| !s.is_empty());
        o.stop_timeout = self.stop_timeout;
        o.healthcheck = self.healthcheck;
        o.runtime = Some(h.runtime).filter(|r| !r.is_empty() && r != "runc-default");
        o.auto_remove = h.auto_remove;
        o.console_size = match h.console_size.as_deref() {
            Some([rows, cols]) if *rows > 0 && *cols > 0 => Some((*rows, *cols)),
            _ => None,
        };
        Ok(o)
    }
}

/// `POST /containers/create?name=`: 201 `{"Id", "Warnings"}`.
pub async fn create(
    api: &Api,
    call: &Call,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: CreateBody = super::read_json(req, MAX_CREATE_BODY).await?;
    let opts = body.options(call.query.given("name").map(str::to_string))?;
    let id = api
        .blocking(move |engine| Ok(engine.create_container(&opts)?))
        .await?;
    json(StatusCode::CREATED, &json!({"Id": id, "Warnings": []}))
}

/// Whether the container runs now.
async fn running(api: &Api, id: &str) -> Result<bool, ApiError> {
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.container(&id)?.state.running))
        .await
}

/// `POST /containers/{id}/start`: 204, or 304 when it already runs. An
/// attachment waiting for this start gets the monitor's stream, connected
/// before the process runs.
pub async fn start(api: &Api, id: &str) -> Result<Response<Body>, ApiError> {
    let (cid, running) = {
        let id = id.to_string();
        api.blocking(move |engine| {
            let c = engine.container(&id)?;
            Ok((c.id, c.state.running))
        })
        .await?
    };
    if running {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    let waiting = api.pending.take(&cid);
    let waiters = api.waiters.take(&cid);
    // Connected before the process runs, so that neither output nor the
    // exit code is missed.
    let attach = waiting.is_some() || !waiters.is_empty();
    let engine = api.engine.clone();
    let started = tokio::task::spawn_blocking(move || engine.start_container(&cid, attach))
        .await
        .map_err(|_| ApiError::internal("the request's worker panicked"))?;
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            // A start that failed is the exit waiters hear of (126, 127).
            if let berth_engine::Error::Start { code, .. } = &e {
                for w in waiters {
                    let _ = w.send(*code);
                }
            }
            return Err(e.into());
        }
    };
    match (waiting, started.attach) {
        (Some(tx), Some(stream)) => {
            let _ = tx.send((stream, waiters));
        }
        (None, Some(stream)) => {
            tokio::spawn(exit_code_of(stream, waiters));
        }
        _ => {}
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The stop timeout: `t` (and `timeout`, an older spelling).
fn timeout(call: &Call) -> Result<Option<i64>, ApiError> {
    Ok(call.query.number("t")?.or(call.query.number("timeout")?))
}

/// `POST /containers/{id}/stop?t=`: 204, or 304 when it was not running.
pub async fn stop(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    if !running(api, id).await? {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    let t = timeout(call)?;
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.stop_container(&id, t)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let t = timeout(call)?;
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.restart_container(&id, t)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let signal = call.query.given("signal").unwrap_or("KILL").to_string();
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.kill_container(&id, &signal)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/pause` and `/unpause`.
pub async fn pause(api: &Api, id: &str, pause: bool) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.pause_container(&id, pause)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let name = call.query.get("name").unwrap_or("").to_string();
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.rename_container(&id, &name)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/wait?condition=`: the headers at once (the docker
/// CLI waits for them before it starts the container), the exit code when
/// the container stops (`not-running`: now if it does not run;
/// `next-exit`: its next exit) or then is gone too (`removed`).
pub async fn wait(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let condition = call.query.get("condition").unwrap_or("").to_string();
    let condition = if condition.is_empty() {
        "not-running".to_string()
    } else {
        condition
    };
    if !["not-running", "next-exit", "removed"].contains(&condition.as_str()) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    // An unknown container is a 404 before any header goes out.
    let (cid, running, code_now) = {
        let id = id.to_string();
        api.blocking(move |engine| {
            let c = engine.container(&id)?;
            Ok((c.id, c.state.running, c.state.exit_code))
        })
        .await?
    };
    // A container that does not run yet: its start tells this wait.
    let next = (!running && condition != "not-running").then(|| api.waiters.add(&cid));
    let (sink, body) = channel();
    let engine = api.engine.clone();
    tokio::spawn(async move {
        let code = match next {
            Some(rx) => rx.await.ok(),
            None if !running => Some(code_now),
            None => {
                let engine = engine.clone();
                let cid = cid.clone();
                tokio::task::spawn_blocking(move || engine.wait_container(&cid).ok())
                    .await
                    .ok()
                    .flatten()
            }
        };
        if condition == "removed" {
            let engine = engine.clone();
            let cid = cid.clone();
            let _ = tokio::task::spawn_blocking(move || {
                while engine.container(&cid).is_ok() {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            })
            .await;
        }
        let answer = match code {
            Some(code) => json!({"StatusCode": code, "Error": null}),
            None => {
                json!({"StatusCode": -1, "Error": {"Message": "the container's exit code was lost"}})
            }
        };
        let _ = tokio::task::spawn_blocking(move || sink.send(format!("{answer}\n"))).await;
    });
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let force = call.query.flag("force");
    let volumes = call.query.flag("v");
    let id = id.to_string();
    api.blocking(move |engine| {
        Ok(engine
            .remove_container_with(&id, force, volumes)
            .map(drop)?)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&timestamps=&since=&until=`:
/// multiplexed frames without a TTY, the raw bytes with one.
pub async fn logs(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let (stdout, stderr) = (call.query.flag("stdout"), call.query.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request("You must choose at least one stream"));
    }
    let follow = call.query.flag("follow");
    let timestamps = call.query.flag("timestamps");
    let tail =
        match call.query.get("tail") {
            None | Some("all") | Some("") => None,
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("invalid tail {n:?}: a number or all"))
            })?),
        };
    let time = |name: &str| -> Result<_, ApiError> {
        match call.query.get(name).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => {
                let secs: f64 = v.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid {name} {v:?}: seconds since the epoch"))
                })?;
                let whole = secs.trunc() as i64;
                let nanos = (secs.fract() * 1e9) as u32;
                Ok(chrono::DateTime::from_timestamp(whole, nanos))
            }
        }
    };
    let opts = LogsOptions {
        tail,
        since: time("since")?,
        until: time("until")?,
    };
    let (known, tty) = {
        let id = id.to_string();
        api.blocking(move |engine| {
            let c = engine.container(&id)?;
            Ok((c.id, c.record.config.tty))
        })
        .await?
    };
    let content_type = match (tty, call.version.at_least(1, 42)) {
        (false, true) => "application/vnd.docker.multiplexed-stream",
        _ => "application/vnd.docker.raw-stream",
    };
    let (sink, body) = channel();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let mut emit = |l: &LogLine| match log_chunk(l, stdout, stderr, tty, timestamps)? {
            Some(chunk) => sink.send(chunk),
            None => Ok(()),
        };
        if let Err(e) = engine.container_logs(&known, &opts, follow, &mut emit) {
            tracing::debug!(error = %e, "logs");
        }
    });
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
}

/// One log line as a client reads it: raw with a TTY, else a multiplexed
/// frame; `None` when its stream was not asked for.
pub(super) fn log_chunk(
    l: &LogLine,
    stdout: bool,
    stderr: bool,
    tty: bool,
    timestamps: bool,
) -> std::io::Result<Option<Bytes>> {
    let (wanted, k) = match l.stream {
        Stream::Stdout => (stdout, 1),
        Stream::Stderr => (stderr, 2),
    };
    if !wanted {
        return Ok(None);
    }
    let text = if timestamps {
        format!("{} {}", l.time, l.text)
    } else {
        l.text.clone()
    };
    Ok(Some(if tty {
        Bytes::from(text.into_bytes())
    } else {
        Bytes::from(encode_frame(k, text.as_bytes())?)
    }))
}

/// `GET /containers/{id}/top?ps_args=`: `{"Titles": [...], "Processes": [[...]]}`.
pub async fn top(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let args: Vec<String> = call
        .query
        .get("ps_args")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let id = id.to_string();
    let top = api
        .blocking(move |engine| Ok(engine.top_container(&id, &args)?))
        .await?;
    json(StatusCode::OK, &top)
}

/// `GET /containers/{id}/changes`: `[{"Path", "Kind"}]`, Kind 0 modified,
/// 1 added, 2 deleted.
pub async fn changes(api: &Api, id: &str) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let changes = api
        .blocking(move |engine| Ok(engine.container_diff(&id)?))
        .await?;
    let out: Vec<_> = changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                ChangeKind::Modified => 0,
                ChangeKind::Added => 1,
                ChangeKind::Deleted => 2,
            };
            json!({"Path": format!("/{}", c.path), "Kind": kind})
        })
        .collect();
    json(StatusCode::OK, &out)
}

/// `GET /containers/{id}/export`: the flattened filesystem as a tar.
pub async fn export(api: &Api, id: &str) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    // A wrong name is a 404 before the stream.
    let id = {
        let id = id.clone();
        api.blocking(move |engine| Ok(engine.container(&id)?.id))
            .await?
    };
    let engine = api.engine.clone();
    bytes("application/x-tar", move |out| {
        engine.export_container(&id, out)?;
        Ok(())
    })
    .await
}

/// `POST /commit?container=&repo=&tag=&author=&comment=&pause=&changes=`:
/// 201 `{"Id"}`.
pub async fn commit(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let container = call
        .query
        .given("container")
        .ok_or_else(|| ApiError::bad_request("container is required"))?
        .to_string();
    let mut opts = CommitOptions::default();
    opts.author = call.query.given("author").map(str::to_string);
    opts.message = call.query.given("comment").map(str::to_string);
    // docker's pause defaults to true; `pause=0` turns it off.
    opts.pause = !matches!(call.query.get("pause"), Some("0" | "false" | "False"));
    opts.changes = call.query.instructions("changes");
    opts.reference = call.query.repo_tag();
    let id = api
        .blocking(move |engine| Ok(engine.commit_container(&container, &opts)?))
        .await?;
    json(StatusCode::CREATED, &json!({"Id": id.to_string()}))
}

/// `POST /containers/prune`: every stopped container.
pub async fn prune(api: &Api) -> Result<Response<Body>, ApiError> {
    let (ids, bytes) = api
        .blocking(|engine| Ok(engine.prune_containers()?))
        .await?;
    json(
        StatusCode::OK,
        &json!({"ContainersDeleted": if ids.is_empty() { json!(null) } else { json!(ids) }, "SpaceReclaimed": bytes}),
    )
}

/// One `stats` sample: the container's cgroup counters and the machine's
/// CPU time, when they were read.
struct Sample {
    at: String,
    usage: berth_engine::runtime::cgroup::Usage,
    system: u64,
}

fn sample(id: &str) -> Sample {
    Sample {
        at: berth_engine::rfc3339_now(),
        usage: berth_engine::runtime::cgroup::Cgroup::of(id).usage(),
        system: berth_engine::runtime::cgroup::system_cpu_time(),
    }
}

/// docker's stats document from a sample and the one before it.
fn stats_json(
    c: &berth_engine::Container,
    now: &Sample,
    pre: Option<&Sample>,
) -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = |s: Option<&Sample>| match s {
        Some(s) => json!({
            "cpu_usage": {
                "total_usage": s.usage.cpu_total,
                "usage_in_usermode": s.usage.cpu_user,
                "usage_in_kernelmode": s.usage.cpu_system,
            },
            "system_cpu_usage": s.system,
            "online_cpus": cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }),
        None => json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}}),
    };
    let u = &now.usage;
    // Without a limit docker shows the machine's memory.
    let limit = u
        .memory_limit
        .unwrap_or_else(berth_engine::runtime::cgroup::mem_total);
    let mut v = json!({
        "read": now.at,
        "preread": pre.map_or("0001-01-01T00:00:00Z".to_string(), |p| p.at.clone()),
        "id": c.id,
        "name": format!("/{}", c.name),
        "pids_stats": {"current": u.pids, "limit": u.pids_limit},
        "cpu_stats": cpu(Some(now)),
        "precpu_stats": cpu(pre),
        "memory_stats": {
            "usage": u.memory,
            "limit": limit,
            "stats": {"inactive_file": u.memory_inactive_file, "total_inactive_file": u.memory_inactive_file},
        },
        "blkio_stats": {"io_service_bytes_recursive": u.io.iter().flat_map(|d| [
            json!({"major": d.major, "minor": d.minor, "op": "read", "value": d.read}),
            json!({"major": d.major, "minor": d.minor, "op": "write", "value": d.write}),
        ]).collect::<Vec<_>>()},
        "num_procs": 0,
    });
    // docker's `networks`: the container's own interfaces (absent on the
    // host's network).
    if c.state.running && c.record.host_config.network_mode != "host" {
        let ifaces = berth_engine::network::counters::interfaces(c.state.pid);
        if !ifaces.is_empty() {
            v["networks"] = ifaces
                .iter()
                .map(|i| (i.name.clone(), json!(i)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
    }
    v
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: from the container's
/// cgroups; streamed once a second by default. Without `one-shot`, even a
/// single answer waits for a second sample so that CPU use can be computed.
pub async fn stats(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let stream = !matches!(call.query.get("stream"), Some("0" | "false" | "False"));
    let one_shot = call.query.flag("one-shot");
    let c = {
        let id = id.to_string();
        api.blocking(move |engine| Ok(engine.container(&id)?))
            .await?
    };
    let (sink, body) = channel();
    tokio::task::spawn_blocking(move || {
        let mut pre = if one_shot && !stream {
            None
        } else {
            let first = sample(&c.id);
            std::thread::sleep(std::time::Duration::from_secs(1));
            Some(first)
        };
        loop {
            let now = sample(&c.id);
            let doc = stats_json(&c, &now, pre.as_ref());
            if sink.send(format!("{doc}\n")).is_err() || !stream {
                return;
            }
            pre = Some(now);
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// What `POST /containers/{id}/update` reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    pids_limit: Option<i64>,
}

/// What `docker update` can ask that berth does not apply yet: refused by
/// name rather than ignored, so that a script learns it did not happen.
const UPDATE_NOT_APPLIED: &[(&str, &str)] = &[
    ("CpuShares", "--cpu-shares"),
    ("CpuPeriod", "--cpu-period"),
    ("CpuQuota", "--cpu-quota"),
    ("CpuRealtimePeriod", "--cpu-rt-period"),
    ("CpuRealtimeRuntime", "--cpu-rt-runtime"),
    ("CpusetCpus", "--cpuset-cpus"),
    ("CpusetMems", "--cpuset-mems"),
    ("MemoryReservation", "--memory-reservation"),
    ("KernelMemory", "--kernel-memory"),
    ("BlkioWeight", "--blkio-weight"),
];

/// `POST /containers/{id}/update`: memory, CPUs and PIDs limits, live.
pub async fn update(
    api: &Api,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let raw: serde_json::Value = super::read_json(req, 64 << 10).await?;
    let set = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        _ => false,
    };
    for (field, flag) in UPDATE_NOT_APPLIED {
        if raw.get(field).is_some_and(set) {
            return Err(ApiError::bad_request(format!(
                "{flag} is not supported by berth's update yet; memory, --cpus and --pids-limit are"
            )));
        }
    }
    let restart = raw["RestartPolicy"]["Name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(
            |n| match raw["RestartPolicy"]["MaximumRetryCount"].as_u64() {
                Some(c) if c > 0 => format!("{n}:{c}"),
                _ => n.to_string(),
            },
        );
    let body: UpdateBody = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid update: {e}")))?;
    let mut opts = UpdateOptions::default();
    // docker sends 0 for what `docker update` was not asked to change.
    opts.memory = body.memory.filter(|m| *m != 0);
    opts.nano_cpus = body.nano_cpus.filter(|n| *n != 0);
    opts.pids_limit = body.pids_limit.filter(|p| *p != 0);
    opts.restart = restart;
    let id = id.to_string();
    api.blocking(move |engine| Ok(engine.update_container(&id, &opts)?))
        .await?;
    json(StatusCode::OK, &json!({"Warnings": []}))
}
