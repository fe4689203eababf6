//! Hostile clients against real `heliograph` processes over real sockets
//! (issue 18: access, topics, timestamps, slowloris): a WalletConnect JWT is
//! no operator grant, bridge clients cannot exhaust the node's topics, message
//! timestamps far from now are refused on every ingress, and half-open
//! connections are closed while normal clients are still served.

mod common;

use std::time::Duration;

use common::TestNode;
use futures::{SinkExt, StreamExt};
use heliograph_node::bridge::walletconnect::auth;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn now_secs() -> u64 {
    heliograph_node::waku::time::now_secs()
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.expect("websocket upgrade").0
}

/// Sends one request and returns its response, skipping pushes and pings.
async fn call(ws: &mut Socket, id: u64, method: &str, params: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    ws.send(Message::text(request.to_string())).await.expect("send");
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a reply within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let reply: Value = serde_json::from_str(text.as_str()).expect("JSON");
            if reply["id"] == json!(id) {
                return reply;
            }
        }
    }
}

fn wc_url(node: &TestNode, key: &libp2p::identity::ed25519::Keypair) -> String {
    let now = now_secs();
    format!("ws://{}/?auth={}", node.bridge.as_deref().expect("bridge"), auth::sign(key, now, now + 3600))
}

/// Issue 18.1: with `--bridge-require-token`, a self-signed WalletConnect JWT
/// admits the relay's irn_* methods but no waku_* method; a token does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walletconnect_jwt_is_no_operator_token_for_waku_methods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &["--bridge-require-token"]).await;
    let key = libp2p::identity::ed25519::Keypair::generate();
    let mut jwt_only = connect(&wc_url(&node, &key)).await;
    let content = "/hostile/1/chat/proto";
    let message = json!({"payload": "AQI=", "contentTopic": content});
    for (id, (method, params)) in [
        ("waku_info", json!({})),
        ("waku_subscribe", json!({"contentTopics": [content]})),
        ("waku_publish", json!({"message": message})),
        ("waku_history", json!({"contentTopics": [content]})),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = call(&mut jwt_only, id as u64, method, params).await;
        assert_eq!(reply["error"]["code"], -32001, "{method} refused: {reply}");
        let text = reply["error"]["message"].as_str().expect("message");
        assert!(text.contains("token"), "the error says what is missing: {text}");
    }
    // The same connection keeps its WalletConnect relay methods.
    let topic = "7a".repeat(32);
    let reply = call(&mut jwt_only, 10, "irn_subscribe", json!({"topic": topic})).await;
    assert!(reply["result"].is_string(), "irn_* still served to JWT clients: {reply}");
    let reply =
        call(&mut jwt_only, 11, "irn_publish", json!({"topic": topic, "message": "AAEC", "ttl": 300, "tag": 1100}))
            .await;
    assert_eq!(reply["result"], true, "{reply}");
    assert_eq!(node.metric("heliograph_relay_messages_total", "").await, 1.0, "only the irn_publish went out");

    // A JWT and a token together: the token is the grant.
    let (status, body) = node.post_json("/bridge/v1/tokens", &json!({"ttlSeconds": 60})).await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).expect("JSON")["token"].as_str().expect("token").to_owned();
    let mut granted = connect(&format!("{}&token={token}", wc_url(&node, &key))).await;
    let reply = call(&mut granted, 1, "waku_subscribe", json!({"contentTopics": [content]})).await;
    assert!(reply["result"].is_string(), "{reply}");
    let reply = call(&mut granted, 2, "waku_publish", json!({"message": message})).await;
    assert!(reply["result"]["hash"].is_string(), "{reply}");
}
