//! Store query semantics over real RocksDB (and the in-memory backend used by
//! protocol tests): every filter combination, and paging forward and backward
//! over 10k messages returning each match exactly once, in order.

use std::collections::HashSet;

use heliograph_node::config::StoreConfig;
use heliograph_node::metrics::NodeMetrics;
use heliograph_node::store::kv::{KeyValueStore, MemoryKv};
use heliograph_node::store::query::{Page, Query};
use heliograph_node::store::rocks::RocksKv;
use heliograph_node::store::{MessageHash, Store, StoredMessage, retention};
use heliograph_proto::WakuMessage;
use heliograph_proto::store::StoreQueryRequest;
use tokio_util::sync::CancellationToken;

const PUBSUB: [&str; 2] = ["/waku/2/rs/1/0", "/waku/2/rs/1/1"];
const CONTENT: [&str; 3] = ["/app/1/a/proto", "/app/1/b/proto", "/app/1/c/proto"];
const N: i64 = 10_000;

/// Message `i`: topics cycle, timestamps 1000·i (some equal, to test hash tie-breaks).
fn message(i: i64) -> StoredMessage {
    let m = WakuMessage {
        payload: i.to_be_bytes().to_vec(),
        content_topic: CONTENT[(i % 3) as usize].into(),
        timestamp: Some(1_000 * (i / 2)),
        ..Default::default()
    };
    StoredMessage::new(PUBSUB[(i % 2) as usize].into(), m, 0)
}

async fn filled(kv: Box<dyn KeyValueStore>) -> (Store, Vec<StoredMessage>) {
    let store =
        Store::with_kv(kv, &StoreConfig::default(), NodeMetrics::default(), CancellationToken::new()).expect("store");
    let all: Vec<StoredMessage> = (0..N).map(message).collect();
    for chunk in all.chunks(500) {
        store.put(chunk.to_vec()).await.expect("put");
    }
    // Duplicates are stored once.
    store.put(all[..100].to_vec()).await.expect("put again");
    assert_eq!(store.stats().count, N as u64);
    (store, all)
}

fn request(forward: bool, limit: u64) -> StoreQueryRequest {
    StoreQueryRequest {
        request_id: "t".into(),
        include_data: true,
        pagination_forward: forward,
        pagination_limit: Some(limit),
        ..Default::default()
    }
}

/// Pages through `req` to the end; returns the hashes in the order pages were
/// read (pages themselves ascending), and checks each page's order.
async fn page_all(store: &Store, req: StoreQueryRequest) -> Vec<MessageHash> {
    let forward = req.pagination_forward;
    let mut cursor = None;
    let mut out: Vec<Vec<MessageHash>> = Vec::new();
    loop {
        let mut r = req.clone();
        r.pagination_cursor = cursor.map(|c: MessageHash| c.to_vec());
        let Page { messages, cursor: next } =
            store.query(Query::from_request(r, 100).expect("valid")).await.expect("query");
        assert!(messages.windows(2).all(|w| (w[0].time, w[0].hash) < (w[1].time, w[1].hash)), "page not ascending");
        assert!(messages.len() <= 100);
        out.push(messages.iter().map(|m| m.hash).collect());
        match next {
            Some(c) => {
                assert_eq!(Some(c), if forward { messages.last() } else { messages.first() }.map(|m| m.hash));
                cursor = Some(c);
            }
            None => break,
        }
    }
    if !forward {
        out.reverse();
    }
    out.concat()
}

fn expected(all: &[StoredMessage], keep: impl Fn(&StoredMessage) -> bool) -> Vec<MessageHash> {
    let mut hits: Vec<(i64, MessageHash)> = all.iter().filter(|m| keep(m)).map(|m| (m.time, m.hash)).collect();
    hits.sort_unstable();
    hits.into_iter().map(|(_, h)| h).collect()
}

async fn check_semantics(store: &Store, all: &[StoredMessage]) {
    for forward in [true, false] {
        // Everything, by 100s.
        let got = page_all(store, request(forward, 100)).await;
        assert_eq!(got.len() as i64, N);
        assert_eq!(got.iter().collect::<HashSet<_>>().len() as i64, N, "each message exactly once");
        assert_eq!(got, expected(all, |_| true), "global order, forward={forward}");

        // One pubsub topic, odd page size.
        let mut req = request(forward, 37);
        req.pubsub_topic = Some(PUBSUB[1].into());
        assert_eq!(page_all(store, req).await, expected(all, |m| m.pubsub_topic == PUBSUB[1]));

        // Pubsub + two content topics + a time range (both ends inclusive).
        let mut req = request(forward, 100);
        req.pubsub_topic = Some(PUBSUB[0].into());
        req.content_topics = vec![CONTENT[0].into(), CONTENT[2].into()];
        req.time_start = Some(1_000_000);
        req.time_end = Some(2_000_000);
        let want = expected(all, |m| {
            m.pubsub_topic == PUBSUB[0]
                && m.message.content_topic != CONTENT[1]
                && (1_000_000..=2_000_000).contains(&m.time)
        });
        assert!(!want.is_empty());
        assert_eq!(page_all(store, req).await, want);

        // Content topics without a pubsub topic: on every pubsub topic (as nwaku), paged.
        let mut req = request(forward, 29);
        req.content_topics = vec![CONTENT[1].into()];
        req.time_end = Some(3_000_000);
        let want = expected(all, |m| m.message.content_topic == CONTENT[1] && m.time <= 3_000_000);
        assert!(want.len() > 29 && (0..2).all(|i| all.iter().any(|m| m.pubsub_topic == PUBSUB[i])));
        assert_eq!(page_all(store, req).await, want);

        // Hashes, paged.
        let picked: Vec<MessageHash> = all.iter().step_by(150).map(|m| m.hash).collect();
        let mut req = request(forward, 10);
        req.message_hashes = picked.iter().map(|h| h.to_vec()).chain([vec![7u8; 32]]).collect();
        assert_eq!(page_all(store, req).await, expected(all, |m| picked.contains(&m.hash)));
    }

    // An empty range is a 200 with an empty page; so is a page past the end.
    let mut req = request(true, 20);
    req.time_start = Some(i64::MAX - 1);
    let page = store.query(Query::from_request(req, 100).expect("valid")).await.expect("query");
    assert!(page.messages.is_empty() && page.cursor.is_none());
    let last = expected(all, |_| true).pop().expect("some");
    let mut req = request(true, 20);
    req.pagination_cursor = Some(last.to_vec());
    assert!(store.query(Query::from_request(req, 100).expect("valid")).await.expect("query").messages.is_empty());

    // include_data=false still names every hash; an unknown cursor is a clear error.
    let mut req = request(true, 5);
    req.include_data = false;
    let page = store.query(Query::from_request(req, 100).expect("valid")).await.expect("query");
    assert_eq!(page.messages.len(), 5);
    let mut req = request(true, 5);
    req.pagination_cursor = Some(vec![9; 32]);
    let err = store.query(Query::from_request(req, 100).expect("valid")).await.expect_err("unknown cursor");
    assert!(err.to_string().contains("cursor not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_semantics_on_rocksdb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, all) = filled(Box::new(RocksKv::open(dir.path()).expect("open"))).await;
    check_semantics(&store, &all).await;
    // Close RocksDB before the test process exits, not in a race with its teardown.
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_semantics_in_memory_match() {
    let (store, all) = filled(Box::new(MemoryKv::default())).await;
    check_semantics(&store, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_survive_reopen_and_retention_evicts_by_age_count_and_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = heliograph_node::waku::time::now_ns();
    let config = StoreConfig::default();
    {
        let store = Store::with_kv(
            Box::new(RocksKv::open(dir.path()).expect("open")),
            &config,
            NodeMetrics::default(),
            CancellationToken::new(),
        )
        .expect("store");
        // 100 messages an hour old, 100 fresh ones.
        let hour = 3_600_000_000_000;
        let batch: Vec<StoredMessage> = (0..200)
            .map(|i| {
                let mut m = message(i);
                m.message.timestamp = Some(if i < 100 { now - hour + i } else { now + i });
                StoredMessage::new(m.pubsub_topic, m.message, 0)
            })
            .collect();
        store.put(batch).await.expect("put");
        store.close().await;
    }
    let store = Store::with_kv(
        Box::new(RocksKv::open(dir.path()).expect("reopen")),
        &config,
        NodeMetrics::default(),
        CancellationToken::new(),
    )
    .expect("store");
    let before = store.stats();
    assert_eq!(before.count, 200, "counters persist");

    let policy = retention::Policy { max_age: std::time::Duration::from_secs(1800), max_messages: 0, max_bytes: 0 };
    assert_eq!(retention::enforce(&store, policy).await.expect("age"), 100);
    assert_eq!(store.stats().count, 100);

    let policy = retention::Policy { max_age: std::time::Duration::ZERO, max_messages: 60, max_bytes: 0 };
    assert_eq!(retention::enforce(&store, policy).await.expect("count"), 40);
    let stats = store.stats();
    assert_eq!(stats.count, 60);

    let policy = retention::Policy { max_age: std::time::Duration::ZERO, max_messages: 0, max_bytes: stats.bytes / 2 };
    retention::enforce(&store, policy).await.expect("size");
    let left = store.stats();
    assert!(left.bytes <= stats.bytes / 2, "{left:?}");
    assert!(left.count >= 25, "size retention evicts only what it must: {left:?}");
    // The oldest went first: what is left is the newest.
    let page = store.query(Query::from_request(request(false, 1), 100).expect("valid")).await.expect("query");
    assert_eq!(page.messages[0].message.timestamp, Some(now + 199));
    store.close().await;
}
