//! How the swarm hands inbound requests to the protocols above it. The swarm
//! task owns the `request_response` behaviours; for each inbound request it
//! asks the [`InboundService`] registered for that protocol (the store server,
//! the light-client server) for an [`Answer`] and carries it out: sends it now,
//! sends a future's output when it completes, or publishes a message on relay
//! first and asks again with the outcome. The swarm knows no protocol logic;
//! the services know no swarm.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;

use super::codec::LightRequest;
use super::handle::{PublishError, PublishOutcome};
use crate::waku::RelayMessage;

/// The request/response protocols the node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Store v3 queries.
    Store,
    /// Filter v2 subscriptions.
    Filter,
    /// Lightpush v2 (legacy `PushRpc`).
    LightpushV2,
    /// Lightpush v3.
    LightpushV3,
    /// Peer exchange.
    PeerExchange,
}

/// A response computed off the swarm task.
pub type Deferred = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// What comes after a relay publish made on a service's behalf.
pub type AfterPublish = Box<dyn FnOnce(Result<PublishOutcome, PublishError>) -> Answer + Send>;

/// A service's answer to one inbound request.
pub enum Answer {
    /// Send this response now.
    Now(Vec<u8>),
    /// Send the output of this future when it completes.
    Later(Deferred),
    /// Publish `message` on relay (no local fallback), then answer what `then` makes of the outcome.
    Publish {
        /// The message to relay.
        message: Box<RelayMessage>,
        /// The answer, given the publish outcome.
        then: AfterPublish,
    },
    /// Not served here: the request gets no response.
    Unanswered,
}

/// Serves inbound requests of one or more [`Protocol`]s.
pub trait InboundService: Send + Sync + 'static {
    /// The answer to `request` (a frame, or why it was not one) from `peer` on `protocol`.
    fn serve(self: Arc<Self>, protocol: Protocol, peer: PeerId, request: LightRequest, now: Instant) -> Answer;
}
