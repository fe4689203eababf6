//! The swarm task's public face: [`NetworkHandle`], a cheap handle whose methods
//! send the task [`Command`]s through a bounded channel and await its replies, and
//! the types those replies carry (publish outcomes and errors, peer and node info).

use std::future::Future;
use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::inbound::InboundService;
use crate::waku::{MessageError, PubsubTopic, RelayMessage};
use heliograph_proto::store::{StoreQueryRequest, StoreQueryResponse};

/// Why a publish did not reach the mesh.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The message itself is invalid.
    #[error(transparent)]
    Invalid(#[from] MessageError),
    /// The node does not relay this topic.
    #[error("this node does not relay pubsub topic {0}; subscribe to it first")]
    NotSubscribed(PubsubTopic),
    /// No peer relays this topic, so the message went nowhere.
    #[error("no relay peers on pubsub topic {0}: the message was not published")]
    NoPeers(PubsubTopic),
    /// The message was published before and is not relayed again.
    #[error("the message was already published")]
    Duplicate,
    /// Every peer's send queue is full.
    #[error("all {0} relay peers are too slow to take the message; try again")]
    QueuesFull(usize),
    /// gossipsub refused it for another reason.
    #[error("relay refused the message: {0}")]
    Relay(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Shutdown,
}

/// What a publish does when no peer relays its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPeers {
    /// Fail with [`PublishError::NoPeers`].
    Fail,
    /// Accept it anyway and hand it to local consumers (bridge subscribers, the store),
    /// with `relay_peers` 0: a dapp and a wallet on one node still talk.
    DeliverLocally,
}

/// A successful publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Peers on the topic that the message was handed to.
    pub relay_peers: usize,
}

/// A connected peer, for `/admin/v1/peers`.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The peer id.
    pub peer_id: PeerId,
    /// The address of the connection.
    pub addr: Multiaddr,
    /// Whether we dialed it.
    pub outbound: bool,
    /// Protocols it told us in identify.
    pub protocols: Vec<String>,
    /// Its agent version from identify.
    pub agent: Option<String>,
    /// Pubsub topics it relays.
    pub topics: Vec<String>,
    /// Pubsub topics on which it is in this node's mesh.
    pub mesh: Vec<String>,
}

/// This node's identity and addresses, for `/debug/v1/info`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The peer id.
    pub peer_id: PeerId,
    /// Listen addresses, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<Multiaddr>,
    /// The signed ENR, `enr:…`.
    pub enr: String,
    /// Pubsub topics joined.
    pub topics: Vec<PubsubTopic>,
}

/// Who keeps a joined pubsub topic joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
    /// The operator: configuration or the REST API. Held until unsubscribed.
    Operator,
    /// A lease (a bridge client's): held until every lease is released.
    Lease,
}

/// Where the outcome of a requested dial goes.
pub(super) type DialReply = oneshot::Sender<Result<PeerId, String>>;

pub(super) enum Command {
    Publish {
        message: RelayMessage,
        local_fallback: bool,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    },
    Subscribe {
        topic: PubsubTopic,
        holder: Holder,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Release {
        topic: PubsubTopic,
    },
    Unsubscribe {
        topic: PubsubTopic,
        reply: oneshot::Sender<bool>,
    },
    Dial {
        addr: Multiaddr,
        reply: DialReply,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Info {
        reply: oneshot::Sender<NodeInfo>,
    },
    StoreQuery {
        peer: PeerId,
        request: StoreQueryRequest,
        reply: StoreReply,
    },
    ServeLight {
        server: Arc<dyn InboundService>,
    },
}

/// Where the answer of a store query to a peer goes.
pub(super) type StoreReply = oneshot::Sender<Result<StoreQueryResponse, String>>;

/// A cheap, cloneable handle to the swarm task.
#[derive(Clone)]
pub struct NetworkHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) delivered: broadcast::Sender<Arc<RelayMessage>>,
    pub(super) peer_id: PeerId,
    pub(super) streams: libp2p_stream::Control,
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Opens and accepts raw protocol streams (the light-client protocols).
    pub fn streams(&self) -> libp2p_stream::Control {
        self.streams.clone()
    }

    /// Receives every message the node accepts, from the mesh or published locally.
    pub fn messages(&self) -> broadcast::Receiver<Arc<RelayMessage>> {
        self.delivered.subscribe()
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Publishes a validated message into the mesh; no relay peer on its topic is an error.
    pub async fn publish(&self, message: RelayMessage) -> Result<PublishOutcome, PublishError> {
        self.queue_publish(message, NoPeers::Fail).await?.await
    }

    /// Hands a publish to the swarm task and returns once it is queued there, with a
    /// future of its outcome. Publishes queued one after another are relayed in that
    /// order, so a caller can keep many in flight. `no_peers` says what happens when no
    /// peer relays the topic.
    pub async fn queue_publish(
        &self,
        message: RelayMessage,
        no_peers: NoPeers,
    ) -> Result<impl Future<Output = Result<PublishOutcome, PublishError>> + Send + 'static, PublishError> {
        let (reply, outcome) = oneshot::channel();
        let local_fallback = no_peers == NoPeers::DeliverLocally;
        self.commands
            .send(Command::Publish { message, local_fallback, reply })
            .await
            .map_err(|_| PublishError::Shutdown)?;
        Ok(async move { outcome.await.unwrap_or(Err(PublishError::Shutdown)) })
    }

    /// Joins a pubsub topic for the operator: it stays joined until [`Self::unsubscribe`].
    pub async fn subscribe(&self, topic: PubsubTopic) -> Result<(), String> {
        self.join_as(topic, Holder::Operator).await
    }

    /// Joins a pubsub topic under a lease (leases are counted): it stays joined while
    /// a lease is held or the operator holds it. Give each back with [`Self::release`].
    pub async fn lease(&self, topic: PubsubTopic) -> Result<(), String> {
        self.join_as(topic, Holder::Lease).await
    }

    async fn join_as(&self, topic: PubsubTopic, holder: Holder) -> Result<(), String> {
        self.call(|reply| Command::Subscribe { topic, holder, reply })
            .await
            .unwrap_or_else(|| Err("shutting down".into()))
    }

    /// Gives back one lease of `topic`; the last one leaves it unless the operator holds it.
    pub async fn release(&self, topic: PubsubTopic) {
        // After shutdown there is nothing left to leave.
        let _ = self.commands.send(Command::Release { topic }).await;
    }

    /// Leaves a pubsub topic, configured or joined at run time, as nwaku's REST
    /// unsubscribe does, unless leases still hold it. Returns whether it left.
    pub async fn unsubscribe(&self, topic: PubsubTopic) -> bool {
        self.call(|reply| Command::Unsubscribe { topic, reply }).await.unwrap_or(false)
    }

    /// Dials `addr` and waits until the connection is up or failed.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, String> {
        self.call(|reply| Command::Dial { addr, reply }).await.unwrap_or_else(|| Err("shutting down".into()))
    }

    /// Lists connected peers.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.call(|reply| Command::Peers { reply }).await.unwrap_or_default()
    }

    /// This node's identity and addresses.
    pub async fn info(&self) -> Option<NodeInfo> {
        self.call(|reply| Command::Info { reply }).await
    }

    /// Starts answering light-client requests (filter, lightpush, peer exchange)
    /// with `server`; false if the swarm task stopped.
    pub async fn serve_light(&self, server: Arc<dyn InboundService>) -> bool {
        self.commands.send(Command::ServeLight { server }).await.is_ok()
    }

    /// Sends a store v3 query to a connected `peer` and waits for its answer.
    pub async fn store_query(&self, peer: PeerId, request: StoreQueryRequest) -> Result<StoreQueryResponse, String> {
        self.call(|reply| Command::StoreQuery { peer, request, reply })
            .await
            .unwrap_or_else(|| Err("shutting down".into()))
    }
}
