//! The task that owns the libp2p swarm: its start-up and its event loop. Other
//! parts of the node reach it through [`NetworkHandle`] (p2p/handle.rs), whose
//! [`Command`]s arrive on a bounded channel, and receive relayed messages from a
//! broadcast channel; they never touch the swarm. Inbound store and
//! light-client requests go to the [`InboundService`] registered for their
//! protocol; answers that need async work (store reads and writes) come back
//! through a bounded channel of deferred responses. This file knows no
//! protocol above the swarm.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::identity::secp256k1;
use libp2p::metrics::Recorder;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, request_response};
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::codec::LightRequest;
use super::handle::{
    Command, DialReply, Holder, NetworkHandle, NodeInfo, PeerInfo, PublishError, PublishOutcome, StoreReply,
};
use super::inbound::{Answer, InboundService, Protocol};
use super::metadata::{Metadata, Verdict};
use super::redial::Redialer;
use super::relay::{self, RelayError, SlowPeers};
use super::transport::TransportFactory;
use crate::config::{Config, MAX_PUBSUB_TOPICS};
use crate::identity;
use crate::metrics::NodeMetrics;
use crate::waku::addr::peer_of;
use crate::waku::bootstrap::BootstrapPeer;
use crate::waku::enr::{self, Capabilities, EnrInput, NodeEnr};
use crate::waku::message::check_timestamp;
use crate::waku::time::now_ns;
use crate::waku::{PubsubTopic, RelayMessage};
use heliograph_proto::Message;
use heliograph_proto::store::StoreQueryResponse;

/// Commands waiting for the swarm task.
const COMMAND_QUEUE: usize = 1024;
/// Relayed messages buffered for each local consumer before it lags.
const DELIVERY_QUEUE: usize = 4096;
/// How long start-up waits for every listener to be bound.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often bootstrap redials are checked.
const REDIAL_TICK: Duration = Duration::from_millis(250);
/// How often the mesh size per topic is sampled into the metrics.
const MESH_METRICS_TICK: Duration = Duration::from_secs(1);
/// Responses computed off the swarm task waiting to be sent. Their producers wait
/// for room and are bounded by the store-query and lightpush-store slots; the swarm
/// task drains this before it takes new swarm events.
const DEFERRED_QUEUE: usize = 64;

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The node key could not be loaded.
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    /// The relay could not be configured.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The transport could not be built.
    #[error("transport: {0}")]
    Transport(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// What went wrong.
        reason: String,
    },
    /// A configured topic is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A response computed off the swarm task, waiting to be sent.
struct DeferredResponse {
    served: Protocol,
    channel: request_response::ResponseChannel<Vec<u8>>,
    response: Vec<u8>,
}

struct PeerState {
    addr: Multiaddr,
    outbound: bool,
    protocols: Vec<String>,
    agent: Option<String>,
}

struct Network {
    swarm: Swarm<Behaviour>,
    key: secp256k1::Keypair,
    config: Config,
    metrics: NodeMetrics,
    libp2p_metrics: libp2p::metrics::Metrics,
    metadata: Metadata,
    joined: HashSet<PubsubTopic>,
    /// Joined topics the operator holds (configured, or subscribed by REST).
    operator_topics: HashSet<PubsubTopic>,
    /// Leases held per joined topic.
    leases: HashMap<PubsubTopic, usize>,
    local_only: RecentIds,
    peers: HashMap<PeerId, PeerState>,
    listen_addrs: Vec<Multiaddr>,
    enr: NodeEnr,
    enr_seq: u64,
    redialer: Redialer,
    pending_dials: HashMap<ConnectionId, (Multiaddr, Option<DialReply>)>,
    disconnect_after_response: HashSet<PeerId>,
    slow_peers: SlowPeers,
    delivered: broadcast::Sender<Arc<RelayMessage>>,
    /// Answers inbound store queries; `None` on a node that keeps no store.
    store: Option<Arc<dyn InboundService>>,
    pending_store: HashMap<request_response::OutboundRequestId, StoreReply>,
    deferred_tx: mpsc::Sender<DeferredResponse>,
    light: Option<Arc<dyn InboundService>>,
}

/// Relay ids of the last messages delivered to local consumers only.
#[derive(Debug, Default)]
struct RecentIds {
    order: VecDeque<[u8; 32]>,
    ids: HashSet<[u8; 32]>,
}

impl RecentIds {
    /// Most ids remembered; the oldest give way.
    const CAPACITY: usize = 4096;

    /// Remembers `id`; false if it was already there.
    fn insert(&mut self, id: [u8; 32]) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

/// Builds the swarm over the transport `transport` makes, binds every listener,
/// joins the configured topics, and spawns the swarm task. `store` answers
/// inbound store queries (and makes the node advertise the store protocol). Returns once the node is listening.
pub async fn spawn(
    config: &Config,
    transport: TransportFactory,
    registry: &mut Registry,
    metrics: NodeMetrics,
    store: Option<Arc<dyn InboundService>>,
    shutdown: CancellationToken,
) -> Result<(NetworkHandle, tokio::task::JoinHandle<()>), NetworkError> {
    let key = match &config.node_key {
        Some(key) => key.keypair(),
        None => identity::load_or_create(&config.data_dir)?,
    };
    let keypair = identity::libp2p_keypair(&key);
    let behaviour = Behaviour::new(&keypair, &config.network, store.is_some(), config.light.lightpush, registry)?;
    let idle = config.network.idle_connection_timeout;
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| transport(key))
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    let topics = config.pubsub_topics()?;
    for topic in &topics {
        join(&mut swarm, topic);
    }
    for addr in &config.network.external_addresses {
        swarm.add_external_address(addr.clone());
    }
    let listen_addrs = bind(&mut swarm, &config.network.listen).await?;
    let peer_id = *swarm.local_peer_id();
    let libp2p_metrics = libp2p::metrics::Metrics::new(registry.sub_registry_with_prefix("libp2p"));
    let enr = build_enr(&key, config, &listen_addrs, 1, store.is_some())
        .map_err(|e| NetworkError::Transport(e.to_string()))?;
    info!(%peer_id, addrs = ?listen_addrs, "listening");

    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (delivered, _) = broadcast::channel(DELIVERY_QUEUE);
    let (deferred_tx, deferred_rx) = mpsc::channel(DEFERRED_QUEUE);
    let network = Network {
        swarm,
        metadata: Metadata::new(config.relay.cluster_id, config.shards()),
        joined: topics.iter().cloned().collect(),
        operator_topics: topics.into_iter().collect(),
        leases: HashMap::new(),
        local_only: RecentIds::default(),
        key,
        config: config.clone(),
        metrics,
        libp2p_metrics,
        peers: HashMap::new(),
        listen_addrs,
        enr,
        enr_seq: 1,
        redialer: Redialer::new(
            config.network.bootstrap.iter().flat_map(BootstrapPeer::dial_addrs),
            config.network.max_redial_backoff,
            Instant::now(),
        ),
        pending_dials: HashMap::new(),
        disconnect_after_response: HashSet::new(),
        slow_peers: SlowPeers::default(),
        delivered: delivered.clone(),
        store,
        pending_store: HashMap::new(),
        deferred_tx,
        light: None,
    };
    let streams = network.swarm.behaviour().streams.new_control();
    let handle = NetworkHandle { commands: commands_tx, delivered, peer_id, streams };
    let task =
        tokio::spawn(network.run(commands_rx, deferred_rx, shutdown).instrument(info_span!("network", %peer_id)));
    Ok((handle, task))
}

fn join(swarm: &mut Swarm<Behaviour>, topic: &PubsubTopic) -> bool {
    let ident = IdentTopic::new(topic.to_string());
    relay::score_topic(&mut swarm.behaviour_mut().relay, ident.clone());
    swarm.behaviour_mut().relay.subscribe(&ident).unwrap_or(false)
}

/// Binds every listener and waits until each has an address.
async fn bind(swarm: &mut Swarm<Behaviour>, listen: &[Multiaddr]) -> Result<Vec<Multiaddr>, NetworkError> {
    let mut waiting = HashMap::new();
    for addr in listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen { addr: addr.clone(), reason: e.to_string() })?;
        waiting.insert(id, addr.clone());
    }
    let mut bound = Vec::new();
    let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
    while !waiting.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await.map_err(|_| {
            let addr = waiting.values().next().cloned().unwrap_or_else(Multiaddr::empty);
            NetworkError::Listen { addr, reason: "timed out waiting for the listener".into() }
        })?;
        match event {
            SwarmEvent::NewListenAddr { listener_id, address } => {
                waiting.remove(&listener_id);
                bound.push(address);
            }
            SwarmEvent::ListenerClosed { listener_id, reason, .. } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    let reason = reason.err().map_or_else(|| "closed".to_owned(), |e| e.to_string());
                    return Err(NetworkError::Listen { addr, reason });
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(NetworkError::Listen { addr, reason: error.to_string() });
                }
            }
            _ => {}
        }
    }
    Ok(bound)
}

fn build_enr(
    key: &secp256k1::Keypair,
    config: &Config,
    listen: &[Multiaddr],
    seq: u64,
    store: bool,
) -> Result<NodeEnr, enr::EnrError> {
    let addrs: Vec<Multiaddr> = config.network.external_addresses.iter().chain(listen).cloned().collect();
    enr::build(
        key,
        &EnrInput {
            seq,
            addrs: &addrs,
            capabilities: Capabilities { relay: true, store, filter: true, lightpush: true },
            cluster: config.relay.cluster_id,
            shards: &config.shards(),
        },
    )
}

impl Network {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut deferred: mpsc::Receiver<DeferredResponse>,
        shutdown: CancellationToken,
    ) {
        let mut redial = tokio::time::interval(REDIAL_TICK);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut mesh_tick = tokio::time::interval(MESH_METRICS_TICK);
        mesh_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(command) = commands.recv() => self.on_command(command),
                Some(DeferredResponse { served, channel, response }) = deferred.recv() => {
                    self.send_response(served, channel, response);
                }
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = redial.tick() => self.redial(),
                _ = mesh_tick.tick() => self.record_mesh(),
            }
        }
        info!("network stopped");
    }

    /// Samples the mesh size of every joined topic into `heliograph_mesh_peers`.
    fn record_mesh(&mut self) {
        let relay = &self.swarm.behaviour().relay;
        for topic in &self.joined {
            let hash = IdentTopic::new(topic.to_string()).hash();
            let size = relay.mesh_peers(&hash).count();
            let label = crate::metrics::TopicLabel { topic: topic.to_string() };
            self.metrics.mesh_peers.get_or_create(&label).set(i64::try_from(size).unwrap_or(i64::MAX));
        }
    }

    fn redial(&mut self) {
        for addr in self.redialer.due(Instant::now()) {
            debug!(%addr, "dialing a kept peer");
            self.start_dial(addr, None);
        }
    }

    fn start_dial(&mut self, addr: Multiaddr, reply: Option<DialReply>) {
        let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
        let opts = match peer_of(&addr) {
            Some(peer) => DialOpts::peer_id(peer).addresses(vec![addr.clone()]).build(),
            None => opts,
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(id, (addr, reply));
            }
            Err(DialError::DialPeerConditionFalse(_)) => {
                // Already connected to that peer: the dial's purpose is met.
                if let (Some(reply), Some(peer)) = (reply, peer_of(&addr)) {
                    let _ = reply.send(Ok(peer));
                }
            }
            Err(e) => {
                debug!(%addr, error = %e, "dial refused");
                self.redialer.dial_failed(&addr, Instant::now(), rand::random());
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { message, local_fallback, reply } => {
                let _ = reply.send(self.publish(message, local_fallback));
            }
            Command::Subscribe { topic, holder, reply } => {
                let result = if self.joined.contains(&topic) {
                    Ok(())
                } else if self.joined.len() >= MAX_PUBSUB_TOPICS {
                    Err(format!("the node already relays {MAX_PUBSUB_TOPICS} topics, the limit"))
                } else {
                    join(&mut self.swarm, &topic);
                    info!(topic = %topic, ?holder, "joined pubsub topic");
                    self.joined.insert(topic.clone());
                    Ok(())
                };
                if result.is_ok() {
                    match holder {
                        Holder::Operator => {
                            self.operator_topics.insert(topic);
                        }
                        Holder::Lease => *self.leases.entry(topic).or_default() += 1,
                    }
                }
                let _ = reply.send(result);
            }
            Command::Release { topic } => {
                if let Some(held) = self.leases.get_mut(&topic) {
                    *held -= 1;
                    if *held == 0 {
                        self.leases.remove(&topic);
                        if !self.operator_topics.contains(&topic) {
                            self.leave(&topic);
                        }
                    }
                }
            }
            Command::Unsubscribe { topic, reply } => {
                self.operator_topics.remove(&topic);
                let left = !self.leases.contains_key(&topic) && self.leave(&topic);
                let _ = reply.send(left);
            }
            Command::Dial { addr, reply } => self.start_dial(addr, Some(reply)),
            Command::StoreQuery { peer, request, reply } => {
                let id = self.swarm.behaviour_mut().store.send_request(&peer, request.encode_to_vec());
                self.pending_store.insert(id, reply);
            }
            Command::ServeLight { server } => self.light = Some(server),
            Command::Peers { reply } => {
                let relay = &self.swarm.behaviour().relay;
                let mut topics: HashMap<PeerId, Vec<String>> = HashMap::new();
                for (peer, peer_topics) in relay.all_peers() {
                    topics.insert(*peer, peer_topics.iter().map(|t| t.to_string()).collect());
                }
                let mut mesh: HashMap<PeerId, Vec<String>> = HashMap::new();
                for topic in relay.topics() {
                    for peer in relay.mesh_peers(topic) {
                        mesh.entry(*peer).or_default().push(topic.to_string());
                    }
                }
                let list = self
                    .peers
                    .iter()
                    .map(|(id, p)| PeerInfo {
                        peer_id: *id,
                        addr: p.addr.clone(),
                        outbound: p.outbound,
                        protocols: p.protocols.clone(),
                        agent: p.agent.clone(),
                        topics: topics.remove(id).unwrap_or_default(),
                        mesh: mesh.remove(id).unwrap_or_default(),
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::Info { reply } => {
                let peer_id = *self.swarm.local_peer_id();
                let p2p = libp2p::multiaddr::Protocol::P2p(peer_id);
                let mut topics: Vec<PubsubTopic> = self.joined.iter().cloned().collect();
                topics.sort();
                let _ = reply.send(NodeInfo {
                    peer_id,
                    listen_addrs: self.listen_addrs.iter().map(|a| a.clone().with(p2p.clone())).collect(),
                    enr: self.enr.to_base64(),
                    topics,
                });
            }
        }
    }

    /// Leaves `topic` if joined; whether it was.
    fn leave(&mut self, topic: &PubsubTopic) -> bool {
        let left = self.joined.remove(topic);
        if left {
            self.swarm.behaviour_mut().relay.unsubscribe(&IdentTopic::new(topic.to_string()));
            self.metrics.mesh_peers.remove(&crate::metrics::TopicLabel { topic: topic.to_string() });
            info!(topic = %topic, "left pubsub topic");
        }
        left
    }

    fn publish(&mut self, message: RelayMessage, local_fallback: bool) -> Result<PublishOutcome, PublishError> {
        if let Err(e) = check_timestamp(&message.message, now_ns(), self.config.relay.max_timestamp_drift) {
            self.metrics.dropped(e.label());
            return Err(e.into());
        }
        let topic = message.pubsub_topic.clone();
        if !self.joined.contains(&topic) {
            return Err(PublishError::NotSubscribed(topic));
        }
        let hash = IdentTopic::new(topic.to_string()).hash();
        let relay = &mut self.swarm.behaviour_mut().relay;
        let relay_peers = relay.all_peers().filter(|(_, topics)| topics.contains(&&hash)).count();
        match relay.publish(hash, message.encoded.clone()) {
            Ok(_) => {
                debug!(topic = %topic, relay_peers, "published");
                self.deliver(message);
                Ok(PublishOutcome { relay_peers })
            }
            Err(gossipsub::PublishError::Duplicate) => {
                self.metrics.dropped("duplicate");
                Err(PublishError::Duplicate)
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) if local_fallback => {
                // gossipsub remembers only what it sent: a repeat of a message that
                // went to local consumers only is a duplicate too.
                if !self.local_only.insert(message.relay_id()) {
                    self.metrics.dropped("duplicate");
                    return Err(PublishError::Duplicate);
                }
                debug!(topic = %topic, "no relay peers: delivered locally only");
                self.deliver(message);
                Ok(PublishOutcome { relay_peers: 0 })
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                self.metrics.dropped("no_peers");
                Err(PublishError::NoPeers(topic))
            }
            Err(gossipsub::PublishError::AllQueuesFull(n)) => {
                self.metrics.dropped("queues_full");
                Err(PublishError::QueuesFull(n))
            }
            Err(e) => Err(PublishError::Relay(e.to_string())),
        }
    }

    /// Hands an accepted message to local consumers (REST cache, store, bridge).
    fn deliver(&mut self, message: RelayMessage) {
        self.metrics.relayed(&message.pubsub_topic.to_string(), message.encoded.len());
        // No receiver is fine: nobody local is listening.
        let _ = self.delivered.send(Arc::new(message));
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.libp2p_metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => self.on_relay_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Metadata(event)) => self.on_metadata_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Store(event)) => self.on_store_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Filter(event)) => self.on_light_event(Protocol::Filter, event),
            SwarmEvent::Behaviour(BehaviourEvent::LightpushV3(event)) => {
                self.on_light_event(Protocol::LightpushV3, event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::LightpushV2(event)) => {
                self.on_light_event(Protocol::LightpushV2, event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::PeerExchange(event)) => {
                self.on_light_event(Protocol::PeerExchange, event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                self.libp2p_metrics.record(&event);
                if let libp2p::identify::Event::Received { peer_id, info, .. } = event
                    && let Some(peer) = self.peers.get_mut(&peer_id)
                {
                    peer.protocols = info.protocols.iter().map(ToString::to_string).collect();
                    peer.agent = Some(info.agent_version);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => self.libp2p_metrics.record(&event),
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
                let dialed = self.pending_dials.remove(&connection_id);
                let addr = endpoint.get_remote_address().clone();
                self.redialer.connected(peer_id, dialed.as_ref().map(|(a, _)| a));
                if let Some((dialed_addr, Some(reply))) = dialed {
                    // Dialed on request: kept connected, as nwaku's peer store reconnects.
                    if self.redialer.keep(peer_id, &dialed_addr) {
                        debug!(peer = %peer_id, addr = %dialed_addr, "peer kept connected");
                    }
                    let _ = reply.send(Ok(peer_id));
                }
                if num_established.get() == 1 {
                    info!(peer = %peer_id, %addr, "peer connected");
                    self.peers.insert(
                        peer_id,
                        PeerState {
                            addr,
                            outbound: matches!(endpoint, ConnectedPoint::Dialer { .. }),
                            protocols: Vec::new(),
                            agent: None,
                        },
                    );
                    self.metrics.peers.set(self.peers.len() as i64);
                    let request = self.metadata.request();
                    self.swarm.behaviour_mut().metadata.send_request(&peer_id, request);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                info!(peer = %peer_id, cause = ?cause.map(|c| c.to_string()), "peer disconnected");
                self.peers.remove(&peer_id);
                self.disconnect_after_response.remove(&peer_id);
                self.slow_peers.forget(&peer_id);
                self.metrics.peers.set(self.peers.len() as i64);
                self.redialer.disconnected(peer_id, Instant::now());
            }
            SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    debug!(peer = ?peer_id, %addr, %error, "dial failed");
                    self.redialer.dial_failed(&addr, Instant::now(), rand::random());
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(error.to_string()));
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } if !self.listen_addrs.contains(&address) => {
                self.listen_addrs.push(address);
                self.refresh_enr();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
                self.refresh_enr();
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            _ => {}
        }
    }

    fn refresh_enr(&mut self) {
        self.enr_seq += 1;
        match build_enr(&self.key, &self.config, &self.listen_addrs, self.enr_seq, self.store.is_some()) {
            Ok(enr) => self.enr = enr,
            Err(e) => warn!(error = %e, "cannot rebuild ENR; keeping the previous one"),
        }
    }

    fn on_relay_event(&mut self, event: gossipsub::Event) {
        self.libp2p_metrics.record(&event);
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.on_relay_message(propagation_source, message_id, message);
            }
            gossipsub::Event::SlowPeer { peer_id, failed_messages } => self.on_slow_peer(peer_id, failed_messages),
            _ => {}
        }
    }

    /// A peer's send queue overflowed during the last heartbeat: the messages
    /// that did not fit are counted as dropped, and after enough such
    /// heartbeats the peer is disconnected, freeing its queue.
    fn on_slow_peer(&mut self, peer: PeerId, failed: gossipsub::FailedMessages) {
        let lost = failed.priority + failed.non_priority;
        let reason = crate::metrics::ReasonLabel { reason: "slow_peer".into() };
        self.metrics.messages_dropped.get_or_create(&reason).inc_by(lost as u64);
        debug!(%peer, lost, "relay peer is not taking its messages");
        // A report may come after the peer left; its strikes would never be forgotten.
        if self.peers.contains_key(&peer) && self.slow_peers.report(peer, Instant::now()) {
            warn!(
                %peer,
                "relay peer kept its send queue full for {} heartbeats: disconnecting it",
                relay::SLOW_STRIKES
            );
            self.metrics.slow_peers_disconnected.inc();
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn on_relay_message(
        &mut self,
        propagation_source: PeerId,
        message_id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        let span = info_span!("relay", peer = %propagation_source, topic = %message.topic);
        let _guard = span.enter();
        let verdict = message.topic.as_str().parse::<PubsubTopic>().map_err(|e| e.to_string()).and_then(|topic| {
            RelayMessage::decode(topic, message.data).map_err(|e| {
                self.metrics.dropped(e.label());
                e.to_string()
            })
        });
        let relay = &mut self.swarm.behaviour_mut().relay;
        // A timestamp far from this node's clock is dropped, not forwarded, without
        // penalising the peer: an honest peer relays what a client with a wrong clock sent.
        let drift = self.config.relay.max_timestamp_drift;
        if let Ok(relayed) = &verdict
            && let Err(e) = check_timestamp(&relayed.message, now_ns(), drift)
        {
            debug!(reason = %e, "ignored message from peer");
            self.metrics.dropped(e.label());
            relay.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Ignore);
            return;
        }
        match verdict {
            Ok(relayed) => {
                relay.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Accept);
                self.deliver(relayed);
            }
            Err(reason) => {
                debug!(%reason, "rejected message from peer");
                relay.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Reject);
            }
        }
    }

    fn on_metadata_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let (response, verdict) = self.metadata.answer(&request);
                if self.swarm.behaviour_mut().metadata.send_response(channel, response).is_err() {
                    debug!(%peer, "metadata stream closed before the response");
                }
                match verdict {
                    Verdict::Keep(shards) => debug!(%peer, ?shards, "metadata request from peer"),
                    // Disconnect once the peer has our answer, so it learns why.
                    Verdict::WrongCluster(cluster) => self.wrong_cluster(peer, cluster, false),
                }
            }
            Event::Message { peer, message: Message::Response { response, .. }, .. } => {
                match self.metadata.judge_response(&response) {
                    Verdict::Keep(shards) => debug!(%peer, ?shards, "metadata response from peer"),
                    Verdict::WrongCluster(cluster) => self.wrong_cluster(peer, cluster, true),
                }
            }
            Event::ResponseSent { peer, .. } | Event::InboundFailure { peer, .. } => {
                if self.disconnect_after_response.remove(&peer) {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
            Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "metadata request failed; keeping the peer");
            }
        }
    }

    fn on_store_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let span = info_span!("store", %peer);
                let _guard = span.enter();
                self.serve(Protocol::Store, peer, Ok(request), channel);
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                if let Some(reply) = self.pending_store.remove(&request_id) {
                    let decoded = StoreQueryResponse::decode(response.as_slice())
                        .map_err(|e| format!("the store peer sent an invalid response: {e}"));
                    let _ = reply.send(decoded);
                }
            }
            Event::OutboundFailure { request_id, error, peer, .. } => {
                if let Some(reply) = self.pending_store.remove(&request_id) {
                    let _ = reply.send(Err(format!("store query to {peer} failed: {error}")));
                }
            }
            Event::InboundFailure { peer, error, .. } => debug!(%peer, %error, "store request stream failed"),
            Event::ResponseSent { .. } => {}
        }
    }

    /// Sends a response on the behaviour of the protocol it answers.
    fn send_response(&mut self, served: Protocol, channel: request_response::ResponseChannel<Vec<u8>>, bytes: Vec<u8>) {
        let behaviour = self.swarm.behaviour_mut();
        let sent = match served {
            Protocol::Store => behaviour.store.send_response(channel, bytes),
            Protocol::Filter => behaviour.filter.send_response(channel, bytes),
            Protocol::LightpushV3 => behaviour.lightpush_v3.send_response(channel, bytes),
            Protocol::LightpushV2 => behaviour.lightpush_v2.send_response(channel, bytes),
            Protocol::PeerExchange => behaviour.peer_exchange.send_response(channel, bytes),
        };
        if sent.is_err() {
            debug!(protocol = ?served, "the client went away before the response");
        }
    }

    fn on_light_event(&mut self, protocol: Protocol, event: request_response::Event<LightRequest, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let span = info_span!("light", ?protocol, %peer);
                let _guard = span.enter();
                self.serve(protocol, peer, request, channel);
            }
            Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, ?protocol, %error, "light-client request stream failed");
            }
            // Inbound-only protocols: no outbound requests, so no responses or outbound failures.
            Event::Message { message: Message::Response { .. }, .. }
            | Event::OutboundFailure { .. }
            | Event::ResponseSent { .. } => {}
        }
    }

    /// Asks the service registered for `protocol` to answer `request` and
    /// carries its answer out: sent now, sent when its future completes
    /// (through the deferred responses), or sent after a relay publish.
    fn serve(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        request: LightRequest,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        let service = if protocol == Protocol::Store { self.store.clone() } else { self.light.clone() };
        let Some(service) = service else {
            debug!(?protocol, "request for a service that is not running: not answered");
            return;
        };
        let mut answer = service.serve(protocol, peer, request, Instant::now());
        loop {
            answer = match answer {
                Answer::Now(response) => return self.send_response(protocol, channel, response),
                Answer::Later(future) => {
                    let deferred = self.deferred_tx.clone();
                    tokio::spawn(
                        async move {
                            let response = future.await;
                            let _ = deferred.send(DeferredResponse { served: protocol, channel, response }).await;
                        }
                        .in_current_span(),
                    );
                    return;
                }
                Answer::Publish { message, then } => then(self.publish(*message, false)),
                Answer::Unanswered => return,
            };
        }
    }

    fn wrong_cluster(&mut self, peer: PeerId, cluster: u32, now: bool) {
        warn!(%peer, their_cluster = cluster, our_cluster = self.config.relay.cluster_id, "peer is in another cluster: disconnecting");
        self.metrics.wrong_cluster_peers.inc();
        self.redialer.exclude(peer);
        if now {
            let _ = self.swarm.disconnect_peer_id(peer);
        } else {
            self.disconnect_after_response.insert(peer);
        }
    }
}
