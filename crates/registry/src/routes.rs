//! Which endpoint a request path names.
//!
//! The path is matched as sent, never percent-decoded: a repository name must
//! match the spec's grammar exactly (lowercase, no empty or dot components),
//! so `%2e%2e`, `//`, `..` and capital letters simply name nothing, and the
//! repository that authorization checks is the one the handler serves.

use berth_oci::reference::valid_repository_path;

/// An endpoint and its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(String),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(String, String),
    /// `/v2/<name>/blobs/<digest>`
    Blob(String, String),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(String),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(String, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(String, String),
    /// `/v1/search`
    Search,
    /// `/token`: the token service.
    Token,
    /// `/metrics`
    Metrics,
    /// `/v2/...` that names no endpoint, or names one with an invalid repository.
    InvalidName,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Parses a request path.
    pub fn parse(path: &str) -> Route {
        match path {
            "/v2" | "/v2/" => return Route::Base,
            "/v2/_catalog" => return Route::Catalog,
            "/v1/search" => return Route::Search,
            "/token" => return Route::Token,
            "/metrics" => return Route::Metrics,
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Route::NotFound;
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name = |upto: usize| -> Option<String> {
            let name = segs[..upto].join("/");
            valid_repository_path(&name).then_some(name)
        };
        let last = segs[n - 1].to_string();
        let route = if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
            name(n - 2).map(Route::Tags)
        } else if n >= 3 && segs[n - 2] == "manifests" {
            name(n - 2).map(|r| Route::Manifest(r, last))
        } else if n >= 3 && segs[n - 2] == "referrers" {
            name(n - 2).map(|r| Route::Referrers(r, last))
        } else if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            if last.is_empty() {
                name(n - 3).map(Route::UploadStart)
            } else {
                name(n - 3).map(|r| Route::Upload(r, last))
            }
        } else if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
            name(n - 2).map(Route::UploadStart)
        } else if n >= 3 && segs[n - 2] == "blobs" {
            name(n - 2).map(|r| Route::Blob(r, last))
        } else {
            return Route::NotFound;
        };
        route.unwrap_or(Route::InvalidName)
    }

    /// The repository the route acts on.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::UploadStart(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
            _ => None,
        }
    }

    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags(..) => "tags",
            Route::Manifest(..) => "manifest",
            Route::Blob(..) => "blob",
            Route::UploadStart(..) | Route::Upload(..) => "upload",
            Route::Referrers(..) => "referrers",
            Route::Search => "search",
            Route::Token => "token",
            Route::Metrics => "metrics",
            Route::InvalidName | Route::NotFound => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Route::{self, *};

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn endpoints() {
        assert_eq!(Route::parse("/v2/"), Base);
        assert_eq!(Route::parse("/v2/a/b/tags/list"), Tags(s("a/b")));
        assert_eq!(
            Route::parse("/v2/a/manifests/latest"),
            Manifest(s("a"), s("latest"))
        );
        assert_eq!(
            Route::parse("/v2/x/manifests/y/manifests/v1"),
            Manifest(s("x/manifests/y"), s("v1"))
        );
        assert_eq!(Route::parse("/v2/a/blobs/uploads/"), UploadStart(s("a")));
        assert_eq!(Route::parse("/v2/a/blobs/uploads"), UploadStart(s("a")));
        assert_eq!(
            Route::parse("/v2/a/blobs/uploads/abc"),
            Upload(s("a"), s("abc"))
        );
        assert_eq!(
            Route::parse("/v2/a/blobs/sha256:00"),
            Blob(s("a"), s("sha256:00"))
        );
        assert_eq!(
            Route::parse("/v2/a/referrers/sha256:00"),
            Referrers(s("a"), s("sha256:00"))
        );
    }

    #[test]
    fn path_tricks_name_nothing() {
        for bad in [
            "/v2/A/manifests/x",
            "/v2//a/manifests/x",
            "/v2/a//b/manifests/x",
            "/v2/../a/manifests/x",
            "/v2/a/../b/manifests/x",
            "/v2/a%2fb/manifests/x",
            "/v2/%61/manifests/x",
            "/v2/a./manifests/x",
        ] {
            assert_eq!(Route::parse(bad), InvalidName, "{bad}");
        }
        assert_eq!(Route::parse("/V2/a/manifests/x"), NotFound);
        assert_eq!(Route::parse("/v2/a/unknown"), NotFound);
    }
}
