//! The bridge tokens' lifecycle over real sockets and real `heliograph`
//! processes: opaque tokens survive a restart; revoking one closes the sockets
//! using it and refuses it after; refreshing one extends it on open sockets
//! too; a socket whose token expires is warned, then closed; and a client
//! sending one request a second rotates its token with `bridge_authenticate`
//! without losing, doubling or delaying a request.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::TestNode;
use common::ws::Client;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

const CONTENT: &str = "/heliograph-test/1/rotation/proto";

/// A node whose bridge requires a token.
async fn start(dir: &Path) -> TestNode {
    let config = dir.join("heliograph.toml");
    std::fs::write(&config, "[bridge]\nrequire_token = true\n").expect("config");
    TestNode::tcp(&dir.join("node"), &["--config", config.to_str().expect("utf-8")]).await
}

/// Mints a token of `ttl` seconds (and `subject`, if given); returns the response.
async fn mint(node: &TestNode, ttl: u64, subject: Option<&str>) -> Value {
    let mut body = json!({"ttlSeconds": ttl});
    if let Some(subject) = subject {
        body["subject"] = json!(subject);
    }
    let (status, body) = node.post_json("/bridge/v1/tokens", &body).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn url(node: &TestNode, token: &Value) -> String {
    format!("ws://{}/?token={}", node.bridge.as_deref().expect("bridge"), token["token"].as_str().expect("token"))
}

/// The upgrade's HTTP status and body when it is refused.
async fn refused(url: &str) -> (u16, String) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            (response.status().as_u16(), body)
        }
        other => panic!("upgrade accepted: {:?}", other.map(|_| ())),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// Reads until the node closes the socket; returns the close code and reason and the text frames before it.
async fn until_closed(client: &mut Client, within: Duration) -> (u16, String, Vec<Value>) {
    let mut frames = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, client.ws.next())
            .await
            .unwrap_or_else(|_| panic!("not closed within {within:?}; frames: {frames:?}"))
            .expect("a close frame before the end")
            .expect("frame");
        match message {
            Message::Text(text) => frames.push(serde_json::from_str(text.as_str()).expect("JSON")),
            Message::Close(Some(frame)) => return (u16::from(frame.code), frame.reason.to_string(), frames),
            Message::Close(None) => panic!("closed without a code"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_survive_a_restart_and_revoking_one_closes_its_sockets_and_refuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = start(dir.path()).await;
    let kept = mint(&first, 600, Some("dapp-1")).await;
    let revoked = mint(&first, 600, None).await;
    assert_eq!(kept["subject"], "dapp-1");
    assert_eq!(revoked["subject"], revoked["id"], "the id is the default subject");
    let file = std::fs::read_to_string(first.data_dir.join("bridge-tokens")).expect("token file");
    assert!(!file.contains(kept["token"].as_str().expect("token")), "only a hash of the token is stored");
    first.stop().await;

    let node = start(dir.path()).await;
    let mut client = Client::open(&url(&node, &kept)).await;
    assert!(client.call("waku_info", json!({})).await["result"]["peerId"].is_string(), "the token survived");
    let mut doomed = Client::open(&url(&node, &revoked)).await;
    assert!(doomed.call("waku_info", json!({})).await["result"].is_object());

    let id = revoked["id"].as_str().expect("id");
    let gone = node.http.delete(node.url(&format!("/bridge/v1/tokens/{id}"))).send().await.expect("DELETE");
    assert_eq!(gone.status(), 204);
    let revoked_at = Instant::now();
    let (code, reason, _) = until_closed(&mut doomed, Duration::from_secs(5)).await;
    assert_eq!((code, reason.as_str()), (1008, "bridge token revoked"));
    assert!(
        revoked_at.elapsed() < Duration::from_millis(1500),
        "closed {:?} after the revocation",
        revoked_at.elapsed()
    );
    let (status, body) = refused(&url(&node, &revoked)).await;
    assert_eq!(status, 401, "{body}");
    let again = node.http.delete(node.url(&format!("/bridge/v1/tokens/{id}"))).send().await.expect("DELETE");
    assert_eq!(again.status(), 404, "revoked once");
    assert!(client.call("waku_info", json!({})).await["result"].is_object(), "other tokens' sockets stay open");

    // The revocation is kept across a restart too.
    node.stop().await;
    let node = start(dir.path()).await;
    assert_eq!(refused(&url(&node, &revoked)).await.0, 401);
    Client::open(&url(&node, &kept)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_whose_token_expires_is_warned_then_closed_and_a_refresh_keeps_it_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path()).await;
    // 3 s: at least 2 s left when the socket opens (expiries are whole seconds), so one
    // check (a second after the upgrade) falls before the expiry.
    let short = mint(&node, 3, None).await;
    let mut client = Client::open(&url(&node, &short)).await;
    let (code, reason, frames) = until_closed(&mut client, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);
    assert!(reason.starts_with("bridge token expired"), "{reason}");
    assert!(now_secs() >= short["expiresAt"].as_u64().expect("expiry"), "not closed before its expiry");
    let notice = frames.iter().find(|f| f["method"] == "bridge_tokenExpiring").expect("warned before the close");
    assert_eq!(notice["params"]["expiresAt"], short["expiresAt"]);
    let (status, body) = refused(&url(&node, &short)).await;
    assert_eq!(status, 401);
    assert!(body.contains("expired"), "{body}");

    // Refreshed while a socket uses it: the socket outlives the first expiry.
    let refreshed = mint(&node, 2, None).await;
    let mut client = Client::open(&url(&node, &refreshed)).await;
    let id = refreshed["id"].as_str().expect("id");
    let (status, body) = node.post_json(&format!("/bridge/v1/tokens/{id}/refresh"), &json!({"ttlSeconds": 60})).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert!(answer["expiresAt"].as_u64() >= Some(now_secs() + 59), "{answer}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(client.call("waku_info", json!({})).await["result"].is_object(), "still open past the first expiry");
    Client::open(&url(&node, &refreshed)).await;
    let (status, _) = node.post_json("/bridge/v1/tokens/0000000000000000/refresh", &json!({})).await;
    assert_eq!(status, 404);

    // Re-authenticating with another subject's token is refused, and the socket keeps its own.
    let mine = mint(&node, 60, Some("alice")).await;
    let theirs = mint(&node, 60, Some("bob")).await;
    let mut alice = Client::open(&url(&node, &mine)).await;
    let reply = alice.call("bridge_authenticate", json!({"token": theirs["token"]})).await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    let reply = alice.call("bridge_authenticate", json!({"token": "hgt_madeup"})).await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    assert!(alice.call("waku_info", json!({})).await["result"].is_object());
}

/// What the rotating client saw of one request.
#[derive(Default)]
struct Seen {
    sent: Option<Instant>,
    answers: Vec<(Instant, Value)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rotates_its_token_in_a_once_a_second_loop_without_losing_doubling_or_stalling_a_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path()).await;
    let first = mint(&node, 4, Some("rotator")).await;
    let first_expiry = first["expiresAt"].as_u64().expect("expiry");
    let mut client = Client::open(&url(&node, &first)).await;
    let sub = client.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
    let sub = sub["result"].as_str().expect("subscription").to_owned();

    const REQUESTS: u64 = 9;
    let mut seen: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut pushed: Vec<u64> = Vec::new();
    let (mut notice, mut rotated) = (None, None);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut next = 0;
    let done_by = Instant::now() + Duration::from_secs(REQUESTS + 5);
    while pushed.len() < REQUESTS as usize || seen.values().any(|s| s.answers.is_empty()) || next < REQUESTS {
        tokio::select! {
            _ = tick.tick(), if next < REQUESTS => {
                // The client rotates at the first turn of its loop after the notice.
                if notice.is_some() && rotated.is_none() {
                    let fresh = mint(&node, 60, Some("rotator")).await;
                    client.send(json!({"jsonrpc": "2.0", "id": "auth", "method": "bridge_authenticate",
                        "params": {"token": fresh["token"]}})).await;
                    rotated = Some(next);
                }
                let payload = STANDARD.encode(next.to_be_bytes());
                let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as i64;
                client.send(json!({"jsonrpc": "2.0", "id": next, "method": "waku_publish",
                    "params": {"message": {"payload": payload, "contentTopic": CONTENT, "timestamp": ts}}})).await;
                seen.entry(next).or_default().sent = Some(Instant::now());
                next += 1;
            }
            frame = client.ws.next() => {
                let text = match frame.expect("socket open").expect("frame") {
                    Message::Text(text) => text,
                    Message::Close(close) => panic!("closed mid-loop after {next} requests: {close:?}"),
                    _ => continue,
                };
                let frame: Value = serde_json::from_str(text.as_str()).expect("JSON");
                match (frame["method"].as_str(), &frame["id"]) {
                    (Some("bridge_tokenExpiring"), _) => notice = frame["params"]["expiresAt"].as_u64(),
                    (Some("waku_subscription"), _) => {
                        assert_eq!(frame["params"]["subscription"], sub.as_str(), "subscriptions kept across the swap");
                        let payload = frame["params"]["result"]["message"]["payload"].as_str().expect("payload");
                        let bytes = STANDARD.decode(payload).expect("base64");
                        pushed.push(u64::from_be_bytes(bytes.try_into().expect("8 bytes")));
                    }
                    (None, Value::String(id)) if id == "auth" => {
                        assert_eq!(frame["result"]["subject"], "token:rotator", "{frame}");
                    }
                    (None, Value::Number(id)) => {
                        let id = id.as_u64().expect("seq");
                        let entry = seen.get_mut(&id).unwrap_or_else(|| panic!("an answer to a request never sent: {frame}"));
                        entry.answers.push((Instant::now(), frame.clone()));
                    }
                    _ => panic!("unexpected frame {frame}"),
                }
            }
            () = tokio::time::sleep_until(done_by) => panic!("the loop did not finish: {next} sent, {pushed:?} pushed"),
        }
    }
    assert!(notice == Some(first_expiry), "told of the first token's expiry: {notice:?}");
    let rotated = rotated.expect("rotated");
    assert!(rotated > 0 && rotated < REQUESTS - 2, "rotated mid-loop, before request {rotated}");
    assert!(now_secs() > first_expiry + 2, "the loop ran well past the first token's expiry");

    // Every request answered exactly once, with success, and the answers kept the loop's rate.
    let mut answered_at = Vec::new();
    for (seq, s) in &seen {
        assert_eq!(s.answers.len(), 1, "request {seq} answered {} times", s.answers.len());
        let (at, answer) = &s.answers[0];
        assert!(answer["result"]["hash"].is_string(), "request {seq} failed: {answer}");
        assert!(*at - s.sent.expect("sent") < Duration::from_millis(500), "request {seq} answered late");
        answered_at.push(*at);
    }
    for pair in answered_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < Duration::from_millis(1500), "a gap of {gap:?} between consecutive answers");
    }
    assert_eq!(pushed, (0..REQUESTS).collect::<Vec<_>>(), "every message pushed once, in order");

    // The store has each sequence number once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = client.call("waku_history", json!({"contentTopics": [CONTENT], "pageSize": 50})).await;
        let stored: Vec<u64> = page["result"]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| {
                let payload = m["message"]["payload"].as_str().or(m["payload"].as_str()).expect("payload");
                u64::from_be_bytes(STANDARD.decode(payload).expect("base64").try_into().expect("8 bytes"))
            })
            .collect();
        if stored.len() >= REQUESTS as usize {
            let unique: BTreeSet<u64> = stored.iter().copied().collect();
            assert_eq!(stored.len(), unique.len(), "a sequence number stored twice: {stored:?}");
            assert_eq!(unique, (0..REQUESTS).collect::<BTreeSet<_>>());
            break;
        }
        assert!(Instant::now() < deadline, "history never filled: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(refused(&url(&node, &first)).await.0, 401, "the first token is expired for new sockets");
}
