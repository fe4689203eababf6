//! Relay across real `heliograph` processes: TCP and WebSocket meshes deliver
//! each message exactly once, restarts keep the peer id, and clusters do not mix.

mod common;

use std::time::Duration;

use common::{TOPIC, TestNode, message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tcp_nodes_deliver_each_message_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    let c = TestNode::tcp(&dir.path().join("c"), &["--bootstrap", &a.addr(), "--bootstrap", &b.addr()]).await;
    for node in [&a, &b, &c] {
        node.subscribe(TOPIC).await;
    }
    // Publish once the mesh has formed: gossipsub does not replay messages to peers grafted later.
    a.wait_for_mesh(TOPIC, &[&b.peer_id, &c.peer_id]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id, &c.peer_id]).await;
    c.wait_for_mesh(TOPIC, &[&a.peer_id, &b.peer_id]).await;

    let (msg, payload) = message("hello mesh");
    b.publish_when_meshed(TOPIC, &msg).await;
    let settle = Duration::from_secs(2);
    assert_eq!(a.count_arrivals(TOPIC, &payload, settle).await, 1, "A gets it once");
    assert_eq!(c.count_arrivals(TOPIC, &payload, settle).await, 1, "C gets it once");
    assert_eq!(b.count_arrivals(TOPIC, &payload, settle).await, 1, "the publisher's own subscribers get it once");

    // The same message again, from its publisher and from another node: answered OK
    // (as nwaku), not redelivered.
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
    let (status, body) = b.post_json(&path, &msg).await;
    assert_eq!(status, 200, "duplicate publish: {body}");
    let (status, _) = c.post_json(&path, &msg).await;
    assert_eq!(status, 200, "C has seen it too");
    for node in [&a, &b, &c] {
        let again = node.collect(TOPIC, Duration::from_secs(2)).await;
        assert!(again.iter().all(|m| m["payload"] != payload), "redelivered at {}", node.peer_id);
    }
    assert!(a.metric("heliograph_relay_messages_total", TOPIC).await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_websocket_nodes_relay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::ws(&dir.path().join("a"), &[]).await;
    assert!(a.addr().contains("/ws/p2p/"), "{:?}", a.listen);
    let b = TestNode::ws(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    a.subscribe(TOPIC).await;
    b.subscribe(TOPIC).await;
    a.wait_for_mesh(TOPIC, &[&b.peer_id]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;

    let (msg, payload) = message("over websocket");
    a.publish_when_meshed(TOPIC, &msg).await;
    assert_eq!(b.count_arrivals(TOPIC, &payload, Duration::from_secs(2)).await, 1);
    let (_, peers) = b.get("/admin/v1/peers").await;
    assert!(peers.contains("/ws/p2p/"), "the connection runs over WebSocket: {peers}");
    assert!(peers.contains("/vac/waku/relay/2.0.0"), "identify lists the relay protocol: {peers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_peer_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = TestNode::tcp(dir.path(), &[]).await;
    let id = first.peer_id.clone();
    let status = first.stop().await;
    let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap_or_default();
    assert!(status.success(), "graceful shutdown exits 0, got {status}:\n{log}");
    let second = TestNode::tcp(dir.path(), &[]).await;
    assert_eq!(second.peer_id, id);
    assert!(second.log().contains("shutting down"), "SIGTERM was handled gracefully");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_different_clusters_do_not_mesh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let same = TestNode::tcp(&dir.path().join("same"), &["--bootstrap", &a.addr()]).await;
    let other = TestNode::tcp(&dir.path().join("other"), &["--cluster-id", "2", "--bootstrap", &a.addr()]).await;
    a.wait_for_peer(&same.peer_id).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    // Whichever side learns the other's cluster first disconnects.
    let detected = async || {
        a.metric("heliograph_wrong_cluster_peers_total", "").await
            + other.metric("heliograph_wrong_cluster_peers_total", "").await
    };
    while detected().await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the other cluster was never detected:\n{}", other.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any redial attempts play out: the peer stays out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!a.peer_ids().await.contains(&other.peer_id), "cluster 2 peer still connected to cluster 1");
    assert!(!other.peer_ids().await.contains(&a.peer_id));
    assert!(a.peer_ids().await.contains(&same.peer_id), "the same-cluster peer stays");
}

/// Whether `node`'s `/admin/v1/peers` lists `peer`.
async fn connected_to(node: &TestNode, peer: &str) -> bool {
    node.get("/admin/v1/peers").await.1.contains(peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_one_bootstrap_peer_find_each_other_by_peer_exchange() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = TestNode::tcp(&dir.path().join("seed"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &seed.addr()]).await;
    let c = TestNode::tcp(&dir.path().join("c"), &["--bootstrap", &seed.addr()]).await;
    // Only with the outbound target set to 0 does it stay a star around the seed.
    let lonely =
        TestNode::tcp(&dir.path().join("d"), &["--bootstrap", &seed.addr(), "--target-outbound-peers", "0"]).await;
    // Peer exchange polls every 10 s: the seed learns each record, then B and C learn the others'.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while !(connected_to(&b, &c.peer_id).await && connected_to(&b, &lonely.peer_id).await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B did not dial C and D, learned from the seed; B's peers: {}",
            b.get("/admin/v1/peers").await.1
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, peers) = lonely.get("/admin/v1/peers").await;
    let peers: serde_json::Value = serde_json::from_str(&peers).expect("peers JSON");
    let dialed: Vec<&str> = peers
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| p["direction"] == "outbound")
        .filter_map(|p| p["peerId"].as_str())
        .collect();
    assert_eq!(dialed, [seed.peer_id.as_str()], "with a target of 0, D dials only its bootstrap peer");
}
