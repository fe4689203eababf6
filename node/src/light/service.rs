//! The IO side of the light-client protocols: accepts their streams through
//! `libp2p-stream`, reads one request per stream, answers with the pure logic
//! of [`super::filter`], [`super::lightpush`] and [`super::peer_exchange`],
//! closes the write side, and pushes relayed messages to filter subscribers.
//! Every stream, queue and table here is bounded and counted in metrics.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::TopicPolicy;
use super::filter::{self, Change, Subscriptions};
use super::lightpush::{self, PushReply, Version};
use super::peer_exchange::{self, EnrCache};
use crate::metrics::NodeMetrics;
use crate::p2p::NetworkHandle;
use crate::p2p::codec::{read_frame, write_frame};
use crate::store::{Store, StoredMessage};
use crate::waku::RelayMessage;
use heliograph_proto::protocol_id;

/// Light-client streams served at once per protocol; more are reset.
const MAX_STREAMS: usize = 512;
/// How long an opened stream may stay silent before it is closed. js-waku opens
/// streams in advance and may write to them much later, or never.
const IDLE_STREAM: Duration = Duration::from_secs(120);
/// How long the rest of a request (after its frame) may take to end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read past the request frame before giving up on a clean end.
const MAX_DRAIN: usize = 2 * 1024 * 1024;
/// How long writing a response or a push, or opening a push stream, may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest filter request (100 content topics of 256 bytes fit).
const MAX_FILTER_REQUEST: usize = 64 * 1024;
/// Largest lightpush request: js-waku's 1 MiB message cap plus framing; larger
/// messages than the relay takes still decode, so they get 413 with their id.
const MAX_LIGHTPUSH_REQUEST: usize = 1024 * 1024 + 4096;
/// Largest peer-exchange query or answer frame.
const MAX_PX_FRAME: usize = 64 * 1024;
/// Relayed messages queued per filter subscriber.
const PUSH_QUEUE: usize = 64;
/// Consecutive full-queue drops after which a subscriber is cut off.
const SLOW_LIMIT: u32 = 128;
/// Consecutive failed pushes after which a subscriber is dropped.
const MAX_PUSH_FAILURES: u32 = 3;
/// How often idle filter subscribers are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);
/// How often connected peers are asked for ENRs.
const PX_POLL: Duration = Duration::from_secs(10);
/// How long before the same peer is asked for ENRs again.
const PX_REQUERY: Duration = Duration::from_secs(300);
/// Peers remembered as recently asked for ENRs.
const PX_ASKED: usize = 1024;

/// Why the light-client services could not start, or a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum LightError {
    /// Another part of the node already accepts this protocol.
    #[error("protocol {0} is already served")]
    AlreadyServed(&'static str),
    /// The topic configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The stream to the service peer could not be opened.
    #[error("cannot open a stream to {peer}: {reason}")]
    Open {
        /// The peer.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
    /// The exchange failed or timed out.
    #[error("request to {peer} failed: {source}")]
    Io {
        /// The peer.
        peer: PeerId,
        /// The IO error.
        source: io::Error,
    },
    /// The answer did not decode.
    #[error("the peer sent an invalid response: {0}")]
    BadResponse(String),
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
    /// The node's own ENR, never handed out by peer exchange.
    pub own_enr: Option<String>,
}

/// Starts serving filter, lightpush (v3 and v2) and peer exchange; returns the tasks.
pub fn spawn(services: Services, shutdown: CancellationToken) -> Result<Vec<JoinHandle<()>>, LightError> {
    let Services { network, store, metrics, policy, filter_limits, own_enr } = services;
    let mut control = network.streams();
    let mut accept =
        |id: &'static str| control.accept(StreamProtocol::new(id)).map_err(|_| LightError::AlreadyServed(id));
    let filter_in = accept(protocol_id::FILTER_SUBSCRIBE)?;
    let v3_in = accept(protocol_id::LIGHTPUSH_V3)?;
    let v2_in = accept(protocol_id::LIGHTPUSH_V2)?;
    let px_in = accept(protocol_id::PEER_EXCHANGE)?;

    let hub = Arc::new(FilterHub {
        state: Mutex::new(FilterState {
            subs: Subscriptions::new(filter_limits, policy.clone()),
            pushers: HashMap::new(),
        }),
        control: network.streams(),
        metrics: metrics.clone(),
        next_id: AtomicU64::new(0),
    });
    let own_id = own_enr
        .as_deref()
        .and_then(|e| e.parse::<crate::p2p::enr::NodeEnr>().ok())
        .map(|r| r.node_id().raw().to_vec())
        .unwrap_or_default();
    let cache = Arc::new(Mutex::new(EnrCache::new(peer_exchange::CACHE_SIZE, own_id)));
    let pusher = Arc::new(Pusher { network: network.clone(), store, policy, metrics: metrics.clone() });

    let mut tasks = Vec::new();
    let h = hub.clone();
    let m = metrics.clone();
    tasks.push(spawn_accept("filter", filter_in, m.clone(), shutdown.clone(), move |peer, stream| {
        let hub = h.clone();
        async move { serve_filter(hub, peer, stream).await }
    }));
    for (version, incoming) in [(Version::V3, v3_in), (Version::V2, v2_in)] {
        let p = pusher.clone();
        tasks.push(spawn_accept(version.label(), incoming, m.clone(), shutdown.clone(), move |peer, stream| {
            let pusher = p.clone();
            async move { pusher.serve(version, peer, stream).await }
        }));
    }
    let c = cache.clone();
    tasks.push(spawn_accept("peer_exchange", px_in, m.clone(), shutdown.clone(), move |peer, stream| {
        let cache = c.clone();
        let metrics = m.clone();
        async move { serve_peer_exchange(cache, metrics, peer, stream).await }
    }));
    tasks.push(tokio::spawn(
        fan_out(hub, network.messages(), shutdown.clone()).instrument(info_span!("filter_fan_out")),
    ));
    tasks.push(tokio::spawn(
        poll_peer_exchange(network, cache, metrics, shutdown).instrument(info_span!("peer_exchange_poll")),
    ));
    Ok(tasks)
}

/// Accepts streams of one protocol and serves each in its own task, at most [`MAX_STREAMS`] at once.
fn spawn_accept<F, Fut>(
    name: &'static str,
    mut incoming: IncomingStreams,
    metrics: NodeMetrics,
    shutdown: CancellationToken,
    serve: F,
) -> JoinHandle<()>
where
    F: Fn(PeerId, Stream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_STREAMS));
    let task = async move {
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break,
                next = incoming.next() => next,
            };
            let Some((peer, stream)) = next else { break };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                debug!(%peer, protocol = name, "too many open streams: resetting");
                metrics.light.streams_refused.inc();
                continue;
            };
            metrics.light.streams_open.inc();
            let metrics = metrics.clone();
            let fut = serve(peer, stream);
            tokio::spawn(
                async move {
                    fut.await;
                    metrics.light.streams_open.dec();
                    drop(permit);
                }
                .instrument(info_span!("light", protocol = name, %peer)),
            );
        }
    };
    tokio::spawn(task.instrument(info_span!("accept", protocol = name)))
}

/// Reads the one request of a stream, then the rest of the stream until the peer
/// closes its side (so mplex never sees frames for a stream we dropped). `None`:
/// the stream stayed idle or closed without a request; nothing to answer.
async fn read_request(stream: &mut Stream, max: usize) -> Option<Result<Vec<u8>, String>> {
    let frame = match tokio::time::timeout(IDLE_STREAM, read_frame(stream, max)).await {
        Err(_) => return None,
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return None,
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => Err(e.to_string()),
        Ok(Err(_)) => return None,
        Ok(Ok(frame)) => Ok(frame),
    };
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        while total <= MAX_DRAIN {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    Some(frame)
}

/// Writes the response frame and closes our side of the stream.
async fn respond(mut stream: Stream, response: &[u8]) {
    let write = async {
        write_frame(&mut stream, response).await?;
        stream.close().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "response not delivered"),
        Err(_) => debug!("response write timed out"),
    }
}

struct FilterState {
    subs: Subscriptions,
    pushers: HashMap<PeerId, PushQueue>,
}

/// The sending end of one subscriber's push queue.
struct PushQueue {
    id: u64,
    queue: mpsc::Sender<Arc<RelayMessage>>,
    full_streak: u32,
}

/// Filter subscriptions plus the push queue of each subscriber.
struct FilterHub {
    state: Mutex<FilterState>,
    control: Control,
    metrics: NodeMetrics,
    next_id: AtomicU64,
}

impl FilterHub {
    fn lock(&self) -> MutexGuard<'_, FilterState> {
        // A panic while holding the lock leaves a consistent table: every update is one map operation.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers a request and starts or stops the peer's pusher.
    fn handle(self: &Arc<Self>, peer: PeerId, request: Result<&[u8], String>) -> filter::Outcome {
        let mut state = self.lock();
        let outcome = state.subs.handle(peer, request, Instant::now());
        match outcome.change {
            Change::Added => {
                let (tx, rx) = mpsc::channel(PUSH_QUEUE);
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                state.pushers.insert(peer, PushQueue { id, queue: tx, full_streak: 0 });
                let hub = self.clone();
                tokio::spawn(push_loop(hub, peer, id, rx).instrument(info_span!("filter_push", %peer)));
                info!(%peer, "filter subscriber added");
            }
            Change::Removed => {
                state.pushers.remove(&peer);
                info!(%peer, "filter subscriber removed");
            }
            Change::None => {}
        }
        self.metrics.light.filter_subscribers.set(state.subs.len() as i64);
        outcome
    }

    /// Queues a relayed message for every matching subscriber; never waits.
    fn dispatch(&self, message: &Arc<RelayMessage>) {
        let mut state = self.lock();
        let topic = message.pubsub_topic.to_string();
        let peers = state.subs.matching(&topic, &message.message.content_topic);
        let mut slow = Vec::new();
        for peer in peers {
            let Some(pusher) = state.pushers.get_mut(&peer) else { continue };
            match pusher.queue.try_send(message.clone()) {
                Ok(()) => pusher.full_streak = 0,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    pusher.full_streak += 1;
                    self.drop_push("queue_full");
                    if pusher.full_streak >= SLOW_LIMIT {
                        slow.push((peer, pusher.id));
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => slow.push((peer, pusher.id)),
            }
        }
        for (peer, id) in slow {
            Self::evict_locked(&mut state, &self.metrics, peer, id, "slow");
        }
    }

    /// Drops `peer` if its pusher is still number `id` (it may have re-subscribed since).
    fn evict(&self, peer: PeerId, id: u64, reason: &str) {
        let mut state = self.lock();
        Self::evict_locked(&mut state, &self.metrics, peer, id, reason);
    }

    fn evict_locked(state: &mut FilterState, metrics: &NodeMetrics, peer: PeerId, id: u64, reason: &str) {
        if state.pushers.get(&peer).is_some_and(|p| p.id == id) {
            state.pushers.remove(&peer);
            state.subs.remove(&peer);
            warn!(%peer, reason, "filter subscriber dropped");
            metrics.light.filter_evictions.get_or_create(&reason_label(reason)).inc();
            metrics.light.filter_subscribers.set(state.subs.len() as i64);
        }
    }

    fn sweep(&self, now: Instant) {
        let mut state = self.lock();
        for peer in state.subs.expire(now) {
            state.pushers.remove(&peer);
            info!(%peer, "filter subscription expired: no ping");
            self.metrics.light.filter_evictions.get_or_create(&reason_label("expired")).inc();
        }
        self.metrics.light.filter_subscribers.set(state.subs.len() as i64);
    }

    fn drop_push(&self, reason: &str) {
        self.metrics.light.filter_push_dropped.get_or_create(&reason_label(reason)).inc();
    }
}

fn reason_label(reason: &str) -> crate::metrics::ReasonLabel {
    crate::metrics::ReasonLabel { reason: reason.to_owned() }
}

async fn serve_filter(hub: Arc<FilterHub>, peer: PeerId, mut stream: Stream) {
    let Some(request) = read_request(&mut stream, MAX_FILTER_REQUEST).await else { return };
    let outcome = hub.handle(peer, request.as_deref().map_err(Clone::clone));
    debug!(%peer, status = outcome.status, "filter request");
    hub.metrics.light_request("filter", outcome.status);
    respond(stream, &outcome.response).await;
}

/// Writes one subscriber's queued messages to a push stream it keeps open on
/// the client's connection, reopening it after an error.
async fn push_loop(hub: Arc<FilterHub>, peer: PeerId, id: u64, mut queue: mpsc::Receiver<Arc<RelayMessage>>) {
    let mut control = hub.control.clone();
    let protocol = StreamProtocol::new(protocol_id::FILTER_PUSH);
    let mut stream: Option<Stream> = None;
    let mut failures = 0u32;
    while let Some(message) = queue.recv().await {
        let frame = filter::push_frame(&message);
        let current = match stream.take() {
            Some(s) => Ok(s),
            None => match tokio::time::timeout(WRITE_TIMEOUT, control.open_stream(peer, protocol.clone())).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".to_owned()),
            },
        };
        let written = match current {
            Ok(mut s) => match tokio::time::timeout(WRITE_TIMEOUT, write_frame(&mut s, &frame)).await {
                Ok(Ok(())) => {
                    stream = Some(s);
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("write timed out".to_owned()),
            },
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                failures = 0;
                hub.metrics.light.filter_pushes.inc();
            }
            Err(error) => {
                failures += 1;
                hub.drop_push("write_failed");
                debug!(%peer, %error, failures, "filter push failed");
                if failures >= MAX_PUSH_FAILURES {
                    hub.evict(peer, id, "unreachable");
                    break;
                }
            }
        }
    }
    if let Some(mut s) = stream {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, s.close()).await;
    }
}

/// Feeds every relayed message to the filter hub and sweeps idle subscribers.
async fn fan_out(
    hub: Arc<FilterHub>,
    mut messages: broadcast::Receiver<Arc<RelayMessage>>,
    shutdown: CancellationToken,
) {
    let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            received = messages.recv() => match received {
                Ok(message) => hub.dispatch(&message),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    hub.metrics.light.filter_push_dropped.get_or_create(&reason_label("lagged")).inc_by(n);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = sweep.tick() => hub.sweep(Instant::now()),
        }
    }
}

/// Publishes lightpushed messages: relay first, then the store, as REST publishes do.
struct Pusher {
    network: NetworkHandle,
    store: Option<Store>,
    policy: TopicPolicy,
    metrics: NodeMetrics,
}

impl Pusher {
    async fn serve(&self, version: Version, peer: PeerId, mut stream: Stream) {
        let Some(request) = read_request(&mut stream, MAX_LIGHTPUSH_REQUEST).await else { return };
        let (request_id, reply) =
            match lightpush::decode(version, request.as_deref().map_err(Clone::clone), &self.policy) {
                Ok(push) => {
                    (push.request_id, publish_and_store(&self.network, self.store.as_ref(), push.message).await)
                }
                Err(refusal) => {
                    (refusal.request_id, PushReply { status: refusal.status, desc: refusal.desc, relay_peers: None })
                }
            };
        debug!(%peer, status = reply.status, desc = %reply.desc, "lightpush request");
        self.metrics.light_request(version.label(), reply.status);
        respond(stream, &lightpush::response(version, request_id, reply.status, reply.desc, reply.relay_peers)).await;
    }
}

/// Publishes a lightpushed message as REST publishes are: relay first, then
/// (unless ephemeral) the store. No relay peer is an error status, never a success.
pub async fn publish_and_store(network: &NetworkHandle, store: Option<&Store>, message: RelayMessage) -> PushReply {
    let stored = (message.message.ephemeral != Some(true))
        .then(|| StoredMessage::new(message.pubsub_topic.to_string(), message.message.clone(), crate::store::now_ns()));
    let outcome = match network.publish(message).await {
        Ok(outcome) => outcome,
        Err(e) => {
            let status = lightpush::publish_status(&e);
            let relay_peers = (status == lightpush::status::NO_PEERS).then_some(0);
            return PushReply { status, desc: e.to_string(), relay_peers };
        }
    };
    let relay_peers = Some(u32::try_from(outcome.relay_peers).unwrap_or(u32::MAX));
    if let (Some(store), Some(stored)) = (store, stored)
        && let Err(e) = store.put(vec![stored]).await
    {
        let desc = format!("relayed to the mesh but not stored: {e}");
        return PushReply { status: lightpush::status::INTERNAL_ERROR, desc, relay_peers };
    }
    PushReply { status: lightpush::status::SUCCESS, desc: "OK".into(), relay_peers }
}

async fn serve_peer_exchange(cache: Arc<Mutex<EnrCache>>, metrics: NodeMetrics, peer: PeerId, mut stream: Stream) {
    let Some(request) = read_request(&mut stream, MAX_PX_FRAME).await else { return };
    let (response, status) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .answer(request.as_deref().map_err(Clone::clone));
    debug!(%peer, status, "peer exchange request");
    metrics.light_request("peer_exchange", status);
    respond(stream, &response).await;
}

/// Asks connected peers that serve peer exchange for ENRs, each at most every [`PX_REQUERY`].
async fn poll_peer_exchange(
    network: NetworkHandle,
    cache: Arc<Mutex<EnrCache>>,
    metrics: NodeMetrics,
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
        for info in network.peers().await {
            if asked.len() >= PX_ASKED || asked.contains_key(&info.peer_id) {
                continue;
            }
            if !info.protocols.iter().any(|p| p == protocol_id::PEER_EXCHANGE) {
                continue;
            }
            asked.insert(info.peer_id, now);
            let answer = request(
                &mut control,
                info.peer_id,
                protocol_id::PEER_EXCHANGE,
                &peer_exchange::query(peer_exchange::MAX_PEERS_PER_ANSWER as u64),
                MAX_PX_FRAME,
            )
            .await;
            match answer {
                Ok(frame) => {
                    let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let learned = peer_exchange::enrs_of(&frame).iter().filter(|raw| cache.insert(raw)).count();
                    metrics.light.peer_exchange_enrs.set(cache.len() as i64);
                    debug!(peer = %info.peer_id, learned, "peer exchange answer");
                }
                Err(e) => {
                    // Ask again at the next tick rather than after the full requery interval.
                    asked.remove(&info.peer_id);
                    debug!(peer = %info.peer_id, error = %e, "peer exchange query failed");
                }
            }
        }
    }
}

/// Attempts of a request whose stream the server refused before taking the request.
const REQUEST_ATTEMPTS: usize = 3;

/// Sends one request frame to `peer` on a new stream of `protocol` and reads the answer.
///
/// A stream that is reset while the request is still being written never
/// delivered it (the server side may refuse an inbound stream under a burst:
/// `libp2p-stream` hands inbound streams over a single slot), so that case is
/// retried on a fresh stream; any failure after the request went out is not.
pub async fn request(
    control: &mut Control,
    peer: PeerId,
    protocol: &'static str,
    frame: &[u8],
    max_response: usize,
) -> Result<Vec<u8>, LightError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let open = tokio::time::timeout(WRITE_TIMEOUT, control.open_stream(peer, StreamProtocol::new(protocol))).await;
        let mut stream = match open {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(LightError::Open { peer, reason: e.to_string() }),
            Err(_) => return Err(LightError::Open { peer, reason: "timed out".into() }),
        };
        let sent = tokio::time::timeout(WRITE_TIMEOUT, async {
            write_frame(&mut stream, frame).await?;
            stream.close().await
        })
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) if attempt < REQUEST_ATTEMPTS && refused(&e) => {
                debug!(%peer, protocol, error = %e, "request stream refused; retrying on a new stream");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Err(source)) => return Err(LightError::Io { peer, source }),
            Err(_) => return Err(LightError::Io { peer, source: io::ErrorKind::TimedOut.into() }),
        }
        return match tokio::time::timeout(WRITE_TIMEOUT * 2, read_frame(&mut stream, max_response)).await {
            Ok(result) => result.map_err(|source| LightError::Io { peer, source }),
            Err(_) => Err(LightError::Io { peer, source: io::ErrorKind::TimedOut.into() }),
        };
    }
}

/// Whether a write error means the server reset the stream before reading it.
fn refused(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WriteZero | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

/// Lightpushes `message` to a service `peer` (the client side), by v3 or legacy v2.
pub async fn lightpush(
    control: &mut Control,
    peer: PeerId,
    version: Version,
    message: &RelayMessage,
) -> Result<PushReply, LightError> {
    let request_id = format!("{:016x}", rand::random::<u64>());
    let (protocol, frame) = match version {
        Version::V3 => (protocol_id::LIGHTPUSH_V3, lightpush::request_v3(request_id, message)),
        Version::V2 => (protocol_id::LIGHTPUSH_V2, lightpush::request_v2(request_id, message)),
    };
    let answer = request(control, peer, protocol, &frame, MAX_FILTER_REQUEST).await?;
    lightpush::parse_response(version, &answer).map_err(LightError::BadResponse)
}
