//! Starts the light-client services: builds the [`Server`] the swarm task
//! answers inbound requests with (filter, lightpush, peer exchange, served by
//! `request_response` behaviours), hands it to the swarm task, and spawns the
//! tasks around it: the fan-out of relayed messages to filter subscribers and
//! the polling of peers for ENRs, which also dials learned peers while the node
//! has fewer outbound connections than `network.target_outbound_peers`. The
//! peer-exchange cache is seeded with the ENRs the node was configured or
//! discovered with, and hands out the node's own record too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span};

use super::TopicPolicy;
use super::client::request;
use super::filter;
use super::peer_exchange::{self, EnrCache};
use super::push::{self, FilterHub};
use super::server::Server;
use crate::config::LightConfig;
use crate::metrics::NodeMetrics;
use crate::p2p::NetworkHandle;
use crate::p2p::behaviour::MAX_PX_FRAME;
use crate::p2p::outbound::{Candidate, OutboundTarget};
use crate::store::Store;
use crate::waku::addr::peer_of;
use crate::waku::enr::NodeEnr;
use crate::waku::enrtree::dial_addrs;
use heliograph_proto::protocol_id;

/// How often connected peers are asked for ENRs.
const PX_POLL: Duration = Duration::from_secs(10);
/// How long before the same peer is asked for ENRs again.
const PX_REQUERY: Duration = Duration::from_secs(300);
/// Peers remembered as recently asked for ENRs.
const PX_ASKED: usize = 1024;

/// Why the light-client services could not start.
#[derive(Debug, thiserror::Error)]
pub enum LightError {
    /// The swarm task stopped before it took the light-client server.
    #[error("the network stopped before the light-client services started")]
    NetworkStopped,
    /// Another part of the node already takes the filter push streams.
    #[error("filter push streams are already taken: {0}")]
    PushTaken(#[from] libp2p_stream::AlreadyRegistered),
}

/// Everything the light services need from the node.
pub struct Services {
    /// The swarm task's handle: publishing, relayed messages, streams.
    pub network: NetworkHandle,
    /// The message store, if the node has one.
    pub store: Option<Store>,
    /// Metrics.
    pub metrics: NodeMetrics,
    /// Which pubsub topics light clients may use.
    pub policy: TopicPolicy,
    /// Limits of the filter service.
    pub filter_limits: filter::Limits,
    /// Rate limits.
    pub config: LightConfig,
    /// The node's own ENR, never handed out by peer exchange.
    pub own_enr: Option<String>,
    /// ENRs handed out by peer exchange from the start (the configured bootstrap ENRs).
    pub seeds: Vec<NodeEnr>,
    /// Outbound connections to keep by dialing peers learned by peer exchange.
    pub target_outbound_peers: usize,
}

/// The peer-exchange cache, shared by the swarm task (answers), the polling
/// task and discovery (seeds); its size is the `heliograph_peer_exchange_enrs` gauge.
#[derive(Clone)]
pub struct PeerExchangeCache {
    cache: Arc<Mutex<EnrCache>>,
    metrics: NodeMetrics,
}

impl PeerExchangeCache {
    /// An empty cache that never takes our own record (`own`), but hands it out first.
    pub fn new(own: Option<&NodeEnr>, metrics: NodeMetrics) -> Self {
        let own_id = own.map(|r| r.node_id().raw().to_vec()).unwrap_or_default();
        let mut cache = EnrCache::new(peer_exchange::CACHE_SIZE, own_id);
        if let Some(record) = own {
            cache = cache.with_own_record(peer_exchange::raw_enr(record));
        }
        PeerExchangeCache { cache: Arc::new(Mutex::new(cache)), metrics }
    }

    /// The peers held, with their dialable addresses.
    fn candidates(&self) -> Vec<Candidate> {
        let records = self.lock().records();
        records
            .iter()
            .filter_map(|record| {
                let addrs = dial_addrs(record);
                let peer = addrs.first().and_then(peer_of)?;
                Some(Candidate { peer, addrs })
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, EnrCache> {
        // Every update is one insert into a bounded list: a panic leaves it consistent.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds raw (RLP) ENRs that verify; returns how many were taken (not ours, not older than known).
    fn insert(&self, raw: &[Vec<u8>]) -> usize {
        let mut cache = self.lock();
        let taken = raw.iter().filter(|r| cache.insert(r)).count();
        self.metrics.light.peer_exchange_enrs.set(cache.len() as i64);
        taken
    }

    /// Adds a node record; returns whether it was taken.
    pub fn seed(&self, record: &NodeEnr) -> bool {
        self.insert(&[peer_exchange::raw_enr(record)]) == 1
    }

    /// Answers a query frame; see [`EnrCache::answer`].
    pub fn answer(&self, request: Result<&[u8], String>) -> (Vec<u8>, u32) {
        self.lock().answer(request)
    }
}

/// What [`spawn`] started.
pub struct Started {
    /// The peer-exchange cache, for discovery to seed.
    pub px_cache: PeerExchangeCache,
    /// The filter subscriptions, for publishers to know who listens.
    pub filter: Arc<FilterHub>,
    /// The tasks.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Starts serving filter, lightpush (v3 and v2) and peer exchange: hands the
/// server to the swarm task.
pub async fn spawn(services: Services, shutdown: CancellationToken) -> Result<Started, LightError> {
    let Services { network, store, metrics, policy, filter_limits, config, own_enr, seeds, target_outbound_peers } =
        services;
    let hub = Arc::new(FilterHub::new(filter_limits, policy.clone(), network.streams(), metrics.clone()));
    let own = own_enr.as_deref().and_then(|e| e.parse::<NodeEnr>().ok());
    let cache = PeerExchangeCache::new(own.as_ref(), metrics.clone());
    cache.insert(&seeds.iter().map(peer_exchange::raw_enr).collect::<Vec<_>>());
    let server = Server::new(hub.clone(), cache.clone(), policy, store, metrics.clone(), &config);
    if !network.serve_light(Arc::new(server)).await {
        return Err(LightError::NetworkStopped);
    }
    let tasks = vec![
        tokio::spawn(
            push::fan_out(hub.clone(), network.messages(), shutdown.clone()).instrument(info_span!("filter_fan_out")),
        ),
        tokio::spawn(
            poll_peer_exchange(network, cache.clone(), OutboundTarget::new(target_outbound_peers), shutdown)
                .instrument(info_span!("peer_exchange_poll")),
        ),
    ];
    Ok(Started { px_cache: cache, filter: hub, tasks })
}

/// Asks connected peers that serve peer exchange for ENRs, each at most every [`PX_REQUERY`],
/// then dials learned peers while outbound connections are below the target.
async fn poll_peer_exchange(
    network: NetworkHandle,
    cache: PeerExchangeCache,
    mut outbound: OutboundTarget,
    shutdown: CancellationToken,
) {
    let mut control = network.streams();
    let mut asked: HashMap<PeerId, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(PX_POLL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        asked.retain(|_, at| now.saturating_duration_since(*at) < PX_REQUERY);
        let peers = network.peers().await;
        for info in &peers {
            if asked.len() >= PX_ASKED || asked.contains_key(&info.peer_id) {
                continue;
            }
            if !info.protocols.iter().any(|p| p == protocol_id::PEER_EXCHANGE) {
                continue;
            }
            asked.insert(info.peer_id, now);
            let query = peer_exchange::query(peer_exchange::MAX_PEERS_PER_ANSWER as u64);
            match request(&mut control, info.peer_id, protocol_id::PEER_EXCHANGE, &query, MAX_PX_FRAME).await {
                Ok(frame) => {
                    let learned = cache.insert(&peer_exchange::enrs_of(&frame));
                    debug!(peer = %info.peer_id, learned, "peer exchange answer");
                }
                Err(e) => {
                    // Ask again at the next tick rather than after the full requery interval.
                    asked.remove(&info.peer_id);
                    debug!(peer = %info.peer_id, error = %e, "peer exchange query failed");
                }
            }
        }
        let connected: Vec<(PeerId, bool)> = peers.iter().map(|p| (p.peer_id, p.outbound)).collect();
        let picked = outbound.pick(Instant::now(), &connected, cache.candidates(), &mut rand::thread_rng());
        let dials = picked.into_iter().map(|candidate| {
            let network = &network;
            async move {
                for addr in &candidate.addrs {
                    match network.dial(addr.clone()).await {
                        Ok(_) => return None,
                        Err(e) => debug!(%addr, error = %e, "dial of a peer learned by peer exchange failed"),
                    }
                }
                Some(candidate.peer)
            }
        });
        let dialing = futures::future::join_all(dials);
        tokio::select! {
            () = shutdown.cancelled() => break,
            failed = tokio::time::timeout(PX_POLL, dialing) => {
                for peer in failed.unwrap_or_default().into_iter().flatten() {
                    outbound.dial_failed(peer, Instant::now());
                }
            }
        }
    }
}
