//! Bad input from REST clients and from peers: each gets a clear error and
//! the node keeps serving everyone else.

mod common;

use std::time::Duration;

use common::{TOPIC, TestNode, message};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::{Multiaddr, SwarmBuilder};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rest_requests_get_clear_4xx_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));

    let (status, body) = node.post_raw(&path, "{not json").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed message"), "{body}");

    let (status, body) = node.post_json(&path, &json!({"payload": 5, "contentTopic": "/a/1/b/c"})).await;
    assert_eq!(status, 400, "wrong type: {body}");

    let (status, body) = node.post_json(&path, &json!({"payload": "%%%", "contentTopic": "/a/1/b/c"})).await;
    assert_eq!((status, body.contains("payload is not valid base64")), (400, true), "{body}");

    let (status, body) = node.post_json(&path, &json!({"payload": "AQ=="})).await;
    assert_eq!((status, body.contains("contentTopic is required")), (400, true), "{body}");

    let (status, body) = node.post_json("/relay/v1/messages/not-a-topic", &message("x").0).await;
    assert_eq!((status, body.contains("not a Waku pubsub topic")), (400, true), "{body}");

    // Another cluster's topic is refused only because the node does not relay it (as nwaku).
    let other = format!("/relay/v1/messages/{}", urlencoding::encode("/waku/2/rs/9/0"));
    let (status, body) = node.post_json(&other, &message("x").0).await;
    assert_eq!((status, body.contains("subscribe to it first")), (400, true), "{body}");

    let unjoined = format!("/relay/v1/messages/{}", urlencoding::encode("/waku/2/default-waku/proto"));
    let (status, body) = node.post_json(&unjoined, &message("x").0).await;
    assert_eq!((status, body.contains("subscribe to it first")), (400, true), "{body}");

    let big = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![0u8; 160 * 1024]);
    let (status, body) = node.post_json(&path, &json!({"payload": big, "contentTopic": "/a/1/b/c"})).await;
    assert_eq!(status, 400, "oversized: {body}");
    assert!(body.contains("Message size exceeded maximum of 153600 bytes"), "{body}");

    let (status, body) = node.post_json(&path, &json!({"payload": "", "contentTopic": "/a/1/b/c"})).await;
    assert_eq!((status, body.contains("payload is empty")), (400, true), "{body}");
    let meta = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 65]);
    let (status, body) =
        node.post_json(&path, &json!({"payload": "AQ==", "contentTopic": "/a/1/b/c", "meta": meta})).await;
    assert_eq!((status, body.contains("invalid length for Meta field")), (400, true), "{body}");

    // Configured topics are cached from the start (as nwaku); others only once subscribed.
    let (status, body) = node.get(&format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC))).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let other = format!("/relay/v1/messages/{}", urlencoding::encode("/waku/2/rs/1/99"));
    let (status, body) = node.get(&other).await;
    assert_eq!((status, body.contains("not subscribed")), (404, true), "{body}");

    let (status, body) = node.post_json("/relay/v1/subscriptions", &json!([])).await;
    assert_eq!(status, 200, "an empty list changes nothing (nwaku): {body}");
    let (status, body) = node.post_json("/relay/v1/auto/subscriptions", &json!(["no-slashes"])).await;
    assert_eq!((status, body.contains("not a Waku content topic")), (400, true), "{body}");
    let (status, body) = node.post_json("/admin/v1/peers", &json!(["garbage"])).await;
    assert_eq!((status, body.contains("is not a multiaddr")), (400, true), "{body}");

    // Still serving.
    let (status, body) = node.get("/health").await;
    assert_eq!(status, 200);
    assert!(body.contains("READY"), "{body}");
}

/// A peer that speaks Waku relay but publishes whatever bytes it likes.
async fn rogue_peer(target: &str) -> (libp2p::Swarm<gossipsub::Behaviour>, IdentTopic) {
    let config = gossipsub::ConfigBuilder::default()
        .protocol_id(heliograph_proto::protocol_id::RELAY, gossipsub::Version::V1_1)
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(|m| gossipsub::MessageId::new(&heliograph_node::waku::message::relay_id(&m.data)))
        .max_transmit_size(1024 * 1024)
        .heartbeat_interval(Duration::from_millis(200))
        .build()
        .expect("config");
    let relay = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).expect("behaviour");
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)
        .expect("transport")
        .with_behaviour(|_| relay)
        .expect("behaviour")
        .build();
    let topic = IdentTopic::new(TOPIC);
    swarm.behaviour_mut().subscribe(&topic).expect("subscribe");
    swarm.dial(target.parse::<Multiaddr>().expect("addr")).expect("dial");
    (swarm, topic)
}

/// Publishes `data` once the node has told the rogue it relays the topic.
async fn rogue_publish(swarm: &mut libp2p::Swarm<gossipsub::Behaviour>, topic: &IdentTopic, data: Vec<u8>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match swarm.behaviour_mut().publish(topic.clone(), data.clone()) {
            Ok(_) => break,
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => panic!("rogue publish: {e}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "node never subscribed towards the rogue peer");
        let _ = tokio::time::timeout(Duration::from_millis(100), swarm.select_next_some()).await;
    }
    // Keep the swarm polled so the frame goes out.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(50), swarm.select_next_some()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_messages_from_a_peer_are_dropped_and_others_still_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    a.subscribe(TOPIC).await;
    b.subscribe(TOPIC).await;
    a.wait_for_mesh(TOPIC, &[&b.peer_id]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;

    let (mut rogue, topic) = rogue_peer(&a.addr()).await;
    rogue_publish(&mut rogue, &topic, b"\xff\xff\xffnot protobuf".to_vec()).await;
    rogue_publish(&mut rogue, &topic, vec![0x0a; 200 * 1024]).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.metric("heliograph_relay_dropped_messages_total", "malformed").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "garbage was not rejected:\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.take(TOPIC).await.is_empty(), "garbage reached A's subscribers");
    assert!(b.take(TOPIC).await.is_empty(), "garbage was forwarded to B");

    // The rogue keeps its connection open; everyone else is still served.
    let (msg, payload) = message("still alive");
    b.publish_when_meshed(TOPIC, &msg).await;
    assert_eq!(a.count_arrivals(TOPIC, &payload, Duration::from_millis(500)).await, 1);
    drop(rogue);
}
