//! Where credentials and registry settings live.
//!
//! Credentials are docker's: `~/.docker/config.json` (or `$DOCKER_CONFIG`), with
//! `auths` (base64 `user:password`), `credsStore` and `credHelpers` naming
//! `docker-credential-*` helpers. So `docker login` and `berth login` share them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value, json};

use crate::Error;
use crate::auth::{Credentials, decode_basic, encode_basic};

/// The key Docker Hub's credentials are stored under (docker's historical one).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The config.json key for a registry domain.
pub fn server_key(domain: &str) -> String {
    match domain {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_string(),
    }
}

/// docker's client config file, read and written as JSON so that keys berth does
/// not know survive a `berth login`.
#[derive(Debug)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".docker")
                .join("config.json"),
        }
    }

    /// Reads the file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<DockerConfig, Error> {
        let doc = match std::fs::read(path) {
            Ok(raw) if raw.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(raw) => serde_json::from_slice(&raw).map_err(|e| {
                Error::Credentials(format!("{} is not valid JSON: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(Error::Credentials(format!(
                    "reading {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(DockerConfig {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// The file this config is read from and written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper that holds credentials for `key`: `credHelpers` first, then
    /// `credsStore`.
    fn helper(&self, key: &str) -> Option<String> {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let host = host.split('/').next().unwrap_or(host);
        self.doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|h| h.get(key).or_else(|| h.get(host)))
            .or_else(|| self.doc.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The stored credentials for a registry domain.
    pub fn credentials(&self, domain: &str) -> Result<Option<Credentials>, Error> {
        let key = server_key(domain);
        if let Some(helper) = self.helper(&key) {
            return helper_get(&helper, &key);
        }
        let Some(entry) = self
            .doc
            .get("auths")
            .and_then(Value::as_object)
            .and_then(|a| {
                a.get(&key)
                    .or_else(|| a.get(&format!("https://{key}")))
                    .or_else(|| a.get(&format!("http://{key}")))
            })
        else {
            return Ok(None);
        };
        if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
            return match decode_basic(auth) {
                Some(c) => Ok(Some(c)),
                None => Err(Error::Credentials(format!(
                    "{}: the stored auth for {key} is not base64 of user:password",
                    self.path.display()
                ))),
            };
        }
        match (
            entry.get("username").and_then(Value::as_str),
            entry.get("password").and_then(Value::as_str),
        ) {
            (Some(u), Some(p)) => Ok(Some(Credentials {
                username: u.to_string(),
                secret: p.to_string(),
            })),
            _ => Ok(None),
        }
    }

    /// Stores credentials (through the helper when one is configured).
    pub fn store(&mut self, domain: &str, creds: &Credentials) -> Result<(), Error> {
        let key = server_key(domain);
        if let Some(helper) = self.helper(&key) {
            let input =
                json!({"ServerURL": key, "Username": creds.username, "Secret": creds.secret});
            helper_run(&helper, "store", &input.to_string())?;
            // docker leaves an empty entry so the server shows up as logged in.
            self.auths().insert(key, json!({}));
        } else {
            self.auths().insert(
                key,
                json!({"auth": encode_basic(&creds.username, &creds.secret)}),
            );
        }
        self.save()
    }

    /// Removes the credentials for a domain; false when there were none.
    pub fn erase(&mut self, domain: &str) -> Result<bool, Error> {
        let key = server_key(domain);
        let mut found = self.auths().remove(&key).is_some();
        if let Some(helper) = self.helper(&key) {
            found |= helper_run(&helper, "erase", &key).is_ok();
        }
        if found {
            self.save()?;
        }
        Ok(found)
    }

    fn auths(&mut self) -> &mut Map<String, Value> {
        let entry = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => m,
            _ => unreachable!("just made an object"),
        }
    }

    /// Writes the file atomically, readable by its owner only (it holds secrets).
    fn save(&self) -> Result<(), Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let fail =
            |e: std::io::Error| Error::Credentials(format!("writing {}: {e}", self.path.display()));
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(&self.doc)
            .map_err(|e| Error::Credentials(e.to_string()))?;
        text.push('\n');
        let mut f = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin.
fn helper_run(helper: &str, action: &str, input: &str) -> Result<Vec<u8>, Error> {
    let program = format!("docker-credential-{helper}");
    let fail = |why: String| Error::Credentials(format!("{program} {action}: {why}"));
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(if out.stdout.is_empty() {
            &out.stderr
        } else {
            &out.stdout
        })
        .trim()
        .to_string();
        return Err(fail(msg));
    }
    Ok(out.stdout)
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>, Error> {
    let out = match helper_run(helper, "get", key) {
        Ok(out) => out,
        Err(Error::Credentials(msg)) if msg.contains("credentials not found") => return Ok(None),
        Err(e) => return Err(e),
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        username: String,
        secret: String,
    }
    let reply: Reply = serde_json::from_slice(&out).map_err(|e| {
        Error::Credentials(format!("docker-credential-{helper} get: bad reply: {e}"))
    })?;
    Ok(Some(Credentials {
        username: reply.username,
        secret: reply.secret,
    }))
}

/// berth's registry settings, in the words of docker's daemon.json so that a
/// copied file works (the CLI reads them from its settings file).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RegistryConfig {
    /// Registries reached over plain HTTP or unverified TLS (`host[:port]`, or a
    /// CIDR such as `10.0.0.0/8`).
    pub insecure_registries: Vec<String>,
    /// Mirrors tried before Docker Hub for docker.io images.
    pub registry_mirrors: Vec<String>,
    /// Layers downloaded at once by a pull.
    pub max_concurrent_downloads: Option<usize>,
    /// Layers uploaded at once by a push.
    pub max_concurrent_uploads: Option<usize>,
    /// Where `HOST/ca.crt` files are looked for, besides /etc/docker/certs.d.
    pub certs_dir: Option<PathBuf>,
    /// Seconds a request may wait for the server before it is retried.
    pub timeout: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_keeps_other_keys_and_logout_removes_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"psFormat":"table {{.ID}}","auths":{"other:5000":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let mut cfg = DockerConfig::load(&path).unwrap();
        let creds = Credentials {
            username: "haochen".into(),
            secret: "s3cret".into(),
        };
        cfg.store("docker.io", &creds).unwrap();
        let again = DockerConfig::load(&path).unwrap();
        assert_eq!(again.credentials("docker.io").unwrap(), Some(creds));
        assert_eq!(
            again.credentials("other:5000").unwrap().unwrap().username,
            "u"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("psFormat") && text.contains(DOCKER_HUB_KEY));
        let mut cfg = again;
        assert!(cfg.erase("docker.io").unwrap());
        assert!(!cfg.erase("docker.io").unwrap());
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("docker.io")
                .unwrap(),
            None
        );
    }
}
