//! Relay through a loopback mesh of in-process Heliograph nodes: one-way
//! latency of paced messages, then the delivered rate of a burst.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use heliograph_node::config::Config;
use heliograph_node::waku::{PubsubTopic, RelayMessage};
use heliograph_node::{Node, p2p::PublishError};
use heliograph_proto::WakuMessage;
use tokio_util::sync::CancellationToken;

/// What one mesh run measured.
pub struct MeshResult {
    /// One-way latencies publisher → farthest subscriber.
    pub latencies: Vec<Duration>,
    /// Messages sent in the burst.
    pub burst_sent: usize,
    /// Burst messages delivered at the receiver.
    pub burst_received: usize,
    /// Time from the first burst send to the last delivery.
    pub burst_elapsed: Duration,
}

fn topic() -> PubsubTopic {
    PubsubTopic::Sharded { cluster: 1, shard: 0 }
}

fn message(seq: u64, size: usize) -> RelayMessage {
    let mut payload = seq.to_be_bytes().to_vec();
    payload.resize(size.max(8), 0xab);
    let m = WakuMessage { payload, content_topic: "/bench/1/relay/proto".into(), ..Default::default() };
    RelayMessage::encode(topic(), m).expect("bench messages are valid")
}

fn seq_of(m: &RelayMessage) -> u64 {
    u64::from_be_bytes(m.message.payload[..8].try_into().expect("8-byte prefix"))
}

/// Starts `n` nodes on loopback, each bootstrapping from all earlier ones.
async fn start_mesh(n: usize, dirs: &tempfile::TempDir, shutdown: &CancellationToken) -> anyhow::Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let mut config = Config { data_dir: dirs.path().join(format!("node{i}")), ..Config::default() };
        config.rest.enabled = false;
        config.bridge.enabled = false;
        config.relay.shards = vec![0];
        config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        config.network.bootstrap = nodes.iter().map(|node| node.listen_addrs[0].clone().into()).collect();
        nodes.push(Node::start(config, shutdown.clone()).await?);
    }
    Ok(nodes)
}

/// Runs the benchmark over a mesh of `nodes` nodes.
pub async fn run(nodes: usize, paced: usize, burst: usize, size: usize) -> anyhow::Result<MeshResult> {
    let dirs = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let mesh = start_mesh(nodes, &dirs, &shutdown).await?;
    let publisher = mesh.first().expect("at least one node").network.clone();
    let mut inbox = mesh.last().expect("at least one node").network.messages();

    // Warm up until the receiver gets messages: the mesh has formed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seq = 1u64 << 62;
    'warm: loop {
        anyhow::ensure!(Instant::now() < deadline, "the mesh did not form within 30 s");
        seq += 1;
        match publisher.publish(message(seq, size)).await {
            Ok(_) | Err(PublishError::NoPeers(_)) => {}
            Err(e) => anyhow::bail!("warm-up publish: {e}"),
        }
        let wait = tokio::time::sleep(Duration::from_millis(100));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                got = inbox.recv() => if got.is_ok() { break 'warm; },
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    while inbox.try_recv().is_ok() {}

    // Paced: one message in flight at a time.
    let mut latencies = Vec::with_capacity(paced);
    for i in 0..paced as u64 {
        let sent = Instant::now();
        publisher.publish(message(i, size)).await?;
        loop {
            let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await??;
            if seq_of(&got) == i {
                latencies.push(sent.elapsed());
                break;
            }
        }
    }

    // Burst: as fast as the publisher takes them.
    let base = 1u64 << 40;
    let receiver = tokio::spawn(async move {
        let mut arrivals = HashMap::new();
        while arrivals.len() < burst {
            match tokio::time::timeout(Duration::from_secs(3), inbox.recv()).await {
                Ok(Ok(m)) if seq_of(&m) >= base => {
                    arrivals.insert(seq_of(&m), Instant::now());
                }
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        arrivals
    });
    let start = Instant::now();
    let mut sent = 0;
    for i in 0..burst as u64 {
        if publisher.publish(message(base + i, size)).await.is_ok() {
            sent += 1;
        }
    }
    let arrivals = receiver.await?;
    let last = arrivals.values().max().copied().unwrap_or(start);
    shutdown.cancel();
    for node in mesh {
        node.stopped().await;
    }
    Ok(MeshResult { latencies, burst_sent: sent, burst_received: arrivals.len(), burst_elapsed: last - start })
}
