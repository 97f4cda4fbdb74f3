//! The OCI runtime that turns a bundle into a process: built in (youki's
//! `libcontainer`, in this process: [`Builtin`]) or an external binary with
//! runc's command line (`--runtime /usr/sbin/runc`: [`External`]).
//!
//! Both are driven through [`Runtime`]: `create` starts the container's init
//! stopped before exec with the given stdio (or a console socket for a
//! terminal), `start` lets it exec. The caller is the process's subreaper and
//! reaps it.

mod builtin;
mod external;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use builtin::Builtin;
pub use external::External;

use crate::Error;

/// Where the container's stdio goes.
#[derive(Debug)]
pub enum CreateStdio {
    /// Plain file descriptors (pipes) for stdin, stdout and stderr.
    Fds {
        /// Standard input; `None` = /dev/null.
        stdin: Option<OwnedFd>,
        /// Standard output.
        stdout: OwnedFd,
        /// Standard error.
        stderr: OwnedFd,
    },
    /// A pseudo-terminal: the runtime sends its master to this socket.
    Console(PathBuf),
}

/// An OCI runtime: what berth asks of one, whichever it is.
pub trait Runtime: std::fmt::Debug + Send + Sync {
    /// The runtime's name as `inspect` shows it.
    fn name(&self) -> String;

    /// Creates the container from `bundle` (its `config.json` and `rootfs`),
    /// with the process stopped before exec. Returns the init's PID.
    fn create(&self, id: &str, bundle: &Path, stdio: CreateStdio) -> Result<i32, Error>;

    /// Lets a created container's process exec.
    fn start(&self, id: &str) -> Result<(), Error>;

    /// Sends `signal` to the container's init (with `all`, to every process).
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), Error>;

    /// Forgets the container (its cgroup goes too). Missing containers are fine.
    fn delete(&self, id: &str) -> Result<(), Error>;

    /// Freezes every process of the container (cgroup freezer).
    fn pause(&self, id: &str) -> Result<(), Error>;

    /// Thaws a paused container.
    fn resume(&self, id: &str) -> Result<(), Error>;

    /// Starts another process (described by the OCI process JSON at
    /// `process`) in the running container's namespaces and cgroup; `work` is
    /// a directory for the runtime's own files. Returns its PID; the caller,
    /// a subreaper, reaps it.
    fn exec(&self, id: &str, process: &Path, stdio: CreateStdio, work: &Path)
    -> Result<i32, Error>;
}

/// The runtime a container asked for: `""` or `berth` is the built-in one,
/// anything else the path of a runc-compatible binary. Each keeps its state
/// in its own directory.
pub fn for_name(name: &str, builtin_state: PathBuf, external_state: PathBuf) -> Box<dyn Runtime> {
    if name.is_empty() || name == "berth" {
        Box::new(Builtin::new(builtin_state))
    } else {
        Box::new(External::new(PathBuf::from(name), external_state))
    }
}

fn runtime_err(what: &str, id: &str, msg: impl std::fmt::Display) -> Error {
    Error::Runtime {
        message: format!("{what} {id}: {msg}"),
    }
}
