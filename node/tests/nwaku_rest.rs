//! nwaku's REST API as the Waku interop suite drives it (a smoke of each area the
//! full suite covers, see e2e/nwaku-interop): real `heliograph` processes, one a
//! service node and one using it through `--filter-node`, `--lightpush-node` and
//! `--store-node`, called on the routes, bodies and answers the suite uses.

mod common;

use std::time::Duration;

use common::{TOPIC, TestNode};
use serde_json::{Value, json};

const CONTENT: &str = "/heliograph/1/test/proto";

fn relay_path(topic: &str) -> String {
    format!("/relay/v1/messages/{}", urlencoding::encode(topic))
}

async fn send(node: &TestNode, method: reqwest::Method, path: &str, body: &Value) -> (u16, String) {
    let r = node.http.request(method, node.url(path)).json(body).send().await.expect("request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// A service node and a client node using it for filter, lightpush and store.
async fn pair(dir: &std::path::Path) -> (TestNode, TestNode) {
    let service = TestNode::tcp(&dir.join("service"), &[]).await;
    let addr = service.addr();
    let client = TestNode::tcp(
        &dir.join("client"),
        &["--bootstrap", &addr, "--filter-node", &addr, "--lightpush-node", &addr, "--store-node", &addr, "--no-store"],
    )
    .await;
    service.wait_for_mesh(TOPIC, &[&client.peer_id]).await;
    client.wait_for_mesh(TOPIC, &[&service.peer_id]).await;
    (service, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_lightpush_store_and_relay_routes_answer_as_nwaku() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, client) = pair(dir.path()).await;
    service.subscribe(TOPIC).await;

    // Filter: subscribe through the service node, receive its pushes, ping, unsubscribe.
    let sub = json!({"requestId": "r1", "pubsubTopic": TOPIC, "contentFilters": [CONTENT]});
    let (status, body) = client.post_json("/filter/v2/subscriptions", &sub).await;
    assert_eq!((status, body.as_str()), (200, r#"{"requestId":"r1","statusDesc":"OK"}"#));
    let (status, body) = client.get("/filter/v2/subscriptions/p1").await;
    assert_eq!((status, body.as_str()), (200, r#"{"requestId":"p1","statusDesc":"OK"}"#));
    let (msg, payload) = common::message("pushed by filter");
    let (status, body) = service.post_json(&relay_path(TOPIC), &msg).await;
    assert_eq!(status, 200, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let pushed = loop {
        let (status, body) = client.get(&format!("/filter/v2/messages/{}", urlencoding::encode(CONTENT))).await;
        assert_eq!(status, 200, "{body}");
        let got: Vec<Value> = serde_json::from_str(&body).expect("list");
        if !got.is_empty() || tokio::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0]["payload"], payload.as_str());
    let (status, body) = client.get("/filter/v2/messages/%2Fnot%2F1%2Fsubscribed%2Fproto").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = client.post_json("/filter/v2/subscriptions", &json!({"requestId": 1})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""requestId":"unknown""#), "{body}");
    let (status, body) = send(&client, reqwest::Method::DELETE, "/filter/v2/subscriptions", &sub).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = client.get("/filter/v2/subscriptions/p2").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("peer has no subscriptions"), "{body}");
    let all = json!({"requestId": "r2"});
    let (status, body) = send(&client, reqwest::Method::DELETE, "/filter/v2/subscriptions/all", &all).await;
    assert_eq!(status, 404, "nothing left to unsubscribe: {body}");
    // Without a filter node the routes say so.
    let (status, body) = service.post_json("/filter/v2/subscriptions", &sub).await;
    assert_eq!(status, 503, "{body}");

    // Lightpush v1 (legacy) through the service node; the service relays it back to us.
    let (msg, payload) = common::message("lightpushed v1");
    let (status, body) =
        client.post_json("/lightpush/v1/message", &json!({"pubsubTopic": TOPIC, "message": msg})).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(service.count_arrivals(TOPIC, &payload, Duration::from_millis(200)).await, 1);
    let bad = json!({"pubsubTopic": TOPIC, "message": {"contentTopic": CONTENT, "payload": ""}});
    let (status, body) = client.post_json("/lightpush/v1/message", &bad).await;
    assert_eq!(status, 400, "{body}");

    // Store: the client has no store and asks its store node; booleans as nwaku parses them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let page = loop {
        let query = format!("/store/v3/messages?includeData=True&contentTopics={}", urlencoding::encode(CONTENT));
        let (status, body) = client.get(&query).await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).expect("json");
        if page["messages"].as_array().is_some_and(|m| m.len() >= 2) || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(page["statusCode"], 200, "{page}");
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(2), "{page}");
    assert!(page["messages"][0]["message"]["payload"].is_string(), "includeData=True: {page}");
    let (status, body) = client.get("/store/v3/messages?hashes=test").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("t is not a hexadecimal character"), "{body}");
    let (status, body) = service.get(&format!("/store/v3/messages?cursor=0x{}", "ab".repeat(32))).await;
    assert!(status >= 400 && body.contains("cursor not found"), "{status} {body}");

    // Relay: a repeated publish is OK, an empty list is OK, a null timestamp is not,
    // and after unsubscribing a publish is refused.
    let (msg, _) = common::message("published twice");
    assert_eq!(service.post_json(&relay_path(TOPIC), &msg).await.0, 200);
    assert_eq!(service.post_json(&relay_path(TOPIC), &msg).await.0, 200, "duplicate");
    assert_eq!(service.post_json("/relay/v1/subscriptions", &json!([])).await.0, 200);
    let null_ts = json!({"payload": "AQID", "contentTopic": CONTENT, "timestamp": null});
    assert_eq!(service.post_json(&relay_path(TOPIC), &null_ts).await.0, 400);
    let long = json!({"payload": "AQID", "contentTopic": "x".repeat(1000)});
    assert_eq!(service.post_json(&relay_path(TOPIC), &long).await.0, 200, "nwaku takes long content topics");
    let (status, body) = send(&service, reqwest::Method::DELETE, "/relay/v1/subscriptions", &json!([TOPIC])).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = service.post_json(&relay_path(TOPIC), &msg).await;
    assert_eq!(status, 400, "not subscribed any more: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightpush_to_a_node_without_lightpush_is_a_dial_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = TestNode::tcp(&dir.path().join("service"), &["--no-lightpush"]).await;
    let client = TestNode::tcp(&dir.path().join("client"), &["--lightpush-node", &service.addr()]).await;
    let (msg, _) = common::message("refused");
    let (status, body) =
        client.post_json("/lightpush/v1/message", &json!({"pubsubTopic": TOPIC, "message": msg})).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Failed to request a message push: dial_failure"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_without_relay_peers_is_503_unless_configured_as_nwaku() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alone = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let (msg, _) = common::message("nobody listens");
    let (status, body) = alone.post_json(&relay_path(TOPIC), &msg).await;
    assert_eq!(status, 503, "{body}");
    let nwaku_like = TestNode::tcp(&dir.path().join("b"), &["--rest-publish-without-peers"]).await;
    let (status, body) = nwaku_like.post_json(&relay_path(TOPIC), &msg).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = nwaku_like.post_json(&relay_path(TOPIC), &msg).await;
    assert_eq!(status, 200, "a repeat is OK too: {body}");
    // Delivered once to its own consumers: the REST cache of the configured topic, and the store.
    assert_eq!(nwaku_like.take(TOPIC).await.len(), 1);
    let (_, body) = nwaku_like.get("/store/v3/messages?pubsubTopic=%2Fwaku%2F2%2Frs%2F1%2F0").await;
    assert!(body.contains("messageHash"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_added_by_rest_is_redialed_after_it_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a_dir = dir.path().join("a");
    let a = TestNode::tcp(&a_dir, &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &[]).await;
    let a_addr = a.addr();
    let (status, body) = b.post_json("/admin/v1/peers", &json!([a_addr])).await;
    assert_eq!(status, 200, "{body}");
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;
    let peer = a.peer_id.clone();
    a.stop().await;
    // The same node again: same key (data dir) and port, as a restarted container.
    let listen = a_addr.split("/p2p/").next().expect("addr").to_owned();
    let a = TestNode::start(&a_dir, &["--listen", &listen]).await;
    assert_eq!(a.peer_id, peer);
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;
    let (msg, payload) = common::message("after the restart");
    b.publish_when_meshed(TOPIC, &msg).await;
    assert_eq!(a.count_arrivals(TOPIC, &payload, Duration::from_millis(200)).await, 1);
}
