//! The message store: RocksDB behind a small key-value trait, one writer
//! thread that batches inserts (group commit), concurrent queries on the
//! blocking pool, retention in the background, and the store v3 protocol
//! logic. Ephemeral messages are never stored; duplicates are stored once.

pub mod db;
pub mod keys;
pub mod kv;
pub mod message;
pub mod query;
pub mod retention;
pub mod rocks;
pub mod server;
pub mod sync;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Durability, StoreConfig};
use crate::metrics::NodeMetrics;
use crate::waku::RelayMessage;
pub use crate::waku::hash::{MessageHash, message_hash};
use db::{MessageDb, Stats};
use kv::KeyValueStore;
pub use message::StoredMessage;
use query::{Page, Query, QueryError};

/// Write requests waiting for the writer thread.
const WRITE_QUEUE: usize = 4096;
/// Most write requests merged into one batch.
const MAX_BATCH: usize = 512;
/// How often group-commit mode makes the WAL durable.
const GROUP_COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error("cannot open the message store at {path}: {reason}")]
    Open {
        /// Where.
        path: PathBuf,
        /// What RocksDB said.
        reason: String,
    },
    /// A read or write failed (for example: the disk is full).
    #[error("message store I/O failed: {0}")]
    Io(String),
    /// Stored data does not decode.
    #[error("message store is corrupt: {0}")]
    Corrupt(String),
    /// The writer thread has stopped.
    #[error("the message store is shut down")]
    Closed,
}

impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        match e.kind() {
            rocksdb::ErrorKind::Corruption => StoreError::Corrupt(e.into_string()),
            _ => StoreError::Io(e.into_string()),
        }
    }
}

impl<T: KeyValueStore + ?Sized> KeyValueStore for Box<T> {
    fn get(&self, column: kv::Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(column, key)
    }
    fn multi_get(&self, column: kv::Column, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        (**self).multi_get(column, keys)
    }
    fn write(&self, ops: Vec<kv::WriteOp>, sync: bool) -> Result<(), StoreError> {
        (**self).write(ops, sync)
    }
    fn range(
        &self,
        column: kv::Column,
        lower: &[u8],
        upper: &[u8],
        forward: bool,
        limit: usize,
    ) -> Result<Vec<kv::Entry>, StoreError> {
        (**self).range(column, lower, upper, forward, limit)
    }
    fn sync(&self) -> Result<(), StoreError> {
        (**self).sync()
    }
}

type Db = MessageDb<Box<dyn KeyValueStore>>;

enum WriteRequest {
    Insert { messages: Vec<StoredMessage>, ack: Option<oneshot::Sender<Result<(), StoreError>>> },
    Evict { max: usize, before: Option<i64>, ack: oneshot::Sender<Result<usize, StoreError>> },
    Close { ack: oneshot::Sender<()> },
}

/// A cloneable handle to the store.
#[derive(Clone)]
pub struct Store {
    db: Arc<Db>,
    writes: mpsc::Sender<WriteRequest>,
    max_page_size: usize,
    metrics: NodeMetrics,
}

impl Store {
    /// Opens the RocksDB store and starts its writer thread and group commit.
    pub fn open(
        config: &StoreConfig,
        data_dir: &std::path::Path,
        metrics: NodeMetrics,
        shutdown: CancellationToken,
    ) -> Result<Store, StoreError> {
        let path = config.path.clone().unwrap_or_else(|| data_dir.join("store"));
        let kv = rocks::RocksKv::open(&path)?;
        info!(path = %path.display(), "message store opened");
        Self::with_kv(Box::new(kv), config, metrics, shutdown)
    }

    /// A store over any key-value backend (tests use [`kv::MemoryKv`]).
    pub fn with_kv(
        kv: Box<dyn KeyValueStore>,
        config: &StoreConfig,
        metrics: NodeMetrics,
        shutdown: CancellationToken,
    ) -> Result<Store, StoreError> {
        let db = Arc::new(MessageDb::open(kv)?);
        let (writes, requests) = mpsc::channel(WRITE_QUEUE);
        let strict = config.durability == Durability::Strict;
        let writer_db = db.clone();
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer(writer_db, requests, strict, writer_metrics))
            .map_err(|e| StoreError::Io(format!("cannot start the store writer: {e}")))?;
        if !strict {
            // A weak reference: the commit loop must not keep a closed store open.
            let db = Arc::downgrade(&db);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(GROUP_COMMIT_INTERVAL);
                loop {
                    let stop = tokio::select! {
                        () = shutdown.cancelled() => true,
                        _ = tick.tick() => false,
                    };
                    let Some(db) = db.upgrade() else { break };
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || db.sync()).await {
                        warn!(error = %e, "group commit failed");
                    }
                    if stop {
                        break;
                    }
                }
            });
        }
        let store = Store { db, writes, max_page_size: config.max_page_size, metrics };
        store.publish_stats();
        Ok(store)
    }

    /// The server's maximum page size.
    pub fn max_page_size(&self) -> usize {
        self.max_page_size
    }

    /// Current size.
    pub fn stats(&self) -> Stats {
        self.db.stats()
    }

    fn publish_stats(&self) {
        let stats = self.db.stats();
        self.metrics.store_messages.set(i64::try_from(stats.count).unwrap_or(i64::MAX));
        self.metrics.store_bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
    }

    /// Stores messages and waits until they are written (durably in strict
    /// mode); messages stored before count as written.
    pub async fn put(&self, messages: Vec<StoredMessage>) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.writes.send(WriteRequest::Insert { messages, ack: Some(ack) }).await.map_err(|_| StoreError::Closed)?;
        let result = done.await.map_err(|_| StoreError::Closed)?;
        self.publish_stats();
        result
    }

    /// Queues messages for storing without waiting for the write.
    pub async fn ingest(&self, messages: Vec<StoredMessage>) -> Result<(), StoreError> {
        self.writes.send(WriteRequest::Insert { messages, ack: None }).await.map_err(|_| StoreError::Closed)
    }

    /// Deletes up to `max` of the oldest messages (older than `before`, if given).
    pub async fn evict(&self, max: usize, before: Option<i64>) -> Result<usize, StoreError> {
        let (ack, done) = oneshot::channel();
        self.writes.send(WriteRequest::Evict { max, before, ack }).await.map_err(|_| StoreError::Closed)?;
        let result = done.await.map_err(|_| StoreError::Closed)?;
        self.publish_stats();
        result
    }

    /// Writes what is queued, makes it durable, and closes the database once
    /// every other handle is gone (waits for the writer thread to let go).
    pub async fn close(self) {
        let (ack, done) = oneshot::channel();
        let Store { db, writes, .. } = self;
        let weak = Arc::downgrade(&db);
        drop(db);
        if writes.send(WriteRequest::Close { ack }).await.is_ok() {
            let _ = done.await;
        }
        // The group-commit loop may hold the database for the length of one sync.
        for _ in 0..500 {
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs a query on the blocking pool.
    pub async fn query(&self, query: Query) -> Result<Page, QueryError> {
        let db = self.db.clone();
        self.metrics.store_queries.inc();
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || db.query(&query))
            .await
            .map_err(|e| QueryError::Store(StoreError::Io(format!("query task failed: {e}"))))?;
        self.metrics.store_query_seconds.observe(started.elapsed().as_secs_f64());
        result
    }

    /// The ordering time of the newest stored message.
    pub async fn newest_time(&self) -> Result<Option<i64>, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.newest_time())
            .await
            .map_err(|e| StoreError::Io(format!("task failed: {e}")))?
    }

    /// Stores every non-ephemeral message the node relays, until shutdown.
    pub fn spawn_ingest(
        &self,
        mut messages: tokio::sync::broadcast::Receiver<Arc<RelayMessage>>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = messages.recv() => r,
                };
                match received {
                    Ok(m) => {
                        let Some(stored) = StoredMessage::keep(&m, crate::waku::time::now_ns()) else { continue };
                        if store.ingest(vec![stored]).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "store fell behind the relay; gap filling will fetch the missed messages");
                        store
                            .metrics
                            .messages_dropped
                            .get_or_create(&crate::metrics::ReasonLabel { reason: "store_lagged".into() })
                            .inc_by(n);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }
}

/// The writer thread: merges queued inserts into one batch per round.
fn writer(db: Arc<Db>, mut requests: mpsc::Receiver<WriteRequest>, strict: bool, metrics: NodeMetrics) {
    let mut reported_failure = false;
    let mut closed = None;
    while let Some(first) = requests.blocking_recv() {
        let mut inserts = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                WriteRequest::Insert { messages, ack } => inserts.push((messages, ack)),
                WriteRequest::Evict { max, before, ack } => {
                    flush(&db, &mut inserts, strict, &metrics, &mut reported_failure);
                    let result = db.evict_oldest(max, before);
                    if let Ok(n) = &result {
                        metrics.store_evictions.inc_by(*n as u64);
                    }
                    let _ = ack.send(result);
                }
                WriteRequest::Close { ack } => closed = Some(ack),
            }
            if closed.is_none() && inserts.len() < MAX_BATCH {
                next = requests.try_recv().ok();
            }
        }
        flush(&db, &mut inserts, strict, &metrics, &mut reported_failure);
        let stats = db.stats();
        metrics.store_messages.set(i64::try_from(stats.count).unwrap_or(i64::MAX));
        metrics.store_bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        if closed.is_some() {
            break;
        }
    }
    if let Err(e) = db.sync() {
        warn!(error = %e, "final store sync failed");
    }
    drop(db);
    if let Some(ack) = closed {
        let _ = ack.send(());
    }
}

type PendingInsert = (Vec<StoredMessage>, Option<oneshot::Sender<Result<(), StoreError>>>);

fn flush(db: &Db, inserts: &mut Vec<PendingInsert>, strict: bool, metrics: &NodeMetrics, reported: &mut bool) {
    if inserts.is_empty() {
        return;
    }
    let all: Vec<StoredMessage> = inserts.iter().flat_map(|(m, _)| m.iter().cloned()).collect();
    match db.insert(&all, strict) {
        Ok(_) => {
            *reported = false;
            for (_, ack) in inserts.drain(..) {
                if let Some(ack) = ack {
                    let _ = ack.send(Ok(()));
                }
            }
        }
        Err(e) => {
            metrics.store_write_errors.inc();
            if !*reported {
                error!(error = %e, messages = all.len(), "cannot store messages; relaying goes on");
                *reported = true;
            }
            for (_, ack) in inserts.drain(..) {
                if let Some(ack) = ack {
                    let _ = ack.send(Err(e.clone()));
                }
            }
        }
    }
}
