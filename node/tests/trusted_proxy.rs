//! `--trusted-proxy`: the bridge's per-IP rate limit counts the client named
//! in `X-Forwarded-For` only when the connection comes from a trusted proxy.
//! Real `heliograph` processes and a real WebSocket client that sends the
//! header a reverse proxy would.

mod common;

use std::time::Duration;

use common::TestNode;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Requests per minute per IP on the nodes below.
const LIMIT: usize = 3;

/// Opens a bridge socket as a proxy forwarding for `client`, sends `LIMIT + 1`
/// `waku_info` requests and returns how many were refused by the rate limit.
async fn refused_for(node: &TestNode, client: &str) -> usize {
    let url = format!("ws://{}/", node.bridge.as_deref().expect("bridge on"));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("x-forwarded-for", format!("198.51.100.200, {client}").parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("websocket upgrade");
    let mut refused = 0;
    for id in 0..=LIMIT {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "waku_info", "params": {}});
        ws.send(Message::text(call.to_string())).await.expect("send");
        let reply: Value = loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a reply within 10 s")
                .expect("socket open")
                .expect("frame");
            if let Message::Text(text) = frame {
                break serde_json::from_str(text.as_str()).expect("JSON");
            }
        };
        if reply["error"]["code"] == -32029 {
            refused += 1;
        }
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_client_ips_count_only_behind_a_trusted_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = LIMIT.to_string();
    let behind_proxy = TestNode::tcp(
        &dir.path().join("trusting"),
        &["--bridge-rate-limit-per-ip", &limit, "--trusted-proxy", "127.0.0.1/32"],
    )
    .await;
    // Each forwarded client has its own budget: only its own (LIMIT + 1)th request is refused.
    assert_eq!(refused_for(&behind_proxy, "203.0.113.1").await, 1, "the 4th request of one client is refused");
    assert_eq!(
        refused_for(&behind_proxy, "203.0.113.2").await,
        1,
        "another client behind the proxy has its own budget"
    );

    // Without --trusted-proxy the header is the peer's claim and is ignored: one budget for 127.0.0.1.
    let direct = TestNode::tcp(&dir.path().join("direct"), &["--bridge-rate-limit-per-ip", &limit]).await;
    assert_eq!(refused_for(&direct, "203.0.113.1").await, 1);
    assert_eq!(refused_for(&direct, "203.0.113.2").await, LIMIT + 1, "a forged header does not buy a new budget");
}
