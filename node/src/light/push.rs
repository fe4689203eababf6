//! The push side of filter v2: the subscription table shared with the swarm
//! task (which answers subscribe requests through [`FilterHub::handle`]), one
//! bounded queue and push task per subscriber writing to a
//! `/vac/waku/filter-push/2.0.0-beta1` stream the node opens on the client's
//! connection, and the fan-out of relayed messages into those queues. A slow or
//! unreachable subscriber is cut off; nothing here ever waits on a subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::Control;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::TopicPolicy;
use super::filter::{self, Change, Subscriptions};
use crate::metrics::NodeMetrics;
use crate::p2p::codec::write_frame;
use crate::waku::RelayMessage;
use heliograph_proto::protocol_id;

/// Relayed messages queued per filter subscriber.
const PUSH_QUEUE: usize = 64;
/// Consecutive full-queue drops after which a subscriber is cut off.
const SLOW_LIMIT: u32 = 128;
/// Consecutive failed pushes after which a subscriber is dropped.
const MAX_PUSH_FAILURES: u32 = 3;
/// How often idle filter subscribers are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);
/// How long writing a push, or opening a push stream, may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

struct FilterState {
    subs: Subscriptions,
    pushers: HashMap<PeerId, PushQueue>,
}

/// The sending end of one subscriber's push queue.
struct PushQueue {
    id: u64,
    /// Encoded `MessagePush` frames, shared by every subscriber of the message.
    queue: mpsc::Sender<Arc<[u8]>>,
    full_streak: u32,
}

/// Filter subscriptions plus the push queue of each subscriber.
pub struct FilterHub {
    state: Mutex<FilterState>,
    control: Control,
    metrics: NodeMetrics,
    next_id: AtomicU64,
}

impl FilterHub {
    /// An empty hub: subscriptions under `limits` on the topics of `policy`,
    /// pushed through streams opened with `control`.
    pub fn new(limits: filter::Limits, policy: TopicPolicy, control: Control, metrics: NodeMetrics) -> Self {
        FilterHub {
            state: Mutex::new(FilterState { subs: Subscriptions::new(limits, policy), pushers: HashMap::new() }),
            control,
            metrics,
            next_id: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FilterState> {
        // A panic while holding the lock leaves a consistent table: every update is one map operation.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers a request and starts or stops the peer's pusher.
    pub fn handle(self: &Arc<Self>, peer: PeerId, request: Result<&[u8], String>, now: Instant) -> filter::Outcome {
        let mut state = self.lock();
        let outcome = state.subs.handle(peer, request, now);
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

    /// Whether a filter subscriber of this node wants `content_topic` on `pubsub_topic`.
    pub fn has_subscribers(&self, pubsub_topic: &str, content_topic: &str) -> bool {
        !self.lock().subs.matching(pubsub_topic, content_topic).is_empty()
    }

    /// Queues a relayed message for every matching subscriber; never waits.
    fn dispatch(&self, message: &Arc<RelayMessage>) {
        let mut state = self.lock();
        let topic = message.pubsub_topic.to_string();
        let peers = state.subs.matching(&topic, &message.message.content_topic);
        if peers.is_empty() {
            return;
        }
        // Encoded once, whatever the number of subscribers.
        let frame: Arc<[u8]> = filter::push_frame(message).into();
        let mut slow = Vec::new();
        for peer in peers {
            let Some(pusher) = state.pushers.get_mut(&peer) else { continue };
            match pusher.queue.try_send(frame.clone()) {
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

/// Writes one subscriber's queued messages to a push stream it keeps open on
/// the client's connection, reopening it after an error.
async fn push_loop(hub: Arc<FilterHub>, peer: PeerId, id: u64, mut queue: mpsc::Receiver<Arc<[u8]>>) {
    let mut control = hub.control.clone();
    let protocol = StreamProtocol::new(protocol_id::FILTER_PUSH);
    let mut stream: Option<Stream> = None;
    let mut failures = 0u32;
    while let Some(frame) = queue.recv().await {
        // A kept stream may have died with its connection (the subscriber restarted
        // and subscribed again): a failed write on it is retried once on a new stream.
        let mut written = Err(String::new());
        for _ in 0..2 {
            let reused = stream.is_some();
            let current = match stream.take() {
                Some(s) => Ok(s),
                None => match tokio::time::timeout(WRITE_TIMEOUT, control.open_stream(peer, protocol.clone())).await {
                    Ok(Ok(s)) => Ok(s),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                },
            };
            written = match current {
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
            if written.is_ok() || !reused {
                break;
            }
        }
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
pub async fn fan_out(
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
