//! A client for one registry host, speaking the OCI distribution spec (and
//! Docker Registry v2, its ancestor).
//!
//! Every request goes through [`Registry::send`], which answers auth
//! challenges, retries what can be retried, and turns error statuses into
//! [`Error`]s that say what the registry said.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use berth_oci::Digest;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};

use crate::Error;
use crate::auth::{Challenge, Credentials, TokenResponse};

/// Docker Hub's registry host, for the `docker.io` domain.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Manifest media types berth accepts, best first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests larger than this are refused (the reference registry's limit).
pub const MANIFEST_MAX: u64 = 4 << 20;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `--tls-verify=false`: plain HTTP or unverified TLS for every registry.
    pub tls_verify_off: bool,
    /// Registries allowed over plain HTTP / unverified TLS (`host[:port]` or CIDR);
    /// loopback addresses always are, as with docker.
    pub insecure_registries: Vec<String>,
    /// Directories with `HOST[:PORT]/*.crt` CA certificates.
    pub certs_dirs: Vec<PathBuf>,
    /// Timeout for connecting; None: 30 s.
    pub timeout: Option<Duration>,
    /// Credentials to use.
    pub credentials: Option<Credentials>,
}

/// A registry host and what berth knows about talking to it.
pub struct Registry {
    /// `host[:port]` as in image references (`docker.io` for Docker Hub).
    domain: String,
    /// The base URL, `https://host` or `http://host`, once decided.
    base: Mutex<Option<Url>>,
    /// Candidates when the base is not decided yet: `https://` first.
    candidates: Vec<Url>,
    http: Client,
    credentials: Option<Credentials>,
    /// `Authorization` values by scope, from earlier challenges.
    auth: Mutex<HashMap<String, String>>,
    /// Set once the registry asked for Basic auth: then every request sends it.
    basic: Mutex<bool>,
    retries: u32,
}

/// What a manifest GET returned.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The bytes, exactly as served.
    pub bytes: Vec<u8>,
    /// The `Content-Type`.
    pub media_type: String,
    /// The digest of the bytes.
    pub digest: Digest,
}

/// What a cross-repository mount did.
#[derive(Debug)]
pub enum Mounted {
    /// The blob is now in the repository.
    Yes,
    /// The registry started an upload instead, at this URL.
    Upload(Url),
}

/// One result of `/v1/search`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Short description.
    #[serde(default)]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// Whether it is an official image.
    #[serde(default)]
    pub is_official: bool,
    /// Whether it is an automated build.
    #[serde(default)]
    pub is_automated: bool,
}

fn is_loopback(host: &str) -> bool {
    let bare = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `host` matches an `insecure-registries` entry (`host[:port]` or CIDR).
fn matches_insecure(host: &str, entry: &str) -> bool {
    let entry = entry
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    if entry == host {
        return true;
    }
    let Some((net, bits)) = entry.split_once('/') else {
        return false;
    };
    let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
    match (
        net.parse::<IpAddr>(),
        bare.parse::<IpAddr>(),
        bits.parse::<u32>(),
    ) {
        (Ok(IpAddr::V4(n)), Ok(IpAddr::V4(a)), Ok(b)) if b <= 32 => {
            let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (Ok(IpAddr::V6(n)), Ok(IpAddr::V6(a)), Ok(b)) if b <= 128 => {
            let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Whether a transport error is worth another try: not a TLS failure, which
/// another try only repeats.
fn transient(e: &reqwest::Error) -> bool {
    (e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()) && !is_tls(e)
}

/// How often a transport error is retried: a refused connection once.
fn retries_for(e: &reqwest::Error, retries: u32) -> u32 {
    if e.is_connect() {
        retries.min(1)
    } else {
        retries
    }
}

fn is_tls(e: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The registry's error body: `{"errors":[{"code":…,"message":…}]}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}
#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl Registry {
    /// A client for the registry of an image reference's domain.
    pub fn new(domain: &str, opts: &ClientOptions) -> Result<Registry, Error> {
        let host = if domain == "docker.io" {
            DOCKER_HUB_HOST
        } else {
            domain
        };
        Self::with_endpoint(domain, host, opts)
    }

    /// A client that reaches `domain`'s content at `endpoint` (`host[:port]`, or a
    /// URL such as a Docker Hub mirror's).
    pub fn with_endpoint(
        domain: &str,
        endpoint: &str,
        opts: &ClientOptions,
    ) -> Result<Registry, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: endpoint.to_string(),
            reason,
        };
        let (explicit, host) = match endpoint.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest.trim_end_matches('/')),
            None => (None, endpoint),
        };
        let insecure = opts.tls_verify_off
            || is_loopback(host)
            || opts
                .insecure_registries
                .iter()
                .any(|e| matches_insecure(host, e));
        let schemes: &[&str] = match explicit {
            Some("http") => &["http"],
            Some("https") if !insecure => &["https"],
            Some("https") | None if insecure => &["https", "http"],
            None => &["https"],
            Some(other) => return Err(invalid(format!("unsupported scheme {other}"))),
        };
        let mut candidates = Vec::new();
        for scheme in schemes {
            candidates.push(
                Url::parse(&format!("{scheme}://{host}/")).map_err(|e| invalid(e.to_string()))?,
            );
        }
        let timeout = opts.timeout.unwrap_or(Duration::from_secs(30));
        let mut builder = Client::builder()
            .connect_timeout(timeout)
            // Layers stream for as long as they need: no whole-request limit.
            .timeout(None)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(insecure);
        let mut roots = Vec::new();
        for dir in &opts.certs_dirs {
            roots.extend(load_certs(&dir.join(host))?);
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder.build().map_err(|source| Error::Transport {
            url: endpoint.to_string(),
            source,
        })?;
        Ok(Registry {
            domain: domain.to_string(),
            base: Mutex::new(
                candidates
                    .first()
                    .filter(|_| candidates.len() == 1)
                    .cloned(),
            ),
            candidates,
            http,
            credentials: opts.credentials.clone(),
            auth: Mutex::new(HashMap::new()),
            basic: Mutex::new(false),
            retries: 4,
        })
    }

    /// The domain this client serves.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The base URL: with several candidates (an insecure registry), the first that
    /// answers `/v2/` at all, as docker tries HTTPS before HTTP.
    fn base(&self) -> Result<Url, Error> {
        if let Some(b) = self.base.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(b);
        }
        let mut last = None;
        for c in &self.candidates {
            let url = c.join("v2/").map_err(|e| Error::InvalidUrl {
                url: c.to_string(),
                reason: e.to_string(),
            })?;
            match self.http.get(url.clone()).send() {
                Ok(_) => {
                    *self.base.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
                    return Ok(c.clone());
                }
                Err(source) => last = Some(self.transport_error(url.as_str(), source)),
            }
        }
        Err(last.unwrap_or_else(|| Error::Protocol(format!("no endpoint for {}", self.domain))))
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        let base = self.base()?;
        base.join(path).map_err(|e| Error::InvalidUrl {
            url: format!("{base}{path}"),
            reason: e.to_string(),
        })
    }

    fn transport_error(&self, url: &str, source: reqwest::Error) -> Error {
        if is_tls(&source) {
            Error::Tls {
                host: self.domain.clone(),
                reason: last_cause(&source),
            }
        } else if source.is_connect() || source.is_timeout() {
            Error::Unreachable {
                host: self.domain.clone(),
                reason: last_cause(&source),
            }
        } else {
            Error::Transport {
                url: url.to_string(),
                source,
            }
        }
    }

    /// Sends a request built by `make` (called again for each try, so a body can be
    /// re-opened), answering auth challenges for `scope` and retrying transient
    /// failures. Statuses in `ok` are returned; other statuses become errors.
    pub(crate) fn send(
        &self,
        scope: &str,
        url: &Url,
        make: &dyn Fn(&Client, &Url) -> Result<RequestBuilder, Error>,
        ok: &[StatusCode],
    ) -> Result<Response, Error> {
        let mut authed_once = false;
        let mut attempt = 0;
        loop {
            let mut req = make(&self.http, url)?;
            if let Some(value) = self.authorization(scope) {
                req = req.header(AUTHORIZATION, value);
            }
            let resp = match req.send() {
                Ok(r) => r,
                // Nothing listening is worth one more look, not four.
                Err(e) if transient(&e) && attempt < retries_for(&e, self.retries) => {
                    attempt += 1;
                    tracing::debug!(%url, error = %e, attempt, "retrying");
                    std::thread::sleep(backoff(attempt));
                    continue;
                }
                Err(e) => return Err(self.transport_error(url.as_str(), e)),
            };
            let status = resp.status();
            if ok.contains(&status) {
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED && !authed_once {
                authed_once = true;
                if self.answer_challenge(scope, resp.headers())? {
                    continue;
                }
                return Err(self.status_error(url, resp));
            }
            if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                && status != StatusCode::NOT_IMPLEMENTED
                && attempt < self.retries
            {
                attempt += 1;
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(60)))
                    .unwrap_or_else(|| backoff(attempt));
                tracing::debug!(%url, %status, attempt, ?wait, "retrying");
                std::thread::sleep(wait);
                continue;
            }
            return Err(self.status_error(url, resp));
        }
    }

    fn authorization(&self, scope: &str) -> Option<String> {
        if let Some(v) = self
            .auth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(scope)
        {
            return Some(v.clone());
        }
        if *self.basic.lock().unwrap_or_else(|e| e.into_inner()) {
            return self.credentials.as_ref().map(Credentials::basic_header);
        }
        None
    }

    /// Handles a 401's challenge; true when the request should be tried again.
    fn answer_challenge(&self, scope: &str, headers: &HeaderMap) -> Result<bool, Error> {
        let challenge = headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(Challenge::parse);
        match challenge {
            Some(Challenge::Basic) => {
                if self.credentials.is_none() {
                    return Ok(false);
                }
                *self.basic.lock().unwrap_or_else(|e| e.into_inner()) = true;
                Ok(true)
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => {
                let token =
                    self.fetch_token(&realm, service.as_deref(), scope, asked.as_deref())?;
                self.auth
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(scope.to_string(), format!("Bearer {token}"));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        asked: Option<&str>,
    ) -> Result<String, Error> {
        let mut url = Url::parse(realm).map_err(|e| Error::InvalidUrl {
            url: realm.to_string(),
            reason: e.to_string(),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                q.append_pair("scope", s);
            }
            if let Some(a) = asked
                && !scope.split(' ').any(|s| s == a)
            {
                q.append_pair("scope", a);
            }
        }
        let mut attempt = 0;
        loop {
            let mut req = self.http.get(url.clone());
            if let Some(c) = &self.credentials {
                req = req.header(AUTHORIZATION, c.basic_header());
            }
            match req.send() {
                Ok(resp) if resp.status().is_success() => {
                    let body: TokenResponse = resp.json().map_err(|e| {
                        Error::Protocol(format!("token server {realm} answered badly: {e}"))
                    })?;
                    return body.token.or(body.access_token).ok_or_else(|| {
                        Error::Protocol(format!("token server {realm} sent no token"))
                    });
                }
                Ok(resp) if resp.status().is_server_error() && attempt < self.retries => {
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
                Ok(resp) => {
                    let status = resp.status();
                    return Err(match status {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
                            host: self.domain.clone(),
                            message: if self.credentials.is_some() {
                                "incorrect username or password".into()
                            } else {
                                "authentication required".into()
                            },
                        },
                        _ => Error::Status {
                            url: realm.to_string(),
                            status,
                        },
                    });
                }
                Err(e) if transient(&e) && attempt < self.retries => {
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
                Err(e) => return Err(self.transport_error(realm, e)),
            }
        }
    }

    fn status_error(&self, url: &Url, resp: Response) -> Error {
        let status = resp.status();
        let body: Option<ErrorBody> = resp
            .bytes()
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let first = body.and_then(|b| b.errors.into_iter().next());
        let (code, message) = first.map(|e| (e.code, e.message)).unwrap_or_default();
        match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                host: self.domain.clone(),
                message: if message.is_empty() {
                    "authentication required".into()
                } else {
                    message
                },
            },
            _ if !code.is_empty() => Error::Registry {
                status,
                code,
                message,
            },
            _ => Error::Status {
                url: url.to_string(),
                status,
            },
        }
    }

    /// Checks that the registry accepts this client's credentials (`berth login`).
    pub fn check_login(&self) -> Result<(), Error> {
        let url = self.url("v2/")?;
        self.send("", &url, &|c, u| Ok(c.get(u.clone())), &[StatusCode::OK])?;
        Ok(())
    }

    /// GETs a manifest by tag or digest.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<FetchedManifest, Error> {
        let url = self.url(&format!("v2/{repo}/manifests/{reference}"))?;
        let scope = pull_scope(repo);
        let mut resp = self.send(
            &scope,
            &url,
            &|c, u| Ok(c.get(u.clone()).header(ACCEPT, MANIFEST_ACCEPT)),
            &[StatusCode::OK],
        )?;
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        (&mut resp)
            .take(MANIFEST_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Protocol(format!("reading {url}: {e}")))?;
        if bytes.len() as u64 > MANIFEST_MAX {
            return Err(Error::Protocol(format!(
                "manifest {repo}:{reference} is larger than {MANIFEST_MAX} bytes"
            )));
        }
        let digest = Digest::of(&bytes);
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Streams a blob from byte `offset`; returns the body and whether the
    /// server honoured the offset (a 206); a 200 means the body starts at 0.
    pub fn blob(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<(Response, bool), Error> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self.send(
            &pull_scope(repo),
            &url,
            &|c, u| {
                let r = c.get(u.clone());
                Ok(if offset > 0 {
                    r.header("range", format!("bytes={offset}-"))
                } else {
                    r
                })
            },
            &[StatusCode::OK, StatusCode::PARTIAL_CONTENT],
        )?;
        let partial = resp.status() == StatusCode::PARTIAL_CONTENT;
        Ok((resp, partial))
    }

    /// Reads a small blob (a config) whole, checking its digest.
    pub fn small_blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, Error> {
        let (resp, _) = self.blob(repo, digest, 0)?;
        let mut bytes = Vec::new();
        resp.take(MANIFEST_MAX * 4 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Protocol(format!("reading blob {digest}: {e}")))?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// HEAD of a blob: its size when the repository has it.
    pub fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, Error> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self.send(
            &push_scope(repo),
            &url,
            &|c, u| Ok(c.head(u.clone())),
            &[StatusCode::OK, StatusCode::NOT_FOUND],
        )?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(
            resp.headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// Asks the registry to mount a blob from another repository.
    pub fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<Mounted, Error> {
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let scope = format!("{} {}", push_scope(repo), pull_scope(from));
        let resp = self.send(
            &scope,
            &url,
            &|c, u| Ok(c.post(u.clone()).header(CONTENT_LENGTH, "0")),
            &[StatusCode::CREATED, StatusCode::ACCEPTED],
        )?;
        if resp.status() == StatusCode::CREATED {
            return Ok(Mounted::Yes);
        }
        Ok(Mounted::Upload(self.location(&url, resp.headers())?))
    }

    /// Starts an upload; returns where to send the data.
    pub fn start_upload(&self, repo: &str) -> Result<Url, Error> {
        let url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        let resp = self.send(
            &push_scope(repo),
            &url,
            &|c, u| Ok(c.post(u.clone()).header(CONTENT_LENGTH, "0")),
            &[StatusCode::ACCEPTED],
        )?;
        self.location(&url, resp.headers())
    }

    fn location(&self, url: &Url, headers: &HeaderMap) -> Result<Url, Error> {
        let loc = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol(format!("{url}: the registry sent no Location")))?;
        url.join(loc).map_err(|e| Error::InvalidUrl {
            url: loc.to_string(),
            reason: e.to_string(),
        })
    }

    /// Uploads a blob in one PUT (`open` gives its bytes, again for a retry); if the
    /// registry refuses a body that large, uploads it in PATCH chunks instead.
    pub fn upload_blob(
        &self,
        repo: &str,
        upload: Url,
        digest: &Digest,
        size: u64,
        open: &(dyn Fn() -> std::io::Result<Box<dyn Read + Send>> + Sync),
    ) -> Result<(), Error> {
        let mut url = upload;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let open_err = |e: std::io::Error| Error::Protocol(format!("reading blob {digest}: {e}"));
        let result = self.send(
            &push_scope(repo),
            &url,
            &|c, u| {
                let body = reqwest::blocking::Body::sized(open().map_err(open_err)?, size);
                Ok(c.put(u.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(body))
            },
            &[StatusCode::CREATED],
        );
        match result {
            Err(Error::Status { status, .. } | Error::Registry { status, .. })
                if status == StatusCode::PAYLOAD_TOO_LARGE
                    || status == StatusCode::RANGE_NOT_SATISFIABLE =>
            {
                self.upload_chunked(repo, digest, size, open)
            }
            other => other.map(|_| ()),
        }
    }

    fn upload_chunked(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        open: &(dyn Fn() -> std::io::Result<Box<dyn Read + Send>> + Sync),
    ) -> Result<(), Error> {
        let scope = push_scope(repo);
        let post_url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        let resp = self.send(
            &scope,
            &post_url,
            &|c, u| Ok(c.post(u.clone()).header(CONTENT_LENGTH, "0")),
            &[StatusCode::ACCEPTED],
        )?;
        let chunk = resp
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            .max(8 << 20);
        let mut url = self.location(&post_url, resp.headers())?;
        let mut reader = open().map_err(|e| Error::Protocol(format!("reading {digest}: {e}")))?;
        let mut offset = 0u64;
        while offset < size {
            let mut buf = Vec::with_capacity(chunk.min(size - offset) as usize);
            (&mut reader)
                .take(chunk)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Protocol(format!("reading {digest}: {e}")))?;
            if buf.is_empty() {
                return Err(Error::Protocol(format!("blob {digest} ended early")));
            }
            let end = offset + buf.len() as u64 - 1;
            let resp = self.send(
                &scope,
                &url,
                &|c, u| {
                    Ok(c.patch(u.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header("content-range", format!("{offset}-{end}"))
                        .body(buf.clone()))
                },
                &[StatusCode::ACCEPTED],
            )?;
            url = self.location(&url, resp.headers())?;
            offset = end + 1;
        }
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        self.send(
            &scope,
            &url,
            &|c, u| Ok(c.put(u.clone()).header(CONTENT_LENGTH, "0")),
            &[StatusCode::CREATED],
        )?;
        Ok(())
    }

    /// PUTs a manifest under a tag or digest; returns the digest the registry gave.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<Digest>, Error> {
        let url = self.url(&format!("v2/{repo}/manifests/{reference}"))?;
        let resp = self.send(
            &push_scope(repo),
            &url,
            &|c, u| {
                Ok(c.put(u.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.to_vec()))
            },
            &[StatusCode::CREATED, StatusCode::OK],
        )?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok()))
    }

    /// Every tag of a repository, following `Link` pagination.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        self.paginate(&pull_scope(repo), &format!("v2/{repo}/tags/list"), |raw| {
            let page: Tags = serde_json::from_slice(raw)
                .map_err(|e| Error::Protocol(format!("tags of {repo}: {e}")))?;
            out.extend(page.tags.unwrap_or_default());
            Ok(())
        })?;
        Ok(out)
    }

    /// Every repository the registry lists in `/v2/_catalog`.
    pub fn catalog(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let mut out = Vec::new();
        self.paginate("registry:catalog:*", "v2/_catalog?n=1000", |raw| {
            let page: Catalog = serde_json::from_slice(raw)
                .map_err(|e| Error::Protocol(format!("catalog: {e}")))?;
            out.extend(page.repositories);
            Ok(())
        })?;
        Ok(out)
    }

    fn paginate(
        &self,
        scope: &str,
        first: &str,
        mut each: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut url = self.url(first)?;
        for _ in 0..10_000 {
            let resp = self.send(scope, &url, &|c, u| Ok(c.get(u.clone())), &[StatusCode::OK])?;
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(|v| {
                    v.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let body = resp
                .bytes()
                .map_err(|e| Error::Protocol(format!("reading {url}: {e}")))?;
            each(&body)?;
            match next {
                Some(n) => {
                    url = url.join(&n).map_err(|e| Error::InvalidUrl {
                        url: n.clone(),
                        reason: e.to_string(),
                    })?
                }
                None => return Ok(()),
            }
        }
        Err(Error::Protocol("too many pages".into()))
    }

    /// Docker Hub's `/v1/search`; None when the registry does not offer it.
    pub fn search(&self, term: &str, limit: usize) -> Result<Option<Vec<SearchResult>>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            results: Vec<SearchResult>,
        }
        let base = if self.domain == "docker.io" {
            Url::parse("https://index.docker.io/").map_err(|e| Error::Protocol(e.to_string()))?
        } else {
            self.base()?
        };
        let mut url = base
            .join("v1/search")
            .map_err(|e| Error::Protocol(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        // A registry may answer anonymous searches with only public results
        // instead of a challenge: like docker, send the login up front.
        if self.credentials.is_some() {
            *self.basic.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
        let resp = self.send(
            "",
            &url,
            &|c, u| Ok(c.get(u.clone())),
            &[
                StatusCode::OK,
                StatusCode::NOT_FOUND,
                StatusCode::METHOD_NOT_ALLOWED,
            ],
        )?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let page: Page = resp
            .json()
            .map_err(|e| Error::Protocol(format!("search on {}: {e}", self.domain)))?;
        Ok(Some(page.results))
    }
}

/// The token scope to read a repository.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The token scope to write a repository.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(6))
}

fn last_cause(e: &dyn std::error::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(c) = cause.source() {
        cause = c;
    }
    cause.to_string()
}

/// The PEM certificates (`*.crt`) of a `certs.d/HOST` directory.
fn load_certs(dir: &std::path::Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "crt") {
            let pem = std::fs::read(&path)
                .map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Config(format!("{} is not a PEM certificate: {e}", path.display()))
            })?;
            out.extend(certs);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_insecure_lists() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(matches_insecure("10.1.2.3:5000", "10.0.0.0/8"));
        assert!(matches_insecure("reg:5000", "reg:5000"));
        assert!(!matches_insecure("11.1.2.3:5000", "10.0.0.0/8"));
    }
}
