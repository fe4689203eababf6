//! Short-lived TURN credentials for a TURN server that shares a secret with the node
//! (the TURN REST scheme of draft-uberti-behave-turn-rest-00, coturn's `use-auth-secret`
//! with `static-auth-secret`): the username is `<expiry unix time>:<user>` and the
//! password is base64(HMAC-SHA1(secret, username)). The server recomputes the password
//! from the username and refuses it once the expiry has passed. Sans-IO: the caller
//! passes the time.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Credentials for one client, as handed out over the bridge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credentials {
    /// The TURN (and STUN) URLs, e.g. `turn:turn.example.org:3478?transport=udp`.
    pub urls: Vec<String>,
    /// `<expiry unix time>:<user>`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub credential: String,
    /// Seconds the credentials stay valid.
    pub ttl: u64,
}

/// Mints credentials with the shared secret.
#[derive(Clone)]
pub struct Issuer {
    urls: Vec<String>,
    secret: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Issuer {
    /// An issuer for `urls`, signing with `secret`, handing out credentials valid for `ttl`.
    pub fn new(urls: Vec<String>, secret: &str, ttl: Duration) -> Self {
        Issuer { urls, secret: secret.as_bytes().to_vec(), ttl }
    }

    /// Credentials for `user` (no `:` in it; the TURN server's username separator), valid
    /// from `now_unix` (seconds) for the issuer's lifetime.
    pub fn issue(&self, user: &str, now_unix: u64) -> Credentials {
        let ttl = self.ttl.as_secs();
        let username = format!("{}:{user}", now_unix.saturating_add(ttl));
        let credential = password(&self.secret, &username);
        Credentials { urls: self.urls.clone(), username, credential, ttl }
    }
}

/// base64(HMAC-SHA1(`secret`, `username`)): the password the TURN server expects.
pub fn password(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected value was computed independently with OpenSSL:
    /// `printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac 'north-wind-shared-secret' -binary | base64`
    #[test]
    fn password_matches_openssl() {
        assert_eq!(password(b"north-wind-shared-secret", "1700000000:alice"), "DrNmkUpVI9rDvpilEEGPXznrgJA=");
    }

    #[test]
    fn credentials_expire_after_the_ttl_and_sign_the_username() {
        let issuer =
            Issuer::new(vec!["turn:127.0.0.1:3478".into()], "north-wind-shared-secret", Duration::from_secs(600));
        let c = issuer.issue("alice", 1_699_999_400);
        assert_eq!(c.username, "1700000000:alice");
        assert_eq!(c.credential, "DrNmkUpVI9rDvpilEEGPXznrgJA=");
        assert_eq!(c.ttl, 600);
        assert_eq!(c.urls, ["turn:127.0.0.1:3478"]);
        let other = Issuer::new(c.urls.clone(), "another-secret-entirely", Duration::from_secs(600));
        assert_ne!(other.issue("alice", 1_699_999_400).credential, c.credential, "the secret keys the password");
        assert!(!format!("{issuer:?}").contains("north-wind"), "Debug hides the secret");
    }
}
