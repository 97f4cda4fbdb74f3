//! The listeners: unix sockets (mode 0660, owned by the docker group) and
//! TCP (loopback, or any address with client certificates), HTTP/1.1 with upgrades (attach and exec hijack the
//! connection), bounded headers, graceful shutdown on SIGTERM.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::Error;
use crate::api::Api;
use crate::config::{DaemonConfig, Host};

/// How long requests in flight get to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a request's headers may hold.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// A connection, whichever listener it came from.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Runs the daemon on its own runtime until SIGTERM or SIGINT; `ready` is
/// told each address once every listener is bound.
pub fn serve_until_signalled(
    api: Api,
    config: &DaemonConfig,
    ready: impl FnOnce(&[Host]),
) -> Result<(), Error> {
    config.check()?;
    crate::api::scratch::sweep_stale();
    // Taken before the runtime's threads exist: it edits the environment.
    let mut passed = if config.hosts.contains(&Host::Systemd) {
        systemd_listeners()?
    } else {
        Vec::new()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Listen {
            what: "the async runtime".into(),
            source,
        })?;
    let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    runtime.block_on(async move {
        let (tx, rx) = mpsc::channel::<Box<dyn Io>>(64);
        let mut sockets = Vec::new();
        for host in &config.hosts {
            match host {
                Host::Unix(path) => {
                    let listener = bind_unix(path, config.group.as_deref())?;
                    sockets.push(path.clone());
                    tokio::spawn(accept_unix(listener, tx.clone()));
                }
                Host::Systemd => {
                    for passed in passed.drain(..) {
                        let listen_err = |source| Error::Listen {
                            what: "fd://".into(),
                            source,
                        };
                        match passed {
                            Passed::Unix(l) => {
                                let l = UnixListener::from_std(l).map_err(listen_err)?;
                                tokio::spawn(accept_unix(l, tx.clone()));
                            }
                            Passed::Tcp(l) => {
                                let l = TcpListener::from_std(l).map_err(listen_err)?;
                                tokio::spawn(accept_tcp(l, tls.clone(), tx.clone()));
                            }
                        }
                    }
                }
                Host::Tcp(addr) => {
                    let listener =
                        TcpListener::bind(addr)
                            .await
                            .map_err(|source| Error::Listen {
                                what: host.to_string(),
                                source,
                            })?;
                    tokio::spawn(accept_tcp(listener, tls.clone(), tx.clone()));
                }
            }
        }
        drop(tx);
        ready(&config.hosts);
        let api = Arc::new(api);
        tokio::spawn(reap_monitors(api.clone()));
        serve(api, rx, shutdown_signal()).await;
        for s in sockets {
            let _ = std::fs::remove_file(s);
        }
        Ok(())
    })
}

/// Binds a unix socket at `path`: a stale socket file is replaced, a live
/// one (another daemon answers) is an error; the socket is 0660 and belongs
/// to `group` when it exists.
fn bind_unix(path: &Path, group: Option<&str>) -> Result<UnixListener, Error> {
    let listen_err = |source| Error::Listen {
        what: format!("unix://{}", path.display()),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(listen_err)?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(Error::Config(format!(
            "unix://{}: another daemon is listening there",
            path.display()
        )));
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(listen_err)?;
    let gid = group.and_then(group_id);
    rustix::fs::chown(path, None, gid.map(rustix::fs::Gid::from_raw))
        .map_err(|e| listen_err(e.into()))?;
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(0o660))
        .map_err(|e| listen_err(e.into()))?;
    Ok(listener)
}

/// A listening socket systemd passed.
enum Passed {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

/// The listening sockets systemd passed this process (`sd_listen_fds`:
/// descriptors from 3, `LISTEN_FDS` of them, when `LISTEN_PID` is ours).
fn systemd_listeners() -> Result<Vec<Passed>, Error> {
    let none =
        || Error::Config("-H fd://: systemd passed no sockets (is berth.socket active?)".into());
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|_| ours)
        .ok_or_else(none)?;
    // SAFETY: called before the async runtime and its threads start, and
    // nothing else in this process touches the environment meanwhile; the
    // variables go so that children (container monitors) do not take the
    // sockets as theirs.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let mut out = Vec::new();
    for raw in 3..3 + count {
        // SAFETY: systemd passed descriptors 3..3+LISTEN_FDS to this process
        // for it alone (sd_listen_fds(3)); each is taken here once.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        let listen_err = |e: std::io::Error| Error::Listen {
            what: format!("fd://{raw}"),
            source: e,
        };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
            .map_err(|e| listen_err(e.into()))?;
        let family = rustix::net::getsockname(&fd)
            .map_err(|e| listen_err(e.into()))?
            .address_family();
        if family == rustix::net::AddressFamily::UNIX {
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true).map_err(listen_err)?;
            out.push(Passed::Unix(l));
        } else {
            let l = std::net::TcpListener::from(fd);
            l.set_nonblocking(true).map_err(listen_err)?;
            out.push(Passed::Tcp(l));
        }
    }
    if out.is_empty() {
        return Err(none());
    }
    Ok(out)
}

/// The ID of group `name` from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

async fn accept_unix(listener: UnixListener, tx: mpsc::Sender<Box<dyn Io>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if tx.send(Box::new(stream)).await.is_err() {
                    return;
                }
            }
            // EMFILE and friends: back off instead of spinning.
            Err(e) => {
                tracing::warn!(error = %e, "accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accepts TCP connections; with TLS, each handshake runs on its own task
/// (bounded like a request's headers) so a stalled client holds no one up,
/// and a client the handshake refuses (no certificate, wrong CA) never
/// reaches the API.
async fn accept_tcp(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<Box<dyn Io>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                let Some(tls) = tls.clone() else {
                    if tx.send(Box::new(stream)).await.is_err() {
                        return;
                    }
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Box::new(stream)).await;
                        }
                        Ok(Err(e)) => tracing::info!(%remote, error = %e, "TLS handshake refused"),
                        Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves connections from `incoming` until `shutdown`, then lets requests
/// in flight finish (up to [`DRAIN`]). Containers are not touched: their
/// monitors own them.
async fn serve(
    api: Arc<Api>,
    mut incoming: mpsc::Receiver<Box<dyn Io>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection holds a sender; when all are dropped, all are done.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    tokio::pin!(shutdown);
    loop {
        let io = tokio::select! {
            io = incoming.recv() => match io {
                Some(io) => io,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let api = api.clone();
        let service = service_fn(move |req| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(crate::api::handle(api, req).await) }
        });
        let conn = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let mut stop = stop_rx.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    // Finish the request in flight, take no more.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection");
            }
            drop(alive);
        });
    }
    tracing::info!(target: "berth::daemon", "shutting down: finishing requests in flight");
    let _ = stop_tx.send(true);
    drop(alive_tx);
    if tokio::time::timeout(DRAIN, alive_rx.recv()).await.is_err() {
        tracing::warn!(target: "berth::daemon", "requests still running after {DRAIN:?}; closing");
    }
}

/// Reaps the container monitors the daemon started, once they end.
async fn reap_monitors(api: Arc<Api>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let api = api.clone();
        let _ = tokio::task::spawn_blocking(move || api.engine().reap_monitors()).await;
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the process dies by the default action instead.
        _ => std::future::pending::<()>().await,
    }
}

/// The default unix socket under a runroot: `/run/berth/docker.sock`.
pub fn default_socket(runroot: &Path) -> PathBuf {
    runroot.join("docker.sock")
}
