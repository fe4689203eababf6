//! Instruction counts of the hot paths, measured with callgrind so that a
//! regression shows as a number that does not move with machine load.
//!
//! Each hot path runs in a child process of this binary under
//! `valgrind --tool=callgrind`, twice, with two iteration counts; the
//! difference of the two totals divided by the difference of the counts is the
//! cost of one iteration, free of process start-up and set-up.

use std::path::Path;
use std::process::Command;

use clap::ValueEnum;
use heliograph_node::light::TopicPolicy;
use heliograph_node::light::filter::{self, Subscriptions};
use heliograph_node::store::message_hash;
use heliograph_node::waku::{PubsubTopic, RelayMessage};
use heliograph_proto::filter::FilterSubscribeRequest;
use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
use heliograph_proto::{Message, WakuMessage};
use heliograph_session::SymKey;
use heliograph_session::envelope::{Envelope, seal_type0};
use libp2p::PeerId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Payload bytes of the message every hot path works on.
const PAYLOAD: usize = 256;
/// Filter subscribers in the routing table; one of them matches.
const SUBSCRIBERS: usize = 1000;
/// Iteration counts of the two runs whose difference is measured.
const RUNS: [u64; 2] = [200, 2200];

/// A hot path of the node or the session protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HotPath {
    /// Validate a relayed message: protobuf decode and field checks.
    Decode,
    /// The relay message id and the store's deterministic message hash.
    Hash,
    /// Seal a session envelope (ChaCha20-Poly1305 + base64).
    Seal,
    /// Open a session envelope.
    Open,
    /// Find the filter subscribers of a message among 1000 and build its push frame.
    Route,
}

impl HotPath {
    /// Every hot path, in report order.
    pub const ALL: [HotPath; 5] = [HotPath::Decode, HotPath::Hash, HotPath::Seal, HotPath::Open, HotPath::Route];

    fn name(self) -> &'static str {
        match self {
            HotPath::Decode => "decode",
            HotPath::Hash => "hash",
            HotPath::Seal => "seal",
            HotPath::Open => "open",
            HotPath::Route => "route",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            HotPath::Decode => "relayed message: protobuf decode + field checks",
            HotPath::Hash => "relay id (sha256) + deterministic message hash",
            HotPath::Seal => "session envelope seal, type 0",
            HotPath::Open => "session envelope open, type 0",
            HotPath::Route => "filter match among 1000 subscribers + push frame",
        }
    }
}

fn topic() -> PubsubTopic {
    PubsubTopic::Sharded { cluster: 1, shard: 0 }
}

fn sample_message() -> WakuMessage {
    WakuMessage {
        payload: vec![0xab; PAYLOAD],
        content_topic: "/bench/1/hot-path/proto".into(),
        timestamp: Some(1_700_000_000_000_000_000),
        ..Default::default()
    }
}

/// Runs `path` `iterations` times; this is what runs under callgrind.
pub fn run(path: HotPath, iterations: u64) -> anyhow::Result<()> {
    let message = sample_message();
    let encoded = message.encode_to_vec();
    let key = SymKey::from_bytes([7; 32]);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let text = "x".repeat(PAYLOAD);
    let sealed = seal_type0(&key, &text, &mut rng);
    let subscriptions = path.eq(&HotPath::Route).then(subscribed_table).transpose()?;
    let relayed = RelayMessage::decode(topic(), encoded.clone())?;
    let pubsub = topic().to_string();
    for _ in 0..iterations {
        match path {
            HotPath::Decode => {
                std::hint::black_box(RelayMessage::decode(topic(), std::hint::black_box(encoded.clone()))?);
            }
            HotPath::Hash => {
                std::hint::black_box(relayed.relay_id());
                std::hint::black_box(message_hash(&pubsub, std::hint::black_box(&relayed.message)));
            }
            HotPath::Seal => {
                std::hint::black_box(seal_type0(&key, std::hint::black_box(&text), &mut rng));
            }
            HotPath::Open => {
                std::hint::black_box(Envelope::decode(std::hint::black_box(&sealed))?.open(&key)?);
            }
            HotPath::Route => {
                let table = subscriptions.as_ref().ok_or_else(|| anyhow::anyhow!("no table"))?;
                let peers = table.matching(&pubsub, &relayed.message.content_topic);
                anyhow::ensure!(peers.len() == 1, "exactly one subscriber matches");
                std::hint::black_box(filter::push_frame(&relayed));
            }
        }
    }
    Ok(())
}

/// A filter table of [`SUBSCRIBERS`] peers on distinct content topics, one of them the sample's.
fn subscribed_table() -> anyhow::Result<Subscriptions> {
    let limits = filter::Limits { max_peers: SUBSCRIBERS, ..filter::Limits::default() };
    let mut table = Subscriptions::new(limits, TopicPolicy::new(1, 8));
    let now = std::time::Instant::now();
    for i in 0..SUBSCRIBERS {
        let content = if i == 0 { sample_message().content_topic } else { format!("/bench/1/other-{i}/proto") };
        let request = FilterSubscribeRequest {
            request_id: i.to_string(),
            filter_subscribe_type: FilterSubscribeType::Subscribe as i32,
            pubsub_topic: Some(topic().to_string()),
            content_topics: vec![content],
        };
        let outcome = table.handle(PeerId::random(), Ok(&request.encode_to_vec()), now);
        anyhow::ensure!(outcome.status == filter::status::OK, "subscribe {i} answered {}", outcome.status);
    }
    Ok(table)
}

/// Instructions one run of `path` with `iterations` executes under callgrind.
fn collected(exe: &Path, dir: &Path, path: HotPath, iterations: u64) -> anyhow::Result<u64> {
    let out = dir.join(format!("callgrind.{}.{iterations}", path.name()));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["hot-path", path.name(), "--iterations", &iterations.to_string()])
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run valgrind (apt-get install valgrind): {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "{} under callgrind failed:\n{stderr}", path.name());
    stderr
        .lines()
        .find_map(|line| line.split_once("Collected :").map(|(_, n)| n.trim().to_owned()))
        .ok_or_else(|| anyhow::anyhow!("no instruction total in callgrind's output:\n{stderr}"))?
        .parse()
        .map_err(|e| anyhow::anyhow!("callgrind total: {e}"))
}

/// Instructions per iteration of every hot path, in [`HotPath::ALL`] order.
pub fn measure() -> anyhow::Result<Vec<(HotPath, u64)>> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    HotPath::ALL
        .iter()
        .map(|&path| {
            let small = collected(&exe, dir.path(), path, RUNS[0])?;
            let large = collected(&exe, dir.path(), path, RUNS[1])?;
            anyhow::ensure!(large > small, "{}: more iterations ran fewer instructions", path.name());
            Ok((path, (large - small) / (RUNS[1] - RUNS[0])))
        })
        .collect()
}

/// Markdown report of `counts`, beside `previous` counts of the same build profile where given.
pub fn report(counts: &[(HotPath, u64)], previous: &[(String, u64)], profile: &str) -> String {
    let mut out = format!(
        "## Instructions per operation of the hot paths (callgrind, {profile} profile, {PAYLOAD}-byte payload)\n\n\
         Counted with `valgrind --tool=callgrind` as the difference between a {}- and a {}-iteration run, \
         so start-up and set-up cancel out. Instruction counts do not move with machine load: compare them \
         between commits (same profile) to see a regression.\n\n\
         | hot path | what runs | instructions | previous run | change |\n|---|---|---:|---:|---:|\n",
        RUNS[0], RUNS[1]
    );
    for (path, count) in counts {
        let before = previous.iter().find(|(name, _)| name == path.name()).map(|(_, n)| *n);
        let (before_cell, change) = match before {
            Some(b) if b > 0 => (b.to_string(), format!("{:+.1} %", (*count as f64 / b as f64 - 1.0) * 100.0)),
            _ => (String::new(), String::new()),
        };
        out += &format!("| {} | {} | {count} | {before_cell} | {change} |\n", path.name(), path.describe());
    }
    out
}

/// The counts as `name count` lines, the form [`parse_counts`] reads back.
pub fn to_lines(counts: &[(HotPath, u64)], profile: &str) -> String {
    let mut out = format!("profile {profile}\n");
    for (path, count) in counts {
        out += &format!("{} {count}\n", path.name());
    }
    out
}

/// Counts written by [`to_lines`], if they were made with `profile`.
pub fn parse_counts(text: &str, profile: &str) -> Vec<(String, u64)> {
    let mut lines = text.lines();
    if lines.next() != Some(&format!("profile {profile}")) {
        return Vec::new();
    }
    lines
        .filter_map(|line| {
            let (name, n) = line.split_once(' ')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_only_within_a_profile() {
        let counts = [(HotPath::Decode, 1234), (HotPath::Seal, 99)];
        let text = to_lines(&counts, "release");
        assert_eq!(parse_counts(&text, "release"), vec![("decode".to_owned(), 1234), ("seal".to_owned(), 99)]);
        assert!(parse_counts(&text, "dev").is_empty());
    }

    #[test]
    fn every_hot_path_runs() {
        for path in HotPath::ALL {
            run(path, 3).unwrap_or_else(|e| panic!("{}: {e}", path.name()));
        }
    }

    #[test]
    fn report_shows_the_change_against_a_previous_run() {
        let md = report(&[(HotPath::Hash, 1100)], &[("hash".to_owned(), 1000)], "dev");
        assert!(md.contains("| hash |"), "{md}");
        assert!(md.contains("+10.0 %"), "{md}");
    }
}
