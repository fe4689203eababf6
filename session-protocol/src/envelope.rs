//! WalletConnect v2 envelopes: type 0 (`0x00 ‖ iv ‖ sealed`), type 1
//! (`0x01 ‖ sender public key ‖ iv ‖ sealed`) and type 2 (`0x02 ‖ plaintext`),
//! sealed with ChaCha20-Poly1305 and carried as standard base64.
//!
//! The AEAD is `ring`'s (BoringSSL's assembly), which is several times faster
//! than a portable implementation on the small messages sessions send.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand_core::{CryptoRng, RngCore};
use ring::aead;

use crate::keys::{KEY_LEN, PublicKey, SymKey};

/// Length of the ChaCha20-Poly1305 nonce ("iv" in WalletConnect).
pub const IV_LEN: usize = 12;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Largest base64 envelope accepted (the Waku message cap, 150 KiB).
pub const MAX_ENCODED_LEN: usize = 150 * 1024;

/// Why an envelope could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The wire text is not standard base64.
    #[error("envelope is not valid base64")]
    NotBase64,
    /// The envelope is empty.
    #[error("envelope is empty")]
    Empty,
    /// The type byte is not 0, 1 or 2.
    #[error("unknown envelope type {0}")]
    UnknownType(u8),
    /// The envelope is shorter than its type requires.
    #[error("envelope of type {kind} is truncated: {len} bytes, at least {min} needed")]
    Truncated {
        /// Envelope type byte.
        kind: u8,
        /// Bytes received.
        len: usize,
        /// Minimum length for this type.
        min: usize,
    },
    /// The encoded envelope is larger than [`MAX_ENCODED_LEN`].
    #[error("envelope is {0} bytes of base64, the limit is {MAX_ENCODED_LEN}")]
    TooLarge(usize),
    /// The AEAD tag did not verify: the key is wrong or the bytes were tampered with.
    #[error("decryption failed: wrong key or tampered envelope")]
    WrongKeyOrTampered,
    /// The plaintext is not UTF-8.
    #[error("decrypted payload is not UTF-8")]
    NotUtf8,
    /// A type 2 envelope was given where an encrypted one is required, or the reverse.
    #[error("expected an encrypted envelope, got type {0}")]
    Unencrypted(u8),
}

/// The parsed header of an envelope, before decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// Type 0: sealed with a key both sides already know.
    Type0 {
        /// Nonce.
        iv: [u8; IV_LEN],
        /// Ciphertext followed by the 16-byte tag.
        sealed: Vec<u8>,
    },
    /// Type 1: sealed with a key derived from `sender` and the receiver's key pair.
    Type1 {
        /// The sender's X25519 public key.
        sender: PublicKey,
        /// Nonce.
        iv: [u8; IV_LEN],
        /// Ciphertext followed by the 16-byte tag.
        sealed: Vec<u8>,
    },
    /// Type 2: unencrypted payload.
    Type2 {
        /// The plaintext bytes.
        plaintext: Vec<u8>,
    },
}

impl Envelope {
    /// Decodes base64 wire text and splits the header (no decryption yet).
    pub fn decode(encoded: &str) -> Result<Self, EnvelopeError> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(EnvelopeError::TooLarge(encoded.len()));
        }
        let bytes = STANDARD.decode(encoded).map_err(|_| EnvelopeError::NotBase64)?;
        Self::from_bytes(bytes)
    }

    /// Splits raw envelope bytes into their parts.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<Self, EnvelopeError> {
        let kind = *bytes.first().ok_or(EnvelopeError::Empty)?;
        let truncated = |min: usize, len: usize| EnvelopeError::Truncated { kind, len, min };
        match kind {
            0 => {
                let min = 1 + IV_LEN + TAG_LEN;
                if bytes.len() < min {
                    return Err(truncated(min, bytes.len()));
                }
                let sealed = bytes.split_off(1 + IV_LEN);
                Ok(Envelope::Type0 { iv: array(&bytes[1..]), sealed })
            }
            1 => {
                let min = 1 + KEY_LEN + IV_LEN + TAG_LEN;
                if bytes.len() < min {
                    return Err(truncated(min, bytes.len()));
                }
                let sealed = bytes.split_off(1 + KEY_LEN + IV_LEN);
                let sender = PublicKey::from_bytes(array(&bytes[1..1 + KEY_LEN]));
                Ok(Envelope::Type1 { sender, iv: array(&bytes[1 + KEY_LEN..]), sealed })
            }
            2 => Ok(Envelope::Type2 { plaintext: bytes.split_off(1) }),
            other => Err(EnvelopeError::UnknownType(other)),
        }
    }

    /// The type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Envelope::Type0 { .. } => 0,
            Envelope::Type1 { .. } => 1,
            Envelope::Type2 { .. } => 2,
        }
    }

    /// The sender public key of a type 1 envelope.
    pub fn sender(&self) -> Option<PublicKey> {
        match self {
            Envelope::Type1 { sender, .. } => Some(*sender),
            _ => None,
        }
    }

    /// Decrypts a type 0 or type 1 envelope with `key`.
    pub fn open(&self, key: &SymKey) -> Result<String, EnvelopeError> {
        let (iv, sealed) = match self {
            Envelope::Type0 { iv, sealed } | Envelope::Type1 { iv, sealed, .. } => (iv, sealed),
            Envelope::Type2 { .. } => return Err(EnvelopeError::Unencrypted(2)),
        };
        let mut plain = sealed.clone();
        let len = cipher(key)
            .open_in_place(aead::Nonce::assume_unique_for_key(*iv), aead::Aad::empty(), &mut plain)
            .map_err(|_| EnvelopeError::WrongKeyOrTampered)?
            .len();
        plain.truncate(len);
        String::from_utf8(plain).map_err(|_| EnvelopeError::NotUtf8)
    }

    /// The payload of a type 2 envelope.
    pub fn plaintext(&self) -> Result<String, EnvelopeError> {
        match self {
            Envelope::Type2 { plaintext } => String::from_utf8(plaintext.clone()).map_err(|_| EnvelopeError::NotUtf8),
            other => Err(EnvelopeError::Unencrypted(other.kind())),
        }
    }

    /// Raw envelope bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Envelope::Type0 { iv, sealed } => [&[0u8][..], iv, sealed].concat(),
            Envelope::Type1 { sender, iv, sealed } => [&[1u8][..], sender.as_bytes(), iv, sealed].concat(),
            Envelope::Type2 { plaintext } => [&[2u8][..], plaintext].concat(),
        }
    }

    /// Base64 wire text.
    pub fn encode(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }
}

/// Seals `message` as a type 0 envelope with a fresh random nonce; returns base64.
pub fn seal_type0<R: RngCore + CryptoRng + ?Sized>(key: &SymKey, message: &str, rng: &mut R) -> String {
    let iv = random_iv(rng);
    Envelope::Type0 { iv, sealed: seal(key, &iv, message) }.encode()
}

/// Seals `message` as a type 1 envelope (the sender's public key in clear) with a fresh nonce.
pub fn seal_type1<R: RngCore + CryptoRng + ?Sized>(
    key: &SymKey,
    sender: PublicKey,
    message: &str,
    rng: &mut R,
) -> String {
    let iv = random_iv(rng);
    Envelope::Type1 { sender, iv, sealed: seal(key, &iv, message) }.encode()
}

/// Wraps `message` unencrypted as a type 2 envelope.
pub fn encode_type2(message: &str) -> String {
    Envelope::Type2 { plaintext: message.as_bytes().to_vec() }.encode()
}

/// Seals with an explicit nonce. Only for known-answer tests: a nonce must never be reused.
pub fn seal_type0_with_iv(key: &SymKey, iv: [u8; IV_LEN], message: &str) -> String {
    Envelope::Type0 { iv, sealed: seal(key, &iv, message) }.encode()
}

fn cipher(key: &SymKey) -> aead::LessSafeKey {
    // Invariant: a SymKey is always 32 bytes, the ChaCha20-Poly1305 key length.
    #[allow(clippy::expect_used)]
    let unbound = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key.as_bytes()).expect("32-byte key");
    aead::LessSafeKey::new(unbound)
}

fn seal(key: &SymKey, iv: &[u8; IV_LEN], message: &str) -> Vec<u8> {
    let mut sealed = Vec::with_capacity(message.len() + TAG_LEN);
    sealed.extend_from_slice(message.as_bytes());
    // Invariant: the AEAD only fails for plaintexts over 256 GiB; callers pass
    // messages bounded by MAX_ENCODED_LEN.
    #[allow(clippy::expect_used)]
    cipher(key)
        .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(*iv), aead::Aad::empty(), &mut sealed)
        .expect("plaintext below the AEAD length limit");
    sealed
}

fn random_iv<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    iv
}

fn array<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&slice[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn key(byte: u8) -> SymKey {
        SymKey::from_bytes([byte; 32])
    }

    #[test]
    fn type0_round_trips_and_uses_fresh_nonces() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let a = seal_type0(&key(1), "hello", &mut rng);
        let b = seal_type0(&key(1), "hello", &mut rng);
        assert_ne!(a, b, "two seals of the same message must differ (fresh iv)");
        assert_eq!(Envelope::decode(&a).unwrap().open(&key(1)).unwrap(), "hello");
    }

    #[test]
    fn wrong_key_tamper_truncation_and_type_are_reported() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let wire = seal_type0(&key(1), "payload", &mut rng);
        let env = Envelope::decode(&wire).unwrap();
        assert_eq!(env.open(&key(2)), Err(EnvelopeError::WrongKeyOrTampered));

        let mut bytes = env.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(Envelope::from_bytes(bytes).unwrap().open(&key(1)), Err(EnvelopeError::WrongKeyOrTampered));

        assert!(matches!(
            Envelope::from_bytes(vec![0, 1, 2, 3]),
            Err(EnvelopeError::Truncated { kind: 0, len: 4, min: 29 })
        ));
        assert_eq!(Envelope::from_bytes(vec![9, 1]), Err(EnvelopeError::UnknownType(9)));
        assert_eq!(Envelope::from_bytes(vec![]), Err(EnvelopeError::Empty));
        assert_eq!(Envelope::decode("not base64!"), Err(EnvelopeError::NotBase64));
        assert_eq!(
            Envelope::decode(&"A".repeat(MAX_ENCODED_LEN + 4)),
            Err(EnvelopeError::TooLarge(MAX_ENCODED_LEN + 4))
        );
    }

    #[test]
    fn type1_carries_the_sender_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let sender = PublicKey::from_bytes([5; 32]);
        let env = Envelope::decode(&seal_type1(&key(3), sender, "x", &mut rng)).unwrap();
        assert_eq!(env.sender(), Some(sender));
        assert_eq!(env.open(&key(3)).unwrap(), "x");
    }

    #[test]
    fn type2_is_plaintext() {
        let env = Envelope::decode(&encode_type2("{\"a\":1}")).unwrap();
        assert_eq!(env.plaintext().unwrap(), "{\"a\":1}");
        assert_eq!(env.open(&key(1)), Err(EnvelopeError::Unencrypted(2)));
    }
}
