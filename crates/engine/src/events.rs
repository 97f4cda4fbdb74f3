//! Events: what happened to containers, images and volumes, whichever
//! process did it (the CLI, the daemon, a container's monitor), as docker's
//! `events` shows it.
//!
//! Every process appends one JSON line per event to `RUNROOT/events.jsonl`
//! (`O_APPEND`: lines of concurrent writers do not interleave); past 1 MiB
//! the file is rotated once to `events.jsonl.1`, so the journal stays
//! bounded (dockerd keeps its last 256 events in memory). Recording is best
//! effort: an event that cannot be written never fails the operation.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Engine, Error, Result};

/// Rotation threshold of the journal.
const MAX_JOURNAL: u64 = 1 << 20;

/// One event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// `container`, `image` or `volume`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened: `create`, `start`, `die`, `destroy`, `pull`, `tag`, …
    #[serde(rename = "Action")]
    pub action: String,
    /// The object's ID (or name, for volumes and image references).
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, labels…
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    #[serde(rename = "TimeNano")]
    pub time_nano: i64,
}

/// The filter keys docker's `events` takes.
pub const EVENT_FILTERS: &[&str] = &["type", "event", "container", "image", "volume", "label"];

impl Event {
    /// Whether it passes docker's filters ([`EVENT_FILTERS`]): values of
    /// one key are alternatives, keys all apply.
    pub fn matches(&self, filters: &[(String, String)]) -> bool {
        let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
        keys.dedup();
        keys.iter().all(|key| {
            filters
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(_, v)| self.matches_one(key, v))
        })
    }

    fn matches_one(&self, key: &str, v: &str) -> bool {
        let attr = |k: &str| self.attributes.get(k).map(String::as_str);
        match key {
            "type" => self.kind == v,
            "event" => self.action == v,
            "container" => {
                self.kind == "container" && (self.id.starts_with(v) || attr("name") == Some(v))
            }
            "image" => {
                attr("image") == Some(v)
                    || (self.kind == "image" && (self.id == v || attr("name") == Some(v)))
            }
            "volume" => self.kind == "volume" && self.id == v,
            "label" => match v.split_once('=') {
                Some((k, val)) => attr(k) == Some(val),
                None => self.attributes.contains_key(v),
            },
            _ => false,
        }
    }

    /// docker's JSON of it (with the old top-level fields old clients read).
    pub fn docker_message(&self) -> serde_json::Value {
        let mut m = serde_json::json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": self.attributes},
            "scope": "local",
            "time": self.time_nano / 1_000_000_000,
            "timeNano": self.time_nano,
        });
        if self.kind == "container" {
            m["status"] = serde_json::json!(self.action);
            m["id"] = serde_json::json!(self.id);
            m["from"] =
                serde_json::json!(self.attributes.get("image").cloned().unwrap_or_default());
        }
        m
    }
}

fn now_nano() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Engine {
    /// Records an event (best effort).
    pub(crate) fn emit(&self, kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) {
        let event = Event {
            kind: kind.to_string(),
            action: action.to_string(),
            id: id.to_string(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            time_nano: now_nano(),
        };
        let Ok(mut line) = serde_json::to_string(&event) else {
            return;
        };
        line.push('\n');
        let path = self.paths.events();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_JOURNAL) {
            let _ = std::fs::rename(&path, self.paths.events_rotated());
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            tracing::debug!(error = %e, "recording an event");
        }
    }

    /// A container event with docker's attributes (name, image, labels).
    pub(crate) fn emit_container(
        &self,
        c: &crate::Container,
        action: &str,
        extra: &[(&str, &str)],
    ) {
        let mut attrs: Vec<(&str, &str)> = vec![
            ("name", c.name.as_str()),
            ("image", c.record.config.image.as_str()),
        ];
        attrs.extend(
            c.record
                .config
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        attrs.extend_from_slice(extra);
        self.emit("container", action, &c.id, &attrs);
    }

    /// The exit code the journal's last `die` of container `id` recorded:
    /// what a removed (`--rm`) container leaves behind for `wait`.
    pub(crate) fn last_exit_code(&self, id: &str) -> Option<i32> {
        let mut code = None;
        let _ = self.events(None, None, false, &|| true, &mut |e| {
            if e.kind == "container" && e.action == "die" && e.id == id {
                code = e.attributes.get("exitCode").and_then(|c| c.parse().ok());
            }
            Ok(())
        });
        code
    }

    /// The events from `since` (nanoseconds) on, through `emit`; with
    /// `follow`, waits for new ones until `until` (or for ever), stopping
    /// when `emit` fails or `wanted_still` turns false (the client went away).
    pub fn events(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        follow: bool,
        wanted_still: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
    ) -> Result<()> {
        let past = |t: i64| until.is_some_and(|u| t > u);
        let wanted = |e: &Event| since.is_none_or(|s| e.time_nano >= s) && !past(e.time_nano);
        // The rotated part first, then the live file, which is followed.
        if let Ok(f) = std::fs::File::open(self.paths.events_rotated()) {
            for line in BufReader::new(f).lines().map_while(std::result::Result::ok) {
                if let Ok(e) = serde_json::from_str::<Event>(&line)
                    && wanted(&e)
                    && emit(&e).is_err()
                {
                    return Ok(());
                }
            }
        }
        let path = self.paths.events();
        let mut offset = 0u64;
        let mut partial = String::new();
        loop {
            if let Ok(mut f) = std::fs::File::open(&path) {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                // Rotated under us: start the new file from its beginning.
                if len < offset {
                    offset = 0;
                }
                f.seek(SeekFrom::Start(offset))
                    .map_err(Error::io(path.display()))?;
                let mut reader = BufReader::new(f);
                loop {
                    let mut line = String::new();
                    let n = reader
                        .read_line(&mut line)
                        .map_err(Error::io(path.display()))?;
                    if n == 0 {
                        break;
                    }
                    offset += n as u64;
                    if !line.ends_with('\n') {
                        partial.push_str(&line);
                        continue;
                    }
                    let whole = std::mem::take(&mut partial) + &line;
                    if let Ok(e) = serde_json::from_str::<Event>(&whole)
                        && wanted(&e)
                        && emit(&e).is_err()
                    {
                        return Ok(());
                    }
                }
            }
            let done = until.is_some_and(|u| now_nano() > u);
            if !follow || done || !wanted_still() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
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
        assert!(e.matches(&[]));
        assert!(e.matches(&f(&[
            ("type", "container"),
            ("event", "stop"),
            ("event", "start")
        ])));
        assert!(e.matches(&f(&[("container", "web")])));
        assert!(e.matches(&f(&[("container", "abc")])));
        assert!(e.matches(&f(&[("image", "busybox"), ("label", "tier=front")])));
        assert!(!e.matches(&f(&[("type", "image")])));
        assert!(!e.matches(&f(&[("event", "die")])));
        assert!(!e.matches(&f(&[("label", "tier=back")])));
    }
}
