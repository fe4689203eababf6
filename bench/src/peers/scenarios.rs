//! The three side-by-side scenarios (`pubsub-latency`, `fanout`,
//! `idle-conns`): each starts every server itself, drives it with
//! [`super::drive`], and renders a markdown report with the ratio of
//! Heliograph to every peer, the targets, and PNG plots.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::drive::{self, FanoutRun, Pace};
use super::process::{self, Memory, Server};
use super::{Peer, with_client};
use crate::plot::{self, Chart, Series};
use crate::stats::{Summary, micros, summarize};

/// Most messages in flight per subscriber in max-rate runs (the bridge queues 4096 frames per connection).
const MAX_WINDOW: u64 = 1024;
/// Most deliveries in flight over all subscribers in max-rate runs.
const MAX_IN_FLIGHT: u64 = 65_536;
/// Most messages per second in paced runs.
const MAX_PACED_RATE: f64 = 10_000.0;

/// How the run was made, for the top of every report.
fn preamble(out: &mut String, title: &str, pinned: bool) -> std::fmt::Result {
    writeln!(out, "## {title}\n")?;
    if cfg!(debug_assertions) {
        writeln!(out, "**Dev-profile build: not reference numbers (the reference runs use `--release`).**\n")?;
    }
    let pinning = if pinned {
        "each server process pinned to core 0 (`taskset -c 0`), the load generator to core 1"
    } else {
        "not pinned (fewer than two cores, or taskset failed)"
    };
    writeln!(
        out,
        "Servers: Heliograph's WebSocket bridge (node with RocksDB store, run as {}), Redis 7 pub/sub \
         (RESP over TCP: Redis has no WebSocket), NATS 2.9 WebSocket listener, Mosquitto 2.0 MQTT 3.1.1 QoS 0 over \
         WebSocket, and the bare tokio WebSocket broadcast server (raw baseline). One load generator for all, \
         with pipelined publishes (up to 64 per flush); {pinning}.\n",
        process::heliograph_program()
    )
}

fn met(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() { format!("{:.2}x", a / b) } else { "–".into() }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `pubsub-latency`: one message in flight, one subscriber, 64 B and 1 KiB.
pub async fn pubsub_latency(quick: bool, out_dir: &Path) -> anyhow::Result<String> {
    let pinned = process::prepare()?;
    let messages = if quick { 200 } else { 2000 };
    let sizes = [64usize, 1024];
    let echo = Server::echo(pinned).await?;
    let mut rtt = crate::baseline::round_trips(echo.addr, messages).await?;
    drop(echo);
    let rtt = summarize(&mut rtt).ok_or_else(|| anyhow::anyhow!("no round trips"))?;

    let mut rows: Vec<(Peer, usize, Summary, f64, usize)> = Vec::new();
    for peer in Peer::ALL {
        let server = Server::start(peer, pinned).await?;
        for size in sizes {
            // Warm-up: connections, allocations, the node's first store writes.
            with_client!(peer, C => drive::one_in_flight::<C>(server.addr, 50, size).await)?;
            let (mut latencies, lost) =
                with_client!(peer, C => drive::one_in_flight::<C>(server.addr, messages, size).await)?;
            if quick {
                anyhow::ensure!(lost == 0, "{}: {lost} of {messages} messages of {size} B lost", peer.name());
            }
            let rate = latencies.len() as f64 / latencies.iter().map(|d| secs(*d)).sum::<f64>().max(1e-9);
            let summary =
                summarize(&mut latencies).ok_or_else(|| anyhow::anyhow!("{}: nothing arrived", peer.name()))?;
            rows.push((peer, size, summary, rate, lost));
        }
    }

    let mut out = String::new();
    preamble(&mut out, "Publish → deliver, one subscriber, one message in flight", pinned)?;
    writeln!(
        out,
        "Latency from the publisher's send (stamped in the payload) to the subscriber's receive, {messages} messages \
         per payload size. Loopback TCP round trip (64 B ping-pong, echo server on the server core): \
         p50 {}, p99 {}.\n",
        micros(rtt.p50),
        micros(rtt.p99)
    )?;
    writeln!(
        out,
        "| payload | server | p50 | p99 | messages/s (one in flight: 1 ÷ mean latency) | lost | Heliograph p50 ÷ this p50 |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|")?;
    let p50_of =
        |peer: Peer, size: usize| rows.iter().find(|r| r.0 == peer && r.1 == size).map_or(f64::NAN, |r| secs(r.2.p50));
    for size in sizes {
        for (peer, _, s, rate, lost) in rows.iter().filter(|r| r.1 == size) {
            let r = ratio(p50_of(Peer::Heliograph, size), secs(s.p50));
            writeln!(
                out,
                "| {size} B | {} | {} | {} | {rate:.0} | {lost} | {r} |",
                peer.name(),
                micros(s.p50),
                micros(s.p99)
            )?;
        }
        let r = ratio(p50_of(Peer::Heliograph, size), secs(rtt.p50));
        writeln!(out, "| {size} B | loopback TCP round trip | {} | {} | | | {r} |", micros(rtt.p50), micros(rtt.p99))?;
    }
    writeln!(out, "\n### Target\n")?;
    for size in sizes {
        let ours = p50_of(Peer::Heliograph, size);
        let limit = 1.5 * secs(rtt.p50);
        writeln!(
            out,
            "- {size} B: Heliograph p50 ≤ 1.5 × loopback round trip p50 ({:.1} µs ≤ {:.1} µs): {}",
            ours * 1e6,
            limit * 1e6,
            met(ours <= limit)
        )?;
    }

    let groups: Vec<String> = sizes.iter().map(|s| format!("{s} B payload")).collect();
    let mut series: Vec<Series> = Peer::ALL
        .iter()
        .map(|&p| Series {
            name: p.name().into(),
            colour: p as usize,
            values: sizes.iter().map(|&s| p50_of(p, s) * 1e6).collect(),
        })
        .collect();
    series.push(Series {
        name: "loopback RTT".into(),
        colour: Peer::ALL.len(),
        values: vec![secs(rtt.p50) * 1e6; sizes.len()],
    });
    plots(
        &mut out,
        out_dir,
        &[Chart {
            file: "pubsub-latency.png",
            title: "Publish → deliver p50, one subscriber",
            y_label: "µs",
            groups: &groups,
            series: &series,
        }],
    )?;
    Ok(out)
}

/// One fan-out measurement: a max-rate run and a paced run.
struct FanoutRow {
    peer: Peer,
    size: usize,
    subscribers: usize,
    max: FanoutRun,
    paced: Option<Summary>,
    paced_lost: u64,
    paced_rate: f64,
}

/// `fanout`: 256 B and 4 KiB messages to 1, 100 and 1000 subscribers.
pub async fn fanout(quick: bool, out_dir: &Path) -> anyhow::Result<String> {
    let pinned = process::prepare()?;
    let (sizes, counts): (&[usize], &[usize]) =
        if quick { (&[256], &[1, 20]) } else { (&[256, 4096], &[1, 100, 1000]) };
    let (budget, paced_deliveries, paced_secs) =
        if quick { (20_000, 10_000.0, 0.5) } else { (300_000, 100_000.0, 2.0) };

    let mut rows = Vec::new();
    for peer in Peer::ALL {
        let server = Server::start(peer, pinned).await?;
        for &size in sizes {
            for &subscribers in counts {
                let subs = subscribers as u64;
                let messages = (budget / subscribers).max(100);
                let window = (MAX_IN_FLIGHT / subs).clamp(1, MAX_WINDOW);
                let cpu = || server.cpu();
                let max = with_client!(peer, C => drive::fanout::<C>(
                    server.addr, subscribers, messages, size, Pace::Max { window }, &cpu).await)?;
                let per_second = (paced_deliveries / subscribers as f64).min(MAX_PACED_RATE);
                let paced_messages = ((per_second * paced_secs) as usize).max(10);
                let mut paced = with_client!(peer, C => drive::fanout::<C>(
                    server.addr, subscribers, paced_messages, size, Pace::Rate { per_second }, &cpu).await)?;
                eprintln!(
                    "{} {size} B × {subscribers}: {:.0} deliveries/s ({} lost, CPU server {:.0} % generator {:.0} %); \
                     paced {} lost",
                    peer.name(),
                    max.rate(),
                    max.lost(),
                    max.busy.0.unwrap_or(f64::NAN) * 100.0,
                    max.busy.1 * 100.0,
                    paced.lost()
                );
                if quick {
                    anyhow::ensure!(
                        max.lost() == 0 && paced.lost() == 0,
                        "{}: {size} B × {subscribers}: {} of {} deliveries lost at max rate, {} of {} paced",
                        peer.name(),
                        max.lost(),
                        max.expected,
                        paced.lost(),
                        paced.expected
                    );
                }
                rows.push(FanoutRow {
                    peer,
                    size,
                    subscribers,
                    paced: summarize(&mut paced.latencies),
                    paced_lost: paced.lost(),
                    paced_rate: per_second * subscribers as f64,
                    max,
                });
            }
        }
    }

    let find = |peer: Peer, size: usize, subs: usize| {
        rows.iter().find(|r| r.peer == peer && r.size == size && r.subscribers == subs)
    };
    let mut out = String::new();
    preamble(&mut out, "Fan-out to WebSocket (and Redis TCP) subscribers", pinned)?;
    writeln!(
        out,
        "Max rate: {budget} deliveries per run (at least 100 messages), at most min({MAX_WINDOW}, \
         {MAX_IN_FLIGHT} ÷ subscribers) messages in flight; deliveries/s are summed over subscribers, from the first \
         publish to the last delivery. Paced: {paced_deliveries:.0} deliveries/s (at most {MAX_PACED_RATE:.0} \
         messages/s) for {paced_secs} s. Lost = expected − delivered ({} s without a delivery ends a subscriber).\n",
        3
    )?;
    let others = [Peer::Redis, Peer::Nats, Peer::Mosquitto, Peer::Bare];
    for &size in sizes {
        writeln!(out, "### {size}-byte messages: deliveries/s at max rate (lost)\n")?;
        write!(out, "| subscribers |")?;
        for p in Peer::ALL {
            write!(out, " {} |", p.name())?;
        }
        for p in others {
            write!(out, " Heliograph ÷ {} |", p.name())?;
        }
        writeln!(out, "\n|---:|{}", "---:|".repeat(Peer::ALL.len() + others.len()))?;
        for &subs in counts {
            write!(out, "| {subs} |")?;
            for p in Peer::ALL {
                match find(p, size, subs) {
                    Some(r) => write!(out, " {:.0} ({}) |", r.max.rate(), r.max.lost())?,
                    None => write!(out, " – |")?,
                }
            }
            let rate = |p| find(p, size, subs).map_or(f64::NAN, |r| r.max.rate());
            for p in others {
                write!(out, " {} |", ratio(rate(Peer::Heliograph), rate(p)))?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "\nCPU during those runs, share of one core, server / load generator (a generator near 100 % \
             bounds the peer's number, not the peer):\n"
        )?;
        write!(out, "| subscribers |")?;
        for p in Peer::ALL {
            write!(out, " {} |", p.name())?;
        }
        writeln!(out, "\n|---:|{}", "---:|".repeat(Peer::ALL.len()))?;
        for &subs in counts {
            write!(out, "| {subs} |")?;
            for p in Peer::ALL {
                match find(p, size, subs).map(|r| r.max.busy) {
                    Some((server, generator)) => {
                        let server = server.map_or("–".into(), |s| format!("{:.0} %", s * 100.0));
                        write!(out, " {server} / {:.0} % |", generator * 100.0)?;
                    }
                    None => write!(out, " – |")?,
                }
            }
            writeln!(out)?;
        }
        writeln!(out, "\n### {size}-byte messages: p50 / p99 at a fixed rate (lost)\n")?;
        write!(out, "| subscribers | deliveries/s |")?;
        for p in Peer::ALL {
            write!(out, " {} |", p.name())?;
        }
        writeln!(out, "\n|---:|---:|{}", "---:|".repeat(Peer::ALL.len()))?;
        for &subs in counts {
            let paced_rate = find(Peer::Heliograph, size, subs).map_or(0.0, |r| r.paced_rate);
            write!(out, "| {subs} | {paced_rate:.0} |")?;
            for p in Peer::ALL {
                match find(p, size, subs).and_then(|r| r.paced.map(|s| (s, r.paced_lost))) {
                    Some((s, lost)) => write!(out, " {} / {} ({lost}) |", micros(s.p50), micros(s.p99))?,
                    None => write!(out, " – |")?,
                }
            }
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    let top = *counts.last().unwrap_or(&1);
    writeln!(out, "### Targets (at {top} subscribers)\n")?;
    for &size in sizes {
        let rate = |p| find(p, size, top).map_or(f64::NAN, |r| r.max.rate());
        let (ours, redis, nats) = (rate(Peer::Heliograph), rate(Peer::Redis), rate(Peer::Nats));
        writeln!(out, "- {size} B: Heliograph ≥ 1.0 × Redis ({}): {}", ratio(ours, redis), met(ours >= redis))?;
        writeln!(out, "- {size} B: Heliograph ≥ 2 × NATS ({}): {}", ratio(ours, nats), met(ours >= 2.0 * nats))?;
    }

    let groups: Vec<String> = sizes.iter().flat_map(|s| counts.iter().map(move |c| format!("{s} B × {c}"))).collect();
    let values = |p: Peer, f: &dyn Fn(&FanoutRow) -> f64| -> Vec<f64> {
        sizes
            .iter()
            .flat_map(|&s| counts.iter().map(move |&c| (s, c)))
            .map(|(s, c)| find(p, s, c).map_or(f64::NAN, f))
            .collect()
    };
    let rates: Vec<Series> = Peer::ALL
        .iter()
        .map(|&p| Series { name: p.name().into(), colour: p as usize, values: values(p, &|r| r.max.rate() / 1e6) })
        .collect();
    let p99s: Vec<Series> = Peer::ALL
        .iter()
        .map(|&p| Series {
            name: p.name().into(),
            colour: p as usize,
            values: values(p, &|r| r.paced.map_or(f64::NAN, |s| secs(s.p99) * 1e3)),
        })
        .collect();
    plots(
        &mut out,
        out_dir,
        &[
            Chart {
                file: "fanout.png",
                title: "Fan-out at max rate (payload × subscribers)",
                y_label: "million deliveries/s",
                groups: &groups,
                series: &rates,
            },
            Chart {
                file: "fanout-p99.png",
                title: "Fan-out p99 at a fixed rate (payload × subscribers)",
                y_label: "ms",
                groups: &groups,
                series: &p99s,
            },
        ],
    )?;
    Ok(out)
}

/// `idle-conns`: memory per idle, subscribed WebSocket connection, and the idle node's RSS.
pub async fn idle_conns(quick: bool, connections: usize, out_dir: &Path) -> anyhow::Result<String> {
    let pinned = process::prepare()?;
    let connections = if quick { connections.min(200) } else { connections };
    let settle = Duration::from_secs(if quick { 1 } else { 2 });
    let mut rows = Vec::new();
    for peer in Peer::WEBSOCKET {
        let server = Server::start(peer, pinned).await?;
        tokio::time::sleep(settle).await;
        let before = server.memory()?;
        // Measured while the connections are held open.
        let after = with_client!(peer, C => async {
            let held = drive::subscribers::<C>(server.addr, connections).await?;
            anyhow::ensure!(held.len() == connections, "{}: {} of {connections} connections", peer.name(), held.len());
            tokio::time::sleep(settle).await;
            server.memory()
        }
        .await)?;
        eprintln!("{}: {before:?} idle, {after:?} with {connections} connections", peer.name());
        rows.push((peer, before, after));
    }
    let per = |before: Memory, after: Memory| after.rss.saturating_sub(before.rss) as f64 / connections as f64;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (idle, loaded) = rows
        .iter()
        .find(|r| r.0 == Peer::Heliograph)
        .map(|r| (r.1, r.2))
        .ok_or_else(|| anyhow::anyhow!("no Heliograph row"))?;
    let ours = per(idle, loaded);

    let mut out = String::new();
    preamble(&mut out, &format!("{connections} idle WebSocket connections"), pinned)?;
    writeln!(
        out,
        "Each connection is opened and subscribed to one topic, then left idle for {} s; memory per connection = \
         (server VmRSS with the connections − VmRSS before) ÷ {connections}. VmRSS includes the executable's \
         resident file pages (large in a dev build); RssAnon is heap, stacks and buffers only.\n",
        settle.as_secs()
    )?;
    writeln!(
        out,
        "| server | VmRSS idle (RssAnon) | VmRSS with {connections} connections (RssAnon) | per connection | \
         Heliograph ÷ this |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for &(peer, before, after) in &rows {
        writeln!(
            out,
            "| {} | {:.1} MiB ({:.1}) | {:.1} MiB ({:.1}) | {:.1} KiB | {} |",
            peer.name(),
            mib(before.rss),
            mib(before.anon),
            mib(after.rss),
            mib(after.anon),
            per(before, after) / 1024.0,
            ratio(ours, per(before, after))
        )?;
    }
    writeln!(out, "\n### Targets\n")?;
    writeln!(out, "- ≤ 16 KiB per idle connection: {:.1} KiB, {}", ours / 1024.0, met(ours <= 16.0 * 1024.0))?;
    writeln!(
        out,
        "- idle node VmRSS ≤ 15 MiB: {:.1} MiB (RssAnon {:.1} MiB), {}",
        mib(idle.rss),
        mib(idle.anon),
        met(mib(idle.rss) <= 15.0)
    )?;

    let series: Vec<Series> = rows
        .iter()
        .map(|&(p, before, after)| Series {
            name: p.name().into(),
            colour: p as usize,
            values: vec![per(before, after) / 1024.0],
        })
        .collect();
    let groups = [format!("{connections} idle subscribed connections")];
    plots(
        &mut out,
        out_dir,
        &[Chart {
            file: "idle-conns.png",
            title: "Server memory per idle connection",
            y_label: "KiB",
            groups: &groups,
            series: &series,
        }],
    )?;
    Ok(out)
}

/// Draws each plot and links it from the report; a missing font skips plots with a note.
fn plots(out: &mut String, dir: &Path, charts: &[Chart<'_>]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    writeln!(out)?;
    for chart in charts {
        let (file, title) = (chart.file, chart.title);
        match plot::bars(dir, chart) {
            Ok(()) => writeln!(out, "![{title}]({file})")?,
            Err(e) => {
                eprintln!("plot {file} skipped: {e:#}");
                writeln!(out, "(plot {file} not drawn: {e})")?;
            }
        }
    }
    Ok(())
}
