//! Exec: `POST /containers/{id}/exec` records what to run; `POST
//! /exec/{id}/start` runs it, hijacking the connection as attach does (raw
//! with a TTY, docker's 8-byte frames without); `resize` and `json` follow
//! it. Exec instances live in the daemon's memory, as dockerd's do.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use berth_engine::runtime::attach::encode_frame;
use berth_engine::{ExecIo, ExecOptions};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;

use super::{Api, ApiError, Body, Call, empty, json};

/// What `POST /containers/{id}/exec` reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    cmd: Vec<String>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    privileged: bool,
    console_size: Option<Vec<u16>>,
}

/// What `POST /exec/{id}/start` reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    console_size: Option<Vec<u16>>,
}

/// One exec instance.
struct Instance {
    container: String,
    body: ExecBody,
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: i32,
    /// The pty master, kept to resize it.
    terminal: Option<OwnedFd>,
}

/// The daemon's exec instances, by ID.
#[derive(Default)]
pub struct Instances(Mutex<HashMap<String, Arc<Mutex<Instance>>>>);

impl Instances {
    fn get(&self, id: &str) -> Result<Arc<Mutex<Instance>>, ApiError> {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("No such exec instance: {id}"),
                )
            })
    }
}

fn lock(i: &Mutex<Instance>) -> Result<std::sync::MutexGuard<'_, Instance>, ApiError> {
    i.lock()
        .map_err(|_| ApiError::internal("an exec instance's lock was poisoned"))
}

/// `POST /containers/{id}/exec`: 201 `{"Id"}`.
pub async fn create(
    api: &Api,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: ExecBody = super::read_json(req, 1 << 20).await?;
    if body.cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let container = {
        let id = id.to_string();
        api.blocking(move |engine| {
            let c = engine.container(&id)?;
            if !c.state.running {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("Container {} is not running", c.id),
                ));
            }
            if c.state.paused {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "Container {} is paused, unpause the container before exec",
                        c.id
                    ),
                ));
            }
            Ok(c.id)
        })
        .await?
    };
    let exec_id = berth_engine::new_id()?;
    let instance = Instance {
        container,
        body,
        started: false,
        running: false,
        exit_code: None,
        pid: 0,
        terminal: None,
    };
    if let Ok(mut m) = api.execs.0.lock() {
        m.insert(exec_id.clone(), Arc::new(Mutex::new(instance)));
    }
    json(StatusCode::CREATED, &json!({ "Id": exec_id }))
}

/// `POST /exec/{id}/start`: runs the process; hijacked unless `Detach`.
pub async fn start(
    api: &Api,
    call: &Call,
    id: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let instance = api.execs.get(id)?;
    let upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let start: StartBody = super::read_json(req, 64 << 10).await?;
    let (container, opts, attach_stdin, streams, tty) = {
        let mut i = lock(&instance)?;
        if i.started {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Exec {id} has already been started"),
            ));
        }
        i.started = true;
        let b = &i.body;
        let mut opts = ExecOptions::default();
        opts.cmd = b.cmd.clone();
        opts.env = b.env.clone().unwrap_or_default();
        opts.workdir = Some(b.working_dir.clone()).filter(|w| !w.is_empty());
        opts.user = Some(b.user.clone()).filter(|u| !u.is_empty());
        opts.tty = b.tty;
        opts.interactive = b.attach_stdin;
        opts.privileged = b.privileged;
        opts.console_size = match start.console_size.as_deref().or(b.console_size.as_deref()) {
            Some([rows, cols]) if *rows > 0 && *cols > 0 => Some((*rows, *cols)),
            _ => None,
        };
        let streams = (b.attach_stdout, b.attach_stderr);
        (
            i.container.clone(),
            opts,
            b.attach_stdin && !start.detach,
            streams,
            b.tty,
        )
    };
    let detach = start.detach || !upgrade;
    // Pipes for the process's stdio when it has no terminal.
    let (io, ends) = if tty {
        (ExecIo::Inherit, None)
    } else {
        let pipe_err = |e: rustix::io::Errno| ApiError::internal(format!("pipe: {e}"));
        let (out_r, out_w) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(pipe_err)?;
        let (err_r, err_w) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(pipe_err)?;
        let (stdin, in_w) = if attach_stdin {
            let (r, w) =
                rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(pipe_err)?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        (
            ExecIo::Fds {
                stdin,
                stdout: out_w,
                stderr: err_w,
            },
            Some((out_r, err_r, in_w)),
        )
    };
    let engine = api.engine.clone();
    let run = Run {
        engine,
        container,
        opts,
        io,
        instance: instance.clone(),
    };
    if detach {
        let (exec, _) = run.start().await?;
        tokio::spawn(async move {
            let _ = exec.await;
        });
        return Ok(empty(StatusCode::OK));
    }
    let content_type = if tty || !call.version.at_least(1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    // As dockerd: the connection is hijacked first, then the process starts;
    // a start that fails is told in the stream and by the exit code.
    tokio::spawn(async move {
        let Ok(client) = on_upgrade.await else {
            return;
        };
        let mut client = TokioIo::new(client);
        let (waiter, master) = match run.start().await {
            Ok(started) => started,
            Err(e) => {
                let text = format!("{}\r\n", e.message);
                let bytes = if tty {
                    text.into_bytes()
                } else {
                    encode_frame(2, text.as_bytes()).unwrap_or_default()
                };
                let _ = client.write_all(&bytes).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        let result = match (ends, master) {
            (Some((out_r, err_r, in_w)), _) => {
                relay_pipes(client, out_r, err_r, in_w, streams, waiter).await
            }
            (None, Some(master)) => relay_terminal(client, master, waiter).await,
            (None, None) => {
                let _ = waiter.await;
                client.shutdown().await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "exec");
        }
    });
    let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
}

/// An exec about to start.
struct Run {
    engine: Arc<berth_engine::Engine>,
    container: String,
    opts: ExecOptions,
    io: ExecIo,
    instance: Arc<Mutex<Instance>>,
}

impl Run {
    /// Starts the process; returns the task that waits for it (and records
    /// its exit code before the stream ends: the docker CLI reads it as soon
    /// as the stream closes) and, with a terminal, two handles on the pty
    /// master for the relay. A start that fails records 126/127.
    async fn start(
        self,
    ) -> Result<(tokio::task::JoinHandle<()>, Option<(OwnedFd, OwnedFd)>), ApiError> {
        let Run {
            engine,
            container,
            opts,
            io,
            instance,
        } = self;
        let exec =
            tokio::task::spawn_blocking(move || engine.exec_container_io(&container, &opts, io))
                .await
                .map_err(|_| ApiError::internal("the request's worker panicked"))?;
        let exec = match exec {
            Ok(e) => e,
            Err(e) => {
                if let Ok(mut i) = lock(&instance) {
                    i.exit_code = Some(match &e {
                        berth_engine::Error::Start { code, .. } => *code,
                        _ => 126,
                    });
                }
                return Err(e.into());
            }
        };
        let dup =
            |fd: &OwnedFd| rustix::io::dup(fd).map_err(|e| ApiError::internal(format!("dup: {e}")));
        let master = match &exec.terminal {
            Some(m) => Some((dup(m)?, dup(m)?, dup(m)?)),
            None => None,
        };
        let (keep, relay) = match master {
            Some((keep, r, w)) => (Some(keep), Some((r, w))),
            None => (None, None),
        };
        {
            let mut i = lock(&instance)?;
            i.running = true;
            i.pid = exec.pid;
            i.terminal = keep;
        }
        let waiter = tokio::task::spawn_blocking(move || {
            let code = exec.wait().unwrap_or(-1);
            if let Ok(mut i) = instance.lock() {
                i.running = false;
                i.exit_code = Some(code);
                i.terminal = None;
            }
        });
        Ok((waiter, relay))
    }
}

/// Copies the client's bytes into `to` until the client half-closes; then
/// closes `to` (the process sees stdin's end). Once the process is gone,
/// what the client still sends is read and dropped: closing a socket with
/// unread bytes resets it, and the client would report that instead of the
/// exit code.
async fn pump_stdin(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 32 << 10];
    let mut open = true;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return if open { to.shutdown().await } else { Ok(()) };
        }
        if open && to.write_all(&buf[..n]).await.is_err() {
            open = false;
        }
    }
}

/// Ends a relay: the client's side closed for writing, what it still
/// sends drained for a moment (see [`pump_stdin`]).
async fn finish(
    mut to_client: impl AsyncWrite + Unpin,
    stdin_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
) -> std::io::Result<()> {
    let closed = to_client.shutdown().await;
    if let Some(mut t) = stdin_task
        && tokio::time::timeout(std::time::Duration::from_secs(5), &mut t)
            .await
            .is_err()
    {
        t.abort();
    }
    closed
}

/// Without a terminal: stdout and stderr framed, stdin piped in.
async fn relay_pipes(
    client: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    out_r: OwnedFd,
    err_r: OwnedFd,
    in_w: Option<OwnedFd>,
    (want_out, want_err): (bool, bool),
    waiter: tokio::task::JoinHandle<()>,
) -> std::io::Result<()> {
    let (from_client, mut to_client) = tokio::io::split(client);
    let stdin_task = match in_w {
        Some(w) => {
            let w = pipe::Sender::from_owned_fd(w)?;
            Some(tokio::spawn(pump_stdin(from_client, w)))
        }
        None => None,
    };
    let mut out = pipe::Receiver::from_owned_fd(out_r)?;
    let mut err = pipe::Receiver::from_owned_fd(err_r)?;
    let (mut out_open, mut err_open) = (true, true);
    let mut ob = vec![0u8; 32 << 10];
    let mut eb = vec![0u8; 32 << 10];
    while out_open || err_open {
        tokio::select! {
            r = out.read(&mut ob), if out_open => match r? {
                0 => out_open = false,
                n if want_out => to_client.write_all(&encode_frame(1, &ob[..n])?).await?,
                _ => {}
            },
            r = err.read(&mut eb), if err_open => match r? {
                0 => err_open = false,
                n if want_err => to_client.write_all(&encode_frame(2, &eb[..n])?).await?,
                _ => {}
            },
        }
    }
    let _ = waiter.await;
    finish(to_client, stdin_task).await
}

/// With a terminal: the pty master both ways, raw.
async fn relay_terminal(
    client: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    (read_fd, write_fd): (OwnedFd, OwnedFd),
    waiter: tokio::task::JoinHandle<()>,
) -> std::io::Result<()> {
    let (from_client, mut to_client) = tokio::io::split(client);
    // A pty master is a character device that tokio's pipe type polls like
    // a FIFO (non-blocking reads and writes through epoll).
    let mut master_r = pipe::Receiver::from_owned_fd_unchecked(read_fd)?;
    let master_w = pipe::Sender::from_owned_fd_unchecked(write_fd)?;
    let stdin_task = tokio::spawn(pump_stdin(from_client, master_w));
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match master_r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => to_client.write_all(&buf[..n]).await?,
            // The slave side closed: the process ended.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => break,
            Err(e) => return Err(e),
        }
    }
    let _ = waiter.await;
    finish(to_client, Some(stdin_task)).await
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let instance = api.execs.get(id)?;
    let (rows, cols) = call.query.terminal_size()?;
    let i = lock(&instance)?;
    match &i.terminal {
        Some(m) => {
            berth_engine::runtime::set_window_size(m, rows, cols);
            Ok(empty(StatusCode::OK))
        }
        None if i.running => Err(ApiError::bad_request("the exec has no terminal to resize")),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Exec {id} is not running"),
        )),
    }
}

/// `GET /exec/{id}/json`.
pub async fn inspect(api: &Api, id: &str) -> Result<Response<Body>, ApiError> {
    let instance = api.execs.get(id)?;
    let i = lock(&instance)?;
    let b = &i.body;
    json(
        StatusCode::OK,
        &json!({
            "ID": id,
            "Running": i.running,
            "ExitCode": i.exit_code,
            "ProcessConfig": {
                "tty": b.tty,
                "entrypoint": b.cmd.first(),
                "arguments": b.cmd.get(1..).unwrap_or_default(),
                "privileged": b.privileged,
                "user": b.user,
            },
            "OpenStdin": b.attach_stdin,
            "OpenStderr": b.attach_stderr,
            "OpenStdout": b.attach_stdout,
            "CanRemove": !i.running && i.started,
            "ContainerID": i.container,
            "DetachKeys": "",
            "Pid": i.pid,
        }),
    )
}
