//! Bridge fan-out: publish → deliver latency through the WebSocket bridge
//! (`waku_publish` on one socket, `waku_subscription` pushes on the others),
//! beside a bare tokio WebSocket broadcast server measured in the same run
//! with the same clients.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use heliograph_node::Node;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const CONTENT: &str = "/bench/1/bridge/proto";

/// Which server the clients talk to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// A Heliograph node's bridge (waku_* JSON-RPC).
    Heliograph,
    /// A bare tokio WebSocket broadcast server: every frame from the publisher goes to every subscriber.
    Bare,
}

/// What one run measured.
pub struct FanoutResult {
    /// Publish → deliver latency of every delivery.
    pub latencies: Vec<Duration>,
    /// Deliveries expected (messages × subscribers).
    pub expected: usize,
    /// Time from the first publish to the last delivery.
    pub elapsed: Duration,
}

/// Starts a bare broadcast server; returns its address.
async fn bare_server(shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(crate::peers::bare::serve(listener, shutdown));
    Ok(addr)
}

/// Starts an in-process node with its bridge on a loopback port; returns it and the bridge address.
async fn heliograph(dir: &tempfile::TempDir, shutdown: CancellationToken) -> anyhow::Result<(Node, SocketAddr)> {
    let node = Node::start(crate::peers::heliograph::node_config(dir.path())?, shutdown).await?;
    let addr = node.bridge_addr.ok_or_else(|| anyhow::anyhow!("bridge off"))?;
    Ok((node, addr))
}

fn payload_of(frame: &Value) -> Option<Vec<u8>> {
    let b64 = frame["params"]["result"]["message"]["payload"].as_str().or_else(|| frame["payload"].as_str())?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Runs `messages` publishes of `size` bytes, `interval` apart, to `subscribers` subscribers.
pub async fn run(
    server: Server,
    subscribers: usize,
    messages: usize,
    size: usize,
    interval: Duration,
) -> anyhow::Result<FanoutResult> {
    let shutdown = CancellationToken::new();
    let dir = tempfile::tempdir()?;
    let (node, addr) = match server {
        Server::Heliograph => {
            let (node, addr) = heliograph(&dir, shutdown.clone()).await?;
            (Some(node), addr)
        }
        Server::Bare => (None, bare_server(shutdown.clone()).await?),
    };
    let base = Instant::now();
    let (done_tx, mut done_rx) = mpsc::channel::<Vec<Duration>>(subscribers);
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(subscribers);
    for _ in 0..subscribers {
        let mut ws = crate::peers::ws::connect(addr, "/", None).await?;
        let (done_tx, ready_tx) = (done_tx.clone(), ready_tx.clone());
        tokio::spawn(async move {
            if server == Server::Heliograph {
                let request =
                    json!({"jsonrpc":"2.0","id":1,"method":"waku_subscribe","params":{"contentTopics":[CONTENT]}});
                if ws.send(Message::text(request.to_string())).await.is_err() {
                    return;
                }
                let _ = ws.next().await;
            }
            let _ = ready_tx.send(()).await;
            let mut latencies = Vec::with_capacity(messages);
            while latencies.len() < messages {
                let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await else { break };
                let Message::Text(text) = frame else { continue };
                let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                if let Some(bytes) = payload_of(&value).filter(|b| b.len() >= 8) {
                    let sent = u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
                    let now = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    latencies.push(Duration::from_nanos(now.saturating_sub(sent)));
                }
            }
            let _ = done_tx.send(latencies).await;
        });
    }
    drop(done_tx);
    for _ in 0..subscribers {
        ready_rx.recv().await;
    }

    let publisher = crate::peers::ws::connect(addr, "/", None).await?;
    let (mut sink, mut responses) = publisher.split();
    tokio::spawn(async move { while let Some(Ok(_)) = responses.next().await {} });
    let start = Instant::now();
    let mut tick = tokio::time::interval(interval);
    for i in 0..messages {
        tick.tick().await;
        let mut payload = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX).to_be_bytes().to_vec();
        payload.resize(size.max(8), b'a' + (i % 26) as u8);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
        let frame = match server {
            Server::Heliograph => json!({"jsonrpc":"2.0","id":i,"method":"waku_publish",
                "params":{"message":{"payload":b64,"contentTopic":CONTENT}}}),
            Server::Bare => json!({"payload": b64}),
        };
        sink.send(Message::text(frame.to_string())).await?;
    }
    let mut latencies = Vec::with_capacity(subscribers * messages);
    while let Some(batch) = done_rx.recv().await {
        latencies.extend(batch);
    }
    let elapsed = start.elapsed();
    drop(sink);
    shutdown.cancel();
    if let Some(node) = node {
        node.stopped().await;
    }
    Ok(FanoutResult { latencies, expected: subscribers * messages, elapsed })
}
