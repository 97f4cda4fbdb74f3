//! The HTTP face: routing, authorization, the endpoints' headers and bodies.

use berth_oci::Kind;
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Empty, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::auth::{Action, Auth, Identity, Mode, TokenAccess};
use crate::errors::{ApiError, ApiResult, Code};
use crate::metrics::Metrics;
use crate::repo::Registry;
use crate::routes::Route;
use crate::storage::ByteStream;

/// A response body: small and whole, or streamed.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Everything a request handler needs.
pub struct State {
    /// The registry logic over its storage.
    pub registry: Registry,
    /// Authentication and ACLs.
    pub auth: Auth,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    uploads: AtomicUsize,
}

impl State {
    /// Bundles the parts.
    pub fn new(registry: Registry, auth: Auth) -> State {
        State {
            registry,
            auth,
            metrics: Metrics::default(),
            uploads: AtomicUsize::new(0),
        }
    }
}

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

fn empty() -> Body {
    Empty::new()
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

fn streamed(s: ByteStream) -> Body {
    StreamBody::new(s.map(|r| r.map(Frame::data))).boxed_unsync()
}

/// A response under construction.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: HeaderMap::new(),
            body: empty(),
        }
    }

    fn header(mut self, name: &'static str, value: impl AsRef<str>) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.append(name, v);
        }
        self
    }

    fn json(self, value: &serde_json::Value) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.bytes("application/json", Bytes::from(body))
    }

    fn bytes(mut self, content_type: &str, body: Bytes) -> Reply {
        self = self
            .header("content-type", content_type)
            .header("content-length", body.len().to_string());
        self.body = full(body);
        self
    }

    fn error(e: &ApiError) -> Reply {
        Reply::new(e.status()).bytes("application/json", Bytes::from(e.body()))
    }

    fn into_response(self) -> Response<Body> {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// Serves one request.
pub async fn serve(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = Route::parse(&path);
    let (reply, user) = match authorize(&state, &route, &method, req.headers()) {
        Ok(caller) => {
            let user = caller.identity.name().to_string();
            let reply = match dispatch(&state, &route, &caller, req).await {
                Ok(r) => r,
                Err(e) => Reply::error(&e),
            };
            (reply, user)
        }
        Err(reply) => (reply, String::new()),
    };
    let is_head = method == Method::HEAD;
    let mut reply = reply.header("docker-distribution-api-version", "registry/2.0");
    if is_head {
        reply.body = empty();
    }
    let status = reply.status.as_u16();
    let sent: u64 = reply
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let elapsed = started.elapsed();
    state.metrics.record(
        route.label(),
        method.as_str(),
        status,
        if is_head { 0 } else { sent },
        elapsed,
    );
    tracing::info!(
        target: "berth::registry",
        remote = %remote,
        user = %user,
        method = %method,
        path = %path,
        status,
        bytes = sent,
        ms = format_args!("{:.2}", elapsed.as_secs_f64() * 1e3),
        "request"
    );
    Ok(reply.into_response())
}

/// Serves the metrics listener (`metrics_addr`): `/metrics` alone, without
/// authentication, for a scraper on a trusted address.
pub async fn serve_metrics(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let reply = match (Route::parse(req.uri().path()), req.method().as_str()) {
        (Route::Metrics, "GET") => metrics_reply(&state),
        _ => Reply::new(404).bytes("text/plain", Bytes::from_static(b"404 page not found\n")),
    };
    Ok(reply.into_response())
}

fn metrics_reply(state: &State) -> Reply {
    Reply::new(200).bytes(
        "text/plain; version=0.0.4",
        Bytes::from(state.metrics.render(state.uploads.load(Ordering::Relaxed))),
    )
}

/// The caller after authorization.
struct Caller {
    identity: Identity,
    token: Option<TokenAccess>,
}

enum Need {
    Nothing,
    Login,
    /// A user who logged in: an anonymous token or none is not enough.
    Account,
    Listing,
    Repository(String, Action),
}

fn need(route: &Route, method: &Method) -> Need {
    let write = |n: &String, a| Need::Repository(n.clone(), a);
    match (route, method.as_str()) {
        (Route::Base, _) => Need::Login,
        // Request counts are nobody else's business where users log in; a
        // scraper without credentials uses `--metrics-addr`.
        (Route::Metrics, _) => Need::Account,
        (Route::Catalog | Route::Search, _) => Need::Listing,
        (Route::Tags(n) | Route::Referrers(n, _), _) => write(n, Action::Pull),
        (Route::Manifest(n, _) | Route::Blob(n, _), "DELETE") => write(n, Action::Delete),
        (Route::Manifest(n, _), "PUT") => write(n, Action::Push),
        (Route::Manifest(n, _) | Route::Blob(n, _), _) => write(n, Action::Pull),
        (Route::UploadStart(n) | Route::Upload(n, _), _) => write(n, Action::Push),
        _ => Need::Nothing,
    }
}

/// The scope a client should ask a token for.
fn scope_for(name: &str, action: Action) -> String {
    let actions = match action {
        Action::Pull => "pull",
        Action::Push => "pull,push",
        Action::Delete => "delete",
    };
    format!("repository:{name}:{actions}")
}

fn challenge(auth: &Auth, scope: Option<&str>, error: Option<&str>) -> Reply {
    let value = match &auth.mode {
        Mode::Token(t) => {
            let mut v = format!("Bearer realm=\"{}\",service=\"{}\"", t.realm, t.service);
            if let Some(s) = scope {
                v.push_str(&format!(",scope=\"{s}\""));
            }
            if let Some(e) = error {
                v.push_str(&format!(",error=\"{e}\""));
            }
            v
        }
        _ => "Basic realm=\"berth-registry\"".to_string(),
    };
    let mut e = ApiError::new(Code::Unauthorized, "authentication required");
    if let Some(s) = scope {
        e = e.detail(serde_json::json!({ "scope": s }));
    }
    Reply::error(&e).header("www-authenticate", value)
}

fn authorize(
    state: &State,
    route: &Route,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, Reply> {
    let auth = &state.auth;
    let need = need(route, method);
    let anonymous = Caller {
        identity: Identity::Anonymous,
        token: None,
    };
    if matches!(auth.mode, Mode::Anonymous) || matches!(need, Need::Nothing) {
        return Ok(anonymous);
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Mode::Token(_) = &auth.mode {
        let scope = match &need {
            Need::Repository(n, a) => Some(scope_for(n, *a)),
            Need::Listing => Some("registry:catalog:*".to_string()),
            _ => None,
        };
        let Some(value) = authorization else {
            return Err(challenge(auth, scope.as_deref(), None));
        };
        let Some(token) = auth.bearer(Some(value)) else {
            return Err(challenge(auth, scope.as_deref(), Some("invalid_token")));
        };
        if let Need::Repository(n, a) = &need
            && !token.allows(n, *a)
        {
            return Err(challenge(
                auth,
                scope.as_deref(),
                Some("insufficient_scope"),
            ));
        }
        if matches!(need, Need::Account) && token.identity == Identity::Anonymous {
            return Err(challenge(auth, None, Some("insufficient_scope")));
        }
        return Ok(Caller {
            identity: token.identity.clone(),
            token: Some(token),
        });
    }
    let identity = auth
        .basic(authorization)
        .map_err(|_| challenge(auth, None, None))?;
    let ok = match &need {
        Need::Login | Need::Account => identity != Identity::Anonymous,
        // Anonymous listings are empty unless the ACL opens something
        // to everyone: challenge, so that clients send credentials.
        Need::Listing => identity != Identity::Anonymous || auth.anonymous_has_access(),
        Need::Repository(n, a) => auth.allowed(&identity, n).contains(a),
        Need::Nothing => true,
    };
    match (ok, &identity) {
        (true, _) => Ok(Caller {
            identity,
            token: None,
        }),
        (false, Identity::Anonymous) => Err(challenge(auth, None, None)),
        (false, Identity::User(_)) => Err(Reply::error(&ApiError::new(
            Code::Denied,
            "requested access to the resource is denied",
        ))),
    }
}

impl Caller {
    /// Whether the caller may pull `name` (for listings and cross-repository mounts).
    fn may_pull(&self, auth: &Auth, name: &str) -> bool {
        match (&auth.mode, &self.token) {
            (Mode::Token(_), Some(t)) if t.allows(name, Action::Pull) => true,
            _ => auth.allowed(&self.identity, name).contains(&Action::Pull),
        }
    }
}

fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn body_stream(body: Incoming) -> ByteStream {
    Box::pin(BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(f) => f.into_data().ok().map(Ok),
            Err(e) => Some(Err(io::Error::other(e))),
        }
    }))
}

/// Whether a request carries a body worth reading.
fn has_body(req: &Request<Incoming>) -> bool {
    let length = header_str(req, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

/// Counts an uploading request; refuses past the limit.
struct UploadSlot<'a>(&'a AtomicUsize);

impl<'a> UploadSlot<'a> {
    fn take(state: &'a State) -> ApiResult<UploadSlot<'a>> {
        let max = state.registry.config.limits.max_uploads_in_flight;
        if state.uploads.fetch_add(1, Ordering::SeqCst) >= max {
            state.uploads.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                Code::TooManyRequests,
                format!("more than {max} uploads in flight; retry later"),
            ));
        }
        state
            .metrics
            .uploads_started
            .fetch_add(1, Ordering::Relaxed);
        Ok(UploadSlot(&state.uploads))
    }
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn dispatch(
    state: &State,
    route: &Route,
    caller: &Caller,
    req: Request<Incoming>,
) -> ApiResult<Reply> {
    let reg = &state.registry;
    let method = req.method().clone();
    let unsupported = || ApiError::new(Code::Unsupported, "the operation is unsupported");
    match (route, method.as_str()) {
        (Route::Base, "GET" | "HEAD") => Ok(Reply::new(200).json(&serde_json::json!({}))),
        (Route::Metrics, "GET") => Ok(metrics_reply(state)),
        (Route::Token, "GET" | "POST") => token(state, req).await,
        (Route::Catalog, "GET") => {
            let q = query(&req);
            let names: Vec<String> = reg
                .repositories()
                .await?
                .into_iter()
                .filter(|n| caller.may_pull(&state.auth, n))
                .collect();
            let (page, next) = paginate(names, &q)?;
            let mut reply = Reply::new(200).json(&serde_json::json!({ "repositories": page }));
            if let Some(link) = next {
                reply = reply.header("link", format!("</v2/_catalog?{link}>; rel=\"next\""));
            }
            Ok(reply)
        }
        (Route::Tags(name), "GET") => {
            let q = query(&req);
            let (page, next) = paginate(reg.tags(name).await?, &q)?;
            let mut reply =
                Reply::new(200).json(&serde_json::json!({ "name": name, "tags": page }));
            if let Some(link) = next {
                reply = reply.header(
                    "link",
                    format!("</v2/{name}/tags/list?{link}>; rel=\"next\""),
                );
            }
            Ok(reply)
        }
        (Route::Manifest(name, reference), "GET" | "HEAD") => {
            get_manifest(reg, name, reference, &req).await
        }
        (Route::Manifest(name, reference), "PUT") => {
            let content_type = header_str(&req, header::CONTENT_TYPE).map(str::to_string);
            let body = read_small_body(req.into_body(), &reg.config.limits).await?;
            let stored = reg
                .put_manifest(name, reference, content_type.as_deref(), body)
                .await?;
            let mut reply = Reply::new(201)
                .header(
                    "location",
                    format!("/v2/{name}/manifests/{}", stored.digest),
                )
                .header("docker-content-digest", stored.digest.to_string())
                .header("content-length", "0");
            if let Some(s) = stored.subject {
                reply = reply.header("oci-subject", s.to_string());
            }
            Ok(reply)
        }
        (Route::Manifest(name, reference), "DELETE") => {
            reg.delete_manifest(name, reference).await?;
            Ok(Reply::new(202).header("content-length", "0"))
        }
        (Route::Blob(name, digest), "GET" | "HEAD") => get_blob(reg, name, digest, &req).await,
        (Route::Blob(name, digest), "DELETE") => {
            reg.delete_blob(name, digest).await?;
            Ok(Reply::new(202).header("content-length", "0"))
        }
        (Route::UploadStart(name), "POST") => {
            let q = query(&req);
            if let (Some(digest), Some(from)) = (param(&q, "mount"), param(&q, "from"))
                && berth_oci::reference::valid_repository_path(from)
                && caller.may_pull(&state.auth, from)
                && reg.mount(name, digest, from).await?
            {
                return Ok(blob_created(name, digest));
            }
            if let Some(digest) = param(&q, "digest") {
                let _slot = UploadSlot::take(state)?;
                let digest = digest.to_string();
                let id = reg.start_upload(name).await?;
                let body = has_body(&req).then(|| body_stream(req.into_body()));
                let d = match reg.complete(name, &id, &digest, body).await {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = reg.cancel_upload(name, &id).await;
                        return Err(e);
                    }
                };
                return Ok(blob_created(name, &d.to_string()));
            }
            let id = reg.start_upload(name).await?;
            Ok(upload_reply(202, name, &id, 0))
        }
        (Route::Upload(name, id), "GET") => {
            let st = reg.upload_state(name, id).await?;
            Ok(upload_reply(204, name, id, st.size))
        }
        (Route::Upload(name, id), "PATCH") => {
            let _slot = UploadSlot::take(state)?;
            let range = header_str(&req, header::CONTENT_RANGE)
                .map(parse_content_range)
                .transpose()?;
            let (start, len) = match range {
                Some((s, e)) => (Some(s), Some(e - s + 1)),
                None => (None, None),
            };
            let st = reg
                .append(name, id, start, len, body_stream(req.into_body()))
                .await?;
            Ok(upload_reply(202, name, id, st.size))
        }
        (Route::Upload(name, id), "PUT") => {
            let _slot = UploadSlot::take(state)?;
            let q = query(&req);
            let digest = param(&q, "digest")
                .ok_or_else(|| {
                    ApiError::new(Code::DigestInvalid, "the digest parameter is missing")
                })?
                .to_string();
            let body = has_body(&req).then(|| body_stream(req.into_body()));
            let d = reg.complete(name, id, &digest, body).await?;
            Ok(blob_created(name, &d.to_string()))
        }
        (Route::Upload(name, id), "DELETE") => {
            reg.cancel_upload(name, id).await?;
            Ok(Reply::new(204))
        }
        (Route::Referrers(name, digest), "GET") => {
            let q = query(&req);
            let filter = param(&q, "artifactType");
            let manifests = reg.referrers(name, digest, filter).await?;
            let mut reply = Reply::new(200).bytes(
                berth_oci::media::OCI_INDEX,
                Bytes::from(
                    serde_json::to_vec(&serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": berth_oci::media::OCI_INDEX,
                        "manifests": manifests,
                    }))
                    .unwrap_or_default(),
                ),
            );
            if filter.is_some() {
                reply = reply.header("oci-filters-applied", "artifactType");
            }
            Ok(reply)
        }
        (Route::Search, "GET") => {
            let q = query(&req);
            let term = param(&q, "q").unwrap_or("");
            let n: usize = param(&q, "n")
                .and_then(|v| v.parse().ok())
                .unwrap_or(25)
                .clamp(1, 100);
            let page: usize = param(&q, "page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let hits = reg
                .search(term, |n| caller.may_pull(&state.auth, n))
                .await?;
            let total = hits.len();
            let results: Vec<_> = hits.into_iter().skip((page - 1) * n).take(n).collect();
            Ok(Reply::new(200).json(&serde_json::json!({
                "query": term,
                "num_results": total,
                "num_pages": total.div_ceil(n),
                "page": page,
                "page_size": n,
                "results": results,
            })))
        }
        (Route::InvalidName, _) => Err(ApiError::new(Code::NameInvalid, "invalid repository name")),
        (Route::NotFound, _) => {
            Err(ApiError::new(Code::Unsupported, "no such endpoint").with_kind(Kind::NotFound))
        }
        _ => Err(unsupported()),
    }
}

/// 201 for a blob now in repository `name`.
fn blob_created(name: &str, digest: &str) -> Reply {
    Reply::new(201)
        .header("location", format!("/v2/{name}/blobs/{digest}"))
        .header("docker-content-digest", digest)
        .header("content-length", "0")
}

fn upload_reply(status: u16, name: &str, id: &str, size: u64) -> Reply {
    Reply::new(status)
        .header("location", format!("/v2/{name}/blobs/uploads/{id}"))
        .header("range", format!("0-{}", size.saturating_sub(1)))
        .header("docker-upload-uuid", id)
        .header("content-length", "0")
}

/// Reads a manifest body. Past the limit the rest is read and dropped (up to
/// a bound) so the client sees the 413 instead of a reset connection.
async fn read_small_body(body: Incoming, limits: &crate::config::Limits) -> ApiResult<Bytes> {
    let max = limits.max_manifest_bytes;
    let drain = max.saturating_mul(4).max(16 << 20) as u64;
    let idle = Duration::from_secs(limits.body_idle_timeout);
    let mut stream = crate::repo::bounded(body_stream(body), drain, idle);
    let mut kept = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(item) = stream.next().await {
        match item {
            Ok(data) => {
                seen += data.len();
                if seen <= max {
                    kept.extend_from_slice(&data);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                seen = seen.max(max + 1);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ApiError::new(
                    Code::ManifestInvalid,
                    "the client stopped sending the manifest",
                )
                .with_kind(Kind::DeadlineExceeded));
            }
            Err(e) => {
                return Err(ApiError::new(
                    Code::ManifestInvalid,
                    format!("reading the manifest: {e}"),
                ));
            }
        }
    }
    if seen > max {
        return Err(ApiError::new(
            Code::ManifestInvalid,
            format!("manifest is larger than {max} bytes"),
        )
        .with_kind(Kind::TooLarge));
    }
    Ok(kept.freeze())
}

/// `Content-Range: <start>-<end>` (inclusive); `bytes ` prefixes are tolerated.
fn parse_content_range(v: &str) -> ApiResult<(u64, u64)> {
    let bad = || {
        ApiError::new(
            Code::BlobUploadInvalid,
            format!("invalid Content-Range {v:?}"),
        )
        .with_kind(Kind::OutOfRange)
    };
    let v = v
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches(['=', ' ']);
    let v = v.split('/').next().unwrap_or(v);
    let (s, e) = v.split_once('-').ok_or_else(bad)?;
    let (s, e): (u64, u64) = (
        s.trim().parse().map_err(|_| bad())?,
        e.trim().parse().map_err(|_| bad())?,
    );
    if e < s {
        return Err(bad());
    }
    Ok((s, e))
}

/// `n`/`last` pagination; the next page's query when there is one.
fn paginate(
    items: Vec<String>,
    q: &[(String, String)],
) -> ApiResult<(Vec<String>, Option<String>)> {
    let n = match param(q, "n") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(Code::Unsupported, format!("invalid n {v:?}"))
                .with_kind(Kind::InvalidArgument)
        })?),
        None => None,
    };
    let after: Vec<String> = match param(q, "last") {
        Some(last) => items.into_iter().filter(|t| t.as_str() > last).collect(),
        None => items,
    };
    match n {
        Some(n) if after.len() > n => {
            let page: Vec<String> = after.into_iter().take(n).collect();
            let next = page.last().map(|last| {
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("n", &n.to_string())
                    .append_pair("last", last)
                    .finish()
            });
            Ok((page, next))
        }
        _ => Ok((after, None)),
    }
}

/// The media types an Accept header lists (q-values ignored).
fn accepted(req: &Request<Incoming>) -> BTreeSet<String> {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn get_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    req: &Request<Incoming>,
) -> ApiResult<Reply> {
    let mut m = reg.manifest(name, reference).await?;
    let accept = accepted(req);
    let ok = |t: &str| {
        accept.is_empty()
            || accept.contains(t)
            || accept.contains("*/*")
            || accept.contains("application/*")
    };
    if !ok(&m.media_type) {
        // Like the reference registry, a client that cannot read an index
        // gets the host platform's image from it.
        let child = if berth_oci::media::is_index(&m.media_type) {
            berth_oci::image::from_json::<berth_oci::image::Index>("image index", &m.body)
                .ok()
                .and_then(|i| i.for_platform(&berth_oci::image::Platform::host()).cloned())
                .filter(|d| ok(&d.media_type))
        } else {
            None
        };
        match child {
            Some(d) => m = reg.manifest(name, &d.digest.to_string()).await?,
            None => {
                return Err(ApiError::new(
                    Code::ManifestUnknown,
                    format!(
                        "the manifest is {}, which the Accept header does not list",
                        m.media_type
                    ),
                ));
            }
        }
    }
    Ok(Reply::new(200)
        .header("docker-content-digest", m.digest.to_string())
        .header("etag", format!("\"{}\"", m.digest))
        .bytes(&m.media_type, m.body))
}

/// A single `Range: bytes=a-b | a- | -n` against `size`; Err(()) when unsatisfiable.
fn parse_range(v: &str, size: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: serve the whole blob
    }
    let (s, e) = spec.split_once('-')?;
    let (s, e) = (s.trim(), e.trim());
    let range = if s.is_empty() {
        let n: u64 = e.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = s.parse().ok()?;
        let end = if e.is_empty() {
            size
        } else {
            e.parse::<u64>().ok()?.saturating_add(1).min(size)
        };
        if start >= size || end <= start {
            return Some(Err(()));
        }
        start..end
    };
    Some(Ok(range))
}

async fn get_blob(
    reg: &Registry,
    name: &str,
    digest: &str,
    req: &Request<Incoming>,
) -> ApiResult<Reply> {
    let range_header = header_str(req, header::RANGE).map(str::to_string);
    let head = req.method() == Method::HEAD;
    let (size, range) = match &range_header {
        Some(v) => {
            let size = reg.blob_size(name, digest).await?;
            match parse_range(v, size) {
                Some(Ok(r)) => (size, Some(r)),
                Some(Err(())) => {
                    return Ok(Reply::new(416).header("content-range", format!("bytes */{size}")));
                }
                None => (size, None),
            }
        }
        None if head => (reg.blob_size(name, digest).await?, None),
        None => (0, None),
    };
    let base = |status: u16| {
        Reply::new(status)
            .header("docker-content-digest", digest)
            .header("etag", format!("\"{digest}\""))
            .header("accept-ranges", "bytes")
            .header("content-type", "application/octet-stream")
    };
    if head {
        return Ok(base(200).header("content-length", size.to_string()));
    }
    let (total, stream) = reg.blob(name, digest, range.clone()).await?;
    let mut reply = match &range {
        Some(r) => base(206)
            .header(
                "content-range",
                format!("bytes {}-{}/{total}", r.start, r.end - 1),
            )
            .header("content-length", (r.end - r.start).to_string()),
        None => base(200).header("content-length", total.to_string()),
    };
    reply.body = streamed(stream);
    Ok(reply)
}

/// `/token`: Docker's token endpoint (GET with basic auth, or the OAuth2 password grant).
async fn token(state: &State, req: Request<Incoming>) -> ApiResult<Reply> {
    let auth = &state.auth;
    if !matches!(auth.mode, Mode::Token(_)) {
        return Err(
            ApiError::new(Code::Unsupported, "this registry does not issue tokens")
                .with_kind(Kind::NotFound),
        );
    }
    let denied = || {
        Reply::error(&ApiError::new(
            Code::Unauthorized,
            "incorrect username or password",
        ))
    };
    let mut q = query(&req);
    let identity;
    if req.method() == Method::POST {
        let body = Limited::new(req.into_body(), 64 << 10)
            .collect()
            .await
            .map_err(|_| {
                ApiError::new(Code::Unsupported, "token request too large")
                    .with_kind(Kind::InvalidArgument)
            })?
            .to_bytes();
        q.extend(form_urlencoded::parse(&body).into_owned());
        if param(&q, "grant_type") != Some("password") {
            return Err(
                ApiError::new(Code::Unsupported, "only the password grant is supported")
                    .with_kind(Kind::InvalidArgument),
            );
        }
        let (Some(user), Some(pass)) = (param(&q, "username"), param(&q, "password")) else {
            return Ok(denied());
        };
        match auth.login(user, pass) {
            Some(i) => identity = i,
            None => return Ok(denied()),
        }
    } else {
        match auth.basic(header_str(&req, header::AUTHORIZATION)) {
            Ok(i) => identity = i,
            Err(_) => return Ok(denied()),
        }
    }
    let scopes: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let (token, expires) = auth
        .issue(&identity, &scopes)
        .ok_or_else(|| ApiError::new(Code::Unknown, "could not sign a token"))?;
    Ok(Reply::new(200).json(&serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": expires,
        "issued_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok(90..100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok(95..100)));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,4-5", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-9").unwrap(), (0, 9));
        assert_eq!(parse_content_range("bytes 10-19/*").unwrap(), (10, 19));
        assert!(parse_content_range("9-0").is_err());
        assert!(parse_content_range("x").is_err());
    }

    #[test]
    fn pages() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let q = vec![("n".to_string(), "2".to_string())];
        let (page, next) = paginate(items.clone(), &q).unwrap();
        assert_eq!(page, ["a", "b"]);
        assert_eq!(next.as_deref(), Some("n=2&last=b"));
        let q = vec![("n".into(), "2".into()), ("last".into(), "b".into())];
        let (page, next) = paginate(items, &q).unwrap();
        assert_eq!(page, ["c", "d"]);
        assert_eq!(next, None);
    }
}
