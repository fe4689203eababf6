//! The filter v2 client side, used by the REST `/filter/v2/*` routes (nwaku's
//! `--filternode`): subscribe, unsubscribe, unsubscribe-all and ping requests
//! to one service node, and the `/vac/waku/filter-push/2.0.0-beta1` streams it
//! opens back, whose messages are handed to a callback. Frames are built and
//! read by pure functions; the exchange is [`super::client::request`].

use std::sync::Arc;
use std::time::Duration;

use heliograph_proto::Message;
use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
use heliograph_proto::filter::{FilterSubscribeRequest, FilterSubscribeResponse, MessagePush};
use heliograph_proto::{WakuMessage, protocol_id};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::client::{RequestError, request};
use super::filter::status;
use crate::p2p::NetworkHandle;
use crate::p2p::behaviour::MAX_LIGHT_RESPONSE;
use crate::p2p::codec::read_frame;
use crate::waku::MAX_MESSAGE_SIZE;

/// How long one request to the service node may take, dial included (nwaku: 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Push streams from the service node read at once; more are refused.
const MAX_PUSH_STREAMS: usize = 8;
/// Largest push frame: one maximal message plus its pubsub topic and framing.
const MAX_PUSH_FRAME: usize = MAX_MESSAGE_SIZE + 4096;

/// What to ask the service node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterRequest {
    /// Whether the node still holds a subscription of ours.
    Ping,
    /// Add content topics on a pubsub topic.
    Subscribe {
        /// The pubsub topic.
        pubsub_topic: String,
        /// The content topics.
        content_topics: Vec<String>,
    },
    /// Remove content topics on a pubsub topic.
    Unsubscribe {
        /// The pubsub topic.
        pubsub_topic: String,
        /// The content topics.
        content_topics: Vec<String>,
    },
    /// Remove every subscription.
    UnsubscribeAll,
}

/// The outcome of one request: a filter status code (200 is success, 504 the
/// service node could not be dialled, 500 a broken exchange) and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterReply {
    /// The filter status code.
    pub status: u32,
    /// What happened: `OK`, the service node's description, or the local failure.
    pub desc: String,
}

impl FilterReply {
    fn new(status: u32, desc: impl Into<String>) -> Self {
        FilterReply { status, desc: desc.into() }
    }
}

/// The filter status of a service node that could not be dialled (nwaku's PEER_DIAL_FAILURE).
pub const DIAL_FAILURE: u32 = 504;
/// The filter status of an exchange that broke or answered garbage (nwaku's BAD_RESPONSE).
pub const BAD_RESPONSE: u32 = 500;

/// Encodes `req` as a `FilterSubscribeRequest` frame with `request_id`.
pub fn request_frame(request_id: &str, req: &FilterRequest) -> Vec<u8> {
    let (kind, pubsub_topic, content_topics) = match req {
        FilterRequest::Ping => (FilterSubscribeType::SubscriberPing, None, Vec::new()),
        FilterRequest::Subscribe { pubsub_topic, content_topics } => {
            (FilterSubscribeType::Subscribe, Some(pubsub_topic.clone()), content_topics.clone())
        }
        FilterRequest::Unsubscribe { pubsub_topic, content_topics } => {
            (FilterSubscribeType::Unsubscribe, Some(pubsub_topic.clone()), content_topics.clone())
        }
        FilterRequest::UnsubscribeAll => (FilterSubscribeType::UnsubscribeAll, None, Vec::new()),
    };
    FilterSubscribeRequest {
        request_id: request_id.to_owned(),
        filter_subscribe_type: kind as i32,
        pubsub_topic,
        content_topics,
    }
    .encode_to_vec()
}

/// Reads the service node's answer to the request `request_id`.
pub fn parse_reply(request_id: &str, frame: &[u8]) -> FilterReply {
    let Ok(response) = FilterSubscribeResponse::decode(frame) else {
        return FilterReply::new(BAD_RESPONSE, "the filter node sent an undecodable response");
    };
    // A rate-limited answer may not echo the id (the node refuses before decoding).
    if response.status_code != status::TOO_MANY_REQUESTS && response.request_id != request_id {
        return FilterReply::new(BAD_RESPONSE, "the filter node answered another request id");
    }
    if response.status_code == status::OK {
        return FilterReply::new(status::OK, "OK");
    }
    let desc = response.status_desc.unwrap_or_else(|| "filter subscribe error".to_owned());
    FilterReply::new(response.status_code, desc)
}

/// Sends `req` to the filter service node at `node` (ending in `/p2p/<peer id>`),
/// dialling it when not connected; every failure comes back as a [`FilterReply`].
pub async fn send(network: &NetworkHandle, node: &Multiaddr, req: &FilterRequest) -> FilterReply {
    let exchange = async {
        let peer = match network.dial(node.clone()).await {
            Ok(peer) => peer,
            Err(e) => return FilterReply::new(DIAL_FAILURE, format!("cannot reach filter node {node}: {e}")),
        };
        let request_id = format!("{:020x}", rand::random::<u128>());
        let frame = request_frame(&request_id, req);
        let answer =
            request(&mut network.streams(), peer, protocol_id::FILTER_SUBSCRIBE, &frame, MAX_LIGHT_RESPONSE).await;
        match answer {
            Ok(bytes) => parse_reply(&request_id, &bytes),
            Err(e @ RequestError::Open { .. }) => FilterReply::new(DIAL_FAILURE, e.to_string()),
            Err(e) => FilterReply::new(BAD_RESPONSE, e.to_string()),
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(reply) => reply,
        Err(_) => FilterReply::new(status::SERVICE_UNAVAILABLE, "filter request timed out"),
    }
}

/// Accepts the push streams `service` opens to this node until shutdown and hands
/// each pushed message, with its pubsub topic, to `on_push`. Streams from any other
/// peer are closed unread; at most [`MAX_PUSH_STREAMS`] are read at once.
pub fn spawn_push_receiver<F>(
    network: &NetworkHandle,
    service: PeerId,
    on_push: F,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, libp2p_stream::AlreadyRegistered>
where
    F: Fn(Option<String>, WakuMessage) + Send + Sync + 'static,
{
    let mut incoming = network.streams().accept(StreamProtocol::new(protocol_id::FILTER_PUSH))?;
    let on_push = Arc::new(on_push);
    let slots = Arc::new(Semaphore::new(MAX_PUSH_STREAMS));
    let task = async move {
        use futures::StreamExt;
        loop {
            let (peer, mut stream) = tokio::select! {
                () = shutdown.cancelled() => break,
                next = incoming.next() => match next {
                    Some(s) => s,
                    None => break,
                },
            };
            if peer != service {
                debug!(%peer, "filter push from a peer that is not the filter node, refused");
                continue;
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                warn!(%peer, "too many filter push streams, one refused");
                continue;
            };
            let on_push = on_push.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _slot = slot;
                loop {
                    let frame = tokio::select! {
                        () = shutdown.cancelled() => break,
                        frame = read_frame(&mut stream, MAX_PUSH_FRAME) => frame,
                    };
                    let Ok(frame) = frame else { break };
                    match MessagePush::decode(frame.as_slice()) {
                        Ok(MessagePush { waku_message: Some(message), pubsub_topic }) => on_push(pubsub_topic, message),
                        Ok(_) | Err(_) => {
                            debug!(%peer, "malformed filter push, stream closed");
                            break;
                        }
                    }
                }
            });
        }
    };
    Ok(tokio::spawn(task.instrument(info_span!("filter_client", %service))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: &str, code: u32, desc: Option<&str>) -> Vec<u8> {
        FilterSubscribeResponse { request_id: id.into(), status_code: code, status_desc: desc.map(Into::into) }
            .encode_to_vec()
    }

    #[test]
    fn requests_carry_their_kind_and_topics() {
        let req = FilterRequest::Subscribe { pubsub_topic: "/waku/2/rs/3/1".into(), content_topics: vec!["a".into()] };
        let decoded = FilterSubscribeRequest::decode(request_frame("r1", &req).as_slice()).expect("decodes");
        assert_eq!(decoded.request_id, "r1");
        assert_eq!(decoded.filter_subscribe_type, FilterSubscribeType::Subscribe as i32);
        assert_eq!(decoded.pubsub_topic.as_deref(), Some("/waku/2/rs/3/1"));
        assert_eq!(decoded.content_topics, ["a"]);
        let ping = FilterSubscribeRequest::decode(request_frame("r2", &FilterRequest::Ping).as_slice()).expect("ping");
        assert_eq!(ping.filter_subscribe_type, FilterSubscribeType::SubscriberPing as i32);
        assert!(ping.pubsub_topic.is_none());
    }

    #[test]
    fn replies_keep_the_service_description_and_check_the_id() {
        assert_eq!(parse_reply("r", &response("r", 200, None)), FilterReply::new(200, "OK"));
        let missing = parse_reply("r", &response("r", 404, Some("peer has no subscriptions")));
        assert_eq!(missing, FilterReply::new(404, "peer has no subscriptions"));
        assert_eq!(parse_reply("r", &response("other", 200, None)).status, BAD_RESPONSE);
        assert_eq!(parse_reply("r", &response("", 429, Some("rate limit exceeded"))).status, 429);
        assert_eq!(parse_reply("r", b"\xff\xff").status, BAD_RESPONSE);
    }
}
