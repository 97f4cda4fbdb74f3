//! API versions: the `/vX.Y` path prefix and what this daemon supports.

use hyper::StatusCode;

use super::ApiError;

/// An API version, `1.47`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u16, pub u16);

impl ApiVersion {
    /// Whether this version is at least `major.minor`.
    pub fn at_least(&self, major: u16, minor: u16) -> bool {
        *self >= ApiVersion(major, minor)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// The newest version this daemon speaks: docker 29 clients refuse daemons
/// below 1.44; 1.47 is docker 27's.
pub const MAX_VERSION: ApiVersion = ApiVersion(1, 47);
/// [`MAX_VERSION`] as text, for headers.
pub const MAX_VERSION_TEXT: &str = "1.47";
/// The oldest it accepts (dockerd's minimum).
pub const MIN_VERSION: ApiVersion = ApiVersion(1, 24);
/// What an unversioned path means.
pub const DEFAULT_VERSION: ApiVersion = MAX_VERSION;

/// Splits `/v1.41/containers/json` into the rest and the version asked for
/// (`None` when unversioned); a version outside the supported range is
/// dockerd's 400.
pub fn split(path: &str) -> (&str, Result<Option<ApiVersion>, ApiError>) {
    let Some(after) = path.strip_prefix("/v") else {
        return (path, Ok(None));
    };
    let (v, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let parsed = v
        .split_once('.')
        .and_then(|(a, b)| Some(ApiVersion(a.parse().ok()?, b.parse().ok()?)));
    let Some(asked) = parsed else {
        return (path, Ok(None));
    };
    if asked > MAX_VERSION {
        let message = format!(
            "client version {v} is too new. Maximum supported API version is {MAX_VERSION}"
        );
        return (rest, Err(ApiError::new(StatusCode::BAD_REQUEST, message)));
    }
    if asked < MIN_VERSION {
        let message = format!(
            "client version {v} is too old. Minimum supported API version is {MIN_VERSION}, please upgrade your client to a newer version"
        );
        return (rest, Err(ApiError::new(StatusCode::BAD_REQUEST, message)));
    }
    (rest, Ok(Some(asked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_and_checked() {
        assert_eq!(MAX_VERSION.to_string(), MAX_VERSION_TEXT);
        let (rest, v) = split("/v1.41/containers/json");
        assert_eq!(rest, "/containers/json");
        let v = v.unwrap().unwrap();
        assert!(v.at_least(1, 41) && !v.at_least(1, 42));
        let (rest, v) = split("/_ping");
        assert_eq!((rest, v.unwrap()), ("/_ping", None));
        let (rest, v) = split("/v1.47/_ping");
        assert_eq!((rest, v.unwrap()), ("/_ping", Some(ApiVersion(1, 47))));
        let (_, v) = split("/v1.99/version");
        let e = v.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("too new"), "{}", e.message);
        let (_, v) = split("/v1.12/version");
        assert!(v.unwrap_err().message.contains("too old"));
        // Not a version: an ordinary path.
        let (rest, v) = split("/volumes/x");
        assert_eq!((rest, v.unwrap()), ("/volumes/x", None));
    }
}
