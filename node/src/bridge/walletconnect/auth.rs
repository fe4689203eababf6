//! The WalletConnect relay auth JWT (`@walletconnect/relay-auth`): header
//! `{"alg":"EdDSA","typ":"JWT"}`, payload `{iss, sub, aud, iat, exp}` where
//! `iss` is the client's `did:key` (ed25519), signed with that key. The `iss`
//! is the client id. `aud` is the relay URL as the client configured it; a
//! node behind a proxy cannot know it, so it is not checked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libp2p::identity::ed25519;
use serde::Deserialize;

/// Largest JWT accepted, in bytes.
const MAX_JWT_LEN: usize = 4096;
/// did:key multicodec prefix of an ed25519 public key.
const ED25519_PREFIX: [u8; 2] = [0xed, 0x01];
/// Tolerated clock skew for `iat`, in seconds.
const CLOCK_SKEW: u64 = 300;

/// Why a relay auth token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `auth` query parameter.
    #[error("missing auth token: connect with ?auth=<JWT signed by your did:key>")]
    Missing,
    /// Not three base64url segments of JSON, or too long.
    #[error("malformed auth JWT: {0}")]
    Malformed(&'static str),
    /// `alg` is not EdDSA.
    #[error("auth JWT alg must be EdDSA")]
    Algorithm,
    /// `iss` is not an ed25519 did:key.
    #[error("auth JWT iss must be an ed25519 did:key (did:key:z6Mk…)")]
    Issuer,
    /// The signature does not verify with the `iss` key.
    #[error("auth JWT signature is invalid")]
    Signature,
    /// `exp` is in the past.
    #[error("auth JWT has expired")]
    Expired,
    /// `iat` is in the future.
    #[error("auth JWT is issued in the future (check the client clock)")]
    NotYetValid,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
}

/// A verified relay client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

/// Verifies `jwt` at `now` (Unix seconds) and returns the client id (`iss`).
pub fn verify(jwt: &str, now: u64) -> Result<ClientId, AuthError> {
    if jwt.len() > MAX_JWT_LEN {
        return Err(AuthError::Malformed("too long"));
    }
    let mut parts = jwt.split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("expected three dot-separated segments"));
    };
    let decode =
        |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| AuthError::Malformed("bad base64url"));
    let header: Header =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| AuthError::Malformed("bad header"))?;
    if header.alg != "EdDSA" {
        return Err(AuthError::Algorithm);
    }
    let claims: Claims =
        serde_json::from_slice(&decode(claims_b64)?).map_err(|_| AuthError::Malformed("bad claims"))?;
    let key = did_key(&claims.iss).ok_or(AuthError::Issuer)?;
    let signature = decode(sig_b64)?;
    let signed = &jwt[..header_b64.len() + 1 + claims_b64.len()];
    if !key.verify(signed.as_bytes(), &signature) {
        return Err(AuthError::Signature);
    }
    if claims.exp <= now {
        return Err(AuthError::Expired);
    }
    if claims.iat.is_some_and(|iat| iat > now + CLOCK_SKEW) {
        return Err(AuthError::NotYetValid);
    }
    Ok(ClientId(claims.iss))
}

/// The ed25519 key of a `did:key:z…` identifier.
fn did_key(did: &str) -> Option<ed25519::PublicKey> {
    let encoded = did.strip_prefix("did:key:z")?;
    if encoded.len() > 64 {
        return None;
    }
    let bytes = bs58::decode(encoded).into_vec().ok()?;
    let key = bytes.strip_prefix(&ED25519_PREFIX)?;
    ed25519::PublicKey::try_from_bytes(key).ok()
}

/// Signs a relay auth JWT the way `@walletconnect/relay-auth` does (tests and tools).
pub fn sign(keypair: &ed25519::Keypair, iat: u64, exp: u64) -> String {
    let did = format!(
        "did:key:z{}",
        bs58::encode([&ED25519_PREFIX[..], &keypair.public().to_bytes()].concat()).into_string()
    );
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = serde_json::json!({"iss": did, "sub": "00", "aud": "ws://127.0.0.1", "iat": iat, "exp": exp});
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let signature = URL_SAFE_NO_PAD.encode(keypair.sign(signed.as_bytes()));
    format!("{signed}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_signed_token_verifies_and_names_the_did() {
        let key = ed25519::Keypair::generate();
        let jwt = sign(&key, NOW, NOW + 86_400);
        let id = verify(&jwt, NOW + 1).expect("valid");
        assert!(id.0.starts_with("did:key:z6Mk"), "{}", id.0);
    }

    #[test]
    fn tampered_expired_and_malformed_tokens_are_refused() {
        let key = ed25519::Keypair::generate();
        let jwt = sign(&key, NOW, NOW + 10);
        assert_eq!(verify(&jwt, NOW + 10), Err(AuthError::Expired));
        assert_eq!(verify(&sign(&key, NOW + 1000, NOW + 2000), NOW), Err(AuthError::NotYetValid));
        let other = sign(&ed25519::Keypair::generate(), NOW, NOW + 10);
        let forged =
            format!("{}.{}", &jwt[..jwt.rfind('.').expect("dot")], &other[other.rfind('.').expect("dot") + 1..]);
        assert_eq!(verify(&forged, NOW), Err(AuthError::Signature));
        assert!(matches!(verify("a.b", NOW), Err(AuthError::Malformed(_))));
        assert!(matches!(verify("!.!.!", NOW), Err(AuthError::Malformed(_))));
        let none_alg =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), &jwt[jwt.find('.').expect("dot") + 1..]);
        assert_eq!(verify(&none_alg, NOW), Err(AuthError::Algorithm));
    }
}
