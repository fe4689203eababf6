//! The WalletConnect v2 relay protocol as JSON text frames: the `irn_*` requests
//! a client sends, the `irn_subscription` pushes it receives and their acks, and
//! the relay's responses. Pure functions, so they are tested without a socket.

use serde_json::{Value, json};

use crate::Transmit;
use heliograph_wc_wire::Method;
use heliograph_wc_wire::method::subscription_id;

/// Why a frame from the relay was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON, or not a JSON object.
    #[error("relay frame is not a JSON object")]
    NotJson,
    /// A push without `params.data.topic` or `params.data.message` strings.
    #[error("irn_subscription push without data.topic and data.message")]
    BadPush,
    /// A response whose id is not one of our (string) ids.
    #[error("relay response with an id that is not ours")]
    ForeignId,
}

/// One frame received from the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A message on a subscribed topic; ack it with [`ack`] using `ack_id`.
    Push {
        /// The push's id, echoed in the ack exactly as received.
        ack_id: Value,
        /// Topic.
        topic: String,
        /// Base64 envelope.
        message: String,
        /// Publish time, unix ms (0 if absent).
        published_at: u64,
        /// Publish tag (0 if absent).
        tag: u64,
    },
    /// The answer to one of our requests.
    Response {
        /// Our request id.
        id: u64,
        /// Result or the relay's error object.
        outcome: Result<Value, Value>,
    },
    /// Another server request (the client ignores it, like the official one).
    Other {
        /// Its method.
        method: String,
    },
}

/// A relay request: its text frame.
pub fn request(id: u64, method: &str, params: Value) -> String {
    json!({"id": id.to_string(), "jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// `irn_publish {topic, message, ttl, tag, prompt}`.
pub fn publish(id: u64, t: &Transmit) -> String {
    let params = json!({
        "topic": t.topic,
        "message": t.message,
        "ttl": t.ttl.as_secs(),
        "tag": t.tag,
        "prompt": t.prompt,
    });
    request(id, Method::Publish.name(), params)
}

/// `irn_subscribe {topic}`.
pub fn subscribe(id: u64, topic: &str) -> String {
    request(id, Method::Subscribe.name(), json!({"topic": topic}))
}

/// `irn_batchSubscribe {topics}` (at most [`BATCH_LIMIT`](heliograph_wc_wire::method::BATCH_LIMIT) topics).
pub fn batch_subscribe(id: u64, topics: &[&str]) -> String {
    request(id, Method::BatchSubscribe.name(), json!({"topics": topics}))
}

/// `irn_unsubscribe {topic, id}` with the client-computed subscription id.
pub fn unsubscribe(id: u64, topic: &str, client_id: &str) -> String {
    request(id, Method::Unsubscribe.name(), json!({"topic": topic, "id": subscription_id(topic, client_id)}))
}

/// The ack of a push: `{"id":<same>,"jsonrpc":"2.0","result":true}`.
pub fn ack(ack_id: &Value) -> String {
    json!({"id": ack_id, "jsonrpc": "2.0", "result": true}).to_string()
}

/// Parses a frame from the relay.
pub fn parse(text: &str) -> Result<Incoming, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
    let obj = value.as_object().ok_or(FrameError::NotJson)?;
    if let Some(method) = obj.get("method").and_then(Value::as_str) {
        if !method.ends_with("_subscription") {
            return Ok(Incoming::Other { method: method.to_owned() });
        }
        let data = obj.get("params").and_then(|p| p.get("data")).ok_or(FrameError::BadPush)?;
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(topic), Some(message)) = (text("topic"), text("message")) else {
            return Err(FrameError::BadPush);
        };
        return Ok(Incoming::Push {
            ack_id: obj.get("id").cloned().unwrap_or(Value::Null),
            topic,
            message,
            published_at: data.get("publishedAt").and_then(Value::as_u64).unwrap_or(0),
            tag: data.get("tag").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    let id = obj
        .get("id")
        .and_then(|id| id.as_str().map(str::parse::<u64>).and_then(Result::ok).or_else(|| id.as_u64()))
        .ok_or(FrameError::ForeignId)?;
    let outcome = match obj.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(obj.get("result").cloned().unwrap_or(Value::Null)),
    };
    Ok(Incoming::Response { id, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Topic;
    use std::time::Duration;

    #[test]
    fn publish_has_the_walletconnect_shape_and_a_string_id() {
        let topic = Topic::parse(&"ab".repeat(32)).unwrap();
        let t = Transmit { topic, message: "AAEC".into(), ttl: Duration::from_secs(300), tag: 1100, prompt: true };
        let v: Value = serde_json::from_str(&publish(1_795_668_933_386_046_208, &t)).unwrap();
        assert_eq!(v["id"], "1795668933386046208");
        assert_eq!(v["method"], "irn_publish");
        assert_eq!(
            v["params"],
            json!({"topic": "ab".repeat(32), "message": "AAEC", "ttl": 300, "tag": 1100, "prompt": true})
        );
    }

    #[test]
    fn pushes_are_parsed_and_acked_with_the_same_id() {
        let frame = r#"{"id":1700000000000123,"jsonrpc":"2.0","method":"irn_subscription",
            "params":{"id":"s","data":{"topic":"t","message":"m","publishedAt":5,"tag":1108}}}"#;
        let Incoming::Push { ack_id, topic, message, published_at, tag } = parse(frame).unwrap() else { panic!() };
        assert_eq!((topic.as_str(), message.as_str(), published_at, tag), ("t", "m", 5, 1108));
        assert_eq!(ack(&ack_id), r#"{"id":1700000000000123,"jsonrpc":"2.0","result":true}"#);
        let string_id = r#"{"id":"x1","method":"irn_subscription","params":{"data":{"topic":"t","message":"m"}}}"#;
        let Incoming::Push { ack_id, .. } = parse(string_id).unwrap() else { panic!() };
        assert_eq!(ack(&ack_id), r#"{"id":"x1","jsonrpc":"2.0","result":true}"#);
        assert_eq!(parse(r#"{"id":1,"method":"irn_subscription","params":{"data":{}}}"#), Err(FrameError::BadPush));
    }

    #[test]
    fn responses_match_string_ids() {
        assert_eq!(
            parse(r#"{"id":"42","jsonrpc":"2.0","result":true}"#),
            Ok(Incoming::Response { id: 42, outcome: Ok(json!(true)) })
        );
        let err = parse(r#"{"id":"7","jsonrpc":"2.0","error":{"code":-32600,"message":"bad"}}"#).unwrap();
        assert!(matches!(err, Incoming::Response { id: 7, outcome: Err(_) }));
        assert_eq!(parse(r#"{"id":"x","result":1}"#), Err(FrameError::ForeignId));
        assert_eq!(parse("[1]"), Err(FrameError::NotJson));
    }

    #[test]
    fn subscription_id_is_sha256_of_topic_and_client_id() {
        use sha2::Digest;
        let expected = hex::encode(sha2::Sha256::digest(b"abcdid:key:z6Mk"));
        assert_eq!(subscription_id("abc", "did:key:z6Mk"), expected);
        let v: Value = serde_json::from_str(&unsubscribe(1, "abc", "did:key:z6Mk")).unwrap();
        assert_eq!(v["params"]["id"], expected);
    }
}
