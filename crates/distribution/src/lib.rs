//! berth's client side of HTTP: the registry client (pull, push, login,
//! search: [`Registry`]), credentials ([`DockerConfig`]) and fetching a tarball
//! for `berth import URL`.
//!
//! It knows nothing of the store or the CLI.
#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod config;

use std::io::Read;
use std::time::Duration;

use berth_oci::errcode::ErrorCode;
use berth_oci::{Digest, Kind};

pub use auth::Credentials;
pub use client::{ClientOptions, FetchedManifest, Mounted, Registry, SearchResult};
pub use config::{DockerConfig, RegistryConfig, server_key};

/// Errors of fetching.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not an http(s) URL berth can fetch.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The server could not be reached or the transfer failed.
    #[error("fetching {url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("fetching {url}: server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: reqwest::StatusCode,
    },
    /// The registry answered with an error of the distribution spec.
    #[error("{}: {message}", code.to_ascii_lowercase().replace('_', " "))]
    Registry {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The spec's code, e.g. `MANIFEST_UNKNOWN`.
        code: String,
        /// The registry's message.
        message: String,
    },
    /// The registry wants credentials it did not get or refused.
    #[error("unauthorized: {message} — run 'berth login {host}'")]
    Unauthorized {
        /// The registry.
        host: String,
        /// What it said.
        message: String,
    },
    /// TLS failed with the registry.
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// The registry.
        host: String,
        /// Why.
        reason: String,
    },
    /// The registry could not be reached.
    #[error("registry {host} is unreachable: {reason}")]
    Unreachable {
        /// The registry.
        host: String,
        /// Why.
        reason: String,
    },
    /// Content did not hash to the digest it was asked for by.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// What the content hashed to.
        actual: Digest,
    },
    /// The registry answered something the protocol does not allow.
    #[error("{0}")]
    Protocol(String),
    /// Credentials could not be read or stored.
    #[error("credentials: {0}")]
    Credentials(String),
    /// A configuration file or certificate is wrong.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::InvalidUrl { .. } => Kind::InvalidArgument,
            Error::Transport { .. } | Error::Unreachable { .. } | Error::Tls { .. } => {
                Kind::Unavailable
            }
            Error::Registry { status, code, .. } => match ErrorCode::parse(code) {
                _ if status.is_server_error() => Kind::Unavailable,
                Some(c) => c.kind(),
                None => Kind::InvalidArgument,
            },
            Error::Unauthorized { .. } => Kind::Unauthenticated,
            Error::DigestMismatch { .. } | Error::Protocol(_) => Kind::DataLoss,
            Error::Credentials(_) | Error::Config(_) => Kind::InvalidArgument,
            Error::Status { status, .. } => match status.as_u16() {
                401 => Kind::Unauthenticated,
                403 => Kind::PermissionDenied,
                404 | 410 => Kind::NotFound,
                429 | 500..=599 => Kind::Unavailable,
                _ => Kind::InvalidArgument,
            },
        }
    }
}

/// Whether `source` is an http(s) URL rather than a path.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Opens `url` for streaming; returns the body and its length when the server
/// says it. Redirects are followed; a status other than 2xx is an error.
pub fn fetch(url: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: "only http and https are supported".into(),
        });
    }
    let transport = |source| Error::Transport {
        url: url.to_string(),
        source,
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        // The blocking client's default 30 s covers the whole body; a large
        // rootfs takes longer, so the body may stream for as long as it needs.
        .timeout(None)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(transport)?;
    let response = client.get(parsed).send().map_err(transport)?;
    if !response.status().is_success() {
        return Err(Error::Status {
            url: url.to_string(),
            status: response.status(),
        });
    }
    let length = response.content_length();
    Ok((Box::new(response), length))
}
