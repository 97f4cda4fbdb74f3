//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}`,
//! rotated as docker's `max-size` / `max-file` say (`c-json.log`,
//! `c-json.log.1`, … oldest last). Unlike docker, whose json-file grows
//! without end unless told, berth rotates by default: [`LogLimits::default`].
//!
//! The `local` driver writes berth's compact format instead, one line per
//! entry: the time in nanoseconds since the epoch, `o` or `e`, and the text
//! with `\\`, newline and carriage return escaped —
//! `1764496800123456789 o text\n`: 22 bytes of framing where json-file
//! spends 66, still a line per entry, so that `--tail` reads backwards and
//! `--since` bisects a file of either format alike (a reader tells them
//! apart by the first byte). docker's own `local` format is length-framed
//! protobuf; nothing but `logs` reads either.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::Error;

/// Longest line kept in one entry; longer lines are split, as docker does.
const MAX_LINE: usize = 16 * 1024;

/// How big a container's log may grow, and in which format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Bytes of one file before it is rotated.
    pub max_size: u64,
    /// Files kept, the current one included.
    pub max_file: u32,
    /// How entries are written.
    pub format: LogFormat,
}

/// The on-disk format of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// docker's json-file lines.
    #[default]
    JsonFile,
    /// berth's compact lines (`--log-driver local`).
    Local,
}

impl Default for LogLimits {
    /// 20 MB × 5 files (docker's `local` driver's defaults): a chatty
    /// container keeps its last ~100 MB of output and never fills the disk,
    /// which docker's unbounded json-file default does.
    fn default() -> Self {
        LogLimits {
            max_size: 20 * 1000 * 1000,
            max_file: 5,
            format: LogFormat::JsonFile,
        }
    }
}

impl LogLimits {
    /// docker's `--log-opt max-size=10m` / `max-file=3` over the defaults.
    pub fn from_opts<'a>(
        opts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LogLimits, Error> {
        LogLimits::from_opts_as(LogFormat::JsonFile, opts)
    }

    /// The same for a driver's `format`.
    pub fn from_opts_as<'a>(
        format: LogFormat,
        opts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LogLimits, Error> {
        let mut l = LogLimits {
            format,
            ..LogLimits::default()
        };
        for (k, v) in opts {
            match k {
                "max-size" => {
                    l.max_size = parse_size(v).filter(|n| *n > 0).ok_or_else(|| {
                        Error::Invalid(format!(
                            "invalid --log-opt max-size={v}: a size such as 10m or 1g"
                        ))
                    })?;
                }
                "max-file" => {
                    l.max_file = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::Invalid(format!(
                            "invalid --log-opt max-file={v}: a number of files, 1 or more"
                        ))
                    })?;
                }
                // docker's options berth keeps to its defaults.
                "compress" | "labels" | "env" | "tag" if format == LogFormat::JsonFile => {}
                "compress" => {
                    return Err(Error::Invalid(
                        "--log-opt compress is not taken by berth's local driver: its files are compact lines, rotated as they are".into(),
                    ));
                }
                other => {
                    let driver = match format {
                        LogFormat::JsonFile => "json-file",
                        LogFormat::Local => "local",
                    };
                    return Err(Error::Invalid(format!(
                        "unknown log opt {other:?} for the {driver} driver (max-size, max-file)"
                    )));
                }
            }
        }
        Ok(l)
    }
}

/// `10m`, `1g`, `512k`, `2048` (docker's units: k, m, g, powers of 1000).
fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (num, mult) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1000),
        'm' => (&v[..v.len() - 1], 1000 * 1000),
        'g' => (&v[..v.len() - 1], 1000 * 1000 * 1000),
        _ => (v, 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .map(|n| (n * mult as f64) as u64)
}

/// The files of a log, oldest first: `path.N` … `path.1`, `path`.
pub fn log_files(path: &Path) -> Vec<std::path::PathBuf> {
    let mut rotated = Vec::new();
    for n in 1.. {
        let p = rotated_path(path, n);
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

fn rotated_path(path: &Path, n: u32) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    s.into()
}

/// Appends a container's output to its log, line by line.
pub struct LogWriter {
    /// `None`: the `none` driver, output goes nowhere.
    file: Option<File>,
    path: std::path::PathBuf,
    size: u64,
    limits: LogLimits,
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
    pub fn open(path: &Path, limits: LogLimits) -> Result<LogWriter, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::io(path))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter {
            file: Some(file),
            path: path.to_path_buf(),
            size,
            limits,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// A writer that keeps nothing (`--log-driver none`).
    pub fn discard() -> LogWriter {
        LogWriter {
            file: None,
            path: std::path::PathBuf::new(),
            size: 0,
            limits: LogLimits::default(),
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// Moves `path` to `path.1` (and each older one up, the oldest beyond
    /// `max-file` gone) and starts a new file.
    fn rotate(&mut self) {
        let keep = self.limits.max_file;
        if keep > 1 {
            let _ = std::fs::remove_file(rotated_path(&self.path, keep - 1));
            for n in (1..keep - 1).rev() {
                let _ =
                    std::fs::rename(rotated_path(&self.path, n), rotated_path(&self.path, n + 1));
            }
            let _ = std::fs::rename(&self.path, rotated_path(&self.path, 1));
        }
        let reopened = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path);
        if let Ok(f) = reopened {
            self.file = Some(f);
            self.size = 0;
        }
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
        if self.file.is_none() {
            return;
        }
        let now = Utc::now();
        let encoded = match self.limits.format {
            LogFormat::JsonFile => serde_json::to_vec(&Entry {
                log: String::from_utf8_lossy(line).into_owned(),
                stream: stream.name().into(),
                time: now.to_rfc3339_opts(SecondsFormat::Nanos, true),
            })
            .ok(),
            LogFormat::Local => Some(local_line(now, stream, line)),
        };
        if let Some(mut bytes) = encoded {
            bytes.push(b'\n');
            if self.size > 0 && self.size + bytes.len() as u64 > self.limits.max_size {
                self.rotate();
            }
            // A full disk loses log lines, never the container.
            if let Some(f) = self.file.as_mut()
                && f.write_all(&bytes).is_ok()
            {
                self.size += bytes.len() as u64;
            }
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

/// One entry in the local format, without its final newline.
fn local_line(at: DateTime<Utc>, stream: Stream, text: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{} {} ",
        at.timestamp_nanos_opt().unwrap_or(0),
        match stream {
            Stream::Stdout => 'o',
            Stream::Stderr => 'e',
        }
    )
    .into_bytes();
    for &b in String::from_utf8_lossy(text).as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
    out
}

/// A local-format line read back.
fn parse_local(line: &str) -> Option<(LogLine, DateTime<Utc>)> {
    let (nanos, rest) = line.split_once(' ')?;
    let (stream, escaped) = rest.split_once(' ').unwrap_or((rest, ""));
    let at = DateTime::from_timestamp_nanos(nanos.parse().ok()?);
    let stream = match stream {
        "e" => Stream::Stderr,
        "o" => Stream::Stdout,
        _ => return None,
    };
    let mut text = String::with_capacity(escaped.len());
    let mut chars = escaped.trim_end_matches('\n').chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => text.push('\n'),
                Some('r') => text.push('\r'),
                Some(other) => text.push(other),
                None => {}
            },
            (c, false) => text.push(c),
        }
    }
    Some((
        LogLine {
            stream,
            time: at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            text,
        },
        at,
    ))
}

fn parse(line: &str) -> Option<(LogLine, DateTime<Utc>)> {
    if line.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_local(line);
    }
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

/// The time of a log line, read without parsing the whole entry (the
/// `"time"` field is last in every line berth writes).
fn line_time(line: &str) -> Option<DateTime<Utc>> {
    if line.starts_with(|c: char| c.is_ascii_digit()) {
        let nanos = line.split(' ').next()?.parse().ok()?;
        return Some(DateTime::from_timestamp_nanos(nanos));
    }
    let at = line.rfind("\"time\":\"")? + 8;
    let end = at + line[at..].find('"')?;
    DateTime::parse_from_rfc3339(&line[at..end])
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The offset of the first line of `file` (of `len` bytes) whose time is at
/// or after `since`: a bisection over byte offsets, each probe moved to the
/// start of the next line, so `--since` costs a few reads on any size.
fn seek_since(file: &mut File, len: u64, since: DateTime<Utc>) -> std::io::Result<u64> {
    let line_at = |file: &mut File, pos: u64| -> std::io::Result<Option<(u64, DateTime<Utc>)>> {
        file.seek(SeekFrom::Start(pos))?;
        let mut r = BufReader::new(&mut *file);
        let mut skipped = 0u64;
        let mut line = String::new();
        if pos > 0 {
            skipped = r.read_line(&mut line)? as u64;
            line.clear();
        }
        let n = r.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(None);
        }
        Ok(line_time(&line).map(|t| (pos + skipped, t)))
    };
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match line_at(file, mid)? {
            Some((start, t)) if t < since => lo = start.max(mid) + 1,
            _ => hi = mid,
        }
    }
    // `lo` may sit inside a line: start at the next line (or 0).
    match lo {
        0 => Ok(0),
        _ => Ok(line_at(file, lo - 1)?.map_or(len, |(start, _)| start)),
    }
}

/// The last `n` complete lines of the files (oldest first), read backwards
/// from the end in blocks, so `--tail` costs what it shows.
fn last_lines(files: &[std::path::PathBuf], n: usize) -> std::io::Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for path in files.iter().rev() {
        let Ok(mut f) = File::open(path) else {
            continue;
        };
        let mut end = f.metadata()?.len();
        let mut carry: Vec<u8> = Vec::new();
        let mut found: Vec<String> = Vec::new();
        while end > 0 && lines.len() + found.len() < n {
            let start = end.saturating_sub(64 * 1024);
            let mut block = vec![0u8; (end - start) as usize];
            f.seek(SeekFrom::Start(start))?;
            std::io::Read::read_exact(&mut f, &mut block)?;
            block.extend_from_slice(&carry);
            let mut parts: Vec<&[u8]> = block.split(|b| *b == b'\n').collect();
            // The first part may be cut: it waits for the block before.
            carry = if start > 0 {
                parts.remove(0).to_vec()
            } else {
                Vec::new()
            };
            for p in parts.iter().rev() {
                if !p.is_empty() && lines.len() + found.len() < n {
                    found.push(format!("{}\n", String::from_utf8_lossy(p)));
                }
            }
            end = start;
        }
        found.reverse();
        found.append(&mut lines);
        lines = found;
        if lines.len() >= n {
            break;
        }
    }
    Ok(lines)
}

/// Reads the log (its rotated files too, oldest first), calling `emit` for
/// each entry that passes `opts`; with `follow`, keeps reading new entries
/// for as long as it returns true.
pub fn read(
    path: &Path,
    opts: &LogsOptions,
    follow: Option<&dyn Fn() -> bool>,
    emit: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
) -> Result<(), Error> {
    let files = log_files(path);
    let keep = |at: &DateTime<Utc>| {
        opts.since.is_none_or(|s| *at >= s) && opts.until.is_none_or(|u| *at < u)
    };
    match (opts.tail, opts.until) {
        // Entries are in time order, so those since a time are a suffix of
        // the log, and its last N are among the log's last N lines.
        (Some(n), None) => {
            for line in last_lines(&files, n).map_err(Error::io(path))? {
                if let Some((l, at)) = parse(&line)
                    && keep(&at)
                    && emit(&l).is_err()
                {
                    return Ok(());
                }
            }
        }
        _ => {
            // A bounded window for --tail with a time filter.
            let mut window = std::collections::VecDeque::new();
            'files: for f in &files {
                let Ok(mut file) = File::open(f) else {
                    continue;
                };
                let len = file.metadata().map_err(Error::io(f))?.len();
                let start = match opts.since {
                    Some(since) => seek_since(&mut file, len, since).map_err(Error::io(f))?,
                    None => 0,
                };
                file.seek(SeekFrom::Start(start)).map_err(Error::io(f))?;
                let mut reader = BufReader::new(file);
                let mut line = String::new();
                loop {
                    line.clear();
                    let n = reader.read_line(&mut line).map_err(Error::io(f))?;
                    if n == 0 || !line.ends_with('\n') {
                        break;
                    }
                    let Some((l, at)) = parse(&line) else {
                        continue;
                    };
                    if opts.until.is_some_and(|u| at >= u) {
                        break 'files;
                    }
                    if !keep(&at) {
                        continue;
                    }
                    match opts.tail {
                        Some(t) => {
                            window.push_back(l);
                            if window.len() > t {
                                window.pop_front();
                            }
                        }
                        None => {
                            if emit(&l).is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            for l in &window {
                if emit(l).is_err() {
                    return Ok(());
                }
            }
        }
    }
    let Some(still_running) = follow else {
        return Ok(());
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Err(Error::io(path)(e)),
    };
    let mut pos = file.metadata().map_err(Error::io(path))?.len();
    let mut line = String::new();
    loop {
        let running = still_running();
        // Rotated under us (a shorter file under the name): the new file is
        // read from its start. A log gone with its container is not one.
        if std::fs::metadata(path).is_ok_and(|m| m.len() < pos)
            && let Ok(f) = File::open(path)
        {
            file = f;
            pos = 0;
        }
        file.seek(SeekFrom::Start(pos)).map_err(Error::io(path))?;
        let mut reader = BufReader::new(&mut file);
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
        let mut w = LogWriter::open(&path, LogLimits::default()).unwrap();
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

    /// The local format: compact lines that read back as json-file's do,
    /// escapes and all, with `--tail` and `--since` working on them.
    #[test]
    fn local_format_is_compact_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-local.log");
        let limits = LogLimits::from_opts_as(LogFormat::Local, []).unwrap();
        let mut w = LogWriter::open(&path, limits).unwrap();
        w.write(Stream::Stdout, b"one\\two\r\n");
        w.write(Stream::Stderr, b"err\n");
        let half = Utc::now();
        std::thread::sleep(Duration::from_millis(2));
        w.write(Stream::Stdout, b"three\n");
        w.flush_partial();
        let raw = std::fs::read_to_string(&path).unwrap();
        let first = raw.lines().next().unwrap();
        assert!(first.ends_with(" o one\\\\two\\r\\n"), "{first}");
        assert!(first.len() < 40, "compact: {first}");
        let all = |opts: &LogsOptions| {
            let mut got = Vec::new();
            read(&path, opts, None, &mut |l| {
                got.push((l.stream, l.text.clone()));
                Ok(())
            })
            .unwrap();
            got
        };
        assert_eq!(
            all(&LogsOptions::default()),
            vec![
                (Stream::Stdout, "one\\two\r\n".to_string()),
                (Stream::Stderr, "err\n".to_string()),
                (Stream::Stdout, "three\n".to_string()),
            ]
        );
        let tail = LogsOptions {
            tail: Some(1),
            ..Default::default()
        };
        assert_eq!(all(&tail), vec![(Stream::Stdout, "three\n".to_string())]);
        let since = LogsOptions {
            since: Some(half),
            ..Default::default()
        };
        assert_eq!(all(&since), vec![(Stream::Stdout, "three\n".to_string())]);
        assert!(LogLimits::from_opts_as(LogFormat::Local, [("compress", "true")]).is_err());
    }

    #[test]
    fn rotation_keeps_max_file_files_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let limits = LogLimits {
            max_size: 1000,
            max_file: 3,
            format: LogFormat::JsonFile,
        };
        let mut w = LogWriter::open(&path, limits).unwrap();
        for i in 0..200 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let files = log_files(&path);
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 1000, "{f:?}");
        }
        let mut got = Vec::new();
        read(&path, &LogsOptions::default(), None, &mut |l| {
            got.push(l.text.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(got.last().map(String::as_str), Some("line 199\n"));
        let first: usize = got[0].trim().trim_start_matches("line ").parse().unwrap();
        assert_eq!(got.len(), 200 - first, "contiguous, oldest first");
        // --tail across files, read backwards.
        let mut tail = Vec::new();
        let opts = LogsOptions {
            tail: Some(got.len() - 2),
            ..Default::default()
        };
        read(&path, &opts, None, &mut |l| {
            tail.push(l.text.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(tail, got[2..].to_vec());
        // --since by bisection: an entry's own time finds it and what follows.
        let mut times = Vec::new();
        read(&path, &LogsOptions::default(), None, &mut |l| {
            times.push(l.time.clone());
            Ok(())
        })
        .unwrap();
        let mid = times.len() / 2;
        let since = DateTime::parse_from_rfc3339(&times[mid])
            .unwrap()
            .with_timezone(&Utc);
        let mut after = Vec::new();
        let opts = LogsOptions {
            since: Some(since),
            ..Default::default()
        };
        read(&path, &opts, None, &mut |l| {
            after.push(l.text.clone());
            Ok(())
        })
        .unwrap();
        let expected: Vec<String> = got
            .iter()
            .zip(&times)
            .filter(|(_, t)| DateTime::parse_from_rfc3339(t).unwrap() >= since)
            .map(|(g, _)| g.clone())
            .collect();
        assert_eq!(after, expected);
        // --since with --tail: the last of what is since.
        let mut both = Vec::new();
        let opts = LogsOptions {
            since: Some(since),
            tail: Some(3),
            ..Default::default()
        };
        read(&path, &opts, None, &mut |l| {
            both.push(l.text.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(both, expected[expected.len() - 3..].to_vec());
    }

    #[test]
    fn log_opts_parse_and_refuse() {
        let l = LogLimits::from_opts([("max-size", "10m"), ("max-file", "3")]).unwrap();
        assert_eq!((l.max_size, l.max_file), (10_000_000, 3));
        assert_eq!(LogLimits::from_opts([]).unwrap(), LogLimits::default());
        for bad in [
            ("max-size", "x"),
            ("max-size", "0"),
            ("max-file", "0"),
            ("mode", "x"),
        ] {
            assert!(LogLimits::from_opts([bad]).is_err(), "{bad:?}");
        }
    }
}
