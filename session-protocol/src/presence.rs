//! Peer presence from traffic: a session's peer is online while messages keep
//! arriving, and offline after a silence longer than a bound. Heartbeats
//! (`wc_sessionPing`) are due whenever we have sent nothing for an interval.

use std::time::{Duration, Instant};

/// Whether the peer is heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Heard from within the offline bound.
    Online,
    /// Silent for longer than the offline bound.
    Offline,
}

/// Presence timers of one session.
#[derive(Debug, Clone)]
pub struct Presence {
    interval: Duration,
    offline_after: Duration,
    last_sent: Instant,
    last_heard: Instant,
    state: PeerState,
}

impl Presence {
    /// Starts online, as of `now`.
    pub fn new(interval: Duration, offline_after: Duration, now: Instant) -> Self {
        Presence { interval, offline_after, last_sent: now, last_heard: now, state: PeerState::Online }
    }

    /// The peer's current state.
    pub fn state(&self) -> PeerState {
        self.state
    }

    /// A valid message arrived; returns `Online` if the peer was offline.
    pub fn heard(&mut self, now: Instant) -> Option<PeerState> {
        self.last_heard = now;
        (self.state == PeerState::Offline).then(|| {
            self.state = PeerState::Online;
            PeerState::Online
        })
    }

    /// We sent something.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// Whether a heartbeat should be sent now.
    pub fn heartbeat_due(&self, now: Instant) -> bool {
        now >= self.last_sent + self.interval
    }

    /// Returns `Offline` when the silence bound has just been crossed.
    pub fn check(&mut self, now: Instant) -> Option<PeerState> {
        (self.state == PeerState::Online && now >= self.last_heard + self.offline_after).then(|| {
            self.state = PeerState::Offline;
            PeerState::Offline
        })
    }

    /// When a heartbeat or the offline check is next due.
    pub fn next_timeout(&self) -> Instant {
        let heartbeat = self.last_sent + self.interval;
        match self.state {
            PeerState::Online => heartbeat.min(self.last_heard + self.offline_after),
            PeerState::Offline => heartbeat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_makes_the_peer_offline_and_traffic_online_again() {
        let t0 = Instant::now();
        let mut p = Presence::new(Duration::from_secs(10), Duration::from_secs(30), t0);
        assert_eq!(p.next_timeout(), t0 + Duration::from_secs(10));
        assert!(p.heartbeat_due(t0 + Duration::from_secs(10)));
        p.sent(t0 + Duration::from_secs(10));
        assert_eq!(p.check(t0 + Duration::from_secs(29)), None);
        assert_eq!(p.check(t0 + Duration::from_secs(30)), Some(PeerState::Offline));
        assert_eq!(p.check(t0 + Duration::from_secs(31)), None, "reported once");
        assert_eq!(p.heard(t0 + Duration::from_secs(40)), Some(PeerState::Online));
        assert_eq!(p.heard(t0 + Duration::from_secs(41)), None);
        assert_eq!(p.state(), PeerState::Online);
    }
}
