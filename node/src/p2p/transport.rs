//! The libp2p transport: TCP and WebSocket (over TCP, with DNS resolution),
//! secured by Noise and multiplexed by yamux or mplex — each peer picks one.
//! js-waku speaks only mplex; rust-libp2p and nwaku peers prefer yamux.
//! [`upgrade`] puts the same security and muxers over any raw transport, so a
//! simulated network (bench/) runs the node's real connection stack.

use std::time::Duration;

use std::sync::Arc;

use futures::{AsyncRead, AsyncWrite};
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

/// An upgraded transport: authenticated, multiplexed connections.
pub type NodeTransport = Boxed<(PeerId, StreamMuxerBox)>;

/// Builds a node's transport from its key: [`build`], or a simulated network.
pub type TransportFactory = Arc<dyn Fn(&Keypair) -> Result<NodeTransport, BuildError> + Send + Sync>;

/// Builds the node transport for `key`.
pub fn build(key: &Keypair) -> Result<NodeTransport, BuildError> {
    let tcp_config = tcp::Config::default().nodelay(true);
    let ws = websocket::Config::new(dns::tokio::Transport::system(tcp::tokio::Transport::new(tcp_config.clone()))?);
    let plain_tcp = dns::tokio::Transport::system(tcp::tokio::Transport::new(tcp_config))?;
    upgrade(ws.or_transport(plain_tcp), key)
}

/// Secures `raw` connections with Noise under `key` and multiplexes them with
/// yamux or mplex, with the node's limits and handshake timeout.
pub fn upgrade<T>(raw: T, key: &Keypair) -> Result<NodeTransport, BuildError>
where
    T: Transport + Send + Unpin + 'static,
    T::Output: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T::Error: Send + Sync + 'static,
    T::Dial: Send + 'static,
    T::ListenerUpgrade: Send + 'static,
{
    let mut mplex = libp2p_mplex::Config::new();
    mplex
        .set_max_num_streams(MPLEX_MAX_STREAMS)
        // One slow stream must not stall the whole connection: reset it instead.
        .set_max_buffer_behaviour(libp2p_mplex::MaxBufferBehaviour::ResetStream);

    Ok(raw
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(SelectUpgrade::new(yamux::Config::default(), mplex))
        .timeout(UPGRADE_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}
