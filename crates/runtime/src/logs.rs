//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}`.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::Error;

/// Longest line kept in one entry; longer lines are split, as docker does.
const MAX_LINE: usize = 16 * 1024;

/// Appends a container's output to its log, line by line.
pub struct LogWriter {
    file: File,
    partial: [Vec<u8>; 2],
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (and all terminal output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl LogWriter {
    /// Opens (creating) the log for appending.
    pub fn open(path: &Path) -> Result<LogWriter, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::io(path))?;
        Ok(LogWriter {
            file,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Records output; complete lines are written at once, a trailing partial
    /// line waits for its end (or for [`LogWriter::flush_partial`]).
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            self.entry(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
    }

    /// Writes out lines that never ended (the process exited mid-line).
    pub fn flush_partial(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(&mut self.partial[stream as usize]);
            if !buf.is_empty() {
                self.entry(stream, &buf);
            }
        }
    }

    fn entry(&mut self, stream: Stream, line: &[u8]) {
        let e = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.name().into(),
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        if let Ok(mut bytes) = serde_json::to_vec(&e) {
            bytes.push(b'\n');
            // A full disk loses log lines, never the container.
            let _ = self.file.write_all(&bytes);
        }
    }
}

/// What `berth logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub until: Option<DateTime<Utc>>,
}

/// One log entry as read back.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Where it came from.
    pub stream: Stream,
    /// When it was written (RFC 3339 with nanoseconds).
    pub time: String,
    /// The text, with its newline if it had one.
    pub text: String,
}

fn parse(line: &str) -> Option<(LogLine, DateTime<Utc>)> {
    let e: Entry = serde_json::from_str(line).ok()?;
    let at = DateTime::parse_from_rfc3339(&e.time)
        .ok()?
        .with_timezone(&Utc);
    let stream = if e.stream == "stderr" {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    Some((
        LogLine {
            stream,
            time: e.time,
            text: e.log,
        },
        at,
    ))
}

/// Reads the log, calling `emit` for each entry that passes `opts`; with
/// `follow`, keeps reading new entries for as long as it returns true.
pub fn read(
    path: &Path,
    opts: &LogsOptions,
    follow: Option<&dyn Fn() -> bool>,
    emit: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
) -> Result<(), Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && follow.is_none() => return Ok(()),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let keep = |at: &DateTime<Utc>| {
        opts.since.is_none_or(|s| *at >= s) && opts.until.is_none_or(|u| *at < u)
    };
    let mut entries = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(Error::io(path))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        if let Some((l, at)) = parse(&line)
            && keep(&at)
        {
            entries.push(l);
        }
    }
    let skip = opts
        .tail
        .map(|t| entries.len().saturating_sub(t))
        .unwrap_or(0);
    for l in &entries[skip..] {
        if emit(l).is_err() {
            return Ok(());
        }
    }
    let Some(still_running) = follow else {
        return Ok(());
    };
    // A line read in part before the loop ended is read again in full.
    let mut pos = reader
        .stream_position()
        .map_err(Error::io(path))?
        .saturating_sub(line.len() as u64);
    loop {
        let running = still_running();
        reader.seek(SeekFrom::Start(pos)).map_err(Error::io(path))?;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(Error::io(path))?;
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            pos += n as u64;
            if let Some((l, at)) = parse(&line)
                && keep(&at)
                && emit(&l).is_err()
            {
                return Ok(());
            }
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(Stream::Stdout, b"one\ntw");
        w.write(Stream::Stderr, b"err\n");
        w.write(Stream::Stdout, b"o\nthree");
        w.flush_partial();
        let mut got = Vec::new();
        read(&path, &LogsOptions::default(), None, &mut |l| {
            got.push((l.stream, l.text.clone()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, "one\n".to_string()),
                (Stream::Stderr, "err\n".to_string()),
                (Stream::Stdout, "two\n".to_string()),
                (Stream::Stdout, "three".to_string()),
            ]
        );
        let mut tail = Vec::new();
        let opts = LogsOptions {
            tail: Some(1),
            ..Default::default()
        };
        read(&path, &opts, None, &mut |l| {
            tail.push(l.text.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(tail, vec!["three".to_string()]);
    }
}
