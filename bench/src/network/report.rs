//! The markdown report and plots of a network run, with the comparison to
//! nwaku's published figure and the paper estimate for larger networks built
//! from this run's measurements.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::Params;
use super::netsim::{REGIONS, RttModel};
use super::phases::{Churn, Formed, MeshHealth, Partition, Propagation, Spread};
use crate::plot::{self, Curve, Series};
use crate::stats::quantile;

/// Everything a run measured.
pub struct Results<'a> {
    /// What was run.
    pub params: &'a Params,
    /// How long starting every node took.
    pub started_in: Duration,
    /// Formation.
    pub formed: Formed,
    /// One per message size.
    pub propagation: Vec<Propagation>,
    /// The mesh after the propagation runs.
    pub mesh_after: MeshHealth,
    /// Churn.
    pub churn: Churn,
    /// Partition.
    pub partition: Partition,
}

/// nwaku's published figure: 1000 nodes with RLN, 10 kB messages, mean propagation.
const NWAKU_NODES: f64 = 1000.0;
const NWAKU_MEAN_MS: f64 = 508.0;

/// Picks one share's time out of a message's spread.
type SharePick = fn(&Spread) -> Option<Duration>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn mean(v: &[Duration]) -> Option<Duration> {
    (!v.is_empty()).then(|| v.iter().sum::<Duration>() / v.len() as u32)
}

/// The values of one share (50/95/100 %) over every message, sorted, and how many never got there.
fn share_times(spreads: &[Spread], pick: fn(&Spread) -> Option<Duration>) -> (Vec<Duration>, usize) {
    let mut v: Vec<Duration> = spreads.iter().filter_map(pick).collect();
    v.sort_unstable();
    let never = spreads.len() - v.len();
    (v, never)
}

/// Mean one-way link delay over every pair of nodes: the unit a propagation time is counted in.
fn mean_one_way(params: &Params) -> Duration {
    let sim = super::netsim::Netsim::new(params.nodes, params.model, params.seed);
    let n = params.nodes;
    let mut total = Duration::ZERO;
    for a in 0..n {
        for b in (a + 1)..n {
            total += sim.rtt(a, b) / 2;
        }
    }
    total / u32::try_from(n * (n - 1) / 2).unwrap_or(u32::MAX)
}

/// Writes the plots next to the report.
pub fn plots(r: &Results<'_>, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let curves: Vec<Curve> = r
        .propagation
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut lat = p.latencies.clone();
            lat.sort_unstable();
            let total = p.expected.max(1) as f64;
            let step = (lat.len() / 400).max(1);
            let points = lat.iter().enumerate().step_by(step).map(|(k, d)| (ms(*d), (k + 1) as f64 / total)).collect();
            Curve { name: format!("{} B payload", p.size), colour: i + 2, points }
        })
        .collect();
    plot::lines(
        out,
        "network-cdf.png",
        &format!("Deliveries done vs time since publish, {} nodes over the simulated WAN", r.params.nodes),
        "milliseconds since publish",
        "share of deliveries",
        &curves,
    )?;
    let groups: Vec<String> = r.propagation.iter().map(|p| format!("{} B", p.size)).collect();
    let series: Vec<Series> = [
        ("50 % of nodes", 0usize, (|s: &Spread| s.t50) as fn(&Spread) -> Option<Duration>),
        ("95 % of nodes", 2, |s: &Spread| s.t95),
        ("100 % of nodes", 1, |s: &Spread| s.t100),
    ]
    .into_iter()
    .map(|(name, colour, pick)| Series {
        name: name.into(),
        colour,
        values: r.propagation.iter().map(|p| mean(&share_times(&p.spreads, pick).0).map_or(f64::NAN, ms)).collect(),
    })
    .collect();
    plot::bars(
        out,
        &plot::Chart {
            file: "network-shares.png",
            title: "Mean time until a share of the nodes has a message",
            y_label: "milliseconds",
            groups: &groups,
            series: &series,
        },
    )
}

fn histogram(values: &[usize]) -> String {
    let top = values.iter().copied().max().unwrap_or(0);
    let mut out = String::from("| mesh degree |");
    let mut counts = String::from("| nodes |");
    let mut rule = String::from("|---|");
    for d in 0..=top {
        let _ = write!(out, " {d} |");
        let _ = write!(counts, " {} |", values.iter().filter(|v| **v == d).count());
        rule.push_str("---:|");
    }
    format!("{out}\n{rule}\n{counts}\n")
}

fn mesh_summary(m: &MeshHealth) -> String {
    let (cmin, cmax) = (m.connections.iter().min().unwrap_or(&0), m.connections.iter().max().unwrap_or(&0));
    let cmean = m.connections.iter().sum::<usize>() as f64 / m.connections.len().max(1) as f64;
    format!(
        "{}\nMean mesh degree {:.2}; nodes outside any mesh: {}; connections per node {cmin}–{cmax} (mean {cmean:.1}).\n",
        histogram(&m.degrees),
        m.mean_degree(),
        m.outside()
    )
}

/// The report.
pub fn markdown(r: &Results<'_>) -> String {
    let mut o = String::new();
    let _ = write_report(&mut o, r);
    o
}

fn write_report(o: &mut String, r: &Results<'_>) -> std::fmt::Result {
    let p = r.params;
    let one_way = mean_one_way(p);
    writeln!(o, "## A network of {} Heliograph nodes over a simulated WAN\n", p.nodes)?;
    writeln!(
        o,
        "Command: `cargo run --release -p heliograph-bench -- network --nodes {} --rate {} --seconds {} --rtt {}` \
         (seed {}).\n",
        p.nodes,
        p.rate,
        p.seconds,
        match p.model.rtt {
            RttModel::Wan => "wan".to_owned(),
            RttModel::Fixed(d) => format!("fixed:{}", d.as_millis()),
        },
        p.seed
    )?;
    writeln!(
        o,
        "**Setup.** Every node is the real `heliograph-node` `Node` (gossipsub relay as configured for Waku: D 6, \
         D_low 4, D_high 8, D_lazy 6, 1 s heartbeat, flood publishing; RocksDB store with gap filling; peer exchange), \
         started in one process with `Node::start_with_transport` over a simulated network, because this machine \
         has 2 cores and no `sch_netem`: {} node processes with `tc netem` do not fit. Each node listens on its own \
         loopback address; the dialing side of every TCP connection runs both directions through delay lines \
         (`bench/src/network/netsim.rs`): one-way delay = RTT/2, each node's uplink serialises what all its \
         connections send at {:.0} Mbit/s, and each 1448-byte segment is lost with probability {} (a loss delays \
         its chunk and everything behind it by one RTO, max(200 ms, 1.5 RTT): TCP never drops bytes). Nodes are \
         connected as deployments are: nodes 0–{} are everyone's bootstrap list; everything else comes from peer \
         exchange (`network.target_outbound_peers` = 6). All {} nodes relay one shard, `/waku/2/rs/1/0`. They \
         share two CPU cores, so per-hop processing is slower than on one server per node: latencies here are an \
         upper bound for the protocol.\n",
        p.nodes,
        p.model.uplink_bps / 1e6,
        p.model.loss,
        p.bootstrap - 1,
        p.nodes
    )?;
    match p.model.rtt {
        RttModel::Wan => {
            let sim = super::netsim::Netsim::new(p.nodes, p.model, p.seed);
            let counts = sim.region_counts();
            let regions: Vec<String> =
                REGIONS.iter().zip(&counts).map(|((name, _), c)| format!("{name} {c}")).collect();
            writeln!(
                o,
                "**Latency model (wan).** Nodes per region: {}. A link's RTT is the backbone RTT between the \
                 two regions (8 ms within one; 65–320 ms between, typical public inter-region figures, see \
                 `BACKBONE_RTT_MS`) plus 10 ms of access network at each end, times a per-link factor drawn \
                 uniformly in 0.9–1.1. Mean one-way delay over all pairs: **{:.1} ms**.\n",
                regions.join(", "),
                ms(one_way)
            )?;
        }
        RttModel::Fixed(rtt) => {
            writeln!(o, "**Latency model (fixed).** Every link: RTT {:.0} ms.\n", ms(rtt))?;
        }
    }

    writeln!(o, "### Formation and mesh health\n")?;
    writeln!(
        o,
        "{} nodes started in {:.1} s; every node had a mesh peer {} later and D_low (4) mesh peers after {}.\n",
        p.nodes,
        r.started_in.as_secs_f64(),
        fmt_opt(r.formed.meshed_in),
        fmt_opt(r.formed.full_in)
    )?;
    writeln!(o, "At formation:\n\n{}", mesh_summary(&r.formed.mesh))?;
    writeln!(o, "After the propagation runs:\n\n{}", mesh_summary(&r.mesh_after))?;

    writeln!(o, "### Propagation at {} messages/s network-wide (random publishers)\n", p.rate)?;
    writeln!(
        o,
        "Per message, the time from its publish until 50 %, 95 % and 100 % of the other {} nodes delivered it; \
         the columns are the mean, median, p99 and worst over all messages of a size. ![cdf](network-cdf.png) \
         ![shares](network-shares.png)\n",
        p.nodes - 1
    )?;
    writeln!(o, "| payload | messages | lost deliveries | share | mean | p50 | p99 | max | never reached |")?;
    writeln!(o, "|---|---:|---:|---|---:|---:|---:|---:|---:|")?;
    for prop in &r.propagation {
        let rows: [(&str, SharePick); 3] = [("50 %", |s| s.t50), ("95 %", |s| s.t95), ("100 %", |s| s.t100)];
        for (k, (name, pick)) in rows.into_iter().enumerate() {
            let (v, never) = share_times(&prop.spreads, pick);
            let f = |d: Option<Duration>| d.map_or("–".to_owned(), |d| format!("{:.0} ms", ms(d)));
            let head = if k == 0 {
                format!(
                    "{} B | {} (+{} refused) | {} of {}",
                    prop.size, prop.published, prop.refused, prop.lost, prop.expected
                )
            } else {
                " | | ".to_owned()
            };
            writeln!(
                o,
                "| {head} | {name} | {} | {} | {} | {} | {never} |",
                f(mean(&v)),
                f(quantile(&v, 0.5)),
                f(quantile(&v, 0.99)),
                f(v.last().copied())
            )?;
        }
    }
    writeln!(o)?;

    writeln!(o, "### Bandwidth amplification\n")?;
    writeln!(
        o,
        "Per delivery (one message arriving at one node for the first time), over the publishing span plus {} s \
         of drain. Wire bytes are everything the nodes received (Noise, yamux, every protocol); the idle \
         background (pings, heartbeats, identify, peer exchange) is measured over a quiet span just before and \
         scaled to the same length. Relay copies and their bytes come from gossipsub's own counters \
         (`libp2p_gossipsub_*`, now on `/metrics`); what is left is gossip control (IHAVE, IWANT, GRAFT, PRUNE), \
         framing and protobuf overhead. Theory: every mesh edge carries a message once or twice (both ends may \
         forward it at once), so with mean degree d a node receives between d/2 and d copies; flood publishing \
         adds the publisher's non-mesh peers.\n",
        10
    )?;
    writeln!(
        o,
        "| payload (encoded) | wire bytes / delivery | × encoded size | relay copies / delivery | duplicates / delivery | theory d/2 – d | copy bytes | idle background | control + overhead | IWANT / delivery |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for prop in &r.propagation {
        let t = prop.traffic;
        let first = t.first.max(1.0);
        let wire = t.wire / first;
        let copies = t.copies / first;
        let copy_bytes = t.copy_bytes / first;
        let idle = prop.idle.wire / first;
        let d = prop.mean_degree;
        let share = |x: f64| 100.0 * x / wire.max(1.0);
        writeln!(
            o,
            "| {} B ({} B) | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} – {:.1} | {:.0} % | {:.0} % | {:.0} % | {:.3} |",
            prop.size,
            prop.encoded,
            wire,
            wire / prop.encoded as f64,
            copies,
            copies - 1.0,
            d / 2.0,
            d,
            share(copy_bytes),
            share(idle),
            share((wire - copy_bytes - idle).max(0.0)),
            t.iwant / first,
        )?;
    }
    writeln!(o)?;

    let c = &r.churn;
    writeln!(
        o,
        "### Churn: {} nodes ({:.0} %) killed, restarted after {:.0} s\n",
        c.victims,
        p.churn * 100.0,
        c.down.as_secs_f64()
    )?;
    writeln!(
        o,
        "Survivors publish 1 kB messages at {} messages/s throughout. Bootstrap nodes are not among the victims. \
         Restarted nodes keep their key, store and address.\n",
        p.rate
    )?;
    writeln!(o, "| measure | value |\n|---|---:|")?;
    writeln!(
        o,
        "| survivors back to D_low mesh peers (or their degree before, if lower) after the kill | {} |",
        fmt_opt(c.survivors_recovered_in)
    )?;
    writeln!(o, "| every node back so after the restart | {} |", fmt_opt(c.restarted_recovered_in))?;
    writeln!(o, "| messages published during churn | {} |", c.published)?;
    writeln!(o, "| deliveries lost at survivors | {} of {} |", c.lost_at_survivors, c.expected_at_survivors)?;
    writeln!(
        o,
        "| restarted nodes whose store holds every message published until the restart (gap filling) | {} of {} after {} |\n",
        c.victims_complete,
        c.victims,
        fmt_opt(c.victims_complete_in)
    )?;

    let part = &r.partition;
    let mut done: Vec<Duration> = part.consistent_in.iter().flatten().copied().collect();
    done.sort_unstable();
    writeln!(o, "### Partition: two halves apart for {:.0} s, then joined\n", part.apart.as_secs_f64())?;
    writeln!(
        o,
        "Even and odd nodes are split (every connection across closes, new ones are refused); each half \
         publishes 1 kB messages at {} messages/s network-wide. After the heal, every node's store is read until \
         it holds every message of both halves.\n",
        p.rate
    )?;
    writeln!(o, "| measure | value |\n|---|---:|")?;
    writeln!(o, "| messages published (even half / odd half) | {} / {} |", part.published[0], part.published[1])?;
    writeln!(o, "| deliveries lost within a half | {} of {} |", part.lost_within, part.expected_within)?;
    writeln!(o, "| nodes whose store holds both halves | {} of {} |", done.len(), part.consistent_in.len())?;
    writeln!(
        o,
        "| time after the heal until 50 % / 100 % of stores were complete | {} / {} |",
        fmt_opt(quantile(&done, 0.5)),
        fmt_opt((done.len() == part.consistent_in.len()).then(|| done.last().copied()).flatten())
    )?;
    writeln!(o, "| messages still missing when the wait ended, over all stores | {} |\n", part.missing_at_end)?;

    write_comparison(o, r, one_way)
}

fn write_comparison(o: &mut String, r: &Results<'_>, one_way: Duration) -> std::fmt::Result {
    let p = r.params;
    let Some(ten) = r.propagation.iter().find(|x| x.size == 10_000).or(r.propagation.last()) else {
        return Ok(());
    };
    let lat_mean = mean(&ten.latencies).unwrap_or_default();
    let hops_here = ms(lat_mean) / ms(one_way).max(1e-9);
    // Hops grow with log_D(N): scale the measured mean to nwaku's 1000 nodes.
    let scale = NWAKU_NODES.ln() / (p.nodes as f64).ln();
    writeln!(o, "### Against nwaku's published figure\n")?;
    writeln!(
        o,
        "The Waku team's study (\"Message Latency in Waku Relay with Rate Limiting Nullifiers\", DLT 2024, and \
         docs.waku.org \"Message Propagation Times With Waku-RLN\") ran 1000 nwaku nodes with RLN in a single-host \
         simulation with bandwidth limits and network delays, and reports a mean end-to-end propagation delay of \
         **{NWAKU_MEAN_MS:.0} ms for 10 kB** messages. Mapping: same payload (10 kB), same gossipsub degrees (D 6), mean over \
         all deliveries as there. The link-delay models differ (ours is stated above), so the comparison is made \
         in link delays: a mean delivery here takes {:.0} ms = **{:.1} mean one-way link delays** over {} nodes. \
         Gossip depth grows with log N, so at 1000 nodes the same stack would take about {:.1} link delays ({:.0} \
         ms with our WAN). RLN adds proof verification per hop (about 12 ms per the Waku RLN benchmarks), which \
         Heliograph does not do yet: for a like-for-like figure add ~12 ms per hop. Whether 508 ms is better or \
         worse than ours depends on the study's per-link delay, which we do not restate here; with a fixed \
         link model the scenario reruns with `--rtt fixed:<ms>` to match it exactly.\n",
        ms(lat_mean),
        hops_here,
        p.nodes,
        hops_here * scale,
        ms(lat_mean) * scale
    )?;
    write_estimate(o, r)
}

fn write_estimate(o: &mut String, r: &Results<'_>) -> std::fmt::Result {
    let p = r.params;
    let ten = r.propagation.iter().find(|x| x.size == 10_000).or(r.propagation.last());
    let one = r.propagation.iter().find(|x| x.size == 1_000).or(r.propagation.first());
    let (Some(ten), Some(one)) = (ten, one) else { return Ok(()) };
    let per_delivery = |x: &Propagation| x.traffic.wire / x.traffic.first.max(1.0);
    let (b10, b1) = (per_delivery(ten), per_delivery(one));
    let t95 = mean(&share_times(&ten.spreads, |s| s.t95).0).unwrap_or_default();
    let scale = (10_000f64).ln() / (p.nodes as f64).ln();
    let conns = r.mesh_after.connections.iter().sum::<usize>() as f64 / r.mesh_after.connections.len().max(1) as f64;
    // A messenger-like load: every light client sends one 1 kB message a minute.
    let clients = 1e6;
    let service = 10_000.0;
    let rate_total = clients / 60.0;
    let shards = 8.0;
    let per_shard = rate_total / shards;
    let relay_mbit = per_shard * b1 * 8.0 / 1e6;
    let store_gb_day = per_shard * 1_100.0 * 86_400.0 / 1e9;
    writeln!(o, "### Paper estimate: 10k relay nodes, 1M light clients\n")?;
    writeln!(
        o,
        "Inputs from this run: wire bytes received per node per delivered message ({b1:.0} B for 1 kB, {b10:.0} B \
         for 10 kB), mean time to 95 % of nodes for 10 kB ({:.0} ms at {} nodes), {conns:.1} connections per relay \
         node. Node defaults: `max_connections` 300, filter `max_peers` 1000, store 10 M messages / 8 GiB / 2 days, \
         8 shards per cluster. Load: each of 1M light clients sends one 1 kB message a minute ({rate_total:.0} \
         messages/s network-wide, {per_shard:.0} per shard) and holds one filter subscription; 10k service \
         nodes relay one shard each.\n",
        ms(t95),
        p.nodes
    )?;
    writeln!(o, "| resource | per service node | limit | verdict |\n|---|---:|---:|---|")?;
    writeln!(
        o,
        "| gossip bandwidth in (one shard) | {relay_mbit:.1} Mbit/s ({:.0} B × {per_shard:.0}/s) | the uplink (50 Mbit/s here) | {} |",
        b1,
        if relay_mbit > 50.0 { "**breaks first**: shard more or cut duplicates (IDONTWANT)" } else { "fits" }
    )?;
    writeln!(
        o,
        "| light-client connections | {:.0} + {conns:.0} relay | 300 (`max_connections`) | {} |",
        clients / service,
        if clients / service + conns > 300.0 { "breaks" } else { "fits" }
    )?;
    writeln!(
        o,
        "| filter subscriptions | {:.0} | 1000 (`max_peers`) | {} |",
        clients / service,
        if clients / service > 1000.0 { "breaks" } else { "fits" }
    )?;
    writeln!(
        o,
        "| store growth (one shard, ~1.1 kB stored per message) | {store_gb_day:.1} GB/day | 8 GiB, 10 M messages, 2 days | {} |",
        if store_gb_day * 2.0 > 8.0 { "count/size cap trims before 2 days" } else { "fits" }
    )?;
    writeln!(
        o,
        "| propagation to 95 % at 10k nodes (log-N hop scaling) | {:.0} ms | — | grows slowly |\n",
        ms(t95) * scale
    )?;
    writeln!(
        o,
        "What breaks first depends on how the clients spread: with clients on only 1000 of the nodes (the rest \
         pure relays), each carries 1000 light clients, over `max_connections` (300) and at the filter cap \
         (1000), so connections break first; spread over all 10k, gossip bandwidth per shard does, since every \
         relay node receives every message of its shard about {:.1} times over.\n",
        ten.traffic.copies / ten.traffic.first.max(1.0)
    )
}
