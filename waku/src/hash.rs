//! The deterministic message hash of 14/WAKU2-MESSAGE, as nwaku computes it:
//! sha256(pubsub topic ‖ payload ‖ content topic ‖ meta ‖ timestamp), the
//! timestamp always as 8 big-endian bytes (zero when absent), so hashes match
//! nwaku's store and cursors across implementations.

use heliograph_proto::WakuMessage;
use sha2::{Digest, Sha256};

/// A 32-byte deterministic message hash.
pub type MessageHash = [u8; 32];

/// Computes the deterministic hash of `message` on `pubsub_topic`.
pub fn message_hash(pubsub_topic: &str, message: &WakuMessage) -> MessageHash {
    Sha256::new()
        .chain_update(pubsub_topic.as_bytes())
        .chain_update(&message.payload)
        .chain_update(message.content_topic.as_bytes())
        .chain_update(message.meta.as_deref().unwrap_or_default())
        .chain_update(message.timestamp.unwrap_or(0).to_be_bytes())
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBSUB: &str = "/waku/2/default-waku/proto";
    const CONTENT: &str = "/waku/2/default-content/proto";
    const TIMESTAMP: i64 = 0x175789bfa23f8400;

    fn vector(payload: &str, meta: Option<&str>) -> String {
        let message = WakuMessage {
            payload: hex::decode(payload).expect("hex"),
            content_topic: CONTENT.into(),
            meta: meta.map(|m| hex::decode(m).expect("hex")),
            timestamp: Some(TIMESTAMP),
            ..Default::default()
        };
        hex::encode(message_hash(PUBSUB, &message))
    }

    /// The test vectors of 14/WAKU2-MESSAGE (vacp2p/rfc-index).
    #[test]
    fn spec_test_vectors() {
        assert_eq!(
            vector("010203045445535405060708", Some("73757065722d736563726574")),
            "64cce733fed134e83da02b02c6f689814872b1a0ac97ea56b76095c3c72bfe05"
        );
        let meta64: String = (0u8..64).map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            vector("010203045445535405060708", Some(&meta64)),
            "7158b6498753313368b9af8f6e0a0a05104f68f972981da42a43bc53fb0c1b27"
        );
        assert_eq!(
            vector("010203045445535405060708", None),
            "a2554498b31f5bcdfcbf7fa58ad1c2d45f0254f3f8110a85588ec3cf10720fd8"
        );
        assert_eq!(
            vector("", Some("73757065722d736563726574")),
            "483ea950cb63f9b9d6926b262bb36194d3f40a0463ce8446228350bd44e96de4"
        );
    }

    #[test]
    fn absent_timestamp_hashes_as_eight_zero_bytes_like_nwaku() {
        let mut message = WakuMessage { payload: vec![1], content_topic: CONTENT.into(), ..Default::default() };
        let absent = message_hash(PUBSUB, &message);
        message.timestamp = Some(0);
        assert_eq!(absent, message_hash(PUBSUB, &message));
        let manual: MessageHash =
            Sha256::digest([PUBSUB.as_bytes(), &[1], CONTENT.as_bytes(), &[0; 8]].concat()).into();
        assert_eq!(absent, manual);
        // Fields outside the hash do not change it.
        message.ephemeral = Some(true);
        message.version = Some(1);
        assert_eq!(absent, message_hash(PUBSUB, &message));
    }
}
