//! Relay through a loopback mesh of in-process Heliograph nodes: one-way
//! latency of paced messages, then the delivered rate of a burst; and an
//! open-loop run at a fixed message rate with every other node receiving.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Starts `n` nodes on loopback, each bootstrapping from all earlier ones, with or without a store.
async fn start_mesh(
    n: usize,
    store: bool,
    dirs: &tempfile::TempDir,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let mut config = Config { data_dir: dirs.path().join(format!("node{i}")), ..Config::default() };
        config.rest.enabled = false;
        config.bridge.enabled = false;
        config.relay.shards = vec![0];
        config.store.enabled = store;
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
    let mesh = start_mesh(nodes, true, &dirs, &shutdown).await?;
    let publisher = mesh.first().expect("at least one node").network.clone();
    let mut inbox = mesh.last().expect("at least one node").network.messages();

    wait_until_all_receive(&mesh, size).await?;
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

/// What one fixed-rate run measured.
pub struct RateResult {
    /// Messages the publisher's node accepted.
    pub sent: usize,
    /// Deliveries expected: every scheduled message at every node but the publisher's
    /// (a publish the node refused counts as lost).
    pub expected: usize,
    /// One-way latencies of every delivery, from the moment its publish began.
    pub latencies: Vec<Duration>,
    /// How far the publisher fell behind its schedule at worst: a mesh that
    /// cannot keep up with the rate shows here rather than as a lower rate.
    pub behind: Duration,
    /// CPU time the whole process (every node) used from the first publish to the last
    /// delivery, per second of that span: cores busy.
    pub cores: f64,
    /// Deliveries a receiving node's local consumers missed because they lagged.
    pub lagged: u64,
}

/// Publishes at `rate` messages/s for `seconds` from the first node of a fresh
/// `nodes`-node mesh (stores on or off), and times the delivery of every message at every other node.
pub async fn run_at_rate(
    nodes: usize,
    store: bool,
    rate: u32,
    seconds: u32,
    size: usize,
) -> anyhow::Result<RateResult> {
    anyhow::ensure!(nodes >= 2 && rate > 0, "a rate run needs two nodes and a positive rate");
    let dirs = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let mesh = start_mesh(nodes, store, &dirs, &shutdown).await?;
    let publisher = mesh[0].network.clone();
    wait_until_all_receive(&mesh, size).await?;

    let total = rate as usize * seconds as usize;
    let base = 1u64 << 40;
    let start = Instant::now() + Duration::from_millis(50);
    let scheduled = move |seq: u64| start + Duration::from_secs_f64((seq - base) as f64 / f64::from(rate));
    // When each publish began, in nanoseconds after `start`, written before the publish.
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let receivers: Vec<_> = mesh[1..]
        .iter()
        .map(|node| {
            let mut inbox = node.network.messages();
            let sent_at = sent_at.clone();
            tokio::spawn(async move {
                let (mut latencies, mut lagged, mut last) = (Vec::with_capacity(total), 0u64, None);
                loop {
                    match tokio::time::timeout(Duration::from_secs(3), inbox.recv()).await {
                        Ok(Ok(m)) if seq_of(&m) >= base => {
                            let offset = sent_at[(seq_of(&m) - base) as usize].load(Ordering::Acquire);
                            latencies.push((start + Duration::from_nanos(offset)).elapsed());
                            last = Some(Instant::now());
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => lagged += n,
                        Ok(Err(_)) | Err(_) => break,
                    }
                    if latencies.len() == total {
                        break;
                    }
                }
                (latencies, lagged, last)
            })
        })
        .collect();

    let (mut sent, mut behind) = (0, Duration::ZERO);
    let (cpu_before, began) = (own_cpu_time()?, Instant::now());
    for i in 0..total as u64 {
        let due = scheduled(base + i);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let now = Instant::now();
        behind = behind.max(now.saturating_duration_since(due));
        let offset = u64::try_from(now.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX);
        sent_at[i as usize].store(offset, Ordering::Release);
        if publisher.publish(message(base + i, size)).await.is_ok() {
            sent += 1;
        }
    }
    let (mut latencies, mut lagged, mut last) = (Vec::with_capacity(total * (nodes - 1)), 0, began);
    for receiver in receivers {
        let (l, g, at) = receiver.await?;
        latencies.extend(l);
        lagged += g;
        last = last.max(at.unwrap_or(began));
    }
    // Over the span from the first publish to the last delivery, not the idle wait after it.
    let span = last.saturating_duration_since(began).max(Duration::from_millis(1));
    let cores = (own_cpu_time()? - cpu_before).as_secs_f64() / span.as_secs_f64();
    shutdown.cancel();
    for node in mesh {
        node.stopped().await;
    }
    Ok(RateResult { sent, expected: total * (nodes - 1), latencies, behind, cores, lagged })
}

/// User plus system CPU time of this process so far.
fn own_cpu_time() -> anyhow::Result<Duration> {
    crate::peers::drive::cpu_time(std::process::id()).ok_or_else(|| anyhow::anyhow!("unreadable /proc/self/stat"))
}

/// Publishes warm-up messages from the first node until every other node has received one.
async fn wait_until_all_receive(mesh: &[Node], size: usize) -> anyhow::Result<()> {
    let publisher = mesh[0].network.clone();
    let mut inboxes: Vec<_> = mesh[1..].iter().map(|node| node.network.messages()).collect();
    let mut pending: Vec<bool> = vec![true; inboxes.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seq = 1u64 << 62;
    while pending.iter().any(|p| *p) {
        anyhow::ensure!(Instant::now() < deadline, "the mesh did not reach every node within 30 s");
        seq += 1;
        match publisher.publish(message(seq, size)).await {
            Ok(_) | Err(PublishError::NoPeers(_)) => {}
            Err(e) => anyhow::bail!("warm-up publish: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (inbox, waiting) in inboxes.iter_mut().zip(pending.iter_mut()) {
            while inbox.try_recv().is_ok() {
                *waiting = false;
            }
        }
    }
    // Let gossipsub's mesh settle past its first heartbeats.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}
