//! Health checks: the image's HEALTHCHECK or `--health-*`, run by the
//! container's monitor (no daemon needed) as an exec in the container's
//! namespaces, every interval. The state — starting, healthy, unhealthy,
//! the failing streak and the last five results — lives in the container's
//! directory (`health.json`), written whole by the monitor alone, so that
//! it never races the state rows other berth processes write.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Container;
use super::exec::{ExecIo, ExecOptions};
use crate::{Engine, Error, Result};

/// docker's defaults when a duration or the retries are not given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// How much of a probe's output is kept, as docker's.
const MAX_OUTPUT: usize = 4096;
/// How many results `State.Health.Log` keeps, as docker's.
const MAX_LOG: usize = 5;

/// docker's `Config.Healthcheck` (durations in nanoseconds; 0 = default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["CMD", args…]`, `["CMD-SHELL", command]`, `["NONE"]`, or empty to
    /// inherit the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between probes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time a probe may take.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Time after start when failures do not count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between probes during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures that make it unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn nanos(n: i64, default: Duration) -> Duration {
    u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .map_or(default, Duration::from_nanos)
}

impl HealthConfig {
    /// `over` on top of `self` (the image's), field by field, as docker
    /// merges `--health-*` with the image's HEALTHCHECK.
    pub fn merged(&self, over: &HealthConfig) -> HealthConfig {
        let pick = |o: i64, b: i64| if o != 0 { o } else { b };
        HealthConfig {
            test: if over.test.is_empty() {
                self.test.clone()
            } else {
                over.test.clone()
            },
            interval: pick(over.interval, self.interval),
            timeout: pick(over.timeout, self.timeout),
            start_period: pick(over.start_period, self.start_period),
            start_interval: pick(over.start_interval, self.start_interval),
            retries: pick(over.retries, self.retries),
        }
    }

    /// The probe's command, when there is a check to run.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, [cmd])) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
            }
            _ => None,
        }
    }

    /// Checks what `--health-*` gave, in docker's words.
    pub fn check(&self) -> Result<()> {
        for (name, n) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if n != 0 && n < 1_000_000 {
                return Err(Error::InvalidArgument(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if self.retries < 0 {
            return Err(Error::InvalidArgument(
                "Retries in Healthcheck cannot be negative".into(),
            ));
        }
        Ok(())
    }
}

/// `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failed probes.
    pub failing_streak: u32,
    /// The last results, oldest first.
    pub log: Vec<HealthResult>,
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    /// When it started (RFC 3339).
    pub start: String,
    /// When it ended.
    pub end: String,
    /// Its exit code; -1 when it could not run or timed out.
    pub exit_code: i64,
    /// The first 4096 bytes of its output.
    pub output: String,
}

/// A duration as Go prints one (`500ms`, `30s`, `1m30s`, `1h0m0s`), for
/// docker's words.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let frac = match d.subsec_millis() {
        0 => String::new(),
        ms => format!(".{ms:03}").trim_end_matches('0').to_string(),
    };
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}{frac}s"),
        (0, m) => format!("{m}m{s}{frac}s"),
        (h, m) => format!("{h}h{m}m{s}{frac}s"),
    }
}

/// Whether `c` has a check to run (not none, not `NONE`).
pub(crate) fn has_check(c: &Container) -> bool {
    c.record
        .config
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.command().is_some())
}

/// What docker's `ps` adds to a running container's status.
pub fn status_suffix(h: &Health) -> String {
    match h.status.as_str() {
        "starting" => " (health: starting)".into(),
        s => format!(" ({s})"),
    }
}

impl Engine {
    fn health_path(&self, id: &str) -> std::path::PathBuf {
        self.paths.container(id).join("health.json")
    }

    /// The container's health, when it has a check and it was started.
    pub(crate) fn read_health(&self, c: &Container) -> Option<Health> {
        if !has_check(c) {
            return None;
        }
        let text = std::fs::read(self.health_path(&c.id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write_health(&self, id: &str, h: &Health) {
        let path = self.health_path(id);
        let tmp = path.with_extension("json.tmp");
        if let Ok(bytes) = serde_json::to_vec(h)
            && std::fs::write(&tmp, bytes).is_ok()
        {
            let _ = std::fs::rename(&tmp, &path);
        }
    }

    /// Probes `c` every interval until `stop`: the monitor's health thread.
    pub(crate) fn run_health_checks(&self, c: &Container, stop: &AtomicBool) {
        let Some(hc) = c.record.config.healthcheck.clone() else {
            return;
        };
        let Some(cmd) = hc.command() else { return };
        let interval = nanos(hc.interval, DEFAULT_INTERVAL);
        let start_interval = nanos(hc.start_interval, Duration::from_secs(5));
        let start_period = nanos(hc.start_period, Duration::ZERO);
        let timeout = nanos(hc.timeout, DEFAULT_TIMEOUT);
        let retries = u32::try_from(hc.retries)
            .ok()
            .filter(|r| *r > 0)
            .unwrap_or(DEFAULT_RETRIES);
        let mut health = Health {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        };
        self.write_health(&c.id, &health);
        let started = Instant::now();
        loop {
            let starting = started.elapsed() < start_period;
            let wait = if starting && hc.start_interval > 0 {
                start_interval
            } else {
                interval
            };
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20).min(wait));
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let result = self.probe(c, &cmd, timeout);
            let before = health.status.clone();
            if result.exit_code == 0 {
                health.failing_streak = 0;
                health.status = "healthy".into();
            } else if !(starting && health.status == "starting") {
                // A failure in the start period does not count, as docker's.
                health.failing_streak += 1;
                if health.failing_streak >= retries {
                    health.status = "unhealthy".into();
                }
            }
            health.log.push(result);
            if health.log.len() > MAX_LOG {
                health.log.remove(0);
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            self.write_health(&c.id, &health);
            if health.status != before {
                self.emit_container(c, &format!("health_status: {}", health.status), &[]);
            }
        }
    }

    /// Runs one probe: an exec with its output captured, killed at `timeout`.
    fn probe(&self, c: &Container, cmd: &[String], timeout: Duration) -> HealthResult {
        let start = crate::rfc3339_now();
        let failed = |message: String| HealthResult {
            start: start.clone(),
            end: crate::rfc3339_now(),
            exit_code: -1,
            output: message,
        };
        let (reader, writer) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            Ok(p) => p,
            Err(e) => return failed(e.to_string()),
        };
        let stderr: OwnedFd = match rustix::io::fcntl_dupfd_cloexec(&writer, 3) {
            Ok(fd) => fd,
            Err(e) => return failed(e.to_string()),
        };
        let opts = ExecOptions {
            cmd: cmd.to_vec(),
            ..Default::default()
        };
        let io = ExecIo::Fds {
            stdin: None,
            stdout: writer,
            stderr,
        };
        let exec = match self.exec_container_io(&c.id, &opts, io) {
            Ok(e) => e,
            Err(e) => return failed(e.to_string()),
        };
        // The output, read while the probe runs (a full pipe would stall it).
        let collector = std::thread::spawn(move || {
            use std::io::Read;
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            let mut f = std::fs::File::from(reader);
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            String::from_utf8_lossy(&kept).into_owned()
        });
        let Some(pid) = rustix::process::Pid::from_raw(exec.pid) else {
            return failed("the probe has no process".into());
        };
        if !exits_within(pid, timeout) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            drop(collector);
            return failed(format!(
                "Health check exceeded timeout ({})",
                go_duration(timeout)
            ));
        }
        let code = match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
        {
            Ok(Some((_, status))) => status
                .exit_status()
                .map(i64::from)
                .or_else(|| status.terminating_signal().map(|s| 128 + i64::from(s)))
                .unwrap_or(-1),
            _ => -1,
        };
        let output = collector.join().unwrap_or_default();
        HealthResult {
            start,
            end: crate::rfc3339_now(),
            exit_code: code,
            output,
        }
    }
}

/// Whether the process `pid` (a child of this one) ends within `timeout`:
/// waits on its pidfd, without polling.
fn exits_within(pid: rustix::process::Pid, timeout: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        // Out of descriptors or memory (a child not yet reaped always has
        // one): the probe is ended as if it ran too long, not waited for
        // without a bound.
        return false;
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_image_field_by_field() {
        let image = HealthConfig {
            test: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
            interval: 30_000_000_000,
            retries: 5,
            ..Default::default()
        };
        let flags = HealthConfig {
            interval: 2_000_000_000,
            ..Default::default()
        };
        let m = image.merged(&flags);
        assert_eq!(m.test, image.test);
        assert_eq!((m.interval, m.retries), (2_000_000_000, 5));
        assert_eq!(m.command().unwrap(), ["/bin/sh", "-c", "curl -f localhost"]);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(image.merged(&none).command(), None);
        assert!(
            HealthConfig {
                interval: 10,
                ..Default::default()
            }
            .check()
            .is_err()
        );
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
    }
}
