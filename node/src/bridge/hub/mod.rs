//! State shared by every bridge connection, and its one lock: [`Hub`] owns the
//! [`registry`] of connections and their send queues, the [`waku_subs`] index,
//! the WalletConnect mailbox (wired to queues and the store by [`wc_mailbox`]),
//! the topic caps of [`topics`](super::topics), the rate limiters and the
//! node's handles, and wires them: each method takes the lock, asks the parts,
//! and keeps the metrics. Pushes are queued with `try_send`: a slow subscriber
//! is disconnected, never waited for. The fan-out task that feeds the hub is
//! [`fanout`](super::fanout).

pub mod registry;
pub mod waku_subs;
pub mod wc_mailbox;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use heliograph_proto::WakuMessage;
use serde_json::Value;
use tracing::debug;

use super::jsonrpc;
use super::metrics::BridgeMetrics;
use super::tokens::Tokens;
use super::topics::{BridgeTopics, TopicError};
use super::walletconnect::auth::Audience;
use super::walletconnect::mailbox::{ConnId, Limits, Mailbox, MailboxError};
use super::walletconnect::message::WcMessage;
use crate::access::AllowLists;
use crate::config::{BridgeConfig, Config};
use crate::p2p::NetworkHandle;
use crate::rate_limit::RateLimiter;
use crate::store::{MessageHash, Store};
use crate::waku::time::now_ms;
use crate::waku::{ContentTopic, PubsubTopic, RelayMessage};
use registry::{ConnHandle, Registry};
use waku_subs::WakuSubs;

struct Inner {
    conns: Registry,
    waku: WakuSubs,
    mailbox: Mailbox,
    topics: BridgeTopics,
}

/// The bridge's shared state.
pub struct Hub {
    inner: Mutex<Inner>,
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
    /// The relay URLs a WalletConnect auth JWT may name in `aud`.
    pub audience: Audience,
    /// Requests per WalletConnect client id.
    pub client_limit: RateLimiter<String>,
    /// Requests per IP address.
    pub ip_limit: RateLimiter<IpAddr>,
    /// Access tokens.
    pub tokens: Arc<Tokens>,
    /// Mints TURN credentials, when a TURN server is configured.
    pub turn: Option<crate::turn::Issuer>,
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
        turn: Option<crate::turn::Issuer>,
    ) -> Arc<Hub> {
        let first_push = now_ms().saturating_mul(1000);
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                conns: Registry::default(),
                waku: WakuSubs::default(),
                mailbox: Mailbox::new(
                    first_push,
                    Limits {
                        max_bytes: config.bridge.wc_mailbox_max_bytes,
                        max_topic_bytes: config.bridge.wc_topic_max_bytes,
                    },
                ),
                topics: BridgeTopics::new(config),
            }),
            network,
            publisher,
            store,
            metrics,
            cluster_id: config.relay.cluster_id,
            num_shards: config.relay.num_shards,
            allow: AllowLists::new("bridge", &config.bridge.allowed_hosts, &config.bridge.allowed_origins),
            audience: Audience::new(&config.bridge.public_urls),
            client_limit: RateLimiter::new(config.bridge.rate_limit_per_client),
            ip_limit: RateLimiter::new(config.bridge.rate_limit_per_ip),
            config: config.bridge.clone(),
            tokens,
            turn,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under the lock leaves maps that are still consistent enough to serve.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection and returns its id.
    pub fn register(&self, handle: ConnHandle) -> ConnId {
        let id = self.lock().conns.insert(handle);
        self.metrics.connections.inc();
        id
    }

    /// Forgets a connection and all its subscriptions.
    pub fn unregister(&self, conn: ConnId, content_topics: &[String], wc_topics: &[String]) {
        let mut inner = self.lock();
        inner.conns.remove(conn);
        let mut removed = inner.waku.remove_conn(conn, content_topics);
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
        self.lock().waku.subscribe(conn, id, content_topics, pubsub);
        self.metrics.subscriptions.inc_by(content_topics.len() as i64);
    }

    /// Ends the waku subscription `id` of `conn` on `content_topics`.
    pub fn waku_unsubscribe(&self, conn: ConnId, id: &str, content_topics: &[String]) {
        let removed = self.lock().waku.unsubscribe(conn, id, content_topics);
        self.metrics.subscriptions.dec_by(removed as i64);
    }

    /// Hands one message the node accepted to matching subscribers.
    pub fn on_message(&self, message: &RelayMessage) {
        let pubsub = message.pubsub_topic.to_string();
        let wc = WcMessage::from_waku(&message.message);
        let inner = &mut *self.lock();
        inner.waku.fan_out(message, &pubsub, &inner.conns, &self.metrics);
        if let Some(wc) = wc {
            let hash = message.hash();
            let pushes = inner.mailbox.ingest(hash, wc, now_ms());
            wc_mailbox::deliver(&inner.conns, pushes, &self.metrics);
            wc_mailbox::gauge(&inner.mailbox, &self.metrics);
        }
    }

    /// Keeps a WalletConnect message being published through this node, before
    /// it is relayed, so a subscribe right after the publish sees it even before
    /// the fan-out does; refuses it when the mailbox has no room for it.
    pub fn wc_accept(&self, hash: MessageHash, message: WcMessage) -> Result<(), MailboxError> {
        let inner = &mut *self.lock();
        let pushes = inner.mailbox.accept(hash, message, now_ms()).inspect_err(|e| {
            debug!(error = %e, "WalletConnect publish refused");
            self.metrics.reject("wc_mailbox_full");
        })?;
        wc_mailbox::deliver(&inner.conns, pushes, &self.metrics);
        wc_mailbox::gauge(&inner.mailbox, &self.metrics);
        Ok(())
    }

    /// Drops a kept message whose publish failed (the client retries it).
    pub fn wc_forget(&self, topic: &str, hash: &MessageHash) {
        let mut inner = self.lock();
        inner.mailbox.forget(topic, hash);
        wc_mailbox::gauge(&inner.mailbox, &self.metrics);
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
        let inner = &mut *self.lock();
        let id = inner.mailbox.subscribe(conn, client_id, topic, backlog, now_ms());
        wc_mailbox::stream(&inner.conns, &mut inner.mailbox, conn, &self.metrics);
        id
    }

    /// Tops up the queue of `conn` from its backlogs, if it has drained below half its byte cap.
    pub fn wc_stream(&self, conn: ConnId) {
        let inner = &mut *self.lock();
        wc_mailbox::stream(&inner.conns, &mut inner.mailbox, conn, &self.metrics);
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
        let inner = &mut *self.lock();
        let now = now_ms();
        for (hash, message) in backlog {
            let pushes = inner.mailbox.ingest(hash, message, now);
            wc_mailbox::deliver(&inner.conns, pushes, &self.metrics);
        }
        wc_mailbox::gauge(&inner.mailbox, &self.metrics);
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
        wc_mailbox::stored(store, &pubsub, content).await
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

    /// Drops expired WalletConnect messages (the fan-out task calls it periodically).
    pub fn sweep(&self) {
        let mut inner = self.lock();
        inner.mailbox.sweep(now_ms());
        wc_mailbox::gauge(&inner.mailbox, &self.metrics);
    }
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
