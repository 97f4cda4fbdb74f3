//! Who a request comes from and what it may do.
//!
//! Three modes: anonymous (everyone may do everything, the reference
//! registry's default), htpasswd basic auth, and Docker token auth with tokens
//! this server issues itself at `/token` (ES256 JWTs carrying the granted
//! `access`, the claim set of Docker's token spec). In both authenticated
//! modes the ACL of the config file says which account may do what where.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::config::{AclEntry, Config};

/// Errors met while setting up authentication.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The htpasswd file cannot be read or has a bad line.
    #[error("htpasswd file {path}: {reason}")]
    Htpasswd {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The token signing key cannot be used.
    #[error("token key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Token auth needs its realm.
    #[error("token auth needs a realm (--token-realm), the URL clients fetch tokens from")]
    NoRealm,
}

/// An action on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Write manifests and blobs.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Action {
    /// The word in scopes and ACLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn parse_list<'a>(words: impl IntoIterator<Item = &'a str>) -> BTreeSet<Action> {
        let mut out = BTreeSet::new();
        for w in words {
            match w.trim() {
                "pull" => {
                    out.insert(Action::Pull);
                }
                "push" => {
                    out.insert(Action::Push);
                }
                "delete" => {
                    out.insert(Action::Delete);
                }
                "*" => out.extend([Action::Pull, Action::Push, Action::Delete]),
                _ => {}
            }
        }
        out
    }
}

/// Credentials were sent and are wrong (or not basic auth at all).
#[derive(Debug, Clone, Copy)]
pub struct BadCredentials;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credentials.
    Anonymous,
    /// An account of the htpasswd file.
    User(String),
}

impl Identity {
    /// The account name for logs; empty when anonymous.
    pub fn name(&self) -> &str {
        match self {
            Identity::Anonymous => "",
            Identity::User(u) => u,
        }
    }
}

/// One grant of a token: `{"type":"repository","name":"a/b","actions":["pull"]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Grant {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository (or `catalog`).
    pub name: String,
    /// The actions granted.
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    #[serde(default)]
    access: Vec<Grant>,
}

/// What a verified bearer token carries.
#[derive(Debug, Clone)]
pub struct TokenAccess {
    /// The account it was issued to.
    pub identity: Identity,
    /// What it grants.
    pub grants: Vec<Grant>,
}

impl TokenAccess {
    /// Whether the token grants `action` on repository `name`.
    pub fn allows(&self, name: &str, action: Action) -> bool {
        self.grants.iter().any(|g| {
            g.kind == "repository"
                && g.name == name
                && g.actions.iter().any(|a| a == action.as_str() || a == "*")
        })
    }
}

/// Token auth settings.
pub struct TokenService {
    /// Where clients fetch tokens (the challenge's realm).
    pub realm: String,
    /// The `iss` of the tokens.
    pub issuer: String,
    /// The `aud` of the tokens, the challenge's service.
    pub service: String,
    /// Token lifetime.
    pub expiration: Duration,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// How requests are authenticated.
pub enum Mode {
    /// No authentication.
    Anonymous,
    /// `Authorization: Basic` checked against htpasswd.
    Basic,
    /// Bearer tokens from `/token`.
    Token(Box<TokenService>),
}

/// The authenticator: users, ACL, mode.
pub struct Auth {
    /// The mode.
    pub mode: Mode,
    users: HashMap<String, String>,
    /// ACL entries with their actions parsed once.
    acl: Vec<(AclEntry, BTreeSet<Action>)>,
    /// bcrypt takes ~50 ms by design; a client sending basic auth with every
    /// request would pay it each time. Verified (user, password) pairs are
    /// remembered by their sha256 for a few minutes.
    verified: Mutex<HashMap<berth_oci::Digest, Instant>>,
}

const VERIFIED_FOR: Duration = Duration::from_secs(300);

impl Auth {
    /// Sets up authentication from the config.
    pub fn new(config: &Config) -> Result<Auth, AuthError> {
        let users = match &config.auth.htpasswd {
            Some(p) => read_htpasswd(p)?,
            None => HashMap::new(),
        };
        let mode = match &config.auth.token {
            Some(t) => {
                let realm = t.realm.clone().ok_or(AuthError::NoRealm)?;
                let pair =
                    match &t.key {
                        Some(path) => load_key(path)?,
                        None => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(
                            |e| AuthError::Key {
                                path: "(generated)".into(),
                                reason: e.to_string(),
                            },
                        )?,
                    };
                let key_err = |reason: String| AuthError::Key {
                    path: t
                        .key
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    reason,
                };
                let pkcs8 = pair.to_pkcs8v1().map_err(|e| key_err(e.to_string()))?;
                let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
                let decoding = DecodingKey::from_ec_der(pair.public_key().as_ref());
                let issuer = t.issuer.clone().unwrap_or_else(|| "berth-registry".into());
                let service = t.service.clone().unwrap_or_else(|| "berth-registry".into());
                let mut validation = Validation::new(Algorithm::ES256);
                validation.set_issuer(&[&issuer]);
                validation.set_audience(&[&service]);
                validation.leeway = 30;
                Mode::Token(Box::new(TokenService {
                    realm,
                    issuer,
                    service,
                    expiration: Duration::from_secs(t.expiration.unwrap_or(300)),
                    encoding,
                    decoding,
                    validation,
                }))
            }
            None if config.auth.htpasswd.is_some() => Mode::Basic,
            None => Mode::Anonymous,
        };
        Ok(Auth {
            mode,
            users,
            acl: config
                .acl
                .iter()
                .map(|e| {
                    (
                        e.clone(),
                        Action::parse_list(e.actions.iter().map(String::as_str)),
                    )
                })
                .collect(),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `user:password`; None when they are wrong.
    pub fn login(&self, username: &str, password: &str) -> Option<Identity> {
        let hash = self.users.get(username)?;
        let key = berth_oci::Digest::of(format!("{username}\0{password}\0{hash}").as_bytes());
        if let Ok(cache) = self.verified.lock()
            && cache
                .get(&key)
                .is_some_and(|at| at.elapsed() < VERIFIED_FOR)
        {
            return Some(Identity::User(username.to_string()));
        }
        // bcrypt is ~50 ms of CPU by design: keep it off the runtime's
        // workers, which serve every other connection meanwhile.
        let verify = || bcrypt::verify(password, hash).unwrap_or(false);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let ok = if multi_thread {
            tokio::task::block_in_place(verify)
        } else {
            verify()
        };
        if !ok {
            return None;
        }
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, Instant::now());
        }
        Some(Identity::User(username.to_string()))
    }

    /// The identity behind `Authorization: Basic …`; Err when the credentials are wrong.
    pub fn basic(&self, header: Option<&str>) -> Result<Identity, BadCredentials> {
        let Some(value) = header else {
            return Ok(Identity::Anonymous);
        };
        let encoded = strip_scheme(value, "basic").ok_or(BadCredentials)?;
        let creds = berth_oci::auth::decode_basic(encoded).ok_or(BadCredentials)?;
        self.login(&creds.username, &creds.secret)
            .ok_or(BadCredentials)
    }

    /// The actions the ACL gives `who` on repository `name`.
    pub fn allowed(&self, who: &Identity, name: &str) -> BTreeSet<Action> {
        let all = || Action::parse_list(["*"]);
        if self.acl.is_empty() {
            return match (&self.mode, who) {
                (Mode::Anonymous, _) | (_, Identity::User(_)) => all(),
                (_, Identity::Anonymous) => BTreeSet::new(),
            };
        }
        let mut out = BTreeSet::new();
        for (entry, actions) in &self.acl {
            let account_matches = match (entry.account.as_str(), who) {
                ("anonymous", _) => true,
                ("*", Identity::User(_)) => true,
                (a, Identity::User(u)) => a == u,
                _ => false,
            };
            let pattern = entry.repository.replace("${account}", who.name());
            if account_matches && glob(&pattern, name) {
                out.extend(actions.iter().copied());
            }
        }
        out
    }

    /// Whether clients without credentials may see anything at all.
    pub fn anonymous_has_access(&self) -> bool {
        matches!(self.mode, Mode::Anonymous)
            || self.acl.iter().any(|(e, _)| e.account == "anonymous")
    }

    /// Issues a token granting what `who` asked for in `scopes` and the ACL allows.
    pub fn issue(&self, who: &Identity, scopes: &[String]) -> Option<(String, u64)> {
        let Mode::Token(svc) = &self.mode else {
            return None;
        };
        let mut grants: Vec<Grant> = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            match kind {
                "repository" => {
                    let allowed = self.allowed(who, name);
                    let granted: Vec<String> = Action::parse_list(actions.split(','))
                        .intersection(&allowed)
                        .map(|a| a.as_str().to_string())
                        .collect();
                    grants.push(Grant {
                        kind: "repository".into(),
                        name: name.to_string(),
                        actions: granted,
                    });
                }
                "registry" if name == "catalog" => grants.push(Grant {
                    kind: "registry".into(),
                    name: "catalog".into(),
                    actions: vec!["*".into()],
                }),
                _ => {}
            }
        }
        let now = unix_now();
        let claims = Claims {
            iss: svc.issuer.clone(),
            sub: who.name().to_string(),
            aud: svc.service.clone(),
            exp: now + svc.expiration.as_secs(),
            nbf: now.saturating_sub(1),
            iat: now,
            jti: crate::random_hex(16),
            access: grants,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &svc.encoding).ok()?;
        Some((token, svc.expiration.as_secs()))
    }

    /// Verifies `Authorization: Bearer …`; None when absent, bad or expired.
    pub fn bearer(&self, header: Option<&str>) -> Option<TokenAccess> {
        let Mode::Token(svc) = &self.mode else {
            return None;
        };
        let token = strip_scheme(header?, "bearer")?;
        let data = jsonwebtoken::decode::<Claims>(token, &svc.decoding, &svc.validation).ok()?;
        let identity = match data.claims.sub.as_str() {
            "" => Identity::Anonymous,
            u if self.users.contains_key(u) => Identity::User(u.to_string()),
            _ => return None, // an account removed since the token was issued
        };
        Some(TokenAccess {
            identity,
            grants: data.claims.access,
        })
    }
}

/// `Scheme value` with the scheme compared case-insensitively.
fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = header.trim().split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest.trim())
}

/// `*` matches any run of characters (slashes too); everything else literally.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read_htpasswd(path: &Path) -> Result<HashMap<String, String>, AuthError> {
    let bad = |reason: String| AuthError::Htpasswd {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("line {}: expected user:hash", n + 1)))?;
        if !(hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
            return Err(bad(format!(
                "line {}: only bcrypt hashes are accepted (htpasswd -B)",
                n + 1
            )));
        }
        users.insert(user.to_string(), hash.to_string());
    }
    Ok(users)
}

fn load_key(path: &Path) -> Result<EcdsaKeyPair, AuthError> {
    let bad = |reason: String| AuthError::Key {
        path: path.display().to_string(),
        reason,
    };
    let der = PrivateKeyDer::from_pem_file(path).map_err(|e| bad(e.to_string()))?;
    let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
    match &der {
        PrivateKeyDer::Pkcs8(k) => EcdsaKeyPair::from_pkcs8(alg, k.secret_pkcs8_der()),
        PrivateKeyDer::Sec1(k) => EcdsaKeyPair::from_private_key_der(alg, k.secret_sec1_der()),
        _ => {
            return Err(bad(
                "an EC P-256 private key is needed (openssl ecparam -name prime256v1 -genkey)"
                    .into(),
            ));
        }
    }
    .map_err(|e| bad(format!("not an EC P-256 private key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", "a/b"));
        assert!(glob("alice/*", "alice/x/y"));
        assert!(!glob("alice/*", "alice"));
        assert!(!glob("alice/*", "bob/alice/x"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abde"));
        assert!(glob("lib", "lib"));
        assert!(!glob("lib", "libx"));
    }

    #[test]
    fn tokens_round_trip_and_grant_only_what_the_acl_allows() {
        let mut config = Config::default();
        config.auth.token = Some(crate::config::TokenConfig {
            realm: Some("http://127.0.0.1/token".into()),
            ..Default::default()
        });
        config.acl = vec![AclEntry {
            account: "anonymous".into(),
            repository: "public/*".into(),
            actions: vec!["pull".into()],
        }];
        let auth = Auth::new(&config).unwrap();
        let (token, _) = auth
            .issue(
                &Identity::Anonymous,
                &[
                    "repository:public/a:pull,push".into(),
                    "repository:private:pull".into(),
                ],
            )
            .unwrap();
        let access = auth.bearer(Some(&format!("Bearer {token}"))).unwrap();
        assert!(access.allows("public/a", Action::Pull));
        assert!(!access.allows("public/a", Action::Push));
        assert!(!access.allows("private", Action::Pull));
        assert!(!access.allows("public/b", Action::Pull));
        // a token signed by another key is refused
        let other = Auth::new(&config).unwrap();
        assert!(other.bearer(Some(&format!("Bearer {token}"))).is_none());
        // a tampered payload is refused
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"iss":"berth-registry","sub":"","aud":"berth-registry","exp":99999999999,"nbf":0,"iat":0,"jti":"x","access":[{"type":"repository","name":"private","actions":["pull"]}]}"#,
        );
        parts[1] = &forged;
        assert!(
            auth.bearer(Some(&format!("Bearer {}", parts.join("."))))
                .is_none()
        );
    }
}
