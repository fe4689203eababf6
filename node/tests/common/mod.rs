//! Test harness: real `heliograph` processes on loopback (port 0), driven
//! through their REST API.

#![allow(dead_code, missing_docs)] // each test binary uses part of the harness

pub mod ws;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const TOPIC: &str = "/waku/2/rs/1/0";

/// A running node process.
pub struct TestNode {
    child: Child,
    pub data_dir: PathBuf,
    pub rest: String,
    pub peer_id: String,
    pub listen: Vec<String>,
    /// The bridge (WebSocket JSON-RPC) address, `127.0.0.1:port`.
    pub bridge: Option<String>,
    /// The metrics listener's address, `127.0.0.1:port`, with `--metrics-addr`.
    pub metrics: Option<String>,
    pub http: reqwest::Client,
}

impl TestNode {
    /// Starts a node listening on TCP port 0.
    pub async fn tcp(dir: &Path, extra: &[&str]) -> TestNode {
        Self::start(dir, &[&["--listen", "/ip4/127.0.0.1/tcp/0"], extra].concat()).await
    }

    /// Starts a node listening on WebSocket port 0 only.
    pub async fn ws(dir: &Path, extra: &[&str]) -> TestNode {
        Self::start(dir, &[&["--listen", "/ip4/127.0.0.1/tcp/0/ws"], extra].concat()).await
    }

    /// Starts `heliograph` with `args` (plus a data dir and REST on port 0) and
    /// waits for its ready line.
    pub async fn start(data_dir: &Path, args: &[&str]) -> TestNode {
        Self::start_on(data_dir, "127.0.0.1:0", args).await
    }

    /// As [`TestNode::start`], with the REST API on `rest_addr` (e.g. `0.0.0.0:0`).
    pub async fn start_on(data_dir: &Path, rest_addr: &str, args: &[&str]) -> TestNode {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("node.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_heliograph"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--rest-addr", rest_addr, "--bridge-addr", "127.0.0.1:0", "--log", "info,heliograph_node=debug"])
            .args(args)
            .env_remove("HELIOGRAPH_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn heliograph");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("node did not get ready within 30 s")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("node exited before ready; log:\n{}", read_log(data_dir)));
        let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
        assert_eq!(ready["event"], "ready");
        TestNode {
            child,
            data_dir: data_dir.to_owned(),
            rest: format!("http://{}", ready["rest"].as_str().expect("rest addr")),
            peer_id: ready["peerId"].as_str().expect("peer id").to_owned(),
            listen: serde_json::from_value(ready["listenAddresses"].clone()).expect("addresses"),
            bridge: ready["bridge"].as_str().map(str::to_owned),
            metrics: ready["metrics"].as_str().map(str::to_owned),
            http: reqwest::Client::new(),
        }
    }

    /// The first listen address (it ends in `/p2p/<id>`), for others to bootstrap from.
    pub fn addr(&self) -> String {
        self.listen[0].clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.rest, path)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, String) {
        let r = self.http.post(self.url(path)).json(body).send().await.expect("POST");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, String) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Subscribes the REST cache to `topic`.
    pub async fn subscribe(&self, topic: &str) {
        let (status, body) = self.post_json("/relay/v1/subscriptions", &json!([topic])).await;
        assert_eq!(status, 200, "subscribe: {body}");
    }

    /// Publishes, retrying while the mesh is still forming (503: no relay peers yet).
    pub async fn publish_when_meshed(&self, topic: &str, message: &Value) {
        let path = format!("/relay/v1/messages/{}", urlencoding::encode(topic));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.post_json(&path, message).await;
            if status == 200 {
                return;
            }
            assert_eq!(status, 503, "unexpected publish answer: {body}");
            assert!(tokio::time::Instant::now() < deadline, "no relay peers after 20 s: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Drains the REST cache of `topic`.
    pub async fn take(&self, topic: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/relay/v1/messages/{}", urlencoding::encode(topic))).await;
        assert_eq!(status, 200, "messages: {body}");
        serde_json::from_str(&body).expect("JSON list")
    }

    /// Collects messages of `topic` for `window`, draining the cache.
    pub async fn collect(&self, topic: &str, window: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + window;
        while tokio::time::Instant::now() < end {
            out.extend(self.take(topic).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out
    }

    /// Waits until a message with `payload` (base64) is cached, then keeps
    /// collecting for `settle`; returns how many copies arrived.
    pub async fn count_arrivals(&self, topic: &str, payload: &str, settle: Duration) -> usize {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !seen.iter().any(|m: &Value| m["payload"] == payload) {
            assert!(tokio::time::Instant::now() < deadline, "message never arrived at {}", self.peer_id);
            seen.extend(self.take(topic).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen.extend(self.collect(topic, settle).await);
        seen.iter().filter(|m| m["payload"] == payload).count()
    }

    /// Connected peer ids per `/admin/v1/peers`.
    pub async fn peer_ids(&self) -> Vec<String> {
        let (status, body) = self.get("/admin/v1/peers").await;
        assert_eq!(status, 200);
        let peers: Vec<Value> = serde_json::from_str(&body).expect("JSON");
        peers.iter().map(|p| p["peerId"].as_str().expect("peerId").to_owned()).collect()
    }

    /// Waits until this node is connected to `peer`.
    pub async fn wait_for_peer(&self, peer: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !self.peer_ids().await.iter().any(|p| p == peer) {
            assert!(tokio::time::Instant::now() < deadline, "{} never connected to {peer}", self.peer_id);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until each of `peers` is in this node's gossipsub mesh for `topic`.
    pub async fn wait_for_mesh(&self, topic: &str, peers: &[&str]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, body) = self.get("/admin/v1/peers").await;
            let list: Vec<Value> = serde_json::from_str(&body).expect("JSON");
            let meshed = |peer: &&str| {
                list.iter().any(|p| {
                    p["peerId"] == *peer && p["meshTopics"].as_array().is_some_and(|t| t.iter().any(|t| t == topic))
                })
            };
            if peers.iter().all(meshed) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "mesh on {topic} never formed at {}: {body}", self.peer_id);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A metric's value, summed over label sets whose text contains `filter`.
    pub async fn metric(&self, name: &str, filter: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("node did not stop within 15 s of SIGTERM")
            .expect("wait")
    }

    pub fn log(&self) -> String {
        read_log(&self.data_dir)
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
}

/// A message JSON with a unique payload; returns it and its base64 payload.
pub fn message(text: &str) -> (Value, String) {
    let payload = STANDARD.encode(text);
    // Sent now: a timestamp older than the store's default retention (two days) is
    // evicted by the next retention pass, which made tests that read the store flaky.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as i64;
    (json!({ "payload": payload, "contentTopic": "/heliograph/1/test/proto", "timestamp": now }), payload)
}

/// A fresh WalletConnect relay client key.
pub fn wc_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&rand::random())
}

/// A relay-auth JWT as `@walletconnect/relay-auth` signs it for the relay URL `aud`,
/// issued at `iat`, expiring at `exp`.
pub fn wc_jwt_at(key: &ed25519_dalek::SigningKey, aud: &str, iat: u64, exp: u64) -> String {
    use heliograph_wc_wire::{Claims, did, jwt};
    let iss = did::encode(&key.verifying_key().to_bytes());
    jwt::sign(key, &Claims { iss, sub: "00".into(), aud: aud.into(), iat: Some(iat), exp })
}

/// A relay-auth JWT for the bridge at `bridge` (`host:port`, so `aud` is `ws://host:port`
/// as a client configured with that URL signs it), valid for an hour from now.
pub fn wc_jwt(key: &ed25519_dalek::SigningKey, bridge: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    wc_jwt_at(key, &format!("ws://{bridge}"), now, now + 3600)
}
