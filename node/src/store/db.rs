//! The message database: inserts with deduplication, the index layout, query
//! execution with cursor paging, and eviction — written once over any
//! [`KeyValueStore`]. Inserts and evictions come from one writer; queries may
//! run concurrently.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;
use super::keys::Prefix;
use super::kv::{Column, KeyValueStore, WriteOp};
use super::message::StoredMessage;
use super::query::{Page, Query, QueryError};
use crate::waku::hash::MessageHash;

const COUNT_KEY: &[u8] = b"count";
/// Index entries read at a time by a query that filters while it scans.
const SCAN_BATCH: usize = 256;
/// Most messages a query for content topics without a pubsub topic examines.
pub const MAX_SCANNED: usize = 10_000;
const BYTES_KEY: &[u8] = b"bytes";

/// The message database over a key-value store.
#[derive(Debug)]
pub struct MessageDb<K> {
    kv: K,
    count: AtomicU64,
    bytes: AtomicU64,
}

/// Size of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Stored messages.
    pub count: u64,
    /// Bytes of stored message values.
    pub bytes: u64,
}

fn column_of(prefix: &Prefix) -> Column {
    match prefix {
        Prefix::All => Column::ByTime,
        Prefix::Pubsub(_) => Column::ByPubsub,
        Prefix::Content(..) => Column::ByContent,
    }
}

fn index_keys(m: &StoredMessage) -> [(Column, Vec<u8>); 3] {
    [
        (Column::ByTime, Prefix::All.key(m.time, &m.hash)),
        (Column::ByPubsub, Prefix::Pubsub(m.pubsub_topic.clone()).key(m.time, &m.hash)),
        (
            Column::ByContent,
            Prefix::Content(m.pubsub_topic.clone(), m.message.content_topic.clone()).key(m.time, &m.hash),
        ),
    ]
}

impl<K: KeyValueStore> MessageDb<K> {
    /// Opens the database, reading its counters.
    pub fn open(kv: K) -> Result<Self, StoreError> {
        let read = |key| -> Result<u64, StoreError> {
            Ok(kv.get(Column::Meta, key)?.and_then(|v| v.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0))
        };
        let (count, bytes) = (read(COUNT_KEY)?, read(BYTES_KEY)?);
        Ok(MessageDb { kv, count: AtomicU64::new(count), bytes: AtomicU64::new(bytes) })
    }

    /// Current size.
    pub fn stats(&self) -> Stats {
        Stats { count: self.count.load(Ordering::Relaxed), bytes: self.bytes.load(Ordering::Relaxed) }
    }

    /// Makes all writes durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.kv.sync()
    }

    fn counter_ops(count: u64, bytes: u64) -> [WriteOp; 2] {
        [
            WriteOp::Put(Column::Meta, COUNT_KEY.to_vec(), count.to_be_bytes().to_vec()),
            WriteOp::Put(Column::Meta, BYTES_KEY.to_vec(), bytes.to_be_bytes().to_vec()),
        ]
    }

    /// Stores the messages not stored yet, in one atomic batch. Returns how many were new.
    /// Only one thread may insert or evict at a time.
    pub fn insert(&self, messages: &[StoredMessage], sync: bool) -> Result<usize, StoreError> {
        let mut ops = Vec::new();
        let mut seen = HashSet::new();
        let mut new = 0;
        let (mut count, mut bytes) = (self.count.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed));
        let keys: Vec<&[u8]> = messages.iter().map(|m| m.hash.as_slice()).collect();
        let stored = self.kv.multi_get(Column::Messages, &keys)?;
        for (m, existing) in messages.iter().zip(stored) {
            if existing.is_some() || !seen.insert(m.hash) {
                continue;
            }
            let value = m.encode();
            new += 1;
            count += 1;
            bytes += value.len() as u64;
            ops.push(WriteOp::Put(Column::Messages, m.hash.to_vec(), value));
            ops.extend(index_keys(m).into_iter().map(|(c, k)| WriteOp::Put(c, k, Vec::new())));
        }
        if ops.is_empty() {
            return Ok(0);
        }
        ops.extend(Self::counter_ops(count, bytes));
        self.kv.write(ops, sync)?;
        self.count.store(count, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        Ok(new)
    }

    /// Reads one message.
    pub fn get(&self, hash: &MessageHash) -> Result<Option<StoredMessage>, StoreError> {
        self.kv.get(Column::Messages, hash)?.map(|v| StoredMessage::decode(&v)).transpose()
    }

    /// The ordering time of the newest stored message.
    pub fn newest_time(&self) -> Result<Option<i64>, StoreError> {
        let (lower, upper) = Prefix::All.time_range(i64::MIN, i64::MAX);
        let newest = self.kv.range(Column::ByTime, &lower, &upper, false, 1)?;
        Ok(newest.first().and_then(|(k, _)| Prefix::All.split(k)).map(|(ts, _)| ts))
    }

    /// Runs a query.
    pub fn query(&self, q: &Query) -> Result<Page, QueryError> {
        if !q.hashes.is_empty() {
            return self.query_hashes(q);
        }
        let prefixes: Vec<Prefix> = match (&q.pubsub_topic, q.content_topics.as_slice()) {
            (Some(p), []) => vec![Prefix::Pubsub(p.clone())],
            (Some(p), contents) => contents.iter().map(|c| Prefix::Content(p.clone(), c.clone())).collect(),
            (None, []) => vec![Prefix::All],
            (None, _) => return self.query_content_anywhere(q),
        };
        let cursor = self.cursor(q)?;
        let mut hits: Vec<(i64, MessageHash)> = Vec::new();
        for prefix in &prefixes {
            let (mut lower, mut upper) =
                prefix.time_range(q.time_start.unwrap_or(i64::MIN), q.time_end.unwrap_or(i64::MAX));
            if let Some((ts, hash)) = cursor {
                let at = prefix.key(ts, &hash);
                if q.forward {
                    let mut after = at;
                    after.push(0);
                    lower = lower.max(after);
                } else {
                    upper = upper.min(at);
                }
            }
            if lower >= upper {
                continue;
            }
            let entries = self.kv.range(column_of(prefix), &lower, &upper, q.forward, q.limit + 1)?;
            hits.extend(entries.iter().filter_map(|(k, _)| prefix.split(k)));
        }
        self.page(hits, q)
    }

    /// Where a cursor message sits: its time and hash.
    fn cursor(&self, q: &Query) -> Result<Option<(i64, MessageHash)>, QueryError> {
        match q.cursor {
            Some(hash) => Ok(Some((self.get(&hash)?.ok_or(QueryError::UnknownCursor)?.time, hash))),
            None => Ok(None),
        }
    }

    /// Content topics without a pubsub topic (nwaku answers them on every pubsub
    /// topic): walks the time index in the query direction and keeps the messages
    /// of those content topics, examining at most [`MAX_SCANNED`] messages.
    fn query_content_anywhere(&self, q: &Query) -> Result<Page, QueryError> {
        let (mut lower, mut upper) =
            Prefix::All.time_range(q.time_start.unwrap_or(i64::MIN), q.time_end.unwrap_or(i64::MAX));
        if let Some((ts, hash)) = self.cursor(q)? {
            let at = Prefix::All.key(ts, &hash);
            if q.forward {
                let mut after = at;
                after.push(0);
                lower = lower.max(after);
            } else {
                upper = upper.min(at);
            }
        }
        let wanted: HashSet<&str> = q.content_topics.iter().map(String::as_str).collect();
        let mut hits = Vec::new();
        let mut scanned = 0;
        while lower < upper && hits.len() <= q.limit && scanned < MAX_SCANNED {
            let entries = self.kv.range(Column::ByTime, &lower, &upper, q.forward, SCAN_BATCH)?;
            let Some((last, _)) = entries.last() else { break };
            let last = last.clone();
            scanned += entries.len();
            let found: Vec<(i64, MessageHash)> = entries.iter().filter_map(|(k, _)| Prefix::All.split(k)).collect();
            let keys: Vec<&[u8]> = found.iter().map(|(_, h)| h.as_slice()).collect();
            for (hit, value) in found.iter().zip(self.kv.multi_get(Column::Messages, &keys)?) {
                if let Some(value) = value
                    && wanted.contains(StoredMessage::decode(&value)?.message.content_topic.as_str())
                {
                    hits.push(*hit);
                }
            }
            if entries.len() < SCAN_BATCH {
                break;
            }
            if q.forward {
                lower = last;
                lower.push(0);
            } else {
                upper = last;
            }
        }
        self.page(hits, q)
    }

    fn query_hashes(&self, q: &Query) -> Result<Page, QueryError> {
        let mut found = Vec::new();
        for hash in &q.hashes {
            if let Some(m) = self.get(hash)?
                && q.pubsub_topic.as_ref().is_none_or(|p| *p == m.pubsub_topic)
            {
                found.push((m.time, m.hash));
            }
        }
        if let Some(c) = self.cursor(q)? {
            found.retain(|hit| if q.forward { *hit > c } else { *hit < c });
        }
        self.page(found, q)
    }

    /// Orders hits in the query direction, cuts a page, and loads the messages.
    fn page(&self, mut hits: Vec<(i64, MessageHash)>, q: &Query) -> Result<Page, QueryError> {
        hits.sort_unstable();
        hits.dedup();
        if !q.forward {
            hits.reverse();
        }
        let more = hits.len() > q.limit;
        hits.truncate(q.limit);
        if !q.forward {
            hits.reverse();
        }
        let keys: Vec<&[u8]> = hits.iter().map(|(_, h)| h.as_slice()).collect();
        // A message evicted between the index scan and this read is skipped.
        let messages = self
            .kv
            .multi_get(Column::Messages, &keys)?
            .into_iter()
            .flatten()
            .map(|v| StoredMessage::decode(&v))
            .collect::<Result<Vec<_>, _>>()?;
        let cursor = if !more {
            None
        } else if q.forward {
            messages.last().map(|m| m.hash)
        } else {
            messages.first().map(|m| m.hash)
        };
        Ok(Page { messages, cursor })
    }

    /// Deletes up to `max` of the oldest messages, all of them older than
    /// `before` if given. Returns how many were deleted. Single writer only.
    pub fn evict_oldest(&self, max: usize, before: Option<i64>) -> Result<usize, StoreError> {
        let (lower, upper) = match before {
            Some(ts) => Prefix::All.time_range(i64::MIN, ts.saturating_sub(1)),
            None => Prefix::All.time_range(i64::MIN, i64::MAX),
        };
        let oldest = self.kv.range(Column::ByTime, &lower, &upper, true, max)?;
        if oldest.is_empty() {
            return Ok(0);
        }
        let (mut count, mut bytes) = (self.count.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed));
        let mut ops = Vec::new();
        let mut deleted = 0;
        for (key, _) in &oldest {
            let Some((_, hash)) = Prefix::All.split(key) else { continue };
            match self.kv.get(Column::Messages, &hash)? {
                Some(value) => {
                    let m = StoredMessage::decode(&value)?;
                    ops.push(WriteOp::Delete(Column::Messages, hash.to_vec()));
                    ops.extend(index_keys(&m).into_iter().map(|(c, k)| WriteOp::Delete(c, k)));
                    count = count.saturating_sub(1);
                    bytes = bytes.saturating_sub(value.len() as u64);
                    deleted += 1;
                }
                // An index entry without its message: drop the dangling entry.
                None => ops.push(WriteOp::Delete(Column::ByTime, key.clone())),
            }
        }
        ops.extend(Self::counter_ops(count, bytes));
        self.kv.write(ops, false)?;
        self.count.store(count, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        Ok(deleted)
    }
}
