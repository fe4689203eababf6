//! How a WalletConnect relay message travels through the Waku mesh and store.
//!
//! A WC topic (64 hex chars) maps to the content topic
//! `/walletconnect/2/<topic>/irn`, autosharded like any other. The payload is
//! the client's message (its base64 decoded when it is canonical base64, so
//! the envelope is relayed as raw bytes). The relay metadata lives in
//! `WakuMessage.meta`, 34 bytes (under Waku's 64-byte meta limit):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | format version, 1 |
//! | 1 | flags: bit 0 = payload is the base64-decoded message |
//! | 2..6 | tag, u32 big-endian |
//! | 6..10 | ttl in seconds, u32 big-endian |
//! | 10..18 | publishedAt in ms since the epoch, u64 big-endian |
//! | 18..34 | first 16 bytes of sha256(publisher client id), to never echo |
//!
//! The WakuMessage timestamp is publishedAt in ns. The relay never reads the envelope.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use heliograph_proto::WakuMessage;
use sha2::{Digest, Sha256};

/// Prefix of the content topics that carry WalletConnect topics.
pub const CONTENT_TOPIC_PREFIX: &str = "/walletconnect/2/";
/// Suffix of those content topics.
pub const CONTENT_TOPIC_SUFFIX: &str = "/irn";
const META_LEN: usize = 34;
const META_VERSION: u8 = 1;
const FLAG_BASE64: u8 = 1;

/// A hash of a client id that identifies the publisher without revealing it.
pub type PublisherKey = [u8; 16];

/// The publisher key of a client id.
pub fn publisher_key(client_id: &str) -> PublisherKey {
    let digest = Sha256::digest(client_id.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Whether `topic` is a WalletConnect topic: 64 hex characters.
pub fn valid_topic(topic: &str) -> bool {
    topic.len() == 64 && topic.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The content topic of a WC topic.
pub fn content_topic(topic: &str) -> String {
    format!("{CONTENT_TOPIC_PREFIX}{topic}{CONTENT_TOPIC_SUFFIX}")
}

/// The WC topic of a content topic, if it is one.
pub fn wc_topic(content_topic: &str) -> Option<&str> {
    let topic = content_topic.strip_prefix(CONTENT_TOPIC_PREFIX)?.strip_suffix(CONTENT_TOPIC_SUFFIX)?;
    valid_topic(topic).then_some(topic)
}

/// A relay message as WalletConnect clients see it, plus what the relay needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WcMessage {
    /// The WC topic.
    pub topic: String,
    /// The message exactly as published (base64 envelope).
    pub message: String,
    /// Publish time, ms since the epoch.
    pub published_at: u64,
    /// The tag.
    pub tag: u32,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Who published it.
    pub publisher: PublisherKey,
}

impl WcMessage {
    /// When it expires, ms since the epoch.
    pub fn expiry(&self) -> u64 {
        self.published_at.saturating_add(u64::from(self.ttl) * 1000)
    }

    /// The WakuMessage that carries it.
    pub fn to_waku(&self) -> WakuMessage {
        let decoded = STANDARD.decode(&self.message).ok().filter(|bytes| STANDARD.encode(bytes) == self.message);
        let (flags, payload) = match decoded {
            Some(bytes) => (FLAG_BASE64, bytes),
            None => (0, self.message.as_bytes().to_vec()),
        };
        let mut meta = Vec::with_capacity(META_LEN);
        meta.push(META_VERSION);
        meta.push(flags);
        meta.extend_from_slice(&self.tag.to_be_bytes());
        meta.extend_from_slice(&self.ttl.to_be_bytes());
        meta.extend_from_slice(&self.published_at.to_be_bytes());
        meta.extend_from_slice(&self.publisher);
        WakuMessage {
            payload,
            content_topic: content_topic(&self.topic),
            version: Some(0),
            timestamp: Some(i64::try_from(self.published_at.saturating_mul(1_000_000)).unwrap_or(i64::MAX)),
            meta: Some(meta),
            rate_limit_proof: None,
            ephemeral: None,
        }
    }

    /// Reads a WakuMessage that carries a WC message; `None` if it is not one.
    pub fn from_waku(message: &WakuMessage) -> Option<WcMessage> {
        let topic = wc_topic(&message.content_topic)?;
        let meta = message.meta.as_deref().filter(|m| m.len() == META_LEN && m[0] == META_VERSION)?;
        let u32_at = |i: usize| meta.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
        let text = if meta[1] & FLAG_BASE64 != 0 {
            STANDARD.encode(&message.payload)
        } else {
            String::from_utf8(message.payload.clone()).ok()?
        };
        Some(WcMessage {
            topic: topic.to_owned(),
            message: text,
            tag: u32_at(2)?,
            ttl: u32_at(6)?,
            published_at: u64::from_be_bytes(meta.get(10..18)?.try_into().ok()?),
            publisher: meta.get(18..34)?.try_into().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(message: &str) -> WcMessage {
        WcMessage {
            topic: "ab".repeat(32),
            message: message.into(),
            published_at: 1_800_000_000_123,
            tag: 1100,
            ttl: 300,
            publisher: publisher_key("did:key:z6Mkexample"),
        }
    }

    #[test]
    fn messages_round_trip_through_waku_and_meta_stays_small() {
        for text in ["AAECAwQ=", "not base64 at all", "AAECAwQ"] {
            let message = sample(text);
            let waku = message.to_waku();
            assert!(waku.meta.as_ref().expect("meta").len() <= 64);
            assert_eq!(waku.content_topic, format!("/walletconnect/2/{}/irn", "ab".repeat(32)));
            assert_eq!(WcMessage::from_waku(&waku), Some(message));
        }
        assert_eq!(sample("AAECAwQ=").to_waku().payload, [0, 1, 2, 3, 4]);
        assert_eq!(sample("x").expiry(), 1_800_000_000_123 + 300_000);
    }

    #[test]
    fn other_messages_are_not_wc_messages() {
        let mut waku = sample("AA==").to_waku();
        waku.meta = Some(vec![1; 5]);
        assert_eq!(WcMessage::from_waku(&waku), None);
        waku.content_topic = "/walletconnect/2/xyz/irn".into();
        assert_eq!(WcMessage::from_waku(&waku), None);
        assert!(!valid_topic(&"g".repeat(64)));
        assert!(valid_topic(&"0f".repeat(32)));
        "/walletconnect/2/0f/irn".parse::<crate::waku::ContentTopic>().expect("a valid content topic");
    }
}
