//! The libp2p transport: TCP and WebSocket (over TCP, with DNS resolution),
//! secured by Noise and multiplexed by yamux or mplex — each peer picks one.
//! js-waku speaks only mplex; rust-libp2p and nwaku peers prefer yamux.

use std::time::Duration;

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::{SelectUpgrade, Version};
use libp2p::identity::Keypair;
use libp2p::{PeerId, Transport, dns, noise, tcp, websocket, yamux};

/// How long a connection may take to finish the security and muxer handshakes.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(20);

/// Most mplex substreams per connection; js-waku opens a few per protocol.
const MPLEX_MAX_STREAMS: usize = 256;

/// The error type `SwarmBuilder::with_other_transport` expects.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the node transport for `key`.
pub fn build(key: &Keypair) -> Result<Boxed<(PeerId, StreamMuxerBox)>, BuildError> {
    let tcp_config = tcp::Config::default().nodelay(true);
    let ws = websocket::Config::new(dns::tokio::Transport::system(tcp::tokio::Transport::new(tcp_config.clone()))?);
    let plain_tcp = dns::tokio::Transport::system(tcp::tokio::Transport::new(tcp_config))?;

    let mut mplex = libp2p_mplex::Config::new();
    mplex
        .set_max_num_streams(MPLEX_MAX_STREAMS)
        // One slow stream must not stall the whole connection: reset it instead.
        .set_max_buffer_behaviour(libp2p_mplex::MaxBufferBehaviour::ResetStream);

    Ok(ws
        .or_transport(plain_tcp)
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(SelectUpgrade::new(yamux::Config::default(), mplex))
        .timeout(UPGRADE_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}
