//! Hostile memory and queue cases of issue 18 against a real `heliograph`
//! process over real WebSockets (tokio-tungstenite): the WalletConnect
//! mailbox trusts no relayed ttl/publishedAt and is bounded in bytes, refusing
//! what it cannot keep; bridge responses are capped in bytes and paged; a
//! subscriber's backlog larger than its send queue is streamed, not dumped.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::TestNode;
use common::ws::Client;
use serde_json::{Value, json};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64
}

fn topic(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A distinct base64 envelope of about `len` bytes.
fn envelope(n: usize, len: usize) -> String {
    let mut bytes = format!("{n:08}").into_bytes();
    bytes.resize(len * 3 / 4, b'x');
    STANDARD.encode(bytes)
}

/// A WakuMessage on WalletConnect topic `topic` whose relay metadata claims
/// `ttl` and `published_at`, as a hostile node could relay one.
fn forged(topic: &str, text: &str, ttl: u32, published_at: u64) -> Value {
    let mut meta = vec![1u8, 0];
    meta.extend_from_slice(&1108u32.to_be_bytes());
    meta.extend_from_slice(&ttl.to_be_bytes());
    meta.extend_from_slice(&published_at.to_be_bytes());
    meta.extend_from_slice(&[7u8; 16]);
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as i64;
    json!({
        "payload": STANDARD.encode(text),
        "contentTopic": format!("/walletconnect/2/{topic}/irn"),
        "timestamp": now_ns,
        "meta": STANDARD.encode(meta),
    })
}

/// Every message of `topics` by irn_(batch)fetchMessages pages, asserting each frame fits `max_frame`.
async fn fetch_all(client: &mut Client, topics: &[String], max_frame: usize) -> (Vec<String>, usize) {
    let mut messages = Vec::new();
    let mut pages = 0;
    loop {
        let reply = if let [one] = topics {
            client.call("irn_fetchMessages", json!({"topic": one})).await
        } else {
            client.call("irn_batchFetchMessages", json!({"topics": topics})).await
        };
        assert!(client.largest_frame <= max_frame, "a {} byte frame over the {max_frame} cap", client.largest_frame);
        let page = reply["result"]["messages"].as_array().unwrap_or_else(|| panic!("a page: {reply}"));
        messages.extend(page.iter().map(|m| m["message"].as_str().expect("message").to_owned()));
        pages += 1;
        if reply["result"]["hasMore"] != true {
            return (messages, pages);
        }
        assert!(!page.is_empty(), "hasMore with an empty page: {reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_walletconnect_ttl_and_publish_time_are_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let t = topic(0x5a);
    let (dapp_key, wallet_key) = (common::wc_key(), common::wc_key());
    let mut wallet = Client::wc(&node, &wallet_key).await;
    wallet.call("irn_subscribe", json!({"topic": t})).await;

    // A hostile peer's messages: a month-old one that claims to live 136 years,
    // and one published a year from now.
    let mut peer = Client::waku(&node).await;
    let day = 24 * 3600 * 1000;
    for message in
        [forged(&t, "ancient", u32::MAX, now_ms() - 31 * day), forged(&t, "future", 300, now_ms() + 365 * day)]
    {
        let reply = peer.call("waku_publish", json!({"message": message})).await;
        assert!(reply["result"]["hash"].is_string(), "relayed like any message: {reply}");
    }
    let mut dapp = Client::wc(&node, &dapp_key).await;
    let reply = dapp.call("irn_publish", json!({"topic": t, "message": "AAEC", "ttl": 300, "tag": 1108})).await;
    assert_eq!(reply["result"], true, "{reply}");

    let push = wallet.push().await;
    assert_eq!(push["params"]["data"]["message"], "AAEC", "only the honest message is pushed: {push}");
    assert!(wallet.quiet_for(Duration::from_millis(500)).await, "nothing else: {:?}", wallet.pushes);
    let (fetched, _) = fetch_all(&mut wallet, std::slice::from_ref(&t), usize::MAX).await;
    assert_eq!(fetched, ["AAEC"], "the forged messages are not kept either");

    // A later subscriber reads the store too (the forged messages are in it): still only the honest one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut late = Client::wc(&node, &common::wc_key()).await;
    late.call("irn_subscribe", json!({"topic": t})).await;
    let push = late.push().await;
    assert_eq!(push["params"]["data"]["message"], "AAEC", "{push}");
    assert!(late.quiet_for(Duration::from_millis(500)).await, "nothing forged from the store: {:?}", late.pushes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_walletconnect_mailbox_refuses_publishes_and_loses_none_it_took() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "--bridge-wc-topic-max-bytes",
        "200000",
        "--bridge-wc-mailbox-max-bytes",
        "500000",
        "--bridge-rate-limit-per-client",
        "0",
    ];
    let node = TestNode::tcp(dir.path(), &args).await;
    let (dapp_key, wallet_key) = (common::wc_key(), common::wc_key());
    let mut dapp = Client::wc(&node, &dapp_key).await;

    // One topic fills to its cap; the refusal is a clear JSON-RPC error, not a silent drop.
    let mut taken = Vec::new();
    let refusal = loop {
        let text = envelope(taken.len(), 30_000);
        let reply = dapp.call("irn_publish", json!({"topic": topic(1), "message": text, "ttl": 3600})).await;
        if reply.get("error").is_some() {
            break reply;
        }
        assert_eq!(reply["result"], true, "{reply}");
        taken.push(text);
        assert!(taken.len() < 20, "200 kB per topic should hold fewer than 20 messages of 30 kB");
    };
    assert!(taken.len() >= 5, "{} taken", taken.len());
    assert_eq!(refusal["error"]["code"], -32005, "{refusal}");
    let reason = refusal["error"]["message"].as_str().expect("message");
    assert!(reason.contains("full") && reason.contains("retry"), "{reason}");

    // Other topics fill the mailbox to its total cap.
    let mut others = 0;
    let total = 'fill: loop {
        for n in 0..5 {
            let text = envelope(1000 + others, 30_000);
            let reply = dapp.call("irn_publish", json!({"topic": topic(2 + n), "message": text, "ttl": 3600})).await;
            if reply.get("error").is_some() {
                break 'fill reply;
            }
            others += 1;
            assert!(others < 30, "500 kB in total should hold fewer than 30 messages of 30 kB");
        }
    };
    assert_eq!(total["error"]["code"], -32005, "{total}");
    assert!(total["error"]["message"].as_str().is_some_and(|m| m.contains("mailbox is full")), "{total}");
    assert!(node.metric("heliograph_bridge_rejected_total", "wc_mailbox_full").await >= 2.0);
    let kept = node.metric("heliograph_bridge_wc_mailbox_bytes", "").await;
    assert!(kept > 400_000.0 && kept <= 500_000.0, "the mailbox holds up to its cap: {kept}");

    // Every publish that was acknowledged reaches the receiver, in order.
    let mut wallet = Client::wc(&node, &wallet_key).await;
    wallet.call("irn_subscribe", json!({"topic": topic(1)})).await;
    let mut pushes = Vec::new();
    for _ in 0..taken.len() {
        pushes.push(wallet.push().await);
    }
    let got: Vec<&str> = pushes.iter().map(|p| p["params"]["data"]["message"].as_str().expect("message")).collect();
    assert_eq!(got, taken, "all taken, in publish order");
    assert!(wallet.quiet_for(Duration::from_millis(300)).await);

    // Once the receiver has acked them, the room is the publisher's again.
    for push in &pushes {
        wallet.ack(push).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply =
        dapp.call("irn_publish", json!({"topic": topic(1), "message": envelope(99, 30_000), "ttl": 3600})).await;
    assert_eq!(reply["result"], true, "room after the acks: {reply}");
    assert_eq!(wallet.push().await["params"]["data"]["message"], envelope(99, 30_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_responses_are_capped_in_bytes_and_paged() {
    const CAP: usize = 300_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = CAP.to_string();
    let args = ["--bridge-max-response-bytes", &cap, "--bridge-rate-limit-per-client", "0"];
    let node = TestNode::tcp(dir.path(), &args).await;
    let (dapp_key, wallet_key) = (common::wc_key(), common::wc_key());
    let mut dapp = Client::wc(&node, &dapp_key).await;
    // 20 messages of 50 kB on one topic and 2 × 10 on two others: 1 MB each, over three times the cap.
    let mut one = Vec::new();
    let mut two = Vec::new();
    for n in 0..40 {
        let (t, list) = match n {
            0..20 => (topic(0x20), &mut one),
            20..30 => (topic(0x21), &mut two),
            _ => (topic(0x22), &mut two),
        };
        let text = envelope(n, 50_000);
        let reply = dapp.call("irn_publish", json!({"topic": t, "message": text, "ttl": 3600})).await;
        assert_eq!(reply["result"], true, "{reply}");
        list.push(text);
    }
    let mut wallet = Client::wc(&node, &wallet_key).await;
    let (fetched, pages) = fetch_all(&mut wallet, &[topic(0x20)], CAP).await;
    assert_eq!(fetched, one, "every message once, in order, over {pages} pages");
    assert!(pages >= 4, "1 MB in pages of at most 300 kB: {pages}");
    let (fetched, pages) = fetch_all(&mut wallet, &[topic(0x21), topic(0x22)], CAP).await;
    assert_eq!(fetched, two, "batch fetch pages across topics too");
    assert!(pages >= 4, "{pages}");

    // waku_history: 20 stored messages of 50 kB, asked for in one page of 20.
    let content = "/heliograph-test/1/big/proto";
    let mut publisher = Client::waku(&node).await;
    let mut payloads = Vec::new();
    for n in 0..20 {
        let payload = envelope(n, 50_000);
        let reply =
            publisher.call("waku_publish", json!({"message": {"payload": payload, "contentTopic": content}})).await;
        assert!(reply["result"]["hash"].is_string(), "{reply}");
        payloads.push(payload);
    }
    for ascending in [true, false] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let (got, pages) = loop {
            let (mut got, mut pages, mut cursor) = (Vec::new(), 0, Value::Null);
            loop {
                let params =
                    json!({"contentTopics": [content], "pageSize": 20, "ascending": ascending, "cursor": cursor});
                let reply = publisher.call("waku_history", params).await;
                assert!(publisher.largest_frame <= CAP, "a {} byte history frame", publisher.largest_frame);
                let page = reply["result"]["messages"].as_array().unwrap_or_else(|| panic!("{reply}"));
                let mut page: Vec<String> =
                    page.iter().map(|m| m["message"]["payload"].as_str().expect("payload").to_owned()).collect();
                if !ascending {
                    page.reverse();
                }
                got.extend(page);
                pages += 1;
                cursor = reply["result"]["cursor"].clone();
                if cursor.is_null() {
                    break;
                }
            }
            if got.len() == payloads.len() || tokio::time::Instant::now() > deadline {
                break (got, pages);
            }
            // The store commits in groups: wait for all 20.
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let mut want = payloads.clone();
        if !ascending {
            want.reverse();
        }
        assert_eq!(got, want, "every stored message once, ascending={ascending}");
        assert!(pages >= 4, "{pages}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_subscriber_gets_a_backlog_larger_than_its_send_queue() {
    const QUEUE: usize = 400_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = QUEUE.to_string();
    let args = ["--bridge-max-pending-bytes", &queue, "--bridge-rate-limit-per-client", "0"];
    let node = TestNode::tcp(dir.path(), &args).await;
    let (dapp_key, wallet_key) = (common::wc_key(), common::wc_key());
    let mut dapp = Client::wc(&node, &dapp_key).await;
    // 2 × 30 messages of 40 kB: 2.4 MB of backlog, six times the send queue.
    let topics = [topic(0x31), topic(0x32)];
    let mut published: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for n in 0..60 {
        let text = envelope(n, 40_000);
        let reply = dapp.call("irn_publish", json!({"topic": topics[n % 2], "message": text, "ttl": 3600})).await;
        assert_eq!(reply["result"], true, "{reply}");
        published[n % 2].push(text);
    }

    // Subscribe, read everything without acking, drop the socket; twice (a reconnect), then ack.
    for round in 0..3 {
        let mut wallet = Client::wc(&node, &wallet_key).await;
        let reply = wallet.call("irn_batchSubscribe", json!({"topics": topics})).await;
        assert!(reply["result"].is_array(), "{reply}");
        let mut got: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
        let mut pushes = Vec::new();
        let expected = if round < 2 { 60 } else { 0 };
        while pushes.len() < expected {
            let push = wallet.push().await;
            let data = &push["params"]["data"];
            let i = topics.iter().position(|t| data["topic"] == t.as_str()).expect("a subscribed topic");
            got[i].push(data["message"].as_str().expect("message").to_owned());
            pushes.push(push);
        }
        if round < 2 {
            assert_eq!(got, published, "round {round}: all of both topics, each in publish order");
        }
        if round == 1 {
            for push in &pushes {
                wallet.ack(push).await;
            }
        }
        assert!(wallet.quiet_for(Duration::from_millis(500)).await, "round {round}: no more: {:?}", wallet.pushes);
        // The socket stays open: it was never closed as a slow consumer.
        let reply = wallet.call("irn_subscribe", json!({"topic": topic(0x33)})).await;
        assert!(reply["result"].is_string(), "round {round}: {reply}");
    }
    assert_eq!(node.metric("heliograph_bridge_slow_consumer_disconnects", "").await, 0.0);
}
