//! Registry credentials and HTTP basic authentication, shared by the registry
//! client (which sends them) and the registry server (which checks them).

use base64::Engine as _;

/// A user's credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"…")
            .finish()
    }
}

impl Credentials {
    /// `Basic <base64(user:secret)>`.
    pub fn basic_header(&self) -> String {
        format!("Basic {}", encode_basic(&self.username, &self.secret))
    }
}

/// `base64(user:secret)`, as `Authorization: Basic` and config.json's `auth` hold it.
pub fn encode_basic(username: &str, secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"))
}

/// The inverse of [`encode_basic`]; None when it is not `user:secret` in base64.
pub fn decode_basic(auth: &str) -> Option<Credentials> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (username, secret) = text.split_once(':')?;
    Some(Credentials {
        username: username.to_string(),
        secret: secret.to_string(),
    })
}
