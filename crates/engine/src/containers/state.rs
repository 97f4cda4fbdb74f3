//! A container's lifecycle: docker's statuses, the transitions between them,
//! and which operations each allows — checked here and nowhere else.
//!
//! ```text
//! created ──start──> running <──unpause/pause──> paused
//!    ^                  │ exit                     │ exit
//!    │                  v                          v
//!    └──(start)──── exited <───────────────────────┘
//! ```
//! `restarting`, `removing` and `dead` are docker's too; berth records
//! `exited` with code 255 for a container whose monitor died unseen.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ContainerState;

/// docker's `State.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// Being restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process ended.
    Exited,
    /// Could not be removed cleanly.
    Dead,
}

impl Status {
    /// The word docker uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is asked of a container, for the state check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Start,
    Exec,
    Kill,
    Pause,
    Unpause,
    Remove,
    Top,
}

/// An operation the container's status does not allow; the words are docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The operation needs a running container.
    #[error("container {id} is not running")]
    NotRunning {
        /// The container's ID.
        id: String,
    },
    /// `kill` of a container that does not run.
    #[error("cannot kill container: {name}: container {id} is not running")]
    KillNotRunning {
        /// The name the user gave.
        name: String,
        /// The container's ID.
        id: String,
    },
    /// exec in a paused container.
    #[error("container {id} is paused, unpause the container before exec")]
    ExecPaused {
        /// The container's ID.
        id: String,
    },
    /// `start` of a paused container.
    #[error("cannot start a paused container {name}, try unpause instead")]
    StartPaused {
        /// The container's name.
        name: String,
    },
    /// `pause` of a paused container.
    #[error("container {id} is already paused")]
    AlreadyPaused {
        /// The container's ID.
        id: String,
    },
    /// `unpause` of a container that is not paused.
    #[error("container {id} is not paused")]
    NotPaused {
        /// The container's ID.
        id: String,
    },
    /// `top` of a container whose cgroup lists no process.
    #[error("container {id} has no processes")]
    NoProcesses {
        /// The container's ID.
        id: String,
    },
    /// `rm` without `-f` of a running container.
    #[error(
        "cannot remove container \"/{name}\": container is {status}: stop the container before removing or force remove"
    )]
    RemoveRunning {
        /// The container's name.
        name: String,
        /// Its status.
        status: Status,
    },
}

impl ContainerState {
    /// Whether `op` may run now on the container `id` (called `name` by the
    /// user); `Ok(false)` for a start of a running container, which does
    /// nothing (as docker).
    pub(crate) fn check(&self, op: Operation, id: &str, name: &str) -> Result<bool, StateError> {
        let id = id.to_string();
        match op {
            Operation::Start if self.paused => Err(StateError::StartPaused {
                name: name.to_string(),
            }),
            // A restart policy is about to start it.
            Operation::Start => Ok(!self.running && self.status != Status::Restarting),
            Operation::Exec if !self.running => Err(StateError::NotRunning { id }),
            Operation::Exec if self.paused => Err(StateError::ExecPaused { id }),
            Operation::Kill if self.status == Status::Restarting => Ok(true),
            Operation::Kill if !self.running => Err(StateError::KillNotRunning {
                name: name.to_string(),
                id,
            }),
            Operation::Pause | Operation::Unpause | Operation::Top if !self.running => {
                Err(StateError::NotRunning { id })
            }
            Operation::Pause if self.paused => Err(StateError::AlreadyPaused { id }),
            Operation::Unpause if !self.paused => Err(StateError::NotPaused { id }),
            Operation::Remove if self.running || self.status == Status::Restarting => {
                Err(StateError::RemoveRunning {
                    name: name.trim_start_matches('/').to_string(),
                    status: self.status,
                })
            }
            _ => Ok(true),
        }
    }

    /// The process `pid` runs, watched by the monitor `monitor`.
    pub(crate) fn started(
        previous: &ContainerState,
        pid: i32,
        monitor: Option<(i32, u64)>,
        ports: Vec<berth_network::ports::BoundPort>,
    ) -> Self {
        ContainerState {
            status: Status::Running,
            running: true,
            pid,
            started_at: crate::rfc3339_now(),
            finished_at: previous.finished_at.clone(),
            monitor,
            ports,
            restart_count: previous.restart_count,
            ..Default::default()
        }
    }

    /// The process ended with `code`.
    pub(crate) fn exited(&mut self, code: i32, oom_killed: bool) {
        self.status = Status::Exited;
        self.running = false;
        self.paused = false;
        self.pid = 0;
        self.exit_code = code;
        self.oom_killed = oom_killed;
        self.finished_at = crate::rfc3339_now();
        self.monitor = None;
        self.ports.clear();
    }

    /// The process could not be started.
    pub(crate) fn failed_start(&mut self, error: String, code: i32) {
        self.error = error;
        self.exit_code = code;
        self.running = false;
        self.pid = 0;
        self.monitor = None;
        self.ports.clear();
    }

    /// Frozen or thawed.
    pub(crate) fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.status = if paused {
            Status::Paused
        } else {
            Status::Running
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> ContainerState {
        ContainerState::started(&ContainerState::default(), 42, None, Vec::new())
    }

    #[test]
    fn operations_each_status_allows() {
        let created = ContainerState::default();
        assert_eq!(created.status, Status::Created);
        assert_eq!(created.check(Operation::Start, "c1", "n"), Ok(true));
        assert_eq!(created.check(Operation::Remove, "c1", "n"), Ok(true));
        assert_eq!(
            created
                .check(Operation::Exec, "c1", "n")
                .unwrap_err()
                .to_string(),
            "container c1 is not running"
        );
        assert_eq!(
            created
                .check(Operation::Kill, "c1", "web")
                .unwrap_err()
                .to_string(),
            "cannot kill container: web: container c1 is not running"
        );

        let mut up = running();
        assert_eq!(up.check(Operation::Start, "c1", "n"), Ok(false));
        assert_eq!(up.check(Operation::Exec, "c1", "n"), Ok(true));
        assert_eq!(
            up.check(Operation::Remove, "c1", "/web")
                .unwrap_err()
                .to_string(),
            "cannot remove container \"/web\": container is running: stop the container before removing or force remove"
        );
        assert!(matches!(
            up.check(Operation::Unpause, "c1", "n"),
            Err(StateError::NotPaused { .. })
        ));

        up.set_paused(true);
        assert_eq!(up.status, Status::Paused);
        assert!(matches!(
            up.check(Operation::Start, "c1", "n"),
            Err(StateError::StartPaused { .. })
        ));
        assert!(matches!(
            up.check(Operation::Exec, "c1", "n"),
            Err(StateError::ExecPaused { .. })
        ));
        assert!(matches!(
            up.check(Operation::Pause, "c1", "n"),
            Err(StateError::AlreadyPaused { .. })
        ));

        up.exited(137, true);
        assert_eq!(
            (up.status, up.running, up.paused, up.pid),
            (Status::Exited, false, false, 0)
        );
        assert_eq!(up.check(Operation::Start, "c1", "n"), Ok(true));
    }

    #[test]
    fn statuses_are_stored_as_docker_words() {
        for s in [
            Status::Created,
            Status::Running,
            Status::Paused,
            Status::Exited,
            Status::Dead,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), s);
        }
    }
}
