//! Waku relay: gossipsub v1.1 under `/vac/waku/relay/2.0.0`, unsigned, with
//! message id = sha256(data), the Waku mesh degrees and peer scoring on.
//! A peer that does not read what it is sent holds a bounded send queue
//! ([`PEER_QUEUE_BYTES`] at most), loses score for every message that did
//! not fit, and is disconnected by the swarm task once [`SlowPeers`] has seen
//! it overflow in [`SLOW_STRIKES`] heartbeats within [`SLOW_WINDOW`].
//! What a peer says it is subscribed to is bounded too ([`RelayTopicFilter`]):
//! only Waku pubsub topics, at most [`MAX_PUBSUB_TOPICS`] per peer.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::gossipsub::{
    self, ConfigBuilder, IdentTopic, IdentityTransform, MaxCountSubscriptionFilter, MessageAuthenticity, MessageId,
    PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams, TopicSubscriptionFilter, ValidationMode,
    Version,
};

use crate::config::MAX_PUBSUB_TOPICS;
use crate::waku::{MAX_MESSAGE_SIZE, PubsubTopic, message::relay_id};

/// Room for the gossipsub RPC framing around one maximal WakuMessage.
const RPC_OVERHEAD: usize = 16 * 1024;
/// The largest gossipsub RPC sent or accepted.
const MAX_RPC_SIZE: usize = MAX_MESSAGE_SIZE + RPC_OVERHEAD;
/// Messages (publishes, forwards, gossip) queued for one peer. gossipsub
/// bounds its queue in messages, not bytes: this is room for a burst of small
/// messages (a hundred light clients pushing at once) and, in bytes, at most
/// [`PEER_QUEUE_BYTES`]; gossipsub's default of 5000 let a peer that stopped
/// reading hold 830 MB. A peer that keeps its queue full is disconnected
/// within [`SLOW_STRIKES`] heartbeats, which frees it.
const PEER_QUEUE_LEN: usize = 512;
/// The most bytes one peer's send queue can hold: [`PEER_QUEUE_LEN`] maximal RPCs (83 MiB).
pub const PEER_QUEUE_BYTES: usize = PEER_QUEUE_LEN * MAX_RPC_SIZE;
/// Heartbeats in which a peer's queue overflowed, within [`SLOW_WINDOW`],
/// after which the peer is disconnected.
pub const SLOW_STRIKES: usize = 3;
/// The window in which [`SLOW_STRIKES`] are counted.
pub const SLOW_WINDOW: Duration = Duration::from_secs(10);

/// Why the relay could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// gossipsub refused its configuration.
    #[error("gossipsub configuration: {0}")]
    Config(String),
}

/// Admits a peer's subscription only to a well-formed Waku pubsub topic (static
/// shard or named, at most 256 bytes): gossipsub keeps every topic each peer
/// announces, so without a filter a peer could grow that map without end.
#[derive(Debug, Clone, Default)]
pub struct WakuTopics;

impl TopicSubscriptionFilter for WakuTopics {
    fn can_subscribe(&mut self, topic: &TopicHash) -> bool {
        topic.as_str().parse::<PubsubTopic>().is_ok()
    }
}

/// The subscription filter of the relay: Waku topics only, and no more per peer
/// (or per RPC) than the node itself may join. An RPC over the cap has all its
/// subscriptions ignored.
pub type RelayTopicFilter = MaxCountSubscriptionFilter<WakuTopics>;

/// gossipsub as the node runs it.
pub type Relay = gossipsub::Behaviour<IdentityTransform, RelayTopicFilter>;

fn topic_filter() -> RelayTopicFilter {
    MaxCountSubscriptionFilter {
        filter: WakuTopics,
        max_subscribed_topics: MAX_PUBSUB_TOPICS,
        max_subscriptions_per_request: MAX_PUBSUB_TOPICS,
    }
}

/// The gossipsub behaviour configured as Waku relay.
pub fn behaviour() -> Result<Relay, RelayError> {
    let config = config()?;
    let mut relay = Relay::new_with_subscription_filter(MessageAuthenticity::Anonymous, config, topic_filter())
        .map_err(|e| RelayError::Config(e.into()))?;
    relay.with_peer_score(score_params(), thresholds()).map_err(|e| RelayError::Config(e.to_string()))?;
    Ok(relay)
}

/// The gossipsub configuration of Waku relay.
fn config() -> Result<gossipsub::Config, RelayError> {
    ConfigBuilder::default()
        .protocol_id(heliograph_proto::protocol_id::RELAY, Version::V1_1)
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(|m| MessageId::new(&relay_id(&m.data)))
        .mesh_n(6)
        .mesh_n_low(4)
        .mesh_n_high(8)
        .mesh_outbound_min(3)
        .gossip_lazy(6)
        .heartbeat_interval(Duration::from_secs(1))
        .duplicate_cache_time(Duration::from_secs(120))
        .max_transmit_size(MAX_RPC_SIZE)
        .connection_handler_queue_len(PEER_QUEUE_LEN)
        // Messages are forwarded only after the node has decoded and accepted them.
        .validate_messages()
        .build()
        .map_err(|e| RelayError::Config(e.to_string()))
}

/// Score parameters for one relayed topic. Waku topics can be quiet for long
/// stretches, so mesh-delivery deficits (P3/P3b) are not punished; invalid
/// messages (P4) are, hard.
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 10.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.5,
        ..TopicScoreParams::default()
    }
}

/// Registers score parameters for a newly joined topic.
pub fn score_topic(relay: &mut Relay, topic: IdentTopic) {
    // Fails only if scoring is off, which `behaviour` never builds.
    let _ = relay.set_topic_params(topic, topic_score_params());
}

/// Peer score parameters. IP colocation (many peers on one IP) is penalised
/// only beyond 50 peers, because light clients behind one NAT share an IP
/// and count too; loopback is exempt (only the operator's own processes).
/// Every message that did not fit in a peer's send queue costs it a point
/// beyond the first 16 (decaying by half each second): a peer that keeps its
/// queue full sinks below the gossip, publish and graylist thresholds, is
/// pruned from the mesh, and gets no more gossip while the swarm task counts
/// its strikes.
fn score_params() -> PeerScoreParams {
    PeerScoreParams {
        slow_peer_weight: -1.0,
        slow_peer_threshold: 16.0,
        slow_peer_decay: 0.5,
        ip_colocation_factor_threshold: 50.0,
        ip_colocation_factor_whitelist: [
            std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ]
        .into_iter()
        .collect(),
        ..PeerScoreParams::default()
    }
}

fn thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 100.0,
        opportunistic_graft_threshold: 1.0,
    }
}

/// Counts the heartbeats in which each peer's send queue overflowed (the
/// gossipsub `SlowPeer` event) and says when a peer has had enough.
#[derive(Debug, Default)]
pub struct SlowPeers {
    /// Recent overflows per connected peer, oldest first, at most [`SLOW_STRIKES`].
    strikes: HashMap<PeerId, VecDeque<Instant>>,
}

impl SlowPeers {
    /// Notes an overflow of `peer`'s queue at `now`; true if the peer is to
    /// be disconnected ([`SLOW_STRIKES`] within [`SLOW_WINDOW`]).
    #[must_use]
    pub fn report(&mut self, peer: PeerId, now: Instant) -> bool {
        let strikes = self.strikes.entry(peer).or_default();
        while strikes.front().is_some_and(|t| now.saturating_duration_since(*t) >= SLOW_WINDOW) {
            strikes.pop_front();
        }
        strikes.push_back(now);
        if strikes.len() >= SLOW_STRIKES {
            self.strikes.remove(&peer);
            return true;
        }
        false
    }

    /// Forgets a peer that disconnected.
    pub fn forget(&mut self, peer: &PeerId) {
        self.strikes.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_queue_is_bounded_in_bytes() {
        let config = config().expect("valid");
        let queued = config.connection_handler_queue_len() * config.max_transmit_size();
        assert!(queued <= PEER_QUEUE_BYTES, "{queued} bytes can queue for one peer");
        assert!(queued <= 100 * 1024 * 1024, "{queued} bytes can queue for one peer");
        assert!(config.connection_handler_queue_len() >= 300, "room for bursts of small messages");
    }

    #[test]
    fn peers_may_announce_only_waku_topics_and_no_more_than_the_node_joins() {
        let mut filter = topic_filter();
        for topic in ["/waku/2/rs/1/0", "/waku/2/rs/65535/1023", "/waku/2/default-waku/proto"] {
            assert!(filter.can_subscribe(&TopicHash::from_raw(topic)), "{topic}");
        }
        for topic in ["junk", "", "/waku/2/rs/1/x", &format!("/waku/2/{}", "x".repeat(300))] {
            assert!(!filter.can_subscribe(&TopicHash::from_raw(topic)), "{topic}");
        }
        // gossipsub's MaxCount filter ignores an RPC that passes either count.
        assert_eq!((filter.max_subscribed_topics, filter.max_subscriptions_per_request), (1024, 1024));
    }

    #[test]
    fn three_overflows_within_the_window_disconnect_a_peer() {
        let (slow, other) = (PeerId::random(), PeerId::random());
        let mut peers = SlowPeers::default();
        let t0 = Instant::now();
        assert!(!peers.report(slow, t0));
        assert!(!peers.report(other, t0), "strikes are per peer");
        assert!(!peers.report(slow, t0 + Duration::from_secs(1)));
        assert!(peers.report(slow, t0 + Duration::from_secs(2)), "third strike within the window");
        assert!(!peers.report(slow, t0 + Duration::from_secs(3)), "a reconnected peer starts afresh");

        // Overflows spread wider than the window never add up.
        let mut peers = SlowPeers::default();
        for i in 0..10 {
            assert!(!peers.report(slow, t0 + SLOW_WINDOW / 2 * i), "strike {i}");
        }
        peers.forget(&slow);
        assert!(peers.strikes.is_empty());
    }

    #[test]
    fn relay_configuration_is_accepted() {
        behaviour().expect("valid gossipsub configuration");
        score_params().validate().expect("valid score params");
        topic_score_params().validate().expect("valid topic params");
        thresholds().validate().expect("valid thresholds");
    }
}
