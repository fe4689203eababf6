//! Bridge access tokens. Two kinds:
//!
//! - **opaque tokens** issued by the node (`POST /bridge/v1/tokens` on the
//!   admin-gated REST API): random 32 bytes, shown once, kept only as their
//!   sha256 with a non-secret id, an expiry and a subject, in
//!   [`super::token_journal`] (so they survive a restart); compared in
//!   constant time; revoked (`DELETE /bridge/v1/tokens/{id}`) or given a new
//!   expiry (`POST /bridge/v1/tokens/{id}/refresh`: the same token lives on,
//!   so sockets using it keep going) by id;
//! - **capability tokens**: EdDSA JWTs signed by an operator key listed in
//!   `bridge.token_keys` (list two keys while rotating), with `exp` at most
//!   30 days ahead and a single-use `jti` (a replayed `jti` is refused, also
//!   after a restart: [`super::seen_jti`] keeps them in the data dir).
//!
//! A token is passed as `?token=…` or `Authorization: Bearer …` on the upgrade,
//! or later with `bridge_authenticate` on the open socket. A verified token is a
//! [`Grant`]: its subject, its expiry and, for an opaque token, its id, which the
//! socket looks up again every second ([`Tokens::opaque_expiry`], which never waits for a write) to see a
//! revocation or a refresh.
//!
//! Capability tokens are read with [`EdDsaJws`], the compact-JWS parser shared
//! with the WalletConnect relay-auth JWT, and verified with ed25519-dalek's strict
//! check against each configured key before their claims are parsed.
//!
//! Why not `jsonwebtoken`: it would take over only that split into three base64url
//! parts and the `alg` check; the time checks stay here, because it reads the
//! system clock (with a 60 s default leeway) where this module takes `now`, and it
//! has no notion of a longest lifetime or of a single-use `jti`. In exchange it
//! needs a crypto backend: `rust_crypto` builds `rsa`, `p256`, `p384`, `hmac` and
//! second majors of `sha2` and `base64` to verify one EdDSA signature, `aws_lc_rs`
//! a C library, and a provider of our own would be a process-global
//! `CryptoProvider` (set once; decoding panics when both backend features get
//! unified into one build). It also had three major versions (10 to 12) in the
//! last 14 months.

use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::VerifyingKey;
use heliograph_wc_wire::jwt::EdDsaJws;
use libp2p::identity::ed25519;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of opaque tokens, so they are recognisable in configs and leaks.
const OPAQUE_PREFIX: &str = "hgt_";
/// Most live opaque tokens.
pub const MAX_TOKENS: usize = 10_000;
use super::seen_jti::{SeenError, SeenJti};
use super::token_journal::{Entry, JournalError, TokenJournal};

/// File of the live opaque tokens (hashed), in the data dir.
pub const TOKEN_FILE: &str = "bridge-tokens";
/// Longest subject of an opaque token, in bytes.
pub const MAX_SUBJECT: usize = 64;

/// File of the used capability-token ids, in the data dir.
pub const SEEN_JTI_FILE: &str = "bridge-seen-jti";
/// Longest token lifetime, in seconds (30 days): opaque ones are clamped to it,
/// capability tokens whose `exp` is farther ahead are refused.
pub const MAX_TOKEN_TTL: u64 = 30 * 24 * 3600;

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No token, and the bridge requires one.
    #[error("a bridge token is required: pass ?token=… or Authorization: Bearer …")]
    Missing,
    /// Unknown, revoked or malformed.
    #[error("invalid bridge token")]
    Invalid,
    /// Past its expiry.
    #[error("bridge token has expired")]
    Expired,
    /// A capability token whose `jti` was used before.
    #[error("bridge token was already used (replayed jti)")]
    Replayed,
    /// A capability token whose `exp` is more than [`MAX_TOKEN_TTL`] ahead.
    #[error("bridge token lives too long: exp is more than 30 days ahead")]
    TooLong,
    /// Too many live tokens.
    #[error("too many live tokens (at most {MAX_TOKENS}); let some expire or revoke some")]
    Full,
    /// The used-id record refused it (full, or its file failing).
    #[error("bridge token refused: {0}")]
    Seen(SeenError),
    /// The token file failed; nothing changed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A subject asked for at minting is not 1 to 64 of `A-Z a-z 0-9 . _ : @ -`.
    #[error("subject must be 1 to {MAX_SUBJECT} characters of A-Z a-z 0-9 . _ : @ -")]
    BadSubject,
    /// A configured key does not parse.
    #[error("bridge.token_keys entry is not a base64 or hex ed25519 public key: {0}")]
    BadKey(String),
}

#[derive(Deserialize)]
struct Claims {
    exp: u64,
    jti: String,
    #[serde(default)]
    sub: Option<String>,
}

/// Who a verified token names, for rate limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject(pub String);

/// What a verified token grants a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who it names: `token:<subject>` for opaque tokens, `cap:<sub>` for capability tokens.
    pub subject: TokenSubject,
    /// Unix seconds at which it expires.
    pub expires_at: u64,
    /// The id of an opaque token (looked up again to see a revocation or a refresh).
    pub token_id: Option<String>,
}

/// What [`Tokens::opaque_expiry`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Live until these Unix seconds (or expired at them).
    Expires(u64),
    /// Revoked (or never issued).
    Revoked,
    /// A change is being written: ask again later.
    Busy,
}

/// A freshly issued opaque token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Its non-secret id, for revoking and refreshing it.
    pub id: String,
    /// The token, shown once.
    pub token: String,
    /// Unix seconds at which it expires.
    pub expires_at: u64,
    /// Who it names.
    pub subject: String,
}

fn valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= MAX_SUBJECT
        && subject.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:@".contains(&b))
}

/// Live tokens and the keys capability tokens are checked with.
pub struct Tokens {
    opaque: Mutex<TokenJournal>,
    seen_jti: Mutex<SeenJti>,
    keys: Vec<VerifyingKey>,
}

impl Tokens {
    /// Token state checking capability tokens against `keys` (base64 or hex ed25519 public keys).
    pub fn new(keys: &[String]) -> Result<Tokens, TokenError> {
        let keys = keys
            .iter()
            .map(|k| {
                let bytes =
                    hex::decode(k).or_else(|_| STANDARD.decode(k)).map_err(|_| TokenError::BadKey(k.clone()))?;
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| TokenError::BadKey(k.clone()))?;
                VerifyingKey::from_bytes(&bytes).map_err(|_| TokenError::BadKey(k.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Tokens { opaque: Mutex::new(TokenJournal::in_memory()), seen_jti: Mutex::new(SeenJti::in_memory()), keys })
    }

    /// Keeps the used capability-token ids in `path` (loaded at `now`), so a restart does not reopen replays.
    pub fn with_seen_file(self, path: &Path, now: u64) -> Result<Tokens, TokenError> {
        let seen = SeenJti::open(path, now).map_err(TokenError::Seen)?;
        Ok(Tokens { seen_jti: Mutex::new(seen), ..self })
    }

    /// Keeps the opaque tokens in `path` (loaded at `now`), so they survive a restart.
    pub fn with_token_file(self, path: &Path, now: u64) -> Result<Tokens, TokenError> {
        let journal = TokenJournal::open(path, now)?;
        Ok(Tokens { opaque: Mutex::new(journal), ..self })
    }

    fn opaque(&self) -> std::sync::MutexGuard<'_, TokenJournal> {
        self.opaque.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues an opaque token valid for `ttl` seconds from `now` (clamped to 1 s .. 30 days),
    /// naming `subject` (default: its id). Synced to disk before it is returned.
    pub fn issue(&self, ttl: u64, subject: Option<&str>, now: u64) -> Result<Issued, TokenError> {
        let expires_at = now + ttl.clamp(1, MAX_TOKEN_TTL);
        let id = hex::encode(rand::random::<[u8; 8]>());
        let subject = match subject {
            Some(s) if valid_subject(s) => s.to_owned(),
            Some(_) => return Err(TokenError::BadSubject),
            None => id.clone(),
        };
        let token = format!("{OPAQUE_PREFIX}{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
        let mut opaque = self.opaque();
        if opaque.len() >= MAX_TOKENS {
            opaque.prune(now);
            if opaque.len() >= MAX_TOKENS {
                return Err(TokenError::Full);
            }
        }
        let hash = Sha256::digest(token.as_bytes()).into();
        opaque.insert(&id, Entry { hash, expires: expires_at, subject: subject.clone() })?;
        Ok(Issued { id, token, expires_at, subject })
    }

    /// Revokes opaque token `id`; false if there is no such live token.
    pub fn revoke(&self, id: &str) -> Result<bool, TokenError> {
        Ok(self.opaque().remove(id)?)
    }

    /// Gives opaque token `id` a new expiry, `ttl` seconds from `now` (clamped as at issue);
    /// `None` if there is no such live token. Sockets using it see the new expiry within a second.
    pub fn refresh(&self, id: &str, ttl: u64, now: u64) -> Result<Option<u64>, TokenError> {
        let mut opaque = self.opaque();
        if opaque.get(id).is_none_or(|e| e.expires <= now) {
            return Ok(None);
        }
        let expires_at = now + ttl.clamp(1, MAX_TOKEN_TTL);
        opaque.set_expiry(id, expires_at)?;
        Ok(Some(expires_at))
    }

    /// The current expiry of opaque token `id`, for a socket's periodic check. It never
    /// waits: while a change holds the table (it fsyncs under the lock) it answers
    /// [`Lookup::Busy`], and the socket keeps what it knew until its next check.
    pub fn opaque_expiry(&self, id: &str) -> Lookup {
        let opaque = match self.opaque.try_lock() {
            Ok(opaque) => opaque,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Lookup::Busy,
        };
        opaque.get(id).map_or(Lookup::Revoked, |e| Lookup::Expires(e.expires))
    }

    /// Verifies a presented token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Grant, TokenError> {
        if token.starts_with(OPAQUE_PREFIX) {
            self.verify_opaque(token, now)
        } else {
            self.verify_capability(token, now)
        }
    }

    fn verify_opaque(&self, token: &str, now: u64) -> Result<Grant, TokenError> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let opaque = self.opaque();
        // Looked up by hash (an attacker cannot aim at a stored hash), then compared in constant time.
        let (id, entry) = opaque.by_hash(&hash).ok_or(TokenError::Invalid)?;
        if !bool::from(entry.hash.ct_eq(&hash)) {
            return Err(TokenError::Invalid);
        }
        if entry.expires <= now {
            return Err(TokenError::Expired);
        }
        Ok(Grant {
            subject: TokenSubject(format!("token:{}", entry.subject)),
            expires_at: entry.expires,
            token_id: Some(id.to_owned()),
        })
    }

    fn verify_capability(&self, token: &str, now: u64) -> Result<Grant, TokenError> {
        if self.keys.is_empty() {
            return Err(TokenError::Invalid);
        }
        // At most 4 KiB, three base64url parts, header alg EdDSA.
        let jws = EdDsaJws::parse(token).map_err(|_| TokenError::Invalid)?;
        // Any configured key: two are listed while an operator rotates keys.
        if !self.keys.iter().any(|k| jws.check_signature(k).is_ok()) {
            return Err(TokenError::Invalid);
        }
        let claims: Claims = serde_json::from_slice(jws.claims()).map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.exp - now > MAX_TOKEN_TTL {
            return Err(TokenError::TooLong);
        }
        if claims.jti.is_empty() || claims.jti.len() > 128 {
            return Err(TokenError::Invalid);
        }
        let mut seen = self.seen_jti.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Refuses rather than forgets ids that could then be replayed; synced to disk before accepting.
        seen.record(&claims.jti, claims.exp, now).map_err(|e| match e {
            SeenError::Replayed => TokenError::Replayed,
            other => TokenError::Seen(other),
        })?;
        let subject = TokenSubject(format!("cap:{}", claims.sub.unwrap_or(claims.jti)));
        Ok(Grant { subject, expires_at: claims.exp, token_id: None })
    }
}

/// Signs a capability token (operators' tooling and tests).
pub fn sign_capability(key: &ed25519::Keypair, sub: &str, jti: &str, exp: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::json!({"sub": sub, "jti": jti, "exp": exp}).to_string());
    let signed = format!("{header}.{claims}");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn opaque_tokens_verify_until_they_expire_and_unknown_ones_do_not() {
        let tokens = Tokens::new(&[]).expect("no keys");
        let issued = tokens.issue(60, None, NOW).expect("issued");
        let token = issued.token.as_str();
        assert_eq!(issued.expires_at, NOW + 60);
        let grant = tokens.verify(token, NOW + 59).expect("live");
        assert_eq!(grant.token_id.as_deref(), Some(issued.id.as_str()));
        assert_eq!(grant.subject, TokenSubject(format!("token:{}", issued.id)), "the id is the default subject");
        assert!(tokens.verify(token, NOW + 59).is_ok(), "opaque tokens are reusable until expiry");
        assert_eq!(tokens.verify(token, NOW + 60), Err(TokenError::Expired));
        assert_eq!(tokens.verify("hgt_forged", NOW), Err(TokenError::Invalid));
        assert_eq!(tokens.refresh(&issued.id, 60, NOW + 60), Ok(None), "an expired token is not revived");
    }

    #[test]
    fn opaque_tokens_are_refreshed_and_revoked_by_id_and_subjects_are_checked() {
        let tokens = Tokens::new(&[]).expect("no keys");
        let issued = tokens.issue(10, Some("dapp-1"), NOW).expect("issued");
        assert_eq!(tokens.verify(&issued.token, NOW).expect("live").subject, TokenSubject("token:dapp-1".into()));
        assert_eq!(tokens.refresh(&issued.id, 100, NOW + 5), Ok(Some(NOW + 105)));
        assert_eq!(tokens.opaque_expiry(&issued.id), Lookup::Expires(NOW + 105));
        assert!(tokens.verify(&issued.token, NOW + 50).is_ok(), "refreshed past its first expiry");
        assert_eq!(tokens.revoke(&issued.id), Ok(true));
        assert_eq!(tokens.revoke(&issued.id), Ok(false));
        assert_eq!(tokens.opaque_expiry(&issued.id), Lookup::Revoked);
        assert_eq!(tokens.verify(&issued.token, NOW + 50), Err(TokenError::Invalid), "revoked");
        for bad in ["", "has space", "x\n", &"a".repeat(65)] {
            assert_eq!(tokens.issue(10, Some(bad), NOW), Err(TokenError::BadSubject), "{bad:?}");
        }
    }

    #[test]
    fn capability_tokens_accept_both_rotation_keys_and_refuse_replays_and_expiry() {
        let old = ed25519::Keypair::generate();
        let new = ed25519::Keypair::generate();
        let keys = [hex::encode(old.public().to_bytes()), STANDARD.encode(new.public().to_bytes())];
        let tokens = Tokens::new(&keys).expect("keys");
        let grant = tokens.verify(&sign_capability(&old, "app", "j1", NOW + 10), NOW).expect("old key");
        assert_eq!(grant, Grant { subject: TokenSubject("cap:app".into()), expires_at: NOW + 10, token_id: None });
        assert!(tokens.verify(&sign_capability(&new, "app", "j2", NOW + 10), NOW).is_ok());
        assert_eq!(tokens.verify(&sign_capability(&new, "app", "j2", NOW + 10), NOW), Err(TokenError::Replayed));
        assert_eq!(tokens.verify(&sign_capability(&new, "app", "j3", NOW), NOW), Err(TokenError::Expired));
        let month = NOW + MAX_TOKEN_TTL;
        assert!(tokens.verify(&sign_capability(&new, "app", "j5", month), NOW).is_ok(), "30 days is the limit");
        assert_eq!(tokens.verify(&sign_capability(&new, "app", "j6", month + 1), NOW), Err(TokenError::TooLong));
        let stranger = ed25519::Keypair::generate();
        assert_eq!(tokens.verify(&sign_capability(&stranger, "app", "j4", NOW + 10), NOW), Err(TokenError::Invalid));
        assert!(matches!(Tokens::new(&["zz".into()]), Err(TokenError::BadKey(_))));
        assert!(matches!(Tokens::new(&[hex::encode([1u8; 31])]), Err(TokenError::BadKey(_))), "31 bytes");
    }

    #[test]
    fn tampered_unsigned_and_oversized_capability_tokens_are_invalid() {
        let key = ed25519::Keypair::generate();
        let tokens = Tokens::new(&[hex::encode(key.public().to_bytes())]).expect("key");
        let token = sign_capability(&key, "app", "t1", NOW + 10);
        let (head, rest) = token.split_once('.').expect("dot");
        let (_, signature) = rest.split_once('.').expect("dot");
        let other_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","jti":"t2","exp":1800000010}"#);
        let hs256 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let unsigned = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let claims = rest.split_once('.').expect("dot").0;
        for bad in [
            format!("{head}.{other_claims}.{signature}"),
            format!("{hs256}.{claims}.{signature}"),
            format!("{unsigned}.{claims}."),
            format!("{head}.{claims}"),
            format!("{token}.{signature}"),
            format!("{head}.{}.{signature}", "A".repeat(4096)),
        ] {
            assert_eq!(tokens.verify(&bad, NOW), Err(TokenError::Invalid), "{bad}");
        }
        assert!(tokens.verify(&token, NOW).is_ok(), "the untouched token still verifies once");
    }
}
