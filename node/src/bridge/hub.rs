//! State shared by every bridge connection: the connections' send queues,
//! the waku_* subscriptions by content topic, the WalletConnect mailbox, and
//! the fan-out task that hands every message the node accepts to matching
//! subscribers with `try_send` (a slow subscriber is disconnected, never waited for).
//! WalletConnect backlogs are the exception: they are streamed into a
//! connection's queue up to half its byte cap, and topped up as the
//! connection's pump drains it ([`Hub::wc_stream`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use heliograph_proto::WakuMessage;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::jsonrpc;
use super::metrics::BridgeMetrics;
use super::tokens::Tokens;
use super::topics::{BridgeTopics, TopicError};
use super::walletconnect::mailbox::{self, ConnId, Limits, Mailbox, MailboxError, Push};
use super::walletconnect::message::WcMessage;
use crate::access::AllowLists;
use crate::config::{BridgeConfig, Config};
use crate::p2p::NetworkHandle;
use crate::rate_limit::RateLimiter;
use crate::store::query::Query;
use crate::store::{MessageHash, Store};
use crate::waku::json::MessageJson;
use crate::waku::time::{now_ms, now_ns};
use crate::waku::{ContentTopic, PubsubTopic, RelayMessage};

/// Frames queued for one connection, whatever their size.
pub const SEND_QUEUE: usize = 4096;
/// The start of every `waku_subscription` push, up to the subscription id.
const PUSH_HEAD: &str = r#"{"jsonrpc":"2.0","method":"waku_subscription","params":{"subscription":""#;
/// How often expired mailbox entries are dropped.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Most stored messages read for one WalletConnect subscribe.
const MAX_BACKLOG: usize = 500;

/// The sending side of one connection, as the hub sees it.
#[derive(Clone)]
pub struct ConnHandle {
    tx: mpsc::Sender<String>,
    pending_bytes: Arc<AtomicUsize>,
    kill: CancellationToken,
    max_pending_bytes: usize,
    streaming: Arc<AtomicBool>,
}

impl ConnHandle {
    /// A handle over `tx`; `kill` is cancelled when the connection must close as a
    /// slow consumer; `streaming` is set while the connection has a backlog to stream.
    pub fn new(
        tx: mpsc::Sender<String>,
        max_pending_bytes: usize,
    ) -> (Self, Arc<AtomicUsize>, CancellationToken, Arc<AtomicBool>) {
        let pending_bytes = Arc::new(AtomicUsize::new(0));
        let kill = CancellationToken::new();
        let streaming = Arc::new(AtomicBool::new(false));
        let handle = ConnHandle {
            tx,
            pending_bytes: pending_bytes.clone(),
            kill: kill.clone(),
            max_pending_bytes,
            streaming: streaming.clone(),
        };
        (handle, pending_bytes, kill, streaming)
    }

    /// Queues a frame without waiting; a full queue or too many pending bytes
    /// marks the connection as a slow consumer. Returns whether it was queued.
    fn send(&self, frame: String, metrics: &BridgeMetrics) -> bool {
        if self.kill.is_cancelled() {
            return false;
        }
        let len = frame.len();
        let pending = self.pending_bytes.fetch_add(len, Ordering::Relaxed) + len;
        let queued = pending <= self.max_pending_bytes && self.tx.try_send(frame).is_ok();
        if !queued {
            self.pending_bytes.fetch_sub(len, Ordering::Relaxed);
            if !self.tx.is_closed() {
                metrics.slow_consumer_disconnects.inc();
                self.kill.cancel();
            }
        }
        queued
    }

    /// Queues a backlog frame: the caller keeps backlogs under the byte cap
    /// and the queue's free slots, so it never marks a slow consumer.
    fn send_backlog(&self, frame: String) -> bool {
        let len = frame.len();
        self.pending_bytes.fetch_add(len, Ordering::Relaxed);
        let queued = self.tx.try_send(frame).is_ok();
        if !queued {
            self.pending_bytes.fetch_sub(len, Ordering::Relaxed);
        }
        queued
    }
}

struct WakuSub {
    id: String,
    pubsub: Option<String>,
}

struct Inner {
    conns: HashMap<ConnId, ConnHandle>,
    waku: HashMap<String, HashMap<ConnId, Vec<WakuSub>>>,
    mailbox: Mailbox,
    topics: BridgeTopics,
}

/// The bridge's shared state.
pub struct Hub {
    inner: Mutex<Inner>,
    next_conn: AtomicU64,
    /// The node's network.
    pub network: NetworkHandle,
    /// Relays, then stores, what bridge clients publish.
    pub publisher: crate::publish::Publisher,
    /// The store, if the node has one.
    pub store: Option<Store>,
    /// Bridge metrics.
    pub metrics: BridgeMetrics,
    /// Bridge settings.
    pub config: BridgeConfig,
    /// Cluster, for autosharding.
    pub cluster_id: u16,
    /// Shards in the cluster, for autosharding.
    pub num_shards: u16,
    /// Host and Origin allow-lists.
    pub allow: AllowLists,
    /// Requests per WalletConnect client id.
    pub client_limit: RateLimiter<String>,
    /// Requests per IP address.
    pub ip_limit: RateLimiter<IpAddr>,
    /// Access tokens.
    pub tokens: Arc<Tokens>,
}

impl Hub {
    /// A hub for the node configured by `config`.
    pub fn new(
        config: &Config,
        network: NetworkHandle,
        publisher: crate::publish::Publisher,
        store: Option<Store>,
        metrics: BridgeMetrics,
        tokens: Arc<Tokens>,
    ) -> Arc<Hub> {
        let first_push = now_ms().saturating_mul(1000);
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                conns: HashMap::new(),
                waku: HashMap::new(),
                mailbox: Mailbox::new(
                    first_push,
                    Limits {
                        max_bytes: config.bridge.wc_mailbox_max_bytes,
                        max_topic_bytes: config.bridge.wc_topic_max_bytes,
                    },
                ),
                topics: BridgeTopics::new(config),
            }),
            next_conn: AtomicU64::new(1),
            network,
            publisher,
            store,
            metrics,
            cluster_id: config.relay.cluster_id,
            num_shards: config.relay.num_shards,
            allow: AllowLists::new("bridge", &config.bridge.allowed_hosts, &config.bridge.allowed_origins),
            client_limit: RateLimiter::new(config.bridge.rate_limit_per_client),
            ip_limit: RateLimiter::new(config.bridge.rate_limit_per_ip),
            config: config.bridge.clone(),
            tokens,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under the lock leaves maps that are still consistent enough to serve.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection and returns its id.
    pub fn register(&self, handle: ConnHandle) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.lock().conns.insert(id, handle);
        self.metrics.connections.inc();
        id
    }

    /// Forgets a connection and all its subscriptions.
    pub fn unregister(&self, conn: ConnId, content_topics: &[String], wc_topics: &[String]) {
        let mut inner = self.lock();
        inner.conns.remove(&conn);
        let mut removed = 0;
        for topic in content_topics {
            if let Some(subs) = inner.waku.get_mut(topic) {
                removed += subs.remove(&conn).map_or(0, |v| v.len());
                if subs.is_empty() {
                    inner.waku.remove(topic);
                }
            }
        }
        for topic in wc_topics {
            removed += usize::from(inner.mailbox.unsubscribe(conn, topic));
        }
        let leased = inner.topics.close(conn);
        drop(inner);
        if !leased.is_empty() {
            let network = self.network.clone();
            tokio::spawn(async move {
                for topic in leased {
                    network.release(topic).await;
                }
            });
        }
        self.metrics.subscriptions.dec_by(removed as i64);
        self.metrics.connections.dec();
    }

    fn deliver(&self, inner: &Inner, pushes: Vec<Push>) {
        for push in pushes {
            if let Some(handle) = inner.conns.get(&push.conn)
                && handle.send(push.frame, &self.metrics)
            {
                self.metrics.messages_pushed.inc();
            }
        }
    }

    /// The pubsub topic a content topic is autosharded to.
    pub fn autoshard(&self, content_topic: &ContentTopic) -> Result<PubsubTopic, jsonrpc::RpcError> {
        content_topic
            .pubsub_topic(self.cluster_id, self.num_shards)
            .map_err(|e| jsonrpc::RpcError::params(format!("cannot autoshard {content_topic}: {e}")))
    }

    /// Checks that bridge clients may use `topic` (`bridge.pubsub_topics`).
    pub fn allow_topic(&self, topic: &PubsubTopic) -> Result<(), jsonrpc::RpcError> {
        self.lock().topics.check_allowed(topic).map_err(topic_error)
    }

    /// Lets `conn` use `topic`: within the caps, and joined (leased until the connection
    /// closes) when it is beyond the node's own topics.
    pub async fn use_topic(&self, conn: ConnId, topic: &PubsubTopic) -> Result<(), jsonrpc::RpcError> {
        let lease = self.lock().topics.admit(conn, topic).map_err(topic_error)?;
        if lease && let Err(e) = self.network.lease(topic.clone()).await {
            self.lock().topics.forget(conn, topic);
            return Err(jsonrpc::RpcError::internal(e));
        }
        Ok(())
    }

    /// Counts `bytes` of topic names a new subscription of `conn` holds, within the caps.
    pub fn charge_topic_bytes(&self, conn: ConnId, bytes: usize) -> Result<(), jsonrpc::RpcError> {
        self.lock().topics.charge(conn, bytes).map_err(topic_error)
    }

    /// Gives back the bytes of an ended subscription of `conn`.
    pub fn refund_topic_bytes(&self, conn: ConnId, bytes: usize) {
        self.lock().topics.refund(conn, bytes);
    }

    /// Subscribes `conn` to waku messages on `content_topics` (optionally only on `pubsub`).
    pub fn waku_subscribe(&self, conn: ConnId, id: &str, content_topics: &[String], pubsub: Option<String>) {
        let mut inner = self.lock();
        for topic in content_topics {
            inner
                .waku
                .entry(topic.clone())
                .or_default()
                .entry(conn)
                .or_default()
                .push(WakuSub { id: id.to_owned(), pubsub: pubsub.clone() });
        }
        self.metrics.subscriptions.inc_by(content_topics.len() as i64);
    }

    /// Ends the waku subscription `id` of `conn` on `content_topics`.
    pub fn waku_unsubscribe(&self, conn: ConnId, id: &str, content_topics: &[String]) {
        let mut inner = self.lock();
        let mut removed = 0;
        for topic in content_topics {
            if let Some(subs) = inner.waku.get_mut(topic) {
                if let Some(list) = subs.get_mut(&conn) {
                    let before = list.len();
                    list.retain(|s| s.id != id);
                    removed += before - list.len();
                    if list.is_empty() {
                        subs.remove(&conn);
                    }
                }
                if subs.is_empty() {
                    inner.waku.remove(topic);
                }
            }
        }
        self.metrics.subscriptions.dec_by(removed as i64);
    }

    /// Hands one message the node accepted to matching subscribers.
    pub fn on_message(&self, message: &RelayMessage) {
        let pubsub = message.pubsub_topic.to_string();
        let wc = WcMessage::from_waku(&message.message);
        let mut inner = self.lock();
        if let Some(subs) = inner.waku.get(&message.message.content_topic) {
            let hash = format!("0x{}", hex::encode(message.hash()));
            // Serialised once; only the subscription id (hex, no escaping) differs per subscriber,
            // so each frame is three copies into an exactly sized string (no formatting per subscriber).
            let result = json!({"hash": hash, "pubsubTopic": pubsub, "message": MessageJson::from(&message.message)});
            let tail = format!(r#"","result":{result}}}}}"#);
            // Straight to each connection's queue: one lookup per connection, no list of pushes.
            for (conn, list) in subs {
                let Some(handle) = inner.conns.get(conn) else { continue };
                for sub in list.iter().filter(|s| s.pubsub.as_ref().is_none_or(|p| *p == pubsub)) {
                    let mut frame = String::with_capacity(PUSH_HEAD.len() + sub.id.len() + tail.len());
                    frame.push_str(PUSH_HEAD);
                    frame.push_str(&sub.id);
                    frame.push_str(&tail);
                    if handle.send(frame, &self.metrics) {
                        self.metrics.messages_pushed.inc();
                    }
                }
            }
        }
        if let Some(wc) = wc {
            let hash = message.hash();
            let pushes = inner.mailbox.ingest(hash, wc, now_ms());
            self.deliver(&inner, pushes);
            self.gauge_mailbox(&inner);
        }
    }

    /// Keeps a WalletConnect message being published through this node, before
    /// it is relayed, so a subscribe right after the publish sees it even before
    /// the fan-out does; refuses it when the mailbox has no room for it.
    pub fn wc_accept(&self, hash: MessageHash, message: WcMessage) -> Result<(), MailboxError> {
        let mut inner = self.lock();
        let pushes = inner.mailbox.accept(hash, message, now_ms()).inspect_err(|e| {
            debug!(error = %e, "WalletConnect publish refused");
            self.metrics.reject("wc_mailbox_full");
        })?;
        self.deliver(&inner, pushes);
        self.gauge_mailbox(&inner);
        Ok(())
    }

    /// Drops a kept message whose publish failed (the client retries it).
    pub fn wc_forget(&self, topic: &str, hash: &MessageHash) {
        let mut inner = self.lock();
        inner.mailbox.forget(topic, hash);
        self.gauge_mailbox(&inner);
    }

    fn gauge_mailbox(&self, inner: &Inner) {
        self.metrics.wc_mailbox_bytes.set(i64::try_from(inner.mailbox.bytes()).unwrap_or(i64::MAX));
    }

    /// Whether the same message is already live on `topic` (an idempotent re-publish).
    pub fn wc_has_message(&self, topic: &str, message: &str) -> bool {
        self.lock().mailbox.has_message(topic, message, now_ms())
    }

    /// Subscribes a WalletConnect client and starts streaming what it has not
    /// received yet, including messages read from the store (relayed by other
    /// nodes or kept over a restart).
    pub async fn wc_subscribe(&self, conn: ConnId, client_id: &str, topic: &str) -> String {
        let backlog = self.wc_backlog(topic).await;
        let mut inner = self.lock();
        let id = inner.mailbox.subscribe(conn, client_id, topic, backlog, now_ms());
        self.stream(&mut inner, conn);
        id
    }

    /// Tops up the queue of `conn` from its backlogs, if it has drained below half its byte cap.
    pub fn wc_stream(&self, conn: ConnId) {
        let mut inner = self.lock();
        self.stream(&mut inner, conn);
    }

    fn stream(&self, inner: &mut Inner, conn: ConnId) {
        let Inner { conns, mailbox, .. } = inner;
        let Some(handle) = conns.get(&conn) else { return };
        let target = (handle.max_pending_bytes / 2).max(1);
        let room = target.saturating_sub(handle.pending_bytes.load(Ordering::Relaxed));
        let (pushes, more) = mailbox.next_backlog(conn, room, handle.tx.capacity(), now_ms());
        for push in pushes {
            if handle.send_backlog(push.frame) {
                self.metrics.messages_pushed.inc();
            }
        }
        handle.streaming.store(more, Ordering::Relaxed);
    }

    /// Ends a WalletConnect subscription; whether there was one.
    pub fn wc_unsubscribe(&self, conn: ConnId, topic: &str) -> bool {
        let removed = self.lock().mailbox.unsubscribe(conn, topic);
        if removed {
            self.metrics.subscriptions.dec();
        }
        removed
    }

    /// Counts a new WalletConnect subscription.
    pub fn wc_subscribed(&self) {
        self.metrics.subscriptions.inc();
    }

    /// Records an ack of push `push_id` by `client_id`.
    pub fn wc_ack(&self, push_id: u64, client_id: &str) -> bool {
        self.lock().mailbox.ack(push_id, client_id)
    }

    /// Live, unacked messages of `topics` for `client_id` as JSON, up to
    /// `max_bytes` of it, and whether more are left (irn_fetchMessages).
    pub async fn wc_fetch(&self, client_id: &str, topics: &[String], max_bytes: usize) -> (Vec<Value>, bool) {
        let mut backlog = Vec::new();
        for topic in topics {
            backlog.extend(self.wc_backlog(topic).await);
        }
        let mut inner = self.lock();
        let now = now_ms();
        for (hash, message) in backlog {
            let pushes = inner.mailbox.ingest(hash, message, now);
            self.deliver(&inner, pushes);
        }
        self.gauge_mailbox(&inner);
        inner.mailbox.fetch(client_id, topics, max_bytes, now)
    }

    /// Live WalletConnect messages of `topic` in the store.
    async fn wc_backlog(&self, topic: &str) -> Vec<(MessageHash, WcMessage)> {
        let Some(store) = &self.store else { return Vec::new() };
        let content = super::walletconnect::message::content_topic(topic);
        let Ok(pubsub) =
            content.parse::<ContentTopic>().map_err(|_| ()).and_then(|c| self.autoshard(&c).map_err(|_| ()))
        else {
            return Vec::new();
        };
        let query = Query {
            request_id: String::new(),
            include_data: true,
            pubsub_topic: Some(pubsub.to_string()),
            content_topics: vec![content],
            time_start: Some(now_ns().saturating_sub(i64::from(mailbox::MAX_TTL) * 1_000_000_000)),
            time_end: None,
            hashes: Vec::new(),
            cursor: None,
            forward: false,
            limit: MAX_BACKLOG.min(store.max_page_size()),
        };
        match store.query(query).await {
            Ok(page) => page
                .messages
                .into_iter()
                .filter_map(|m| WcMessage::from_waku(&m.message).map(|wc| (m.hash, wc)))
                .collect(),
            Err(e) => {
                warn!(error = %e, "cannot read WalletConnect messages from the store");
                Vec::new()
            }
        }
    }

    /// Checks the per-IP and (if given) per-client rate limits.
    pub fn allow_request(&self, ip: IpAddr, client: Option<&str>) -> bool {
        let now = Instant::now();
        let ok = self.ip_limit.check(&ip, now) && client.is_none_or(|c| self.client_limit.check(c, now));
        if !ok {
            self.metrics.rate_limited.inc();
        }
        ok
    }

    fn sweep(&self) {
        let mut inner = self.lock();
        inner.mailbox.sweep(now_ms());
        self.gauge_mailbox(&inner);
    }
}

/// Feeds every accepted message to the hub and sweeps the mailbox, until shutdown.
pub fn spawn_fanout(hub: Arc<Hub>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    let mut messages = hub.network.messages();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = sweep.tick() => hub.sweep(),
                received = messages.recv() => match received {
                    Ok(message) => hub.on_message(&message),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "bridge fan-out fell behind the relay");
                        hub.metrics.reject("fanout_lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        debug!("bridge fan-out stopped");
    })
}

fn topic_error(error: TopicError) -> jsonrpc::RpcError {
    let code = match error {
        TopicError::NotAllowed(_) => jsonrpc::code::UNAUTHORIZED,
        _ => jsonrpc::code::LIMIT_EXCEEDED,
    };
    jsonrpc::RpcError::new(code, error.to_string())
}

/// A WakuMessage built for publishing, with its pubsub topic resolved and open to bridge clients.
pub fn relay_message(hub: &Hub, pubsub: Option<&str>, message: WakuMessage) -> Result<RelayMessage, jsonrpc::RpcError> {
    let pubsub = match pubsub {
        Some(p) => p.parse::<PubsubTopic>().map_err(|e| jsonrpc::RpcError::params(format!("pubsubTopic: {e}")))?,
        None => {
            let content = message
                .content_topic
                .parse::<ContentTopic>()
                .map_err(|e| jsonrpc::RpcError::params(format!("contentTopic: {e}")))?;
            hub.autoshard(&content)?
        }
    };
    hub.allow_topic(&pubsub)?;
    RelayMessage::encode(pubsub, message).map_err(|e| jsonrpc::RpcError::params(e.to_string()))
}
