//! Filter v2 server logic (`/vac/waku/filter-subscribe/2.0.0-beta1`): the table
//! of subscriptions, the answer to each request, and which peers a relayed
//! message goes to. Pure: bytes and `now` in, response bytes and decisions out;
//! the push queues and streams live in [`super::push`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use heliograph_proto::Message;
use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
use heliograph_proto::filter::{FilterSubscribeRequest, FilterSubscribeResponse, MessagePush};
use libp2p::PeerId;

use super::TopicPolicy;
use crate::waku::RelayMessage;
use crate::waku::message::MAX_CONTENT_TOPIC_LEN;

/// Filter status codes (12/WAKU2-FILTER).
pub mod status {
    /// The request was carried out.
    pub const OK: u32 = 200;
    /// The request is malformed or names a topic this node does not serve.
    pub const BAD_REQUEST: u32 = 400;
    /// Ping or unsubscribe without a matching subscription.
    pub const NOT_FOUND: u32 = 404;
    /// The peer reached its own subscription limits.
    pub const TOO_MANY_REQUESTS: u32 = 429;
    /// The node serves as many subscribers as it can.
    pub const SERVICE_UNAVAILABLE: u32 = 503;
}

/// Bounds on what subscribers can make the node remember.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Peers with subscriptions, in total.
    pub max_peers: usize,
    /// Pubsub topics one peer may subscribe on.
    pub max_topics_per_peer: usize,
    /// Content topics per pubsub topic and peer (also the cap of one request).
    pub max_content_topics: usize,
    /// Bytes of topic strings one peer's subscriptions may hold in total.
    pub max_bytes_per_peer: usize,
    /// A subscriber that sends no request for this long is dropped.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_peers: 1000,
            max_topics_per_peer: 10,
            max_content_topics: 100,
            max_bytes_per_peer: 64 * 1024,
            idle: Duration::from_secs(300),
        }
    }
}

/// What a request did to the subscription table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing that the push side must know.
    None,
    /// The peer has its first subscription: start pushing to it.
    Added,
    /// The peer has no subscription left: stop pushing to it.
    Removed,
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The encoded `FilterSubscribeResponse`.
    pub response: Vec<u8>,
    /// Its status code.
    pub status: u32,
    /// What changed for the push side.
    pub change: Change,
}

#[derive(Debug)]
struct Subscriber {
    /// Pubsub topic → content topics.
    topics: HashMap<String, HashSet<String>>,
    /// Bytes of the topic strings in `topics`.
    bytes: usize,
    last_seen: Instant,
}

/// Every filter subscription of the node.
#[derive(Debug)]
pub struct Subscriptions {
    limits: Limits,
    policy: TopicPolicy,
    peers: HashMap<PeerId, Subscriber>,
    /// Pubsub topic → content topic → subscribed peers: what routing a message reads.
    index: HashMap<String, HashMap<String, HashSet<PeerId>>>,
}

impl Subscriptions {
    /// An empty table under `limits`, accepting the topics `policy` allows.
    pub fn new(limits: Limits, policy: TopicPolicy) -> Self {
        Subscriptions { limits, policy, peers: HashMap::new(), index: HashMap::new() }
    }

    /// Peers with at least one subscription.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Answers a request from `peer`; `request` is the frame read, or why none could be read.
    pub fn handle(&mut self, peer: PeerId, request: Result<&[u8], String>, now: Instant) -> Outcome {
        let decoded = request.and_then(|b| FilterSubscribeRequest::decode(b).map_err(|e| format!("malformed: {e}")));
        let req = match decoded {
            Ok(req) => req,
            Err(desc) => return outcome(String::new(), status::BAD_REQUEST, desc, Change::None),
        };
        let id = req.request_id.clone();
        let (status, desc, change) = match FilterSubscribeType::try_from(req.filter_subscribe_type) {
            Ok(FilterSubscribeType::SubscriberPing) => match self.peers.get_mut(&peer) {
                Some(sub) => {
                    sub.last_seen = now;
                    (status::OK, "OK".to_owned(), Change::None)
                }
                None => (status::NOT_FOUND, "peer has no subscriptions".to_owned(), Change::None),
            },
            Ok(FilterSubscribeType::Subscribe) => self.subscribe(peer, req, now),
            Ok(FilterSubscribeType::Unsubscribe) => self.unsubscribe(peer, req, now),
            Ok(FilterSubscribeType::UnsubscribeAll) => match self.remove(&peer) {
                true => (status::OK, "OK".to_owned(), Change::Removed),
                false => (status::NOT_FOUND, "peer has no subscriptions".to_owned(), Change::None),
            },
            Err(_) => {
                (status::BAD_REQUEST, format!("unknown request type {}", req.filter_subscribe_type), Change::None)
            }
        };
        outcome(id, status, desc, change)
    }

    fn criteria(&self, req: &FilterSubscribeRequest) -> Result<(String, HashSet<String>), String> {
        let topic = req.pubsub_topic.as_deref().ok_or("pubsub_topic is required")?;
        self.policy.check_filter(topic)?;
        if req.content_topics.is_empty() {
            return Err("content_topics must not be empty".into());
        }
        if req.content_topics.len() > self.limits.max_content_topics {
            return Err(format!(
                "{} content topics in one request exceeds maximum content topics: {}",
                req.content_topics.len(),
                self.limits.max_content_topics
            ));
        }
        if let Some(bad) = req.content_topics.iter().find(|t| t.is_empty() || t.len() > MAX_CONTENT_TOPIC_LEN) {
            return Err(format!("content topic must have 1 to {MAX_CONTENT_TOPIC_LEN} bytes, got {}", bad.len()));
        }
        Ok((topic.to_owned(), req.content_topics.iter().cloned().collect()))
    }

    fn subscribe(&mut self, peer: PeerId, req: FilterSubscribeRequest, now: Instant) -> (u32, String, Change) {
        let (topic, contents) = match self.criteria(&req) {
            Ok(c) => c,
            Err(desc) => return (status::BAD_REQUEST, desc, Change::None),
        };
        let limits = self.limits;
        let is_new = !self.peers.contains_key(&peer);
        if is_new && self.peers.len() >= limits.max_peers {
            let desc = format!("the node serves {} filter subscribers, its limit", limits.max_peers);
            return (status::SERVICE_UNAVAILABLE, desc, Change::None);
        }
        let sub =
            self.peers.entry(peer).or_insert_with(|| Subscriber { topics: HashMap::new(), bytes: 0, last_seen: now });
        sub.last_seen = now;
        if !sub.topics.contains_key(&topic) && sub.topics.len() >= limits.max_topics_per_peer {
            let desc = format!("a peer may subscribe on at most {} pubsub topics", limits.max_topics_per_peer);
            return (status::TOO_MANY_REQUESTS, desc, Change::None);
        }
        let existing = sub.topics.get(&topic).map_or(0, HashSet::len);
        let new: Vec<&String> = match sub.topics.get(&topic) {
            Some(have) => contents.difference(have).collect(),
            None => contents.iter().collect(),
        };
        let added = new.len();
        let added_bytes =
            new.iter().map(|t| t.len()).sum::<usize>() + if sub.topics.contains_key(&topic) { 0 } else { topic.len() };
        if sub.bytes + added_bytes > limits.max_bytes_per_peer {
            let desc = format!("a peer's subscriptions may hold at most {} bytes of topics", limits.max_bytes_per_peer);
            return (status::TOO_MANY_REQUESTS, desc, Change::None);
        }
        if existing + added > limits.max_content_topics {
            let desc = format!(
                "a peer may subscribe to at most {} content topics per pubsub topic",
                limits.max_content_topics
            );
            return (status::TOO_MANY_REQUESTS, desc, Change::None);
        }
        let by_content = self.index.entry(topic.clone()).or_default();
        for content in &contents {
            by_content.entry(content.clone()).or_default().insert(peer);
        }
        sub.bytes += added_bytes;
        sub.topics.entry(topic).or_default().extend(contents);
        (status::OK, "OK".to_owned(), if is_new { Change::Added } else { Change::None })
    }

    fn unsubscribe(&mut self, peer: PeerId, req: FilterSubscribeRequest, now: Instant) -> (u32, String, Change) {
        let (topic, contents) = match self.criteria(&req) {
            Ok(c) => c,
            Err(desc) => return (status::BAD_REQUEST, desc, Change::None),
        };
        let not_found =
            || (status::NOT_FOUND, "peer has no subscriptions matching the request".to_owned(), Change::None);
        let Some(sub) = self.peers.get_mut(&peer) else { return not_found() };
        sub.last_seen = now;
        let Some(have) = sub.topics.get_mut(&topic) else { return not_found() };
        let removed: Vec<String> = have.intersection(&contents).cloned().collect();
        if removed.is_empty() {
            return not_found();
        }
        have.retain(|t| !contents.contains(t));
        unindex(&mut self.index, &peer, &topic, removed.iter());
        sub.bytes -= removed.iter().map(String::len).sum::<usize>();
        if have.is_empty() {
            sub.topics.remove(&topic);
            sub.bytes -= topic.len();
        }
        if sub.topics.is_empty() {
            self.peers.remove(&peer);
            return (status::OK, "OK".to_owned(), Change::Removed);
        }
        (status::OK, "OK".to_owned(), Change::None)
    }

    /// Peers subscribed to `content_topic` on `pubsub_topic`.
    pub fn matching(&self, pubsub_topic: &str, content_topic: &str) -> Vec<PeerId> {
        self.index
            .get(pubsub_topic)
            .and_then(|by_content| by_content.get(content_topic))
            .map(|peers| peers.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Drops subscribers idle for longer than the limit and returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let idle = self.limits.idle;
        let expired: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, sub)| now.saturating_duration_since(sub.last_seen) > idle)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &expired {
            self.remove(peer);
        }
        expired
    }

    /// Drops every subscription of `peer`; returns whether it had any.
    pub fn remove(&mut self, peer: &PeerId) -> bool {
        let Some(sub) = self.peers.remove(peer) else { return false };
        for (topic, contents) in &sub.topics {
            unindex(&mut self.index, peer, topic, contents.iter());
        }
        true
    }
}

/// Takes `peer` out of the index entries of `contents` on `topic`, dropping entries left empty.
fn unindex<'a>(
    index: &mut HashMap<String, HashMap<String, HashSet<PeerId>>>,
    peer: &PeerId,
    topic: &str,
    contents: impl Iterator<Item = &'a String>,
) {
    let Some(by_content) = index.get_mut(topic) else { return };
    for content in contents {
        if let Some(peers) = by_content.get_mut(content) {
            peers.remove(peer);
            if peers.is_empty() {
                by_content.remove(content);
            }
        }
    }
    if by_content.is_empty() {
        index.remove(topic);
    }
}

/// The answer to a request refused before it reaches the table (rate limit):
/// `status` with `desc`, echoing the request id if the request decodes.
pub fn refuse(request: Result<&[u8], String>, status: u32, desc: String) -> Outcome {
    let id =
        request.ok().and_then(|b| FilterSubscribeRequest::decode(b).ok()).map(|r| r.request_id).unwrap_or_default();
    outcome(id, status, desc, Change::None)
}

fn outcome(request_id: String, status: u32, desc: String, change: Change) -> Outcome {
    let response = FilterSubscribeResponse { request_id, status_code: status, status_desc: Some(desc) }.encode_to_vec();
    Outcome { response, status, change }
}

/// The push frame of a relayed message: both fields set, as js-waku requires.
pub fn push_frame(message: &RelayMessage) -> Vec<u8> {
    MessagePush { waku_message: Some(message.message.clone()), pubsub_topic: Some(message.pubsub_topic.to_string()) }
        .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waku::PubsubTopic;
    use heliograph_proto::WakuMessage;

    const TOPIC: &str = "/waku/2/rs/1/0";

    fn table(limits: Limits) -> Subscriptions {
        Subscriptions::new(limits, TopicPolicy::new(1, 8))
    }

    fn request(kind: FilterSubscribeType, topic: Option<&str>, contents: &[&str]) -> Vec<u8> {
        FilterSubscribeRequest {
            request_id: "r1".into(),
            filter_subscribe_type: kind as i32,
            pubsub_topic: topic.map(str::to_owned),
            content_topics: contents.iter().map(|s| (*s).to_owned()).collect(),
        }
        .encode_to_vec()
    }

    fn answer(out: &Outcome) -> FilterSubscribeResponse {
        FilterSubscribeResponse::decode(out.response.as_slice()).expect("response decodes")
    }

    #[test]
    fn subscribe_ping_match_unsubscribe() {
        let mut subs = table(Limits::default());
        let (peer, now) = (PeerId::random(), Instant::now());
        let ping = request(FilterSubscribeType::SubscriberPing, None, &[]);
        assert_eq!(subs.handle(peer, Ok(&ping), now).status, status::NOT_FOUND);

        let out = subs.handle(peer, Ok(&request(FilterSubscribeType::Subscribe, Some(TOPIC), &["/a/1/x/p"])), now);
        assert_eq!((out.status, out.change), (status::OK, Change::Added));
        assert_eq!(answer(&out).request_id, "r1");
        assert_eq!(subs.matching(TOPIC, "/a/1/x/p"), vec![peer]);
        assert!(subs.matching(TOPIC, "/a/1/y/p").is_empty());
        assert!(subs.matching("/waku/2/rs/1/1", "/a/1/x/p").is_empty());
        assert_eq!(subs.handle(peer, Ok(&ping), now).status, status::OK);

        let unsub = request(FilterSubscribeType::Unsubscribe, Some(TOPIC), &["/a/1/other/p"]);
        assert_eq!(subs.handle(peer, Ok(&unsub), now).status, status::NOT_FOUND);
        let unsub = request(FilterSubscribeType::Unsubscribe, Some(TOPIC), &["/a/1/x/p"]);
        let out = subs.handle(peer, Ok(&unsub), now);
        assert_eq!((out.status, out.change), (status::OK, Change::Removed));
        assert!(subs.is_empty());
        let all = request(FilterSubscribeType::UnsubscribeAll, None, &[]);
        assert_eq!(subs.handle(peer, Ok(&all), now).status, status::NOT_FOUND);
    }

    #[test]
    fn routing_index_agrees_with_the_subscriptions_after_any_sequence() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut subs = table(Limits { max_content_topics: 4, ..Limits::default() });
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        let contents = ["/a/1/w/p", "/a/1/x/p", "/a/1/y/p", "/a/1/z/p"];
        let start = Instant::now();
        for step in 0..2000u64 {
            let peer = peers[rng.gen_range(0..peers.len())];
            let picked: Vec<&str> = contents.iter().copied().filter(|_| rng.gen_bool(0.4)).collect();
            let kind = match rng.gen_range(0..10) {
                0..=4 => FilterSubscribeType::Subscribe,
                5..=7 => FilterSubscribeType::Unsubscribe,
                _ => FilterSubscribeType::UnsubscribeAll,
            };
            let now = start + Duration::from_secs(step);
            subs.handle(peer, Ok(&request(kind, Some(TOPIC), &picked)), now);
            if step % 97 == 0 {
                subs.expire(now + Duration::from_secs(rng.gen_range(0..600)));
            }
            for content in contents {
                let mut routed = subs.matching(TOPIC, content);
                routed.sort();
                let mut scanned: Vec<PeerId> = subs
                    .peers
                    .iter()
                    .filter(|(_, s)| s.topics.get(TOPIC).is_some_and(|c| c.contains(content)))
                    .map(|(p, _)| *p)
                    .collect();
                scanned.sort();
                assert_eq!(routed, scanned, "step {step}, {content}");
            }
        }
        assert!(subs.index.values().all(|by_content| by_content.values().all(|p| !p.is_empty())));
    }

    #[test]
    fn bad_requests_get_400_with_a_reason() {
        let mut subs = table(Limits::default());
        let (peer, now) = (PeerId::random(), Instant::now());
        let cases: Vec<(Result<Vec<u8>, String>, &str)> = vec![
            (Ok(vec![0xff, 0xff, 0xff]), "malformed"),
            (Err("frame of 9999 bytes exceeds".into()), "exceeds"),
            (Ok(request(FilterSubscribeType::Subscribe, None, &["/a/1/x/p"])), "pubsub_topic"),
            (Ok(request(FilterSubscribeType::Subscribe, Some(TOPIC), &[])), "content_topics"),
            (Ok(request(FilterSubscribeType::Subscribe, Some("garbage"), &["/a/1/x/p"])), "topic"),
        ];
        for (bytes, want) in cases {
            let out = subs.handle(peer, bytes.as_deref().map_err(Clone::clone), now);
            assert_eq!(out.status, status::BAD_REQUEST, "{want}");
            let desc = answer(&out).status_desc.unwrap_or_default();
            assert!(desc.contains(want), "{desc:?} should mention {want:?}");
        }
        // As nwaku: any well-formed pubsub topic, of any cluster, may be subscribed on.
        let other_cluster = request(FilterSubscribeType::Subscribe, Some("/waku/2/rs/2/0"), &["/a/1/x/p"]);
        assert_eq!(subs.handle(peer, Ok(&other_cluster), now).status, status::OK);
        assert!(subs.remove(&peer));
        let unknown = FilterSubscribeRequest { filter_subscribe_type: 9, ..Default::default() }.encode_to_vec();
        assert_eq!(subs.handle(peer, Ok(&unknown), now).status, status::BAD_REQUEST);
        assert!(subs.is_empty(), "no bad request leaves state behind");
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_peers: 2, max_topics_per_peer: 1, max_content_topics: 3, ..Limits::default() };
        let mut subs = Subscriptions::new(limits, TopicPolicy::new(1, 8));
        let now = Instant::now();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let sub = |topic, contents: &[&str]| request(FilterSubscribeType::Subscribe, Some(topic), contents);
        let four = ["/a/1/1/p", "/a/1/2/p", "/a/1/3/p", "/a/1/4/p"];
        assert_eq!(subs.handle(a, Ok(&sub(TOPIC, &four)), now).status, status::BAD_REQUEST, "too many in one request");
        assert_eq!(subs.handle(a, Ok(&sub(TOPIC, &four[..2])), now).status, status::OK);
        assert_eq!(subs.handle(a, Ok(&sub(TOPIC, &four[..2])), now).status, status::OK, "re-subscribing is idempotent");
        assert_eq!(subs.handle(a, Ok(&sub(TOPIC, &four[1..3])), now).status, status::OK);
        assert_eq!(subs.handle(a, Ok(&sub(TOPIC, &four[3..])), now).status, status::TOO_MANY_REQUESTS);
        assert_eq!(subs.handle(a, Ok(&sub("/waku/2/rs/1/1", &four[..1])), now).status, status::TOO_MANY_REQUESTS);
        assert_eq!(subs.handle(b, Ok(&sub(TOPIC, &four[..1])), now).status, status::OK);
        assert_eq!(subs.handle(c, Ok(&sub(TOPIC, &four[..1])), now).status, status::SERVICE_UNAVAILABLE);
        assert_eq!(subs.len(), 2);
    }

    #[test]
    fn subscription_bytes_are_bounded_per_peer_and_given_back() {
        let limits = Limits { max_bytes_per_peer: TOPIC.len() + 2500, ..Limits::default() };
        let mut subs = table(limits);
        let (peer, now) = (PeerId::random(), Instant::now());
        let long = "x".repeat(1000);
        let longer = "y".repeat(1000);
        let last = "z".repeat(1000);
        let sub = |contents: &[&str]| request(FilterSubscribeType::Subscribe, Some(TOPIC), contents);
        assert_eq!(subs.handle(peer, Ok(&sub(&[&long, &longer])), now).status, status::OK, "1000-byte topics");
        assert_eq!(subs.handle(peer, Ok(&sub(&[&last])), now).status, status::TOO_MANY_REQUESTS);
        let unsub = request(FilterSubscribeType::Unsubscribe, Some(TOPIC), &[&long]);
        assert_eq!(subs.handle(peer, Ok(&unsub), now).status, status::OK);
        assert_eq!(subs.handle(peer, Ok(&sub(&[&last])), now).status, status::OK, "room given back");
        let too_long = "t".repeat(MAX_CONTENT_TOPIC_LEN + 1);
        assert_eq!(subs.handle(peer, Ok(&sub(&[&too_long])), now).status, status::BAD_REQUEST);
    }

    #[test]
    fn idle_subscribers_expire_and_pings_keep_them() {
        let limits = Limits { idle: Duration::from_secs(300), ..Limits::default() };
        let mut subs = table(limits);
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        let sub = request(FilterSubscribeType::Subscribe, Some(TOPIC), &["/a/1/x/p"]);
        subs.handle(a, Ok(&sub), t0);
        subs.handle(b, Ok(&sub), t0);
        let ping = request(FilterSubscribeType::SubscriberPing, None, &[]);
        assert_eq!(subs.handle(b, Ok(&ping), t0 + Duration::from_secs(200)).status, status::OK);
        assert!(subs.expire(t0 + Duration::from_secs(299)).is_empty());
        assert_eq!(subs.expire(t0 + Duration::from_secs(301)), vec![a]);
        assert_eq!(subs.matching(TOPIC, "/a/1/x/p"), vec![b]);
        assert_eq!(subs.expire(t0 + Duration::from_secs(501)), vec![b]);
        assert!(subs.is_empty());
    }

    #[test]
    fn push_frames_carry_topic_and_message() {
        let message = WakuMessage { payload: vec![1, 2], content_topic: "/a/1/x/p".into(), ..Default::default() };
        let relayed =
            RelayMessage::encode(PubsubTopic::Sharded { cluster: 1, shard: 0 }, message.clone()).expect("valid");
        let push = MessagePush::decode(push_frame(&relayed).as_slice()).expect("decodes");
        assert_eq!(push.pubsub_topic.as_deref(), Some(TOPIC));
        assert_eq!(push.waku_message, Some(message));
    }
}
