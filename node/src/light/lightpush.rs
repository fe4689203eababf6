//! Lightpush server and client logic: v3 (`/vac/waku/lightpush/3.0.0`) and the
//! legacy v2 (`/vac/waku/lightpush/2.0.0-beta1`, `PushRpc`). Pure: a request
//! frame becomes a validated message or a refusal with the spec's status code,
//! and a publish outcome becomes the response frame.

use heliograph_proto::Message;
use heliograph_proto::lightpush::{LightpushRequest, LightpushResponse, PushRequest, PushResponse, PushRpc};

use super::TopicPolicy;
use crate::p2p::PublishError;
use crate::waku::{MessageError, RelayMessage};

/// Lightpush v3 status codes (`@waku/interfaces` `LightPushStatusCode`).
pub mod status {
    /// Relayed (and stored).
    pub const SUCCESS: u32 = 200;
    /// The request is malformed.
    pub const BAD_REQUEST: u32 = 400;
    /// The message is over the size limit.
    pub const PAYLOAD_TOO_LARGE: u32 = 413;
    /// The message is invalid.
    pub const INVALID_MESSAGE: u32 = 420;
    /// The node does not relay that pubsub topic.
    pub const UNSUPPORTED_TOPIC: u32 = 421;
    /// Too many requests at once.
    pub const TOO_MANY_REQUESTS: u32 = 429;
    /// Relayed but something failed on this node (e.g. storing it).
    pub const INTERNAL_ERROR: u32 = 500;
    /// The node cannot relay right now.
    pub const UNAVAILABLE: u32 = 503;
    /// No relay peer took the message. The spec's table (waku-org/specs
    /// `standards/core/lightpush.md`) still gives 503 for this, but nwaku and
    /// `@waku/interfaces` send and expect 505 and keep 503 for "unavailable".
    pub const NO_PEERS: u32 = 505;
}

/// The two wire versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Legacy `PushRpc` frames.
    V2,
    /// `LightpushRequest` / `LightpushResponse`.
    V3,
}

impl Version {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Version::V2 => "lightpush_v2",
            Version::V3 => "lightpush_v3",
        }
    }
}

/// A request turned down before publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request id, if the request decoded far enough.
    pub request_id: String,
    /// The status code.
    pub status: u32,
    /// Why.
    pub desc: String,
}

/// A valid push request.
#[derive(Debug, Clone)]
pub struct Push {
    /// The request id to echo.
    pub request_id: String,
    /// The message, validated for relay.
    pub message: RelayMessage,
}

/// Decodes and validates a request frame (or the reason none could be read).
pub fn decode(version: Version, frame: Result<&[u8], String>, policy: &TopicPolicy) -> Result<Push, Refusal> {
    let refuse = |request_id: String, status: u32, desc: String| Refusal { request_id, status, desc };
    let frame = frame.map_err(|desc| {
        let status = if desc.contains("exceeds") { status::PAYLOAD_TOO_LARGE } else { status::BAD_REQUEST };
        refuse(String::new(), status, desc)
    })?;
    let (request_id, topic, message) = match version {
        Version::V3 => {
            let req = LightpushRequest::decode(frame)
                .map_err(|e| refuse(String::new(), status::BAD_REQUEST, format!("malformed request: {e}")))?;
            (req.request_id, req.pubsub_topic, req.message)
        }
        Version::V2 => {
            let rpc = PushRpc::decode(frame)
                .map_err(|e| refuse(String::new(), status::BAD_REQUEST, format!("malformed request: {e}")))?;
            let req = rpc
                .request
                .ok_or_else(|| refuse(rpc.request_id.clone(), status::BAD_REQUEST, "PushRpc has no request".into()))?;
            let topic = Some(req.pubsub_topic).filter(|t| !t.is_empty());
            (rpc.request_id, topic, req.message)
        }
    };
    let message =
        message.ok_or_else(|| refuse(request_id.clone(), status::BAD_REQUEST, "the request has no message".into()))?;
    let topic = match topic {
        Some(raw) => policy.check(&raw),
        None => policy.autoshard(&message.content_topic),
    }
    .map_err(|desc| refuse(request_id.clone(), status::UNSUPPORTED_TOPIC, desc))?;
    if message.payload.is_empty() {
        return Err(refuse(request_id, status::INVALID_MESSAGE, "the message has an empty payload".into()));
    }
    let message = RelayMessage::encode(topic, message).map_err(|e| {
        let status = match e {
            MessageError::TooLarge(_) => status::PAYLOAD_TOO_LARGE,
            _ => status::INVALID_MESSAGE,
        };
        refuse(request_id.clone(), status, e.to_string())
    })?;
    Ok(Push { request_id, message })
}

/// The status of a failed publish.
pub fn publish_status(error: &PublishError) -> u32 {
    match error {
        PublishError::Invalid(MessageError::TooLarge(_)) => status::PAYLOAD_TOO_LARGE,
        PublishError::Invalid(_) => status::INVALID_MESSAGE,
        // As in nwaku: a topic not relayed here, or a message relayed before,
        // reaches no peer.
        PublishError::NotSubscribed(_) | PublishError::NoPeers(_) | PublishError::Duplicate => status::NO_PEERS,
        PublishError::QueuesFull(_) | PublishError::Shutdown => status::UNAVAILABLE,
        PublishError::Relay(_) => status::INTERNAL_ERROR,
    }
}

/// Encodes the response frame for `version`.
pub fn response(version: Version, request_id: String, status: u32, desc: String, relay_peers: Option<u32>) -> Vec<u8> {
    match version {
        Version::V3 => LightpushResponse {
            request_id,
            status_code: status,
            status_desc: Some(desc),
            relay_peer_count: relay_peers,
        }
        .encode_to_vec(),
        Version::V2 => PushRpc {
            request_id,
            request: None,
            response: Some(PushResponse {
                is_success: status == status::SUCCESS,
                info: (status != status::SUCCESS).then_some(desc),
            }),
        }
        .encode_to_vec(),
    }
}

/// What a push came to: the service node's answer, or ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReply {
    /// The status code (v2 answers map to 200 or 500).
    pub status: u32,
    /// Its description.
    pub desc: String,
    /// Relay peers the message was handed to, if known.
    pub relay_peers: Option<u32>,
}

/// Decodes a service node's response frame (the client side).
pub fn parse_response(version: Version, frame: &[u8]) -> Result<PushReply, String> {
    match version {
        Version::V3 => {
            let r = LightpushResponse::decode(frame).map_err(|e| e.to_string())?;
            Ok(PushReply {
                status: r.status_code,
                desc: r.status_desc.unwrap_or_default(),
                relay_peers: r.relay_peer_count,
            })
        }
        Version::V2 => {
            let r = PushRpc::decode(frame).map_err(|e| e.to_string())?.response.ok_or("PushRpc has no response")?;
            let status = if r.is_success { status::SUCCESS } else { status::INTERNAL_ERROR };
            Ok(PushReply { status, desc: r.info.unwrap_or_default(), relay_peers: None })
        }
    }
}

/// Encodes a v3 request, for the client side.
pub fn request_v3(request_id: String, message: &RelayMessage) -> Vec<u8> {
    LightpushRequest {
        request_id,
        pubsub_topic: Some(message.pubsub_topic.to_string()),
        message: Some(message.message.clone()),
    }
    .encode_to_vec()
}

/// Encodes a legacy v2 request, for the client side.
pub fn request_v2(request_id: String, message: &RelayMessage) -> Vec<u8> {
    PushRpc {
        request_id,
        request: Some(PushRequest {
            pubsub_topic: message.pubsub_topic.to_string(),
            message: Some(message.message.clone()),
        }),
        response: None,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waku::PubsubTopic;
    use heliograph_proto::WakuMessage;

    fn policy() -> TopicPolicy {
        TopicPolicy::new(1, 8)
    }

    fn message(payload: Vec<u8>) -> WakuMessage {
        WakuMessage { payload, content_topic: "/myapp/1/chat/proto".into(), timestamp: Some(1), ..Default::default() }
    }

    fn v3(topic: Option<&str>, msg: Option<WakuMessage>) -> Vec<u8> {
        LightpushRequest { request_id: "id".into(), pubsub_topic: topic.map(str::to_owned), message: msg }
            .encode_to_vec()
    }

    fn refusal(frame: &[u8], version: Version) -> Refusal {
        decode(version, Ok(frame), &policy()).expect_err("refused")
    }

    #[test]
    fn valid_requests_decode_in_both_versions() {
        let push = decode(Version::V3, Ok(&v3(Some("/waku/2/rs/1/3"), Some(message(vec![1])))), &policy()).expect("ok");
        assert_eq!(push.request_id, "id");
        assert_eq!(push.message.pubsub_topic.to_string(), "/waku/2/rs/1/3");
        // Without a pubsub topic the content topic is autosharded: myapp/1 is on shard 0 of 8 (spec example).
        let push = decode(Version::V3, Ok(&v3(None, Some(message(vec![1])))), &policy()).expect("ok");
        assert_eq!(push.message.pubsub_topic.to_string(), "/waku/2/rs/1/0");
        let v2 = request_v2("x".into(), &push.message);
        let again = decode(Version::V2, Ok(&v2), &policy()).expect("v2 ok");
        assert_eq!((again.request_id.as_str(), again.message.message.payload.as_slice()), ("x", &[1u8][..]));
        let v3_again = decode(Version::V3, Ok(&request_v3("y".into(), &push.message)), &policy()).expect("v3 ok");
        assert_eq!(v3_again.message.encoded, push.message.encoded);
    }

    #[test]
    fn bad_requests_get_the_spec_status() {
        assert_eq!(refusal(&[0xff, 0x01], Version::V3).status, status::BAD_REQUEST);
        assert_eq!(refusal(&[0xff, 0x01], Version::V2).status, status::BAD_REQUEST);
        assert_eq!(refusal(&v3(Some("/waku/2/rs/1/0"), None), Version::V3).status, status::BAD_REQUEST);
        let r = refusal(&v3(Some("/waku/2/rs/2/0"), Some(message(vec![1]))), Version::V3);
        assert_eq!((r.status, r.request_id.as_str()), (status::UNSUPPORTED_TOPIC, "id"));
        assert!(r.desc.contains("cluster"), "{}", r.desc);
        assert_eq!(
            refusal(&v3(Some("nonsense"), Some(message(vec![1]))), Version::V3).status,
            status::UNSUPPORTED_TOPIC
        );
        assert_eq!(refusal(&v3(None, Some(message(vec![]))), Version::V3).status, status::INVALID_MESSAGE);
        let big = refusal(&v3(None, Some(message(vec![0; 200 * 1024]))), Version::V3);
        assert_eq!(big.status, status::PAYLOAD_TOO_LARGE);
        let no_topic = WakuMessage { content_topic: String::new(), ..message(vec![1]) };
        assert_eq!(refusal(&v3(Some("/waku/2/rs/1/0"), Some(no_topic)), Version::V3).status, status::INVALID_MESSAGE);
        let err = decode(Version::V3, Err("frame of 5000000 bytes exceeds the limit".into()), &policy());
        assert_eq!(err.expect_err("too big").status, status::PAYLOAD_TOO_LARGE);
        let rpc = PushRpc { request_id: "z".into(), ..Default::default() }.encode_to_vec();
        assert_eq!(refusal(&rpc, Version::V2).request_id, "z");
    }

    #[test]
    fn responses_encode_status_and_success() {
        let no_peers = publish_status(&PublishError::NoPeers(PubsubTopic::Sharded { cluster: 1, shard: 0 }));
        assert_eq!(no_peers, status::NO_PEERS);
        let frame = response(Version::V3, "a".into(), no_peers, "no relay peers".into(), Some(0));
        let decoded = LightpushResponse::decode(frame.as_slice()).expect("v3");
        assert_eq!((decoded.status_code, decoded.relay_peer_count), (505, Some(0)));
        let frame = response(Version::V2, "a".into(), no_peers, "no relay peers".into(), None);
        let decoded = PushRpc::decode(frame.as_slice()).expect("v2").response.expect("response");
        assert!(!decoded.is_success);
        assert_eq!(decoded.info.as_deref(), Some("no relay peers"));
        let frame = response(Version::V2, "a".into(), status::SUCCESS, "OK".into(), Some(3));
        assert!(PushRpc::decode(frame.as_slice()).expect("v2").response.expect("response").is_success);
    }
}
