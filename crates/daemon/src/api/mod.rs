//! The Docker Engine API: the version prefix and negotiation, routing, and
//! one module per endpoint group. Shapes, status codes and error bodies are
//! dockerd's (`{"message": "..."}`), so clients that test for a 404 (`docker
//! run` pulls on "No such image") behave as they do with dockerd.

mod archive;
mod attach;
mod auth_config;
mod build;
mod containers;
mod error;
mod events;
mod exec;
mod images;
mod networks;
mod progress;
mod query;
pub mod scratch;
mod stream;
mod system;
mod version;
mod volumes;

use std::convert::Infallible;
use std::sync::Arc;

use berth_engine::Engine;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

pub use error::ApiError;
pub use images::image_document;
pub use system::{info_document, version_document};
pub use version::{ApiVersion, DEFAULT_VERSION, MAX_VERSION, MAX_VERSION_TEXT, MIN_VERSION};

use query::Query;

/// A response body: whole or streamed. A streamed body that fails ends the
/// connection without HTTP's last chunk, so the client knows it is cut.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A whole body.
fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// What every handler shares.
pub struct Api {
    engine: Arc<Engine>,
    /// Attachments waiting for their container's start.
    pending: attach::Pending,
    /// `wait`s for the next exit of containers that do not run yet.
    waiters: attach::Waiters,
    /// Exec instances.
    execs: exec::Instances,
}

impl Api {
    /// The API over `engine`.
    pub fn new(engine: Engine) -> Api {
        Api {
            engine: Arc::new(engine),
            pending: attach::Pending::default(),
            waiters: attach::Waiters::default(),
            execs: exec::Instances::default(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `work` with the engine on a blocking thread (the engine does
    /// disk and process work synchronously).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || work(&engine))
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("the request's worker panicked")))
    }
}

/// One request, as the handlers see it.
pub(crate) struct Call {
    method: Method,
    /// The path without the version prefix, e.g. `/containers/json`.
    path: String,
    query: Query,
    version: ApiVersion,
}

/// Answers one request.
pub async fn handle(api: Arc<Api>, req: Request<Incoming>) -> Response<Body> {
    let (path, requested) = version::split(req.uri().path());
    let mut response = match requested {
        Err(e) => e.response(),
        Ok(v) => {
            let call = Call {
                method: req.method().clone(),
                path: path.to_string(),
                query: Query::parse(req.uri().query()),
                version: v.unwrap_or(DEFAULT_VERSION),
            };
            match route(&api, &call, req).await {
                Ok(r) => r,
                Err(e) => e.response(),
            }
        }
    };
    let h = response.headers_mut();
    h.insert("api-version", HeaderValue::from_static(MAX_VERSION_TEXT));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    h.insert("ostype", HeaderValue::from_static("linux"));
    h.insert(
        "server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}

async fn route(api: &Api, call: &Call, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let m = &call.method;
    match (segments.as_slice(), m) {
        (["_ping"], &Method::GET | &Method::HEAD) => Ok(system::ping(m)),
        (["version"], &Method::GET) => system::version(api).await,
        (["info"], &Method::GET) => system::info(api).await,
        (["images", "json"], &Method::GET) => images::list(api, call).await,
        (["images", ..], _) => images::route(api, call, req).await,
        (["distribution", ..], &Method::GET) => images::distribution(api, call, req).await,
        (["containers", "json"], &Method::GET) => containers::list(api, call).await,
        (["containers", "create"], &Method::POST) => containers::create(api, call, req).await,
        (["containers", id, "json"], &Method::GET) => containers::inspect(api, id).await,
        (["containers", id, "start"], &Method::POST) => containers::start(api, id).await,
        (["containers", id, "stop"], &Method::POST) => containers::stop(api, call, id).await,
        (["containers", id, "restart"], &Method::POST) => containers::restart(api, call, id).await,
        (["containers", id, "kill"], &Method::POST) => containers::kill(api, call, id).await,
        (["containers", id, "pause"], &Method::POST) => containers::pause(api, id, true).await,
        (["containers", id, "unpause"], &Method::POST) => containers::pause(api, id, false).await,
        (["containers", id, "rename"], &Method::POST) => containers::rename(api, call, id).await,
        (["containers", id, "wait"], &Method::POST) => containers::wait(api, call, id).await,
        (["containers", id, "logs"], &Method::GET) => containers::logs(api, call, id).await,
        (["containers", id, "attach"], &Method::POST) => attach::attach(api, call, id, req).await,
        (["containers", id, "resize"], &Method::POST) => attach::resize(api, call, id).await,
        (["containers", id, "top"], &Method::GET) => containers::top(api, call, id).await,
        (["containers", id, "stats"], &Method::GET) => containers::stats(api, call, id).await,
        (["containers", id, "update"], &Method::POST) => containers::update(api, id, req).await,
        (["containers", id], &Method::DELETE) => containers::remove(api, call, id).await,
        (["containers", "prune"], &Method::POST) => containers::prune(api).await,
        (["containers", id, "changes"], &Method::GET) => containers::changes(api, id).await,
        (["containers", id, "export"], &Method::GET) => containers::export(api, id).await,
        (["commit"], &Method::POST) => containers::commit(api, call).await,
        (["containers", id, "exec"], &Method::POST) => exec::create(api, id, req).await,
        (["containers", id, "archive"], &Method::HEAD) => archive::head(api, call, id).await,
        (["containers", id, "archive"], &Method::GET) => archive::get(api, call, id).await,
        (["containers", id, "archive"], &Method::PUT) => archive::put(api, call, id, req).await,
        (["exec", id, "start"], &Method::POST) => exec::start(api, call, id, req).await,
        (["exec", id, "resize"], &Method::POST) => exec::resize(api, call, id).await,
        (["exec", id, "json"], &Method::GET) => exec::inspect(api, id).await,
        (["system", "df"], &Method::GET) => system::df(api).await,
        (["events"], &Method::GET) => events::events(api, call).await,
        (["build"], &Method::POST) => build::build(api, call, req).await,
        (["build", "prune"], &Method::POST) => build::prune(api).await,
        (["auth"], &Method::POST) => system::auth(api, req).await,
        (["volumes"], &Method::GET) => volumes::list(api).await,
        (["volumes", "create"], &Method::POST) => volumes::create(api, req).await,
        (["volumes", "prune"], &Method::POST) => volumes::prune(api).await,
        (["volumes", name], &Method::GET) => volumes::inspect(api, name).await,
        (["volumes", name], &Method::DELETE) => volumes::remove(api, call, name).await,
        (["networks"], &Method::GET) => networks::list(api, call).await,
        (["networks", "create"], &Method::POST) => networks::create(api, req).await,
        (["networks", "prune"], &Method::POST) => networks::prune(api).await,
        (["networks", name], &Method::GET) => networks::inspect(api, name).await,
        (["networks", name], &Method::DELETE) => networks::remove(api, name).await,
        (["networks", name, "connect"], &Method::POST) => networks::connect(api, name, req).await,
        (["networks", name, "disconnect"], &Method::POST) => {
            networks::disconnect(api, name, req).await
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: {} {}", call.method, call.path),
        )),
    }
}

/// Reads a JSON body of at most `limit` bytes.
async fn read_json<T: serde::de::DeserializeOwned + Default>(
    req: Request<Incoming>,
    limit: usize,
) -> Result<T, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?
        .to_bytes();
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// A JSON response.
fn json(status: StatusCode, value: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let body =
        serde_json::to_vec(value).map_err(|_| ApiError::internal("an answer did not serialise"))?;
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// A response with no body.
fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(
        Empty::new()
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

/// A plain-text response.
fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
