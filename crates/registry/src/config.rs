//! The registry's configuration: a TOML file (`--config`), overridden by flags.
//!
//! ```toml
//! addr = "0.0.0.0:5000"
//! metrics_addr = "127.0.0.1:5001"      # /metrics without auth; on addr it needs a login
//! root = "/var/lib/berth-registry"      # or an [s3] table
//! read_only = false
//! delete = true                         # DELETE of manifests, tags and blobs
//!
//! [auth]
//! htpasswd = "/etc/berth/htpasswd"      # bcrypt (htpasswd -B)
//! [auth.token]                          # Docker token auth, tokens issued at /token
//! realm = "https://registry.example/token"
//! key = "/etc/berth/token.pem"          # EC P-256; generated per start when absent
//!
//! [[acl]]                               # without entries: users may do everything
//! account = "*"                         # a user, "*" (any user) or "anonymous" (everyone)
//! repository = "${account}/*"           # `*` matches anything, slashes too
//! actions = ["pull", "push", "delete"]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::storage::S3Config;

/// Errors reading the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

/// Everything the server and the collector need.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub addr: String,
    /// A second address that serves `/metrics` alone, without authentication
    /// (`PORT` alone means 127.0.0.1:PORT). On `addr`, `/metrics` answers
    /// only logged-in users when auth is on.
    pub metrics_addr: Option<String>,
    /// Filesystem storage root.
    pub root: Option<PathBuf>,
    /// S3 storage instead of `root`.
    pub s3: Option<S3Config>,
    /// Refuse every write.
    pub read_only: bool,
    /// Allow DELETE of manifests, tags and blobs.
    pub delete: bool,
    /// Make blobs durable (fsync) before they become visible.
    pub fsync: bool,
    /// TLS certificate and key (PEM).
    pub tls: Option<TlsConfig>,
    /// Authentication.
    pub auth: AuthConfig,
    /// Who may do what where.
    pub acl: Vec<AclEntry>,
    /// Resource bounds.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:5000".into(),
            metrics_addr: None,
            root: None,
            s3: None,
            read_only: false,
            delete: true,
            fsync: true,
            tls: None,
            auth: AuthConfig::default(),
            acl: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// TLS files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Authentication settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// An htpasswd file with bcrypt hashes.
    pub htpasswd: Option<PathBuf>,
    /// Docker token auth.
    pub token: Option<TokenConfig>,
}

/// Docker token auth settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// URL of the token endpoint, as clients reach it (`http://host:5000/token`).
    pub realm: Option<String>,
    /// The tokens' issuer.
    pub issuer: Option<String>,
    /// The service name (the tokens' audience).
    pub service: Option<String>,
    /// EC P-256 private key (PEM) that signs tokens; one is generated per start when absent.
    pub key: Option<PathBuf>,
    /// Token lifetime in seconds (default 300).
    pub expiration: Option<u64>,
}

/// One ACL entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    /// A user name, `*` for any user, `anonymous` for everyone.
    pub account: String,
    /// Repository pattern; `*` matches anything, `${account}` is the user's name.
    pub repository: String,
    /// `pull`, `push`, `delete` or `*`.
    pub actions: Vec<String>,
}

/// Resource bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Uploading requests (POST/PATCH/PUT with a body) served at once.
    pub max_uploads_in_flight: usize,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    pub header_timeout: u64,
    /// Seconds a request body may stall before the request fails.
    pub body_idle_timeout: u64,
    /// Seconds after which an unfinished upload is abandoned.
    pub upload_expiry: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 64 << 30,
            max_uploads_in_flight: 256,
            max_connections: 4096,
            header_timeout: 30,
            body_idle_timeout: 60,
            upload_expiry: 24 * 3600,
        }
    }
}

impl Config {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}
