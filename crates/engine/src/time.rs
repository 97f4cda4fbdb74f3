//! Times and sizes as Docker shows them.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, as RFC 3339 with nanoseconds, as Docker writes `created`.
pub fn rfc3339_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parses an RFC 3339 time into seconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// "2 hours", "About a minute", as Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..60 => format!("{s} seconds"),
        60..120 => "About a minute".to_string(),
        120..3600 => plural(s / 60, "minute"),
        3600..7200 => "About an hour".to_string(),
        _ => {
            let hours = s / 3600;
            if hours < 48 {
                plural(hours, "hour")
            } else if hours < 24 * 7 * 2 {
                plural(hours / 24, "day")
            } else if hours < 24 * 30 * 2 {
                plural(hours / 24 / 7, "week")
            } else if hours < 24 * 365 * 2 {
                plural(hours / 24 / 30, "month")
            } else {
                plural(hours / 24 / 365, "year")
            }
        }
    }
}

/// "4.26MB": decimal units with three significant digits, as the Docker CLI's
/// tables (`units.HumanSizeWithPrecision(size, 3)`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", three_significant(v), UNITS[i])
}

/// Go's `units.BytesSize`: binary units, four significant digits (`23.47GiB`).
pub fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    let digits = match v {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let n = format!("{v:.digits$}");
    let n = if n.contains('.') {
        n.trim_end_matches('0').trim_end_matches('.')
    } else {
        &n
    };
    format!("{n}{}", units[i])
}

/// Go's `%.3g` for values below 1000 (without its switch to exponents).
fn three_significant(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_reads_like_docker_info() {
        assert_eq!(super::binary_size(25_300_000_000), "23.56GiB");
        assert_eq!(super::binary_size(1 << 30), "1GiB");
        assert_eq!(super::binary_size(512), "512B");
    }

    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(532), "532B");
        assert_eq!(human_size(1240), "1.24kB");
        assert_eq!(human_size(4_264_000), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(1_000_000_000), "1GB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
