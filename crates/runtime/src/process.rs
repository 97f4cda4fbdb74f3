//! Processes by PID and start time: /proc parsing and pidfd waits, so that a
//! reused PID is never taken for the process berth started.

use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, pidfd_open};

/// The start time of a process, in clock ticks since boot (field 22 of
/// /proc/PID/stat).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.nth(19)?.parse().ok()
}

/// Whether the process `(pid, start)` still lives (a zombie counts as gone).
pub fn alive(pid: i32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat_fields(&stat).and_then(|mut f| f.next()).unwrap_or("Z");
    state != "Z" && start_time(pid) == Some(start)
}

/// The fields of /proc/PID/stat after the command name, which may hold
/// spaces and parentheses: they follow the last ')'.
fn stat_fields(stat: &str) -> Option<std::str::Split<'_, char>> {
    Some(stat.get(stat.rfind(')')? + 2..)?.split(' '))
}

/// Waits until the process `(pid, start)` is gone, up to `limit`. True if it
/// went. Sleeps on a pidfd where the kernel gives one.
pub fn wait_gone(pid: i32, start: u64, limit: Option<Duration>) -> bool {
    let deadline = limit.map(|l| Instant::now() + l);
    let pidfd = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
    loop {
        if !alive(pid, start) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let step = Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        match &pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                let _ = poll(&mut fds, Some(&step));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_lives_and_a_wrong_start_does_not() {
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
        assert!(!wait_gone(me, start, Some(Duration::from_millis(10))));
    }

    #[test]
    fn command_names_with_parentheses() {
        let stat = "7 (a) b) S 1 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 4242 0";
        let mut f = stat_fields(stat).unwrap();
        assert_eq!(f.next(), Some("S"));
        assert_eq!(stat_fields(stat).unwrap().nth(19), Some("4242"));
    }
}
