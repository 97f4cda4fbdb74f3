//! The listener: connections, TLS, limits, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::Error;
use crate::auth::Auth;
use crate::config::{Config, TlsConfig};
use crate::http::State;
use crate::repo::Registry;

/// How long in-flight requests get to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(30);

/// Opens the storage the config names.
pub fn open_storage(config: &Config) -> Result<Arc<dyn crate::storage::Storage>, Error> {
    Ok(match (&config.s3, &config.root) {
        (Some(s3), _) => Arc::new(crate::storage::S3Storage::new(s3)?),
        (None, Some(root)) => Arc::new(crate::storage::FsStorage::new(root, config.fsync)?),
        (None, None) => {
            return Err(Error::Config(
                "no storage: give --root DIR or --s3-bucket".into(),
            ));
        }
    })
}

fn tls_acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, Error> {
    let bad = |what: &std::path::Path, e: String| Error::Config(format!("{}: {e}", what.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| bad(&tls.cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&tls.cert, e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad(&tls.key, e.to_string()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut server = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&tls.cert, e.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    metrics: Option<TcpListener>,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Binds the address and opens storage and auth; nothing is served yet.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let storage = open_storage(&config)?;
        let auth = Auth::new(&config)?;
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(&config.addr)
            .await
            .map_err(|e| Error::Config(format!("listening on {}: {e}", config.addr)))?;
        let metrics =
            match &config.metrics_addr {
                None => None,
                Some(a) => {
                    let addr = if a.parse::<u16>().is_ok() {
                        format!("127.0.0.1:{a}")
                    } else {
                        a.clone()
                    };
                    Some(TcpListener::bind(&addr).await.map_err(|e| {
                        Error::Config(format!("listening for metrics on {addr}: {e}"))
                    })?)
                }
            };
        let registry = Registry::new(storage, config);
        Ok(Server {
            listener,
            metrics,
            state: Arc::new(State::new(registry, auth)),
            tls,
        })
    }

    /// The address actually bound (port 0 picks one).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// What the startup line says.
    pub fn describe(&self) -> String {
        let auth = match &self.state.auth.mode {
            crate::auth::Mode::Anonymous => "none",
            crate::auth::Mode::Basic => "htpasswd",
            crate::auth::Mode::Token(_) => "token",
        };
        let metrics = match self.metrics.as_ref().and_then(|l| l.local_addr().ok()) {
            Some(a) => format!(", metrics: http://{a}/metrics"),
            None => String::new(),
        };
        format!(
            "{}://{} (storage: {}, auth: {auth}{metrics})",
            if self.tls.is_some() { "https" } else { "http" },
            self.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            self.state.registry.storage.describe()
        )
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), Error> {
        let limits = self.state.registry.config.limits.clone();
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(limits.header_timeout.max(1)))
            .keep_alive(true);
        let purge = tokio::spawn(purge_uploads(self.state.clone()));
        let metrics = self
            .metrics
            .map(|l| tokio::spawn(serve_metrics(l, self.state.clone(), http.clone())));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let state = self.state.clone();
            let service = service_fn(move |req| crate::http::serve(state.clone(), req, remote));
            let metrics_state = self.state.clone();
            metrics_state
                .metrics
                .connections
                .fetch_add(1, Ordering::Relaxed);
            let watcher = graceful.watcher();
            let http = http.clone();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let result = match tls {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Some(tls) => {
                        let handshake = tokio::time::timeout(
                            Duration::from_secs(limits.header_timeout.max(1)),
                            tls.accept(stream),
                        )
                        .await;
                        match handshake {
                            Ok(Ok(s)) => {
                                watcher
                                    .watch(http.serve_connection(TokioIo::new(s), service))
                                    .await
                            }
                            _ => Ok(()),
                        }
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, remote = %remote, "connection");
                }
                metrics_state
                    .metrics
                    .connections
                    .fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
        purge.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        drop(self.listener);
        tracing::info!(target: "berth::registry", "shutting down: finishing requests in flight");
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(target: "berth::registry", "requests still running after {DRAIN:?}; closing");
        }
        Ok(())
    }
}

/// Serves the metrics listener, one small request at a time per connection.
async fn serve_metrics(listener: TcpListener, state: Arc<State>, http: http1::Builder) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| crate::http::serve_metrics(state.clone(), req));
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Drops abandoned uploads now and every hour.
async fn purge_uploads(state: Arc<State>) {
    let expiry = Duration::from_secs(state.registry.config.limits.upload_expiry);
    loop {
        match state.registry.purge_uploads(expiry).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(target: "berth::registry", purged = n, "abandoned uploads removed")
            }
            Err(e) => {
                tracing::warn!(target: "berth::registry", error = %e.message, "purging uploads")
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Runs a server on its own runtime until SIGTERM or SIGINT; `ready` is told
/// the startup line once the address is bound.
pub fn serve_until_signalled(config: Config, ready: impl FnOnce(&str)) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let server = Server::bind(config).await?;
        ready(&server.describe());
        server.run(shutdown_signal()).await
    })
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
