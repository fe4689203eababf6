//! The nodes of a network run: real Heliograph nodes (gossipsub, RocksDB
//! store, peer exchange) started in-process over the simulated network, each
//! on its own loopback address, bootstrapping from a short list and finding
//! the rest by peer exchange. Records when each node delivers each bench
//! message, and kills and restarts nodes with their data.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heliograph_node::Node;
use heliograph_node::config::Config;
use heliograph_node::store::query::Query;
use heliograph_node::waku::{PubsubTopic, RelayMessage};
use heliograph_proto::WakuMessage;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::netsim::{Netsim, ip_of};

/// Marks the payload of a bench message (then the 8-byte sequence number).
const MAGIC: &[u8; 8] = b"hgnetben";

/// The one pubsub topic every node relays.
pub fn topic() -> PubsubTopic {
    PubsubTopic::Sharded { cluster: 1, shard: 0 }
}

/// A bench message of `size` payload bytes carrying `seq`.
pub fn message(seq: u64, size: usize) -> RelayMessage {
    let mut payload = MAGIC.to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.resize(size.max(16), 0x5a);
    let m = WakuMessage {
        payload,
        content_topic: "/bench/1/network/proto".into(),
        timestamp: Some(heliograph_node::waku::time::now_ns()),
        ..Default::default()
    };
    RelayMessage::encode(topic(), m).expect("bench messages are valid")
}

fn seq_of(payload: &[u8]) -> Option<u64> {
    let rest = payload.strip_prefix(MAGIC.as_slice())?;
    Some(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?))
}

/// When each node delivered each bench message: seq → node → instant.
#[derive(Clone, Default)]
pub struct Arrivals {
    inner: Arc<Mutex<HashMap<u64, HashMap<usize, Instant>>>>,
    lagged: Arc<std::sync::atomic::AtomicU64>,
}

impl Arrivals {
    fn record(&self, seq: u64, node: usize, at: Instant) {
        let mut map = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(seq).or_default().entry(node).or_insert(at);
    }

    /// The nodes that delivered `seq`, with when.
    pub fn of(&self, seq: u64) -> HashMap<usize, Instant> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&seq).cloned().unwrap_or_default()
    }

    /// Deliveries local consumers missed because they lagged (would show as loss).
    pub fn lagged(&self) -> u64 {
        self.lagged.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct Running {
    node: Node,
    shutdown: CancellationToken,
    recorder: JoinHandle<()>,
}

/// The nodes of one run.
pub struct Cluster {
    /// The simulated network under them.
    pub sim: Netsim,
    /// Delivery times of bench messages.
    pub arrivals: Arrivals,
    configs: Vec<Config>,
    nodes: Vec<Option<Running>>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes one after the other; the first `bootstrap` are every
    /// node's bootstrap list (each of those lists the ones started before it).
    pub async fn start(n: usize, bootstrap: usize, sim: Netsim) -> anyhow::Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let mut cluster =
            Cluster { sim, arrivals: Arrivals::default(), configs: Vec::new(), nodes: Vec::new(), _dir: dir };
        let mut seeds: Vec<Multiaddr> = Vec::new();
        for i in 0..n {
            let mut config = Config { data_dir: cluster._dir.path().join(format!("node{i}")), ..Config::default() };
            config.rest.enabled = false;
            config.bridge.enabled = false;
            config.relay.shards = vec![0];
            config.network.listen = vec![format!("/ip4/{}/tcp/0", ip_of(i)).parse()?];
            config.network.bootstrap = seeds.iter().cloned().map(Into::into).collect();
            cluster.configs.push(config);
            cluster.nodes.push(None);
            cluster.launch(i).await?;
            let running = cluster.nodes[i].as_ref().expect("just started");
            // Restarts come back on the same address, as a redeployed server does.
            let bound = running.node.listen_addrs[0].clone();
            let port = bound.iter().find_map(|p| if let Protocol::Tcp(port) = p { Some(port) } else { None });
            cluster.configs[i].network.listen = vec![format!("/ip4/{}/tcp/{}", ip_of(i), port.unwrap_or(0)).parse()?];
            if i < bootstrap {
                seeds.push(bound);
            }
        }
        Ok(cluster)
    }

    async fn launch(&mut self, i: usize) -> anyhow::Result<()> {
        let shutdown = CancellationToken::new();
        let node = Node::start_with_transport(self.configs[i].clone(), self.sim.transport(i), shutdown.clone()).await?;
        let mut inbox = node.network.messages();
        let arrivals = self.arrivals.clone();
        let recorder = tokio::spawn(async move {
            loop {
                match inbox.recv().await {
                    Ok(m) => {
                        if let Some(seq) = seq_of(&m.message.payload) {
                            arrivals.record(seq, i, Instant::now());
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        arrivals.lagged.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        self.nodes[i] = Some(Running { node, shutdown, recorder });
        Ok(())
    }

    /// Nodes in the run, up or down.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`, if it is up.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)?.as_ref().map(|r| &r.node)
    }

    /// Stops node `i` (its data stays).
    pub async fn kill(&mut self, i: usize) {
        if let Some(Running { node, shutdown, recorder }) = self.nodes[i].take() {
            shutdown.cancel();
            node.stopped().await;
            recorder.abort();
        }
    }

    /// Starts node `i` again with its data, on its address.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.launch(i).await
    }

    /// Mesh peers on the topic and connected peers, per node that is up.
    pub async fn mesh(&self) -> Vec<(usize, usize, usize)> {
        let topic = topic().to_string();
        let mut out = Vec::new();
        for (i, running) in self.nodes.iter().enumerate() {
            if let Some(r) = running {
                let peers = r.node.network.peers().await;
                let mesh = peers.iter().filter(|p| p.mesh.contains(&topic)).count();
                out.push((i, mesh, peers.len()));
            }
        }
        out
    }

    /// The sum of one metric family's samples over every node that is up.
    pub fn metric_sum(&self, name: &str) -> f64 {
        self.nodes.iter().flatten().map(|r| metric(&r.node.metrics_text(), name)).sum()
    }

    /// The bench messages node `i` holds in its store, by sequence number.
    pub async fn stored(&self, i: usize) -> anyhow::Result<HashSet<u64>> {
        let store = self.node(i).and_then(Node::store).ok_or_else(|| anyhow::anyhow!("node {i} has no store"))?;
        let mut out = HashSet::new();
        let mut cursor = None;
        loop {
            let query = Query {
                request_id: String::new(),
                include_data: true,
                pubsub_topic: Some(topic().to_string()),
                content_topics: Vec::new(),
                time_start: None,
                time_end: None,
                hashes: Vec::new(),
                cursor: cursor.take(),
                forward: true,
                limit: store.max_page_size(),
            };
            let page = store.query(query).await.map_err(|e| anyhow::anyhow!("store query: {e}"))?;
            out.extend(page.messages.iter().filter_map(|m| seq_of(&m.message.payload)));
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Stops every node.
    pub async fn stop(mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i).await;
        }
    }

    /// Waits until every node `i` that is up has at least `min(i)` mesh peers; returns how long it took.
    pub async fn wait_for_mesh(&self, min: impl Fn(usize) -> usize, limit: Duration) -> Option<Duration> {
        let began = Instant::now();
        while began.elapsed() < limit {
            if self.mesh_reaches(&min).await {
                return Some(began.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    /// Whether every node `i` that is up has at least `min(i)` mesh peers now.
    pub async fn mesh_reaches(&self, min: impl Fn(usize) -> usize) -> bool {
        self.mesh().await.iter().all(|(i, mesh, _)| *mesh >= min(*i))
    }
}

/// The sum of the samples of metric `name` (any labels) in a Prometheus text page.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let family = key.split('{').next()?;
            (family == name).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_messages_carry_their_sequence_number() {
        let m = message(42, 1000);
        assert_eq!(seq_of(&m.message.payload), Some(42));
        assert_eq!(m.message.payload.len(), 1000);
        assert_eq!(seq_of(b"other payload of some length"), None);
    }

    #[test]
    fn metric_sums_every_labelled_sample() {
        let text = "# HELP x y\nfoo_total{a=\"1\"} 2\nfoo_total{a=\"2\"} 3.5\nfoo_total_more 9\n";
        assert!((metric(text, "foo_total") - 5.5).abs() < 1e-9);
    }
}
