//! The relay-auth JWT (`@walletconnect/relay-auth`): header `{"alg":"EdDSA","typ":"JWT"}`,
//! claims `{iss, sub, aud, iat, exp}` where `iss` is the client's ed25519 `did:key` and the
//! token is signed with that key. [`EdDsaJws`] takes a compact EdDSA JWS apart; the node's
//! bridge capability tokens are read with it too.
//!
//! Why not `jsonwebtoken`: the verifying key comes from the not yet verified `iss` claim,
//! so it would decode twice (`dangerous::insecure_decode` for `iss`, then `decode`); its
//! `exp`/`nbf` checks read the system clock with a leeway where [`verify`] takes `now`, it
//! has no bound on the lifetime (`exp - iat`), and its `aud` check is a set of exact strings
//! where the node's rule normalises URLs or follows the upgrade's Host, so all of those stay
//! here and it would take over only the split and the `alg` check of [`EdDsaJws::parse`].
//! For that it would bring a crypto backend: `rust_crypto` builds `rsa`, `p256`, `p384`,
//! `hmac` and second majors of `sha2` and `base64` (and verifies EdDSA with ed25519-dalek's
//! lenient `verify`, where this module uses `verify_strict`: canonical `S`, no small-order
//! keys), `aws_lc_rs` a C library. The session driver, a client library, signs with
//! [`sign`] and would have to carry that backend too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::did;

/// Largest token accepted, in bytes.
pub const MAX_JWT_LEN: usize = 4096;
/// Tolerated clock difference for `iat`, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// Why a relay-auth token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
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
    /// `exp` is further from `iat` (or now) than the verifier allows.
    #[error("auth JWT lives longer than {max_secs} s")]
    Lifetime {
        /// The longest lifetime allowed.
        max_secs: u64,
    },
}

/// The claims of a relay-auth token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The client's `did:key` (its client id).
    pub iss: String,
    /// A per-process subject (random hex in the official client).
    #[serde(default)]
    pub sub: String,
    /// The relay URL as the client configured it.
    #[serde(default)]
    pub aud: String,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

/// A client whose token verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClient {
    /// The client id (`iss`).
    pub client_id: String,
    /// The audience it was issued for.
    pub aud: String,
    /// When it expires, Unix seconds.
    pub exp: u64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// A compact JWS (`header.claims.signature`, base64url) whose header names EdDSA,
/// taken apart. Nothing is verified yet: check [`EdDsaJws::check_signature`]
/// before trusting [`EdDsaJws::claims`].
#[derive(Debug)]
pub struct EdDsaJws<'a> {
    /// `header.claims` as sent: the bytes the signature covers.
    signing_input: &'a str,
    claims: Vec<u8>,
    signature_b64: &'a str,
}

impl<'a> EdDsaJws<'a> {
    /// Splits `jwt` (at most [`MAX_JWT_LEN`] bytes) into its three parts and checks
    /// that the header's `alg` is EdDSA. Padding (`=`) on a part is tolerated.
    pub fn parse(jwt: &'a str) -> Result<Self, JwtError> {
        if jwt.len() > MAX_JWT_LEN {
            return Err(JwtError::Malformed("too long"));
        }
        let mut parts = jwt.split('.');
        let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("expected three dot-separated segments"));
        };
        let header: Header =
            serde_json::from_slice(&decode(header_b64)?).map_err(|_| JwtError::Malformed("bad header"))?;
        if header.alg != "EdDSA" {
            return Err(JwtError::Algorithm);
        }
        let claims = decode(claims_b64)?;
        let signing_input = &jwt[..header_b64.len() + 1 + claims_b64.len()];
        Ok(EdDsaJws { signing_input, claims, signature_b64: sig_b64 })
    }

    /// The claims' JSON bytes, as sent.
    pub fn claims(&self) -> &[u8] {
        &self.claims
    }

    /// Checks that `key` signed it (ed25519-dalek's `verify_strict`: canonical `S`,
    /// no small-order key). The signature part is decoded here, so a token whose
    /// claims are bad is refused for its claims first.
    pub fn check_signature(&self, key: &VerifyingKey) -> Result<(), JwtError> {
        let signature = Signature::from_slice(&decode(self.signature_b64)?).map_err(|_| JwtError::Signature)?;
        key.verify_strict(self.signing_input.as_bytes(), &signature).map_err(|_| JwtError::Signature)
    }
}

/// Decodes one base64url part, tolerating padding.
fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| JwtError::Malformed("bad base64url"))
}

/// Signs `claims` with `key` as `@walletconnect/relay-auth` does.
pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{claims}");
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// Verifies `jwt` at `now` (Unix seconds): EdDSA signed by its `iss` did:key, not
/// expired, not issued in the future, and living at most `max_lifetime_secs`.
pub fn verify(jwt: &str, now: u64, max_lifetime_secs: u64) -> Result<VerifiedClient, JwtError> {
    let jws = EdDsaJws::parse(jwt)?;
    let claims: Claims = serde_json::from_slice(jws.claims()).map_err(|_| JwtError::Malformed("bad claims"))?;
    let key = did::decode(&claims.iss).ok_or(JwtError::Issuer)?;
    jws.check_signature(&key)?;
    if claims.exp <= now {
        return Err(JwtError::Expired);
    }
    if claims.iat.is_some_and(|iat| iat > now.saturating_add(CLOCK_SKEW_SECS)) {
        return Err(JwtError::NotYetValid);
    }
    let from = claims.iat.unwrap_or(now).min(now);
    if claims.exp - from > max_lifetime_secs.saturating_add(CLOCK_SKEW_SECS) {
        return Err(JwtError::Lifetime { max_secs: max_lifetime_secs });
    }
    Ok(VerifiedClient { client_id: claims.iss, aud: claims.aud, exp: claims.exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const DAY: u64 = 86_400;

    fn claims(key: &SigningKey, iat: u64, exp: u64) -> Claims {
        let iss = did::encode(&key.verifying_key().to_bytes());
        Claims { iss, sub: "ab".into(), aud: "ws://127.0.0.1:1".into(), iat: Some(iat), exp }
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let jwt = sign(&key, &claims(&key, NOW, NOW + DAY));
        let header = URL_SAFE_NO_PAD.decode(jwt.split('.').next().expect("header")).expect("b64");
        assert_eq!(header, br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let client = verify(&jwt, NOW + 1, DAY).expect("valid");
        assert_eq!(client.client_id, did::encode(&key.verifying_key().to_bytes()));
        assert!(client.client_id.starts_with("did:key:z6Mk"));
        assert_eq!((client.aud.as_str(), client.exp), ("ws://127.0.0.1:1", NOW + DAY));
    }

    #[test]
    fn tampered_expired_long_lived_and_malformed_tokens_are_refused() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let jwt = sign(&key, &claims(&key, NOW, NOW + 10));
        assert_eq!(verify(&jwt, NOW + 10, DAY), Err(JwtError::Expired));
        assert_eq!(verify(&sign(&key, &claims(&key, NOW + 1000, NOW + 2000)), NOW, DAY), Err(JwtError::NotYetValid));
        let forever = sign(&key, &claims(&key, NOW, u64::MAX));
        assert_eq!(verify(&forever, NOW, DAY), Err(JwtError::Lifetime { max_secs: DAY }));
        let no_iat = sign(&key, &Claims { iat: None, ..claims(&key, NOW, NOW + 30 * DAY) });
        assert_eq!(verify(&no_iat, NOW, DAY), Err(JwtError::Lifetime { max_secs: DAY }));
        let other = SigningKey::from_bytes(&[2; 32]);
        let theirs = sign(&other, &claims(&other, NOW, NOW + 10));
        let forged =
            format!("{}{}", &jwt[..=jwt.rfind('.').expect("dot")], &theirs[theirs.rfind('.').expect("dot") + 1..]);
        assert_eq!(verify(&forged, NOW, DAY), Err(JwtError::Signature));
        assert!(matches!(verify("a.b", NOW, DAY), Err(JwtError::Malformed(_))));
        assert!(matches!(verify("!.!.!", NOW, DAY), Err(JwtError::Malformed(_))));
        assert!(matches!(verify(&"a".repeat(MAX_JWT_LEN + 1), NOW, DAY), Err(JwtError::Malformed("too long"))));
        let none_alg =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), &jwt[jwt.find('.').expect("dot") + 1..]);
        assert_eq!(verify(&none_alg, NOW, DAY), Err(JwtError::Algorithm));
        let short_sig = format!("{}.AAAA", &jwt[..jwt.rfind('.').expect("dot")]);
        assert_eq!(verify(&short_sig, NOW, DAY), Err(JwtError::Signature));
    }

    #[test]
    fn a_parsed_jws_names_its_claims_and_verifies_only_with_its_signer() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let jwt = sign(&key, &claims(&key, NOW, NOW + 10));
        let jws = EdDsaJws::parse(&jwt).expect("parsed");
        let claims: Claims = serde_json::from_slice(jws.claims()).expect("claims");
        assert_eq!(claims.exp, NOW + 10);
        assert_eq!(jws.check_signature(&key.verifying_key()), Ok(()));
        let stranger = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(jws.check_signature(&stranger), Err(JwtError::Signature));
        let padded = jwt.replacen('.', "=.", 1);
        let padded = EdDsaJws::parse(&padded).expect("padding is tolerated");
        assert_eq!(padded.check_signature(&key.verifying_key()), Err(JwtError::Signature), "padding is signed text");
        let bad_sig = format!("{}.!", &jwt[..jwt.rfind('.').expect("dot")]);
        let bad_sig = EdDsaJws::parse(&bad_sig).expect("the signature is decoded when checked");
        assert_eq!(bad_sig.check_signature(&key.verifying_key()), Err(JwtError::Malformed("bad base64url")));
    }
}
