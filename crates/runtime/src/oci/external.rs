//! An external runtime binary with runc's command line (`--root`, `create
//! --bundle --pid-file`, `--log-format json`), such as `/usr/sbin/runc`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{CreateStdio, Runtime, runtime_err};
use crate::Error;

/// A runc-compatible binary and its `--root` state directory.
#[derive(Debug, Clone)]
pub struct External {
    path: PathBuf,
    state: PathBuf,
}

impl External {
    /// The binary at `path`, keeping its state under `state`.
    pub fn new(path: PathBuf, state: PathBuf) -> Self {
        External { path, state }
    }

    fn run(&self, args: &[&str]) -> Result<Output, Error> {
        Command::new(&self.path)
            .arg("--root")
            .arg(&self.state)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Runtime {
                message: format!("cannot run {}: {e}", self.path.display()),
            })
    }

    fn run_ok(&self, what: &str, id: &str, args: &[&str]) -> Result<(), Error> {
        let out = self.run(args)?;
        if out.status.success() {
            return Ok(());
        }
        Err(runtime_err(what, id, last_line(&out.stderr)))
    }

    /// Runs `create` or `exec` (with `args` after the subcommand) for `id`,
    /// with `stdio`; the new process's PID comes back in a file and a
    /// failure's reason in the runtime's JSON log, both in `dir`.
    fn spawn(
        &self,
        subcommand: &str,
        args: &[&OsStr],
        id: &str,
        stdio: CreateStdio,
        dir: &Path,
    ) -> Result<i32, Error> {
        let pid_file = dir.join(format!("{subcommand}.pid"));
        let log = dir.join(format!("{subcommand}.log"));
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root")
            .arg(&self.state)
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
            message: format!("cannot run {}: {e}", self.path.display()),
        })?;
        if !status.success() {
            return Err(Error::Start {
                message: runtime_log_error(&log)
                    .unwrap_or_else(|| format!("{} {subcommand} failed", self.path.display())),
            });
        }
        read_pid(&pid_file)
    }
}

impl Runtime for External {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn create(&self, id: &str, bundle: &Path, stdio: CreateStdio) -> Result<i32, Error> {
        std::fs::create_dir_all(&self.state).map_err(Error::io(&self.state))?;
        let bundle_arg = [OsStr::new("--bundle"), bundle.as_os_str()];
        self.spawn("create", &bundle_arg, id, stdio, bundle)
    }

    fn start(&self, id: &str) -> Result<(), Error> {
        self.run_ok("start", id, &["start", id])
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), Error> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.run_ok("kill", id, &args)
    }

    fn delete(&self, id: &str) -> Result<(), Error> {
        if !self.state.join(id).exists() {
            return Ok(());
        }
        let out = self.run(&["delete", "--force", id])?;
        // runc keeps a container's state in a directory named by its ID: when
        // that is gone, so is the container, whatever the runtime said.
        if out.status.success() || !self.state.join(id).exists() {
            Ok(())
        } else {
            Err(runtime_err("delete", id, last_line(&out.stderr)))
        }
    }

    fn pause(&self, id: &str) -> Result<(), Error> {
        self.run_ok("pause", id, &["pause", id])
    }

    fn resume(&self, id: &str) -> Result<(), Error> {
        self.run_ok("resume", id, &["resume", id])
    }

    fn exec(
        &self,
        id: &str,
        process: &Path,
        stdio: CreateStdio,
        work: &Path,
    ) -> Result<i32, Error> {
        let exec_args = [
            OsStr::new("--detach"),
            OsStr::new("--process"),
            process.as_os_str(),
        ];
        self.spawn("exec", &exec_args, id, stdio, work)
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
