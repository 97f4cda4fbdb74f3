//! The built-in runtime: youki's libcontainer, in this process. It forks the
//! container's init itself, so this process must not hold locks other threads
//! could be holding.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::get_executor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

use super::{CreateStdio, Runtime, runtime_err};
use crate::Error;

fn builder(
    id: &str,
    state: &Path,
    stdio: CreateStdio,
) -> Result<ContainerBuilder, libcontainer::error::LibcontainerError> {
    let mut b = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .with_root_path(state)?
        .with_executor(SizedConsole)
        .with_console_socket(None::<&Path>);
    match stdio {
        CreateStdio::Fds {
            stdin,
            stdout,
            stderr,
        } => {
            let stdin: OwnedFd = match stdin {
                Some(fd) => fd,
                None => std::fs::File::open("/dev/null")
                    .map_err(libcontainer::error::LibcontainerError::OtherIO)?
                    .into(),
            };
            b = b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr);
        }
        CreateStdio::Console(sock) => b = b.with_console_socket(Some(sock)),
    }
    Ok(b)
}

/// libcontainer's executor plus what it leaves out of the spec: the
/// terminal's `consoleSize`, set on the pty before the program runs, as
/// runc does (else a program that asks for its size at once finds 0x0); and
/// SIGPIPE back to its default: the container's init is forked from berth,
/// which (as every Rust program) ignores it, and an ignored signal stays
/// ignored across exec — `yes | head` would then never end.
#[derive(Clone)]
struct SizedConsole;

impl Executor for SizedConsole {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // SAFETY: this is the container's init, single-threaded, just before
        // it execs the program; SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        if let Some(p) = spec.process()
            && p.terminal().unwrap_or(false)
            && let Some(size) = p.console_size()
        {
            crate::set_window_size(
                rustix::stdio::stdin(),
                size.height().try_into().unwrap_or(u16::MAX),
                size.width().try_into().unwrap_or(u16::MAX),
            );
        }
        let wants_init = spec
            .annotations()
            .as_ref()
            .is_some_and(|a| a.get(crate::init::ANNOTATION).is_some_and(|v| v == "true"));
        // Only the container's first process (exec'd ones load the same
        // spec): PID 1 of its namespace.
        if wants_init && rustix::process::getpid().as_raw_nonzero().get() == 1 {
            return crate::init::run_as_init(|| get_executor().exec(spec));
        }
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        get_executor().validate(spec)
    }
}

fn start_error(e: libcontainer::error::LibcontainerError) -> Error {
    Error::Start {
        message: e.to_string(),
    }
}

/// youki's `libcontainer`, keeping its state under a directory of berth's.
#[derive(Debug, Clone)]
pub struct Builtin {
    state: PathBuf,
}

impl Builtin {
    /// The built-in runtime with its state under `state`.
    pub fn new(state: PathBuf) -> Self {
        Builtin { state }
    }

    fn load(&self, id: &str) -> Result<Container, Error> {
        Container::load(self.state.join(id)).map_err(|e| runtime_err("load", id, e))
    }
}

impl Runtime for Builtin {
    fn name(&self) -> String {
        "berth".to_string()
    }

    fn create(&self, id: &str, bundle: &Path, stdio: CreateStdio) -> Result<i32, Error> {
        std::fs::create_dir_all(&self.state).map_err(Error::io(&self.state))?;
        let container = builder(id, &self.state, stdio)
            .and_then(|b| {
                b.as_init(bundle)
                    .with_systemd(false)
                    .with_detach(true)
                    .build()
            })
            .map_err(start_error)?;
        container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| runtime_err("create", id, "no init PID"))
    }

    fn start(&self, id: &str) -> Result<(), Error> {
        self.load(id)?
            .start()
            .map_err(|e| runtime_err("start", id, e))
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), Error> {
        let sig = Signal::try_from(signal).map_err(|e| runtime_err("kill", id, e))?;
        self.load(id)?
            .kill(sig, all)
            .map_err(|e| runtime_err("kill", id, e))
    }

    fn delete(&self, id: &str) -> Result<(), Error> {
        if !self.state.join(id).exists() {
            return Ok(());
        }
        self.load(id)?
            .delete(true)
            .map_err(|e| runtime_err("delete", id, e))
    }

    fn pause(&self, id: &str) -> Result<(), Error> {
        self.load(id)?
            .pause()
            .map_err(|e| runtime_err("pause", id, e))
    }

    fn resume(&self, id: &str) -> Result<(), Error> {
        self.load(id)?
            .resume()
            .map_err(|e| runtime_err("unpause", id, e))
    }

    fn exec(
        &self,
        id: &str,
        process: &Path,
        stdio: CreateStdio,
        _work: &Path,
    ) -> Result<i32, Error> {
        builder(id, &self.state, stdio)
            .and_then(|b| {
                b.as_tenant()
                    .with_process(Some(process))
                    .with_env(HashMap::new())
                    .with_detach(true)
                    .build()
            })
            .map(|p| p.as_raw())
            .map_err(start_error)
    }
}
