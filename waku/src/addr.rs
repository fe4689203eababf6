//! Multiaddr helpers shared by configuration and the swarm.

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// The peer id in a `/p2p/…` suffix, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_p2p_suffix() {
        let peer = PeerId::random();
        let with: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}").parse().expect("addr");
        let without: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
        assert_eq!(peer_of(&with), Some(peer));
        assert_eq!(peer_of(&without), None);
    }
}
