//! Key material and topic derivation, byte-compatible with WalletConnect v2:
//! 32-byte symmetric keys, X25519 key pairs, HKDF-SHA256 (no salt, no info)
//! of the X25519 shared secret, and topic = hex(sha256(symKey)).

use std::fmt;

use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Length in bytes of symmetric keys, public keys and private keys.
pub const KEY_LEN: usize = 32;

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not hexadecimal.
    #[error("key is not valid hex")]
    NotHex,
    /// The key has the wrong length.
    #[error("key is {0} bytes long, expected {KEY_LEN}")]
    WrongLength(usize),
    /// The peer's X25519 public key is a low-order point (the shared secret would be all zeros).
    #[error("the peer's public key is a low-order point: key agreement refused")]
    NonContributory,
    /// A topic that is not 64 lowercase or uppercase hex characters.
    #[error("topic `{0}` is not 64 hex characters")]
    BadTopic(String),
}

/// A 32-byte ChaCha20-Poly1305 key. Zeroized on drop; `Debug` shows only its topic.
#[derive(Clone)]
pub struct SymKey(Zeroizing<[u8; KEY_LEN]>);

impl SymKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        SymKey(bytes)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SymKey(Zeroizing::new(bytes))
    }

    /// Parses the hex form used in pairing URIs and WalletConnect storage.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        decode_hex_32(text, &mut bytes)?;
        Ok(SymKey(bytes))
    }

    /// Hex form of the key. The result is a secret: zeroized when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    /// Raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A 6-digit short authentication string both holders of the key compute
    /// alike; users compare it to rule out a substituted key.
    pub fn short_auth_string(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"heliograph-sas-v1");
        h.update(self.0.as_ref());
        let d = h.finalize();
        let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
        format!("{n:06}")
    }

    /// The relay topic of this key: hex(sha256(key)).
    pub fn topic(&self) -> Topic {
        Topic(hex::encode(Sha256::digest(self.0.as_ref())))
    }
}

impl PartialEq for SymKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl Eq for SymKey {}

impl fmt::Debug for SymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymKey").field("topic", &self.topic()).finish_non_exhaustive()
    }
}

/// A relay topic: 64 lowercase hex characters (sha256 of a symmetric key).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Topic(String);

impl Topic {
    /// Validates a topic string (64 hex characters, normalised to lowercase).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Topic(text.to_ascii_lowercase()))
        } else {
            Err(KeyError::BadTopic(text.chars().take(80).collect()))
        }
    }

    /// The topic as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Topic {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Topic::parse(&value)
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> Self {
        topic.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({})", &self.0)
    }
}

/// An X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps raw public key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PublicKey(bytes)
    }

    /// Parses the hex form used in WalletConnect messages.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        decode_hex_32(text, &mut bytes)?;
        Ok(PublicKey(bytes))
    }

    /// Hex form of the key.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// An X25519 key pair. The private half is zeroized on drop and never printed.
#[derive(Clone)]
pub struct KeyPair {
    secret: x25519_dalek::StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret_bytes(*bytes)
    }

    /// Rebuilds a key pair from its private key bytes.
    pub fn from_secret_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(bytes);
        bytes.zeroize();
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        KeyPair { secret, public }
    }

    /// Parses the hex form of the private key.
    pub fn from_secret_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        decode_hex_32(text, &mut bytes)?;
        Ok(Self::from_secret_bytes(*bytes))
    }

    /// Hex form of the private key (a secret: zeroized when dropped).
    pub fn secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.secret.as_bytes()))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// WalletConnect `deriveSymKey`: HKDF-SHA256(ikm = X25519(self, peer), no salt,
    /// no info) → 32 bytes.
    pub fn derive_sym_key(&self, peer: &PublicKey) -> Result<SymKey, KeyError> {
        let shared = self.secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(KeyError::NonContributory);
        }
        let hk = Hkdf::<Sha256>::new(None, shared.as_bytes());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        // Invariant: 32 bytes is far below HKDF-SHA256's 255*32 byte output limit.
        #[allow(clippy::expect_used)]
        hk.expand(&[], okm.as_mut()).expect("32-byte HKDF output is always valid");
        Ok(SymKey(okm))
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

fn decode_hex_32(text: &str, out: &mut [u8; KEY_LEN]) -> Result<(), KeyError> {
    if text.len() != KEY_LEN * 2 {
        return match hex::decode(text) {
            Ok(v) => Err(KeyError::WrongLength(v.len())),
            Err(_) => Err(KeyError::NotHex),
        };
    }
    hex::decode_to_slice(text, out).map_err(|_| KeyError::NotHex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn both_sides_derive_the_same_key_and_topic() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = KeyPair::generate(&mut rng);
        let b = KeyPair::generate(&mut rng);
        let ka = a.derive_sym_key(&b.public()).unwrap();
        let kb = b.derive_sym_key(&a.public()).unwrap();
        assert_eq!(ka, kb);
        assert_eq!(ka.topic(), kb.topic());
        let c = KeyPair::generate(&mut rng);
        assert_ne!(ka, c.derive_sym_key(&a.public()).unwrap());
    }

    #[test]
    fn short_auth_string_is_six_digits_and_key_bound() {
        let a = SymKey::from_bytes([1; 32]).short_auth_string();
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(a, SymKey::from_bytes([1; 32]).short_auth_string());
        assert_ne!(a, SymKey::from_bytes([2; 32]).short_auth_string());
    }

    #[test]
    fn topic_is_sha256_of_key() {
        let key = SymKey::from_bytes([0u8; 32]);
        // sha256 of 32 zero bytes.
        assert_eq!(key.topic().as_str(), "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
    }

    #[test]
    fn low_order_public_key_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let a = KeyPair::generate(&mut rng);
        assert_eq!(a.derive_sym_key(&PublicKey::from_bytes([0u8; 32])), Err(KeyError::NonContributory));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let key = SymKey::generate(&mut rng);
        let pair = KeyPair::generate(&mut rng);
        assert!(!format!("{key:?}").contains(key.to_hex().as_str()));
        assert!(!format!("{pair:?}").contains(pair.secret_hex().as_str()));
    }

    #[test]
    fn hex_errors_are_specific() {
        assert_eq!(SymKey::from_hex("zz").unwrap_err(), KeyError::NotHex);
        assert_eq!(SymKey::from_hex("abcd").unwrap_err(), KeyError::WrongLength(2));
        assert!(Topic::parse("ab").is_err());
    }
}
