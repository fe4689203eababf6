//! Hostile clients against real `heliograph` processes over real sockets
//! (issue 18: access, topics, timestamps, slowloris): a WalletConnect JWT is
//! no operator grant, bridge clients cannot exhaust the node's topics, message
//! timestamps far from now are refused on every ingress, and half-open
//! connections are closed while normal clients are still served.

mod common;

use std::time::Duration;

use common::TestNode;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

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

fn wc_url(node: &TestNode, key: &ed25519_dalek::SigningKey) -> String {
    let bridge = node.bridge.as_deref().expect("bridge");
    format!("ws://{bridge}/?auth={}", common::wc_jwt(key, bridge))
}

/// Issue 18.1: with `--bridge-require-token`, a self-signed WalletConnect JWT
/// admits the relay's irn_* methods but no waku_* method; a token does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walletconnect_jwt_is_no_operator_token_for_waku_methods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &["--bridge-require-token"]).await;
    let key = common::wc_key();
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

fn now_ns() -> i64 {
    heliograph_node::waku::time::now_ns()
}

/// A message JSON at `timestamp`, with a unique payload; returns it and the payload.
fn at(text: &str, timestamp: i64) -> (Value, String) {
    let (mut message, payload) = common::message(text);
    message["timestamp"] = json!(timestamp);
    (message, payload)
}

/// Issue 18.10: a timestamp far from now (`i64::MAX`, an hour off) is refused with a
/// clear error on REST publish, REST lightpush and bridge `waku_publish`, and
/// dropped, not forwarded, from a peer, which stays connected and still delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_far_from_now_are_refused_on_every_ingress() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The sender's window is wide, so it relays what the receiver must refuse.
    let sender = TestNode::tcp(&dir.path().join("a"), &["--max-timestamp-drift", "1000years"]).await;
    let receiver = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &sender.addr()]).await;
    let topic = common::TOPIC;
    sender.wait_for_mesh(topic, &[&receiver.peer_id]).await;
    receiver.wait_for_mesh(topic, &[&sender.peer_id]).await;
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(topic));
    let hour = 3_600_000_000_000;

    for (name, timestamp) in [("max", i64::MAX), ("ahead", now_ns() + hour), ("behind", now_ns() - hour), ("one", 1)] {
        let (message, _) = at(name, timestamp);
        let (status, body) = receiver.post_json(&path, &message).await;
        assert_eq!(status, 400, "REST publish of {name}: {body}");
        assert!(body.contains("timestamp") && body.contains("20 s"), "{body}");
        let (status, body) =
            receiver.post_json("/lightpush/v3/message", &json!({"pubsubTopic": topic, "message": message})).await;
        assert_eq!(status, 400, "REST lightpush of {name}: {body}");
        assert!(body.contains("timestamp"), "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).expect("JSON")["statusCode"], 420, "{body}");
    }
    let mut ws = connect(&format!("ws://{}/", receiver.bridge.as_deref().expect("bridge"))).await;
    let (message, _) = at("bridge", i64::MAX);
    let reply = call(&mut ws, 1, "waku_publish", json!({"pubsubTopic": topic, "message": message})).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("timestamp")), "{reply}");
    let (bridge_now, bridge_payload) = at("bridge now", now_ns());
    let reply = call(&mut ws, 2, "waku_publish", json!({"pubsubTopic": topic, "message": bridge_now})).await;
    assert!(reply["result"]["hash"].is_string(), "a timestamp of now is published: {reply}");
    // It reaches the receiver's relay cache asynchronously: drain the cache up to it, so
    // that only the peer's messages are counted below.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !receiver.take(topic).await.iter().any(|m| m["payload"] == bridge_payload) {
        assert!(tokio::time::Instant::now() < deadline, "the bridge's message never reached the relay cache");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // From a peer: the far-off ones are dropped at the receiver; the good one after them arrives.
    for (name, timestamp) in [("peer max", i64::MAX), ("peer old", now_ns() - hour)] {
        sender.publish_when_meshed(topic, &at(name, timestamp).0).await;
    }
    let (good, payload) = at("peer now", now_ns());
    sender.publish_when_meshed(topic, &good).await;
    let mut cached = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !cached.iter().any(|m: &Value| m["payload"] == payload) {
        assert!(tokio::time::Instant::now() < deadline, "the good message never arrived");
        cached.extend(receiver.take(topic).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cached.len(), 1, "only the good message got through: {cached:?}");
    let dropped = receiver.metric("heliograph_relay_dropped_messages_total", "timestamp_out_of_window").await;
    assert!(dropped >= 2.0, "the peer's far-off messages are counted as dropped: {dropped}");
    assert!(receiver.peer_ids().await.contains(&sender.peer_id), "an honest forwarder is not disconnected");
}

/// A TCP connection to `addr` from the local address `from` (any 127/8 address is loopback on Linux).
async fn tcp_from(from: &str, addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{from}:0").parse().expect("local addr")).expect("bind");
    socket.connect(addr.parse().expect("addr")).await.expect("connect")
}

/// Reads until the server closes `stream`, within `within`; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open for {within:?}");
    String::from_utf8_lossy(&got).into_owned()
}

/// Opens `count` connections from 127.0.0.1 that send `partial` (an unfinished request head) and stall.
async fn half_open(addr: &str, partial: &str, count: usize) -> Vec<TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = tcp_from("127.0.0.1", addr).await;
        stream.write_all(partial.as_bytes()).await.expect("write");
        held.push(stream);
    }
    held
}

/// Issue 18.12: half-open connections (an unfinished request head, or nothing at
/// all) are closed after the header timeout on REST and on the bridge; one IP gets
/// at most its cap of connections (then 503), while a client from another address
/// is served all along and the capped address is served again once they close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_capped_per_ip_while_others_are_served() {
    const CAP: usize = 6;
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = CAP.to_string();
    let node = TestNode::tcp(
        dir.path(),
        &[
            "--rest-header-timeout",
            "1s",
            "--rest-max-connections-per-ip",
            &cap,
            "--bridge-handshake-timeout",
            "1s",
            "--bridge-max-connections-per-ip",
            &cap,
        ],
    )
    .await;
    let rest = node.rest.trim_start_matches("http://").to_owned();
    let bridge = node.bridge.clone().expect("bridge");
    let other =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().ok()).build().expect("client");

    for (name, addr, partial) in [
        ("REST", &rest, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "),
        ("bridge", &bridge, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"),
    ] {
        let started = tokio::time::Instant::now();
        let mut held = half_open(addr, partial, CAP - 1).await;
        held.push(tcp_from("127.0.0.1", addr).await); // one that sends nothing at all
        // Over the cap from this address: refused at once with a 503 saying why.
        let mut over = tcp_from("127.0.0.1", addr).await;
        let answer = read_until_closed(&mut over, Duration::from_secs(2)).await;
        assert!(answer.starts_with("HTTP/1.1 503") && answer.contains("too many connections"), "{name}: {answer}");
        // Another address is served meanwhile.
        if name == "REST" {
            let health = other.get(format!("http://{rest}/health")).send().await.expect("served");
            assert_eq!(health.status(), 200, "{name}: another address is served while one is capped");
        } else {
            let stream = tcp_from("127.0.0.2", &bridge).await;
            let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{bridge}/"), stream)
                .await
                .expect("upgrade from another address");
            let info = call_ws(&mut ws, "waku_info").await;
            assert!(info["result"]["peerId"].is_string(), "{name}: {info}");
        }
        // Every half-open connection is closed by the header timeout, none answered.
        for stream in &mut held {
            let answer = read_until_closed(stream, Duration::from_secs(5)).await;
            assert!(
                !answer.contains("200 OK") && !answer.contains("101"),
                "{name}: a half-open request was answered: {answer}"
            );
        }
        assert!(started.elapsed() >= Duration::from_millis(900), "{name}: closed before the timeout");
        drop(held);
    }
    // Their places are given back: the capped address is served again, on both listeners.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = node.get("/health").await;
    assert_eq!(status, 200);
    let mut sockets = Vec::new();
    for _ in 0..CAP {
        sockets.push(connect(&format!("ws://{bridge}/")).await);
    }
    // Upgraded sockets count too: one more from this address is refused, until one closes.
    match tokio_tungstenite::connect_async(format!("ws://{bridge}/")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("a socket over the per-IP cap was accepted: {:?}", other.map(|_| ())),
    }
    let mut last = sockets.pop().expect("a socket");
    last.close(None).await.expect("close");
    drop(last);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(format!("ws://{bridge}/")).await {
            break ws;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed socket's place never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(call_ws(&mut again, "waku_info").await["result"]["peerId"].is_string());
}

/// One request on a socket of any stream type.
async fn call_ws<S>(ws: &mut WebSocketStream<S>, method: &str) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}});
    ws.send(Message::text(request.to_string())).await.expect("send");
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a reply within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

/// The pubsub topics the node relays, per `GET /debug/v1/info`.
async fn relayed(node: &TestNode) -> Vec<String> {
    let (status, body) = node.get("/debug/v1/info").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(serde_json::from_str::<Value>(&body).expect("JSON")["pubsubTopics"].clone()).expect("list")
}

/// Waits until `topic` is relayed (`true`) or not (`false`).
async fn wait_relayed(node: &TestNode, topic: &str, want: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while relayed(node).await.iter().any(|t| t == topic) != want {
        assert!(tokio::time::Instant::now() < deadline, "{topic} relayed should be {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn subscribe_on(ws: &mut Socket, id: u64, pubsub: &str) -> Value {
    call(ws, id, "waku_subscribe", json!({"contentTopics": ["/hostile/1/chat/proto"], "pubsubTopic": pubsub})).await
}

/// Issue 18.4: bridge clients may not make the node join any topic: by default only
/// its own topics and its cluster's shards are open, the operator can narrow that to
/// a list, and topics joined for bridge clients are capped per connection and in
/// total (then error -32005), left when their connections close, and never in the
/// way of the operator's own REST subscriptions. Topic-name bytes are capped too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_clients_cannot_exhaust_or_pick_the_nodes_pubsub_topics() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Defaults: other clusters and named topics are closed; a shard the node does not relay is opened.
    let node = TestNode::tcp(&dir.path().join("default"), &["--shard", "0"]).await;
    let mut ws = connect(&format!("ws://{}/", node.bridge.as_deref().expect("bridge"))).await;
    for (id, topic) in ["/waku/2/rs/5/0", "/waku/2/junk", "/waku/2/rs/1/8"].into_iter().enumerate() {
        let reply = subscribe_on(&mut ws, id as u64, topic).await;
        assert_eq!(reply["error"]["code"], -32001, "{topic}: {reply}");
        assert!(
            reply["error"]["message"].as_str().is_some_and(|m| m.contains("not open to bridge clients")),
            "{reply}"
        );
    }
    let (message, _) = common::message("to a closed topic");
    let reply = call(&mut ws, 9, "waku_publish", json!({"pubsubTopic": "/waku/2/junk", "message": message})).await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    assert!(subscribe_on(&mut ws, 10, "/waku/2/rs/1/3").await["result"].is_string());
    wait_relayed(&node, "/waku/2/rs/1/3", true).await;
    drop(ws);
    wait_relayed(&node, "/waku/2/rs/1/3", false).await;
    assert!(relayed(&node).await.iter().any(|t| t == "/waku/2/rs/1/0"), "the node's own topic stays");
    node.stop().await;

    // Any topic opened, with small caps: per connection, in total, and in bytes.
    let node = TestNode::tcp(
        &dir.path().join("capped"),
        &[
            "--bridge-pubsub-topic",
            "*",
            "--bridge-max-pubsub-topics-per-connection",
            "2",
            "--bridge-max-pubsub-topics",
            "3",
            "--bridge-max-topic-bytes-per-connection",
            "200",
        ],
    )
    .await;
    let url = format!("ws://{}/", node.bridge.as_deref().expect("bridge"));
    let (mut a, mut b, mut c) = (connect(&url).await, connect(&url).await, connect(&url).await);
    assert!(subscribe_on(&mut a, 1, "/waku/2/junk-1").await["result"].is_string());
    assert!(subscribe_on(&mut a, 2, "/waku/2/junk-2").await["result"].is_string());
    let reply = subscribe_on(&mut a, 3, "/waku/2/junk-3").await;
    assert_eq!(reply["error"]["code"], -32005, "{reply}");
    assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("max_pubsub_topics_per_connection")));
    assert!(subscribe_on(&mut b, 1, "/waku/2/junk-1").await["result"].is_string(), "a topic already held is shared");
    assert!(subscribe_on(&mut b, 2, "/waku/2/junk-3").await["result"].is_string());
    let reply = subscribe_on(&mut c, 1, "/waku/2/junk-4").await;
    assert_eq!(reply["error"]["code"], -32005, "{reply}");
    assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("bridge.max_pubsub_topics)")), "{reply}");
    assert!(subscribe_on(&mut c, 2, "/waku/2/rs/1/0").await["result"].is_string(), "the node's own topics stay open");

    // The operator is not in the way of the caps: its REST subscriptions work, and a
    // topic it holds stays when the bridge clients that also used it leave.
    node.subscribe("/waku/2/operator-topic").await;
    node.subscribe("/waku/2/junk-3").await;
    wait_relayed(&node, "/waku/2/operator-topic", true).await;
    b.close(None).await.expect("close");
    drop(b);
    // junk-1 is still used by the first connection; junk-3 is the operator's now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let topics = relayed(&node).await;
    assert!(topics.iter().any(|t| t == "/waku/2/junk-1") && topics.iter().any(|t| t == "/waku/2/junk-3"), "{topics:?}");
    a.close(None).await.expect("close");
    drop(a);
    wait_relayed(&node, "/waku/2/junk-1", false).await;
    wait_relayed(&node, "/waku/2/junk-2", false).await;
    assert!(relayed(&node).await.iter().any(|t| t == "/waku/2/junk-3"), "the operator's topic stays");
    assert!(subscribe_on(&mut c, 3, "/waku/2/junk-4").await["result"].is_string(), "room again after they left");

    // Bytes of topic names: 200 per connection here.
    let mut d = connect(&url).await;
    let long: Vec<String> = (0..3).map(|i| format!("/hostile/1/{}{i}/proto", "x".repeat(60))).collect();
    let reply = call(&mut d, 1, "waku_subscribe", json!({"contentTopics": long})).await;
    assert_eq!(reply["error"]["code"], -32005, "{reply}");
    assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("bytes of topic names")), "{reply}");
    let reply = call(&mut d, 2, "waku_subscribe", json!({"contentTopics": &long[..2]})).await;
    let sub = reply["result"].as_str().expect("two fit").to_owned();
    assert_eq!(call(&mut d, 3, "waku_unsubscribe", json!({"subscription": sub})).await["result"], true);
    let reply = call(&mut d, 4, "waku_subscribe", json!({"contentTopics": &long[1..]})).await;
    assert!(reply["result"].is_string(), "an unsubscribe gives its bytes back: {reply}");
}

/// Issue 18.4: an operator's list is the only topics open to bridge clients, even of the node's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_list_is_all_bridge_clients_may_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node =
        TestNode::tcp(dir.path(), &["--bridge-pubsub-topic", "/waku/2/rs/1/0", "--rest-publish-without-peers"]).await;
    let mut ws = connect(&format!("ws://{}/", node.bridge.as_deref().expect("bridge"))).await;
    let reply = subscribe_on(&mut ws, 1, "/waku/2/rs/1/1").await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    let (message, _) = common::message("listed");
    let reply = call(&mut ws, 2, "waku_publish", json!({"pubsubTopic": "/waku/2/rs/1/1", "message": message})).await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    let reply = call(
        &mut ws,
        3,
        "waku_history",
        json!({"contentTopics": ["/hostile/1/chat/proto"], "pubsubTopic": "/waku/2/rs/1/1"}),
    )
    .await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    assert!(subscribe_on(&mut ws, 4, "/waku/2/rs/1/0").await["result"].is_string());
    let reply = call(&mut ws, 5, "waku_publish", json!({"pubsubTopic": "/waku/2/rs/1/0", "message": message})).await;
    assert!(reply["result"]["hash"].is_string(), "{reply}");
    // The operator's REST API is not bound by the bridge's list.
    let path = format!("/relay/v1/messages/{}", urlencoding::encode("/waku/2/rs/1/1"));
    let (status, body) = node.post_json(&path, &common::message("operator").0).await;
    assert_eq!(status, 200, "{body}");
}
