//! When to (re)dial bootstrap peers, and peers dialed on request (REST
//! `/admin/v1/peers`, service nodes), as nwaku's peer store reconnects its
//! peers: exponential backoff with jitter, reset once a connection is up. Pure
//! state fed with time; the swarm task asks it which addresses are due.

use std::time::{Duration, Instant};

use heliograph_waku::addr::peer_of;
use libp2p::{Multiaddr, PeerId};

/// First wait after a failed or dropped connection.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Most peers dialed on request that are kept connected besides the bootstrap peers.
pub const MAX_KEPT: usize = 64;

#[derive(Debug, Clone)]
enum State {
    /// Waiting until `at` before dialing again.
    Waiting { at: Instant, backoff: Duration },
    /// A dial is in flight.
    Dialing { backoff: Duration },
    /// Connected; nothing to do until the connection drops.
    Connected,
    /// The peer belongs to another cluster: never dialed again.
    Excluded,
}

#[derive(Debug, Clone)]
struct Target {
    addr: Multiaddr,
    peer: Option<PeerId>,
    state: State,
}

/// Dial schedule of the configured bootstrap peers.
#[derive(Debug)]
pub struct Redialer {
    targets: Vec<Target>,
    /// How many of `targets` were added by [`Redialer::keep`].
    kept: usize,
    max_backoff: Duration,
}

impl Redialer {
    /// Schedules every address for an immediate first dial.
    pub fn new(addrs: impl IntoIterator<Item = Multiaddr>, max_backoff: Duration, now: Instant) -> Self {
        let targets = addrs
            .into_iter()
            .map(|addr| Target {
                peer: peer_of(&addr),
                addr,
                state: State::Waiting { at: now, backoff: INITIAL_BACKOFF },
            })
            .collect();
        Redialer { targets, kept: 0, max_backoff }
    }

    /// Keeps `peer`, just connected over `addr` on request, connected from now
    /// on: redialed when the connection drops. False if it is already a target
    /// or [`MAX_KEPT`] peers are kept.
    pub fn keep(&mut self, peer: PeerId, addr: &Multiaddr) -> bool {
        let known = self.targets.iter().any(|t| t.peer == Some(peer) || strip_p2p(&t.addr) == strip_p2p(addr));
        if known || self.kept >= MAX_KEPT {
            return false;
        }
        let addr = strip_p2p(addr).with(libp2p::multiaddr::Protocol::P2p(peer));
        self.targets.push(Target { addr, peer: Some(peer), state: State::Connected });
        self.kept += 1;
        true
    }

    /// Addresses to dial now; each is marked as dialing.
    #[must_use]
    pub fn due(&mut self, now: Instant) -> Vec<Multiaddr> {
        let mut out = Vec::new();
        for target in &mut self.targets {
            if let State::Waiting { at, backoff } = target.state
                && at <= now
            {
                target.state = State::Dialing { backoff };
                out.push(target.addr.clone());
            }
        }
        out
    }

    /// A connection to `peer` over `addr` (as dialed) is established.
    pub fn connected(&mut self, peer: PeerId, addr: Option<&Multiaddr>) {
        for target in &mut self.targets {
            if matches!(target.state, State::Excluded) {
                continue;
            }
            let same_addr = addr.is_some_and(|a| strip_p2p(a) == strip_p2p(&target.addr));
            if target.peer == Some(peer) || same_addr {
                target.peer = Some(peer);
                target.state = State::Connected;
            }
        }
    }

    /// The last connection to `peer` closed: redial after the initial backoff.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        for target in &mut self.targets {
            if target.peer == Some(peer) && matches!(target.state, State::Connected) {
                target.state = State::Waiting { at: now + INITIAL_BACKOFF, backoff: INITIAL_BACKOFF };
            }
        }
    }

    /// A dial to `addr` failed: wait twice as long (with ±25 % jitter) before the next.
    pub fn dial_failed(&mut self, addr: &Multiaddr, now: Instant, jitter: f64) {
        let max = self.max_backoff;
        for target in &mut self.targets {
            if strip_p2p(&target.addr) != strip_p2p(addr) {
                continue;
            }
            if let State::Dialing { backoff } = target.state {
                let wait = backoff.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0));
                target.state = State::Waiting { at: now + wait, backoff: (backoff * 2).min(max) };
            }
        }
    }

    /// `peer` is of another cluster: stop dialing it.
    pub fn exclude(&mut self, peer: PeerId) {
        for target in &mut self.targets {
            if target.peer == Some(peer) {
                target.state = State::Excluded;
            }
        }
    }

    /// The earliest time a dial becomes due, if any is waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.targets
            .iter()
            .filter_map(|t| match t.state {
                State::Waiting { at, .. } => Some(at),
                _ => None,
            })
            .min()
    }
}

fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> Multiaddr {
        "/ip4/127.0.0.1/tcp/4001".parse().expect("addr")
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_on_connect() {
        let t0 = Instant::now();
        let mut r = Redialer::new([addr()], Duration::from_secs(2), t0);
        assert_eq!(r.due(t0), [addr()]);
        assert!(r.due(t0).is_empty(), "a dial in flight is not repeated");

        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            r.dial_failed(&addr(), now, 0.5);
            let next = r.next_deadline().expect("scheduled");
            waits.push(next - now);
            assert!(r.due(next - Duration::from_millis(1)).is_empty());
            now = next;
            assert_eq!(r.due(now).len(), 1);
        }
        assert_eq!(waits, [500, 1000, 2000, 2000, 2000].map(Duration::from_millis), "doubling, capped at max_backoff");

        let peer = PeerId::random();
        r.connected(peer, Some(&addr()));
        assert_eq!(r.next_deadline(), None);
        r.disconnected(peer, now);
        assert_eq!(r.next_deadline(), Some(now + INITIAL_BACKOFF));
        r.exclude(peer);
        assert_eq!(r.next_deadline(), None);
        assert!(r.due(now + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn peers_dialed_on_request_are_kept_and_redialed() {
        let t0 = Instant::now();
        let mut r = Redialer::new([addr()], Duration::from_secs(2), t0);
        let _ = r.due(t0);
        let boot = PeerId::random();
        r.connected(boot, Some(&addr()));
        assert!(!r.keep(boot, &addr()), "a bootstrap peer is already a target");
        let (peer, other): (Multiaddr, _) = ("/ip4/127.0.0.1/tcp/4002".parse().expect("addr"), PeerId::random());
        assert!(r.keep(other, &peer));
        assert!(!r.keep(other, &peer), "kept once");
        assert_eq!(r.next_deadline(), None, "connected: nothing to do");
        r.disconnected(other, t0);
        let due = r.due(t0 + INITIAL_BACKOFF);
        assert_eq!(due, [peer.with(libp2p::multiaddr::Protocol::P2p(other))], "redialed with its peer id");
        for i in 0..MAX_KEPT {
            let a: Multiaddr = format!("/ip4/10.0.0.1/tcp/{}", 5000 + i).parse().expect("addr");
            let kept = r.keep(PeerId::random(), &a);
            assert_eq!(kept, i + 1 < MAX_KEPT, "bounded at {MAX_KEPT}");
        }
    }

    #[test]
    fn jitter_spreads_the_wait() {
        let t0 = Instant::now();
        let mut low = Redialer::new([addr()], Duration::from_secs(60), t0);
        let mut high = Redialer::new([addr()], Duration::from_secs(60), t0);
        let _ = (low.due(t0), high.due(t0));
        low.dial_failed(&addr(), t0, 0.0);
        high.dial_failed(&addr(), t0, 1.0);
        assert_eq!(low.next_deadline(), Some(t0 + Duration::from_millis(375)));
        assert_eq!(high.next_deadline(), Some(t0 + Duration::from_millis(625)));
    }
}
