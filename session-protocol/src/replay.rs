//! Replay protection for incoming requests: a bounded sliding window of seen
//! request ids per topic, plus an age check on the time encoded in each id.
//!
//! Ids below the window's floor (the largest id ever evicted) are refused, so the
//! bound on memory never reopens a door for old messages.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::rpc::id_time_ms;

/// Why an incoming request id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The id was already accepted on this topic.
    #[error("message id {0} was already received: replay refused")]
    Replayed(u64),
    /// The id is older than the window remembers.
    #[error("message id {0} is below the replay window: refused as a possible replay")]
    BelowWindow(u64),
    /// The id's timestamp is older than the maximum message age.
    #[error("message id {id} was created at {created_ms} ms, older than the accepted age")]
    TooOld {
        /// The id.
        id: u64,
        /// Creation time encoded in it (unix ms).
        created_ms: u64,
    },
    /// The id's timestamp is further in the future than the allowed clock skew.
    #[error("message id {id} claims creation at {created_ms} ms, in the future")]
    FromFuture {
        /// The id.
        id: u64,
        /// Creation time encoded in it (unix ms).
        created_ms: u64,
    },
}

/// A bounded seen-set of request ids for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWindow {
    seen: BTreeSet<u64>,
    floor: u64,
    capacity: usize,
}

impl ReplayWindow {
    /// An empty window remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        ReplayWindow { seen: BTreeSet::new(), floor: 0, capacity: capacity.max(1) }
    }

    /// Checks `id` against the window and the age bounds and records it if fresh.
    pub fn accept(&mut self, id: u64, now_ms: u64, max_age_ms: u64, max_skew_ms: u64) -> Result<(), ReplayError> {
        let created_ms = id_time_ms(id);
        if created_ms.saturating_add(max_age_ms) < now_ms {
            return Err(ReplayError::TooOld { id, created_ms });
        }
        if created_ms > now_ms.saturating_add(max_skew_ms) {
            return Err(ReplayError::FromFuture { id, created_ms });
        }
        if id <= self.floor {
            return Err(ReplayError::BelowWindow(id));
        }
        if !self.seen.insert(id) {
            return Err(ReplayError::Replayed(id));
        }
        while self.seen.len() > self.capacity {
            if let Some(oldest) = self.seen.pop_first() {
                self.floor = self.floor.max(oldest);
            }
        }
        Ok(())
    }

    /// Ids currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;
    const AGE: u64 = 300_000;

    #[test]
    fn duplicates_are_refused() {
        let mut w = ReplayWindow::new(8);
        let id = NOW * 1000 + 1;
        assert_eq!(w.accept(id, NOW, AGE, 1000), Ok(()));
        assert_eq!(w.accept(id, NOW, AGE, 1000), Err(ReplayError::Replayed(id)));
    }

    #[test]
    fn eviction_raises_the_floor() {
        let mut w = ReplayWindow::new(2);
        let ids: Vec<u64> = (1..=3).map(|i| NOW * 1000 + i).collect();
        for &id in &ids {
            w.accept(id, NOW, AGE, 1000).unwrap();
        }
        assert_eq!(w.len(), 2);
        assert_eq!(w.accept(ids[0], NOW, AGE, 1000), Err(ReplayError::BelowWindow(ids[0])));
        assert_eq!(w.accept(ids[1], NOW, AGE, 1000), Err(ReplayError::Replayed(ids[1])));
    }

    #[test]
    fn age_and_future_bounds() {
        let mut w = ReplayWindow::new(8);
        let old = (NOW - AGE - 1) * 1000;
        assert!(matches!(w.accept(old, NOW, AGE, 1000), Err(ReplayError::TooOld { .. })));
        let future = (NOW + 5000) * 1000;
        assert!(matches!(w.accept(future, NOW, AGE, 1000), Err(ReplayError::FromFuture { .. })));
        assert!(w.is_empty());
    }
}
