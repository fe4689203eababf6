//! Validation of relayed WakuMessages: what the node accepts from peers and
//! from its own APIs before it enters the mesh.

use std::sync::OnceLock;
use std::time::Duration;

use heliograph_proto::{Message, WakuMessage};
use sha2::{Digest, Sha256};

use super::hash::{MessageHash, message_hash};
use super::topic::PubsubTopic;

/// Largest encoded WakuMessage relayed: 150 KiB, as in the Waku network.
pub const MAX_MESSAGE_SIZE: usize = 150 * 1024;

/// Longest content topic a relayed message (or a filter subscription, within
/// its per-peer byte budget) may carry. nwaku bounds it only by the message
/// size; 4 KiB takes every topic seen in practice while keeping store index keys
/// small. Bridge subscriptions and REST autosharding keep the stricter
/// [`super::topic::MAX_TOPIC_LEN`].
pub const MAX_CONTENT_TOPIC_LEN: usize = 4096;

/// Longest `meta` field (14/WAKU2-MESSAGE: up to 64 bytes; nwaku refuses longer).
pub const MAX_META_LEN: usize = 64;

/// How far a message timestamp may be from the receiving node's clock, either way,
/// by default: 20 s, nwaku's `MaxMessageTimestampVariance`. Relayed messages take
/// well under a second; more means a wrong clock or a replay, and a timestamp far
/// off poisons store retention and gap filling, which order by it.
pub const DEFAULT_MAX_TIMESTAMP_DRIFT: Duration = Duration::from_secs(20);

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The encoded message is larger than [`MAX_MESSAGE_SIZE`].
    #[error("Message size exceeded maximum of {MAX_MESSAGE_SIZE} bytes: it is {0} bytes")]
    TooLarge(usize),
    /// The bytes are not a WakuMessage protobuf.
    #[error("message is not a valid WakuMessage protobuf: {0}")]
    Malformed(#[from] heliograph_proto::DecodeError),
    /// The content topic is empty.
    #[error("message has no content topic")]
    NoContentTopic,
    /// The content topic is longer than the topic limit.
    #[error("content topic is {0} bytes, the limit is {MAX_CONTENT_TOPIC_LEN}")]
    ContentTopicTooLong(usize),
    /// The meta field is longer than [`MAX_META_LEN`].
    #[error("invalid length for Meta field: {0} bytes, the limit is {MAX_META_LEN}")]
    MetaTooLong(usize),
    /// The timestamp is farther from the node's clock than the accepted drift.
    #[error(
        "message timestamp {timestamp} ns is {} s {} the node's clock; at most {max_drift_secs} s either way is \
         accepted: send the current time in ns, or no timestamp",
        offset_ns.unsigned_abs() / 1_000_000_000,
        if *offset_ns > 0 { "ahead of" } else { "behind" }
    )]
    TimestampOutOfWindow {
        /// The message's timestamp, ns.
        timestamp: i64,
        /// Timestamp minus now, ns (saturated).
        offset_ns: i64,
        /// The accepted drift, s.
        max_drift_secs: u64,
    },
}

impl MessageError {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            MessageError::TooLarge(_) => "too_large",
            MessageError::Malformed(_) => "malformed",
            MessageError::NoContentTopic => "no_content_topic",
            MessageError::ContentTopicTooLong(_) => "content_topic_too_long",
            MessageError::MetaTooLong(_) => "meta_too_long",
            MessageError::TimestampOutOfWindow { .. } => "timestamp_out_of_window",
        }
    }
}

/// A validated message on a pubsub topic, with its encoded form and relay id.
#[derive(Debug, Clone)]
pub struct RelayMessage {
    /// The pubsub topic it travels on.
    pub pubsub_topic: PubsubTopic,
    /// The decoded message.
    pub message: WakuMessage,
    /// The exact bytes relayed in gossipsub.
    pub encoded: Vec<u8>,
    /// The deterministic message hash, computed once on first use: the publish
    /// answer, the store and the bridge all need it for the same message.
    hash: OnceLock<MessageHash>,
}

impl RelayMessage {
    /// Validates bytes received from the mesh.
    pub fn decode(pubsub_topic: PubsubTopic, encoded: Vec<u8>) -> Result<Self, MessageError> {
        if encoded.len() > MAX_MESSAGE_SIZE {
            return Err(MessageError::TooLarge(encoded.len()));
        }
        let message = WakuMessage::decode(encoded.as_slice())?;
        check_fields(&message)?;
        Ok(RelayMessage { pubsub_topic, message, encoded, hash: OnceLock::new() })
    }

    /// Validates a message built locally (REST, bridge) and encodes it.
    pub fn encode(pubsub_topic: PubsubTopic, message: WakuMessage) -> Result<Self, MessageError> {
        check_fields(&message)?;
        let encoded = message.encode_to_vec();
        if encoded.len() > MAX_MESSAGE_SIZE {
            return Err(MessageError::TooLarge(encoded.len()));
        }
        Ok(RelayMessage { pubsub_topic, message, encoded, hash: OnceLock::new() })
    }

    /// The deterministic message hash (14/WAKU2-MESSAGE) of the message on its pubsub topic.
    pub fn hash(&self) -> MessageHash {
        *self.hash.get_or_init(|| message_hash(&self.pubsub_topic.to_string(), &self.message))
    }

    /// The relay message id: sha256 of the encoded message, as every Waku node computes it.
    pub fn relay_id(&self) -> [u8; 32] {
        relay_id(&self.encoded)
    }
}

/// The gossipsub message id of Waku relay: sha256 of the message bytes.
pub fn relay_id(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Checks that `message`'s timestamp is within `max_drift` of `now_ns` (the
/// receiving node's clock). A message without a timestamp (absent or 0) passes, as in
/// nwaku: the store orders it by its receive time.
pub fn check_timestamp(message: &WakuMessage, now_ns: i64, max_drift: Duration) -> Result<(), MessageError> {
    let Some(timestamp) = message.timestamp.filter(|t| *t != 0) else {
        return Ok(());
    };
    let drift = i64::try_from(max_drift.as_nanos()).unwrap_or(i64::MAX);
    let offset_ns = timestamp.saturating_sub(now_ns);
    if offset_ns.checked_abs().is_none_or(|a| a > drift) {
        return Err(MessageError::TimestampOutOfWindow { timestamp, offset_ns, max_drift_secs: max_drift.as_secs() });
    }
    Ok(())
}

fn check_fields(message: &WakuMessage) -> Result<(), MessageError> {
    if message.content_topic.is_empty() {
        return Err(MessageError::NoContentTopic);
    }
    if message.content_topic.len() > MAX_CONTENT_TOPIC_LEN {
        return Err(MessageError::ContentTopicTooLong(message.content_topic.len()));
    }
    if let Some(meta) = message.meta.as_ref().filter(|m| m.len() > MAX_META_LEN) {
        return Err(MessageError::MetaTooLong(meta.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic() -> PubsubTopic {
        PubsubTopic::Sharded { cluster: 1, shard: 0 }
    }

    #[test]
    fn the_cached_hash_is_the_deterministic_hash_on_the_pubsub_topic() {
        let msg = WakuMessage { payload: vec![9; 40], content_topic: "/a/1/b/proto".into(), ..Default::default() };
        let relayed = RelayMessage::encode(topic(), msg.clone()).expect("valid");
        let expected = message_hash("/waku/2/rs/1/0", &msg);
        assert_eq!(relayed.hash(), expected);
        assert_eq!(relayed.clone().hash(), expected, "clones carry it");
        let other = RelayMessage::encode(PubsubTopic::Sharded { cluster: 1, shard: 1 }, msg).expect("valid");
        assert_ne!(other.hash(), expected, "the pubsub topic is part of the hash");
    }

    #[test]
    fn timestamps_beyond_the_drift_either_way_are_refused_and_absent_ones_pass() {
        const NOW: i64 = 1_800_000_000_000_000_000;
        let drift = DEFAULT_MAX_TIMESTAMP_DRIFT;
        let at = |timestamp: Option<i64>| WakuMessage {
            payload: vec![1],
            content_topic: "/a/1/b/proto".into(),
            timestamp,
            ..Default::default()
        };
        let edge = 20_000_000_000;
        for ok in [None, Some(0), Some(NOW), Some(NOW - edge), Some(NOW + edge)] {
            assert!(check_timestamp(&at(ok), NOW, drift).is_ok(), "{ok:?}");
        }
        for bad in [Some(NOW - edge - 1), Some(NOW + edge + 1), Some(i64::MAX), Some(i64::MIN), Some(1)] {
            let err = check_timestamp(&at(bad), NOW, drift).expect_err("refused");
            assert_eq!(err.label(), "timestamp_out_of_window");
            assert!(err.to_string().contains("at most 20 s"), "{err}");
        }
        let err = check_timestamp(&at(Some(i64::MAX)), NOW, drift).expect_err("refused").to_string();
        assert!(err.contains("ahead of"), "{err}");
        let err = check_timestamp(&at(Some(NOW - 3_600_000_000_000)), NOW, drift).expect_err("refused").to_string();
        assert!(err.contains("3600 s behind"), "{err}");
    }

    #[test]
    fn valid_message_round_trips() {
        let msg = WakuMessage { payload: vec![1, 2, 3], content_topic: "/a/1/b/proto".into(), ..Default::default() };
        let out = RelayMessage::encode(topic(), msg.clone()).expect("valid");
        let back = RelayMessage::decode(topic(), out.encoded.clone()).expect("valid");
        assert_eq!(back.message, msg);
        assert_eq!(back.relay_id(), out.relay_id());
        assert_eq!(out.relay_id(), <[u8; 32]>::from(Sha256::digest(&out.encoded)));
    }

    #[test]
    fn refuses_garbage_missing_topic_and_oversize() {
        assert!(matches!(RelayMessage::decode(topic(), vec![0xff, 0xff, 0xff]), Err(MessageError::Malformed(_))));
        let no_topic = WakuMessage { payload: vec![1], ..Default::default() };
        assert!(matches!(RelayMessage::encode(topic(), no_topic), Err(MessageError::NoContentTopic)));
        let big = WakuMessage {
            payload: vec![0; MAX_MESSAGE_SIZE],
            content_topic: "/a/1/b/proto".into(),
            ..Default::default()
        };
        assert!(matches!(RelayMessage::encode(topic(), big), Err(MessageError::TooLarge(_))));
        assert!(matches!(
            RelayMessage::decode(topic(), vec![0; MAX_MESSAGE_SIZE + 1]),
            Err(MessageError::TooLarge(n)) if n == MAX_MESSAGE_SIZE + 1
        ));
    }
}
