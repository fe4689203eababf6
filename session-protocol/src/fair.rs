//! A set of bounded FIFO queues served round-robin, so one busy session cannot
//! starve the others of transmit slots or event delivery.

use std::collections::{BTreeMap, VecDeque};

/// A queue was at its bound; the item was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("queue is full ({0} items)")]
pub struct QueueFull(pub usize);

/// Per-key bounded FIFOs, popped in round-robin order over keys.
#[derive(Debug, Clone)]
pub struct FairQueue<K, T> {
    queues: BTreeMap<K, VecDeque<T>>,
    ring: VecDeque<K>,
    bound: usize,
}

impl<K: Ord + Clone, T> FairQueue<K, T> {
    /// Queues holding at most `bound` items per key.
    pub fn new(bound: usize) -> Self {
        FairQueue { queues: BTreeMap::new(), ring: VecDeque::new(), bound }
    }

    /// Appends to `key`'s queue; refuses when it is full.
    pub fn push(&mut self, key: K, item: T) -> Result<(), QueueFull> {
        let queue = self.queues.entry(key.clone()).or_default();
        if queue.len() >= self.bound {
            return Err(QueueFull(self.bound));
        }
        if queue.is_empty() {
            self.ring.push_back(key);
        }
        queue.push_back(item);
        Ok(())
    }

    /// Free slots in `key`'s queue.
    pub fn room(&self, key: &K) -> usize {
        self.bound - self.queues.get(key).map_or(0, VecDeque::len)
    }

    /// Takes the next item, rotating over keys.
    pub fn pop(&mut self) -> Option<(K, T)> {
        let key = self.ring.pop_front()?;
        let queue = self.queues.get_mut(&key)?;
        let item = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&key);
        } else {
            self.ring.push_back(key.clone());
        }
        Some((key, item))
    }

    /// Drops everything queued under `key`, returning it.
    pub fn remove_key(&mut self, key: &K) -> Vec<T> {
        self.ring.retain(|k| k != key);
        self.queues.remove(key).map(Vec::from).unwrap_or_default()
    }

    /// Keeps only the items of `key` for which `keep` is true.
    pub fn retain(&mut self, key: &K, keep: impl FnMut(&T) -> bool) {
        if let Some(queue) = self.queues.get_mut(key) {
            queue.retain(keep);
            if queue.is_empty() {
                self.remove_key(key);
            }
        }
    }

    /// Total queued items.
    pub fn len(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_over_keys_and_fifo_within() {
        let mut q = FairQueue::new(10);
        for i in 0..5 {
            q.push("flood", i).unwrap();
        }
        q.push("quiet", 100).unwrap();
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order[0], ("flood", 0));
        assert_eq!(order[1], ("quiet", 100), "the quiet key is served second, not after the flood");
        assert_eq!(order[2..].iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn bound_is_per_key() {
        let mut q = FairQueue::new(2);
        q.push(1, ()).unwrap();
        q.push(1, ()).unwrap();
        assert_eq!(q.push(1, ()), Err(QueueFull(2)));
        assert_eq!(q.room(&2), 2);
        q.push(2, ()).unwrap();
        assert_eq!(q.remove_key(&1).len(), 2);
        assert_eq!(q.len(), 1);
    }
}
