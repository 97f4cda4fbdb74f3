//! Attach, hijacked as dockerd does it: the client sends `Upgrade: tcp`,
//! berth answers `101 UPGRADED`, and the connection becomes a two-way
//! stream between the client and the container's monitor. Without a TTY
//! output is framed with docker's 8-byte header; with one it is raw.
//!
//! A client may attach before the container starts (`docker run` attaches,
//! then starts): the attachment waits, and the start hands it the
//! monitor's stream, connected before the process runs so no output is
//! missed.

use std::collections::HashMap;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Mutex;

use berth_engine::runtime::attach::{MAX_FRAME, encode_frame, kind};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::{Api, ApiError, Body, Call, empty};

/// The monitor's stream for an attachment, and who else waits for the
/// exit code it will carry.
pub type Handoff = (StdUnixStream, Vec<oneshot::Sender<i32>>);

/// Attachments waiting for their container's start, by container ID.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, oneshot::Sender<Handoff>>>);

impl Pending {
    fn insert(&self, id: &str, tx: oneshot::Sender<Handoff>) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(id.to_string(), tx);
        }
    }

    /// The attachment waiting for container `id`, if one is (and its client
    /// is still there).
    pub fn take(&self, id: &str) -> Option<oneshot::Sender<Handoff>> {
        self.0.lock().ok()?.remove(id).filter(|tx| !tx.is_closed())
    }
}

/// `wait`s for the next exit of a container that does not run yet, by ID.
#[derive(Default)]
pub struct Waiters(Mutex<HashMap<String, Vec<oneshot::Sender<i32>>>>);

impl Waiters {
    /// A waiter for container `id`'s next exit.
    pub fn add(&self, id: &str) -> oneshot::Receiver<i32> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.0.lock() {
            m.entry(id.to_string()).or_default().push(tx);
        }
        rx
    }

    /// Everyone waiting for container `id` (still listening).
    pub fn take(&self, id: &str) -> Vec<oneshot::Sender<i32>> {
        let mut all = self
            .0
            .lock()
            .ok()
            .and_then(|mut m| m.remove(id))
            .unwrap_or_default();
        all.retain(|tx| !tx.is_closed());
        all
    }
}

/// Reads the monitor's stream to its end, for the exit code only; tells
/// `waiters`. Used when a start has waiters but no attachment.
pub async fn exit_code_of(monitor: StdUnixStream, waiters: Vec<oneshot::Sender<i32>>) {
    let code = async {
        monitor.set_nonblocking(true)?;
        let mut m = tokio::net::UnixStream::from_std(monitor)?;
        while let Some((k, payload)) = read_frame(&mut m).await? {
            if k == kind::EXIT {
                return Ok(exit_code(&payload));
            }
        }
        Ok::<_, std::io::Error>(None)
    }
    .await;
    if let Ok(Some(code)) = code {
        for w in waiters {
            let _ = w.send(code);
        }
    }
}

fn exit_code(payload: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(payload.try_into().ok()?))
}

/// What the client asked to see and send.
#[derive(Debug, Clone, Copy)]
struct Streams {
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

/// docker's `detachKeys`: `ctrl-p,ctrl-q` (the default), `a`, `ctrl-@`…
fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let spec = spec.unwrap_or("ctrl-p,ctrl-q");
    spec.split(',')
        .map(|k| {
            let bad = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
            match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let c = c.as_bytes()[0].to_ascii_lowercase();
                    match c {
                        b'a'..=b'z' => Ok(c - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' => Ok(27),
                        b'\\' => Ok(28),
                        b']' => Ok(29),
                        b'^' => Ok(30),
                        b'_' => Ok(31),
                        _ => Err(bad()),
                    }
                }
                Some(_) => Err(bad()),
                None if k.len() == 1 => Ok(k.as_bytes()[0]),
                None => Err(bad()),
            }
        })
        .collect()
}

/// `POST /containers/{id}/attach?stream=&stdin=&stdout=&stderr=&detachKeys=`.
pub async fn attach(
    api: &Api,
    call: &Call,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let streams = Streams {
        stdin: call.query.flag("stdin"),
        stdout: call.query.flag("stdout"),
        stderr: call.query.flag("stderr"),
    };
    let detach = detach_keys(call.query.given("detachKeys"))?;
    let upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !upgrade {
        return Err(ApiError::bad_request(
            "attach needs a hijacked connection: send Connection: Upgrade and Upgrade: tcp",
        ));
    }
    let (cid, tty, running) = {
        let id = id.to_string();
        api.blocking(move |engine| {
            let c = engine.container(&id)?;
            Ok((c.id, c.record.config.tty, c.state.running))
        })
        .await?
    };
    let (logs, stream) = (call.query.flag("logs"), call.query.flag("stream"));
    // Connected now when it runs; else when it starts. Without `stream`,
    // only the logs so far.
    let (tx, rx) = oneshot::channel();
    if !stream {
        drop(tx);
    } else if running {
        let id = cid.clone();
        let monitor = api
            .blocking(move |engine| Ok(engine.attach_container(&id)?))
            .await?;
        let _ = tx.send((monitor, Vec::new()));
    } else {
        api.pending.insert(&cid, tx);
    }
    let on_upgrade = hyper::upgrade::on(req);
    let engine = api.engine.clone();
    tokio::spawn(async move {
        let Ok(client) = on_upgrade.await else {
            return;
        };
        let mut client = TokioIo::new(client);
        if logs {
            // What the container wrote before this attachment, as docker
            // replays it (docker-compose's `up` attaches so).
            let replay = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let _ = engine.container_logs(&cid, &Default::default(), false, &mut |l| {
                    if let Some(chunk) =
                        super::containers::log_chunk(l, streams.stdout, streams.stderr, tty, false)?
                    {
                        out.extend_from_slice(&chunk);
                    }
                    Ok(())
                });
                out
            })
            .await
            .unwrap_or_default();
            // docker-py parses the 101 through a buffered reader and then
            // reads the raw socket: bytes that arrive with the headers are
            // lost to it. dockerd's slower log read hides that race; a pause
            // makes it rare here too.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if client.write_all(&replay).await.is_err() {
                return;
            }
        }
        let Ok((monitor, waiters)) = rx.await else {
            let _ = client.shutdown().await;
            return;
        };
        let relayed = relay(client, monitor, tty, streams, &detach, waiters);
        if let Err(e) = relayed.await {
            tracing::debug!(error = %e, "attach");
        }
    });
    let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    let content_type = if tty || !call.version.at_least(1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
}

/// Reads one of the monitor's frames; `None` at its end.
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "an attach frame larger than allowed",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((head[0], payload)))
}

/// Why the client's side ended.
enum InputEnd {
    /// The client closed its stdin (half-close): output goes on.
    Eof,
    /// The detach keys: the session ends, the container runs on.
    Detached,
}

/// Relays between the hijacked client and the monitor until the container
/// exits or the client detaches or goes.
async fn relay(
    client: impl AsyncRead + AsyncWrite + Unpin,
    monitor: StdUnixStream,
    tty: bool,
    streams: Streams,
    detach: &[u8],
    waiters: Vec<oneshot::Sender<i32>>,
) -> std::io::Result<()> {
    monitor.set_nonblocking(true)?;
    let monitor = tokio::net::UnixStream::from_std(monitor)?;
    let (mut from_monitor, mut to_monitor) = monitor.into_split();
    let (mut from_client, mut to_client) = tokio::io::split(client);

    let output = async {
        let mut waiters = waiters;
        while let Some((k, payload)) = read_frame(&mut from_monitor).await? {
            let wanted = match k {
                kind::STDOUT => streams.stdout,
                kind::STDERR => streams.stderr,
                kind::EXIT => {
                    if let Some(code) = exit_code(&payload) {
                        for w in waiters.drain(..) {
                            let _ = w.send(code);
                        }
                    }
                    break;
                }
                _ => false,
            };
            if !wanted {
                continue;
            }
            if tty {
                to_client.write_all(&payload).await?;
            } else {
                to_client.write_all(&encode_frame(k, &payload)?).await?;
            }
            to_client.flush().await?;
        }
        to_client.shutdown().await
    };
    let input = async {
        let mut buf = vec![0u8; 32 << 10];
        // How much of the detach sequence the last bytes matched.
        let mut matched = 0usize;
        loop {
            let n = from_client.read(&mut buf).await?;
            if n == 0 {
                to_monitor
                    .write_all(&encode_frame(kind::STDIN_CLOSE, &[])?)
                    .await?;
                return Ok::<_, std::io::Error>(InputEnd::Eof);
            }
            for &b in &buf[..n] {
                if b == detach[matched] {
                    matched += 1;
                    if matched == detach.len() {
                        return Ok(InputEnd::Detached);
                    }
                } else {
                    matched = usize::from(b == detach[0]);
                }
            }
            to_monitor
                .write_all(&encode_frame(kind::STDIN, &buf[..n])?)
                .await?;
        }
    };
    tokio::pin!(output, input);
    let mut input_open = streams.stdin;
    loop {
        tokio::select! {
            r = &mut output => return r,
            r = &mut input, if input_open => {
                input_open = false;
                match r {
                    Ok(InputEnd::Eof) => {}
                    // Detached, or the client is gone: leave the container be.
                    Ok(InputEnd::Detached) | Err(_) => return Ok(()),
                }
            }
        }
    }
}

/// `POST /containers/{id}/resize?h=&w=`: the terminal's new size.
pub async fn resize(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let (rows, cols) = call.query.terminal_size()?;
    let id = id.to_string();
    api.blocking(move |engine| {
        let c = engine.container(&id)?;
        if !c.state.running {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Container {} is not running", c.id),
            ));
        }
        let mut s = engine.attach_container(&c.id)?;
        let mut size = [0u8; 4];
        size[..2].copy_from_slice(&rows.to_be_bytes());
        size[2..].copy_from_slice(&cols.to_be_bytes());
        berth_engine::runtime::attach::write_frame(&mut s, kind::RESIZE, &size)
            .map_err(|e| ApiError::internal(format!("resizing: {e}")))?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_read_like_dockers() {
        assert_eq!(detach_keys(None).unwrap(), vec![16, 17]);
        assert_eq!(detach_keys(Some("ctrl-a,x")).unwrap(), vec![1, b'x']);
        assert!(detach_keys(Some("ctrl-")).is_err());
        assert!(detach_keys(Some("alt-x")).is_err());
    }
}
