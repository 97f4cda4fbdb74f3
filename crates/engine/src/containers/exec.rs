//! `berth exec`: another process in a running container's namespaces and
//! cgroup, started by the container's runtime with this process as its
//! subreaper.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;

use berth_runtime::command::Lookup;
use berth_runtime::monitor::{CONSOLE_SOCKET, reap, receive_master, short_socket_path};
use berth_runtime::spec::ProcessUser;
use berth_runtime::{CreateStdio, user};
use serde_json::json;

use super::Operation;
use super::create::merge_env;
use super::names::new_id;
use crate::{Engine, Error, Result};

/// The flags of `exec`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExecOptions {
    /// The command.
    pub cmd: Vec<String>,
    /// `-e`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// The caller's terminal size (rows, columns) for `-t`.
    pub console_size: Option<(u16, u16)>,
}

/// Where an exec'd process's stdio goes when it has no terminal.
#[derive(Debug)]
pub enum ExecIo {
    /// This process's own stdin (with `-i`), stdout and stderr.
    Inherit,
    /// The caller's descriptors (a daemon's pipes to its client).
    Fds {
        /// Standard input; `None` = /dev/null.
        stdin: Option<OwnedFd>,
        /// Standard output.
        stdout: OwnedFd,
        /// Standard error.
        stderr: OwnedFd,
    },
}

/// A process started by `exec`.
#[derive(Debug)]
pub struct Exec {
    /// Its PID on the host.
    pub pid: i32,
    /// The pty master when it has a terminal (the caller relays it).
    pub terminal: Option<OwnedFd>,
}

impl Exec {
    /// Waits for the process; returns docker's exit code.
    pub fn wait(&self) -> Result<i32> {
        Ok(reap(self.pid)?.code)
    }
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| Error::io("stdio")(e.into()))
}

impl Engine {
    /// Starts `opts.cmd` in the running container; stdio is this process's own
    /// (or a new pty). The caller waits with [`Exec::wait`].
    pub fn exec_container(&self, name: &str, opts: &ExecOptions) -> Result<Exec> {
        self.exec_container_io(name, opts, ExecIo::Inherit)
    }

    /// [`Engine::exec_container`] with the process's stdio given by `io`
    /// (ignored with a terminal: the pty master comes back in [`Exec`]).
    pub fn exec_container_io(&self, name: &str, opts: &ExecOptions, io: ExecIo) -> Result<Exec> {
        let c = self.container(name)?;
        c.state.check(Operation::Exec, &c.id, name)?;
        if opts.cmd.is_empty() {
            return Err(Error::InvalidArgument("no command specified".into()));
        }
        let bundle = self.paths.bundle(&c.id);
        let rootfs = self.paths.rootfs(&c.id);
        let spec_user = opts
            .user
            .clone()
            .unwrap_or_else(|| c.record.config.user.clone());
        let u = user::resolve(&rootfs, &spec_user)?;
        let mut env = merge_env(&c.record.config.env, &opts.env);
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", u.home));
        }
        let env = berth_runtime::spec::process_env(&env, &c.record.config.hostname, opts.tty);
        let caps = berth_runtime::spec::capabilities(&berth_runtime::spec::SpecOptions {
            cap_add: c.record.host_config.cap_add.clone(),
            cap_drop: c.record.host_config.cap_drop.clone(),
            privileged: c.record.host_config.privileged || opts.privileged,
            ..Default::default()
        })?;
        // The container's own view of its files, mounts included.
        let root = std::path::PathBuf::from(format!("/proc/{}/root", c.state.pid));
        Lookup {
            root: &root,
            mounts: &[],
            env: &env,
            cwd: opts
                .workdir
                .as_deref()
                .unwrap_or(&c.record.config.working_dir),
            user: ProcessUser {
                uid: u.uid,
                gid: u.gid,
            },
            groups: &u.additional_gids,
        }
        .check(&opts.cmd[0])
        .map_err(|e| super::start::start_failure(e.into()))?;
        let mut process_user = json!({"uid": u.uid, "gid": u.gid});
        if !u.additional_gids.is_empty() {
            process_user["additionalGids"] = json!(u.additional_gids);
        }
        let mut process = json!({
            "terminal": opts.tty,
            "user": process_user,
            "args": opts.cmd,
            "env": env,
            "cwd": opts.workdir.clone().unwrap_or_else(|| c.record.config.working_dir.clone()),
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        });
        if let Some((rows, cols)) = opts.console_size.filter(|_| opts.tty) {
            process["consoleSize"] = json!({"height": rows, "width": cols});
        }
        let work = bundle.join(format!("exec-{}", &new_id()?[..12]));
        std::fs::create_dir_all(&work).map_err(Error::io(work.display()))?;
        let result = self.exec_in(&c, &work, &process, opts, io);
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    fn exec_in(
        &self,
        c: &super::Container,
        work: &std::path::Path,
        process: &serde_json::Value,
        opts: &ExecOptions,
        io: ExecIo,
    ) -> Result<Exec> {
        let path = work.join("process.json");
        let bytes = serde_json::to_vec(process).map_err(|source| Error::Serialize {
            what: "the process spec",
            source,
        })?;
        std::fs::write(&path, bytes).map_err(Error::io(path.display()))?;
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| Error::io("subreaper")(e.into()))?;
        let runtime = self.oci_runtime(&c.record.host_config);
        let start_err = super::start::start_failure;
        if opts.tty {
            let (_dir, sock) = short_socket_path(work, CONSOLE_SOCKET)?;
            let listener = UnixListener::bind(&sock).map_err(Error::io(sock.display()))?;
            let pid = runtime
                .exec(&c.id, &path, CreateStdio::Console(sock.clone()), work)
                .map_err(start_err)?;
            listener
                .set_nonblocking(true)
                .map_err(Error::io(sock.display()))?;
            let master = receive_master(&listener)?;
            return Ok(Exec {
                pid,
                terminal: Some(master),
            });
        }
        let stdio = match io {
            ExecIo::Fds {
                stdin,
                stdout,
                stderr,
            } => CreateStdio::Fds {
                stdin,
                stdout,
                stderr,
            },
            ExecIo::Inherit => CreateStdio::Fds {
                stdin: if opts.interactive {
                    Some(dup(rustix::stdio::stdin())?)
                } else {
                    None
                },
                stdout: dup(rustix::stdio::stdout())?,
                stderr: dup(rustix::stdio::stderr())?,
            },
        };
        let pid = runtime.exec(&c.id, &path, stdio, work).map_err(start_err)?;
        Ok(Exec {
            pid,
            terminal: None,
        })
    }
}
