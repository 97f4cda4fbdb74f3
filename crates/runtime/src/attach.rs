//! The attach protocol between a container's monitor and the clients on its
//! unix socket, and the client side the CLI uses.
//!
//! Every message is a frame: docker's 8-byte stream header (`kind, 0, 0, 0`,
//! big-endian length) then the payload. The monitor sends stdout (1), stderr (2)
//! and, last, the exit code (3); a client sends stdin (0), stdin closed (4), a
//! terminal size (5: rows, cols) and signals to forward (6).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;

/// Frame kinds.
pub mod kind {
    /// Client → monitor: bytes for the container's stdin.
    pub const STDIN: u8 = 0;
    /// Monitor → client: the container's stdout (all output on a terminal).
    pub const STDOUT: u8 = 1;
    /// Monitor → client: the container's stderr.
    pub const STDERR: u8 = 2;
    /// Monitor → client: the process exited; payload = exit code, i32 BE.
    pub const EXIT: u8 = 3;
    /// Client → monitor: the client's stdin ended.
    pub const STDIN_CLOSE: u8 = 4;
    /// Client → monitor: terminal size, rows and cols as u16 BE.
    pub const RESIZE: u8 = 5;
    /// Client → monitor: a signal for the container, i32 BE.
    pub const SIGNAL: u8 = 6;
}

/// Largest payload accepted in one frame.
pub const MAX_FRAME: usize = 1 << 20;

/// One frame's bytes: the 8-byte header (`kind, 0, 0, 0`, big-endian
/// length) and the payload. Docker's multiplexed streams use the same
/// framing (stdout 1, stderr 2). A payload of 4 GiB or more is refused.
pub fn encode_frame(kind: u8, payload: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(payload.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut buf = Vec::with_capacity(8 + payload.len());
    buf.extend_from_slice(&[kind, 0, 0, 0]);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    Ok(buf)
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode_frame(kind, payload)?)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The container exited with this code.
    Exited(i32),
    /// The user typed the detach keys.
    Detached,
    /// The monitor went away without an exit code.
    Disconnected,
}

/// Parses docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`…) into bytes.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for key in spec.split(',').filter(|k| !k.is_empty()) {
        let k = key.trim().to_ascii_lowercase();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(Error::Invalid(format!("invalid detach key {key:?}"))),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(Error::Invalid(format!("invalid detach key {key:?}")));
        }
    }
    Ok(out)
}

/// Connects to a monitor's attach socket.
pub fn connect(socket: &Path) -> Result<UnixStream, Error> {
    UnixStream::connect(socket).map_err(Error::io(socket))
}

/// Sends the client's terminal size.
pub fn send_resize(stream: &UnixStream, rows: u16, cols: u16) -> io::Result<()> {
    let mut p = [0u8; 4];
    p[..2].copy_from_slice(&rows.to_be_bytes());
    p[2..].copy_from_slice(&cols.to_be_bytes());
    write_frame(&mut &*stream, kind::RESIZE, &p)
}

/// Sends a signal for the container.
pub fn send_signal(stream: &UnixStream, signal: i32) -> io::Result<()> {
    write_frame(&mut &*stream, kind::SIGNAL, &signal.to_be_bytes())
}

/// Copies `input` to the container's stdin until it ends (then says so) or the
/// detach keys are typed (then sets `detached` and shuts the stream down).
pub fn pump_stdin(
    mut input: impl Read,
    stream: UnixStream,
    detach_keys: Vec<u8>,
    detached: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 8192];
    let mut matched = 0usize;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = write_frame(&mut &stream, kind::STDIN_CLOSE, &[]);
                return;
            }
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if !detach_keys.is_empty() && b == detach_keys[matched] {
                matched += 1;
                if matched == detach_keys.len() {
                    detached.store(true, Ordering::SeqCst);
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
                continue;
            }
            // A partial match that breaks off is sent as typed.
            out.extend_from_slice(&detach_keys[..matched]);
            matched = 0;
            out.push(b);
        }
        if !out.is_empty() && write_frame(&mut &stream, kind::STDIN, &out).is_err() {
            return;
        }
    }
}

/// Copies the monitor's output frames to `out`/`err` until the exit frame.
pub fn pump_output(
    stream: &UnixStream,
    out: &mut impl Write,
    err: &mut impl Write,
    detached: &AtomicBool,
) -> AttachEnd {
    let mut reader = stream;
    loop {
        let frame = read_frame(&mut reader);
        if detached.load(Ordering::SeqCst) {
            return AttachEnd::Detached;
        }
        match frame {
            Ok(Some((kind::STDOUT, data))) => {
                let _ = out.write_all(&data);
                let _ = out.flush();
            }
            Ok(Some((kind::STDERR, data))) => {
                let _ = err.write_all(&data);
                let _ = err.flush();
            }
            Ok(Some((kind::EXIT, data))) if data.len() == 4 => {
                return AttachEnd::Exited(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return AttachEnd::Disconnected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, kind::STDERR, b"oops\n").unwrap();
        write_frame(&mut buf, kind::EXIT, &7i32.to_be_bytes()).unwrap();
        let mut r = buf.as_slice();
        assert_eq!(read_frame(&mut r).unwrap(), Some((2, b"oops\n".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some((3, vec![0, 0, 0, 7])));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-1").is_err());
    }
}
