//! The libp2p edge of the node: transport, behaviours, and the task that owns
//! the swarm. Everything else talks to it through [`NetworkHandle`].

pub mod behaviour;
pub mod codec;
pub mod discovery;
pub mod handle;
pub mod inbound;
pub mod metadata;
pub mod network;
pub mod outbound;
pub mod redial;
pub mod relay;
pub mod transport;

pub use handle::{NetworkHandle, NoPeers, NodeInfo, PeerInfo, PublishError, PublishOutcome};
pub use network::{NetworkError, spawn};
