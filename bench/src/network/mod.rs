//! `heliograph-bench network`: a network of real Heliograph nodes (in-process,
//! over the simulated WAN of [`netsim`]) connected as deployments connect them:
//! a short bootstrap list plus peer exchange. Measures propagation (time until
//! 50/95/100 % of nodes have a message), bandwidth amplification against
//! gossipsub's D-based cost, mesh health, churn (20 % killed and restarted)
//! and store consistency after a partition heals.

pub mod cluster;
pub mod netsim;
mod phases;
mod report;

use std::path::Path;
use std::time::Duration;

use cluster::Cluster;
use netsim::{Model, Netsim, RttModel};

/// Everything one run is parameterised by.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes in the network.
    pub nodes: usize,
    /// The first this many nodes are every node's bootstrap list.
    pub bootstrap: usize,
    /// Link model.
    pub model: Model,
    /// Network-wide publish rate, messages/s, from random nodes.
    pub rate: f64,
    /// Seconds of publishing per message size.
    pub seconds: u64,
    /// Payload sizes, bytes.
    pub sizes: Vec<usize>,
    /// Share of nodes killed and restarted in the churn phase.
    pub churn: f64,
    /// How long churned nodes stay down.
    pub churn_down: Duration,
    /// How long the two halves stay apart.
    pub partition: Duration,
    /// Seed of regions, link draws, publishers and victims.
    pub seed: u64,
}

/// Runs every phase; writes plots into `out` and returns the markdown report
/// and whether any message was lost outside churn (the smoke fails on it).
pub async fn run(params: &Params, out: &Path) -> anyhow::Result<(String, bool)> {
    anyhow::ensure!(params.nodes >= 4 && params.bootstrap >= 1, "a network run needs 4 nodes and 1 bootstrap node");
    let sim = Netsim::new(params.nodes, params.model, params.seed);
    let started = tokio::time::Instant::now();
    let cluster = Cluster::start(params.nodes, params.bootstrap.min(params.nodes), sim).await?;
    let started_in = started.elapsed();
    eprintln!("network: {} nodes started in {:.1} s", params.nodes, started_in.as_secs_f64());
    let mut run = phases::Run::new(cluster, params.clone());
    let formed = run.form().await?;
    let mut propagation = Vec::new();
    for (k, size) in params.sizes.iter().enumerate() {
        propagation.push(run.propagate(*size, k as u64).await?);
    }
    let mesh_after = run.mesh_health().await;
    let churn = run.churn().await?;
    let partition = run.partition().await?;
    run.cluster.stop().await;
    let lost_outside_churn = propagation.iter().any(|p| p.lost > 0 || p.lagged > 0);
    let results = report::Results { params, started_in, formed, propagation, mesh_after, churn, partition };
    report::plots(&results, out)?;
    Ok((report::markdown(&results), lost_outside_churn))
}

/// The parameters of `--quick` (the 20-node smoke in scripts/test) and of a full run.
pub fn params(nodes: usize, quick: bool, rtt: RttModel, rate: f64, seed: u64) -> Params {
    Params {
        nodes,
        bootstrap: 3,
        model: Model { rtt, uplink_bps: 50e6, loss: 0.002 },
        rate,
        seconds: if quick { 4 } else { 30 },
        sizes: vec![1_000, 10_000],
        churn: 0.2,
        churn_down: Duration::from_secs(if quick { 3 } else { 10 }),
        partition: Duration::from_secs(if quick { 8 } else { 60 }),
        seed,
    }
}
