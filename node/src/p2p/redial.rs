//! When to (re)dial bootstrap peers: exponential backoff with jitter, reset
//! once a connection is up. Pure state fed with time; the swarm task asks it
//! which addresses are due.

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// First wait after a failed or dropped connection.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);

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
        Redialer { targets, max_backoff }
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

/// The peer id in a `/p2p/…` suffix, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
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
