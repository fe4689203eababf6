//! The one publish pipeline for messages this node's own users send (REST relay and
//! lightpush, inbound lightpush, the bridge's `waku_publish` and `irn_publish`): relay
//! the message, then, unless it is ephemeral, store it, and only then report success.
//! A publish is acknowledged after its store write (durable per `--store-durability`),
//! never through the lossy broadcast the store ingests the mesh's traffic from.

use std::future::Future;

use crate::p2p::{NetworkHandle, NoPeers, PublishError, PublishOutcome};
use crate::store::{Store, StoreError, StoredMessage};
use crate::waku::RelayMessage;
use crate::waku::time::now_ns;

/// Why a publish was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum PublishFailure {
    /// It did not reach the mesh (or local consumers).
    #[error(transparent)]
    Relay(#[from] PublishError),
    /// It was relayed, but the store did not keep it.
    #[error("relayed to {relay_peers} peers but not stored: {source}")]
    NotStored {
        /// Relay peers that received it.
        relay_peers: usize,
        /// The store's error.
        source: StoreError,
    },
}

/// Relays and stores messages: the node's network and, if it keeps one, its store.
#[derive(Clone)]
pub struct Publisher {
    network: NetworkHandle,
    store: Option<Store>,
}

impl Publisher {
    /// A pipeline into `network`, then `store`.
    pub fn new(network: NetworkHandle, store: Option<Store>) -> Self {
        Publisher { network, store }
    }

    /// Relays `message`, then stores it; returns once both are done.
    pub async fn publish(&self, message: RelayMessage, no_peers: NoPeers) -> Result<PublishOutcome, PublishFailure> {
        self.queue(message, no_peers).await?.await
    }

    /// Queues `message` in the swarm task (so publishes from one caller keep their order)
    /// and returns, once queued, the future of its relay and store.
    pub async fn queue(
        &self,
        message: RelayMessage,
        no_peers: NoPeers,
    ) -> Result<impl Future<Output = Result<PublishOutcome, PublishFailure>> + Send + 'static, PublishError> {
        let kept = StoredMessage::keep(&message, now_ns());
        let relayed = self.network.queue_publish(message, no_peers).await?;
        let store = self.store.clone();
        Ok(async move {
            let outcome = relayed.await?;
            store_relayed(store.as_ref(), kept, outcome).await
        })
    }
}

/// The second half of the pipeline, for a message the swarm task has relayed itself
/// (inbound lightpush): stores what the store keeps of it (`kept`).
pub async fn store_relayed(
    store: Option<&Store>,
    kept: Option<StoredMessage>,
    outcome: PublishOutcome,
) -> Result<PublishOutcome, PublishFailure> {
    if let (Some(store), Some(kept)) = (store, kept) {
        store
            .put(vec![kept])
            .await
            .map_err(|source| PublishFailure::NotStored { relay_peers: outcome.relay_peers, source })?;
    }
    Ok(outcome)
}
