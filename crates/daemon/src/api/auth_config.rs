//! Docker's `AuthConfig`: the body of `POST /auth`, and the registry
//! credentials clients send in headers: `X-Registry-Auth` (one, with a pull
//! or push) and `X-Registry-Config` (one per registry, with a build).

use std::collections::BTreeMap;

use berth_oci::auth::Credentials;
use hyper::Request;
use hyper::body::Incoming;

use super::ApiError;

/// One registry's credentials in docker's words.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct AuthConfig {
    pub(super) username: String,
    pub(super) password: String,
    /// base64 of `user:password`, as in a config.json.
    pub(super) auth: String,
    pub(super) serveraddress: String,
    pub(super) identitytoken: String,
}

impl AuthConfig {
    /// The credentials it carries; an empty config (`{}`, what clients send
    /// without a login) carries none.
    pub(super) fn credentials(self) -> Option<Credentials> {
        if !self.identitytoken.is_empty() {
            // A refresh token goes to the registry under docker's fixed name.
            return Some(Credentials {
                username: "<token>".into(),
                secret: self.identitytoken,
            });
        }
        if !self.username.is_empty() && !self.password.is_empty() {
            return Some(Credentials {
                username: self.username,
                secret: self.password,
            });
        }
        if !self.auth.is_empty() {
            return berth_oci::auth::decode_basic(&self.auth);
        }
        None
    }
}

/// `X-Registry-Auth`: base64url JSON of one [`AuthConfig`] (the standard
/// alphabet and missing padding accepted too).
pub(super) fn registry_auth(req: &Request<Incoming>) -> Result<Option<Credentials>, ApiError> {
    let Some(bytes) = header_json(req, "x-registry-auth")? else {
        return Ok(None);
    };
    let c: AuthConfig = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("X-Registry-Auth: {e}")))?;
    Ok(c.credentials())
}

/// `X-Registry-Config`: base64url JSON of registry → [`AuthConfig`], what
/// `docker build` sends from the client's config.json so that FROM can pull
/// from private registries. Keys are normalized to host names (Docker Hub's
/// `https://index.docker.io/v1/` is `docker.io`).
pub(super) fn registry_config(
    req: &Request<Incoming>,
) -> Result<BTreeMap<String, Credentials>, ApiError> {
    let Some(bytes) = header_json(req, "x-registry-config")? else {
        return Ok(BTreeMap::new());
    };
    let all: BTreeMap<String, AuthConfig> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("X-Registry-Config: {e}")))?;
    Ok(all
        .into_iter()
        .filter_map(|(server, c)| Some((registry_host(&server), c.credentials()?)))
        .collect())
}

/// The registry host a config.json key names: `https://host/v1/` is `host`,
/// and Docker Hub's index names are `docker.io`, as references spell it.
fn registry_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// A header's base64 JSON, decoded; `None` when absent or empty.
fn header_json(req: &Request<Incoming>, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
    use base64::Engine as _;
    let Some(raw) = req
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let unpadded = raw.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(unpadded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded))
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("{name} is not base64")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_become_hosts_and_configs_credentials() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("https://r.example/v2/"), "r.example");
        let c = AuthConfig {
            auth: "YWxpY2U6d29uZGVybGFuZA==".into(),
            ..Default::default()
        };
        let c = c.credentials().unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("alice", "wonderland")
        );
        assert!(AuthConfig::default().credentials().is_none());
    }
}
