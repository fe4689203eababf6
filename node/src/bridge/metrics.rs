//! Prometheus metrics of the bridge, registered under `heliograph_bridge_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels naming why a connection was refused or closed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A short reason, e.g. `origin`, `auth`, `frame_too_large`.
    pub reason: String,
}

/// Every bridge metric.
#[derive(Debug, Clone, Default)]
pub struct BridgeMetrics {
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Active subscriptions (waku content topics and WalletConnect topics).
    pub subscriptions: Gauge,
    /// Messages pushed to subscribers.
    pub messages_pushed: Counter,
    /// JSON-RPC requests handled.
    pub requests: Counter,
    /// Connections closed because they did not read fast enough.
    pub slow_consumer_disconnects: Counter,
    /// Requests refused by a rate limit.
    pub rate_limited: Counter,
    /// Bad frames received (not JSON or JSON-RPC, binary, unknown method, invalid params).
    pub bad_frames: Counter,
    /// Bytes of WalletConnect messages the relay's mailbox keeps.
    pub wc_mailbox_bytes: Gauge,
    /// Upgrades refused and connections closed by the bridge, per reason.
    pub rejected: Family<ReasonLabel, Counter>,
    /// Connections the listeners refused by their per-IP cap or cut off by their
    /// handshake timeout, shared with REST and registered by the node (not by
    /// [`BridgeMetrics::register`]); the bridge counts under `listener="bridge"`.
    pub refusals: crate::http_server::Refusals,
}

impl BridgeMetrics {
    /// Registers the metrics under the `heliograph_bridge` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("heliograph_bridge");
        r.register("connections", "Open bridge WebSocket connections", self.connections.clone());
        r.register("subscriptions", "Active bridge subscriptions", self.subscriptions.clone());
        r.register("messages_pushed", "Messages pushed to bridge subscribers", self.messages_pushed.clone());
        r.register("requests", "JSON-RPC requests handled by the bridge", self.requests.clone());
        r.register(
            "slow_consumer_disconnects",
            "Bridge connections closed for not reading fast enough",
            self.slow_consumer_disconnects.clone(),
        );
        r.register("rate_limited", "Bridge requests refused by a rate limit", self.rate_limited.clone());
        r.register(
            "bad_frames",
            "Bad bridge frames: not JSON or JSON-RPC, binary, unknown method, invalid params",
            self.bad_frames.clone(),
        );
        r.register(
            "wc_mailbox_bytes",
            "Bytes of WalletConnect messages the relay's mailbox keeps for receivers",
            self.wc_mailbox_bytes.clone(),
        );
        r.register("rejected", "Bridge upgrades refused and connections closed, per reason", self.rejected.clone());
    }

    /// Counts one refusal or close for `reason`.
    pub fn reject(&self, reason: &str) {
        self.rejected.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }
}
