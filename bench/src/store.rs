//! Store ingest and query through Heliograph's store (RocksDB, indexes,
//! writer thread) beside a plain RocksDB loop of the same data: the raw
//! cost of the storage engine, measured in the same run.

use std::time::{Duration, Instant};

use heliograph_node::config::StoreConfig;
use heliograph_node::metrics::NodeMetrics;
use heliograph_node::store::query::Query;
use heliograph_node::store::rocks::RocksKv;
use heliograph_node::store::{Store, StoredMessage};
use heliograph_proto::WakuMessage;
use heliograph_proto::store::StoreQueryRequest;
use tokio_util::sync::CancellationToken;

const PUBSUB: &str = "/waku/2/rs/1/0";
const CONTENT_TOPICS: usize = 16;

/// What one store run measured.
pub struct StoreResult {
    /// Messages written.
    pub messages: usize,
    /// Heliograph ingest time.
    pub ingest: Duration,
    /// Plain RocksDB put loop time for the same messages.
    pub raw_ingest: Duration,
    /// Latencies of Heliograph store queries (20-message pages by content topic and time).
    pub queries: Vec<Duration>,
    /// Latencies of Heliograph hash lookups.
    pub hash_lookups: Vec<Duration>,
    /// Latencies of plain RocksDB point reads.
    pub raw_reads: Vec<Duration>,
}

fn message(i: usize, payload: usize) -> StoredMessage {
    let mut bytes = (i as u64).to_be_bytes().to_vec();
    bytes.resize(payload, 0x42);
    let m = WakuMessage {
        payload: bytes,
        content_topic: format!("/bench/1/topic-{}/proto", i % CONTENT_TOPICS),
        timestamp: Some(1_700_000_000_000_000_000 + i as i64 * 1_000),
        ..Default::default()
    };
    StoredMessage::new(PUBSUB.into(), m, 0)
}

/// Cheap deterministic pseudo-random numbers (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

/// Runs the store benchmark with `n` messages of `payload` bytes and `queries` queries.
pub async fn run(n: usize, payload: usize, queries: usize) -> anyhow::Result<StoreResult> {
    let dir = tempfile::tempdir()?;
    let store = Store::with_kv(
        Box::new(RocksKv::open(&dir.path().join("heliograph"))?),
        &StoreConfig::default(),
        NodeMetrics::default(),
        CancellationToken::new(),
    )?;

    // Ingest as the relay does: one message at a time into the writer queue.
    let start = Instant::now();
    for i in 0..n {
        store.ingest(vec![message(i, payload)]).await?;
    }
    store.put(vec![message(0, payload)]).await?; // waits until the queue is written
    let ingest = start.elapsed();
    anyhow::ensure!(store.stats().count == n as u64, "stored {} of {n}", store.stats().count);

    // The baseline: the same key/value pairs through a plain RocksDB put loop.
    let raw = rocksdb::DB::open_default(dir.path().join("raw"))?;
    let start = Instant::now();
    for i in 0..n {
        let m = message(i, payload);
        raw.put(m.hash, m.encode())?;
    }
    let raw_ingest = start.elapsed();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut query_times = Vec::with_capacity(queries);
    let mut hash_times = Vec::with_capacity(queries);
    let mut raw_times = Vec::with_capacity(queries);
    for _ in 0..queries {
        let at = rng.next(n);
        let req = StoreQueryRequest {
            request_id: String::new(),
            include_data: true,
            pubsub_topic: Some(PUBSUB.into()),
            content_topics: vec![format!("/bench/1/topic-{}/proto", at % CONTENT_TOPICS)],
            time_start: Some(1_700_000_000_000_000_000 + at as i64 * 1_000),
            pagination_forward: true,
            pagination_limit: Some(20),
            ..Default::default()
        };
        let query = Query::from_request(req, 100)?;
        let t = Instant::now();
        let page = store.query(query).await?;
        query_times.push(t.elapsed());
        anyhow::ensure!(!page.messages.is_empty() || at + CONTENT_TOPICS >= n, "empty page mid-range");

        let hash = message(rng.next(n), payload).hash;
        let req = StoreQueryRequest {
            request_id: String::new(),
            include_data: true,
            message_hashes: vec![hash.to_vec()],
            pagination_forward: true,
            ..Default::default()
        };
        let query = Query::from_request(req, 100)?;
        let t = Instant::now();
        let page = store.query(query).await?;
        hash_times.push(t.elapsed());
        anyhow::ensure!(page.messages.len() == 1, "hash lookup missed");

        let t = Instant::now();
        let value = raw.get(hash)?;
        raw_times.push(t.elapsed());
        anyhow::ensure!(value.is_some(), "raw read missed");
    }
    store.close().await;
    drop(raw);
    Ok(StoreResult {
        messages: n,
        ingest,
        raw_ingest,
        queries: query_times,
        hash_lookups: hash_times,
        raw_reads: raw_times,
    })
}
