//! The OCI runtime that turns a bundle into a process: built in (youki's
//! `libcontainer`, in this process) or an external binary with runc's command
//! line (`--runtime /usr/sbin/runc`).
//!
//! Both are driven the same way: `create` starts the container's init stopped
//! before exec with the given stdio (or a console socket for a terminal),
//! `start` lets it exec. The caller is the process's subreaper and reaps it.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// An OCI runtime.
#[derive(Debug, Clone)]
pub enum OciRuntime {
    /// youki's `libcontainer`, keeping its state under this directory.
    Builtin {
        /// State directory.
        state: PathBuf,
    },
    /// An external runtime binary with runc's command line.
    External {
        /// The binary.
        path: PathBuf,
        /// Its `--root` state directory.
        state: PathBuf,
    },
}

fn runtime_err(what: &str, id: &str, msg: impl std::fmt::Display) -> Error {
    Error::Runtime {
        message: format!("{what} {id}: {msg}"),
    }
}

impl OciRuntime {
    /// The runtime's name as `inspect` shows it.
    pub fn name(&self) -> String {
        match self {
            OciRuntime::Builtin { .. } => "berth".to_string(),
            OciRuntime::External { path, .. } => path.display().to_string(),
        }
    }

    fn state_dir(&self) -> &Path {
        match self {
            OciRuntime::Builtin { state } | OciRuntime::External { state, .. } => state,
        }
    }

    fn external(&self, args: &[&str]) -> Result<std::process::Output, Error> {
        let OciRuntime::External { path, state } = self else {
            unreachable!("external() on the built-in runtime");
        };
        Command::new(path)
            .arg("--root")
            .arg(state)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Runtime {
                message: format!("cannot run {}: {e}", path.display()),
            })
    }

    fn external_ok(&self, what: &str, id: &str, args: &[&str]) -> Result<(), Error> {
        let out = self.external(args)?;
        if out.status.success() {
            return Ok(());
        }
        Err(runtime_err(what, id, last_line(&out.stderr)))
    }

    /// Creates the container from `bundle` (its `config.json` and `rootfs`), with
    /// the process stopped before exec. Returns the init's PID.
    pub fn create(&self, id: &str, bundle: &Path, stdio: CreateStdio) -> Result<i32, Error> {
        std::fs::create_dir_all(self.state_dir()).map_err(Error::io(self.state_dir()))?;
        match self {
            OciRuntime::Builtin { state } => builtin::create(id, bundle, state, stdio),
            OciRuntime::External { .. } => {
                let bundle_arg = [OsStr::new("--bundle"), bundle.as_os_str()];
                self.spawn_external("create", &bundle_arg, id, stdio, bundle)
            }
        }
    }

    /// Runs the external runtime's `create` or `exec` (with `args` after the
    /// subcommand) for `id`, with `stdio`; the new process's PID comes back
    /// in a file and a failure's reason in the runtime's JSON log, both in `dir`.
    fn spawn_external(
        &self,
        subcommand: &str,
        args: &[&OsStr],
        id: &str,
        stdio: CreateStdio,
        dir: &Path,
    ) -> Result<i32, Error> {
        let OciRuntime::External { path, state } = self else {
            unreachable!("spawn_external() on the built-in runtime");
        };
        let pid_file = dir.join(format!("{subcommand}.pid"));
        let log = dir.join(format!("{subcommand}.log"));
        let mut cmd = Command::new(path);
        cmd.arg("--root")
            .arg(state)
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .arg(subcommand)
            .args(args)
            .arg("--pid-file")
            .arg(&pid_file);
        match stdio {
            CreateStdio::Fds {
                stdin,
                stdout,
                stderr,
            } => {
                cmd.stdin(stdin.map(Stdio::from).unwrap_or_else(Stdio::null))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
            }
            // The process talks to the pty; the runtime's own words go to its log.
            CreateStdio::Console(sock) => {
                cmd.arg("--console-socket")
                    .arg(sock)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
        }
        cmd.arg(id);
        let status = cmd.status().map_err(|e| Error::Runtime {
            message: format!("cannot run {}: {e}", path.display()),
        })?;
        if !status.success() {
            return Err(Error::Start {
                message: runtime_log_error(&log)
                    .unwrap_or_else(|| format!("{} {subcommand} failed", path.display())),
            });
        }
        read_pid(&pid_file)
    }

    /// Lets a created container's process exec.
    pub fn start(&self, id: &str) -> Result<(), Error> {
        match self {
            OciRuntime::Builtin { state } => builtin::start(id, state),
            OciRuntime::External { .. } => self.external_ok("start", id, &["start", id]),
        }
    }

    /// Sends `signal` to the container's init (with `all`, to every process).
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), Error> {
        match self {
            OciRuntime::Builtin { state } => builtin::kill(id, state, signal, all),
            OciRuntime::External { .. } => {
                let sig = signal.to_string();
                let mut args = vec!["kill"];
                if all {
                    args.push("--all");
                }
                args.extend([id, sig.as_str()]);
                self.external_ok("kill", id, &args)
            }
        }
    }

    /// Forgets the container (its cgroup goes too). Missing containers are fine.
    pub fn delete(&self, id: &str) -> Result<(), Error> {
        match self {
            OciRuntime::Builtin { state } => builtin::delete(id, state),
            OciRuntime::External { .. } => {
                let out = self.external(&["delete", "--force", id])?;
                let msg = last_line(&out.stderr);
                if out.status.success() || msg.contains("does not exist") {
                    Ok(())
                } else {
                    Err(runtime_err("delete", id, msg))
                }
            }
        }
    }

    /// Freezes every process of the container (cgroup freezer).
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        match self {
            OciRuntime::Builtin { state } => builtin::pause(id, state, true),
            OciRuntime::External { .. } => self.external_ok("pause", id, &["pause", id]),
        }
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        match self {
            OciRuntime::Builtin { state } => builtin::pause(id, state, false),
            OciRuntime::External { .. } => self.external_ok("resume", id, &["resume", id]),
        }
    }

    /// Starts another process (described by the OCI process JSON at `process`) in
    /// the running container's namespaces and cgroup. Returns its PID; the caller,
    /// a subreaper, reaps it.
    pub fn exec(
        &self,
        id: &str,
        process: &Path,
        stdio: CreateStdio,
        work: &Path,
    ) -> Result<i32, Error> {
        match self {
            OciRuntime::Builtin { state } => builtin::exec(id, state, process, stdio),
            OciRuntime::External { .. } => {
                let exec_args = [
                    OsStr::new("--detach"),
                    OsStr::new("--process"),
                    process.as_os_str(),
                ];
                self.spawn_external("exec", &exec_args, id, stdio, work)
            }
        }
    }
}

fn last_line(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The last error runc logged (`--log-format json`), without its prefixes.
fn runtime_log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        if v["level"] != "error" && v["level"] != "fatal" {
            return None;
        }
        v["msg"].as_str().map(str::to_string)
    })
}

fn read_pid(path: &Path) -> Result<i32, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    text.trim().parse().map_err(|_| Error::Runtime {
        message: format!("{}: not a PID: {text:?}", path.display()),
    })
}

mod builtin {
    //! libcontainer, in this process. It forks the container's init itself, so
    //! this process must not hold locks other threads could be holding.

    use std::collections::HashMap;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use libcontainer::container::Container;
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::signal::Signal;
    use libcontainer::syscall::syscall::SyscallType;
    use libcontainer::workload::default::get_executor;
    use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
    use oci_spec::runtime::Spec;

    use super::{CreateStdio, runtime_err};
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
    /// runc does (else a program that asks for its size at once finds 0x0).
    #[derive(Clone)]
    struct SizedConsole;

    impl Executor for SizedConsole {
        fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
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

    pub fn create(id: &str, bundle: &Path, state: &Path, stdio: CreateStdio) -> Result<i32, Error> {
        let container = builder(id, state, stdio)
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

    fn load(id: &str, state: &Path) -> Result<Container, Error> {
        Container::load(state.join(id)).map_err(|e| runtime_err("load", id, e))
    }

    pub fn start(id: &str, state: &Path) -> Result<(), Error> {
        load(id, state)?
            .start()
            .map_err(|e| runtime_err("start", id, e))
    }

    pub fn kill(id: &str, state: &Path, signal: i32, all: bool) -> Result<(), Error> {
        let sig = Signal::try_from(signal).map_err(|e| runtime_err("kill", id, e))?;
        load(id, state)?
            .kill(sig, all)
            .map_err(|e| runtime_err("kill", id, e))
    }

    pub fn delete(id: &str, state: &Path) -> Result<(), Error> {
        if !state.join(id).exists() {
            return Ok(());
        }
        load(id, state)?
            .delete(true)
            .map_err(|e| runtime_err("delete", id, e))
    }

    pub fn pause(id: &str, state: &Path, pause: bool) -> Result<(), Error> {
        let mut c = load(id, state)?;
        if pause {
            c.pause().map_err(|e| runtime_err("pause", id, e))
        } else {
            c.resume().map_err(|e| runtime_err("unpause", id, e))
        }
    }

    pub fn exec(id: &str, state: &Path, process: &Path, stdio: CreateStdio) -> Result<i32, Error> {
        builder(id, state, stdio)
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
