//! `GET /events?since=&until=&filters=`: docker's event stream, read from
//! the engine's journal, so what the berth CLI and the monitors do shows
//! as well as what goes through the daemon.

use berth_engine::Event;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;

use super::stream::channel;
use super::{Api, ApiError, Body, Call};

/// A time parameter: seconds since the epoch (fractions allowed), as
/// nanoseconds.
fn nanos(call: &Call, name: &str) -> Result<Option<i64>, ApiError> {
    match call.query.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(|s| Some((s * 1e9) as i64))
            .map_err(|_| {
                ApiError::bad_request(format!("invalid {name} {v:?}: seconds since the epoch"))
            }),
    }
}

/// Whether `e` passes docker's filters (`type`, `event`, `container`,
/// `image`, `volume`, `label`): values of one key are alternatives, keys
/// all apply.
fn passes(e: &Event, filters: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(_, v)| match *key {
                "type" => e.kind == *v,
                "event" => e.action == *v,
                "container" => {
                    e.kind == "container"
                        && (e.id.starts_with(v.as_str()) || e.attributes.get("name") == Some(v))
                }
                "image" => {
                    e.attributes.get("image") == Some(v)
                        || (e.kind == "image"
                            && (e.id == *v || e.attributes.get("name") == Some(v)))
                }
                "volume" => e.kind == "volume" && e.id == *v,
                "label" => match v.split_once('=') {
                    Some((k, val)) => e.attributes.get(k).is_some_and(|x| x == val),
                    None => e.attributes.contains_key(v.as_str()),
                },
                _ => false,
            })
    })
}

/// docker's JSON of one event (the old top-level fields kept for old clients).
fn message(e: &Event) -> serde_json::Value {
    let mut m = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.id, "Attributes": e.attributes},
        "scope": "local",
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    });
    if e.kind == "container" {
        m["status"] = json!(e.action);
        m["id"] = json!(e.id);
        m["from"] = json!(e.attributes.get("image").cloned().unwrap_or_default());
    }
    m
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
    if let Some((k, _)) = filters.iter().find(|(k, _)| {
        !["type", "event", "container", "image", "volume", "label"].contains(&k.as_str())
    }) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    // Without `until` it follows; with one in the past it ends at once.
    let follow = until.is_none_or(|u| u > now);
    let (sink, body) = channel();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let alive = || !sink.is_closed();
        let mut emit = |e: &Event| {
            if !passes(e, &filters) {
                return Ok(());
            }
            sink.send(format!("{}\n", message(e)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            kind: kind.into(),
            action: action.into(),
            id: id.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            time_nano: 0,
        }
    }

    #[test]
    fn filters_combine_like_dockers() {
        let e = event(
            "container",
            "start",
            "abc123",
            &[("name", "web"), ("image", "busybox"), ("tier", "front")],
        );
        let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(passes(&e, &[]));
        assert!(passes(
            &e,
            &f(&[("type", "container"), ("event", "stop"), ("event", "start")])
        ));
        assert!(passes(&e, &f(&[("container", "web")])));
        assert!(passes(&e, &f(&[("container", "abc")])));
        assert!(passes(
            &e,
            &f(&[("image", "busybox"), ("label", "tier=front")])
        ));
        assert!(!passes(&e, &f(&[("type", "image")])));
        assert!(!passes(&e, &f(&[("event", "die")])));
        assert!(!passes(&e, &f(&[("label", "tier=back")])));
    }
}
