//! Hostile libp2p peers against a real `heliograph` process over 127.0.0.1:
//! a relay peer that stops reading, a store peer that lies in its answers to
//! gap filling, and one that floods it. Each test asserts the node's defence
//! and that it keeps serving everyone else.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TOPIC, TestNode};
use futures::{AsyncWriteExt, StreamExt};
use heliograph_node::p2p::codec::{read_frame, write_frame};
use heliograph_node::store::message_hash;
use heliograph_node::waku::time::now_ns;
use heliograph_proto::store::{StoreQueryRequest, StoreQueryResponse, WakuMessageKeyValue};
use heliograph_proto::{Message, WakuMessage, protocol_id};
use libp2p::gossipsub::IdentTopic;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder, identify};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const CONTENT: &str = "/heliograph/1/hostile/proto";

fn waku_message(text: &str) -> WakuMessage {
    WakuMessage {
        payload: text.as_bytes().to_vec(),
        content_topic: CONTENT.into(),
        timestamp: Some(now_ns()),
        ..Default::default()
    }
}

/// An honest store entry: the message on TOPIC with its own hash.
fn entry(message: WakuMessage) -> WakuMessageKeyValue {
    WakuMessageKeyValue {
        message_hash: Some(message_hash(TOPIC, &message).to_vec()),
        pubsub_topic: Some(TOPIC.into()),
        message: Some(message),
    }
}

fn page(messages: Vec<WakuMessageKeyValue>, cursor: Option<Vec<u8>>) -> StoreQueryResponse {
    StoreQueryResponse {
        status_code: Some(200),
        status_desc: Some("OK".into()),
        messages,
        pagination_cursor: cursor,
        ..Default::default()
    }
}

#[derive(NetworkBehaviour)]
struct StorePeerBehaviour {
    streams: libp2p_stream::Behaviour,
    identify: identify::Behaviour,
}

/// A raw peer that announces store v3, answers every query on TOPIC with
/// `answer` (other topics get an empty page), and dials `target`. Returns how
/// many queries on TOPIC it was asked.
async fn store_peer(
    target: &str,
    answer: impl Fn(&StoreQueryRequest) -> StoreQueryResponse + Send + Sync + 'static,
) -> Arc<AtomicUsize> {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)
        .expect("transport")
        .with_behaviour(|key| StorePeerBehaviour {
            streams: libp2p_stream::Behaviour::new(),
            identify: identify::Behaviour::new(identify::Config::new("/ipfs/id/1.0.0".into(), key.public())),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut incoming =
        swarm.behaviour().streams.new_control().accept(StreamProtocol::new(protocol_id::STORE_QUERY)).expect("accept");
    swarm.dial(target.parse::<Multiaddr>().expect("addr")).expect("dial");
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let Ok(frame) = read_frame(&mut stream, 64 * 1024).await else { continue };
            let request = StoreQueryRequest::decode(frame.as_slice()).expect("the node sends valid queries");
            let mut response = if request.pubsub_topic.as_deref() == Some(TOPIC) {
                counter.fetch_add(1, Ordering::SeqCst);
                answer(&request)
            } else {
                page(Vec::new(), None)
            };
            response.request_id = request.request_id;
            let _ = write_frame(&mut stream, &response.encode_to_vec()).await;
            let _ = stream.close().await;
        }
    });
    asked
}

/// The hashes A stores for CONTENT on TOPIC, all pages.
async fn stored_hashes(node: &TestNode) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut cursor = String::new();
    loop {
        let query = format!(
            "pubsubTopic={}&contentTopics={}&pageSize=100&cursor={cursor}",
            urlencoding::encode(TOPIC),
            urlencoding::encode(CONTENT)
        );
        let (status, body) = node.get(&format!("/store/v3/messages?{query}")).await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).expect("JSON");
        for m in page["messages"].as_array().expect("messages") {
            hashes.push(m["messageHash"].as_str().expect("hash").to_owned());
        }
        match page["paginationCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return hashes,
        }
    }
}

fn hex_hash(message: &WakuMessage) -> String {
    format!("0x{}", hex::encode(message_hash(TOPIC, message)))
}

async fn wait_for_metric(node: &TestNode, name: &str, filter: &str, at_least: f64, within: Duration) -> f64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = node.metric(name, filter).await;
        if value >= at_least {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{{{filter}}} is {value}, not {at_least}:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_peer_that_lies_in_its_answer_gets_its_page_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(dir.path(), &[]).await;

    // Page one is honest, with one message from a sender whose clock runs an
    // hour ahead (skipped, not a lie). Page two holds an honest message and one
    // whose hash is another message's (content swapped under a known hash).
    let honest: Vec<WakuMessage> = (0..3).map(|i| waku_message(&format!("honest {i}"))).collect();
    let mut ahead = waku_message("from a clock an hour ahead");
    ahead.timestamp = Some(now_ns() + 3_600_000_000_000);
    let beside_the_lie = waku_message("honest, beside the lie");
    let original = waku_message("what the hash belongs to");
    let mut forged = entry(waku_message("forged content"));
    forged.message_hash = Some(message_hash(TOPIC, &original).to_vec());
    let first = page(honest.iter().cloned().chain([ahead.clone()]).map(entry).collect(), Some(vec![7; 32]));
    let second = page(vec![entry(beside_the_lie.clone()), forged], None);
    let asked = store_peer(
        &a.addr(),
        move |request| {
            if request.pagination_cursor.is_none() { first.clone() } else { second.clone() }
        },
    )
    .await;

    wait_for_metric(&a, "heliograph_gap_fill_rejected_total", "hash_mismatch", 1.0, Duration::from_secs(30)).await;
    let expected: Vec<String> = honest.iter().map(hex_hash).collect();
    let stored = stored_hashes(&a).await;
    assert_eq!(stored, expected, "only the honest page is stored");
    assert_eq!(a.metric("heliograph_gap_fill_rejected_total", "outside_window").await, 1.0);
    for absent in [&beside_the_lie, &original, &ahead] {
        assert!(!stored.contains(&hex_hash(absent)), "{absent:?} was stored");
    }
    assert_eq!(a.metric("heliograph_gap_filled_messages_total", "").await, 3.0);

    // The liar is not asked again while it stays connected, and the node serves on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(asked.load(Ordering::SeqCst), 2, "the lying peer was asked again");
    let (status, body) = a.get("/health").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_peer_outside_the_mesh_inserts_at_most_its_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(dir.path(), &[]).await;

    // Every page is 100 new valid messages and a cursor to more, forever.
    let next = Arc::new(Mutex::new(0u64));
    let asked = store_peer(&a.addr(), move |_| {
        let mut next = next.lock().expect("lock");
        let batch = (0..100)
            .map(|_| {
                *next += 1;
                entry(waku_message(&format!("flood {next}")))
            })
            .collect();
        page(batch, Some(next.to_be_bytes().to_vec()))
    })
    .await;

    let budget = heliograph_node::store::sync::Budget::OUTSIDE_MESH.messages as f64;
    let within = heliograph_node::store::sync::MESH_GRACE + Duration::from_secs(60);
    wait_for_metric(&a, "heliograph_gap_filled_messages_total", "", budget, within).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(a.metric("heliograph_gap_filled_messages_total", "").await, budget, "more than the budget came in");
    assert_eq!(asked.load(Ordering::SeqCst), 50, "pages asked for: 5000 messages in pages of 100");
    assert_eq!(a.metric("heliograph_store_messages", "").await, budget);

    // The node still answers store queries.
    let (status, body) = a.get(&format!("/store/v3/messages?pubsubTopic={}", urlencoding::encode(TOPIC))).await;
    assert_eq!(status, 200, "{body}");
}

/// A relay peer (the node's own gossipsub configuration) on TOPIC that
/// connects to `target` and, once `stall` fires, stops reading: its swarm is
/// kept alive but never polled again, so its socket fills up.
async fn stalling_relay_peer(target: &str) -> (PeerId, oneshot::Sender<()>) {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)
        .expect("transport")
        .with_behaviour(|_| heliograph_node::p2p::relay::behaviour().expect("relay"))
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm.behaviour_mut().subscribe(&IdentTopic::new(TOPIC)).expect("subscribe");
    swarm.dial(target.parse::<Multiaddr>().expect("addr")).expect("dial");
    let peer = *swarm.local_peer_id();
    let (stall, mut stalled) = oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stalled => break,
                event = swarm.select_next_some() => {
                    if let SwarmEvent::ConnectionClosed { cause, .. } = event {
                        panic!("the relay peer lost its connection before stalling: {cause:?}");
                    }
                }
            }
        }
        std::future::pending::<()>().await;
        drop(swarm);
    });
    (peer, stall)
}

/// Publishes a message of `size` payload bytes through `node`'s REST API.
async fn publish(node: &TestNode, i: usize, size: usize) {
    let mut payload = format!("message {i} ").into_bytes();
    payload.resize(size, b'x');
    let body = json!({ "payload": STANDARD.encode(&payload), "contentTopic": CONTENT, "timestamp": now_ns() });
    let (status, text) = node.post_json(&format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC)), &body).await;
    assert_eq!(status, 200, "publish {i}: {text}");
}

/// How many observations of `histogram` exceed the bucket `le`, per the node's metrics.
async fn observations_above(node: &TestNode, histogram: &str, filter: &str, le: &str) -> f64 {
    let count = node.metric(&format!("{histogram}_count"), filter).await;
    let within = node.metric(&format!("{histogram}_bucket"), &format!("le=\"{le}\"")).await;
    count - within
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_peer_that_stops_reading_is_disconnected_and_others_keep_receiving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &["--no-store"]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr(), "--no-store"]).await;
    let (stuck, stall) = stalling_relay_peer(&a.addr()).await;
    let stuck = stuck.to_string();
    a.wait_for_mesh(TOPIC, &[&b.peer_id, &stuck]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;
    stall.send(()).expect("stall the peer");

    // 100 KB messages until A lets the stuck peer go (at most 250 MB; gossipsub's
    // default queue took 5000 before overflowing).
    let mut published = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while a.peer_ids().await.contains(&stuck) {
        assert!(published < 2500, "the stuck peer is still connected after {published} messages:\n{}", a.log());
        assert!(tokio::time::Instant::now() < deadline, "the stuck peer is still connected:\n{}", a.log());
        for _ in 0..10 {
            publish(&a, published, 100 * 1024).await;
            published += 1;
        }
    }
    assert_eq!(a.metric("heliograph_slow_peers_disconnected_total", "").await, 1.0);
    assert!(a.metric("heliograph_relay_dropped_messages_total", "slow_peer").await >= 1.0);
    // The stuck peer's queue never held more than its bound of 512 messages.
    let above = observations_above(&a, "libp2p_gossipsub_queue_size", "", "550.0").await;
    assert_eq!(above, 0.0, "a send queue held more than 550 messages");

    // B got every message, before and after the stuck peer left.
    for i in published..published + 20 {
        publish(&a, i, 1024).await;
    }
    let total = (published + 20) as f64;
    let filter = format!("topic=\"{TOPIC}\"");
    let received =
        wait_for_metric(&b, "heliograph_relay_messages_total", &filter, total, Duration::from_secs(30)).await;
    assert_eq!(received, total, "B received other messages than A published");
}
