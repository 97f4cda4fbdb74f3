//! The per-container monitor (podman's conmon, in-house): a small process that
//! outlives the command that started the container. It creates the container
//! through the OCI runtime as the process's subreaper, holds its stdio (pipes,
//! or a pty master received on a console socket), writes the json-file log,
//! serves attach clients on a unix socket, reaps the process and reports the
//! exit through [`Hooks`].

use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::process::{Pid, PidfdFlags, WaitOptions};

use crate::attach::{MAX_FRAME, kind, write_frame};
use crate::logs::{LogWriter, Stream};
use crate::{CreateStdio, Error, Runtime};

/// What the monitor runs.
#[derive(Debug)]
pub struct MonitorConfig {
    /// The container ID (also the runtime's).
    pub id: String,
    /// The bundle: `config.json`, `rootfs`, the sockets.
    pub bundle: PathBuf,
    /// The runtime.
    pub runtime: Box<dyn Runtime>,
    /// The process has a terminal.
    pub terminal: bool,
    /// Keep stdin open for attach clients (`-i`).
    pub open_stdin: bool,
    /// The json-file log.
    pub log: PathBuf,
    /// Its rotation; `None` for the `none` driver (nothing kept).
    pub log_limits: Option<crate::logs::LogLimits>,
    /// Hold the start until the first attach client connects (`run` without `-d`),
    /// so it misses no output.
    pub wait_attach: bool,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// docker's exit code: the status, or 128 + the signal that killed it.
    pub code: i32,
}

/// What the monitor tells its owner as it goes.
pub trait Hooks {
    /// The container was created with init `pid` (before it execs).
    fn created(&mut self, pid: i32) -> Result<(), Error>;
    /// The process runs.
    fn started(&mut self, pid: i32) -> Result<(), Error>;
    /// The process exited and its output is drained; clients are told after this.
    fn exited(&mut self, exit: Exit);
    /// Clients were told; work nobody waits for goes here.
    fn finished(&mut self) {}
}

/// A path to `name` in `dir` short enough for a unix socket address (108 bytes),
/// whatever the length of `dir`: `/proc/<pid>/fd/<n>/name` through a held
/// directory descriptor. Valid while the returned descriptor is open.
pub fn short_socket_path(dir: &Path, name: &str) -> Result<(OwnedFd, PathBuf), Error> {
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io(dir)(e.into()))?;
    let path = PathBuf::from(format!(
        "/proc/{}/fd/{}/{name}",
        std::process::id(),
        fd.as_raw_fd()
    ));
    Ok((fd, path))
}

/// The attach socket's file name in the bundle.
pub const ATTACH_SOCKET: &str = "attach.sock";
/// The console socket's file name.
pub const CONSOLE_SOCKET: &str = "console.sock";

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
}

/// Runs the container to its end. Errors before the start are returned (and
/// nothing is left running); after it, only the exit is reported.
pub fn run(cfg: &MonitorConfig, hooks: &mut dyn Hooks) -> Result<Exit, Error> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(Error::sys("cannot become the subreaper"))?;
    let (_dir, attach_path) = short_socket_path(&cfg.bundle, ATTACH_SOCKET)?;
    let _ = std::fs::remove_file(cfg.bundle.join(ATTACH_SOCKET));
    let listener = UnixListener::bind(&attach_path).map_err(Error::io(&attach_path))?;
    listener
        .set_nonblocking(true)
        .map_err(Error::io(&attach_path))?;

    let mut log = match cfg.log_limits {
        Some(limits) => LogWriter::open(&cfg.log, limits)?,
        None => LogWriter::discard(),
    };
    let (pid, io) = create(cfg)?;
    let created = hooks.created(pid);
    let mut clients: Vec<Client> = Vec::new();
    let start = created.and_then(|()| {
        if cfg.wait_attach {
            clients.push(wait_for_client(&listener, Duration::from_secs(30))?);
        }
        cfg.runtime.start(&cfg.id)?;
        hooks.started(pid)
    });
    if let Err(e) = start {
        let _ = rustix::process::kill_process(pid_of(pid)?, rustix::process::Signal::KILL);
        let _ = reap(pid);
        let _ = cfg.runtime.delete(&cfg.id);
        return Err(e);
    }
    let (exit, mut clients) = serve(cfg, pid, io, &listener, clients, &mut log)?;
    log.flush_partial();
    // Clients hear of the exit only once it is recorded and cleaned up, so the
    // next command of a script sees the container stopped.
    hooks.exited(exit);
    for c in &mut clients {
        let _ = write_frame(&mut c.stream, kind::EXIT, &exit.code.to_be_bytes());
    }
    drop(clients);
    hooks.finished();
    Ok(exit)
}

fn pid_of(pid: i32) -> Result<Pid, Error> {
    Pid::from_raw(pid).ok_or_else(|| Error::Runtime {
        message: format!("invalid PID {pid}"),
    })
}

/// The monitor's ends of the container's stdio.
struct Io {
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: Option<OwnedFd>,
    terminal: bool,
}

fn create(cfg: &MonitorConfig) -> Result<(i32, Io), Error> {
    if cfg.terminal {
        let (_dir, sock_path) = short_socket_path(&cfg.bundle, CONSOLE_SOCKET)?;
        let _ = std::fs::remove_file(cfg.bundle.join(CONSOLE_SOCKET));
        let console = UnixListener::bind(&sock_path).map_err(Error::io(&sock_path))?;
        let pid = cfg.runtime.create(
            &cfg.id,
            &cfg.bundle,
            CreateStdio::Console(sock_path.clone()),
        );
        let _ = std::fs::remove_file(cfg.bundle.join(CONSOLE_SOCKET));
        let pid = pid?;
        console
            .set_nonblocking(true)
            .map_err(Error::io(&sock_path))?;
        let master = receive_master(&console).inspect_err(|_| {
            let _ = cfg.runtime.delete(&cfg.id);
        })?;
        let stdin = rustix::io::dup(&master).map_err(Error::sys("dup"))?;
        return Ok((
            pid,
            Io {
                stdin: cfg.open_stdin.then_some(stdin),
                stdout: master,
                stderr: None,
                terminal: true,
            },
        ));
    }
    let pipe =
        || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(Error::sys("pipe"));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_r, stdin_w) = if cfg.open_stdin {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let pid = cfg.runtime.create(
        &cfg.id,
        &cfg.bundle,
        CreateStdio::Fds {
            stdin: stdin_r,
            stdout: out_w,
            stderr: err_w,
        },
    )?;
    Ok((
        pid,
        Io {
            stdin: stdin_w,
            stdout: out_r,
            stderr: Some(err_r),
            terminal: false,
        },
    ))
}

/// Receives the pty master the runtime sends on the console socket.
pub fn receive_master(console: &UnixListener) -> Result<OwnedFd, Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match console.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => {
                return Err(Error::Sys {
                    what: "no terminal from the runtime",
                    source: e,
                });
            }
        }
    };
    conn.set_nonblocking(false).map_err(|e| Error::Sys {
        what: "console socket",
        source: e,
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| Error::Sys {
            what: "console socket",
            source: e,
        })?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    rustix::net::recvmsg(&conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(Error::sys("receiving the terminal"))?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(Error::Runtime {
        message: "the runtime sent no terminal".into(),
    })
}

fn wait_for_client(listener: &UnixListener, limit: Duration) -> Result<Client, Error> {
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return client(stream),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                let mut fds = [PollFd::new(listener, PollFlags::IN)];
                let ts = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 100_000_000,
                };
                let _ = poll(&mut fds, Some(&ts));
            }
            Err(e) => {
                return Err(Error::Sys {
                    what: "waiting for the attach client",
                    source: e,
                });
            }
        }
    }
}

fn client(stream: UnixStream) -> Result<Client, Error> {
    let sys = |source| Error::Sys {
        what: "attach socket",
        source,
    };
    stream.set_nonblocking(false).map_err(sys)?;
    // A client that stops reading is dropped rather than stalling the container.
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(sys)?;
    Ok(Client {
        stream,
        inbuf: Vec::new(),
    })
}

/// Waits for the process (a child, or an orphan this subreaper adopted).
pub fn reap(pid: i32) -> Result<Exit, Error> {
    let p = pid_of(pid)?;
    loop {
        match rustix::process::waitpid(Some(p), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                let code = match (status.exit_status(), status.terminating_signal()) {
                    (Some(c), _) => c,
                    (None, Some(sig)) => 128 + sig,
                    _ => continue,
                };
                return Ok(Exit { code });
            }
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys("waiting for the container")(e)),
        }
    }
}

/// Reads what is available; `None` at end of stream (EOF, or EIO from a pty
/// master whose terminal closed).
fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Option<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Some(0),
            Err(_) => return None,
        }
    }
}

fn broadcast(clients: &mut Vec<Client>, kind: u8, data: &[u8]) {
    clients.retain_mut(|c| write_frame(&mut c.stream, kind, data).is_ok());
}

fn serve(
    cfg: &MonitorConfig,
    pid: i32,
    io: Io,
    listener: &UnixListener,
    mut clients: Vec<Client>,
    log: &mut LogWriter,
) -> Result<(Exit, Vec<Client>), Error> {
    let pidfd = rustix::process::pidfd_open(pid_of(pid)?, PidfdFlags::empty())
        .map_err(Error::sys("pidfd_open"))?;
    let mut stdin = io.stdin;
    let mut outputs: Vec<(OwnedFd, Stream, u8)> = vec![(io.stdout, Stream::Stdout, kind::STDOUT)];
    if let Some(e) = io.stderr {
        outputs.push((e, Stream::Stderr, kind::STDERR));
    }
    for (fd, _, _) in &outputs {
        rustix::io::ioctl_fionbio(fd, true).map_err(Error::sys("non-blocking output"))?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut exited: Option<Exit> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        if let Some(deadline) = drain_deadline
            && (outputs.is_empty() || Instant::now() >= deadline)
        {
            break;
        }
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        for (fd, _, _) in &outputs {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        let n_out = fds.len();
        fds.push(PollFd::new(listener, PollFlags::IN));
        let pid_slot = fds.len();
        if exited.is_none() {
            fds.push(PollFd::new(&pidfd, PollFlags::IN));
        }
        let client_base = fds.len();
        for c in &clients {
            fds.push(PollFd::new(&c.stream, PollFlags::IN));
        }
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::sys("poll")(e)),
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);

        let mut closed = Vec::new();
        for (i, (fd, stream, k)) in outputs.iter().enumerate() {
            if ready[i].is_empty() {
                continue;
            }
            match read_some(fd.as_fd(), &mut buf) {
                Some(0) => {}
                Some(n) => {
                    log.write(*stream, &buf[..n]);
                    broadcast(&mut clients, *k, &buf[..n]);
                }
                None => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            outputs.remove(i);
        }
        if !ready[n_out].is_empty()
            && let Ok((stream, _)) = listener.accept()
            && let Ok(c) = client(stream)
        {
            clients.push(c);
        }
        if exited.is_none() && !ready[pid_slot].is_empty() {
            exited = Some(reap(pid)?);
            // What the process wrote before exiting is still in the pipes.
            drain_deadline = Some(Instant::now() + Duration::from_secs(2));
        }
        let mut gone = Vec::new();
        for (i, c) in clients.iter_mut().enumerate() {
            let r = ready
                .get(client_base + i)
                .copied()
                .unwrap_or(PollFlags::empty());
            if r.is_empty() {
                continue;
            }
            if !read_client(c, &mut buf) {
                gone.push(i);
            }
            while let Some((k, payload)) = next_frame(&mut c.inbuf) {
                match k {
                    kind::STDIN => {
                        if let Some(fd) = &stdin
                            && write_all_fd(fd.as_fd(), &payload).is_err()
                        {
                            stdin = None;
                        }
                    }
                    kind::STDIN_CLOSE if !io.terminal => stdin = None,
                    kind::RESIZE if payload.len() == 4 => {
                        let rows = u16::from_be_bytes([payload[0], payload[1]]);
                        let cols = u16::from_be_bytes([payload[2], payload[3]]);
                        if io.terminal
                            && let Some((fd, _, _)) = outputs.first()
                        {
                            crate::set_window_size(fd, rows, cols);
                        }
                    }
                    kind::SIGNAL if payload.len() == 4 => {
                        let sig =
                            i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        if exited.is_none() {
                            let _ = cfg.runtime.kill(&cfg.id, sig, false);
                        }
                    }
                    _ => {}
                }
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
    }
    let exit = match exited {
        Some(e) => e,
        None => reap(pid)?,
    };
    // Orphans the container left (its runtime's helpers) are ours to reap.
    while let Ok(Some(_)) = rustix::process::waitpid(None, WaitOptions::NOHANG) {}
    Ok((exit, clients))
}

fn read_client(c: &mut Client, buf: &mut [u8]) -> bool {
    match rustix::net::recv(&c.stream, &mut *buf, RecvFlags::DONTWAIT) {
        Ok((0, _)) => false,
        Ok((n, _)) => {
            c.inbuf.extend_from_slice(&buf[..n]);
            c.inbuf.len() <= MAX_FRAME + 8
        }
        Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => true,
        Err(_) => false,
    }
}

fn next_frame(inbuf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    if inbuf.len() < 8 {
        return None;
    }
    let len = u32::from_be_bytes([inbuf[4], inbuf[5], inbuf[6], inbuf[7]]) as usize;
    if inbuf.len() < 8 + len {
        return None;
    }
    let payload = inbuf[8..8 + len].to_vec();
    let k = inbuf[0];
    inbuf.drain(..8 + len);
    Some((k, payload))
}

fn write_all_fd(fd: BorrowedFd<'_>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads a whole sync message (one JSON line) the monitor sent its parent.
pub fn read_sync_line(r: &mut impl Read) -> Option<serde_json::Value> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
        }
    }
    serde_json::from_slice(&line).ok()
}

/// Writes a sync message to the monitor's parent.
pub fn write_sync_line(w: &mut impl Write, value: &serde_json::Value) {
    if let Ok(mut bytes) = serde_json::to_vec(value) {
        bytes.push(b'\n');
        let _ = w.write_all(&bytes);
        let _ = w.flush();
    }
}
