//! The store in real `heliograph` processes: acknowledged messages survive
//! SIGKILL, a restarted node fills its gap from a peer, REST and store v3
//! queries agree, and a full disk leaves the node relaying.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TOPIC, TestNode};
use heliograph_node::store::message_hash;
use heliograph_proto::WakuMessage;
use serde_json::{Value, json};

const CONTENT: &str = "/heliograph/1/store-test/proto";

/// A message with a unique payload and timestamp, and its deterministic hash.
fn numbered(i: u64) -> (Value, String) {
    let payload = format!("message {i}").into_bytes();
    // Now, not a base fixed at the first call: the node refuses timestamps more than
    // 20 s off its clock, and tests of this binary run for longer than that.
    let timestamp = heliograph_node::waku::time::now_ns();
    let wire = WakuMessage {
        payload: payload.clone(),
        content_topic: CONTENT.into(),
        timestamp: Some(timestamp),
        ..Default::default()
    };
    let hash = format!("0x{}", hex::encode(message_hash(TOPIC, &wire)));
    (json!({ "payload": STANDARD.encode(&payload), "contentTopic": CONTENT, "timestamp": timestamp }), hash)
}

async fn store_page(node: &TestNode, query: &str) -> Value {
    let (status, body) = node.get(&format!("/store/v3/messages?{query}")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Every stored hash for CONTENT on TOPIC, paging with the returned cursor.
async fn stored_hashes(node: &TestNode, peer_addr: Option<&str>) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut q = format!(
            "pubsubTopic={}&contentTopics={}&pageSize=100&includeData=true&cursor={}",
            urlencoding::encode(TOPIC),
            urlencoding::encode(CONTENT),
            cursor
        );
        if let Some(addr) = peer_addr {
            q.push_str(&format!("&peerAddr={}", urlencoding::encode(addr)));
        }
        let page = store_page(node, &q).await;
        assert_eq!(page["statusCode"], 200, "{page}");
        for m in page["messages"].as_array().expect("messages") {
            assert_eq!(m["pubsubTopic"], TOPIC);
            assert_eq!(m["message"]["contentTopic"], CONTENT);
            hashes.push(m["messageHash"].as_str().expect("hash").to_owned());
        }
        match page["paginationCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return hashes,
        }
    }
}

async fn meshed_pair(dir: &std::path::Path, a_args: &[&str]) -> (TestNode, TestNode) {
    let a = TestNode::tcp(&dir.join("a"), a_args).await;
    let b = TestNode::tcp(&dir.join("b"), &["--bootstrap", &a.addr()]).await;
    a.wait_for_mesh(TOPIC, &[&b.peer_id]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, _b) = meshed_pair(dir.path(), &[]).await;
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));

    // Stream messages; kill A at a random moment while requests are in flight.
    let kill_after = Duration::from_millis(300 + u64::from(rand_byte()) * 4);
    let mut acked = Vec::new();
    let started = tokio::time::Instant::now();
    let pid = a.pid();
    let mut i = 0;
    loop {
        if started.elapsed() >= kill_after {
            std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill -9");
            break;
        }
        let (msg, hash) = numbered(i);
        i += 1;
        let (status, body) = a.post_json(&path, &msg).await;
        assert_eq!(status, 200, "publish {i}: {body}");
        acked.push(hash);
    }
    assert!(acked.len() > 10, "only {} messages before the kill", acked.len());
    let data_dir = a.data_dir.clone();
    drop(a);

    let restarted = TestNode::tcp(&data_dir, &["--store-max-age", "0s"]).await;
    let stored = stored_hashes(&restarted, None).await;
    let missing: Vec<&String> = acked.iter().filter(|h| !stored.contains(h)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged messages lost after SIGKILL", missing.len(), acked.len());
}

fn rand_byte() -> u8 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_fills_its_gap_from_a_peer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = meshed_pair(dir.path(), &["--store-max-age", "0s"]).await;
    let c = TestNode::tcp(&dir.path().join("c"), &["--bootstrap", &a.addr(), "--store-max-age", "0s"]).await;
    a.wait_for_mesh(TOPIC, &[&c.peer_id]).await;

    // B goes down; 150 messages flow through A (and C) meanwhile.
    let b_dir = b.data_dir.clone();
    assert!(b.stop().await.success());
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
    let mut sent = Vec::new();
    for i in 0..150 {
        let (msg, hash) = numbered(i);
        let (status, body) = a.post_json(&path, &msg).await;
        assert_eq!(status, 200, "{body}");
        sent.push(hash);
    }
    assert_eq!(stored_hashes(&a, None).await, sent, "A stored all, in order");
    // Outlast gossipsub's message cache (5 heartbeats), so only gap filling can bring them to B.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // B comes back knowing only A; it must end up with everything it missed.
    let b = TestNode::tcp(&b_dir, &["--bootstrap", &a.addr(), "--store-max-age", "0s"]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let have = stored_hashes(&b, None).await;
        if have == sent {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B has {} of {} after restart:\n{}",
            have.len(),
            sent.len(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let filled = b.metric("heliograph_gap_filled_messages_total", "").await;
    assert!(filled >= 150.0, "gap filling fetched {filled} messages:\n{}", b.log());

    // A store query over libp2p (REST peerAddr → store v3 client → A's server) agrees.
    assert_eq!(stored_hashes(&b, Some(&a.addr())).await, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_store_queries_get_400_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    for (query, needle) in [
        ("cursor=abc", "invalid hash length"),
        ("hashes=xyz", "x is not a hexadecimal character"),
        ("peerAddr=ip4/1.2.3.4", "Invalid MultiAddress"),
        ("pageSize=many", "must be an integer"),
        ("ascending=maybe", "true or false"),
    ] {
        let (status, body) = node.get(&format!("/store/v3/messages?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(needle), "{query}: {body}");
    }
    // As nwaku: content topics without a pubsub topic, and empty time ranges, are queries.
    for query in ["pubsubTopic=%2Fwaku%2F2%2Frs%2F1%2F0", "contentTopics=/a/1/b/c", "startTime=10&endTime=5"] {
        let empty = store_page(&node, query).await;
        assert_eq!(empty["statusCode"], 200, "{query}");
        assert_eq!(empty["messages"], json!([]), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_gives_a_clear_error_and_the_node_keeps_relaying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).expect("dir");
    let mounted =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(&small).output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "SKIPPED full_disk test: cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("SKIPPED full_disk test: cannot run mount: {e}");
            return;
        }
    }
    let unmount = Unmount(small.clone());
    let a = TestNode::tcp(&small.join("a"), &[]).await;
    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    b.subscribe(TOPIC).await;
    a.wait_for_mesh(TOPIC, &[&b.peer_id]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;

    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
    let big = STANDARD.encode(vec![0x5a; 100 * 1024]);
    let mut refused = None;
    for i in 0..200 {
        let msg =
            json!({ "payload": big, "contentTopic": CONTENT, "timestamp": heliograph_node::waku::time::now_ns() + i });
        let (status, body) = a.post_json(&path, &msg).await;
        if status == 507 {
            refused = Some(body);
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let body = refused.expect("the 3 MiB disk never filled up");
    assert!(body.contains("not stored"), "{body}");
    assert!(a.metric("heliograph_store_write_errors_total", "").await >= 1.0);

    // Relaying goes on: a small message still reaches B.
    b.take(TOPIC).await;
    let (msg, payload) = common::message("after the disk filled");
    a.post_json(&path, &msg).await;
    assert_eq!(b.count_arrivals(TOPIC, &payload, Duration::from_millis(300)).await, 1);
    drop(a);
    drop(unmount);
}

/// Unmounts the test tmpfs on drop.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_messages_are_relayed_but_never_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = meshed_pair(dir.path(), &[]).await;
    b.subscribe(TOPIC).await;
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
    let (mut msg, hash) = numbered(7);
    msg["ephemeral"] = json!(true);
    let (status, body) = a.post_json(&path, &msg).await;
    assert_eq!(status, 200, "{body}");
    let payload = msg["payload"].as_str().expect("payload").to_owned();
    assert_eq!(b.count_arrivals(TOPIC, &payload, Duration::from_millis(300)).await, 1, "relayed");
    let (durable, durable_hash) = numbered(8);
    assert_eq!(a.post_json(&path, &durable).await.0, 200);
    for node in [&a, &b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stored = stored_hashes(node, None).await;
            assert!(!stored.contains(&hash), "an ephemeral message was stored");
            if stored.contains(&durable_hash) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the durable message never got stored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_store_gives_a_clear_error_and_the_node_keeps_relaying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a_dir = dir.path().join("a");
    // A store folder whose RocksDB files are garbage.
    let store_dir = a_dir.join("store");
    std::fs::create_dir_all(&store_dir).expect("dir");
    std::fs::write(store_dir.join("CURRENT"), "MANIFEST-000099\n").expect("write");
    std::fs::write(store_dir.join("MANIFEST-000099"), vec![0xde; 4096]).expect("write");
    let a = TestNode::tcp(&a_dir, &[]).await;
    assert!(a.log().contains("running without a message store"), "{}", a.log());
    let (status, body) = a.get("/store/v3/messages?pubsubTopic=%2Fwaku%2F2%2Frs%2F1%2F0").await;
    assert_eq!(status, 412, "{body}");
    assert!(body.contains("this node has no store"), "{body}");

    let b = TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &a.addr()]).await;
    b.subscribe(TOPIC).await;
    a.wait_for_mesh(TOPIC, &[&b.peer_id]).await;
    b.wait_for_mesh(TOPIC, &[&a.peer_id]).await;
    let (msg, payload) = common::message("relayed without a store");
    let (status, body) = a.post_json(&format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC)), &msg).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(b.count_arrivals(TOPIC, &payload, Duration::from_millis(300)).await, 1);
}
