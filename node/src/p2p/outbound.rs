//! Keeping `network.target_outbound_peers` outbound connections: which peers
//! learned by peer exchange to dial when the node has fewer. Pure state fed
//! with time and the peer list; the peer-exchange task dials what it picks.
//! Without it a node knows only its bootstrap peers, and every node of a
//! deployment hangs off the few bootstrap nodes instead of forming a mesh.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use rand::Rng;
use rand::seq::SliceRandom;

/// How long a peer whose dial failed is not picked again.
pub const FAILED_BACKOFF: Duration = Duration::from_secs(60);

/// A peer that could be dialed, with its addresses (each ending in `/p2p/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The peer.
    pub peer: PeerId,
    /// Where to dial it, tried in order.
    pub addrs: Vec<Multiaddr>,
}

/// Picks peers to dial until the node has `target` outbound connections.
#[derive(Debug)]
pub struct OutboundTarget {
    target: usize,
    failed: HashMap<PeerId, Instant>,
}

impl OutboundTarget {
    /// Aims at `target` outbound connections; 0 never picks anyone.
    pub fn new(target: usize) -> Self {
        OutboundTarget { target, failed: HashMap::new() }
    }

    /// The peers to dial now: as many as outbound connections are missing, drawn at
    /// random among the candidates that are not connected (either way) and did not
    /// fail within [`FAILED_BACKOFF`]. `connected` lists each peer with whether we dialed it.
    pub fn pick(
        &mut self,
        now: Instant,
        connected: &[(PeerId, bool)],
        candidates: Vec<Candidate>,
        rng: &mut impl Rng,
    ) -> Vec<Candidate> {
        self.failed.retain(|_, at| now.saturating_duration_since(*at) < FAILED_BACKOFF);
        let outbound = connected.iter().filter(|(_, out)| *out).count();
        let missing = self.target.saturating_sub(outbound);
        if missing == 0 {
            return Vec::new();
        }
        let busy: HashSet<PeerId> = connected.iter().map(|(p, _)| *p).collect();
        let mut free: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| !c.addrs.is_empty() && !busy.contains(&c.peer) && !self.failed.contains_key(&c.peer))
            .collect();
        free.shuffle(rng);
        free.truncate(missing);
        free
    }

    /// Every address of `peer` failed: leave it alone for a while. The map holds
    /// only peers that were candidates, so it is bounded by the peer-exchange cache.
    pub fn dial_failed(&mut self, peer: PeerId, now: Instant) {
        self.failed.insert(peer, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn candidate() -> Candidate {
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/10.0.0.1/tcp/60000/p2p/{peer}").parse().expect("addr");
        Candidate { peer, addrs: vec![addr] }
    }

    #[test]
    fn picks_only_the_missing_outbound_peers_among_the_unconnected() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let now = Instant::now();
        let all: Vec<Candidate> = (0..10).map(|_| candidate()).collect();
        let mut target = OutboundTarget::new(4);
        // One outbound and one inbound peer, both also candidates.
        let connected = [(all[0].peer, true), (all[1].peer, false)];
        let picked = target.pick(now, &connected, all.clone(), &mut rng);
        assert_eq!(picked.len(), 3, "four wanted, one outbound up");
        assert!(picked.iter().all(|c| c.peer != all[0].peer && c.peer != all[1].peer), "connected peers are skipped");
        let full: Vec<(PeerId, bool)> = all[..4].iter().map(|c| (c.peer, true)).collect();
        assert!(target.pick(now, &full, all.clone(), &mut rng).is_empty(), "at the target nothing is dialed");
        assert!(OutboundTarget::new(0).pick(now, &[], all, &mut rng).is_empty(), "0 turns it off");
    }

    #[test]
    fn a_failed_peer_waits_out_the_backoff() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let now = Instant::now();
        let only = candidate();
        let mut target = OutboundTarget::new(2);
        target.dial_failed(only.peer, now);
        assert!(target.pick(now + Duration::from_secs(1), &[], vec![only.clone()], &mut rng).is_empty());
        let later = target.pick(now + FAILED_BACKOFF, &[], vec![only.clone()], &mut rng);
        assert_eq!(later, vec![only]);
    }
}
