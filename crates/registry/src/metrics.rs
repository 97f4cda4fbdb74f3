//! Counters for `GET /metrics`, in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// What the server counts.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    bytes_sent: AtomicU64,
    /// Uploading requests since the server started.
    pub uploads_started: AtomicUsize,
    /// Connections open now.
    pub connections: AtomicUsize,
}

impl Metrics {
    /// Counts one finished request.
    pub fn record(
        &self,
        route: &'static str,
        method: &str,
        status: u16,
        sent: u64,
        took: Duration,
    ) {
        self.bytes_sent.fetch_add(sent, Ordering::Relaxed);
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route, method.to_string(), status)).or_default() += 1;
        }
        let secs = took.as_secs_f64();
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route).or_default();
            for (i, le) in BUCKETS.iter().enumerate() {
                if secs <= *le {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// The text exposition; `uploads` is the number of uploading requests now.
    pub fn render(&self, uploads: usize) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP berth_registry_requests_total Requests served, by route, method and status.\n",
        );
        out.push_str("# TYPE berth_registry_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((route, method, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "berth_registry_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP berth_registry_request_duration_seconds Time to answer a request (until the body starts).\n");
        out.push_str("# TYPE berth_registry_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "berth_registry_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "berth_registry_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "berth_registry_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "berth_registry_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP berth_registry_bytes_sent_total Response body bytes announced.\n# TYPE berth_registry_bytes_sent_total counter\nberth_registry_bytes_sent_total {}",
            self.bytes_sent.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP berth_registry_uploads_in_flight Uploading requests being served.\n# TYPE berth_registry_uploads_in_flight gauge\nberth_registry_uploads_in_flight {uploads}"
        );
        let _ = writeln!(
            out,
            "# HELP berth_registry_uploads_total Uploading requests since start.\n# TYPE berth_registry_uploads_total counter\nberth_registry_uploads_total {}",
            self.uploads_started.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP berth_registry_connections Connections open.\n# TYPE berth_registry_connections gauge\nberth_registry_connections {}",
            self.connections.load(Ordering::Relaxed)
        );
        out
    }
}
