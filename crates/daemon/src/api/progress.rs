//! The engine's progress as docker's JSON messages: `{"status", "id",
//! "progressDetail": {"current", "total"}}`, which the docker CLI draws as
//! its per-layer bars.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_engine::Progress;
use serde_json::json;

use super::stream::JsonSink;

/// How often one item's byte counts are sent at most.
const EVERY: Duration = Duration::from_millis(100);

struct Item {
    what: String,
    current: u64,
    total: Option<u64>,
    sent: Instant,
}

/// A [`Progress`] writing docker's JSON messages to a stream.
pub struct JsonProgress<'a> {
    sink: &'a JsonSink,
    items: Mutex<HashMap<String, Item>>,
}

impl<'a> JsonProgress<'a> {
    /// Progress into `sink`.
    pub fn new(sink: &'a JsonSink) -> Self {
        JsonProgress {
            sink,
            items: Mutex::new(HashMap::new()),
        }
    }

    fn detail(&self, id: &str, item: &Item) {
        let mut detail = json!({"current": item.current});
        if let Some(t) = item.total {
            detail["total"] = json!(t);
        }
        self.sink
            .send(&json!({"status": item.what, "progressDetail": detail, "id": id}));
    }
}

impl Progress for JsonProgress<'_> {
    fn start(&self, id: &str, what: &str, total: Option<u64>) {
        let item = Item {
            what: what.to_string(),
            current: 0,
            total,
            sent: Instant::now(),
        };
        self.detail(id, &item);
        if let Ok(mut items) = self.items.lock() {
            items.insert(id.to_string(), item);
        }
    }

    fn advance(&self, id: &str, bytes: u64) {
        let Ok(mut items) = self.items.lock() else {
            return;
        };
        let Some(item) = items.get_mut(id) else {
            return;
        };
        item.current += bytes;
        let finished = item.total.is_some_and(|t| item.current >= t);
        if finished || item.sent.elapsed() >= EVERY {
            item.sent = Instant::now();
            self.detail(id, item);
        }
    }

    fn done(&self, id: &str, status: &str) {
        if let Ok(mut items) = self.items.lock() {
            items.remove(id);
        }
        self.sink
            .send(&json!({"status": status, "progressDetail": {}, "id": id}));
    }

    /// The engine's lines in docker's words; `ID: text` lines are about one
    /// item (`latest: Pulling from library/busybox`, `abc: Pulling fs layer`).
    fn message(&self, line: &str) {
        let m = match line.split_once(": ") {
            Some((id, text))
                if !id.contains(' ') && !matches!(id, "Digest" | "Status" | "Error") =>
            {
                json!({"status": text, "id": id})
            }
            _ => json!({"status": line}),
        };
        self.sink.send(&m);
    }
}
