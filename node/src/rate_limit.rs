//! Token-bucket rate limits keyed by client: a bucket of `per_minute` requests
//! (the burst) per key, refilled evenly over a minute. Used by the bridge (per
//! client and per IP) and the light-client protocols (per peer). Pure: time
//! comes in as `now`; the number of buckets is bounded.
//!
//! Bounds: at most [`MAX_BUCKETS`] keys. A new key arriving at a full map first
//! drops the buckets that have refilled (they hold no state a fresh bucket would
//! not), and is refused if none has: an attacker cycling keys gets refused, it
//! does not evict the buckets of clients being limited. That sweep walks the
//! whole map, so it runs at most once per [`SWEEP_INTERVAL`]: new keys between
//! sweeps are refused at the cost of one lookup, not a walk of 100,000 buckets. Keys a remote party can
//! choose are small by construction (a `PeerId`, an `IpAddr`, a WalletConnect
//! `did:key` of at most 73 bytes), so that map stays within about 15 MB; the
//! longer keys, token subjects of up to 4 KiB, are chosen by the operator who
//! signs or mints the tokens.
//!
//! Why not `governor`: its keyed limiter (GCRA over a `DashMap`) would replace
//! only the dozen lines of refill arithmetic below. It has no bound on the number
//! of keys (`retain_recent` is a sweep the caller schedules, so the cap above
//! would stay as it is), its quotas cannot be 0 (the "off" case would stay), and
//! it reads time from its own clock, so the light-client server, which gets
//! `now` from the swarm task, and the tests, which step `now` exactly, would
//! need a clock type parameter threaded through instead. For that it would add
//! `governor`, `dashmap`, a third `hashbrown`, `nonzero_ext` and `spinning_top`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most buckets kept; full (idle) ones are dropped first.
const MAX_BUCKETS: usize = 100_000;
/// Shortest time between two sweeps of a full map.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets of `per_minute` requests (burst of the same size), one per key.
pub struct RateLimiter<K> {
    per_minute: u32,
    state: Mutex<State<K>>,
}

struct State<K> {
    buckets: HashMap<K, Bucket>,
    last_sweep: Option<Instant>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter of `per_minute` requests per key; 0 never limits.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute, state: Mutex::new(State { buckets: HashMap::new(), last_sweep: None }) }
    }

    /// Takes one request for `key` at `now`; false if over the limit.
    pub fn check<Q>(&self, key: &Q, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.per_minute == 0 {
            return true;
        }
        let capacity = f64::from(self.per_minute);
        let state = &mut *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let buckets = &mut state.buckets;
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            if state.last_sweep.is_some_and(|last| now.saturating_duration_since(last) < SWEEP_INTERVAL) {
                return false;
            }
            state.last_sweep = Some(now);
            // Full buckets carry no state worth keeping.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * capacity / 60.0 < capacity);
            if buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let bucket = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets.entry(key.to_owned()).or_insert(Bucket { tokens: capacity, last: now }),
        };
        let refill = now.saturating_duration_since(bucket.last).as_secs_f64() * capacity / 60.0;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_over_time_and_keys_are_independent() {
        let limiter = RateLimiter::<String>::new(60);
        let start = Instant::now();
        assert!((0..60).all(|_| limiter.check("a", start)));
        assert!(!limiter.check("a", start), "61st request in the same instant");
        assert!(limiter.check("b", start), "another key has its own bucket");
        assert!(limiter.check("a", start + Duration::from_secs(1)), "one token per second comes back");
        assert!(RateLimiter::<String>::new(0).check("a", start));
    }

    #[test]
    fn a_full_map_refuses_new_keys_until_buckets_refill() {
        let limiter = RateLimiter::<u32>::new(60);
        let start = Instant::now();
        let max = u32::try_from(MAX_BUCKETS).expect("fits");
        assert!((0..max).all(|k| limiter.check(&k, start)));
        assert!(!limiter.check(&max, start), "no bucket has refilled: a new key is refused");
        assert!(limiter.check(&0, start), "known keys still get their own bucket");
        // Two seconds on, every bucket but key 0's has refilled, but the map was swept
        // at `start`: new keys wait for the next sweep instead of each walking the map.
        assert!(!limiter.check(&max, start + Duration::from_secs(2)), "swept less than SWEEP_INTERVAL ago");
        let later = start + SWEEP_INTERVAL;
        assert!(limiter.check(&max, later), "refilled buckets made room");
        let len = limiter.state.lock().expect("lock").buckets.len();
        assert!(len <= 2, "only the buckets still draining are kept: {len}");
    }
}
