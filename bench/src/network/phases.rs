//! The phases of a network run, each measured on the running cluster:
//! formation, propagation per message size, churn, and a partition that heals.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heliograph_node::p2p::NetworkHandle;
use rand_core::{RngCore, SeedableRng};
use tokio::time::Instant;

use super::Params;
use super::cluster::{Arrivals, Cluster, message};

/// gossipsub's D_low in the node's relay configuration: below it a node grafts.
pub const MESH_LOW: usize = 4;
/// How long deliveries may still come in after the last publish.
const DRAIN: Duration = Duration::from_secs(10);

/// Mesh degree and connections per node at one moment.
#[derive(Debug, Clone, Default)]
pub struct MeshHealth {
    /// Mesh peers on the topic, per node that is up.
    pub degrees: Vec<usize>,
    /// Connected peers, per node that is up.
    pub connections: Vec<usize>,
}

impl MeshHealth {
    /// Nodes with no mesh peer at all.
    pub fn outside(&self) -> usize {
        self.degrees.iter().filter(|d| **d == 0).count()
    }

    /// Mean mesh degree.
    pub fn mean_degree(&self) -> f64 {
        self.degrees.iter().sum::<usize>() as f64 / self.degrees.len().max(1) as f64
    }
}

/// How the network formed from the bootstrap list.
#[derive(Debug, Clone)]
pub struct Formed {
    /// Until every node had a mesh peer.
    pub meshed_in: Option<Duration>,
    /// Until every node had D_low mesh peers.
    pub full_in: Option<Duration>,
    /// The mesh then.
    pub mesh: MeshHealth,
}

/// One message's spread.
#[derive(Debug, Clone)]
pub struct Spread {
    /// Until half, 95 % and all of the expected receivers had it (None: never).
    pub t50: Option<Duration>,
    /// 95 %.
    pub t95: Option<Duration>,
    /// 100 %.
    pub t100: Option<Duration>,
}

/// Traffic counters summed over the nodes up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    /// Bytes received on the wire (Noise, yamux, every protocol).
    pub wire: f64,
    /// Relay messages received, duplicates included.
    pub copies: f64,
    /// Relay messages received the first time.
    pub first: f64,
    /// Bytes of relay messages received, duplicates included.
    pub copy_bytes: f64,
    /// IWANT requests for messages.
    pub iwant: f64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;

    fn sub(self, o: Traffic) -> Traffic {
        Traffic {
            wire: self.wire - o.wire,
            copies: self.copies - o.copies,
            first: self.first - o.first,
            copy_bytes: self.copy_bytes - o.copy_bytes,
            iwant: self.iwant - o.iwant,
        }
    }
}

/// What the propagation of one message size measured.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// Payload bytes.
    pub size: usize,
    /// Messages the publishing nodes accepted.
    pub published: usize,
    /// Publishes a node refused.
    pub refused: usize,
    /// Deliveries expected (every accepted message at every other node).
    pub expected: usize,
    /// Deliveries that never came.
    pub lost: usize,
    /// Deliveries missed by a lagging local consumer (should be 0).
    pub lagged: u64,
    /// Per message.
    pub spreads: Vec<Spread>,
    /// Every delivery's latency.
    pub latencies: Vec<Duration>,
    /// Traffic while publishing and draining.
    pub traffic: Traffic,
    /// Traffic of the same length of idle network before it.
    pub idle: Traffic,
    /// Mean mesh degree during the run.
    pub mean_degree: f64,
    /// Wire bytes of one relayed copy: the encoded WakuMessage.
    pub encoded: usize,
}

/// What churn measured.
#[derive(Debug, Clone)]
pub struct Churn {
    /// Nodes killed and restarted.
    pub victims: usize,
    /// How long they stayed down.
    pub down: Duration,
    /// After the kill, until every survivor was back at D_low mesh peers (or its degree
    /// before the kill, if lower).
    pub survivors_recovered_in: Option<Duration>,
    /// After the restart, until every node was back so.
    pub restarted_recovered_in: Option<Duration>,
    /// Messages published by survivors during churn.
    pub published: usize,
    /// Of their deliveries to survivors (which were never down), how many never came.
    pub lost_at_survivors: usize,
    /// Deliveries expected at survivors.
    pub expected_at_survivors: usize,
    /// Restarted nodes whose store then held every message published until the restart.
    pub victims_complete: usize,
    /// After the restart, until every restarted node's store was complete.
    pub victims_complete_in: Option<Duration>,
}

/// What the partition measured.
#[derive(Debug, Clone)]
pub struct Partition {
    /// How long the halves were apart.
    pub apart: Duration,
    /// Messages published on each side.
    pub published: [usize; 2],
    /// Deliveries within a half that never came (the half's mesh re-forming).
    pub lost_within: usize,
    /// Deliveries expected within the halves.
    pub expected_within: usize,
    /// After the heal, per node, until its store held every message of both halves.
    pub consistent_in: Vec<Option<Duration>>,
    /// Messages still missing from stores when the wait ended, summed over nodes.
    pub missing_at_end: usize,
}

/// A publish: sequence number, node, when.
type Sent = (u64, usize, Instant);

/// A publishing task (its sent messages and refusals when done) and the messages sent so far.
type Publishing = (tokio::task::JoinHandle<(Vec<Sent>, usize)>, Arc<Mutex<Vec<Sent>>>);

/// The running cluster and the state shared by phases.
pub struct Run {
    /// The nodes.
    pub cluster: Cluster,
    params: Params,
    rng: rand_chacha::ChaCha8Rng,
    next_seq: u64,
}

impl Run {
    /// Phases over `cluster`.
    pub fn new(cluster: Cluster, params: Params) -> Self {
        let rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
        Run { cluster, params, rng, next_seq: 1 }
    }

    /// Waits for the mesh to form from the bootstrap list and peer exchange.
    pub async fn form(&mut self) -> anyhow::Result<Formed> {
        let quick = self.params.seconds < 10;
        let limit = Duration::from_secs(if quick { 40 } else { 120 });
        let began = Instant::now();
        let meshed_in = self.cluster.wait_for_mesh(|_| 1, limit).await;
        anyhow::ensure!(meshed_in.is_some(), "some node had no mesh peer after {limit:?}");
        let full_limit = Duration::from_secs(if quick { 5 } else { 60 });
        let full_in = self.cluster.wait_for_mesh(|_| MESH_LOW, full_limit).await.map(|_| began.elapsed());
        eprintln!("network: mesh formed ({meshed_in:?} to one peer each, {full_in:?} to D_low)");
        Ok(Formed { meshed_in, full_in, mesh: self.mesh_health().await })
    }

    /// The mesh now.
    pub async fn mesh_health(&self) -> MeshHealth {
        let mesh = self.cluster.mesh().await;
        MeshHealth {
            degrees: mesh.iter().map(|(_, d, _)| *d).collect(),
            connections: mesh.iter().map(|(_, _, c)| *c).collect(),
        }
    }

    fn traffic(&self) -> Traffic {
        let c = &self.cluster;
        let wire = (0..c.len()).filter(|i| c.node(*i).is_some()).map(|i| c.sim.received(i) as f64).sum();
        Traffic {
            wire,
            copies: c.metric_sum("libp2p_gossipsub_topic_msg_recv_counts_unfiltered_total"),
            first: c.metric_sum("libp2p_gossipsub_topic_msg_recv_counts_total"),
            copy_bytes: c.metric_sum("libp2p_gossipsub_topic_msg_recv_bytes_unfiltered_total"),
            iwant: c.metric_sum("libp2p_gossipsub_topic_iwant_msgs_total"),
        }
    }

    fn handles(&self, nodes: impl IntoIterator<Item = usize>) -> Vec<(usize, NetworkHandle)> {
        nodes.into_iter().filter_map(|i| Some((i, self.cluster.node(i)?.network.clone()))).collect()
    }

    /// Starts publishing `size`-byte messages at the run's rate for `duration`, each
    /// from a node drawn at random among `from`.
    fn publish_for(&mut self, from: Vec<(usize, NetworkHandle)>, duration: Duration, size: usize) -> Publishing {
        let total = (self.params.rate * duration.as_secs_f64()).round() as u64;
        let first = self.next_seq;
        self.next_seq += total;
        let picks: Vec<usize> = (0..total).map(|_| (self.rng.next_u64() % from.len() as u64) as usize).collect();
        let rate = self.params.rate;
        let live = Arc::new(Mutex::new(Vec::new()));
        let so_far = live.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let (mut sent, mut refused) = (Vec::new(), 0);
            for (k, pick) in picks.into_iter().enumerate() {
                tokio::time::sleep_until(start + Duration::from_secs_f64(k as f64 / rate)).await;
                let (node, handle) = &from[pick];
                let seq = first + k as u64;
                let at = Instant::now();
                match handle.publish(message(seq, size)).await {
                    Ok(_) => {
                        sent.push((seq, *node, at));
                        so_far.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((seq, *node, at));
                    }
                    Err(_) => refused += 1,
                }
            }
            (sent, refused)
        });
        (task, live)
    }

    /// Publishes at the run's rate for its seconds and measures the spread of every message.
    pub async fn propagate(&mut self, size: usize, _round: u64) -> anyhow::Result<Propagation> {
        let duration = Duration::from_secs(self.params.seconds);
        let all: Vec<usize> = (0..self.cluster.len()).collect();
        // Background traffic (heartbeats, pings, peer exchange) over as long a quiet span.
        let quiet = self.traffic();
        tokio::time::sleep(duration.min(Duration::from_secs(10))).await;
        let idle_span = duration.min(Duration::from_secs(10));
        let idle = scale(self.traffic() - quiet, (duration + DRAIN).as_secs_f64() / idle_span.as_secs_f64());

        let before = self.traffic();
        let lagged_before = self.cluster.arrivals.lagged();
        let mean_degree = self.mesh_health().await.mean_degree();
        let (sent, refused) = self.publish_for(self.handles(all.clone()), duration, size).0.await?;
        let expected_of = |from: usize| all.iter().copied().filter(move |n| *n != from);
        wait_delivered(&self.cluster.arrivals, &sent, |from| expected_of(from).collect(), DRAIN).await;
        let traffic = self.traffic() - before;
        let (mut spreads, mut latencies, mut lost) = (Vec::new(), Vec::new(), 0);
        for (seq, from, at) in &sent {
            let receivers: Vec<usize> = expected_of(*from).collect();
            let (spread, mut lat, missing) = spread_of(&self.cluster.arrivals, *seq, *at, &receivers);
            spreads.push(spread);
            latencies.append(&mut lat);
            lost += missing;
        }
        let encoded = message(0, size).encoded.len();
        eprintln!("network: {size}-byte messages: {} published, {lost} deliveries lost", sent.len());
        Ok(Propagation {
            size,
            published: sent.len(),
            refused,
            expected: sent.len() * (all.len() - 1),
            lost,
            lagged: self.cluster.arrivals.lagged() - lagged_before,
            spreads,
            latencies,
            traffic,
            idle,
            mean_degree,
            encoded,
        })
    }

    /// Kills a share of the nodes (never the bootstrap nodes) while survivors publish,
    /// restarts them after the down time, and measures recovery and loss.
    pub async fn churn(&mut self) -> anyhow::Result<Churn> {
        let n = self.cluster.len();
        let candidates: Vec<usize> = (self.params.bootstrap..n).collect();
        let k = ((n as f64 * self.params.churn).round() as usize).min(candidates.len());
        let mut pool = candidates;
        let mut victims = Vec::new();
        for _ in 0..k {
            let at = (self.rng.next_u64() % pool.len() as u64) as usize;
            victims.push(pool.swap_remove(at));
        }
        victims.sort_unstable();
        let survivors: Vec<usize> = (0..n).filter(|i| !victims.contains(i)).collect();
        let down = self.params.churn_down;
        let limit = Duration::from_secs(if self.params.seconds < 10 { 20 } else { 90 });
        // Recovered: every node back at D_low mesh peers, or at what it had before if that was less.
        let before: HashMap<usize, usize> = self.cluster.mesh().await.into_iter().map(|(i, d, _)| (i, d)).collect();
        let floor = |i: usize| before.get(&i).copied().unwrap_or(1).clamp(1, MESH_LOW);
        // Publish from survivors through the kill, the down time and the recovery.
        let window = Duration::from_secs(2) + down + Duration::from_secs(self.params.seconds.clamp(8, 30));
        let (publisher, so_far) = self.publish_for(self.handles(survivors.clone()), window, 1_000);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let killed_at = Instant::now();
        for v in &victims {
            self.cluster.kill(*v).await;
        }
        eprintln!("network: killed {} nodes", victims.len());
        let survivors_recovered_in = self.cluster.wait_for_mesh(floor, down).await;
        tokio::time::sleep(down.saturating_sub(killed_at.elapsed())).await;
        let restarted_at = Instant::now();
        for v in &victims {
            self.cluster.restart(*v).await?;
        }
        // Messages published until the restart: the restarted nodes must get the ones
        // they missed from other stores (gap filling); later ones come by relay.
        let until_restart: HashSet<u64> =
            so_far.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().map(|(seq, _, _)| *seq).collect();
        let (mut restarted_recovered_in, mut victims_complete_in) = (None, None);
        let mut complete = HashSet::new();
        while restarted_at.elapsed() < limit && (restarted_recovered_in.is_none() || victims_complete_in.is_none()) {
            if restarted_recovered_in.is_none() && self.cluster.mesh_reaches(floor).await {
                restarted_recovered_in = Some(restarted_at.elapsed());
            }
            for v in &victims {
                if !complete.contains(v) && self.cluster.stored(*v).await?.is_superset(&until_restart) {
                    complete.insert(*v);
                }
            }
            if victims_complete_in.is_none() && complete.len() == victims.len() {
                victims_complete_in = Some(restarted_at.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!(
            "network: restarted them; mesh back in {restarted_recovered_in:?}, stores in {victims_complete_in:?}"
        );
        let (sent, _) = publisher.await?;
        let expected = |from: usize| survivors.iter().copied().filter(|s| *s != from).collect::<Vec<_>>();
        wait_delivered(&self.cluster.arrivals, &sent, expected, DRAIN).await;
        let mut lost = 0;
        for (seq, from, at) in &sent {
            lost += spread_of(&self.cluster.arrivals, *seq, *at, &expected(*from)).2;
        }
        Ok(Churn {
            victims: victims.len(),
            down,
            survivors_recovered_in,
            restarted_recovered_in,
            published: sent.len(),
            lost_at_survivors: lost,
            expected_at_survivors: sent.iter().map(|(_, from, _)| expected(*from).len()).sum(),
            victims_complete: complete.len(),
            victims_complete_in,
        })
    }

    /// Splits the nodes into two halves (even and odd), publishes on both sides,
    /// heals, and waits until every store holds the messages of both sides.
    pub async fn partition(&mut self) -> anyhow::Result<Partition> {
        let n = self.cluster.len();
        let side = |i: usize| (i % 2) as u8;
        self.cluster.sim.partition((0..n).map(side).collect());
        let apart = self.params.partition;
        let (sent, _) = self.publish_for(self.handles(0..n), apart, 1_000).0.await?;
        let split_ended = Instant::now();
        self.cluster.sim.heal();
        eprintln!("network: partition of {apart:?} healed");
        let same_side = |from: usize| (0..n).filter(|i| *i != from && side(*i) == side(from)).collect::<Vec<_>>();
        let mut lost_within = 0;
        for (seq, from, at) in &sent {
            lost_within += spread_of(&self.cluster.arrivals, *seq, *at, &same_side(*from)).2;
        }
        let all: HashSet<u64> = sent.iter().map(|(seq, _, _)| *seq).collect();
        let limit = Duration::from_secs(if self.params.seconds < 10 { 30 } else { 180 });
        let mut consistent_in = vec![None; n];
        let mut missing = vec![all.len(); n];
        while split_ended.elapsed() < limit && consistent_in.iter().any(Option::is_none) {
            for i in 0..n {
                if consistent_in[i].is_none() {
                    missing[i] = all.difference(&self.cluster.stored(i).await?).count();
                    if missing[i] == 0 {
                        consistent_in[i] = Some(split_ended.elapsed());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let published = [0u8, 1].map(|s| sent.iter().filter(|(_, from, _)| side(*from) == s).count());
        Ok(Partition {
            apart,
            published,
            lost_within,
            expected_within: sent.iter().map(|(_, from, _)| same_side(*from).len()).sum(),
            consistent_in,
            missing_at_end: missing.iter().sum(),
        })
    }
}

fn scale(t: Traffic, f: f64) -> Traffic {
    Traffic {
        wire: t.wire * f,
        copies: t.copies * f,
        first: t.first * f,
        copy_bytes: t.copy_bytes * f,
        iwant: t.iwant * f,
    }
}

/// Waits until every message reached every node `expected` names, or `limit` after the last publish.
async fn wait_delivered(arrivals: &Arrivals, sent: &[Sent], expected: impl Fn(usize) -> Vec<usize>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let done = sent.iter().all(|(seq, from, _)| {
            let got = arrivals.of(*seq);
            expected(*from).iter().all(|n| got.contains_key(n))
        });
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The spread of message `seq` published at `at` over `receivers`: the times to
/// 50/95/100 %, every latency, and how many receivers never got it.
fn spread_of(arrivals: &Arrivals, seq: u64, at: Instant, receivers: &[usize]) -> (Spread, Vec<Duration>, usize) {
    let got = arrivals.of(seq);
    let mut latencies: Vec<Duration> =
        receivers.iter().filter_map(|r| got.get(r)).map(|t| t.saturating_duration_since(at)).collect();
    latencies.sort_unstable();
    let missing = receivers.len() - latencies.len();
    let at_share = |q: f64| {
        let k = ((receivers.len() as f64 * q).ceil() as usize).max(1);
        latencies.get(k - 1).copied()
    };
    (Spread { t50: at_share(0.5), t95: at_share(0.95), t100: at_share(1.0) }, latencies.clone(), missing)
}
