//! A simulated WAN under in-process nodes. Every node listens on its own
//! loopback address (127.1.x.y); the dialing side of each TCP connection pumps
//! both directions through delay lines, so a byte arrives one way-delay after
//! it left, behind the sender's shared uplink (serialisation at its bandwidth),
//! and a lost TCP segment delays its chunk and everything behind it by one
//! retransmission timeout (TCP never drops bytes; loss shows as head-of-line
//! delay). A partition closes every connection between the two groups and
//! refuses new ones until healed. Bytes received are counted per node.
//!
//! Why not `tc netem` in network namespaces: the machine has no `sch_netem`,
//! and 100 node processes do not fit two cores; in-process nodes share one
//! runtime and the simulated links cost two tasks per direction.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::Either;
use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use heliograph_node::p2p::transport::{self, TransportFactory};
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, Transport, tcp};
use rand_core::{RngCore, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Bytes read from a socket at once: one chunk on the delay line.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction of one connection (bounds its memory).
const IN_FLIGHT: usize = 256;
/// A TCP segment's payload, for the loss draw.
const SEGMENT: usize = 1448;
/// Linux's minimum retransmission timeout.
const MIN_RTO: Duration = Duration::from_millis(200);

/// Regions of the WAN model, with the share of nodes in each.
pub const REGIONS: [(&str, f64); 5] =
    [("us-east", 0.25), ("us-west", 0.15), ("eu-west", 0.30), ("ap-southeast", 0.20), ("sa-east", 0.10)];

/// Round trips between region backbones in ms (typical public inter-region figures).
const BACKBONE_RTT_MS: [[f64; 5]; 5] = [
    [8.0, 65.0, 80.0, 220.0, 120.0],
    [65.0, 8.0, 140.0, 170.0, 180.0],
    [80.0, 140.0, 8.0, 160.0, 190.0],
    [220.0, 170.0, 160.0, 8.0, 320.0],
    [120.0, 180.0, 190.0, 320.0, 8.0],
];
/// Round trip added by each end's access network, ms.
const ACCESS_RTT_MS: f64 = 10.0;

/// How round trips are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RttModel {
    /// Nodes spread over [`REGIONS`]; a link's RTT is the backbone RTT between the
    /// regions plus both access legs, times a per-link factor uniform in 0.9..1.1.
    Wan,
    /// Every link has this round trip.
    Fixed(Duration),
}

impl std::str::FromStr for RttModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wan" => Ok(RttModel::Wan),
            _ => s
                .strip_prefix("fixed:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(|ms| RttModel::Fixed(Duration::from_millis(ms)))
                .ok_or_else(|| format!("RTT model is `wan` or `fixed:<ms>`, not {s:?}")),
        }
    }
}

/// Link parameters of the whole network.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Round trips.
    pub rtt: RttModel,
    /// Every node's uplink, bits per second, shared by all its connections.
    pub uplink_bps: f64,
    /// Probability that a TCP segment is lost (and retransmitted).
    pub loss: f64,
}

/// The simulated network: link parameters, uplinks, counters and partitions.
#[derive(Clone)]
pub struct Netsim {
    shared: Arc<Shared>,
}

struct Shared {
    model: Model,
    seed: u64,
    regions: Vec<usize>,
    uplinks: Vec<Mutex<Instant>>,
    received: Vec<AtomicU64>,
    /// The group of each node while partitioned.
    partition: watch::Sender<Option<Arc<Vec<u8>>>>,
}

/// The loopback address of node `i`.
pub fn ip_of(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, u8::try_from(i / 200).expect("at most 51200 nodes"), u8::try_from(i % 200 + 1).unwrap_or(1))
}

fn index_of(addr: &Multiaddr) -> Option<usize> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) if ip.octets()[..2] == [127, 1] => {
            let [_, _, hi, lo] = ip.octets();
            Some(usize::from(hi) * 200 + usize::from(lo).checked_sub(1)?)
        }
        _ => None,
    })
}

/// A 64-bit mix (splitmix64) for deterministic per-link draws.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Netsim {
    /// A network of `nodes` nodes under `model`; `seed` fixes regions and link draws.
    pub fn new(nodes: usize, model: Model, seed: u64) -> Self {
        let regions = (0..nodes)
            .map(|i| {
                let mut u = unit(mix(seed ^ (i as u64).wrapping_mul(31)));
                REGIONS
                    .iter()
                    .position(|(_, share)| {
                        u -= share;
                        u < 0.0
                    })
                    .unwrap_or(REGIONS.len() - 1)
            })
            .collect();
        let now = Instant::now();
        Netsim {
            shared: Arc::new(Shared {
                model,
                seed,
                regions,
                uplinks: (0..nodes).map(|_| Mutex::new(now)).collect(),
                received: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
                partition: watch::channel(None).0,
            }),
        }
    }

    /// Nodes per region, in [`REGIONS`] order.
    pub fn region_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; REGIONS.len()];
        for r in &self.shared.regions {
            counts[*r] += 1;
        }
        counts
    }

    /// The round trip between nodes `a` and `b` (symmetric).
    pub fn rtt(&self, a: usize, b: usize) -> Duration {
        match self.shared.model.rtt {
            RttModel::Fixed(rtt) => rtt,
            RttModel::Wan => {
                let (ra, rb) = (self.shared.regions[a], self.shared.regions[b]);
                let base = BACKBONE_RTT_MS[ra][rb] + 2.0 * ACCESS_RTT_MS;
                let pair = (a.min(b) as u64) << 32 | b.max(a) as u64;
                let factor = 0.9 + 0.2 * unit(mix(self.shared.seed ^ mix(pair)));
                Duration::from_secs_f64(base * factor / 1000.0)
            }
        }
    }

    /// Bytes node `i` has received so far, over every connection.
    pub fn received(&self, i: usize) -> u64 {
        self.shared.received[i].load(Ordering::Relaxed)
    }

    /// Splits the network: `groups[i]` is node i's side. Connections across close now.
    pub fn partition(&self, groups: Vec<u8>) {
        self.shared.partition.send_replace(Some(Arc::new(groups)));
    }

    /// Joins the network again.
    pub fn heal(&self) {
        self.shared.partition.send_replace(None);
    }

    fn blocked(groups: &Option<Arc<Vec<u8>>>, a: usize, b: usize) -> bool {
        groups.as_ref().is_some_and(|g| g.get(a) != g.get(b))
    }

    /// The transport of node `me`: TCP on loopback, the node's real Noise and
    /// muxer upgrade on top, with the connections it dials shaped.
    pub fn transport(&self, me: usize) -> TransportFactory {
        let sim = self.clone();
        Arc::new(move |key| {
            let sim = sim.clone();
            let raw = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)).and_then(
                move |stream, endpoint| async move {
                    match endpoint {
                        ConnectedPoint::Dialer { address, .. } => {
                            sim.shape(me, &address, stream).await.map(Either::Right)
                        }
                        ConnectedPoint::Listener { .. } => Ok(Either::Left(stream)),
                    }
                },
            );
            transport::upgrade(raw, key)
        })
    }

    /// Waits out the TCP handshake's round trip, then puts delay lines between
    /// `stream` (to node `peer` at `address`) and the node `me` that dialed it.
    async fn shape(
        &self,
        me: usize,
        address: &Multiaddr,
        stream: tcp::tokio::TcpStream,
    ) -> std::io::Result<tokio_util::compat::Compat<tokio::io::DuplexStream>> {
        let peer = index_of(address).ok_or_else(|| std::io::Error::other(format!("{address} is not simulated")))?;
        let rtt = self.rtt(me, peer);
        tokio::time::sleep(rtt).await;
        if Self::blocked(&self.shared.partition.borrow(), me, peer) {
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "partitioned"));
        }
        let (app, line) = tokio::io::duplex(CHUNK * 4);
        let (line_read, line_write) = line.compat().split();
        let (sock_read, sock_write) = stream.split();
        let seed = mix(self.shared.seed ^ mix((me as u64) << 32 | peer as u64) ^ rand_core::OsRng.next_u64());
        // Outgoing: from the node's side of the duplex to the socket, on `me`'s uplink.
        self.spawn_direction(line_read, sock_write, me, peer, rtt, seed);
        self.spawn_direction(sock_read, line_write, peer, me, rtt, mix(seed));
        Ok(app.compat())
    }

    /// Carries bytes from `src` to `dst` as sent by node `from` to node `to`.
    fn spawn_direction<R, W>(&self, mut src: R, mut dst: W, from: usize, to: usize, rtt: Duration, seed: u64)
    where
        R: futures::AsyncRead + Unpin + Send + 'static,
        W: futures::AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
        let sim = self.clone();
        let mut partition = self.shared.partition.subscribe();
        // Reader: stamps each chunk with its arrival time.
        tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let rto = MIN_RTO.max(rtt * 3 / 2);
            let mut last = Instant::now();
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = tokio::select! {
                    read = src.read(&mut buf) => match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    },
                    changed = partition.changed() => {
                        if changed.is_err() || Self::blocked(&partition.borrow_and_update(), from, to) {
                            break;
                        }
                        continue;
                    }
                };
                buf.truncate(n);
                let arrival = sim.stamp(from, n, rtt, rto, &mut rng).max(last);
                last = arrival;
                if tx.send((arrival, buf)).await.is_err() {
                    break;
                }
            }
        });
        let received = self.clone();
        let mut partition = self.shared.partition.subscribe();
        // Writer: hands each chunk over at its arrival time.
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = rx.recv() => next,
                    changed = partition.changed() => {
                        if changed.is_err() || Self::blocked(&partition.borrow_and_update(), from, to) {
                            break;
                        }
                        continue;
                    }
                };
                let Some((arrival, chunk)) = next else { break };
                tokio::time::sleep_until(arrival).await;
                received.shared.received[to].fetch_add(chunk.len() as u64, Ordering::Relaxed);
                if dst.write_all(&chunk).await.is_err() || dst.flush().await.is_err() {
                    break;
                }
            }
            let _ = dst.close().await;
        });
    }

    /// When `len` bytes sent now by node `from` arrive: after the sender's uplink
    /// has serialised them (behind what it already queued), one way-delay, and
    /// one retransmission timeout if a segment of them was lost.
    fn stamp(&self, from: usize, len: usize, rtt: Duration, rto: Duration, rng: &mut impl RngCore) -> Instant {
        let Model { uplink_bps, loss, .. } = self.shared.model;
        let now = Instant::now();
        let sent = {
            let mut busy = self.shared.uplinks[from].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let start = (*busy).max(now);
            *busy = start + Duration::from_secs_f64(len as f64 * 8.0 / uplink_bps);
            *busy
        };
        let segments = len.div_ceil(SEGMENT) as i32;
        let lost = unit(rng.next_u64()) < 1.0 - (1.0 - loss).powi(segments);
        sent + rtt / 2 + if lost { rto } else { Duration::ZERO }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_back_to_their_node() {
        for i in [0, 1, 199, 200, 1234] {
            let addr: Multiaddr = format!("/ip4/{}/tcp/1", ip_of(i)).parse().expect("addr");
            assert_eq!(index_of(&addr), Some(i));
        }
        assert_eq!(index_of(&"/ip4/127.0.0.1/tcp/1".parse().expect("addr")), None);
    }

    #[test]
    fn wan_round_trips_are_symmetric_and_within_the_matrix() {
        let model = Model { rtt: RttModel::Wan, uplink_bps: 1e8, loss: 0.0 };
        let sim = Netsim::new(100, model, 1);
        for a in 0..100 {
            for b in 0..100 {
                let rtt = sim.rtt(a, b);
                assert_eq!(rtt, sim.rtt(b, a));
                assert!(rtt >= Duration::from_millis(25) && rtt <= Duration::from_millis(375), "{rtt:?}");
            }
        }
        assert!(sim.region_counts().iter().all(|c| *c > 0), "{:?}", sim.region_counts());
    }
}
