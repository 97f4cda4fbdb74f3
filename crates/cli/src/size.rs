//! Sizes as users write them, in docker's `RAMInBytes` sense: `4096`, `64k`,
//! `512m`, `1.5g`, `500MB`, `1GiB` — k, m, g and t are binary multiples with
//! or without a trailing `b` or `ib`, as docker reads `--memory 512MB`.

/// A size flag's value (`--memory 64m`) as the engine takes it: clap
/// refuses a bad one, with docker's 125.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let bytes = parse_size(s)?;
    i64::try_from(bytes).map_err(|_| format!("invalid size {s:?}: too large"))
}

/// `--memory-swappiness`: 0 to 100, or -1 for the kernel's own (docker
/// checks it on the command line, so a bad one is a 125).
pub fn parse_swappiness(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if (-1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid value: {s}. Valid memory swappiness range is 0-100"
        )),
    }
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_swap(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    parse_bytes(s)
}

/// A duration as docker takes one (`30s`, `1m30s`, `500ms`), in nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    berth_engine::parse_duration(s).ok_or_else(|| format!("time: invalid duration \"{s}\""))
}

/// Parses a size in bytes; the error says what was expected.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let invalid = || format!("invalid size {s:?}: expected e.g. 4096, 512m, 500MB, 1GiB");
    let num = num.trim();
    if num.is_empty() {
        return Err(invalid());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(1u64 << shift)
            .ok_or_else(|| format!("invalid size {s:?}: too large"));
    }
    let n: f64 = num.parse().map_err(|_| invalid())?;
    if !n.is_finite() || n < 0.0 {
        return Err(invalid());
    }
    let bytes = n * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("invalid size {s:?}: too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_docker_reads_them() {
        for (text, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("64k", 64 << 10),
            ("512m", 512 << 20),
            ("500MB", 500 << 20),
            ("1GiB", 1 << 30),
            ("1gb", 1 << 30),
            ("1.5g", 3 << 29),
            ("2T", 2 << 40),
            (" 8 MiB ", 8 << 20),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "MB", "-1", "1x", "1.2.3g", "nan", "99999999999t"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_size("lots").unwrap_err(),
            "invalid size \"lots\": expected e.g. 4096, 512m, 500MB, 1GiB"
        );
    }
}
