//! Reconnect policy as a pure calculator: exponential backoff with full jitter,
//! capped. The network driver asks it how long to wait before attempt `n`.

use std::time::Duration;

use rand_core::RngCore;

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Upper bound of the first wait.
    pub initial: Duration,
    /// Largest wait ever returned.
    pub max: Duration,
    /// Growth factor per attempt.
    pub factor: u32,
}

impl Default for Backoff {
    /// 500 ms doubling up to 30 s (the cap WalletConnect clients use).
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(30), factor: 2 }
    }
}

impl Backoff {
    /// The ceiling for attempt `attempt` (0-based): `min(max, initial * factor^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let growth = self.factor.max(1).checked_pow(attempt).unwrap_or(u32::MAX);
        self.initial.checked_mul(growth).map_or(self.max, |d| d.min(self.max))
    }

    /// The wait before attempt `attempt`: uniform in `[ceiling/2, ceiling]` ("equal
    /// jitter"), so retries spread out but never collapse to zero.
    pub fn delay<R: RngCore + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if span == 0 { 0 } else { rng.next_u64() % (span + 1) };
        half + Duration::from_nanos(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn grows_then_caps() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(500));
        assert_eq!(b.ceiling(3), Duration::from_secs(4));
        assert_eq!(b.ceiling(10), Duration::from_secs(30));
        assert_eq!(b.ceiling(200), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let b = Backoff::default();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let delays: Vec<_> = (0..50).map(|_| b.delay(4, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(8)));
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
    }
}
