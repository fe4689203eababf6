//! Waku relay: gossipsub v1.1 under `/vac/waku/relay/2.0.0`, unsigned, with
//! message id = sha256(data), the Waku mesh degrees and peer scoring on.

use std::time::Duration;

use libp2p::gossipsub::{
    self, ConfigBuilder, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode, Version,
};

use crate::waku::{MAX_MESSAGE_SIZE, message::relay_id};

/// Room for the gossipsub RPC framing around one maximal WakuMessage.
const RPC_OVERHEAD: usize = 16 * 1024;

/// Why the relay could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// gossipsub refused its configuration.
    #[error("gossipsub configuration: {0}")]
    Config(String),
}

/// The gossipsub behaviour configured as Waku relay.
pub fn behaviour() -> Result<gossipsub::Behaviour, RelayError> {
    let config = ConfigBuilder::default()
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
        .max_transmit_size(MAX_MESSAGE_SIZE + RPC_OVERHEAD)
        // Messages are forwarded only after the node has decoded and accepted them.
        .validate_messages()
        .build()
        .map_err(|e| RelayError::Config(e.to_string()))?;
    let mut relay =
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(|e| RelayError::Config(e.into()))?;
    relay.with_peer_score(score_params(), thresholds()).map_err(|e| RelayError::Config(e.to_string()))?;
    Ok(relay)
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
pub fn score_topic(relay: &mut gossipsub::Behaviour, topic: IdentTopic) {
    // Fails only if scoring is off, which `behaviour` never builds.
    let _ = relay.set_topic_params(topic, topic_score_params());
}

/// Peer score parameters. IP colocation (many peers on one IP) is penalised
/// only beyond 50 peers, because light clients behind one NAT share an IP
/// and count too; loopback is exempt (only the operator's own processes).
fn score_params() -> PeerScoreParams {
    PeerScoreParams {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_configuration_is_accepted() {
        behaviour().expect("valid gossipsub configuration");
        score_params().validate().expect("valid score params");
        topic_score_params().validate().expect("valid topic params");
        thresholds().validate().expect("valid thresholds");
    }
}
