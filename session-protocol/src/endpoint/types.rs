//! What goes in and out of an [`Endpoint`](super::Endpoint): configuration, the
//! current time, bytes to publish, topic (un)subscriptions, events and errors.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::envelope::EnvelopeError;
use crate::keys::{KeyError, Topic};
use crate::namespaces::{ItemResult, Namespaces, ProposalError};
use crate::permissions::Permission;
use crate::replay::ReplayError;
use crate::rpc::{ErrorObject, RpcError};
use crate::uri::UriError;

/// Limits and timings of an endpoint.
#[derive(Debug, Clone)]
pub struct Config {
    /// Metadata sent to the peer (`{name, description, url, icons}`).
    pub metadata: Value,
    /// How long an outgoing request waits for its response.
    pub request_timeout: Duration,
    /// Lifetime of a new or extended session (WalletConnect: 7 days).
    pub session_ttl: Duration,
    /// How long a proposal waits for the wallet's answer.
    pub proposal_ttl: Duration,
    /// Oldest request (by the time in its id) still accepted.
    pub max_message_age: Duration,
    /// How far in the future a request's id may claim to be.
    pub max_clock_skew: Duration,
    /// Request ids remembered per topic for replay detection.
    pub replay_capacity: usize,
    /// Messages queued for transmission per topic.
    pub transmit_bound: usize,
    /// Events queued per session before further ones are dropped.
    pub event_bound: usize,
    /// Unanswered incoming requests per session; more are refused.
    pub max_inbound_pending: usize,
    /// Send a heartbeat ping after this long without sending.
    pub heartbeat_interval: Duration,
    /// Report the peer offline after this long without hearing from it.
    pub offline_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            metadata: serde_json::json!({"name": "heliograph", "description": "", "url": "", "icons": []}),
            request_timeout: Duration::from_secs(300),
            session_ttl: crate::walletconnect::expiry::SESSION_TTL,
            proposal_ttl: crate::walletconnect::expiry::PROPOSAL_TTL,
            max_message_age: Duration::from_secs(24 * 3600),
            max_clock_skew: Duration::from_secs(300),
            replay_capacity: 1024,
            transmit_bound: 64,
            event_bound: 256,
            max_inbound_pending: 32,
            heartbeat_interval: Duration::from_secs(30),
            offline_after: Duration::from_secs(90),
        }
    }
}

/// The current time, as a monotonic instant (timers) and wall clock (expiry
/// timestamps and message ids on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub instant: Instant,
    /// Wall-clock time.
    pub system: SystemTime,
}

impl Now {
    /// Pairs an instant with the wall clock.
    pub fn new(instant: Instant, system: SystemTime) -> Self {
        Now { instant, system }
    }

    /// The same clock `by` later.
    pub fn advance(self, by: Duration) -> Self {
        Now { instant: self.instant + by, system: self.system + by }
    }

    /// Wall clock in unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        self.system
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Wall clock in unix seconds.
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms() / 1000
    }

    /// The instant at which unix time `secs` is reached (now if already past).
    pub fn instant_at_unix(&self, secs: u64) -> Instant {
        let ahead = Duration::from_secs(secs).saturating_sub(Duration::from_millis(self.unix_ms()));
        self.instant + ahead
    }
}

/// One envelope to publish on the relay (`irn_publish {topic, message, ttl, tag, prompt}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Relay topic.
    pub topic: Topic,
    /// Base64 envelope.
    pub message: String,
    /// How long the relay should keep it.
    pub ttl: Duration,
    /// WalletConnect publish tag (e.g. 1108 for `wc_sessionRequest`).
    pub tag: u32,
    /// Push-notification hint.
    pub prompt: bool,
}

/// A subscription change the driver must make on the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicChange {
    /// Start receiving messages of this topic (`irn_subscribe`).
    Subscribe(Topic),
    /// Stop receiving them (`irn_unsubscribe`).
    Unsubscribe(Topic),
}

/// Which side of a session this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Proposed the session (the dapp).
    Proposer,
    /// Approved it and controls it (the wallet).
    Controller,
}

/// Everything a session grants, delivered at once when it is established.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectResult {
    /// Session topic.
    pub session: Topic,
    /// Pairing it was proposed over.
    pub pairing: Topic,
    /// Our role.
    pub role: Role,
    /// CAIP-10 accounts granted.
    pub accounts: Vec<String>,
    /// Granted namespaces (including `accounts`).
    pub namespaces: Namespaces,
    /// EIP-2255 permissions held by the proposer.
    pub permissions: Vec<Permission>,
    /// Per-item answers to the proposal.
    pub results: Vec<ItemResult>,
    /// Session expiry, unix seconds.
    pub expiry: u64,
    /// The peer's metadata.
    pub peer_metadata: Value,
    /// Six digits derived from the session key; both sides show the same value.
    pub short_auth_string: String,
}

/// A proposal the wallet must answer with `approve` or `reject`.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingProposal {
    /// Pairing topic it came on.
    pub pairing: Topic,
    /// Proposal (request) id, to pass back.
    pub id: u64,
    /// What is asked for.
    pub request: crate::namespaces::Request,
    /// The proposer's metadata.
    pub proposer_metadata: Value,
}

/// Something the application should know or act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// (Wallet) a session proposal to answer.
    Proposal(IncomingProposal),
    /// A session is established; everything granted at once.
    Connected(ConnectResult),
    /// (Dapp) a proposal failed as a whole.
    ProposalFailed {
        /// Pairing topic.
        pairing: Topic,
        /// Proposal id.
        id: u64,
        /// Which required item was denied and why, or the rejection reason.
        error: ProposalError,
        /// Per-item answers, when the wallet sent them.
        results: Vec<ItemResult>,
    },
    /// A request from the peer; answer with `respond`.
    Request {
        /// Session topic.
        session: Topic,
        /// Request id, to pass back.
        id: u64,
        /// CAIP-2 chain the request targets.
        chain_id: Option<String>,
        /// Method.
        method: String,
        /// Parameters.
        params: Value,
    },
    /// The response to one of our requests.
    Response {
        /// Session topic.
        session: Topic,
        /// Our request id.
        id: u64,
        /// Result or error.
        outcome: Result<Value, ErrorObject>,
    },
    /// One of our requests got no response in time.
    RequestTimedOut {
        /// Session topic.
        session: Topic,
        /// Our request id.
        id: u64,
    },
    /// (Wallet) the dapp asks for permissions; answer with `grant_permissions`.
    PermissionsRequested {
        /// Session topic.
        session: Topic,
        /// Request id.
        id: u64,
        /// Capabilities asked for.
        capabilities: Vec<String>,
    },
    /// (Wallet) the dapp gave up permissions.
    PermissionsRevoked {
        /// Session topic.
        session: Topic,
        /// Capabilities revoked.
        capabilities: Vec<String>,
    },
    /// (Dapp) the wallet emitted a session event (`accountsChanged`, ...).
    SessionEvent {
        /// Session topic.
        session: Topic,
        /// CAIP-2 chain.
        chain_id: Option<String>,
        /// Event name.
        name: String,
        /// Event data.
        data: Value,
    },
    /// (Dapp) the wallet changed the granted namespaces.
    SessionUpdated {
        /// Session topic.
        session: Topic,
        /// New namespaces.
        namespaces: Namespaces,
    },
    /// (Dapp) the wallet extended the session.
    SessionExtended {
        /// Session topic.
        session: Topic,
        /// New expiry, unix seconds.
        expiry: u64,
    },
    /// The peer deleted the session.
    SessionDeleted {
        /// Session topic.
        session: Topic,
        /// The peer's reason.
        reason: String,
    },
    /// The session reached its expiry and was removed.
    SessionExpired {
        /// Session topic.
        session: Topic,
    },
    /// The answer to our `wc_pairingPing` (`answered: false`: none in time).
    PairingPing {
        /// Pairing topic.
        pairing: Topic,
        /// Our ping id.
        id: u64,
        /// Whether the peer answered.
        answered: bool,
    },
    /// The peer deleted the pairing (`wc_pairingDelete`); it is forgotten.
    PairingDeleted {
        /// Pairing topic.
        pairing: Topic,
        /// The peer's reason.
        reason: String,
    },
    /// The peer is heard from again.
    PeerOnline {
        /// Session topic.
        session: Topic,
    },
    /// The peer has been silent longer than `offline_after`.
    PeerOffline {
        /// Session topic.
        session: Topic,
    },
}

/// Why an API call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No such session.
    #[error("unknown session {0}")]
    UnknownSession(Topic),
    /// No such pairing.
    #[error("unknown pairing {0}")]
    UnknownPairing(Topic),
    /// No such pending proposal.
    #[error("no pending proposal {0}")]
    UnknownProposal(u64),
    /// No such unanswered incoming request.
    #[error("no unanswered request {0} on this session")]
    UnknownRequest(u64),
    /// The session's transmit queue is full: try again after draining `poll_transmit`.
    #[error("transmit queue of {0} is full")]
    QueueFull(Topic),
    /// The message would exceed the envelope size limit.
    #[error("message of {0} bytes exceeds the envelope limit")]
    TooLarge(usize),
    /// Only the controller (wallet) may do this.
    #[error("only the session controller may do this")]
    NotController,
    /// The session is not established yet.
    #[error("session {0} is not established yet")]
    NotEstablished(Topic),
    /// The proposal failed (a required item denied).
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// The pairing URI was refused.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// Key agreement failed (the peer sent a low-order public key).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// What we would send is not valid WalletConnect (e.g. a namespace without chains).
    #[error(transparent)]
    Wire(#[from] crate::walletconnect::WireError),
    /// An account to grant is not CAIP-10 (`namespace:reference:address`).
    #[error("account {0:?} is not CAIP-10 (\"namespace:reference:address\")")]
    BadAccount(String),
}

/// Why an incoming message was refused. Refused messages have no effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomingError {
    /// The topic string is not a topic.
    #[error("bad topic: {0}")]
    BadTopic(KeyError),
    /// Not a topic of any pairing or session of ours (misrouted, or deleted).
    #[error("no pairing or session on topic {0}")]
    UnknownTopic(Topic),
    /// The envelope did not open.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Only type 0 envelopes are used on pairing and session topics.
    #[error("unexpected envelope type {0} on this topic")]
    UnexpectedEnvelopeType(u8),
    /// The payload is not JSON-RPC.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A replayed, too old or future request.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A response to no pending request of ours (late, duplicated or forged).
    #[error("response {0} matches no pending request")]
    UnexpectedResponse(u64),
    /// The session already has too many unanswered requests from the peer.
    #[error("too many unanswered requests from the peer on {0}")]
    TooManyPending(Topic),
    /// The proposal's own expiry has passed.
    #[error("proposal {0} has expired")]
    ProposalExpired(u64),
    /// A `wc_sessionRequest` arrived after its `expiryTimestamp` (dropped unanswered, as the SDKs do).
    #[error("request {0} has expired")]
    RequestExpired(u64),
    /// Params of a protocol message are missing or malformed.
    #[error("malformed {method} params: {problem}")]
    BadParams {
        /// Method.
        method: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A session message other than `wc_sessionSettle` before the session is settled.
    #[error("{0} received before the session was settled")]
    NotSettled(String),
    /// Key agreement with the peer's key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Params that are not the WalletConnect shape of their method.
    #[error(transparent)]
    Wire(#[from] crate::walletconnect::WireError),
    /// The settle message's controller key differs from the key that approved.
    #[error("settle message from a controller key that did not approve the proposal")]
    WrongController,
}
