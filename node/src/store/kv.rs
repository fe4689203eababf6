//! The small key-value interface the message store is written against:
//! columns, atomic batches and bounded range scans. RocksDB implements it for
//! real; [`MemoryKv`] implements it for protocol tests that need no disk.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

use super::StoreError;

/// The columns (RocksDB column families) of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// message hash → ordering time ‖ encoded message.
    Messages,
    /// pubsub topic ‖ time ‖ hash → ().
    ByPubsub,
    /// pubsub topic ‖ content topic ‖ time ‖ hash → ().
    ByContent,
    /// time ‖ hash → (): global order, for retention and unfiltered queries.
    ByTime,
    /// Counters (message count, bytes).
    Meta,
}

impl Column {
    /// Every column.
    pub const ALL: [Column; 5] = [Column::Messages, Column::ByPubsub, Column::ByContent, Column::ByTime, Column::Meta];

    /// The column family name.
    pub fn name(self) -> &'static str {
        match self {
            Column::Messages => "messages",
            Column::ByPubsub => "by_pubsub",
            Column::ByContent => "by_content",
            Column::ByTime => "by_time",
            Column::Meta => "meta",
        }
    }
}

/// A key and its value, as a range scan returns them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The in-memory store's contents: (column, key) → value.
type Columns = BTreeMap<(Column, Vec<u8>), Vec<u8>>;

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Insert or overwrite.
    Put(Column, Vec<u8>, Vec<u8>),
    /// Remove.
    Delete(Column, Vec<u8>),
}

/// A key-value store with columns, atomic batches and ordered range scans.
pub trait KeyValueStore: Send + Sync + 'static {
    /// Reads one value.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads many values of one column at once, in the order of `keys`.
    fn multi_get(&self, column: Column, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(column, k)).collect()
    }

    /// Applies `ops` atomically; with `sync`, durably (fsync) before returning.
    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), StoreError>;

    /// Up to `limit` entries with `lower <= key < upper`, ascending or descending.
    fn range(
        &self,
        column: Column,
        lower: &[u8],
        upper: &[u8],
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// Makes every write so far durable (group commit).
    fn sync(&self) -> Result<(), StoreError>;
}

/// An in-memory [`KeyValueStore`].
#[derive(Debug, Default)]
pub struct MemoryKv {
    columns: Mutex<Columns>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, Columns> {
        self.columns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KeyValueStore for MemoryKv {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(&(column, key.to_vec())).cloned())
    }

    fn write(&self, ops: Vec<WriteOp>, _sync: bool) -> Result<(), StoreError> {
        let mut map = self.lock();
        for op in ops {
            match op {
                WriteOp::Put(c, k, v) => {
                    map.insert((c, k), v);
                }
                WriteOp::Delete(c, k) => {
                    map.remove(&(c, k));
                }
            }
        }
        Ok(())
    }

    fn range(
        &self,
        column: Column,
        lower: &[u8],
        upper: &[u8],
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let map = self.lock();
        let range = map.range((Bound::Included((column, lower.to_vec())), Bound::Excluded((column, upper.to_vec()))));
        let entries = |it: &mut dyn Iterator<Item = (&(Column, Vec<u8>), &Vec<u8>)>| {
            it.take(limit).map(|((_, k), v)| (k.clone(), v.clone())).collect::<Vec<_>>()
        };
        Ok(if forward { entries(&mut range.into_iter()) } else { entries(&mut range.rev()) })
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
