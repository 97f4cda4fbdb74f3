//! `berth daemon`: the Docker Engine API on a unix socket (and, with client
//! certificates, TCP), over the same engine, store and containers as the
//! `berth` CLI. The docker CLI, docker-compose and docker-py talk to it
//! unchanged.
//!
//! The listener (`server`) accepts connections and hands each request to the
//! API (`api`): the version prefix and negotiation, then one handler module
//! per endpoint group (system, images, containers). Handlers call the engine
//! on blocking threads; every error status comes from the error's kind
//! (`oci::Kind::http_status`), in `api::error`.
#![deny(missing_docs)]
// `json!` of `/info`, dockerd's long flat document, nests deeper than the default allows.
#![recursion_limit = "256"]

pub mod api;
pub mod config;
pub mod server;
pub mod tls;

pub use config::{DaemonConfig, Host, Tls};

/// The commit berth was built from (`git rev-parse --short=7 HEAD`), or
/// `unknown` outside a checkout.
pub const GIT_COMMIT: &str = env!("BERTH_GIT_COMMIT");

/// The compiler berth was built with, where docker names its Go version.
pub const RUST_VERSION: &str = env!("BERTH_RUST_VERSION");

/// When berth was built, docker's way (`Thu May 18 08:38:34 2023`).
pub fn built() -> String {
    env!("BERTH_BUILT")
        .parse::<i64>()
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_default()
}
pub use server::serve_until_signalled;

use berth_oci::Kind;

/// Errors of starting or running the daemon (a request's errors are HTTP
/// answers, not these).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `-H` value or another setting is wrong.
    #[error("{0}")]
    Config(String),
    /// A listener could not be set up.
    #[error("{what}: {source}")]
    Listen {
        /// The address or socket path.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Refused for safety: a TCP listener anyone on the network could reach.
    #[error("{0}")]
    Unsafe(String),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Config(_) | Error::Unsafe(_) => Kind::InvalidArgument,
            Error::Listen { source, .. } => Kind::of_io(source),
        }
    }
}
