//! Restart policies (`--restart no|always|unless-stopped|on-failure[:N]`),
//! kept by the container's monitor — no central daemon — with docker's
//! back-off: 100 ms, doubled at each restart, at most a minute, back to
//! 100 ms once a run lasted 10 s. A `stop` or `kill` by the user ends the
//! policy until the next `start`; `berth start --all-restartable` (run at
//! boot by contrib/berth-restart.service) starts what a policy would have
//! kept running, as dockerd does at its start.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Container, Status};
use crate::{Engine, Error, Result};

/// docker's `RestartPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped` or `on-failure` (docker writes `""`
    /// for none).
    pub name: String,
    /// With `on-failure`: restarts at most this often (0: no limit).
    #[serde(default)]
    pub maximum_retry_count: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        }
    }
}

impl RestartPolicy {
    /// `--restart` as docker takes it.
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        // docker's words (its policies: no, always, unless-stopped,
        // on-failure[:max-retries]).
        let bad = || Error::InvalidArgument(format!("invalid restart policy '{s}'"));
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c.parse::<u32>().map_err(|_| bad())?)),
            None => (s, None),
        };
        match (name, count) {
            ("" | "no", None) => Ok(RestartPolicy::default()),
            ("always" | "unless-stopped", None) => Ok(RestartPolicy {
                name: name.into(),
                maximum_retry_count: 0,
            }),
            ("on-failure", c) => Ok(RestartPolicy {
                name: name.into(),
                maximum_retry_count: c.unwrap_or(0),
            }),
            ("always" | "unless-stopped" | "no", Some(_)) => Err(Error::InvalidArgument(format!(
                "maximum retry count cannot be used with restart policy '{name}'"
            ))),
            _ => Err(bad()),
        }
    }

    /// Whether a policy is set.
    pub fn is_set(&self) -> bool {
        !matches!(self.name.as_str(), "" | "no")
    }

    /// Whether a run that ended with `code`, after `restarts` restarts, is
    /// started again (the user's stop aside).
    fn wants_restart(&self, code: i32, restarts: u32) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0 && (self.maximum_retry_count == 0 || restarts < self.maximum_retry_count)
            }
            _ => false,
        }
    }
}

/// The first delay; doubled at each restart up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// The monitor's back-off between restarts.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: FIRST_DELAY }
    }

    /// The delay before the next start, after a run of `ran`.
    pub(crate) fn delay(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.next = FIRST_DELAY;
        }
        let d = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        d
    }
}

impl Engine {
    /// After a run of container `id` ended with `code`: whether its policy
    /// starts it again. If so the state says `restarting` (with the restart
    /// counted) while the monitor waits `delay`; the wait ends early, and no
    /// restart happens, if the user stops or removes it meanwhile.
    pub(crate) fn restart_after(&self, id: &str, code: i32, delay: Duration) -> bool {
        let Ok(c) = self.container(id) else {
            return false;
        };
        let policy = &c.record.host_config.restart_policy;
        if c.state.manually_stopped || !policy.wants_restart(code, c.state.restart_count) {
            return false;
        }
        let me = std::process::id() as i32;
        let mut state = c.state.clone();
        state.status = Status::Restarting;
        state.restart_count += 1;
        state.monitor = berth_runtime::process::start_time(me).map(|s| (me, s));
        if self.save_state(id, &state).is_err() {
            return false;
        }
        let slice = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while waited < delay {
            std::thread::sleep(slice);
            waited += slice;
            match self.container(id) {
                Ok(c) if !c.state.manually_stopped => {}
                // Stopped by the user while waiting: it rests as exited.
                Ok(c) => {
                    let mut state = c.state;
                    state.status = Status::Exited;
                    state.monitor = None;
                    let _ = self.save_state(id, &state);
                    return false;
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// `berth start --all-restartable`: starts every container a restart
    /// policy would keep running and that is not (after a reboot, or its
    /// monitor's death): `always`, `unless-stopped` unless the user stopped
    /// it, `on-failure` if its last run failed. Returns each with the
    /// outcome.
    pub fn start_restartable(&self) -> Result<Vec<(Container, Result<()>)>> {
        let mut out = Vec::new();
        for c in self.containers()? {
            let policy = &c.record.host_config.restart_policy;
            let wanted = match policy.name.as_str() {
                "always" => !c.state.manually_stopped,
                "unless-stopped" => !c.state.manually_stopped,
                "on-failure" => !c.state.manually_stopped && c.state.exit_code != 0,
                _ => false,
            };
            if !wanted || c.state.running {
                continue;
            }
            let started = self.start_container(&c.id, false).map(|_| ());
            out.push((c, started));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_like_dockers() {
        assert_eq!(
            RestartPolicy::parse("no").unwrap(),
            RestartPolicy::default()
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:3")
                .unwrap()
                .maximum_retry_count,
            3
        );
        assert!(RestartPolicy::parse("always").unwrap().is_set());
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert!(p.wants_restart(1, 0) && p.wants_restart(1, 1) && !p.wants_restart(1, 2));
        assert!(!p.wants_restart(0, 0));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::new();
        let quick = Duration::from_millis(5);
        let d: Vec<u128> = (0..4).map(|_| b.delay(quick).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800]);
        assert_eq!(b.delay(Duration::from_secs(11)).as_millis(), 100);
        for _ in 0..20 {
            b.delay(quick);
        }
        assert_eq!(b.delay(quick), MAX_DELAY);
    }
}
