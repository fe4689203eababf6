//! The WebSocket bridge with a real WebSocket client (tokio-tungstenite)
//! against real `heliograph` processes: waku_* across two nodes, local
//! delivery on one node, and bad input, limits and slow consumers.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::TestNode;
use common::ws::Client;
use ed25519_dalek::SigningKey;
use futures::{SinkExt, StreamExt};
use heliograph_node::waku::ContentTopic;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

const CONTENT: &str = "/heliograph-test/1/chat/proto";

fn message(text: &str) -> Value {
    json!({"payload": STANDARD.encode(text), "contentTopic": CONTENT})
}

fn shard() -> String {
    CONTENT.parse::<ContentTopic>().expect("valid").pubsub_topic(1, 8).expect("shard").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waku_methods_subscribe_publish_and_history_across_two_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestNode::tcp(&dir.path().join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    a.wait_for_mesh(&shard(), &[&b.peer_id]).await;
    b.wait_for_mesh(&shard(), &[&a.peer_id]).await;

    let mut listener = Client::waku(&b).await;
    let sub = listener.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
    let sub_id = sub["result"].as_str().expect("subscription id").to_owned();
    let mut local = Client::waku(&a).await;
    local.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;

    let mut publisher = Client::waku(&a).await;
    let mut hashes = Vec::new();
    for text in ["first", "second", "third"] {
        let published = publisher.call("waku_publish", json!({"message": message(text)})).await;
        assert_eq!(published["result"]["relayPeers"], 1, "{published}");
        hashes.push(published["result"]["hash"].as_str().expect("hash").to_owned());
    }
    for (text, hash) in ["first", "second", "third"].iter().zip(&hashes) {
        let push = listener.push().await;
        assert_eq!(push["method"], "waku_subscription");
        assert_eq!(push["params"]["subscription"], sub_id.as_str());
        assert_eq!(push["params"]["result"]["hash"], hash.as_str(), "node B got it through the mesh");
        assert_eq!(push["params"]["result"]["pubsubTopic"], shard());
        assert_eq!(push["params"]["result"]["message"]["payload"], STANDARD.encode(text));
        let own = local.push().await;
        assert_eq!(own["params"]["result"]["hash"], hash.as_str(), "subscribers on the publishing node get it too");
    }

    // History on node B (its store got the messages from the mesh), two pages.
    // Wait until the store has all three (it ingests asynchronously), then page by two.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = listener.call("waku_history", json!({"contentTopics": [CONTENT], "pageSize": 10})).await;
        if page["result"]["messages"].as_array().is_some_and(|m| m.len() == 3) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "history never filled: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_page = listener.call("waku_history", json!({"contentTopics": [CONTENT], "pageSize": 2})).await;
    let cursor = first_page["result"]["cursor"].as_str().expect("cursor").to_owned();
    let second =
        listener.call("waku_history", json!({"contentTopics": [CONTENT], "pageSize": 2, "cursor": cursor})).await;
    let got: Vec<&str> = first_page["result"]["messages"]
        .as_array()
        .into_iter()
        .chain(second["result"]["messages"].as_array())
        .flatten()
        .map(|m| m["hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(got, hashes.iter().map(String::as_str).collect::<Vec<_>>(), "all three, in order");

    assert_eq!(listener.call("waku_unsubscribe", json!({"subscription": sub_id})).await["result"], true);
    let info = listener.call("waku_info", json!({})).await;
    assert_eq!(info["result"]["peerId"], b.peer_id.as_str());
    assert_eq!(info["result"]["peers"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_node_delivers_publishes_to_its_own_subscribers_with_zero_relay_peers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let mut subscriber = Client::waku(&node).await;
    subscriber.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
    let mut publisher = Client::waku(&node).await;
    let published = publisher.call("waku_publish", json!({"message": message("alone")})).await;
    assert_eq!(published["result"]["relayPeers"], 0, "{published}");
    let push = subscriber.push().await;
    assert_eq!(push["params"]["result"]["hash"], published["result"]["hash"]);
    assert_eq!(push["params"]["result"]["message"]["payload"], STANDARD.encode("alone"));
    assert!(node.metric("heliograph_bridge_messages_pushed", "").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_publish_is_already_in_history() {
    // The acknowledgement comes after the store write (fsync'd in strict mode), not
    // through the relay's broadcast that the store ingests the mesh's traffic from.
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &["--store-durability", "strict"]).await;
    let mut client = Client::waku(&node).await;
    let mut hashes = Vec::new();
    for i in 0..20 {
        let published = client.call("waku_publish", json!({"message": message(&format!("durable {i}"))})).await;
        hashes.push(published["result"]["hash"].as_str().expect("hash").to_owned());
        let page = client.call("waku_history", json!({"contentTopics": [CONTENT], "pageSize": 100})).await;
        let stored: Vec<&str> = page["result"]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["hash"].as_str().expect("hash"))
            .collect();
        assert_eq!(stored, hashes, "after publish {i}: {page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let bridge = node.bridge.clone().expect("bridge");
    let mut client = Client::waku(&node).await;

    client.send_text("{not json".into()).await;
    let reply = client.frame().await;
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    let reply = client.call("eth_chainId", json!({})).await;
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    let reply = client.call("waku_subscribe", json!({"contentTopics": "not a list"})).await;
    assert_eq!(reply["error"]["code"], -32602);
    assert!(reply["error"]["message"].as_str().expect("message").contains("contentTopics must be an array"));
    let reply = client.call("waku_publish", json!({"message": {"payload": "!!", "contentTopic": CONTENT}})).await;
    assert!(reply["error"]["message"].as_str().expect("message").contains("base64"), "{reply}");
    let reply = client.call("irn_subscribe", json!({"topic": "00".repeat(32)})).await;
    assert_eq!(reply["error"]["code"], -32001, "irn_* without an auth JWT: {reply}");

    // Subscription cap: 10k topics in one call, then 1000 (the cap) and one more.
    let many: Vec<String> = (0..10_000).map(|i| format!("/t/1/n{i}/proto")).collect();
    let reply = client.call("waku_subscribe", json!({"contentTopics": many})).await;
    assert_eq!(reply["error"]["code"], -32005, "{reply}");
    let reply = client.call("waku_subscribe", json!({"contentTopics": &many[..1000]})).await;
    assert!(reply["result"].is_string(), "{reply}");
    let reply = client.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
    assert!(reply["error"]["message"].as_str().expect("message").contains("subscription limit"), "{reply}");

    // A frame over 1 MiB closes the socket with 1009.
    // (The node does not read past the refused header: under load the client may see the
    // connection reset instead of the close frame, hostile_inputs accepts that.)
    let mut big = Client::waku(&node).await;
    if big.ws.send(Message::text("x".repeat(1024 * 1024 + 1))).await.is_ok() {
        match tokio::time::timeout(Duration::from_secs(10), big.ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => assert_eq!(u16::from(frame.expect("close frame").code), 1009),
            Some(Err(tungstenite::Error::Io(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    // Wrong Origin, bad and expired WalletConnect JWTs: refused on the upgrade.
    let mut request = format!("ws://{bridge}/").into_client_request().expect("request");
    request.headers_mut().insert("origin", "https://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("cross-site upgrade accepted: {:?}", other.map(|_| ())),
    }
    let key = common::wc_key();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    // Expired, garbage, and signed for another relay (a relay the client once used
    // replaying its token here).
    for (jwt, says) in [
        (common::wc_jwt_at(&key, &format!("ws://{bridge}"), now - 100, now - 10), "expired"),
        ("garbage".to_owned(), "malformed"),
        (common::wc_jwt_at(&key, "wss://relay.walletconnect.org", now, now + 600), "is not this relay"),
    ] {
        match tokio_tungstenite::connect_async(format!("ws://{bridge}/?auth={jwt}")).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401);
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
                assert!(body.contains(says), "{says}: {body}");
            }
            other => panic!("bad JWT accepted: {:?}", other.map(|_| ())),
        }
    }

    // A valid JWT: WalletConnect limits answer with errors a developer can act on.
    let mut wc = Client::open(&format!(
        "ws://{bridge}/?auth={}",
        common::wc_jwt_at(&key, &format!("ws://{bridge}"), now, now + 600)
    ))
    .await;
    let reply = wc.call("irn_subscribe", json!({"topic": "xyz"})).await;
    assert!(reply["error"]["message"].as_str().expect("message").contains("64 hex"), "{reply}");
    let topics: Vec<String> = (0..501).map(|i| format!("{i:064x}")).collect();
    let reply = wc.call("irn_batchSubscribe", json!({"topics": topics})).await;
    assert!(reply["error"]["message"].as_str().expect("message").contains("at most 500"), "{reply}");
    let reply = wc.call("irn_publish", json!({"topic": "ab".repeat(32), "message": "AA==", "ttl": 1, "tag": 1})).await;
    assert!(reply["error"]["message"].as_str().expect("message").contains("ttl 1 is out of bounds"), "{reply}");
    // A string id above 2^53 comes back as the same string; unknown keys are accepted.
    wc.send_text(
        json!({"id": "1795668933386046208", "jsonrpc": "2.0", "method": "irn_publish",
               "params": {"topic": "ab".repeat(32), "message": "AA==", "ttl": 300, "tag": 1108, "correlationId": 5}})
        .to_string(),
    )
    .await;
    let reply = wc.frame().await;
    assert_eq!(reply["id"], "1795668933386046208");
    assert_eq!(reply["result"], true);

    // The node still serves everyone else.
    let mut fresh = Client::waku(&node).await;
    assert!(fresh.call("waku_info", json!({})).await["result"]["peerId"].is_string());
    assert!(node.metric("heliograph_bridge_rejected_total", "origin").await >= 1.0);
    assert!(node.metric("heliograph_bridge_rejected_total", "frame_too_large").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reads_is_disconnected_without_slowing_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("heliograph.toml");
    std::fs::write(&config, "[bridge]\nmax_pending_bytes = 262144\nwrite_timeout = \"2s\"\n").expect("config");
    let node = TestNode::tcp(&dir.path().join("node"), &["--config", config.to_str().expect("utf-8")]).await;

    let mut stalled = Client::waku(&node).await;
    stalled.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
    let mut reader = Client::waku(&node).await;
    reader.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
    let mut publisher = Client::waku(&node).await;

    let big = "x".repeat(100 * 1024);
    let count = 150;
    let started = std::time::Instant::now();
    for i in 0..count {
        let reply = publisher.call("waku_publish", json!({"message": message(&format!("{i}:{big}"))})).await;
        assert!(reply["result"]["hash"].is_string(), "{reply}");
        let push = reader.push().await;
        let payload =
            STANDARD.decode(push["params"]["result"]["message"]["payload"].as_str().expect("payload")).expect("b64");
        assert!(payload.starts_with(format!("{i}:").as_bytes()), "the reader gets every message in order");
    }
    assert!(started.elapsed() < Duration::from_secs(60), "the stalled consumer slowed the others down");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node.metric("heliograph_bridge_slow_consumer_disconnects", "").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the stalled consumer was never disconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The stalled client finally reads: some messages, then a close with 1008.
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), stalled.ws.next()).await.expect("frames in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    if let Some(frame) = closed {
        assert_eq!(u16::from(frame.code), 1008);
        assert!(frame.reason.contains("slow consumer"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_checked_single_use_and_rate_limited() {
    use heliograph_node::bridge::tokens::sign_capability;
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = libp2p::identity::ed25519::Keypair::generate();
    let rotated = libp2p::identity::ed25519::Keypair::generate();
    let config = dir.path().join("heliograph.toml");
    std::fs::write(
        &config,
        format!(
            "[bridge]\nrequire_token = true\nrate_limit_per_ip = 10\ntoken_keys = [\"{}\", \"{}\"]\n",
            hex::encode(operator.public().to_bytes()),
            hex::encode(rotated.public().to_bytes())
        ),
    )
    .expect("config");
    let node = TestNode::tcp(&dir.path().join("node"), &["--config", config.to_str().expect("utf-8")]).await;
    let bridge = node.bridge.clone().expect("bridge");
    let refused = |url: String| async move {
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
                (status, body)
            }
            other => panic!("upgrade accepted: {:?}", other.map(|_| ())),
        }
    };

    let (status, body) = refused(format!("ws://{bridge}/")).await;
    assert_eq!(status, 401);
    assert!(body.contains("token is required"), "{body}");
    assert_eq!(refused(format!("ws://{bridge}/?token=hgt_madeup")).await.0, 401);

    // An opaque token from the REST API; only its hash is kept by the node.
    let (status, body) = node.post_json("/bridge/v1/tokens", &json!({"ttlSeconds": 60})).await;
    assert_eq!(status, 200, "{body}");
    let issued: Value = serde_json::from_str(&body).expect("JSON");
    let token = issued["token"].as_str().expect("token");
    let mut client = Client::open(&format!("ws://{bridge}/?token={token}")).await;
    assert!(client.call("waku_info", json!({})).await["result"]["peerId"].is_string());
    let mut request = format!("ws://{bridge}/").into_client_request().expect("request");
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    tokio_tungstenite::connect_async(request).await.expect("bearer token accepted");

    // Capability tokens: either rotation key works, each jti once, expiry enforced.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let cap = sign_capability(&rotated, "dapp-1", "jti-1", now + 60);
    tokio_tungstenite::connect_async(format!("ws://{bridge}/?token={cap}")).await.expect("capability accepted");
    let (status, body) = refused(format!("ws://{bridge}/?token={cap}")).await;
    assert_eq!(status, 401);
    assert!(body.contains("replayed"), "{body}");
    let expired = sign_capability(&operator, "dapp-1", "jti-2", now - 1);
    let (_, body) = refused(format!("ws://{bridge}/?token={expired}")).await;
    assert!(body.contains("expired"), "{body}");

    // Rate limit per IP (10/min here): a JSON-RPC error, then close 1013.
    let mut limited = None;
    for _ in 0..12 {
        let reply = client.call("waku_info", json!({})).await;
        if reply["error"]["code"] == -32029 {
            limited = Some(reply);
            break;
        }
    }
    assert!(limited.is_some(), "the 11th request in a minute is refused");
    for i in 0..30u64 {
        client.send_text(json!({"jsonrpc": "2.0", "id": 1000 + i, "method": "waku_info"}).to_string()).await;
    }
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), client.ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(closed.expect("close frame").code), 1013);
    assert!(node.metric("heliograph_bridge_rate_limited_total", "").await >= 1.0);
}

fn wc_url(node: &TestNode, key: &SigningKey) -> String {
    let bridge = node.bridge.as_deref().expect("bridge");
    format!("ws://{bridge}/?auth={}", common::wc_jwt(key, bridge))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walletconnect_messages_stored_before_a_restart_are_pushed_once_and_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let dapp_key = common::wc_key();
    let wallet_key = common::wc_key();
    let topic = "5e".repeat(32);

    let node = TestNode::tcp(&data, &[]).await;
    let mut dapp = Client::open(&wc_url(&node, &dapp_key)).await;
    let reply = dapp.call("irn_subscribe", json!({"topic": topic})).await;
    assert!(reply["result"].as_str().is_some_and(|id| id.len() == 64), "{reply}");
    let reply = dapp.call("irn_publish", json!({"topic": topic, "message": "AAEC", "ttl": 300, "tag": 1108})).await;
    assert_eq!(reply["result"], true);
    // Give the store's group commit (1 s) time, then restart from the same data dir.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(dapp);
    node.stop().await;

    let node = TestNode::tcp(&data, &[]).await;
    let mut wallet = Client::open(&wc_url(&node, &wallet_key)).await;
    let reply = wallet.call("irn_subscribe", json!({"topic": topic})).await;
    let sub_id = reply["result"].as_str().expect("subscription id").to_owned();
    let push = wallet.push().await;
    assert_eq!(push["method"], "irn_subscription");
    assert_eq!(push["params"]["id"], sub_id.as_str());
    assert_eq!(push["params"]["data"]["message"], "AAEC", "the message from before the restart, read from the store");
    assert_eq!(push["params"]["data"]["tag"], 1108);
    assert_eq!(push["params"]["data"]["topic"], topic.as_str());
    // Ack it with the server's id, exactly as received.
    wallet.send_text(json!({"id": push["id"], "jsonrpc": "2.0", "result": true}).to_string()).await;

    // The publisher resubscribing gets no echo; the wallet reconnecting gets no re-delivery after its ack.
    let mut dapp = Client::open(&wc_url(&node, &dapp_key)).await;
    dapp.call("irn_subscribe", json!({"topic": topic})).await;
    let fetched = dapp.call("irn_fetchMessages", json!({"topic": topic})).await;
    assert_eq!(fetched["result"]["messages"], json!([]), "never echoed to the publisher: {fetched}");
    drop(wallet);
    let mut wallet = Client::open(&wc_url(&node, &wallet_key)).await;
    wallet.call("irn_batchSubscribe", json!({"topics": [topic]})).await;
    let fetched = wallet.call("irn_fetchMessages", json!({"topic": topic})).await;
    assert_eq!(fetched["result"]["messages"], json!([]), "acked messages are done: {fetched}");
    assert!(wallet.pushes.is_empty(), "no re-push after the ack: {:?}", wallet.pushes);

    // A new message reaches the wallet live, and not the dapp that published it.
    dapp.call("irn_publish", json!({"topic": topic, "message": "BBBB", "ttl": 300, "tag": 1109})).await;
    let push = wallet.push().await;
    assert_eq!(push["params"]["data"]["message"], "BBBB");
    let (status, body) = node.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(body.contains("/bridge/v1/tokens"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_operators_public_url_is_the_only_walletconnect_audience() {
    // A TLS proxy forwards wss://relay.example.org to the loopback bridge and sets its
    // own Host: clients sign for the public URL, which only the operator knows.
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &["--bridge-public-url", "wss://relay.example.org"]).await;
    let bridge = node.bridge.as_deref().expect("bridge");
    let key = common::wc_key();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let public = common::wc_jwt_at(&key, "wss://relay.example.org", now, now + 600);
    let mut client = Client::open(&format!("ws://{bridge}/?auth={public}")).await;
    let reply = client.call("irn_subscribe", json!({"topic": "ab".repeat(32)})).await;
    assert!(reply["result"].is_string(), "{reply}");
    // The address the node happens to be reached at is no longer an audience.
    let local = common::wc_jwt(&key, bridge);
    match tokio_tungstenite::connect_async(format!("ws://{bridge}/?auth={local}")).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("bridge.public_urls: wss://relay.example.org"), "{body}");
        }
        other => panic!("token for another audience accepted: {:?}", other.map(|_| ())),
    }
}

/// `turn_credentials` hands out TURN REST credentials that the shared secret signs
/// (recomputed here with HMAC-SHA1, as coturn does), expiring after the TTL; a node
/// without a TURN secret answers -32002, and under `require_token` a connection
/// without a token (a WalletConnect JWT only) gets -32001.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_credentials_are_signed_by_the_shared_secret_and_off_without_one() {
    use hmac::{Hmac, Mac};
    let secret = "bridge-test-turn-secret-0123";
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--turn-url", "turn:127.0.0.1:3478?transport=udp", "--turn-secret", secret, "--turn-ttl", "10m"];
    let node = TestNode::tcp(dir.path(), &args).await;
    let mut client = Client::waku(&node).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let answer = client.call("turn_credentials", json!({})).await;
    let result = &answer["result"];
    assert_eq!(result["urls"], json!(["turn:127.0.0.1:3478?transport=udp"]), "{answer}");
    assert_eq!(result["ttl"], 600);
    let username = result["username"].as_str().expect("username");
    let (expiry, user) = username.split_once(':').expect("<expiry>:<user>");
    let expiry: u64 = expiry.parse().expect("unix time");
    assert!((now + 600..=now + 605).contains(&expiry), "expires after the TTL: {expiry} vs {now}");
    assert!(!user.is_empty() && !user.contains(':'), "{user}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(username.as_bytes());
    assert_eq!(result["credential"], STANDARD.encode(mac.finalize().into_bytes()));
    // The client cannot pick its TURN user name; params that are not an object are refused.
    let chosen = client.call("turn_credentials", json!({"user": "root"})).await;
    let chosen_user = chosen["result"]["username"].as_str().expect("username").split_once(':').expect("user").1;
    assert_eq!(chosen_user, user, "{chosen}");
    let bad = client.call("turn_credentials", json!(["root"])).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let log = std::fs::read_to_string(dir.path().join("node.log")).expect("node log");
    assert!(!log.is_empty() && !log.contains(secret), "the secret is never logged");
    drop(client);
    node.stop().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let mut client = Client::waku(&node).await;
    let off = client.call("turn_credentials", json!({})).await;
    assert_eq!(off["error"]["code"], -32002, "{off}");
    assert!(off["error"]["message"].as_str().expect("message").contains("no TURN credentials"), "{off}");
    drop(client);
    node.stop().await;

    // Under require_token a self-signed WalletConnect JWT does not get relayed media.
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[&args[..], &["--bridge-require-token"]].concat()).await;
    let mut client = Client::wc(&node, &SigningKey::from_bytes(&[7; 32])).await;
    let refused = client.call("turn_credentials", json!({})).await;
    assert_eq!(refused["error"]["code"], -32001, "{refused}");
}
