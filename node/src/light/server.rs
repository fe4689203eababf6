//! The answers to inbound light-client requests. The swarm task receives each
//! request from its `request_response` behaviour and asks [`Server`] (its
//! [`InboundService`]) for the response: filter and peer exchange are answered
//! at once from their tables; a lightpush is checked here, published by the
//! swarm task itself ([`Answer::Publish`]), and then answered at once or (when it must first be stored) by a future whose
//! response the swarm task sends when it completes (at most 32 MiB of messages
//! wait for the store at once). Rate limits per peer are
//! applied here; everything a peer can make the node hold is bounded.

use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::debug;

use super::TopicPolicy;
use super::filter;
use super::lightpush::{self, PushReply, Version, status};
use super::push::FilterHub;
use super::service::PeerExchangeCache;
use crate::config::LightConfig;
use crate::metrics::NodeMetrics;
use crate::p2p::codec::LightRequest;
use crate::p2p::inbound::{Answer, InboundService, Protocol};
use crate::p2p::{NoPeers, PublishError, PublishOutcome};
use crate::publish::{self, PublishFailure, Publisher};
use crate::rate_limit::RateLimiter;
use crate::store::{Store, StoredMessage};
use crate::waku::RelayMessage;
use crate::waku::time::now_ns;

/// Bytes of lightpushed messages being stored before their answer; beyond it a
/// lightpush gets 503 (thousands of typical messages fit).
const MAX_PENDING_STORE_BYTES: usize = 32 * 1024 * 1024;

/// A lightpush that passed the checks, waiting for the swarm task's publish.
pub struct Admitted {
    version: Version,
    peer: PeerId,
    request_id: String,
    stored: Option<(Store, StoredMessage, OwnedSemaphorePermit)>,
}

/// Answers filter, lightpush and peer-exchange requests for the swarm task.
pub struct Server {
    hub: Arc<FilterHub>,
    cache: PeerExchangeCache,
    policy: TopicPolicy,
    store: Option<Store>,
    metrics: NodeMetrics,
    lightpush_limit: RateLimiter<PeerId>,
    filter_limit: RateLimiter<PeerId>,
    store_bytes: Arc<Semaphore>,
}

impl Server {
    /// A server over the filter `hub` and the peer-exchange `cache`, with the limits of `config`.
    pub fn new(
        hub: Arc<FilterHub>,
        cache: PeerExchangeCache,
        policy: TopicPolicy,
        store: Option<Store>,
        metrics: NodeMetrics,
        config: &LightConfig,
    ) -> Self {
        Server {
            hub,
            cache,
            policy,
            store,
            metrics,
            lightpush_limit: RateLimiter::new(config.lightpush_rate_limit),
            filter_limit: RateLimiter::new(config.filter_rate_limit),
            store_bytes: Arc::new(Semaphore::new(MAX_PENDING_STORE_BYTES)),
        }
    }

    /// Answers a filter subscribe, ping or unsubscribe request.
    pub fn filter(&self, peer: PeerId, request: LightRequest, now: Instant) -> Vec<u8> {
        let request = request.as_deref().map_err(Clone::clone);
        let outcome = if self.filter_limit.check(&peer, now) {
            self.hub.handle(peer, request, now)
        } else {
            filter::refuse(request, filter::status::TOO_MANY_REQUESTS, "filter request rate limit exceeded".into())
        };
        debug!(%peer, status = outcome.status, "filter request");
        self.metrics.light_request("filter", outcome.status);
        outcome.response
    }

    /// Answers a peer-exchange query.
    pub fn peer_exchange(&self, peer: PeerId, request: LightRequest) -> Vec<u8> {
        let (response, status) = self.cache.answer(request.as_deref().map_err(Clone::clone));
        debug!(%peer, status, "peer exchange request");
        self.metrics.light_request("peer_exchange", status);
        response
    }

    /// Checks a lightpush request (rate limit, decoding, topic, room to store it).
    /// `Ok`: the message for the swarm task to publish, then [`Server::finish_push`];
    /// `Err`: the response to send now.
    pub fn admit_push(
        &self,
        version: Version,
        peer: PeerId,
        request: LightRequest,
        now: Instant,
    ) -> Result<(Admitted, RelayMessage), Vec<u8>> {
        let refuse = |request_id: String, status: u32, desc: String| {
            debug!(%peer, status, %desc, "lightpush refused");
            self.metrics.light_request(version.label(), status);
            lightpush::response(version, request_id, status, desc, None)
        };
        let push = match lightpush::decode(version, request.as_deref().map_err(Clone::clone), &self.policy) {
            Ok(push) => push,
            Err(r) => return Err(refuse(r.request_id, r.status, r.desc)),
        };
        if !self.lightpush_limit.check(&peer, now) {
            let desc = "lightpush rate limit exceeded; retry later".to_owned();
            return Err(refuse(push.request_id, status::TOO_MANY_REQUESTS, desc));
        }
        let stored = match (&self.store, StoredMessage::keep(&push.message, now_ns())) {
            (Some(store), Some(stored)) => match self.store_bytes.clone().try_acquire_many_owned(size(&push.message)) {
                Ok(permit) => Some((store.clone(), stored, permit)),
                Err(_) => {
                    let desc = "too many lightpushes being stored; retry shortly".to_owned();
                    return Err(refuse(push.request_id, status::UNAVAILABLE, desc));
                }
            },
            _ => None,
        };
        Ok((Admitted { version, peer, request_id: push.request_id, stored }, push.message))
    }

    /// The answer to an admitted lightpush once the swarm task has published it.
    pub fn finish_push(&self, admitted: Admitted, published: Result<PublishOutcome, PublishError>) -> Answer {
        let Admitted { version, peer, request_id, stored } = admitted;
        let metrics = self.metrics.clone();
        let respond = move |reply: PushReply| {
            debug!(%peer, status = reply.status, desc = %reply.desc, "lightpush request");
            metrics.light_request(version.label(), reply.status);
            lightpush::response(version, request_id, reply.status, reply.desc, reply.relay_peers)
        };
        let relay_peers = match published {
            Ok(outcome) => outcome.relay_peers,
            Err(e) => return Answer::Now(respond(publish_failure(&e))),
        };
        match stored {
            None => Answer::Now(respond(success(relay_peer_count(relay_peers)))),
            Some((store, stored, permit)) => Answer::Later(Box::pin(async move {
                let outcome = PublishOutcome { relay_peers };
                let reply = push_reply(publish::store_relayed(Some(&store), Some(stored), outcome).await);
                drop(permit);
                respond(reply)
            })),
        }
    }
}

impl InboundService for Server {
    fn serve(self: Arc<Self>, protocol: Protocol, peer: PeerId, request: LightRequest, now: Instant) -> Answer {
        let version = match protocol {
            Protocol::Filter => return Answer::Now(self.filter(peer, request, now)),
            Protocol::PeerExchange => return Answer::Now(self.peer_exchange(peer, request)),
            Protocol::Store => return Answer::Unanswered,
            Protocol::LightpushV2 => Version::V2,
            Protocol::LightpushV3 => Version::V3,
        };
        match self.admit_push(version, peer, request, now) {
            Err(refusal) => Answer::Now(refusal),
            Ok((admitted, message)) => Answer::Publish {
                message: Box::new(message),
                then: Box::new(move |published| self.finish_push(admitted, published)),
            },
        }
    }
}

/// Publishes a lightpushed message through the node's publish pipeline (relay, then
/// store). No relay peer is an error status, never a success.
pub async fn publish_and_store(publisher: &Publisher, message: RelayMessage) -> PushReply {
    push_reply(publisher.publish(message, NoPeers::Fail).await)
}

/// The lightpush reply to the outcome of the publish pipeline.
fn push_reply(result: Result<PublishOutcome, PublishFailure>) -> PushReply {
    match result {
        Ok(outcome) => success(relay_peer_count(outcome.relay_peers)),
        Err(PublishFailure::Relay(e)) => publish_failure(&e),
        Err(e @ PublishFailure::NotStored { relay_peers, .. }) => PushReply {
            status: status::INTERNAL_ERROR,
            desc: e.to_string(),
            relay_peers: Some(relay_peer_count(relay_peers)),
        },
    }
}

/// The store-queue permits a message takes: its encoded size (at least 1).
fn size(message: &RelayMessage) -> u32 {
    u32::try_from(message.encoded.len().max(1)).unwrap_or(u32::MAX)
}

fn relay_peer_count(relay_peers: usize) -> u32 {
    u32::try_from(relay_peers).unwrap_or(u32::MAX)
}

fn success(relay_peers: u32) -> PushReply {
    PushReply { status: status::SUCCESS, desc: "OK".into(), relay_peers: Some(relay_peers) }
}

/// The reply to a publish that failed; no relay peer gives a relay peer count of 0.
fn publish_failure(error: &PublishError) -> PushReply {
    let status = lightpush::publish_status(error);
    if status == status::NO_PEERS {
        // nwaku's wording, which lightpush clients match on.
        return PushReply { status, desc: format!("not_published_to_any_peer: {error}"), relay_peers: Some(0) };
    }
    PushReply { status, desc: error.to_string(), relay_peers: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::light::filter::status as fs;
    use crate::waku::PubsubTopic;
    use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
    use heliograph_proto::filter::{FilterSubscribeRequest, FilterSubscribeResponse};
    use heliograph_proto::lightpush::LightpushResponse;
    use heliograph_proto::{Message, WakuMessage};

    const TOPIC: PubsubTopic = PubsubTopic::Sharded { cluster: 1, shard: 0 };

    fn server(lightpush_rate_limit: u32, filter_rate_limit: u32) -> Server {
        let policy = TopicPolicy::new(1, 8);
        let metrics = NodeMetrics::default();
        let control = libp2p_stream::Behaviour::new().new_control();
        let hub = Arc::new(FilterHub::new(filter::Limits::default(), policy.clone(), control, metrics.clone()));
        let cache = PeerExchangeCache::new(None, metrics.clone());
        let config = LightConfig { lightpush_rate_limit, filter_rate_limit, ..LightConfig::default() };
        Server::new(hub, cache, policy, None, metrics, &config)
    }

    fn relay() -> RelayMessage {
        let message = WakuMessage { payload: vec![1], content_topic: "/a/1/b/proto".into(), ..Default::default() };
        RelayMessage::encode(TOPIC, message).expect("valid")
    }

    fn push_request(id: &str) -> Vec<u8> {
        lightpush::request_v3(id.into(), &relay())
    }

    fn v3(frame: &[u8]) -> LightpushResponse {
        LightpushResponse::decode(frame).expect("v3 response")
    }

    #[test]
    fn lightpush_over_the_peer_limit_gets_429_and_other_peers_are_unaffected() {
        let server = server(2, 0);
        let (peer, other, now) = (PeerId::random(), PeerId::random(), Instant::now());
        for id in ["a", "b"] {
            assert!(server.admit_push(Version::V3, peer, Ok(push_request(id)), now).is_ok());
        }
        let refused = server.admit_push(Version::V3, peer, Ok(push_request("c")), now).err().expect("limited");
        let answer = v3(&refused);
        assert_eq!((answer.status_code, answer.request_id.as_str()), (status::TOO_MANY_REQUESTS, "c"));
        let v2 = server.admit_push(Version::V2, peer, Ok(lightpush::request_v2("d".into(), &relay())), now);
        let v2 = lightpush::parse_response(Version::V2, &v2.err().expect("limited")).expect("v2 response");
        assert!(v2.status != status::SUCCESS && v2.desc.contains("rate limit"), "{v2:?}");
        assert!(server.admit_push(Version::V3, other, Ok(push_request("e")), now).is_ok());
        let later = now + std::time::Duration::from_secs(30);
        assert!(server.admit_push(Version::V3, peer, Ok(push_request("f")), later).is_ok(), "tokens come back");
    }

    #[test]
    fn a_publish_without_relay_peers_is_an_error_and_one_with_peers_a_success() {
        let server = server(0, 0);
        let peer = PeerId::random();
        let admit = || {
            server
                .admit_push(Version::V3, peer, Ok(push_request("x")), Instant::now())
                .unwrap_or_else(|_| panic!("admitted"))
        };
        let (admitted, _) = admit();
        let Answer::Now(frame) = server.finish_push(admitted, Err(PublishError::NoPeers(TOPIC))) else {
            panic!("no store: answered at once")
        };
        let answer = v3(&frame);
        assert_eq!((answer.status_code, answer.relay_peer_count), (status::NO_PEERS, Some(0)));
        let (admitted, _) = admit();
        let Answer::Now(frame) = server.finish_push(admitted, Ok(PublishOutcome { relay_peers: 3 })) else {
            panic!("no store: answered at once")
        };
        let answer = v3(&frame);
        assert_eq!((answer.status_code, answer.relay_peer_count, answer.request_id.as_str()), (200, Some(3), "x"));
        let malformed = server.admit_push(Version::V3, peer, Ok(vec![0xff, 0x00]), Instant::now());
        assert_eq!(v3(&malformed.err().expect("refused")).status_code, status::BAD_REQUEST);
    }

    #[test]
    fn filter_requests_over_the_peer_limit_get_429_with_their_id() {
        let server = server(0, 1);
        let (peer, now) = (PeerId::random(), Instant::now());
        let ping = FilterSubscribeRequest {
            request_id: "p".into(),
            filter_subscribe_type: FilterSubscribeType::SubscriberPing as i32,
            ..Default::default()
        }
        .encode_to_vec();
        let answer = |frame: Vec<u8>| FilterSubscribeResponse::decode(frame.as_slice()).expect("response");
        assert_eq!(answer(server.filter(peer, Ok(ping.clone()), now)).status_code, fs::NOT_FOUND);
        let limited = answer(server.filter(peer, Ok(ping.clone()), now));
        assert_eq!((limited.status_code, limited.request_id.as_str()), (fs::TOO_MANY_REQUESTS, "p"));
        assert_eq!(answer(server.filter(PeerId::random(), Ok(ping), now)).status_code, fs::NOT_FOUND);
    }
}
