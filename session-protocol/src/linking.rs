//! Device linking by challenge/response: the verifier issues a single-use,
//! expiring nonce (shown as a QR code), the other device signs the challenge text
//! with EIP-191 `personal_sign` (secp256k1, address recovered with keccak-256) or
//! with ed25519, and the verifier checks the signature. A nonce is consumed by
//! the first answer, right or wrong, so it can never be replayed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use sha3::{Digest, Keccak256};
use subtle::ConstantTimeEq;

use crate::uri::{form_decode, form_encode, unix_secs};

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 32;

/// Why a link answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The nonce was never issued here, or was already used.
    #[error("nonce unknown or already used")]
    UnknownOrUsedNonce,
    /// The challenge expired before the answer arrived.
    #[error("challenge expired at {0} (unix seconds)")]
    Expired(u64),
    /// Too many challenges are outstanding; wait for some to expire.
    #[error("{0} challenges are outstanding, the limit")]
    TooManyOutstanding(usize),
    /// The signature bytes are malformed (length, recovery id, high s).
    #[error("signature is malformed: {0}")]
    MalformedSignature(&'static str),
    /// The signature does not verify for the claimed signer.
    #[error("signature does not match the claimed signer")]
    BadSignature,
    /// A scanned challenge text is not `heliograph-link:<nonce>?expires=…&origin=…`.
    #[error("not a link challenge: {0}")]
    BadChallenge(&'static str),
}

/// A challenge to show to the device being linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChallenge {
    /// Single-use random nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Expiry, unix seconds.
    pub expires: u64,
    /// Who asks (e.g. the wallet's origin); part of the signed text.
    pub origin: String,
}

impl LinkChallenge {
    /// The exact text the device signs.
    pub fn message(&self) -> String {
        format!("Link this device to {}\nNonce: {}\nExpires: {}", self.origin, hex::encode(self.nonce), self.expires)
    }

    /// A compact text to put in a QR code (origin form-encoded).
    pub fn to_qr_text(&self) -> String {
        format!(
            "heliograph-link:{}?expires={}&origin={}",
            hex::encode(self.nonce),
            self.expires,
            form_encode(&self.origin)
        )
    }

    /// Reads a scanned [`to_qr_text`](Self::to_qr_text), so the device can sign
    /// [`message`](Self::message).
    pub fn parse_qr_text(text: &str) -> Result<Self, LinkError> {
        let rest = text.strip_prefix("heliograph-link:").ok_or(LinkError::BadChallenge("wrong scheme"))?;
        let (nonce_hex, query) = rest.split_once('?').ok_or(LinkError::BadChallenge("no parameters"))?;
        let mut nonce = [0u8; NONCE_LEN];
        hex::decode_to_slice(nonce_hex, &mut nonce)
            .map_err(|_| LinkError::BadChallenge("nonce is not 32 hex bytes"))?;
        let (mut expires, mut origin) = (None, None);
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse::<u64>().ok(),
                Some(("origin", v)) => origin = form_decode(v).ok(),
                _ => {}
            }
        }
        Ok(LinkChallenge {
            nonce,
            expires: expires.ok_or(LinkError::BadChallenge("no valid expires"))?,
            origin: origin.ok_or(LinkError::BadChallenge("no valid origin"))?,
        })
    }
}

/// The signed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProof {
    /// EIP-191 `personal_sign` by an Ethereum account: 65-byte `r ‖ s ‖ v`.
    Eip191 {
        /// The claimed 20-byte address.
        address: [u8; 20],
        /// The signature (`v` is 27/28 or 0/1).
        signature: Vec<u8>,
    },
    /// Ed25519 over the challenge text.
    Ed25519 {
        /// Signer's public key.
        public_key: [u8; 32],
        /// The 64-byte signature.
        signature: Vec<u8>,
    },
}

/// Who was linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkedIdentity {
    /// An Ethereum address.
    Ethereum([u8; 20]),
    /// An ed25519 public key.
    Ed25519([u8; 32]),
}

/// Issues challenges and verifies answers; keeps outstanding nonces (bounded).
#[derive(Debug, Clone)]
pub struct LinkVerifier {
    origin: String,
    outstanding: BTreeMap<[u8; NONCE_LEN], u64>,
    max_outstanding: usize,
}

impl LinkVerifier {
    /// A verifier for `origin`, with at most `max_outstanding` open challenges.
    pub fn new(origin: impl Into<String>, max_outstanding: usize) -> Self {
        LinkVerifier { origin: origin.into(), outstanding: BTreeMap::new(), max_outstanding }
    }

    /// A new challenge valid for `ttl` from `now`.
    pub fn issue<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<LinkChallenge, LinkError> {
        self.prune(now);
        if self.outstanding.len() >= self.max_outstanding {
            return Err(LinkError::TooManyOutstanding(self.outstanding.len()));
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let expires = unix_secs(now) + ttl.as_secs();
        self.outstanding.insert(nonce, expires);
        Ok(LinkChallenge { nonce, expires, origin: self.origin.clone() })
    }

    /// Forgets expired challenges.
    pub fn prune(&mut self, now: SystemTime) {
        let now = unix_secs(now);
        self.outstanding.retain(|_, expires| *expires > now);
    }

    /// Checks an answer to the challenge with `nonce`. The nonce is consumed
    /// whatever the outcome.
    pub fn verify(
        &mut self,
        nonce: &[u8; NONCE_LEN],
        proof: &LinkProof,
        now: SystemTime,
    ) -> Result<LinkedIdentity, LinkError> {
        let expires = self.outstanding.remove(nonce).ok_or(LinkError::UnknownOrUsedNonce)?;
        if unix_secs(now) >= expires {
            return Err(LinkError::Expired(expires));
        }
        let challenge = LinkChallenge { nonce: *nonce, expires, origin: self.origin.clone() };
        let message = challenge.message();
        match proof {
            LinkProof::Eip191 { address, signature } => {
                let recovered = recover_eip191(message.as_bytes(), signature)?;
                if bool::from(recovered.ct_eq(address)) {
                    Ok(LinkedIdentity::Ethereum(*address))
                } else {
                    Err(LinkError::BadSignature)
                }
            }
            LinkProof::Ed25519 { public_key, signature } => {
                let sig: [u8; 64] = signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| LinkError::MalformedSignature("ed25519 signature is not 64 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| LinkError::BadSignature)?;
                key.verify_strict(message.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
                    .map_err(|_| LinkError::BadSignature)?;
                Ok(LinkedIdentity::Ed25519(*public_key))
            }
        }
    }
}

/// keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message), the EIP-191 hash.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    h.update(message);
    h.finalize().into()
}

/// The Ethereum address of a secp256k1 key: the last 20 bytes of keccak256 of
/// the uncompressed point without its 0x04 prefix.
pub fn eth_address(key: &VerifyingKey) -> [u8; 20] {
    let point = key.to_sec1_point(false);
    let hash: [u8; 32] = Keccak256::digest(&point.as_bytes()[1..]).into();
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// Recovers the signer address of an EIP-191 signature over `message`.
pub fn recover_eip191(message: &[u8], signature: &[u8]) -> Result<[u8; 20], LinkError> {
    if signature.len() != 65 {
        return Err(LinkError::MalformedSignature("personal_sign signature is not 65 bytes"));
    }
    let v = match signature[64] {
        v @ (27 | 28) => v - 27,
        v @ (0 | 1) => v,
        _ => return Err(LinkError::MalformedSignature("v is not 0, 1, 27 or 28")),
    };
    let sig =
        Signature::from_slice(&signature[..64]).map_err(|_| LinkError::MalformedSignature("r or s out of range"))?;
    if sig.normalize_s() != sig {
        return Err(LinkError::MalformedSignature("high s (malleable signature)"));
    }
    let recid = RecoveryId::from_byte(v).ok_or(LinkError::MalformedSignature("bad recovery id"))?;
    let key =
        VerifyingKey::recover_from_prehash(&eip191_hash(message), &sig, recid).map_err(|_| LinkError::BadSignature)?;
    Ok(eth_address(&key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::time::UNIX_EPOCH;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn eth_sign(key: &SigningKey, message: &str) -> Vec<u8> {
        let (sig, recid) = key.sign_prehash_recoverable(&eip191_hash(message.as_bytes()));
        let mut out = sig.to_bytes().to_vec();
        out.push(27 + recid.to_byte());
        out
    }

    #[test]
    fn known_ethereum_address() {
        // Private key 1 is the generator point; its address is well known.
        let mut sk = [0u8; 32];
        sk[31] = 1;
        let key = SigningKey::from_slice(&sk).unwrap();
        assert_eq!(hex::encode(eth_address(key.verifying_key())), "7e5f4552091a69125d5dfcb7b8c2659029395bdf");
    }

    #[test]
    fn eip191_answer_links_once() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let address = eth_address(key.verifying_key());
        let mut verifier = LinkVerifier::new("https://wallet.example", 8);
        let challenge = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        // The device scans the QR text and signs what it reconstructs.
        let scanned = LinkChallenge::parse_qr_text(&challenge.to_qr_text()).unwrap();
        assert_eq!(scanned, challenge);
        assert!(crate::qr::Qr::new(&challenge.to_qr_text()).is_ok());
        assert_eq!(
            LinkChallenge::parse_qr_text("heliograph-link:zz?expires=1&origin=o"),
            Err(LinkError::BadChallenge("nonce is not 32 hex bytes"))
        );
        let proof = LinkProof::Eip191 { address, signature: eth_sign(&key, &scanned.message()) };
        assert_eq!(verifier.verify(&challenge.nonce, &proof, now()), Ok(LinkedIdentity::Ethereum(address)));
        assert_eq!(verifier.verify(&challenge.nonce, &proof, now()), Err(LinkError::UnknownOrUsedNonce));
    }

    #[test]
    fn wrong_signer_expired_and_malformed_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        let mut verifier = LinkVerifier::new("o", 8);
        let c = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        let proof =
            LinkProof::Eip191 { address: eth_address(key.verifying_key()), signature: eth_sign(&other, &c.message()) };
        assert_eq!(verifier.verify(&c.nonce, &proof, now()), Err(LinkError::BadSignature));

        let c = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        let proof =
            LinkProof::Eip191 { address: eth_address(key.verifying_key()), signature: eth_sign(&key, &c.message()) };
        let late = now() + Duration::from_secs(60);
        assert_eq!(verifier.verify(&c.nonce, &proof, late), Err(LinkError::Expired(c.expires)));

        let c = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        let proof = LinkProof::Eip191 { address: [0; 20], signature: vec![0; 10] };
        assert!(matches!(verifier.verify(&c.nonce, &proof, now()), Err(LinkError::MalformedSignature(_))));
    }

    #[test]
    fn ed25519_answer_and_outstanding_bound() {
        use ed25519_dalek::Signer;
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let signer = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let public_key = signer.verifying_key().to_bytes();
        let mut verifier = LinkVerifier::new("o", 2);
        let c = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        let _second = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        assert_eq!(verifier.issue(&mut rng, now(), Duration::from_secs(60)), Err(LinkError::TooManyOutstanding(2)));
        let mut sig = signer.sign(c.message().as_bytes()).to_bytes().to_vec();
        let proof = LinkProof::Ed25519 { public_key, signature: sig.clone() };
        assert_eq!(verifier.verify(&c.nonce, &proof, now()), Ok(LinkedIdentity::Ed25519(public_key)));
        let c = verifier.issue(&mut rng, now(), Duration::from_secs(60)).unwrap();
        sig[0] ^= 1;
        let proof = LinkProof::Ed25519 { public_key, signature: sig };
        assert_eq!(verifier.verify(&c.nonce, &proof, now()), Err(LinkError::BadSignature));
        // Expired challenges free their slot.
        assert!(verifier.issue(&mut rng, now() + Duration::from_secs(61), Duration::from_secs(60)).is_ok());
    }
}
