//! `did:key` identifiers of ed25519 keys: `did:key:z` + base58btc(0xed 0x01 ‖ key).
//! A relay client's id is the `did:key` of its auth key.

use ed25519_dalek::VerifyingKey;

/// Multicodec prefix of an ed25519 public key.
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// Longest base58 part a 34-byte key can have (46 characters; a little slack).
const MAX_ENCODED_LEN: usize = 64;

/// The `did:key` of an ed25519 public key.
pub fn encode(public_key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_MULTICODEC);
    bytes.extend_from_slice(public_key);
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

/// The ed25519 key named by a `did:key:z…`, if it is one.
pub fn decode(did: &str) -> Option<VerifyingKey> {
    let encoded = did.strip_prefix("did:key:z")?;
    if encoded.len() > MAX_ENCODED_LEN {
        return None;
    }
    let bytes = bs58::decode(encoded).into_vec().ok()?;
    let key: &[u8; 32] = bytes.strip_prefix(&ED25519_MULTICODEC)?.try_into().ok()?;
    VerifyingKey::from_bytes(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn matches_the_relay_auth_vector_and_round_trips() {
        // @walletconnect/relay-auth's test vector: seed 58e0254c…, did:key z6MkodHZ….
        let seed: [u8; 32] = hex::decode("58e0254c211b858ef7896b00e3f36beeb13d568d47c6031c4218b87718061295")
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let public = SigningKey::from_bytes(&seed).verifying_key();
        let did = encode(&public.to_bytes());
        assert_eq!(did, "did:key:z6MkodHZwneVRShtaLf8JKYkxpDGp1vGZnpGmdBpX8M2exxH");
        assert_eq!(decode(&did), Some(public));
    }

    #[test]
    fn other_identifiers_are_refused() {
        let did = encode(&SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
        assert_eq!(decode(&did.replace("did:key:z", "did:web:z")), None);
        assert_eq!(decode("did:key:z0OIl"), None, "not base58");
        assert_eq!(decode(&format!("did:key:z{}", bs58::encode([0xe7, 0x01, 1, 2]).into_string())), None);
        assert_eq!(decode(&format!("{did}{}", "1".repeat(64))), None, "too long");
    }
}
