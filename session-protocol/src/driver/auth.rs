//! Relay authentication as WalletConnect clients do it: a persistent ed25519
//! client key whose `did:key` is the client id, and a short-lived EdDSA JWT
//! (`{"alg":"EdDSA","typ":"JWT"}`) signed with it on every (re)connect, carried
//! in the connection URL with the project id and user agent.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use heliograph_wc_wire::{Claims, did, jwt};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// Lifetime of a relay JWT (WalletConnect: one day).
pub const JWT_TTL: Duration = Duration::from_secs(86_400);

/// Why the client key could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Reading or writing the key file failed.
    #[error("client key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The key file does not hold 64 hex digits.
    #[error("client key file {0} does not hold a 32-byte hex ed25519 seed")]
    Malformed(PathBuf),
}

/// The ed25519 key that identifies this client to the relay. `Debug` shows only
/// the client id.
pub struct ClientKey {
    key: SigningKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey").field("client_id", &self.client_id()).finish()
    }
}

impl ClientKey {
    /// A fresh random key (from the operating system's RNG).
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *seed);
        ClientKey::from_seed(&seed)
    }

    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        ClientKey { key: SigningKey::from_bytes(seed) }
    }

    /// Loads the key stored at `path` (hex seed), or creates one there (mode 0600)
    /// so the client id stays the same across restarts.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        let io = |source| AuthError::Io { path: path.to_owned(), source };
        match fs::read_to_string(path) {
            Ok(text) => {
                let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| AuthError::Malformed(path.into()))?);
                let seed: Zeroizing<[u8; 32]> =
                    Zeroizing::new(bytes.as_slice().try_into().map_err(|_| AuthError::Malformed(path.into()))?);
                Ok(ClientKey::from_seed(&seed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ClientKey::generate();
                let text = Zeroizing::new(hex::encode(key.key.to_bytes()));
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The raw ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The client id: the `did:key` of the public key.
    pub fn client_id(&self) -> String {
        did::encode(&self.public_key())
    }

    /// A relay JWT for `audience` (the relay URL exactly as configured), issued at
    /// unix second `iat`, with a per-process `subject`.
    pub fn jwt(&self, audience: &str, subject: &str, iat: u64) -> String {
        let claims = Claims {
            iss: self.client_id(),
            sub: subject.to_owned(),
            aud: audience.to_owned(),
            iat: Some(iat),
            exp: iat + JWT_TTL.as_secs(),
        };
        jwt::sign(&self.key, &claims)
    }
}

/// A random 32-byte hex subject for the JWT (one per driver, not a secret).
pub fn random_subject() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The connection URL: `relay_url` plus `auth`, `projectId` and `ua` query
/// parameters (added to an existing query string, and after a `/` path when the
/// URL has none, as the official client does).
pub fn connect_url(relay_url: &str, jwt: &str, project_id: &str, user_agent: &str) -> String {
    let query = format!(
        "auth={}&projectId={}&ua={}",
        urlencoding::encode(jwt),
        urlencoding::encode(project_id),
        urlencoding::encode(user_agent)
    );
    if relay_url.contains('?') {
        format!("{relay_url}&{query}")
    } else {
        let after_scheme = relay_url.split_once("://").map_or(relay_url, |(_, rest)| rest);
        let slash = if after_scheme.contains('/') { "" } else { "/" };
        format!("{relay_url}{slash}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn did_key_matches_the_relay_auth_vector() {
        // @walletconnect/relay-auth test vector: seed 58e0254c…, did:key z6MkodHZ….
        let seed: [u8; 32] = hex::decode("58e0254c211b858ef7896b00e3f36beeb13d568d47c6031c4218b87718061295")
            .unwrap()
            .try_into()
            .unwrap();
        let key = ClientKey::from_seed(&seed);
        assert_eq!(key.client_id(), "did:key:z6MkodHZwneVRShtaLf8JKYkxpDGp1vGZnpGmdBpX8M2exxH");
    }

    #[test]
    fn jwt_is_eddsa_signed_over_header_and_payload() {
        let key = ClientKey::from_seed(&[9u8; 32]);
        let jwt = key.jwt("ws://127.0.0.1:8090", "ab", 1_700_000_000);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "EdDSA", "typ": "JWT"}));
        let payload: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["iss"], key.client_id());
        assert_eq!(payload["aud"], "ws://127.0.0.1:8090");
        assert_eq!(payload["exp"].as_u64(), Some(1_700_000_000 + 86_400));
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        let verifying = VerifyingKey::from_bytes(&key.public_key()).unwrap();
        verifying.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        assert!(verifying.verify(format!("{}.{}x", parts[0], parts[1]).as_bytes(), &sig).is_err());
    }

    #[test]
    fn client_key_persists_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.key");
        let first = ClientKey::load_or_create(&path).unwrap();
        let second = ClientKey::load_or_create(&path).unwrap();
        assert_eq!(first.client_id(), second.client_id());
        assert!(!format!("{first:?}").contains(&hex::encode(first.key.to_bytes())), "no secret in Debug");
        fs::write(&path, "zz").unwrap();
        assert!(matches!(ClientKey::load_or_create(&path), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn connect_url_adds_the_query() {
        assert_eq!(connect_url("ws://h:1", "a.b", "p", "wc-2/rust"), "ws://h:1/?auth=a.b&projectId=p&ua=wc-2%2Frust");
        assert_eq!(connect_url("ws://h:1/relay", "t", "p", "u"), "ws://h:1/relay?auth=t&projectId=p&ua=u");
        assert_eq!(connect_url("ws://h:1/?x=1", "t", "p", "u"), "ws://h:1/?x=1&auth=t&projectId=p&ua=u");
    }
}
