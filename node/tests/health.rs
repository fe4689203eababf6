//! `/health`, `/livez` and `/readyz` of real `heliograph` processes: a node
//! whose bootstrap peer cannot be reached stays not ready until a relay peer
//! connects; a node whose store failed to open is not ready; liveness holds
//! throughout.

mod common;

use std::time::Duration;

use common::TestNode;
use serde_json::{Value, json};

async fn get_json(node: &TestNode, path: &str) -> (u16, Value) {
    let (status, body) = node.get(path).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} answered non-JSON {body}: {e}")))
}

fn protocol<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["protocolsHealth"]
        .as_array()
        .expect("protocolsHealth")
        .iter()
        .find_map(|p| p.get(name))
        .unwrap_or_else(|| panic!("{name} missing in {health}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_with_an_unreachable_bootstrap_ready_once_a_relay_peer_connects() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A bootstrap address nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let nobody = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
    let unreachable = format!("/ip4/127.0.0.1/tcp/{closed}/p2p/{nobody}");
    let node = TestNode::tcp(&dir.path().join("a"), &["--bootstrap", &unreachable]).await;

    assert_eq!(get_json(&node, "/livez").await, (200, json!({"alive": true})));
    // Not ready, and it stays so while the bootstrap peer is unreachable.
    for _ in 0..5 {
        let (status, ready) = get_json(&node, "/readyz").await;
        assert_eq!(status, 503, "{ready}");
        assert!(ready["reasons"][0].as_str().expect("reason").contains("no relay peer"), "{ready}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let (status, health) = get_json(&node, "/health").await;
    assert_eq!((status, health["nodeHealth"].as_str()), (503, Some("NOT_READY")), "{health}");
    assert_eq!(protocol(&health, "Relay"), "NOT_READY");
    assert_eq!(protocol(&health, "Store"), "READY");
    assert_eq!(protocol(&health, "Rln Relay"), "NOT_MOUNTED");

    // A lone node without bootstrap peers is ready at once.
    let peer = TestNode::tcp(&dir.path().join("b"), &[]).await;
    assert_eq!(get_json(&peer, "/readyz").await.0, 200);

    // Once a relay peer is connected, the first node turns ready.
    let (status, body) = node.post_json("/admin/v1/peers", &json!([peer.addr()])).await;
    assert_eq!(status, 200, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, ready) = get_json(&node, "/readyz").await;
        if status == 200 {
            assert_eq!(ready, json!({"ready": true, "reasons": []}));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready after a peer connected: {ready}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, health) = get_json(&node, "/health").await;
    assert_eq!((status, health["nodeHealth"].as_str()), (200, Some("READY")), "{health}");
    assert_eq!(protocol(&health, "Relay"), "READY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_did_not_open_is_not_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The store's folder is a regular file: RocksDB cannot open it; the node still relays.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").expect("write");
    let config = dir.path().join("heliograph.toml");
    std::fs::write(&config, format!("[store]\npath = {:?}\n", blocker.to_str().expect("utf8"))).expect("config");
    let node = TestNode::tcp(&dir.path().join("node"), &["--config", config.to_str().expect("utf8")]).await;

    assert_eq!(get_json(&node, "/livez").await.0, 200);
    let (status, ready) = get_json(&node, "/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(ready["reasons"][0].as_str().expect("reason").contains("store"), "{ready}");
    let (status, health) = get_json(&node, "/health").await;
    assert_eq!((status, health["nodeHealth"].as_str()), (503, Some("NOT_READY")), "{health}");
    assert_eq!(protocol(&health, "Store"), "NOT_READY");
    assert!(
        health["protocolsHealth"]
            .as_array()
            .expect("list")
            .iter()
            .any(|p| p.get("Store").is_some() && p["desc"].is_string()),
        "{health}"
    );
}
