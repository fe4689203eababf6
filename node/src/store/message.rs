//! A stored message and its on-disk encoding: ordering time, then the
//! `WakuMessageKeyValue` protobuf (hash, message, pubsub topic).

use heliograph_proto::store::WakuMessageKeyValue;
use heliograph_proto::{Message, WakuMessage};

use super::StoreError;
use crate::waku::RelayMessage;
use crate::waku::hash::{MessageHash, message_hash};

/// A message as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Deterministic hash (14/WAKU2-MESSAGE).
    pub hash: MessageHash,
    /// The pubsub topic it was relayed on.
    pub pubsub_topic: String,
    /// The message.
    pub message: WakuMessage,
    /// Ordering time in ns: the message timestamp, or the receive time if it has none.
    pub time: i64,
}

/// Whether the store keeps `message`: everything but ephemeral messages (14/WAKU2-MESSAGE).
/// The one place this rule is written.
pub fn is_kept(message: &WakuMessage) -> bool {
    message.ephemeral != Some(true)
}

impl StoredMessage {
    /// What the store keeps of a relayed message received at `received_ns`: nothing if it is ephemeral.
    pub fn keep(relayed: &RelayMessage, received_ns: i64) -> Option<Self> {
        is_kept(&relayed.message).then(|| Self::relayed(relayed, received_ns))
    }

    /// A message received at `received_ns`.
    pub fn new(pubsub_topic: String, message: WakuMessage, received_ns: i64) -> Self {
        let time = message.timestamp.filter(|t| *t != 0).unwrap_or(received_ns);
        StoredMessage { hash: message_hash(&pubsub_topic, &message), pubsub_topic, message, time }
    }

    /// A relayed message received at `received_ns`, with the hash it already carries.
    pub fn relayed(relayed: &RelayMessage, received_ns: i64) -> Self {
        let message = relayed.message.clone();
        let time = message.timestamp.filter(|t| *t != 0).unwrap_or(received_ns);
        StoredMessage { hash: relayed.hash(), pubsub_topic: relayed.pubsub_topic.to_string(), message, time }
    }

    /// Encodes the value stored under the hash.
    pub fn encode(&self) -> Vec<u8> {
        let kv = WakuMessageKeyValue {
            message_hash: Some(self.hash.to_vec()),
            message: Some(self.message.clone()),
            pubsub_topic: Some(self.pubsub_topic.clone()),
        };
        let mut out = self.time.to_be_bytes().to_vec();
        kv.encode(&mut out).expect("a Vec grows as needed");
        out
    }

    /// Decodes a stored value.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("stored message: {what}"));
        let time = i64::from_be_bytes(bytes.get(..8).ok_or_else(|| corrupt("too short"))?.try_into().expect("8 bytes"));
        let kv = WakuMessageKeyValue::decode(&bytes[8..]).map_err(|e| corrupt(&e.to_string()))?;
        Ok(StoredMessage {
            hash: kv.message_hash.as_deref().and_then(|h| h.try_into().ok()).ok_or_else(|| corrupt("no hash"))?,
            pubsub_topic: kv.pubsub_topic.unwrap_or_default(),
            message: kv.message.ok_or_else(|| corrupt("no message"))?,
            time,
        })
    }
}
