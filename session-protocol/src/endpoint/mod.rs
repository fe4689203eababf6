//! The sans-IO endpoint: one party's pairings and sessions.
//!
//! # Call order
//!
//! The driver owns the relay connection and the clock. After creating the
//! endpoint and after every input (`handle_incoming`, `handle_timeout`, or an API
//! call such as `propose`, `request`, `respond`), it drains the outputs:
//!
//! 1. `poll_topic_change` until `None`: (un)subscribe those relay topics;
//! 2. `poll_transmit` until `None`: publish each envelope;
//! 3. `poll_event` until `None`: hand events to the application;
//! 4. `poll_timeout`: call `handle_timeout` once that instant is reached.
//!
//! Every publish is a [`Transmit`] `{topic, message (base64 envelope), ttl, tag,
//! prompt}`; every message the relay pushes goes to
//! `handle_incoming(topic, message, now)`, which says why it refused a message.

mod inbound;
mod snapshot;
mod state;
mod types;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};
use serde_json::{Value, json};

use crate::envelope::{self, MAX_ENCODED_LEN};
use crate::fair::FairQueue;
use crate::keys::{KeyPair, SymKey, Topic};
use crate::namespaces::{Item, Namespaces, Outcome, ProposalError, Request};
use crate::permissions::{PendingChange, Permission, PermissionSet, parse_capabilities};
use crate::presence::Presence;
use crate::replay::ReplayWindow;
use crate::rpc::{ErrorObject, IdGenerator, Message};
use crate::uri::{DEFAULT_PAIRING_TTL, PairingUri};
use crate::walletconnect::SdkError;
use crate::walletconnect::namespaces::{is_account, normalize_session, place_accounts};
use crate::walletconnect::params::{
    Extend, Participant, Propose, ProposeResult, Reason, Relay, SessionEvent, SessionRequest, Settle, Update,
};

pub use snapshot::{SessionSnapshot, Snapshot, SnapshotError};
use state::{OutgoingProposal, Pairing, Phase, Session};
pub use types::{
    Config, ConnectResult, EndpointError, Event, IncomingError, IncomingProposal, Now, Role, TopicChange, Transmit,
};

/// Lifetime of a pairing once it has carried a proposal (WalletConnect: 30 days).
const ACTIVE_PAIRING_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Events that belong to no session (proposals) are queued in this lane.
type Lane = Option<Topic>;

/// A random number generator fit for keys and nonces.
pub trait SecureRng: RngCore + CryptoRng {}
impl<T: RngCore + CryptoRng> SecureRng for T {}

/// Counters of things dropped under pressure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Automatic replies not queued because a topic's transmit queue was full.
    pub transmits_dropped: u64,
    /// Events not queued because a session's event queue was full.
    pub events_dropped: u64,
}

struct Queued {
    transmit: Transmit,
    request_id: Option<u64>,
}

/// One party (dapp or wallet, or both) of WalletConnect-style sessions. See the
/// module docs for the call order.
pub struct Endpoint {
    config: Config,
    rng: Box<dyn SecureRng + Send>,
    ids: IdGenerator,
    pairings: BTreeMap<Topic, Pairing>,
    sessions: BTreeMap<Topic, Session>,
    transmits: FairQueue<Topic, Queued>,
    topic_changes: VecDeque<TopicChange>,
    events: FairQueue<Lane, Event>,
    stats: Stats,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("pairings", &self.pairings.keys().collect::<Vec<_>>())
            .field("sessions", &self.sessions.keys().collect::<Vec<_>>())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Publish tag, response tag, TTL and prompt flag of a method (WalletConnect table).
fn method_tags(method: &str) -> (u32, u32, u64, bool) {
    match method {
        "wc_sessionPropose" => (1100, 1101, 300, true),
        "wc_sessionSettle" => (1102, 1103, 300, false),
        "wc_sessionUpdate" => (1104, 1105, 86400, false),
        "wc_sessionExtend" => (1106, 1107, 86400, false),
        "wc_sessionRequest" => (1108, 1109, 900, true),
        "wc_sessionEvent" => (1110, 1111, 300, true),
        "wc_sessionDelete" => (1112, 1113, 86400, false),
        "wc_sessionPing" => (1114, 1115, 86400, false),
        "wc_pairingPing" => (1002, 1003, 30, false),
        _ => (0, 0, 86400, false),
    }
}

/// Publish tag and TTL of a response: the method's response tag, except that a
/// refused proposal is tagged 1120 as WalletConnect does.
fn response_tags(method: &str, is_err: bool) -> (u32, u64) {
    let (_, tag, ttl, _) = method_tags(method);
    if is_err && method == "wc_sessionPropose" { (1120, ttl) } else { (tag, ttl) }
}

impl Endpoint {
    /// A new endpoint with no pairings or sessions. `rng` supplies keys, nonces and ids.
    pub fn new(config: Config, rng: impl SecureRng + Send + 'static) -> Self {
        Endpoint {
            transmits: FairQueue::new(config.transmit_bound),
            events: FairQueue::new(config.event_bound),
            config,
            rng: Box::new(rng),
            ids: IdGenerator::default(),
            pairings: BTreeMap::new(),
            sessions: BTreeMap::new(),
            topic_changes: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Drop counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Topics of all sessions (settling or active).
    pub fn sessions(&self) -> impl Iterator<Item = &Topic> {
        self.sessions.keys()
    }

    /// Topics of all pairings.
    pub fn pairings(&self) -> impl Iterator<Item = &Topic> {
        self.pairings.keys()
    }

    /// What an established session grants, or `None` if unknown or still settling.
    pub fn session_info(&self, session: &Topic) -> Option<ConnectResult> {
        let s = self.sessions.get(session)?;
        matches!(s.phase, Phase::Active).then(|| s.connect_result(session))
    }

    /// EIP-2255 permissions of a session (`wallet_getPermissions`).
    pub fn permissions(&self, session: &Topic) -> Option<Vec<Permission>> {
        self.sessions.get(session).map(|s| s.permissions.list())
    }

    /// A WebRTC [`Call`](crate::signaling::Call) on an established session, bound
    /// to its key (for the short authentication string) and our DTLS fingerprint.
    pub fn call(
        &self,
        session: &Topic,
        local_fingerprint: crate::signaling::Fingerprint,
    ) -> Result<crate::signaling::Call, EndpointError> {
        let s = self.active(session)?;
        Ok(crate::signaling::Call::new(s.key.clone(), local_fingerprint))
    }

    // ---- pairing -------------------------------------------------------------

    /// (Dapp) creates a pairing with a fresh key; show the URI (e.g. as a QR code).
    pub fn create_pairing(&mut self, now: Now) -> PairingUri {
        let uri = PairingUri::generate(&mut *self.rng, now.system, DEFAULT_PAIRING_TTL);
        self.add_pairing(uri.topic.clone(), uri.sym_key.clone(), uri.expiry, now);
        uri
    }

    /// (Wallet) joins a pairing from a scanned URI.
    pub fn pair(&mut self, uri: &str, now: Now) -> Result<Topic, EndpointError> {
        let uri = PairingUri::parse(uri)?;
        uri.check_expiry(now.system)?;
        self.add_pairing(uri.topic.clone(), uri.sym_key, uri.expiry, now);
        Ok(uri.topic)
    }

    fn add_pairing(&mut self, topic: Topic, key: SymKey, expiry: u64, now: Now) {
        let pairing = Pairing {
            key,
            expiry,
            expiry_at: now.instant_at_unix(expiry),
            window: ReplayWindow::new(self.config.replay_capacity),
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            pings: BTreeMap::new(),
        };
        if self.pairings.insert(topic.clone(), pairing).is_none() {
            self.topic_changes.push_back(TopicChange::Subscribe(topic));
        }
    }

    /// Pings the peer over a pairing (`wc_pairingPing`); the answer (or its
    /// absence after `request_timeout`) arrives as [`Event::PairingPing`].
    pub fn pairing_ping(&mut self, pairing: &Topic, now: Now) -> Result<u64, EndpointError> {
        let key = self.pairings.get(pairing).ok_or_else(|| EndpointError::UnknownPairing(pairing.clone()))?.key.clone();
        let id = self.ids.next(now.unix_ms(), &mut *self.rng);
        let msg =
            Message::Request { id, method: "wc_pairingPing".into(), params: crate::walletconnect::params::ping() };
        self.enqueue(pairing, &key, &msg, Some(id), true)?;
        if let Some(p) = self.pairings.get_mut(pairing) {
            p.pings.insert(id, now.instant + self.config.request_timeout);
        }
        Ok(id)
    }

    /// Ends a pairing: tells the peer (`wc_pairingDelete`, code 6000 with
    /// `reason`; never answered), forgets the pairing and unsubscribes. Sessions
    /// proposed over it live on.
    pub fn pairing_delete(&mut self, pairing: &Topic, reason: &str, now: Now) -> Result<(), EndpointError> {
        let key = self.pairings.get(pairing).ok_or_else(|| EndpointError::UnknownPairing(pairing.clone()))?.key.clone();
        let id = self.ids.next(now.unix_ms(), &mut *self.rng);
        let params = Reason { code: SdkError::UserDisconnected.code(), message: reason.to_owned() }.to_json();
        let msg = Message::Request { id, method: "wc_pairingDelete".into(), params };
        self.enqueue(pairing, &key, &msg, None, true)?;
        self.pairings.remove(pairing);
        self.topic_changes.push_back(TopicChange::Unsubscribe(pairing.clone()));
        Ok(())
    }

    fn touch_pairing(&mut self, topic: &Topic, now: Now) {
        if let Some(p) = self.pairings.get_mut(topic) {
            p.expiry = p.expiry.max(now.unix_secs() + ACTIVE_PAIRING_TTL.as_secs());
            p.expiry_at = now.instant_at_unix(p.expiry);
        }
    }

    /// (Dapp) proposes a session over a pairing; the answer arrives as
    /// [`Event::Connected`] or [`Event::ProposalFailed`]. Returns the proposal id.
    pub fn propose(&mut self, pairing: &Topic, request: Request, now: Now) -> Result<u64, EndpointError> {
        let key = self.pairings.get(pairing).ok_or_else(|| EndpointError::UnknownPairing(pairing.clone()))?.key.clone();
        let key_pair = KeyPair::generate(&mut *self.rng);
        let expiry = now.unix_secs() + self.config.proposal_ttl.as_secs();
        let params = Propose {
            required_namespaces: request.required_namespaces,
            optional_namespaces: request.optional_namespaces,
            relays: vec![Relay::default()],
            proposer: Participant { public_key: key_pair.public().to_hex(), metadata: self.config.metadata.clone() },
            expiry_timestamp: Some(expiry),
            pairing_topic: Some(pairing.as_str().to_owned()),
            session_properties: request.session_properties,
        }
        .to_json()?;
        let id = self.ids.next(now.unix_ms(), &mut *self.rng);
        let msg = Message::Request { id, method: "wc_sessionPropose".into(), params };
        self.enqueue(pairing, &key, &msg, Some(id), true)?;
        let deadline = now.instant + self.config.proposal_ttl;
        if let Some(p) = self.pairings.get_mut(pairing) {
            p.outgoing.insert(id, OutgoingProposal { key_pair, deadline });
        }
        self.touch_pairing(pairing, now);
        Ok(id)
    }

    /// (Wallet) answers a proposal item by item with `decide`, granting `accounts`
    /// (CAIP-10). If a required item is denied, nothing is granted, the dapp is
    /// told which item and why, and the same error is returned here. Otherwise
    /// returns the new session topic; [`Event::Connected`] follows once the dapp
    /// acknowledges the settlement.
    pub fn approve(
        &mut self,
        pairing: &Topic,
        id: u64,
        decide: impl FnMut(&Item, bool) -> Outcome,
        accounts: Vec<String>,
        now: Now,
    ) -> Result<Topic, EndpointError> {
        if self.transmits.room(pairing) == 0 {
            // Checked before the proposal is consumed, so the wallet can retry.
            return Err(EndpointError::QueueFull(pairing.clone()));
        }
        if let Some(bad) = accounts.iter().find(|a| !is_account(a)) {
            return Err(EndpointError::BadAccount(bad.clone()));
        }
        let p = self.pairings.get_mut(pairing).ok_or_else(|| EndpointError::UnknownPairing(pairing.clone()))?;
        let proposal = p.incoming.remove(&id).ok_or(EndpointError::UnknownProposal(id))?;
        let pairing_key = p.key.clone();
        let (results, verdict) = proposal.request.evaluate(decide);
        let mut granted = match verdict {
            Ok(granted) => granted,
            Err(error) => {
                let data = json!({"itemResults": results});
                let kind = match &error {
                    ProposalError::RequiredDenied { item, .. } => item.kind.as_str(),
                    _ => "",
                };
                let err =
                    ErrorObject { data: Some(data), ..SdkError::unsupported(kind).to_error(Some(&error.to_string())) };
                self.respond_on(pairing, &pairing_key, id, Err(err), "wc_sessionPropose")?;
                return Err(error.into());
            }
        };
        place_accounts(&mut granted, &accounts);
        normalize_session(&mut granted);
        let key_pair = KeyPair::generate(&mut *self.rng);
        let session_key = key_pair.derive_sym_key(&proposal.proposer_key)?;
        let topic = session_key.topic();
        let expiry = now.unix_secs() + self.config.session_ttl.as_secs();
        let settle = Settle {
            relay: Relay::default(),
            namespaces: granted.clone(),
            session_properties: proposal.request.session_properties.clone(),
            controller: Participant { public_key: key_pair.public().to_hex(), metadata: self.config.metadata.clone() },
            expiry,
            pairing_topic: Some(pairing.as_str().to_owned()),
        };
        let params = match settle.to_json() {
            Ok(params) => params,
            Err(e) => {
                // E.g. a proposed chain that is not CAIP-2: the dapp learns why instead of waiting.
                let err = e.sdk_error().to_error(Some(&e.to_string()));
                self.respond_on(pairing, &pairing_key, id, Err(err), "wc_sessionPropose")?;
                return Err(e.into());
            }
        };
        let mut result =
            ProposeResult { relay: Relay::default(), responder_public_key: key_pair.public().to_hex() }.to_json();
        // Our extension: per-item answers (the SDKs ignore the member).
        result["itemResults"] = json!(results);
        self.respond_on(pairing, &pairing_key, id, Ok(result), "wc_sessionPropose")?;

        let invoker = proposal.metadata.get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut session = self.new_session(session_key, pairing.clone(), Role::Controller, proposal.metadata, now);
        session.namespaces = granted;
        session.results = results;
        session.expiry = expiry;
        session.expiry_at = now.instant_at_unix(expiry);
        session.permissions = initial_permissions(&session.namespaces, &invoker, now.unix_ms());
        let connect = Box::new(session.connect_result(&topic));
        self.sessions.insert(topic.clone(), session);
        self.topic_changes.push_back(TopicChange::Subscribe(topic.clone()));
        let settle_id = self.send_request(&topic, "wc_sessionSettle", params, true, now)?;
        if let Some(s) = self.sessions.get_mut(&topic) {
            s.phase = Phase::Settling { settle_id, connect };
        }
        Ok(topic)
    }

    /// (Wallet) rejects a proposal as a whole: code 5000 (user rejected) with `reason`.
    pub fn reject(&mut self, pairing: &Topic, id: u64, reason: &str) -> Result<(), EndpointError> {
        self.reject_with(pairing, id, ErrorObject::new(SdkError::UserRejected.code(), reason))
    }

    /// (Wallet) rejects a proposal with any error, e.g.
    /// `SdkError::UnsupportedChains.to_error(None)` (5100).
    pub fn reject_with(&mut self, pairing: &Topic, id: u64, error: ErrorObject) -> Result<(), EndpointError> {
        let p = self.pairings.get_mut(pairing).ok_or_else(|| EndpointError::UnknownPairing(pairing.clone()))?;
        p.incoming.remove(&id).ok_or(EndpointError::UnknownProposal(id))?;
        let key = p.key.clone();
        self.respond_on(pairing, &key, id, Err(error), "wc_sessionPropose")
    }

    fn new_session(&self, key: SymKey, pairing: Topic, role: Role, peer_metadata: Value, now: Now) -> Session {
        let expiry = now.unix_secs() + self.config.session_ttl.as_secs();
        Session {
            key,
            pairing,
            role,
            phase: Phase::Active,
            peer_metadata,
            namespaces: Namespaces::new(),
            results: Vec::new(),
            expiry,
            expiry_at: now.instant_at_unix(expiry),
            permissions: PermissionSet::default(),
            pending_out: BTreeMap::new(),
            inbound_pending: BTreeSet::new(),
            window: ReplayWindow::new(self.config.replay_capacity),
            presence: Presence::new(self.config.heartbeat_interval, self.config.offline_after, now.instant),
        }
    }

    // ---- session API ---------------------------------------------------------

    /// Sends an application request (`wc_sessionRequest {request: {method, params}, chainId}`).
    /// Its answer arrives as [`Event::Response`] or [`Event::RequestTimedOut`].
    /// EIP-2255 `wallet_requestPermissions` / `wallet_getPermissions` /
    /// `wallet_revokePermissions` go through here too; granted and revoked
    /// permissions are applied to this side's [`Endpoint::permissions`] view.
    /// Refused with [`EndpointError::QueueFull`] while this session's queue is full.
    pub fn request(
        &mut self,
        session: &Topic,
        chain_id: Option<&str>,
        method: &str,
        params: Value,
        now: Now,
    ) -> Result<u64, EndpointError> {
        self.active(session)?;
        let change = match method {
            "wallet_requestPermissions" => Some(PendingChange::Request),
            "wallet_revokePermissions" => parse_capabilities(&params).ok().map(PendingChange::Revoke),
            _ => None,
        };
        let params = SessionRequest {
            method: method.to_owned(),
            params,
            expiry_timestamp: None,
            chain_id: chain_id.map(str::to_owned),
        }
        .to_json();
        let id = self.send_request(session, "wc_sessionRequest", params, false, now)?;
        if let Some(p) = self.sessions.get_mut(session).and_then(|s| s.pending_out.get_mut(&id)) {
            p.change = change;
        }
        Ok(id)
    }

    /// Answers a request received as [`Event::Request`].
    pub fn respond(
        &mut self,
        session: &Topic,
        id: u64,
        outcome: Result<Value, ErrorObject>,
        now: Now,
    ) -> Result<(), EndpointError> {
        let s = self.sessions.get_mut(session).ok_or_else(|| EndpointError::UnknownSession(session.clone()))?;
        if !s.inbound_pending.contains(&id) {
            return Err(EndpointError::UnknownRequest(id));
        }
        let key = s.key.clone();
        self.respond_on(session, &key, id, outcome, "wc_sessionRequest")?;
        if let Some(s) = self.sessions.get_mut(session) {
            s.inbound_pending.remove(&id);
            s.presence.sent(now.instant);
        }
        Ok(())
    }

    /// (Wallet) answers [`Event::PermissionsRequested`], granting `capabilities`
    /// (an empty list rejects the request with EIP-1193 code 4001).
    pub fn grant_permissions(
        &mut self,
        session: &Topic,
        id: u64,
        capabilities: &[String],
        now: Now,
    ) -> Result<(), EndpointError> {
        let s = self.sessions.get_mut(session).ok_or_else(|| EndpointError::UnknownSession(session.clone()))?;
        if !s.inbound_pending.contains(&id) {
            return Err(EndpointError::UnknownRequest(id));
        }
        let outcome = if capabilities.is_empty() {
            Err(ErrorObject::new(4001, "User rejected the request."))
        } else {
            let invoker = s.peer_metadata.get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
            Ok(PermissionSet::to_result(&s.permissions.grant(&invoker, capabilities, now.unix_ms())))
        };
        self.respond(session, id, outcome, now)
    }

    /// Stops waiting for one of our requests; a late response will be refused.
    /// Returns whether the request was pending.
    pub fn cancel(&mut self, session: &Topic, id: u64) -> bool {
        let Some(s) = self.sessions.get_mut(session) else { return false };
        let was_pending = s.pending_out.remove(&id).is_some();
        self.transmits.retain(session, |q| q.request_id != Some(id));
        was_pending
    }

    /// Pings the peer (`wc_sessionPing`); the answer is an [`Event::Response`].
    pub fn ping(&mut self, session: &Topic, now: Now) -> Result<u64, EndpointError> {
        self.active(session)?;
        self.send_request(session, "wc_sessionPing", json!({}), false, now)
    }

    /// (Wallet) extends the session by the configured session TTL from now
    /// (never moving its expiry back).
    pub fn extend(&mut self, session: &Topic, now: Now) -> Result<u64, EndpointError> {
        let current = self.controller(session)?.expiry;
        let expiry = (now.unix_secs() + self.config.session_ttl.as_secs()).max(current);
        let id =
            self.send_request(session, "wc_sessionExtend", Extend { expiry: Some(expiry) }.to_json(), false, now)?;
        if let Some(s) = self.sessions.get_mut(session) {
            s.expiry = expiry;
            s.expiry_at = now.instant_at_unix(expiry);
        }
        Ok(id)
    }

    /// (Wallet) replaces the granted namespaces (sent with `accounts`, `methods`
    /// and `events` always present).
    pub fn update(&mut self, session: &Topic, mut namespaces: Namespaces, now: Now) -> Result<u64, EndpointError> {
        self.controller(session)?;
        normalize_session(&mut namespaces);
        let params = Update { namespaces: namespaces.clone() }.to_json()?;
        let id = self.send_request(session, "wc_sessionUpdate", params, false, now)?;
        if let Some(s) = self.sessions.get_mut(session) {
            s.namespaces = namespaces;
        }
        Ok(id)
    }

    /// (Wallet) emits a session event such as `accountsChanged`. The official
    /// SDKs never answer events, so no response or timeout is reported.
    pub fn emit(
        &mut self,
        session: &Topic,
        chain_id: Option<&str>,
        name: &str,
        data: Value,
        now: Now,
    ) -> Result<u64, EndpointError> {
        self.controller(session)?;
        let params = SessionEvent { name: name.to_owned(), data, chain_id: chain_id.map(str::to_owned) }.to_json();
        self.send_request(session, "wc_sessionEvent", params, true, now)
    }

    /// Ends a session: tells the peer (code 6000, user disconnected, with
    /// `reason`), forgets the session and unsubscribes. Pending requests of the
    /// session are dropped without further events.
    pub fn delete(&mut self, session: &Topic, reason: &str, now: Now) -> Result<(), EndpointError> {
        self.active(session)?;
        let params = Reason { code: SdkError::UserDisconnected.code(), message: reason.to_owned() }.to_json();
        self.send_request(session, "wc_sessionDelete", params, true, now)?;
        self.remove_session(session);
        Ok(())
    }

    fn active(&self, session: &Topic) -> Result<&Session, EndpointError> {
        let s = self.sessions.get(session).ok_or_else(|| EndpointError::UnknownSession(session.clone()))?;
        match s.phase {
            Phase::Active => Ok(s),
            _ => Err(EndpointError::NotEstablished(session.clone())),
        }
    }

    fn controller(&self, session: &Topic) -> Result<&Session, EndpointError> {
        let s = self.active(session)?;
        if s.role == Role::Controller { Ok(s) } else { Err(EndpointError::NotController) }
    }

    fn remove_session(&mut self, session: &Topic) -> Option<Session> {
        let s = self.sessions.remove(session)?;
        // Events already queued for the session are still delivered.
        self.topic_changes.push_back(TopicChange::Unsubscribe(session.clone()));
        Some(s)
    }

    // ---- sending -------------------------------------------------------------

    /// Seals and queues a request on a session and records it as pending.
    fn send_request(
        &mut self,
        session: &Topic,
        method: &str,
        params: Value,
        internal: bool,
        now: Now,
    ) -> Result<u64, EndpointError> {
        let key = self.sessions.get(session).ok_or_else(|| EndpointError::UnknownSession(session.clone()))?.key.clone();
        let id = self.ids.next(now.unix_ms(), &mut *self.rng);
        let msg = Message::Request { id, method: method.into(), params };
        self.enqueue(session, &key, &msg, Some(id), true)?;
        let timeout = self.config.request_timeout;
        if let Some(s) = self.sessions.get_mut(session) {
            let deadline_unix_ms = now.unix_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            let pending = state::PendingOut {
                method: method.into(),
                deadline: now.instant + timeout,
                deadline_unix_ms,
                internal,
                change: None,
            };
            s.pending_out.insert(id, pending);
            s.presence.sent(now.instant);
        }
        Ok(id)
    }

    /// Seals and queues a response on `topic` (API answers fail when the queue is full).
    fn respond_on(
        &mut self,
        topic: &Topic,
        key: &SymKey,
        id: u64,
        outcome: Result<Value, ErrorObject>,
        method: &str,
    ) -> Result<(), EndpointError> {
        let (tag, ttl) = response_tags(method, outcome.is_err());
        let msg = Message::Response { id, outcome };
        self.push_sealed(topic, key, &msg, tag, ttl, false, None, true)
    }

    /// Automatic reply to a peer's protocol message; dropped (and counted) when the
    /// topic's queue is full, so a flooding peer only hurts its own session.
    fn auto_respond(
        &mut self,
        topic: &Topic,
        key: &SymKey,
        id: u64,
        outcome: Result<Value, ErrorObject>,
        method: &str,
    ) {
        let (tag, ttl) = response_tags(method, outcome.is_err());
        let msg = Message::Response { id, outcome };
        // Cannot fail with must = false except for size, and replies are small.
        let _ = self.push_sealed(topic, key, &msg, tag, ttl, false, None, false);
    }

    fn enqueue(
        &mut self,
        topic: &Topic,
        key: &SymKey,
        msg: &Message,
        request_id: Option<u64>,
        must: bool,
    ) -> Result<(), EndpointError> {
        let method = match msg {
            Message::Request { method, .. } => method.as_str(),
            Message::Response { .. } => "",
        };
        let (tag, _, ttl, prompt) = method_tags(method);
        self.push_sealed(topic, key, msg, tag, ttl, prompt, request_id, must)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_sealed(
        &mut self,
        topic: &Topic,
        key: &SymKey,
        msg: &Message,
        tag: u32,
        ttl: u64,
        prompt: bool,
        request_id: Option<u64>,
        must: bool,
    ) -> Result<(), EndpointError> {
        if self.transmits.room(topic) == 0 {
            if must {
                return Err(EndpointError::QueueFull(topic.clone()));
            }
            self.stats.transmits_dropped += 1;
            return Ok(());
        }
        let json = msg.to_json();
        let message = envelope::seal_type0(key, &json, &mut *self.rng);
        if message.len() > MAX_ENCODED_LEN {
            return Err(EndpointError::TooLarge(json.len()));
        }
        let transmit = Transmit { topic: topic.clone(), message, ttl: Duration::from_secs(ttl), tag, prompt };
        // Room was checked above.
        let _ = self.transmits.push(topic.clone(), Queued { transmit, request_id });
        Ok(())
    }

    fn push_event(&mut self, lane: Lane, event: Event) {
        if self.events.push(lane, event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    // ---- outputs and timers --------------------------------------------------

    /// The next envelope to publish. Topics are served round-robin, FIFO within a topic.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop().map(|(_, q)| q.transmit)
    }

    /// The next relay subscription change.
    #[must_use]
    pub fn poll_topic_change(&mut self) -> Option<TopicChange> {
        self.topic_changes.pop_front()
    }

    /// The next event. Sessions are served round-robin, in order within a session.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop().map(|(_, e)| e)
    }

    /// When `handle_timeout` must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pairings = self.pairings.values().flat_map(|p| {
            std::iter::once(p.expiry_at).chain(p.outgoing.values().map(|o| o.deadline)).chain(p.pings.values().copied())
        });
        let sessions = self.sessions.values().flat_map(|s| {
            let phase = match &s.phase {
                Phase::AwaitingSettle { deadline, .. } => Some(*deadline),
                Phase::Active => Some(s.presence.next_timeout()),
                Phase::Settling { .. } => None,
            };
            std::iter::once(s.expiry_at).chain(phase).chain(s.pending_out.values().map(|p| p.deadline))
        });
        pairings.chain(sessions).min()
    }

    /// Fires every timer due at `now`: request and proposal timeouts, session and
    /// pairing expiry, heartbeats and offline detection.
    pub fn handle_timeout(&mut self, now: Now) {
        self.expire_pairings(now);
        let topics: Vec<Topic> = self.sessions.keys().cloned().collect();
        for topic in topics {
            self.session_timers(&topic, now);
        }
    }

    fn expire_pairings(&mut self, now: Now) {
        let mut expired = Vec::new();
        let mut failed = Vec::new();
        let mut unanswered = Vec::new();
        for (topic, p) in &mut self.pairings {
            if p.expiry_at <= now.instant {
                expired.push(topic.clone());
            }
            let due: Vec<u64> =
                p.outgoing.iter().filter(|(_, o)| o.deadline <= now.instant).map(|(id, _)| *id).collect();
            for id in due {
                p.outgoing.remove(&id);
                failed.push((topic.clone(), id));
            }
            let late: Vec<u64> = p.pings.iter().filter(|(_, d)| **d <= now.instant).map(|(id, _)| *id).collect();
            for id in late {
                p.pings.remove(&id);
                unanswered.push(Event::PairingPing { pairing: topic.clone(), id, answered: false });
            }
        }
        for event in unanswered {
            self.push_event(None, event);
        }
        for (pairing, id) in failed {
            let event = Event::ProposalFailed { pairing, id, error: ProposalError::TimedOut, results: Vec::new() };
            self.push_event(None, event);
        }
        for topic in expired {
            self.pairings.remove(&topic);
            self.topic_changes.push_back(TopicChange::Unsubscribe(topic));
        }
    }

    fn session_timers(&mut self, topic: &Topic, now: Now) {
        let Some(s) = self.sessions.get_mut(topic) else { return };
        let lane = Some(topic.clone());
        let settle_overdue = matches!(s.phase, Phase::AwaitingSettle { deadline, .. } if deadline <= now.instant);
        if s.expiry_at <= now.instant || settle_overdue {
            self.remove_session(topic);
            self.push_event(lane, Event::SessionExpired { session: topic.clone() });
            return;
        }
        let due: Vec<(u64, bool, String)> = s
            .pending_out
            .iter()
            .filter(|(_, p)| p.deadline <= now.instant)
            .map(|(id, p)| (*id, p.internal, p.method.clone()))
            .collect();
        let mut events = Vec::new();
        let mut settle_failed = false;
        for (id, internal, method) in due {
            s.pending_out.remove(&id);
            settle_failed |= method == "wc_sessionSettle";
            if !internal {
                events.push(Event::RequestTimedOut { session: topic.clone(), id });
            }
        }
        let mut heartbeat = false;
        if matches!(s.phase, Phase::Active) {
            if s.presence.check(now.instant).is_some() {
                events.push(Event::PeerOffline { session: topic.clone() });
            }
            heartbeat = s.presence.heartbeat_due(now.instant);
        }
        for e in events {
            self.push_event(lane.clone(), e);
        }
        if settle_failed {
            self.remove_session(topic);
            self.push_event(
                lane,
                Event::SessionDeleted { session: topic.clone(), reason: "settlement not acknowledged".into() },
            );
            return;
        }
        if heartbeat {
            if self.transmits.room(topic) > 0 {
                // Queue room was checked: the heartbeat cannot fail for lack of space.
                let _ = self.send_request(topic, "wc_sessionPing", json!({}), true, now);
            } else if let Some(s) = self.sessions.get_mut(topic) {
                // The queue is busy anyway: skip this beat rather than fire the timer again at once.
                s.presence.sent(now.instant);
            }
        }
    }
}

/// Permissions a new session starts with: every granted method, plus
/// `eth_accounts` when accounts were granted.
fn initial_permissions(namespaces: &Namespaces, invoker: &str, date_ms: u64) -> PermissionSet {
    let mut caps: Vec<String> =
        namespaces.values().flat_map(|ns| ns.get("methods").cloned().unwrap_or_default()).collect();
    if namespaces.values().any(|ns| ns.get("accounts").is_some_and(|a| !a.is_empty())) {
        caps.push("eth_accounts".into());
    }
    let mut set = PermissionSet::default();
    set.grant(invoker, &caps, date_ms);
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_can_move_to_a_driver_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Endpoint>();
    }

    #[test]
    fn tags_follow_the_walletconnect_table() {
        assert_eq!(method_tags("wc_sessionRequest"), (1108, 1109, 900, true));
        assert_eq!(response_tags("wc_sessionPropose", false), (1101, 300));
        assert_eq!(response_tags("wc_sessionPropose", true), (1120, 300));
        assert_eq!(method_tags("unknown"), (0, 0, 86400, false));
    }
}
