//! The composed libp2p behaviour of a Heliograph node: connection limits,
//! Waku relay, identify, ping, metadata, store, the light-client protocols
//! (filter subscribe, lightpush v3 and v2, peer exchange) as request/response
//! servers, and raw outbound streams (filter pushes, light-client requests).

// The derive generates `BehaviourEvent`, whose variants carry no docs.
#![allow(missing_docs)]

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, connection_limits, gossipsub, identify, ping, request_response};
use prometheus_client::registry::Registry;

use super::codec::{FrameCodec, LightCodec};
use super::relay::{self, RelayError};
use crate::config::NetworkConfig;

/// Largest metadata frame accepted: a cluster id and up to 1024 shards, each
/// written twice (one tag per shard, then packed), take about 5 KiB.
pub const MAX_METADATA_FRAME: usize = 8 * 1024;
/// Largest store query accepted (100 content topics or hashes fit easily).
const MAX_STORE_REQUEST: usize = 64 * 1024;
/// Largest store response sent or accepted: js-waku's frame limit.
pub const MAX_STORE_RESPONSE: usize = 4 * 1024 * 1024;

/// Largest filter request (100 content topics of 256 bytes fit).
pub const MAX_FILTER_REQUEST: usize = 64 * 1024;
/// Largest lightpush request: js-waku's 1 MiB message cap plus framing; messages
/// larger than the relay takes still decode, so they get 413 with their id.
pub const MAX_LIGHTPUSH_REQUEST: usize = 1024 * 1024 + 4096;
/// Largest peer-exchange query or answer.
pub const MAX_PX_FRAME: usize = 64 * 1024;
/// Largest light-client response (filter, lightpush, peer exchange) read by a client.
pub const MAX_LIGHT_RESPONSE: usize = 64 * 1024;
/// How long an inbound light-client stream may take from opening to the response.
/// js-waku opens streams in advance and may write to them much later, or never.
const LIGHT_STREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// Light-client request streams open at once on one connection (a client has one
/// or two in flight; js-waku keeps one idle stream per protocol). Above it a new
/// stream is reset, so one peer can hold at most this many requests in memory.
const MAX_LIGHT_STREAMS: usize = 32;

/// The identify protocol id.
pub const IDENTIFY_PROTOCOL: &str = "/ipfs/id/1.0.0";

/// Everything the node speaks over libp2p.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps on established, pending and per-peer connections.
    pub limits: connection_limits::Behaviour,
    /// Waku relay.
    pub relay: super::relay::Relay,
    /// Identify: tells peers our protocols and addresses, and learns theirs.
    pub identify: identify::Behaviour,
    /// Liveness pings.
    pub ping: ping::Behaviour,
    /// Waku metadata: cluster id and shards exchanged on every new connection.
    pub metadata: request_response::Behaviour<FrameCodec>,
    /// Store v3 queries: served when the node has a store, always usable as a client.
    pub store: request_response::Behaviour<FrameCodec>,
    /// Filter v2 subscribe requests.
    pub filter: request_response::Behaviour<LightCodec>,
    /// Lightpush v3 requests.
    pub lightpush_v3: request_response::Behaviour<LightCodec>,
    /// Legacy lightpush v2 requests.
    pub lightpush_v2: request_response::Behaviour<LightCodec>,
    /// Peer-exchange queries.
    pub peer_exchange: request_response::Behaviour<LightCodec>,
    /// Raw outbound streams: filter pushes to subscribers and this node's own
    /// light-client requests (peer-exchange polling). Accepts no inbound protocol.
    pub streams: libp2p_stream::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key` under the network limits; `serve_store`
    /// advertises and answers store queries, `serve_lightpush` lightpush requests.
    /// The relay's metrics go into `registry`.
    pub fn new(
        key: &Keypair,
        network: &NetworkConfig,
        serve_store: bool,
        serve_lightpush: bool,
        registry: &mut Registry,
    ) -> Result<Self, RelayError> {
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
            relay: relay::behaviour()?.with_metrics(
                registry.sub_registry_with_prefix("libp2p_gossipsub"),
                gossipsub::MetricsConfig::default(),
            ),
            identify: identify::Behaviour::new(identify),
            ping: ping::Behaviour::new(ping::Config::new()),
            metadata,
            store,
            filter: light_server(heliograph_proto::protocol_id::FILTER_SUBSCRIBE, MAX_FILTER_REQUEST, true),
            lightpush_v3: light_server(
                heliograph_proto::protocol_id::LIGHTPUSH_V3,
                MAX_LIGHTPUSH_REQUEST,
                serve_lightpush,
            ),
            lightpush_v2: light_server(
                heliograph_proto::protocol_id::LIGHTPUSH_V2,
                MAX_LIGHTPUSH_REQUEST,
                serve_lightpush,
            ),
            peer_exchange: light_server(heliograph_proto::protocol_id::PEER_EXCHANGE, MAX_PX_FRAME, true),
            streams: libp2p_stream::Behaviour::new(),
        })
    }
}

/// A server (inbound only) of one light-client protocol: one request per stream,
/// answered by the swarm task, write side closed after the response. When not
/// `served`, the protocol is neither advertised nor accepted.
fn light_server(protocol: &'static str, max_request: usize, served: bool) -> request_response::Behaviour<LightCodec> {
    // Outbound support alone accepts no stream: the node never sends these requests itself.
    let support =
        if served { request_response::ProtocolSupport::Inbound } else { request_response::ProtocolSupport::Outbound };
    request_response::Behaviour::with_codec(
        LightCodec::new(max_request, MAX_LIGHT_RESPONSE),
        [(StreamProtocol::new(protocol), support)],
        request_response::Config::default()
            .with_request_timeout(LIGHT_STREAM_TIMEOUT)
            .with_max_concurrent_streams(MAX_LIGHT_STREAMS),
    )
}
