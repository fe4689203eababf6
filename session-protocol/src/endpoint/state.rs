//! Per-pairing and per-session state held by the endpoint. Phases are
//! data-carrying enums: a session is either settling (the wallet waits for the
//! dapp's ack of `wc_sessionSettle`, the dapp waits for the settle itself) or active.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;

use crate::keys::{KeyPair, PublicKey, SymKey, Topic};
use crate::namespaces::{ItemResult, Namespaces, Request};
use crate::permissions::{PendingChange, PermissionSet};
use crate::presence::Presence;
use crate::replay::ReplayWindow;

use super::types::{ConnectResult, Role};

/// A pairing: the symmetric key from the URI, shared out of band.
#[derive(Debug)]
pub(crate) struct Pairing {
    pub key: SymKey,
    /// Expiry, unix seconds, and the matching instant.
    pub expiry: u64,
    pub expiry_at: Instant,
    pub window: ReplayWindow,
    /// Our proposals waiting for the wallet's answer, by request id.
    pub outgoing: BTreeMap<u64, OutgoingProposal>,
    /// Proposals received and not answered yet, by request id.
    pub incoming: BTreeMap<u64, ReceivedProposal>,
    /// Our `wc_pairingPing`s waiting for their answer: id → deadline.
    pub pings: BTreeMap<u64, Instant>,
}

/// A proposal we sent (dapp side).
#[derive(Debug)]
pub(crate) struct OutgoingProposal {
    pub key_pair: KeyPair,
    pub deadline: Instant,
}

/// A proposal we received (wallet side).
#[derive(Debug)]
pub(crate) struct ReceivedProposal {
    pub proposer_key: PublicKey,
    pub request: Request,
    pub metadata: Value,
}

/// Where a session is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Dapp: the wallet approved; waiting for `wc_sessionSettle` on the session topic.
    AwaitingSettle {
        /// The wallet's key that approved (the settle must come from it).
        controller: PublicKey,
        /// Per-item answers from the approval.
        results: Vec<ItemResult>,
        /// Give up at this time.
        deadline: Instant,
    },
    /// Wallet: settle sent; the session becomes active when the dapp acks it.
    Settling {
        /// Id of the settle request.
        settle_id: u64,
        /// What `Connected` will report.
        connect: Box<ConnectResult>,
    },
    /// Established.
    Active,
}

/// An outgoing request waiting for its response.
#[derive(Debug, Clone)]
pub(crate) struct PendingOut {
    pub method: String,
    pub deadline: Instant,
    /// Deadline as unix ms, for persistence.
    pub deadline_unix_ms: u64,
    /// Heartbeats and protocol requests whose answers the app does not see.
    pub internal: bool,
    /// A permission request or revocation to apply to our view when answered.
    pub change: Option<PendingChange>,
}

/// One session over its own topic and key.
#[derive(Debug)]
pub(crate) struct Session {
    pub key: SymKey,
    pub pairing: Topic,
    pub role: Role,
    pub phase: Phase,
    pub peer_metadata: Value,
    pub namespaces: Namespaces,
    pub results: Vec<ItemResult>,
    /// Expiry, unix seconds, and the matching instant.
    pub expiry: u64,
    pub expiry_at: Instant,
    pub permissions: PermissionSet,
    pub pending_out: BTreeMap<u64, PendingOut>,
    /// Peer requests not answered yet.
    pub inbound_pending: BTreeSet<u64>,
    pub window: ReplayWindow,
    pub presence: Presence,
}

impl Session {
    /// CAIP-10 accounts in the granted namespaces.
    pub fn accounts(&self) -> Vec<String> {
        self.namespaces.values().flat_map(|ns| ns.get("accounts").cloned().unwrap_or_default()).collect()
    }

    /// The `Connected` payload for this session.
    pub fn connect_result(&self, session: &Topic) -> ConnectResult {
        ConnectResult {
            session: session.clone(),
            pairing: self.pairing.clone(),
            role: self.role,
            accounts: self.accounts(),
            namespaces: self.namespaces.clone(),
            permissions: self.permissions.list(),
            results: self.results.clone(),
            expiry: self.expiry,
            peer_metadata: self.peer_metadata.clone(),
            short_auth_string: self.key.short_auth_string(),
        }
    }
}
