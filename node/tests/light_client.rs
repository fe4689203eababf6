//! The light-client protocols against a real `heliograph` process, driven by
//! raw rust-libp2p peers (the node's own transport plus `libp2p-stream`):
//! filter subscribe/push, lightpush v3 and v2, peer exchange, identify, a
//! burst of many clients at once, malformed requests and rate limits.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TOPIC, TestNode};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use heliograph_node::light::client::{lightpush, request};
use heliograph_node::light::lightpush::{Version, status as lp};
use heliograph_node::light::{filter::status as fs, peer_exchange};
use heliograph_node::p2p::codec::{read_frame, write_frame};
use heliograph_node::waku::enr::{Capabilities, EnrInput, NodeEnr};
use heliograph_node::waku::{PubsubTopic, RelayMessage};
use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
use heliograph_proto::filter::{FilterSubscribeRequest, FilterSubscribeResponse, MessagePush};
use heliograph_proto::{Message, WakuMessage, protocol_id};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder, identify};
use libp2p_stream::Control;
use tokio::sync::mpsc;

#[derive(NetworkBehaviour)]
struct ClientBehaviour {
    streams: libp2p_stream::Behaviour,
    identify: identify::Behaviour,
}

/// A raw peer connected to `target`: its stream control, the protocols the node
/// announced, and how many of its connections have closed.
struct Client {
    control: Control,
    node: PeerId,
    node_protocols: mpsc::Receiver<Vec<String>>,
    closed: Arc<AtomicUsize>,
}

async fn client(target: &str) -> Client {
    client_accepting(target, None).await.0
}

/// A raw peer that serves `protocol` from before it dials, so the node's first
/// identify exchange already lists it.
async fn client_accepting(
    target: &str,
    protocol: Option<&'static str>,
) -> (Client, Option<libp2p_stream::IncomingStreams>) {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)
        .expect("transport")
        .with_behaviour(|key| ClientBehaviour {
            streams: libp2p_stream::Behaviour::new(),
            identify: identify::Behaviour::new(identify::Config::new("/ipfs/id/1.0.0".into(), key.public())),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut control = swarm.behaviour().streams.new_control();
    let incoming = protocol.map(|p| control.accept(StreamProtocol::new(p)).expect("accept"));
    let addr: Multiaddr = target.parse().expect("addr");
    swarm.dial(addr).expect("dial");
    let (tx, rx) = mpsc::channel(8);
    let (connected_tx, mut connected_rx) = mpsc::channel(1);
    let closed = Arc::new(AtomicUsize::new(0));
    let closed_count = closed.clone();
    tokio::spawn(async move {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    let _ = connected_tx.try_send(peer_id);
                }
                SwarmEvent::ConnectionClosed { .. } => {
                    closed_count.fetch_add(1, Ordering::Relaxed);
                }
                SwarmEvent::Behaviour(ClientBehaviourEvent::Identify(identify::Event::Received { info, .. })) => {
                    let _ = tx.try_send(info.protocols.iter().map(ToString::to_string).collect());
                }
                _ => {}
            }
        }
    });
    let node = tokio::time::timeout(Duration::from_secs(10), connected_rx.recv())
        .await
        .expect("connected in time")
        .expect("peer id");
    (Client { control, node, node_protocols: rx, closed }, incoming)
}

fn filter_request(kind: FilterSubscribeType, topic: Option<&str>, contents: &[&str]) -> Vec<u8> {
    FilterSubscribeRequest {
        request_id: format!("{kind:?}"),
        filter_subscribe_type: kind as i32,
        pubsub_topic: topic.map(str::to_owned),
        content_topics: contents.iter().map(|s| (*s).to_owned()).collect(),
    }
    .encode_to_vec()
}

async fn filter(c: &mut Client, frame: &[u8]) -> FilterSubscribeResponse {
    let answer = request(&mut c.control, c.node, protocol_id::FILTER_SUBSCRIBE, frame, 4096).await.expect("answer");
    FilterSubscribeResponse::decode(answer.as_slice()).expect("response decodes")
}

fn relay_message(text: &str, topic: &str) -> RelayMessage {
    let message = WakuMessage {
        payload: text.as_bytes().to_vec(),
        content_topic: "/heliograph/1/test/proto".into(),
        timestamp: Some(heliograph_node::waku::time::now_ns()),
        ..Default::default()
    };
    RelayMessage::encode(topic.parse::<PubsubTopic>().expect("topic"), message).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_subscribe_push_and_error_statuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    let mut c = client(&a.addr()).await;
    let mut pushes = c.control.accept(StreamProtocol::new(protocol_id::FILTER_PUSH)).expect("accept pushes");

    // A stream opened in advance and never written (as js-waku does) harms nothing.
    let idle = c.control.open_stream(c.node, StreamProtocol::new(protocol_id::FILTER_SUBSCRIBE)).await.expect("idle");

    let bad = filter(&mut c, &[0xff, 0xff, 0xff]).await;
    assert_eq!(bad.status_code, fs::BAD_REQUEST);
    assert!(bad.status_desc.unwrap_or_default().contains("malformed"));
    let ping = filter_request(FilterSubscribeType::SubscriberPing, None, &[]);
    assert_eq!(filter(&mut c, &ping).await.status_code, fs::NOT_FOUND, "ping before subscribing");
    let garbage = filter_request(FilterSubscribeType::Subscribe, Some("not-a-topic"), &["/x/1/y/z"]);
    assert_eq!(filter(&mut c, &garbage).await.status_code, fs::BAD_REQUEST);
    let too_many: Vec<String> = (0..101).map(|i| format!("/x/1/{i}/z")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    let big = filter(&mut c, &filter_request(FilterSubscribeType::Subscribe, Some(TOPIC), &too_many)).await;
    assert_eq!(big.status_code, fs::BAD_REQUEST, "101 content topics in one request");

    let sub = filter_request(FilterSubscribeType::Subscribe, Some(TOPIC), &["/heliograph/1/test/proto"]);
    let ok = filter(&mut c, &sub).await;
    assert_eq!((ok.status_code, ok.request_id.as_str()), (fs::OK, "Subscribe"));
    assert_eq!(filter(&mut c, &ping).await.status_code, fs::OK);

    // A message relayed by B reaches A and is pushed to the subscriber.
    let (msg, payload) = common::message("pushed to the light client");
    b.publish_when_meshed(TOPIC, &msg).await;
    let (from, mut stream) =
        tokio::time::timeout(Duration::from_secs(10), pushes.next()).await.expect("push in time").expect("stream");
    assert_eq!(from, c.node);
    let frame = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream, 1 << 20))
        .await
        .expect("frame in time")
        .expect("frame");
    let push = MessagePush::decode(frame.as_slice()).expect("push decodes");
    assert_eq!(push.pubsub_topic.as_deref(), Some(TOPIC));
    let message = push.waku_message.expect("message set");
    assert_eq!(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &message.payload), payload);

    let all = filter_request(FilterSubscribeType::UnsubscribeAll, None, &[]);
    assert_eq!(filter(&mut c, &all).await.status_code, fs::OK);
    assert_eq!(filter(&mut c, &ping).await.status_code, fs::NOT_FOUND, "nothing left after unsubscribe-all");
    assert_eq!(filter(&mut c, &all).await.status_code, fs::NOT_FOUND);
    assert!(a.metric("heliograph_light_requests_total", "status=\"400\"").await >= 3.0);

    // The idle stream is still usable, and a request on it is answered.
    let mut idle = idle;
    write_frame(&mut idle, &ping).await.expect("write on the idle stream");
    idle.close().await.expect("close");
    let answer = read_frame(&mut idle, 4096).await.expect("answer on the idle stream");
    assert_eq!(FilterSubscribeResponse::decode(answer.as_slice()).expect("decode").status_code, fs::NOT_FOUND);
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.expect("the node closes its side after answering");
    assert!(rest.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightpush_statuses_relay_and_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let mut c = client(&a.addr()).await;

    // No relay peer: an error, never a silent success.
    for version in [Version::V3, Version::V2] {
        let reply = lightpush(&mut c.control, c.node, version, &relay_message("alone", TOPIC)).await.expect("reply");
        assert_ne!(reply.status, lp::SUCCESS, "{version:?}: {reply:?}");
        assert!(reply.desc.contains("no relay peers"), "{reply:?}");
        if version == Version::V3 {
            assert_eq!((reply.status, reply.relay_peers), (lp::NO_PEERS, Some(0)));
        }
    }

    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    b.subscribe(TOPIC).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let reply = lightpush(&mut c.control, c.node, Version::V3, &relay_message("via v3", TOPIC)).await.expect("v3");
        if reply.status != lp::NO_PEERS || tokio::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(reply.status, lp::SUCCESS, "{reply:?}\n{}", a.log());
    assert!(reply.relay_peers.unwrap_or(0) >= 1, "{reply:?}");
    let v2 = lightpush(&mut c.control, c.node, Version::V2, &relay_message("via v2", TOPIC)).await.expect("v2");
    assert_eq!(v2.status, lp::SUCCESS, "{v2:?}");

    // B received both through the mesh; A stored both.
    let got = b.collect(TOPIC, Duration::from_secs(3)).await;
    let payloads: Vec<String> = got.iter().filter_map(|m| m["payload"].as_str().map(str::to_owned)).collect();
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    assert!(payloads.contains(&b64("via v3")) && payloads.contains(&b64("via v2")), "{payloads:?}");
    let query = format!(
        "/store/v3/messages?pubsubTopic={}&contentTopics={}&includeData=true",
        urlencoding::encode(TOPIC),
        urlencoding::encode("/heliograph/1/test/proto")
    );
    let (status, body) = a.get(&query).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&b64("via v3")) && body.contains(&b64("via v2")), "{body}");

    // Malformed, wrong cluster, oversized.
    let garbage = request(&mut c.control, c.node, protocol_id::LIGHTPUSH_V3, &[0xff, 0x00, 0xff], 4096).await;
    let parsed = heliograph_node::light::lightpush::parse_response(Version::V3, &garbage.expect("answer"));
    assert_eq!(parsed.expect("decodes").status, lp::BAD_REQUEST);
    let foreign = lightpush(&mut c.control, c.node, Version::V3, &relay_message("x", "/waku/2/rs/5/0")).await;
    assert_eq!(foreign.expect("reply").status, lp::UNSUPPORTED_TOPIC);
    let mut big = relay_message("x", TOPIC);
    big.message.payload = vec![1; 200 * 1024];
    let big = lightpush(&mut c.control, c.node, Version::V3, &big).await.expect("reply");
    assert_eq!(big.status, lp::PAYLOAD_TOO_LARGE, "{big:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_exchange_learns_and_serves_enrs_and_identify_lists_protocols() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;

    // P serves peer exchange with three ENRs; A asks it (it announces the protocol).
    let (mut p, px_incoming) = client_accepting(&a.addr(), Some(protocol_id::PEER_EXCHANGE)).await;
    let protocols = tokio::time::timeout(Duration::from_secs(10), p.node_protocols.recv())
        .await
        .expect("identify in time")
        .expect("protocols");
    // Exactly what the node serves: no outbound-only protocol (filter push) and nothing unserved.
    // gossipsub withdraws the relay protocol from a connection whose peer does not speak
    // it (this raw client), so whether identify still lists it here depends on timing.
    let mut served: Vec<&str> = protocols.iter().map(String::as_str).filter(|p| *p != protocol_id::RELAY).collect();
    served.sort_unstable();
    let mut expected = vec![
        "/ipfs/id/1.0.0",
        "/ipfs/id/push/1.0.0",
        "/ipfs/ping/1.0.0",
        protocol_id::FILTER_SUBSCRIBE,
        protocol_id::LIGHTPUSH_V3,
        protocol_id::LIGHTPUSH_V2,
        protocol_id::PEER_EXCHANGE,
        protocol_id::STORE_QUERY,
        protocol_id::METADATA,
    ];
    expected.sort_unstable();
    assert_eq!(served, expected, "identify lists exactly the served protocols");

    let enrs: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            let key = libp2p::identity::secp256k1::Keypair::generate();
            let addrs: Vec<Multiaddr> = vec!["/ip4/10.1.2.3/tcp/60000".parse().expect("addr")];
            let input = EnrInput {
                seq: 1,
                addrs: &addrs,
                capabilities: Capabilities { relay: true, ..Default::default() },
                cluster: 1,
                shards: &[0],
            };
            peer_exchange::raw_enr(&heliograph_node::waku::enr::build(&key, &input).expect("enr"))
        })
        .collect();
    let mut served = px_incoming.expect("accepting peer exchange");
    let answer = {
        let enrs = enrs.clone();
        move |query: Vec<u8>| {
            let mut cache = peer_exchange::EnrCache::new(10, vec![]);
            for e in &enrs {
                assert!(cache.insert(e));
            }
            cache.answer(Ok(&query)).0
        }
    };
    let (mut stream, query) = loop {
        let (_, mut stream) = tokio::time::timeout(Duration::from_secs(45), served.next())
            .await
            .expect("A polls peer exchange")
            .expect("stream");
        // Streams the node opens in advance may be empty; take the first with a query.
        if let Ok(query) = read_frame(&mut stream, 4096).await {
            break (stream, query);
        }
    };
    write_frame(&mut stream, &answer(query)).await.expect("answer");
    stream.close().await.expect("close");

    // Q asks A and gets A's own record, then what A learned, at most as many as asked.
    let own = own_record(&a).await;
    let mut q = client(&a.addr()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = request(&mut q.control, q.node, protocol_id::PEER_EXCHANGE, &peer_exchange::query(3), 1 << 16)
            .await
            .expect("answer");
        let got = peer_exchange::enrs_of(&frame);
        assert!(got.len() <= 3, "at most as many as asked: {}", got.len());
        assert_eq!(got.first(), Some(&own), "A's own record comes first");
        if got.len() == 3 {
            assert!(got[1..].iter().all(|e| enrs.contains(e)), "A hands out the ENRs it learned");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "A never served the learned ENRs: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let zero = request(&mut q.control, q.node, protocol_id::PEER_EXCHANGE, &peer_exchange::query(0), 1 << 16)
        .await
        .expect("answer");
    let decoded = heliograph_proto::peer_exchange::PeerExchangeRpc::decode(zero.as_slice()).expect("decodes");
    assert_eq!(decoded.response.and_then(|r| r.status_code), Some(peer_exchange::status::BAD_REQUEST));
    assert!(a.metric("heliograph_peer_exchange_enrs", "").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_takes_no_pushes_is_dropped_without_slowing_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    // `deaf` subscribes but does not speak the push protocol; `good` does.
    let mut deaf = client(&a.addr()).await;
    let mut good = client(&a.addr()).await;
    let mut pushes = good.control.accept(StreamProtocol::new(protocol_id::FILTER_PUSH)).expect("accept");
    let sub = filter_request(FilterSubscribeType::Subscribe, Some(TOPIC), &["/heliograph/1/test/proto"]);
    assert_eq!(filter(&mut deaf, &sub).await.status_code, fs::OK);
    assert_eq!(filter(&mut good, &sub).await.status_code, fs::OK);
    assert_eq!(a.metric("heliograph_filter_subscribers", "").await, 2.0);

    for i in 0..4 {
        let (msg, _) = common::message(&format!("message {i}"));
        b.publish_when_meshed(TOPIC, &msg).await;
    }
    let (_, mut stream) =
        tokio::time::timeout(Duration::from_secs(10), pushes.next()).await.expect("push in time").expect("stream");
    for _ in 0..4 {
        let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut stream, 1 << 20))
            .await
            .expect("every push reaches the good subscriber")
            .expect("frame");
        assert!(MessagePush::decode(frame.as_slice()).expect("decodes").waku_message.is_some());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while a.metric("heliograph_filter_evictions_total", "unreachable").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the deaf subscriber was never dropped:\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ping = filter_request(FilterSubscribeType::SubscriberPing, None, &[]);
    assert_eq!(filter(&mut deaf, &ping).await.status_code, fs::NOT_FOUND, "the deaf subscription is gone");
    assert_eq!(filter(&mut good, &ping).await.status_code, fs::OK, "the good one stays");
    assert_eq!(a.metric("heliograph_filter_subscribers", "").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lightpush_reports_v3_statuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let (msg, payload) = common::message("rest lightpush");
    let body = serde_json::json!({ "pubsubTopic": TOPIC, "message": msg });
    let (status, text) = a.post_json("/lightpush/v3/message", &body).await;
    assert_eq!(status, 503, "no relay peers: {text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!((answer["statusCode"].as_u64(), answer["relayPeerCount"].as_u64()), (Some(505), Some(0)));

    let (status, text) = a.post_json("/lightpush/v3/message", &serde_json::json!({ "message": 5 })).await;
    assert_eq!(status, 400, "{text}");
    let foreign = serde_json::json!({ "pubsubTopic": "/waku/2/rs/4/0", "message": msg });
    let (status, text) = a.post_json("/lightpush/v3/message", &foreign).await;
    assert_eq!((status, text.contains("421")), (400, true), "{text}");

    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    b.subscribe(TOPIC).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (status, text) = loop {
        let (status, text) = a.post_json("/lightpush/v3/message", &body).await;
        if status != 503 || tokio::time::Instant::now() > deadline {
            break (status, text);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer["statusCode"].as_u64(), Some(200));
    assert!(answer["relayPeerCount"].as_u64().unwrap_or(0) >= 1, "{text}");
    assert_eq!(b.count_arrivals(TOPIC, &payload, Duration::from_secs(2)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_cut_off_and_a_fast_one_keeps_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    let mut slow = client(&a.addr()).await;
    let mut fast = client(&a.addr()).await;
    // The slow client takes the push stream but never reads it.
    let mut slow_pushes = slow.control.accept(StreamProtocol::new(protocol_id::FILTER_PUSH)).expect("accept");
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Some((_, s)) = slow_pushes.next().await {
            streams.push(s);
        }
    });
    let mut fast_pushes = fast.control.accept(StreamProtocol::new(protocol_id::FILTER_PUSH)).expect("accept");
    let sub = filter_request(FilterSubscribeType::Subscribe, Some(TOPIC), &["/heliograph/1/test/proto"]);
    assert_eq!(filter(&mut slow, &sub).await.status_code, fs::OK);
    assert_eq!(filter(&mut fast, &sub).await.status_code, fs::OK);
    let (count_tx, mut count_rx) = mpsc::channel::<usize>(1024);
    tokio::spawn(async move {
        let mut received = 0;
        while let Some((_, mut stream)) = fast_pushes.next().await {
            while read_frame(&mut stream, 1 << 20).await.is_ok() {
                received += 1;
                let _ = count_tx.try_send(received);
            }
        }
    });

    // 100 KiB messages fill the slow client's stream window after a few pushes;
    // then its queue fills, and the drops that follow cut it off.
    let padding = "x".repeat(100 * 1024);
    let (first, _) = common::message(&format!("0 {padding}"));
    b.publish_when_meshed(TOPIC, &first).await;
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
    let mut published = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while a.metric("heliograph_filter_evictions_total", "slow").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the slow subscriber was never cut off:\n{}", a.log());
        for _ in 0..20 {
            let (msg, _) = common::message(&format!("{published} {padding}"));
            let (status, body) = b.post_json(&path, &msg).await;
            assert_eq!(status, 200, "{body}");
            published += 1;
        }
    }
    assert!(a.metric("heliograph_filter_push_dropped_total", "queue_full").await >= 128.0);
    let ping = filter_request(FilterSubscribeType::SubscriberPing, None, &[]);
    assert_eq!(filter(&mut slow, &ping).await.status_code, fs::NOT_FOUND, "the slow subscriber is gone");
    assert_eq!(filter(&mut fast, &ping).await.status_code, fs::OK, "the fast one stays");

    // The fast subscriber got every message A accepted (none dropped for it).
    let accepted = a.metric("heliograph_relay_messages_total", TOPIC).await as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut received = 0;
    while received < accepted {
        received = tokio::time::timeout_at(deadline, count_rx.recv())
            .await
            .unwrap_or_else(|_| panic!("fast subscriber got {received} of {accepted} ({published} published)"))
            .expect("counter");
    }
    held.abort();
}

/// Sends raw `bytes` (not necessarily a valid frame) on a new stream and reads the one answer frame.
async fn raw_request(c: &mut Client, protocol: &'static str, bytes: &[u8]) -> Vec<u8> {
    let mut stream = c.control.open_stream(c.node, StreamProtocol::new(protocol)).await.expect("open stream");
    stream.write_all(bytes).await.expect("write");
    stream.close().await.expect("close");
    let answer = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut stream, 1 << 16))
        .await
        .expect("answered in time")
        .expect("an answer frame");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.expect("the node closes its side after answering");
    assert!(rest.is_empty(), "one frame only");
    answer
}

/// Waits until a lightpush through `c` succeeds (a relay peer has joined the mesh).
async fn wait_for_relay_peer(c: &mut Client, node: &TestNode) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply =
            lightpush(&mut c.control, c.node, Version::V3, &relay_message("probe", TOPIC)).await.expect("reply");
        if reply.status == lp::SUCCESS {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no relay peer: {reply:?}\n{}", node.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_lightpush_clients_is_answered_in_full() {
    const CLIENTS: usize = 100;
    const PER_CLIENT: usize = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    b.subscribe(TOPIC).await;
    let mut probe = client(&a.addr()).await;
    wait_for_relay_peer(&mut probe, &a).await;

    // Connected one after the other (the node admits 64 handshakes at a time),
    // then every client pushes at the same moment, each request on a new stream.
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(client(&a.addr()).await);
    }
    let start = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::with_capacity(CLIENTS);
    for (i, c) in clients.into_iter().enumerate() {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let pushes = (0..PER_CLIENT).map(|j| {
                let mut control = c.control.clone();
                let message = relay_message(&format!("burst {i} {j}"), TOPIC);
                async move { lightpush(&mut control, c.node, Version::V3, &message).await }
            });
            let replies = futures::future::join_all(pushes).await;
            (replies, c.closed.load(Ordering::Relaxed))
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        let (replies, closed) = task.await.expect("client task");
        assert_eq!(closed, 0, "a client lost its connection");
        failures.extend(replies.into_iter().filter_map(|r| match r {
            Ok(reply) if reply.status == lp::SUCCESS && reply.relay_peers.unwrap_or(0) >= 1 => None,
            other => Some(format!("{other:?}")),
        }));
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests not answered with success: {failures:?}",
        failures.len(),
        CLIENTS * PER_CLIENT
    );
    let answered = a.metric("heliograph_light_requests_total", "status=\"200\"").await;
    assert!(answered >= (CLIENTS * PER_CLIENT) as f64, "{answered} successes counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_error_statuses_on_a_connection_that_stays_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let mut c = client(&a.addr()).await;
    let frame = |bytes: &[u8]| {
        let mut out = futures::io::Cursor::new(Vec::new());
        futures::executor::block_on(write_frame(&mut out, bytes)).expect("frame");
        out.into_inner()
    };
    let garbage = frame(&[0xff, 0x00, 0xff]);
    let bad_varint = vec![0xff; 11];
    let mut oversized = frame(&vec![7u8; 1024 * 1024 + 8192]);
    oversized.truncate(oversized.len() - 100); // declared longer than the limit; cut short too

    for bytes in [&garbage, &bad_varint, &oversized] {
        let v3 = heliograph_node::light::lightpush::parse_response(
            Version::V3,
            &raw_request(&mut c, protocol_id::LIGHTPUSH_V3, bytes).await,
        )
        .expect("a v3 response");
        let want = if bytes.len() > 1024 { lp::PAYLOAD_TOO_LARGE } else { lp::BAD_REQUEST };
        assert_eq!(v3.status, want, "{v3:?}");
        let v2 = heliograph_node::light::lightpush::parse_response(
            Version::V2,
            &raw_request(&mut c, protocol_id::LIGHTPUSH_V2, bytes).await,
        )
        .expect("a v2 response");
        assert_ne!(v2.status, lp::SUCCESS, "{v2:?}");
        assert!(!v2.desc.is_empty(), "the v2 error says why");
        let f =
            FilterSubscribeResponse::decode(raw_request(&mut c, protocol_id::FILTER_SUBSCRIBE, bytes).await.as_slice())
                .expect("a filter response");
        assert_eq!(f.status_code, fs::BAD_REQUEST, "{f:?}");
        let px = heliograph_proto::peer_exchange::PeerExchangeRpc::decode(
            raw_request(&mut c, protocol_id::PEER_EXCHANGE, bytes).await.as_slice(),
        )
        .expect("a peer exchange response");
        assert_eq!(px.response.and_then(|r| r.status_code), Some(peer_exchange::status::BAD_REQUEST));
    }
    // A request with a valid frame but an unknown field layout is still answered by request id.
    let wrong_type =
        FilterSubscribeRequest { request_id: "odd".into(), filter_subscribe_type: 7, ..Default::default() };
    let answer = filter(&mut c, &wrong_type.encode_to_vec()).await;
    assert_eq!((answer.status_code, answer.request_id.as_str()), (fs::BAD_REQUEST, "odd"));

    // The same connection still serves well-formed requests.
    let ping = filter_request(FilterSubscribeType::SubscriberPing, None, &[]);
    assert_eq!(filter(&mut c, &ping).await.status_code, fs::NOT_FOUND);
    let reply = lightpush(&mut c.control, c.node, Version::V3, &relay_message("after garbage", TOPIC)).await;
    assert_eq!(reply.expect("reply").status, lp::NO_PEERS);
    assert_eq!(c.closed.load(Ordering::Relaxed), 0, "the node never dropped the connection");
    assert!(a.metric("heliograph_light_requests_total", "status=\"400\"").await >= 8.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightpush_and_filter_requests_over_the_rate_limit_get_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &["--lightpush-rate-limit", "3", "--filter-rate-limit", "2"]).await;
    let mut c = client(&a.addr()).await;
    let mut other = client(&a.addr()).await;

    // Within the limit the node answers on the merits (no relay peer: 505), then 429.
    for version in [Version::V3, Version::V2, Version::V3] {
        let reply = lightpush(&mut c.control, c.node, version, &relay_message("counted", TOPIC)).await.expect("reply");
        assert_ne!(reply.status, lp::TOO_MANY_REQUESTS, "{reply:?}");
    }
    let limited = lightpush(&mut c.control, c.node, Version::V3, &relay_message("over", TOPIC)).await.expect("reply");
    assert_eq!(limited.status, lp::TOO_MANY_REQUESTS, "{limited:?}");
    assert!(limited.desc.contains("rate limit"), "{limited:?}");
    let v2 = lightpush(&mut c.control, c.node, Version::V2, &relay_message("over", TOPIC)).await.expect("reply");
    assert!(v2.status != lp::SUCCESS && v2.desc.contains("rate limit"), "v2 gets an error response: {v2:?}");
    // Another peer has its own budget.
    let fresh =
        lightpush(&mut other.control, other.node, Version::V3, &relay_message("x", TOPIC)).await.expect("reply");
    assert_eq!(fresh.status, lp::NO_PEERS, "{fresh:?}");

    let ping = filter_request(FilterSubscribeType::SubscriberPing, None, &[]);
    assert_eq!(filter(&mut c, &ping).await.status_code, fs::NOT_FOUND);
    assert_eq!(filter(&mut c, &ping).await.status_code, fs::NOT_FOUND);
    let over = filter(&mut c, &ping).await;
    assert_eq!((over.status_code, over.request_id.as_str()), (fs::TOO_MANY_REQUESTS, "SubscriberPing"));
    assert_eq!(filter(&mut other, &ping).await.status_code, fs::NOT_FOUND);
    assert!(a.metric("heliograph_light_requests_total", "status=\"429\"").await >= 3.0);
}

/// The node's own ENR as peer exchange hands it out, from `/debug/v1/info`.
async fn own_record(node: &TestNode) -> Vec<u8> {
    let (status, info) = node.get("/debug/v1/info").await;
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    let record: NodeEnr = info["enrUri"].as_str().expect("enrUri").parse().expect("ENR");
    peer_exchange::raw_enr(&record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enr_bootstrap_peers_are_dialed_and_handed_out_by_peer_exchange() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = TestNode::tcp(&dir.path().join("b"), &[]).await;
    let (status, info) = b.get("/debug/v1/info").await;
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    let enr = info["enrUri"].as_str().expect("enrUri").to_owned();
    let a = TestNode::tcp(&dir.path().join("a"), &["--bootstrap", &enr]).await;
    a.wait_for_peer(&b.peer_id).await;

    let mut q = client(&a.addr()).await;
    let frame = request(&mut q.control, q.node, protocol_id::PEER_EXCHANGE, &peer_exchange::query(5), 1 << 16)
        .await
        .expect("answer");
    let record: NodeEnr = enr.parse().expect("B's ENR");
    assert_eq!(
        peer_exchange::enrs_of(&frame),
        vec![own_record(&a).await, peer_exchange::raw_enr(&record)],
        "A hands out its own record, then B's"
    );
    assert_eq!(a.metric("heliograph_peer_exchange_enrs", "").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lightpush_goes_through_the_configured_lightpush_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = TestNode::tcp(&dir.path().join("service"), &[]).await;
    let relay = TestNode::tcp(&dir.path().join("relay"), &["--bootstrap", &service.addr()]).await;
    relay.subscribe(TOPIC).await;
    // No relay peer of its own: every push must go through the service node.
    let light = TestNode::tcp(&dir.path().join("light"), &["--lightpush-node", &service.addr()]).await;

    let (msg, payload) = common::message("through the service node");
    let body = serde_json::json!({ "pubsubTopic": TOPIC, "message": msg });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (status, text) = loop {
        // 503 while the service node has no relay peer yet (its answer is passed on).
        let (status, text) = light.post_json("/lightpush/v3/message", &body).await;
        if status != 503 || tokio::time::Instant::now() > deadline {
            break (status, text);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert!(answer["relayPeerCount"].as_u64().unwrap_or(0) >= 1, "the service node's relay peers: {text}");
    assert_eq!(relay.count_arrivals(TOPIC, &payload, Duration::from_secs(2)).await, 1);
    assert!(light.peer_ids().await.contains(&service.peer_id), "the light node dialled the service node");

    // A service node that cannot be reached: a clear 503, not a hang or a false success.
    let gone = service.addr();
    service.stop().await;
    let orphan = TestNode::tcp(&dir.path().join("orphan"), &["--lightpush-node", &gone]).await;
    let (status, text) = orphan.post_json("/lightpush/v3/message", &body).await;
    assert_eq!(status, 503, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer["statusCode"].as_u64(), Some(503), "{text}");
    assert!(answer["statusDesc"].as_str().unwrap_or_default().contains("lightpush node"), "{text}");
}
