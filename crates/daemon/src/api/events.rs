//! `GET /events?since=&until=&filters=`: docker's event stream, read from
//! the engine's journal, so what the berth CLI and the monitors do shows
//! as well as what goes through the daemon.

use berth_engine::Event;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::stream::channel;
use super::{Api, ApiError, Body, Call};

/// A time parameter: seconds since the epoch (fractions allowed), as
/// nanoseconds.
fn nanos(call: &Call, name: &str) -> Result<Option<i64>, ApiError> {
    match call.query.given(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(|s| Some((s * 1e9) as i64))
            .map_err(|_| {
                ApiError::bad_request(format!("invalid {name} {v:?}: seconds since the epoch"))
            }),
    }
}

/// `GET /events`.
pub async fn events(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let until = nanos(call, "until")?;
    // As dockerd: without `since` or `until`, only what happens from now on.
    let since = match nanos(call, "since")? {
        None if until.is_none() => Some(now),
        s => s,
    };
    let filters: Vec<(String, String)> = call
        .query
        .filters()?
        .into_iter()
        .filter_map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    if let Some((k, _)) = filters
        .iter()
        .find(|(k, _)| !berth_engine::EVENT_FILTERS.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    // Without `until` it follows; with one in the past it ends at once.
    let follow = until.is_none_or(|u| u > now);
    let (sink, body) = channel();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let alive = || !sink.is_closed();
        let mut emit = |e: &Event| {
            if !e.matches(&filters) {
                return Ok(());
            }
            sink.send(format!("{}\n", e.docker_message()))
        };
        if let Err(e) = engine.events(since, until, follow, &alive, &mut emit) {
            tracing::debug!(error = %e, "events");
        }
    });
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}
