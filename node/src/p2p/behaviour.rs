//! The composed libp2p behaviour of a Heliograph node: connection limits,
//! Waku relay, identify, ping, metadata, store and the light-client streams.

// The derive generates `BehaviourEvent`, whose variants carry no docs.
#![allow(missing_docs)]

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, connection_limits, gossipsub, identify, ping, request_response};

use super::codec::FrameCodec;
use super::relay::{self, RelayError};
use crate::config::NetworkConfig;

/// Largest metadata frame accepted (cluster id plus a shard list).
const MAX_METADATA_FRAME: usize = 4 * 1024;
/// Largest store query accepted (100 content topics or hashes fit easily).
const MAX_STORE_REQUEST: usize = 64 * 1024;
/// Largest store response sent or accepted: js-waku's frame limit.
pub const MAX_STORE_RESPONSE: usize = 4 * 1024 * 1024;

/// The identify protocol id.
pub const IDENTIFY_PROTOCOL: &str = "/ipfs/id/1.0.0";

/// Everything the node speaks over libp2p.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps on established, pending and per-peer connections.
    pub limits: connection_limits::Behaviour,
    /// Waku relay.
    pub relay: gossipsub::Behaviour,
    /// Identify: tells peers our protocols and addresses, and learns theirs.
    pub identify: identify::Behaviour,
    /// Liveness pings.
    pub ping: ping::Behaviour,
    /// Waku metadata: cluster id and shards exchanged on every new connection.
    pub metadata: request_response::Behaviour<FrameCodec>,
    /// Store v3 queries: served when the node has a store, always usable as a client.
    pub store: request_response::Behaviour<FrameCodec>,
    /// Raw streams for the light-client protocols (filter, lightpush, peer exchange),
    /// served outside the swarm task by [`crate::light`].
    pub streams: libp2p_stream::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key` under the network limits; `serve_store`
    /// advertises and answers store queries.
    pub fn new(key: &Keypair, network: &NetworkConfig, serve_store: bool) -> Result<Self, RelayError> {
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(network.max_connections))
            .with_max_established_per_peer(Some(network.max_connections_per_peer))
            .with_max_pending_incoming(Some(network.max_pending_connections))
            .with_max_pending_outgoing(Some(network.max_pending_connections));
        let identify = identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
            .with_agent_version(format!("heliograph/{}", env!("CARGO_PKG_VERSION")))
            .with_push_listen_addr_updates(true);
        let metadata = request_response::Behaviour::with_codec(
            FrameCodec::new(MAX_METADATA_FRAME, MAX_METADATA_FRAME),
            [(StreamProtocol::new(heliograph_proto::protocol_id::METADATA), request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(10))
                .with_max_concurrent_streams(64),
        );
        let store = request_response::Behaviour::with_codec(
            FrameCodec::new(MAX_STORE_REQUEST, MAX_STORE_RESPONSE),
            [(
                StreamProtocol::new(heliograph_proto::protocol_id::STORE_QUERY),
                if serve_store {
                    request_response::ProtocolSupport::Full
                } else {
                    request_response::ProtocolSupport::Outbound
                },
            )],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(30))
                .with_max_concurrent_streams(64),
        );
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            relay: relay::behaviour()?,
            identify: identify::Behaviour::new(identify),
            ping: ping::Behaviour::new(ping::Config::new()),
            metadata,
            store,
            streams: libp2p_stream::Behaviour::new(),
        })
    }
}
