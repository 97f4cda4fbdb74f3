//! `--init`: a minimal PID 1 for the container, as docker's tini, built
//! into berth's runtime rather than bind-mounted from the host: the
//! container's init process forks, the child execs the command, and the
//! parent stays behind as PID 1 — it forwards every signal it gets to the
//! command and reaps every process that dies in the container, then exits
//! with the command's status. Nothing is added to the container's files.
//!
//! Runtimes berth does not run in-process (`--runtime runc`) get a static
//! init binary bind-mounted instead, as docker does ([`INIT_BINARIES`]).

/// The spec annotation that asks berth's runtime for its built-in init.
pub const ANNOTATION: &str = "io.berth.init";

/// Static init binaries for external runtimes, docker's first (Debian's
/// docker.io ships tini as `docker-init`).
pub const INIT_BINARIES: &[&str] = &["/usr/bin/docker-init", "/usr/bin/tini-static"];

/// Where an init binary is mounted in the container, as docker mounts it.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Runs `exec` (which replaces the process with the command) in a child,
/// and this process as the container's init until that child exits.
///
/// Call only from the container's init process, single-threaded, just
/// before it would exec the command.
pub fn run_as_init<E>(exec: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
    // SAFETY: sigset_t is plain data, filled by sigfillset/sigemptyset before
    // use; sigprocmask on this single thread; fork in a single-threaded
    // process (the container's init) is sound; the child only calls `exec`.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        // Blocked from before the fork, so that no signal is lost: each
        // waits in the queue for sigwaitinfo below.
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut before);
        let child = libc::fork();
        if child < 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            return exec();
        }
        if child == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            return exec();
        }
        let mut info: libc::siginfo_t = std::mem::zeroed();
        loop {
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            // Reap every process that has died; the command's end is ours.
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    libc::_exit(code);
                }
            }
        }
    }
}
