//! `heliograph-bench`: benchmarks that put Heliograph beside a baseline
//! measured in the same run, and report ratios.
//!
//! ```text
//! cargo run -p heliograph-bench --release -- relay-mesh
//! ```

mod baseline;
mod bridge;
mod mesh;
mod stats;

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
    /// Bridge publish → deliver latency and fan-out to WebSocket subscribers,
    /// against a bare tokio WebSocket broadcast server (raise `ulimit -n` for 1000 subscribers).
    BridgeFanout {
        /// Subscribers in the fan-out run.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Messages in the one-subscriber latency run.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Messages in the fan-out run.
        #[arg(long, default_value_t = 100)]
        fanout_messages: usize,
        /// Payload bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (report, name) = match args.scenario {
        Scenario::RelayMesh { nodes, messages, burst, size } => {
            (runtime.block_on(relay_mesh(nodes, messages, burst, size))?, "relay-mesh.md")
        }
        Scenario::BridgeFanout { subscribers, messages, fanout_messages, size } => {
            (runtime.block_on(bridge_fanout(subscribers, messages, fanout_messages, size))?, "bridge-fanout.md")
        }
    };
    println!("{report}");
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join(name);
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

async fn bridge_fanout(
    subscribers: usize,
    messages: usize,
    fanout_messages: usize,
    size: usize,
) -> anyhow::Result<String> {
    use bridge::Server;
    let ratio = |a: std::time::Duration, b: std::time::Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    let mut out = String::new();
    writeln!(
        out,
        "## Bridge publish → deliver ({size}-byte payload), beside a bare tokio WebSocket broadcast server\n"
    )?;
    writeln!(out, "| run | measure | Heliograph bridge | bare broadcast | ratio |")?;
    writeln!(out, "|---|---|---:|---:|---:|")?;
    let runs = [
        ("1 subscriber", 1, messages, std::time::Duration::from_millis(2)),
        ("fan-out", subscribers, fanout_messages, std::time::Duration::from_millis(10)),
    ];
    for (label, subs, count, interval) in runs {
        let mut ours = bridge::run(Server::Heliograph, subs, count, size, interval).await?;
        let mut bare = bridge::run(Server::Bare, subs, count, size, interval).await?;
        let (got_ours, got_bare) = (ours.latencies.len(), bare.latencies.len());
        let a = summarize(&mut ours.latencies).ok_or_else(|| anyhow::anyhow!("no bridge deliveries"))?;
        let b = summarize(&mut bare.latencies).ok_or_else(|| anyhow::anyhow!("no baseline deliveries"))?;
        let label = format!("{label} ({subs} × {count})");
        writeln!(out, "| {label} | p50 | {} | {} | {:.2}x |", micros(a.p50), micros(b.p50), ratio(a.p50, b.p50))?;
        writeln!(out, "| {label} | p99 | {} | {} | {:.2}x |", micros(a.p99), micros(b.p99), ratio(a.p99, b.p99))?;
        let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "| {label} | deliveries/s | {:.0} | {:.0} | |",
            rate(got_ours, ours.elapsed),
            rate(got_bare, bare.elapsed)
        )?;
        writeln!(out, "| {label} | delivered | {got_ours}/{} | {got_bare}/{} | |", ours.expected, bare.expected)?;
    }
    Ok(out)
}
