//! Pairing URIs as WalletConnect v2 writes them:
//! `wc:<topic>@2?expiryTimestamp=<s>&relay-protocol=irn&symKey=<hex>` (query keys
//! sorted, form-encoded, like `@walletconnect/utils` `formatUri`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::{CryptoRng, RngCore};

use crate::keys::{KeyError, SymKey, Topic};

/// The only pairing protocol version.
pub const VERSION: u32 = 2;
/// The relay protocol WalletConnect clients announce.
pub const RELAY_PROTOCOL: &str = "irn";
/// Default lifetime of a pairing that was not used (WalletConnect: 5 minutes).
pub const DEFAULT_PAIRING_TTL: Duration = Duration::from_secs(300);

/// Why a pairing URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The URI does not start with `wc:`.
    #[error("pairing URI must start with `wc:`")]
    NotWalletConnect,
    /// No `@<version>` after the topic.
    #[error("pairing URI has no `@<version>` after the topic")]
    MissingVersion,
    /// A version other than 2.
    #[error("pairing URI version `{0}` is not supported (only 2)")]
    UnsupportedVersion(String),
    /// The topic is not 64 hex characters.
    #[error("pairing topic is invalid: {0}")]
    BadTopic(KeyError),
    /// A required query parameter is missing.
    #[error("pairing URI lacks the `{0}` parameter")]
    MissingParam(&'static str),
    /// `symKey` is not 32 bytes of hex.
    #[error("pairing symKey is invalid: {0}")]
    BadSymKey(KeyError),
    /// The topic is not sha256(symKey): the URI was altered or mistyped.
    #[error("pairing topic does not match sha256(symKey)")]
    TopicMismatch,
    /// `expiryTimestamp` is not a number of seconds.
    #[error("expiryTimestamp `{0}` is not a number of seconds")]
    BadExpiry(String),
    /// A relay protocol other than `irn`.
    #[error("relay-protocol `{0}` is not supported (only irn)")]
    UnsupportedRelay(String),
    /// A `%` escape that is not two hex digits or decodes to invalid UTF-8.
    #[error("pairing URI has a malformed percent escape")]
    BadEscape,
    /// The pairing expired before it was used.
    #[error("pairing expired at {0} (unix seconds)")]
    Expired(u64),
}

/// A parsed or freshly created pairing URI.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingUri {
    /// Pairing topic: sha256(sym_key).
    pub topic: Topic,
    /// The pairing's symmetric key.
    pub sym_key: SymKey,
    /// Expiry, unix seconds.
    pub expiry: u64,
    /// Methods the pairing is used for (`methods=`), if given.
    pub methods: Option<Vec<String>>,
    /// Opaque `relay-data`, if given.
    pub relay_data: Option<String>,
}

impl PairingUri {
    /// A new pairing with a random key, expiring `ttl` after `now`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R, now: SystemTime, ttl: Duration) -> Self {
        let sym_key = SymKey::generate(rng);
        PairingUri {
            topic: sym_key.topic(),
            sym_key,
            expiry: unix_secs(now) + ttl.as_secs(),
            methods: None,
            relay_data: None,
        }
    }

    /// Parses a URI, checking the version, the key, and that topic = sha256(symKey).
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let rest = text.strip_prefix("wc://").or_else(|| text.strip_prefix("wc:")).ok_or(UriError::NotWalletConnect)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (topic, version) = path.split_once('@').ok_or(UriError::MissingVersion)?;
        if version != VERSION.to_string() {
            return Err(UriError::UnsupportedVersion(version.chars().take(16).collect()));
        }
        let topic = Topic::parse(topic).map_err(UriError::BadTopic)?;
        let (mut sym_key, mut expiry, mut relay, mut methods, mut relay_data) = (None, None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let value = form_decode(v)?;
            match form_decode(k)?.as_str() {
                "symKey" => sym_key = Some(SymKey::from_hex(&value).map_err(UriError::BadSymKey)?),
                "expiryTimestamp" => {
                    expiry =
                        Some(value.parse::<u64>().map_err(|_| UriError::BadExpiry(value.chars().take(32).collect()))?)
                }
                "relay-protocol" => relay = Some(value),
                "relay-data" => relay_data = Some(value),
                "methods" => methods = Some(value.split(',').map(str::to_owned).collect()),
                _ => {}
            }
        }
        let sym_key = sym_key.ok_or(UriError::MissingParam("symKey"))?;
        let relay = relay.ok_or(UriError::MissingParam("relay-protocol"))?;
        if relay != RELAY_PROTOCOL {
            return Err(UriError::UnsupportedRelay(relay.chars().take(32).collect()));
        }
        if sym_key.topic() != topic {
            return Err(UriError::TopicMismatch);
        }
        let expiry = expiry.ok_or(UriError::MissingParam("expiryTimestamp"))?;
        Ok(PairingUri { topic, sym_key, expiry, methods, relay_data })
    }

    /// Refuses a pairing whose expiry is not after `now`.
    pub fn check_expiry(&self, now: SystemTime) -> Result<(), UriError> {
        if unix_secs(now) >= self.expiry { Err(UriError::Expired(self.expiry)) } else { Ok(()) }
    }
}

impl fmt::Display for PairingUri {
    /// Formats exactly like `formatUri` of `@walletconnect/utils` (keys sorted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys in the order `URLSearchParams` sorting gives; the key hex is written
        // straight from a zeroizing buffer.
        let sym_key = self.sym_key.to_hex();
        let expiry = self.expiry.to_string();
        let methods = self.methods.as_ref().map(|m| m.join(","));
        let params = [
            ("expiryTimestamp", Some(expiry.as_str())),
            ("methods", methods.as_deref()),
            ("relay-data", self.relay_data.as_deref()),
            ("relay-protocol", Some(RELAY_PROTOCOL)),
            ("symKey", Some(sym_key.as_str())),
        ];
        write!(f, "wc:{}@{VERSION}?", self.topic)?;
        for (i, (k, v)) in params.iter().filter_map(|(k, v)| v.map(|v| (k, v))).enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{}={}", form_encode(k), form_encode(v))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PairingUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingUri").field("topic", &self.topic).field("expiry", &self.expiry).finish_non_exhaustive()
    }
}

/// Seconds since the unix epoch (0 for times before it).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `application/x-www-form-urlencoded`, as `URLSearchParams` writes it.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) fn form_decode(s: &str) -> Result<String, UriError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(UriError::BadEscape)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| UriError::BadEscape)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| UriError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn build_then_parse_round_trips() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut uri = PairingUri::generate(&mut rng, now, DEFAULT_PAIRING_TTL);
        uri.methods = Some(vec!["wc_sessionPropose".into(), "wc_sessionAuthenticate".into()]);
        let text = uri.to_string();
        assert!(text.starts_with(&format!("wc:{}@2?expiryTimestamp=1700000300&methods=", uri.topic)), "{text}");
        assert!(text.contains("%2C"));
        let parsed = PairingUri::parse(&text).unwrap();
        assert_eq!(parsed, uri);
        assert!(parsed.check_expiry(now).is_ok());
        assert_eq!(parsed.check_expiry(now + DEFAULT_PAIRING_TTL), Err(UriError::Expired(1_700_000_300)));
    }

    #[test]
    fn errors_name_the_problem() {
        let key = SymKey::from_bytes([1; 32]);
        let topic = key.topic();
        let hex = key.to_hex();
        let good = format!("wc:{topic}@2?relay-protocol=irn&symKey={}&expiryTimestamp=5", hex.as_str());
        assert!(PairingUri::parse(&good).is_ok());
        assert_eq!(PairingUri::parse("http://x"), Err(UriError::NotWalletConnect));
        assert_eq!(PairingUri::parse(&format!("wc:{topic}?symKey=1")), Err(UriError::MissingVersion));
        assert_eq!(PairingUri::parse(&good.replace("@2", "@1")), Err(UriError::UnsupportedVersion("1".into())));
        assert_eq!(PairingUri::parse(&good.replace("&symKey", "&x")), Err(UriError::MissingParam("symKey")));
        assert_eq!(PairingUri::parse(&good.replace("=irn", "=waku")), Err(UriError::UnsupportedRelay("waku".into())));
        assert_eq!(PairingUri::parse(&good.replace("=5", "=soon")), Err(UriError::BadExpiry("soon".into())));
        let other = SymKey::from_bytes([2; 32]).topic();
        assert_eq!(PairingUri::parse(&good.replace(topic.as_str(), other.as_str())), Err(UriError::TopicMismatch));
        assert!(matches!(PairingUri::parse(&good.replace(hex.as_str(), "abcd")), Err(UriError::BadSymKey(_))));
    }
}
