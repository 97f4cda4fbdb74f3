//! `berth registry`: a registry server speaking the OCI distribution spec 1.1
//! (and Docker Registry v2), with Docker's token auth, Docker Hub's
//! `/v1/search`, Prometheus metrics, and its data in a [`storage::Storage`]:
//! a directory or an S3 bucket. It keeps nothing of its own outside the
//! storage, so several servers can serve one bucket.
//!
//! Layout: [`routes`] names the endpoint, [`http`] authorizes and answers,
//! [`repo`] holds the spec's rules over the storage, [`gc`] collects garbage.
#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod errors;
pub mod gc;
pub mod http;
pub mod metrics;
pub mod repo;
pub mod routes;
pub mod server;
pub mod storage;

pub use config::Config;
pub use server::Server;

/// Errors of setting the registry up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// The config file is bad.
    #[error(transparent)]
    ConfigFile(#[from] config::ConfigError),
    /// Authentication cannot be set up.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The storage cannot be opened.
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    /// An operation on the registry's data failed.
    #[error("{}", .0.message)]
    Api(errors::ApiError),
}

impl From<errors::ApiError> for Error {
    fn from(e: errors::ApiError) -> Error {
        Error::Api(e)
    }
}

/// `n` random bytes as hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if getrandom::fill(&mut buf).is_err() {
        // No entropy source: fall back to time and address, still unique enough for temp names.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ (buf.as_ptr() as u128);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID (version 4) for an upload session.
pub(crate) fn new_uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
