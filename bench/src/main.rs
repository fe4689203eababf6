//! `heliograph-bench`: benchmarks that put Heliograph beside a baseline
//! measured in the same run, and report ratios.
//!
//! ```text
//! cargo run -p heliograph-bench --release -- relay-mesh
//! cargo run -p heliograph-bench --release -- light-clients
//! cargo run -p heliograph-bench --release -- fanout
//! cargo run -p heliograph-bench --release -- network --nodes 100
//! ```

mod baseline;
mod instructions;
mod light;
mod mesh;
mod network;
mod peers;
mod plot;
mod stats;
mod store;

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use stats::{micros, summarize};

/// Heliograph benchmarks; results go to stdout and to a markdown file.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    /// Folder for the markdown results.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Scenario {
    /// Relay latency and rate through a loopback mesh, against the raw loopback round trip.
    RelayMesh {
        /// Nodes in the mesh.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Paced messages for latency (one in flight).
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Messages in the throughput burst.
        #[arg(long, default_value_t = 20000)]
        burst: usize,
        /// Payload bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// End-to-end latency and loss through a mesh at fixed message rates, every node but the publisher's receiving.
    MeshRate {
        /// Nodes in the mesh.
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        /// Message rates to run, one fresh mesh each (messages/s).
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
        rates: Vec<u32>,
        /// Seconds of publishing per rate.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
        /// Run the nodes without their message store (relay only).
        #[arg(long)]
        no_store: bool,
        /// Payload bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// Instructions per operation of the hot paths (decode, hash, seal, open, route) under callgrind.
    Instructions,
    /// Runs one hot path; what `instructions` runs under callgrind.
    #[command(hide = true)]
    HotPath {
        /// The hot path.
        path: instructions::HotPath,
        /// Iterations.
        #[arg(long)]
        iterations: u64,
    },
    /// Store ingest and query, against a plain RocksDB loop of the same data.
    Store {
        /// Messages stored.
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        /// Payload bytes.
        #[arg(long, default_value_t = 300)]
        payload: usize,
        /// Queries timed (and as many hash lookups and raw reads).
        #[arg(long, default_value_t = 10_000)]
        queries: usize,
    },
    /// Filter push latency and lightpush rate of many light clients on one service node.
    LightClients {
        /// Concurrent light clients, all subscribed by filter.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Paced lightpushes for the push latency (one in flight, pushed to every client).
        #[arg(long, default_value_t = 100)]
        messages: usize,
        /// Lightpushes per client in the rate phase (all clients at once).
        #[arg(long, default_value_t = 20)]
        per_client: usize,
        /// Payload bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// Publish → deliver latency, one subscriber, beside Redis, NATS, Mosquitto and a bare WebSocket server.
    PubsubLatency {
        /// A seconds-long smoke run that fails if any message is lost.
        #[arg(long)]
        quick: bool,
    },
    /// Fan-out to 1, 100 and 1000 subscribers beside Redis, NATS, Mosquitto and a bare WebSocket server.
    Fanout {
        /// A seconds-long smoke run that fails if any delivery is lost.
        #[arg(long)]
        quick: bool,
    },
    /// Memory per idle WebSocket connection beside NATS, Mosquitto and a bare WebSocket server.
    IdleConns {
        /// Idle connections per server.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// A seconds-long smoke run (at most 200 connections).
        #[arg(long)]
        quick: bool,
    },
    /// Runs one server of the side-by-side scenarios in this process (used by them).
    /// A network of in-process nodes over a simulated WAN: propagation, bandwidth,
    /// mesh health, churn, partition and store consistency (bench/results/network.md).
    Network {
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        /// Network-wide publish rate, messages/s.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Seconds of publishing per message size [default: 30, 4 with --quick].
        #[arg(long)]
        seconds: Option<u64>,
        /// Link RTTs: `wan` (regions mix) or `fixed:<ms>`.
        #[arg(long, default_value = "wan")]
        rtt: network::netsim::RttModel,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Short phases, for the smoke in scripts/test; fails on message loss outside churn.
        #[arg(long)]
        quick: bool,
    },
    #[command(hide = true)]
    Serve {
        /// Which server.
        what: peers::process::Own,
        /// Its data folder.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Logs only when asked for (RUST_LOG), on stderr.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let (name, report) = match args.scenario {
        Scenario::HotPath { path, iterations } => return instructions::run(path, iterations),
        Scenario::Instructions => ("instructions", instruction_counts(&args.out)?),
        Scenario::RelayMesh { nodes, messages, burst, size } => {
            ("relay-mesh", runtime()?.block_on(relay_mesh(nodes, messages, burst, size))?)
        }
        Scenario::MeshRate { nodes, rates, seconds, no_store, size } => {
            ("mesh-rate", runtime()?.block_on(mesh_rate(nodes, !no_store, &rates, seconds, size))?)
        }
        Scenario::Store { messages, payload, queries } => {
            ("store", runtime()?.block_on(store(messages, payload, queries))?)
        }
        Scenario::LightClients { clients, messages, per_client, size } => {
            ("light-clients", runtime()?.block_on(light_clients(clients, messages, per_client, size))?)
        }
        Scenario::PubsubLatency { quick } => {
            ("pubsub-latency", runtime()?.block_on(peers::scenarios::pubsub_latency(quick, &args.out))?)
        }
        Scenario::Fanout { quick } => ("fanout", runtime()?.block_on(peers::scenarios::fanout(quick, &args.out))?),
        Scenario::IdleConns { connections, quick } => {
            ("idle-conns", runtime()?.block_on(peers::scenarios::idle_conns(quick, connections, &args.out))?)
        }
        Scenario::Network { nodes, rate, seconds, rtt, seed, quick } => {
            let mut params = network::params(nodes, quick, rtt, rate, seed);
            params.seconds = seconds.unwrap_or(params.seconds);
            let (report, lost) = runtime()?.block_on(network::run(&params, &args.out))?;
            if lost {
                println!("{report}");
                anyhow::bail!("messages were lost outside churn");
            }
            ("network", report)
        }
        Scenario::Serve { what, dir } => return runtime()?.block_on(peers::process::serve(what, &dir)),
    };
    println!("{report}");
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join(format!("{name}.md"));
    std::fs::write(&file, &report)?;
    eprintln!("written to {}", file.display());
    Ok(())
}

async fn relay_mesh(nodes: usize, messages: usize, burst: usize, size: usize) -> anyhow::Result<String> {
    let mut rtt = baseline::loopback_rtt(messages.max(100)).await?;
    let mut result = mesh::run(nodes, messages, burst, size).await?;
    let rtt = summarize(&mut rtt).ok_or_else(|| anyhow::anyhow!("no baseline samples"))?;
    let relay = summarize(&mut result.latencies).ok_or_else(|| anyhow::anyhow!("no relay samples"))?;
    let rate = result.burst_received as f64 / result.burst_elapsed.as_secs_f64().max(1e-9);
    let lost = result.burst_sent - result.burst_received.min(result.burst_sent);
    let ratio = |a: std::time::Duration, b: std::time::Duration| a.as_secs_f64() / b.as_secs_f64();

    let mut out = String::new();
    writeln!(out, "## Relay through a {nodes}-node loopback mesh ({size}-byte payload)\n")?;
    writeln!(out, "| measure | Heliograph relay (one way) | loopback TCP round trip | ratio |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    writeln!(out, "| p50 | {} | {} | {:.2}x |", micros(relay.p50), micros(rtt.p50), ratio(relay.p50, rtt.p50))?;
    writeln!(out, "| p99 | {} | {} | {:.2}x |", micros(relay.p99), micros(rtt.p99), ratio(relay.p99, rtt.p99))?;
    writeln!(out, "| samples | {} | {} | |\n", relay.count, rtt.count)?;
    writeln!(
        out,
        "Burst: {} sent, {} delivered ({} lost), {:.0} messages/s delivered at the far node.",
        result.burst_sent, result.burst_received, lost, rate
    )?;
    Ok(out)
}

/// Build profile of this binary, so instruction counts are only compared within one.
const PROFILE: &str = if cfg!(debug_assertions) { "dev" } else { "release" };

fn instruction_counts(out: &std::path::Path) -> anyhow::Result<String> {
    let counts_file = out.join("instructions.txt");
    let previous = std::fs::read_to_string(&counts_file).unwrap_or_default();
    let counts = instructions::measure()?;
    std::fs::create_dir_all(out)?;
    std::fs::write(&counts_file, instructions::to_lines(&counts, PROFILE))?;
    Ok(instructions::report(&counts, &instructions::parse_counts(&previous, PROFILE), PROFILE))
}

async fn mesh_rate(nodes: usize, store: bool, rates: &[u32], seconds: u32, size: usize) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "## Relay mesh of {nodes} in-process nodes at fixed rates ({size}-byte payload, {seconds} s per rate)\n"
    )?;
    writeln!(
        out,
        "One node publishes at the rate; every other node receives every message. Latency is one way, from \
         the moment a message's publish begins to its delivery at a receiving node, over all deliveries. \
         'Behind' is how late the publisher was against its schedule at worst (a mesh that cannot keep up \
         shows there); CPU is the cores all the nodes together kept busy from the first publish to the last \
         delivery; lost counts publishes the node refused too. \
         Every node runs the default configuration{}.\n",
        if store { " (store on, RocksDB)" } else { ", but without its store" }
    )?;
    writeln!(
        out,
        "| rate (messages/s) | sent | deliveries | lost | consumer lag | p50 | p99 | behind | CPU (cores) | target met |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for &rate in rates {
        let mut r = mesh::run_at_rate(nodes, store, rate, seconds, size).await?;
        let got = r.latencies.len();
        let lost = r.expected.saturating_sub(got);
        let s = summarize(&mut r.latencies).ok_or_else(|| anyhow::anyhow!("no deliveries at {rate}/s"))?;
        let ms = std::time::Duration::from_millis;
        // Met only if the publisher also kept to the rate.
        let met = s.p50 <= ms(1) && s.p99 <= ms(5) && lost == 0 && r.behind <= ms(5);
        writeln!(
            out,
            "| {rate} | {} | {got}/{} | {lost} | {} | {} | {} | {:.0} ms | {:.2} | {} |",
            r.sent,
            r.expected,
            r.lagged,
            micros(s.p50),
            micros(s.p99),
            r.behind.as_secs_f64() * 1e3,
            r.cores,
            if met { "yes" } else { "no" }
        )?;
    }
    writeln!(out, "\nTarget: at 10 000 messages/s through 10 nodes, p50 ≤ 1 ms and p99 ≤ 5 ms with 0 lost.")?;
    Ok(out)
}

async fn store(messages: usize, payload: usize, queries: usize) -> anyhow::Result<String> {
    let mut r = store::run(messages, payload, queries).await?;
    let rate = |d: std::time::Duration| r.messages as f64 / d.as_secs_f64().max(1e-9);
    let (ingest, raw_ingest) = (rate(r.ingest), rate(r.raw_ingest));
    let q = summarize(&mut r.queries).ok_or_else(|| anyhow::anyhow!("no queries"))?;
    let h = summarize(&mut r.hash_lookups).ok_or_else(|| anyhow::anyhow!("no lookups"))?;
    let raw = summarize(&mut r.raw_reads).ok_or_else(|| anyhow::anyhow!("no reads"))?;
    let ratio = |a: std::time::Duration, b: std::time::Duration| a.as_secs_f64() / b.as_secs_f64();

    let mut out = String::new();
    writeln!(out, "## Store: {messages} messages of {payload} bytes\n")?;
    writeln!(out, "| measure | Heliograph store | plain RocksDB loop | ratio |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    writeln!(out, "| ingest (messages/s) | {ingest:.0} | {raw_ingest:.0} | {:.2}x |", ingest / raw_ingest)?;
    writeln!(
        out,
        "| hash lookup p50 | {} | {} (point read) | {:.2}x |",
        micros(h.p50),
        micros(raw.p50),
        ratio(h.p50, raw.p50)
    )?;
    writeln!(
        out,
        "| hash lookup p99 | {} | {} (point read) | {:.2}x |",
        micros(h.p99),
        micros(raw.p99),
        ratio(h.p99, raw.p99)
    )?;
    writeln!(out, "| 20-message page by content topic + time, p50 | {} | | |", micros(q.p50))?;
    writeln!(out, "| 20-message page by content topic + time, p99 | {} | | |\n", micros(q.p99))?;
    writeln!(out, "Goals: ingest ≥ 50 000 messages/s, query p50 ≤ 100 µs (nwaku's published mean: 11 ms).")?;
    Ok(out)
}

async fn light_clients(clients: usize, messages: usize, per_client: usize, size: usize) -> anyhow::Result<String> {
    let mut rtt = baseline::loopback_rtt(messages.max(100)).await?;
    let mut result = light::run(clients, messages, per_client, size).await?;
    let rtt = summarize(&mut rtt).ok_or_else(|| anyhow::anyhow!("no baseline samples"))?;
    let push = summarize(&mut result.push_latencies).ok_or_else(|| anyhow::anyhow!("no push samples"))?;
    let rate = result.pushed as f64 / result.elapsed.as_secs_f64().max(1e-9);
    let ratio = |a: std::time::Duration, b: std::time::Duration| a.as_secs_f64() / b.as_secs_f64();

    let mut out = String::new();
    writeln!(out, "## {clients} light clients on one service node ({size}-byte payload)\n")?;
    writeln!(out, "| measure | lightpush → filter push (every subscriber) | loopback TCP round trip | ratio |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    writeln!(out, "| p50 | {} | {} | {:.2}x |", micros(push.p50), micros(rtt.p50), ratio(push.p50, rtt.p50))?;
    writeln!(out, "| p99 | {} | {} | {:.2}x |", micros(push.p99), micros(rtt.p99), ratio(push.p99, rtt.p99))?;
    writeln!(out, "| samples | {} | {} | |\n", push.count, rtt.count)?;
    writeln!(
        out,
        "Lightpush rate: {clients} clients × {per_client} requests at once: {} answered 200, {} not, \
         {rate:.0} requests/s (each relayed to one peer and stored).",
        result.pushed, result.failed
    )?;
    Ok(out)
}
