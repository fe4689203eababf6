//! The JSON shape of a WakuMessage in nwaku's REST API: binary fields in
//! standard base64, the timestamp an exact int64 of nanoseconds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use heliograph_proto::WakuMessage;
use serde::{Deserialize, Serialize};

/// Why a [`MessageJson`] is not a valid message; the text is what REST and
/// bridge clients are told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageJsonError {
    /// A binary field is not standard base64.
    #[error("{field} is not valid base64: {reason}")]
    Base64 {
        /// The JSON field name.
        field: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// `contentTopic` is absent or empty.
    #[error("contentTopic is required")]
    NoContentTopic,
}

/// A WakuMessage as REST clients send and receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageJson {
    /// Base64 payload.
    pub payload: String,
    /// Content topic; on auto routes it also picks the shard.
    #[serde(default)]
    pub content_topic: Option<String>,
    /// Payload version.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub version: Option<u32>,
    /// Unix time in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub timestamp: Option<i64>,
    /// Base64 meta.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub meta: Option<String>,
    /// Relayed but never stored.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub ephemeral: Option<bool>,
    /// Base64 RLN proof (accepted, relayed opaque).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub proof: Option<String>,
}

/// An optional field that, when given, holds a value: `null` is refused, as nwaku does.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl MessageJson {
    /// Converts to the protobuf message, checking base64 fields.
    pub fn into_message(self) -> Result<WakuMessage, MessageJsonError> {
        let decode = |field: &'static str, value: &str| {
            STANDARD.decode(value).map_err(|e| MessageJsonError::Base64 { field, reason: e.to_string() })
        };
        let content_topic = self.content_topic.filter(|t| !t.is_empty()).ok_or(MessageJsonError::NoContentTopic)?;
        Ok(WakuMessage {
            payload: decode("payload", &self.payload)?,
            content_topic,
            version: self.version,
            timestamp: self.timestamp,
            meta: self.meta.as_deref().map(|m| decode("meta", m)).transpose()?,
            rate_limit_proof: self.proof.as_deref().map(|p| decode("proof", p)).transpose()?,
            ephemeral: self.ephemeral,
        })
    }
}

impl From<&WakuMessage> for MessageJson {
    fn from(m: &WakuMessage) -> Self {
        MessageJson {
            payload: STANDARD.encode(&m.payload),
            content_topic: Some(m.content_topic.clone()),
            version: Some(m.version.unwrap_or(0)),
            timestamp: m.timestamp,
            meta: m.meta.as_ref().map(|b| STANDARD.encode(b)),
            ephemeral: Some(m.ephemeral.unwrap_or(false)),
            proof: m.rate_limit_proof.as_ref().map(|b| STANDARD.encode(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_optional_fields_are_refused_absent_ones_are_not() {
        let absent: MessageJson =
            serde_json::from_str(r#"{"payload":"AQID","contentTopic":"/a/1/b/proto"}"#).expect("ok");
        assert_eq!(absent.timestamp, None);
        let null = r#"{"payload":"AQID","contentTopic":"/a/1/b/proto","timestamp":null}"#;
        assert!(serde_json::from_str::<MessageJson>(null).is_err());
    }

    #[test]
    fn timestamps_above_2_pow_53_survive_exactly() {
        let json = r#"{"payload":"AQID","contentTopic":"/a/1/b/proto","timestamp":1712345678901234567}"#;
        let parsed: MessageJson = serde_json::from_str(json).expect("valid");
        let message = parsed.into_message().expect("valid");
        assert_eq!(message.timestamp, Some(1_712_345_678_901_234_567));
        assert_eq!(message.payload, [1, 2, 3]);
        let back = serde_json::to_string(&MessageJson::from(&message)).expect("json");
        assert!(back.contains("1712345678901234567"), "{back}");
    }

    #[test]
    fn bad_base64_and_missing_topic_say_what_is_wrong() {
        let bad: MessageJson = serde_json::from_str(r#"{"payload":"!!","contentTopic":"/a/1/b/c"}"#).expect("json");
        assert!(bad.into_message().expect_err("bad").to_string().contains("payload is not valid base64"));
        let none: MessageJson = serde_json::from_str(r#"{"payload":"AQ=="}"#).expect("json");
        assert!(none.into_message().expect_err("bad").to_string().contains("contentTopic is required"));
    }
}
