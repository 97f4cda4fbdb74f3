//! berth's containers, below the engine: the OCI runtime spec for a container,
//! the runtimes that run it (youki's `libcontainer` built in, or runc's command
//! line), the monitor that holds a container's stdio and records its exit, the
//! attach protocol, json-file logs, and users from an image's /etc/passwd.
//!
//! It knows nothing of images or the store: the engine decides, this crate runs.
#![deny(missing_docs)]

pub mod attach;
pub mod cgroup;
pub mod command;
pub mod init;
pub mod logs;
pub mod monitor;
pub mod oci;
pub mod process;
pub mod seccomp;
pub mod spec;
pub mod user;

use std::path::{Path, PathBuf};

pub use oci::{CreateStdio, Runtime};

/// Sets a terminal's window size (the pty master or slave `fd`); a failure is
/// not worth reporting (the program keeps the size it had).
pub fn set_window_size(fd: impl std::os::fd::AsFd, rows: u16, cols: u16) {
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let _ = rustix::termios::tcsetwinsize(fd, ws);
}

/// Errors of the runtime crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The container's process could not be started (docker's 125/126/127).
    #[error("{message}")]
    Start {
        /// The runtime's message.
        message: String,
    },
    /// The command is not there or cannot be executed (docker's 127, 126).
    #[error(transparent)]
    Command(#[from] command::CommandError),
    /// The OCI runtime failed.
    #[error("{message}")]
    Runtime {
        /// What failed.
        message: String,
    },
    /// A setting is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> berth_oci::Kind {
        use berth_oci::Kind;
        match self {
            Error::Io { source, .. } | Error::Sys { source, .. } => Kind::of_io(source),
            Error::Command(_) | Error::Invalid(_) => Kind::InvalidArgument,
            Error::Start { .. } => Kind::FailedPrecondition,
            Error::Runtime { .. } => Kind::Internal,
        }
    }

    pub(crate) fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_path_buf();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn sys(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> Error {
        move |e| Error::Sys {
            what,
            source: e.into(),
        }
    }
}
