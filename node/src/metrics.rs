//! Prometheus metrics of the node, served at `/metrics`: peers, messages and
//! bytes relayed per topic, messages dropped and why, plus libp2p's own; and
//! [`encode`], the one text rendering every `/metrics` answer uses.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry in the OpenMetrics text format.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

/// Labels naming a pubsub topic.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    /// The pubsub topic.
    pub topic: String,
}

/// Labels naming why a message was dropped.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A short reason, e.g. `malformed`, `too_large`, `duplicate`.
    pub reason: String,
}

/// Buckets of [`NodeMetrics::store_query_seconds`]: 100 µs to about 3.3 s.
fn store_query_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Every metric Heliograph itself records.
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    /// Connected peers.
    pub peers: Gauge,
    /// Messages accepted from the mesh or published locally, per topic.
    pub messages_relayed: Family<TopicLabel, Counter>,
    /// Bytes of those messages, per topic.
    pub bytes_relayed: Family<TopicLabel, Counter>,
    /// Messages refused or lost, per reason.
    pub messages_dropped: Family<ReasonLabel, Counter>,
    /// Peers disconnected because they are in another cluster.
    pub wrong_cluster_peers: Counter,
    /// Relay peers disconnected for keeping their send queue full.
    pub slow_peers_disconnected: Counter,
    /// Messages in the store.
    pub store_messages: Gauge,
    /// Bytes of messages in the store.
    pub store_bytes: Gauge,
    /// Messages evicted by retention.
    pub store_evictions: Counter,
    /// Failed store writes (for example: disk full).
    pub store_write_errors: Counter,
    /// Store queries run (local and from peers).
    pub store_queries: Counter,
    /// Messages fetched from peers' stores by gap filling.
    pub gap_filled_messages: Counter,
    /// Gap-filling answers discarded as false, per reason (`hash_mismatch`, …).
    pub gap_fill_rejected: Family<ReasonLabel, Counter>,
    /// Peers in this node's gossipsub mesh, per pubsub topic (sampled each second).
    pub mesh_peers: Family<TopicLabel, Gauge>,
    /// How long store queries take (local and from peers), in seconds.
    pub store_query_seconds: Histogram,
    /// Light-client state a remote peer can grow, and what was refused or dropped.
    pub light: LightMetrics,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics {
            peers: Gauge::default(),
            messages_relayed: Family::default(),
            bytes_relayed: Family::default(),
            messages_dropped: Family::default(),
            wrong_cluster_peers: Counter::default(),
            slow_peers_disconnected: Counter::default(),
            store_messages: Gauge::default(),
            store_bytes: Gauge::default(),
            store_evictions: Counter::default(),
            store_write_errors: Counter::default(),
            store_queries: Counter::default(),
            gap_filled_messages: Counter::default(),
            gap_fill_rejected: Family::default(),
            mesh_peers: Family::default(),
            store_query_seconds: store_query_histogram(),
            light: LightMetrics::default(),
        }
    }
}

/// Metrics of the light-client protocols (filter, lightpush, peer exchange).
#[derive(Debug, Clone, Default)]
pub struct LightMetrics {
    /// Peers with at least one filter subscription.
    pub filter_subscribers: Gauge,
    /// Messages pushed to filter subscribers.
    pub filter_pushes: Counter,
    /// Filter pushes dropped, per reason (`queue_full`, `write_failed`, `lagged`).
    pub filter_push_dropped: Family<ReasonLabel, Counter>,
    /// Filter subscribers removed, per reason (`expired`, `slow`, `unreachable`).
    pub filter_evictions: Family<ReasonLabel, Counter>,
    /// Light-client requests answered, per protocol and status code.
    pub requests: Family<RequestLabel, Counter>,
    /// ENRs in the peer-exchange cache.
    pub peer_exchange_enrs: Gauge,
}

/// Labels of a light-client request outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// `filter`, `lightpush` or `peer_exchange`.
    pub protocol: String,
    /// The status code answered.
    pub status: u32,
}

impl NodeMetrics {
    /// Registers the metrics under the `heliograph` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("heliograph");
        r.register("peers", "Connected peers", self.peers.clone());
        r.register("relay_messages", "Messages relayed, per pubsub topic", self.messages_relayed.clone());
        r.register("relay_bytes", "Bytes of messages relayed, per pubsub topic", self.bytes_relayed.clone());
        r.register("relay_dropped_messages", "Messages dropped, per reason", self.messages_dropped.clone());
        r.register(
            "wrong_cluster_peers",
            "Peers disconnected for being in another cluster",
            self.wrong_cluster_peers.clone(),
        );
        r.register(
            "slow_peers_disconnected",
            "Relay peers disconnected for keeping their send queue full",
            self.slow_peers_disconnected.clone(),
        );
        r.register("store_messages", "Messages in the store", self.store_messages.clone());
        r.register("store_bytes", "Bytes of messages in the store", self.store_bytes.clone());
        r.register("store_evictions", "Messages evicted by retention", self.store_evictions.clone());
        r.register("store_write_errors", "Failed store writes", self.store_write_errors.clone());
        r.register("store_queries", "Store queries run", self.store_queries.clone());
        r.register(
            "gap_filled_messages",
            "Messages fetched from peers by gap filling",
            self.gap_filled_messages.clone(),
        );
        r.register(
            "gap_fill_rejected",
            "Gap-filling answers discarded as false, per reason",
            self.gap_fill_rejected.clone(),
        );
        r.register("mesh_peers", "Peers in the gossipsub mesh, per pubsub topic", self.mesh_peers.clone());
        r.register("store_query_seconds", "Store query duration in seconds", self.store_query_seconds.clone());
        let l = &self.light;
        r.register("filter_subscribers", "Peers with a filter subscription", l.filter_subscribers.clone());
        r.register("filter_pushes", "Messages pushed to filter subscribers", l.filter_pushes.clone());
        r.register("filter_push_dropped", "Filter pushes dropped, per reason", l.filter_push_dropped.clone());
        r.register("filter_evictions", "Filter subscribers removed, per reason", l.filter_evictions.clone());
        r.register("light_requests", "Light-client requests, per protocol and status", l.requests.clone());
        r.register("peer_exchange_enrs", "ENRs in the peer-exchange cache", l.peer_exchange_enrs.clone());
    }

    /// Counts one answered light-client request.
    pub fn light_request(&self, protocol: &str, status: u32) {
        self.light.requests.get_or_create(&RequestLabel { protocol: protocol.to_owned(), status }).inc();
    }

    /// Counts one relayed message of `bytes` bytes on `topic`.
    pub fn relayed(&self, topic: &str, bytes: usize) {
        let label = TopicLabel { topic: topic.to_owned() };
        self.messages_relayed.get_or_create(&label).inc();
        self.bytes_relayed.get_or_create(&label).inc_by(bytes as u64);
    }

    /// Counts one dropped message.
    pub fn dropped(&self, reason: &str) {
        self.messages_dropped.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }
}
