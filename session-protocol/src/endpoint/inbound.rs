//! Incoming envelopes: topic routing, AEAD opening, replay checks, then dispatch
//! of pairing messages (proposals and their answers) and session messages.

use serde_json::{Value, json};

use crate::envelope::Envelope;
use crate::keys::{PublicKey, Topic};
use crate::namespaces::{ItemResult, ProposalError, Request, granted_namespaces, grants};
use crate::permissions::{PendingChange, Permission, parse_capabilities};
use crate::rpc::{ErrorObject, Message};
use crate::walletconnect::params::{
    Extend, Propose, ProposeResult, Reason, SessionEvent, SessionRequest, Settle, Update,
};
use crate::walletconnect::{SdkError, expiry};

use super::state::{Phase, ReceivedProposal};
use super::{Endpoint, Event, IncomingError, Now, Role, TopicChange, initial_permissions};

/// Methods a dapp may always call on the wallet, whatever was granted.
const PERMISSION_METHODS: [&str; 3] =
    ["wallet_requestPermissions", "wallet_getPermissions", "wallet_revokePermissions"];

fn bad(method: &'static str, problem: &'static str) -> IncomingError {
    IncomingError::BadParams { method, problem }
}

impl Endpoint {
    /// Processes one message the relay pushed on `topic`. Returns why it was
    /// refused; a refused message changes nothing and produces no event.
    pub fn handle_incoming(&mut self, topic: &str, message: &str, now: Now) -> Result<(), IncomingError> {
        let topic = Topic::parse(topic).map_err(IncomingError::BadTopic)?;
        let key = match (self.sessions.get(&topic), self.pairings.get(&topic)) {
            (Some(s), _) => s.key.clone(),
            (None, Some(p)) => p.key.clone(),
            (None, None) => return Err(IncomingError::UnknownTopic(topic)),
        };
        let envelope = Envelope::decode(message)?;
        if envelope.kind() != 0 {
            return Err(IncomingError::UnexpectedEnvelopeType(envelope.kind()));
        }
        let msg = Message::parse(&envelope.open(&key)?)?;
        if self.sessions.contains_key(&topic) {
            self.session_message(&topic, msg, now)
        } else {
            self.pairing_message(&topic, msg, now)
        }
    }

    fn check_replay(&mut self, topic: &Topic, id: u64, now: Now) -> Result<(), IncomingError> {
        let age = u64::try_from(self.config.max_message_age.as_millis()).unwrap_or(u64::MAX);
        let skew = u64::try_from(self.config.max_clock_skew.as_millis()).unwrap_or(u64::MAX);
        let window = match (self.sessions.get_mut(topic), self.pairings.get_mut(topic)) {
            (Some(s), _) => &mut s.window,
            (None, Some(p)) => &mut p.window,
            (None, None) => return Err(IncomingError::UnknownTopic(topic.clone())),
        };
        window.accept(id, now.unix_ms(), age, skew)?;
        Ok(())
    }

    // ---- pairing topic -------------------------------------------------------

    fn pairing_message(&mut self, topic: &Topic, msg: Message, now: Now) -> Result<(), IncomingError> {
        let key = self
            .pairings
            .get(topic)
            .map(|p| p.key.clone())
            .ok_or_else(|| IncomingError::UnknownTopic(topic.clone()))?;
        match msg {
            Message::Request { id, method, params } => {
                self.check_replay(topic, id, now)?;
                match method.as_str() {
                    "wc_sessionPropose" => self.received_proposal(topic, id, &params, now),
                    "wc_pairingPing" => {
                        self.auto_respond(topic, &key, id, Ok(json!(true)), &method);
                        Ok(())
                    }
                    "wc_pairingDelete" => {
                        // Not answered, as the SDKs do.
                        let reason = Reason::from_json(&params).message;
                        self.pairings.remove(topic);
                        self.topic_changes.push_back(TopicChange::Unsubscribe(topic.clone()));
                        self.push_event(None, Event::PairingDeleted { pairing: topic.clone(), reason });
                        Ok(())
                    }
                    _ => {
                        let error = SdkError::WcMethodUnsupported.to_error(Some(&method));
                        self.auto_respond(topic, &key, id, Err(error), &method);
                        Ok(())
                    }
                }
            }
            Message::Response { id, outcome } => {
                if self.pairings.get_mut(topic).is_some_and(|p| p.pings.remove(&id).is_some()) {
                    let event = Event::PairingPing { pairing: topic.clone(), id, answered: outcome.is_ok() };
                    self.push_event(None, event);
                    return Ok(());
                }
                self.proposal_answer(topic, id, outcome, now)
            }
        }
    }

    fn received_proposal(&mut self, topic: &Topic, id: u64, params: &Value, now: Now) -> Result<(), IncomingError> {
        const M: &str = "wc_sessionPropose";
        let propose = match Propose::from_json(params) {
            Ok(propose) => propose,
            Err(e) => {
                // Tell the dapp at once (the SDKs auto-reject the same way) instead of letting it wait.
                let key = self.pairings.get(topic).map(|p| p.key.clone());
                if let Some(key) = key {
                    self.auto_respond(topic, &key, id, Err(e.sdk_error().to_error(Some(&e.to_string()))), M);
                }
                return Err(e.into());
            }
        };
        if expiry::proposal_expired(propose.expiry_timestamp, now.unix_secs()) {
            return Err(IncomingError::ProposalExpired(id));
        }
        let proposer_key = PublicKey::from_hex(&propose.proposer.public_key)
            .map_err(|_| bad(M, "proposer.publicKey is not 32 hex bytes"))?;
        let request = Request {
            required_namespaces: propose.required_namespaces,
            optional_namespaces: propose.optional_namespaces,
            session_properties: propose.session_properties,
        };
        let metadata = propose.proposer.metadata;
        let bound = self.config.max_inbound_pending;
        let p = self.pairings.get_mut(topic).ok_or_else(|| IncomingError::UnknownTopic(topic.clone()))?;
        if p.incoming.len() >= bound {
            return Err(IncomingError::TooManyPending(topic.clone()));
        }
        p.incoming.insert(id, ReceivedProposal { proposer_key, request: request.clone(), metadata: metadata.clone() });
        self.touch_pairing(topic, now);
        let proposal = super::IncomingProposal { pairing: topic.clone(), id, request, proposer_metadata: metadata };
        self.push_event(None, Event::Proposal(proposal));
        Ok(())
    }

    fn proposal_answer(
        &mut self,
        topic: &Topic,
        id: u64,
        outcome: Result<Value, ErrorObject>,
        now: Now,
    ) -> Result<(), IncomingError> {
        const M: &str = "wc_sessionPropose";
        let p = self.pairings.get_mut(topic).ok_or_else(|| IncomingError::UnknownTopic(topic.clone()))?;
        if !p.outgoing.contains_key(&id) {
            return Err(IncomingError::UnexpectedResponse(id));
        }
        let results_of = |v: Option<&Value>| -> Vec<ItemResult> {
            v.and_then(|v| v.get("itemResults"))
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or_default()
        };
        let result = match outcome {
            Ok(result) => result,
            Err(err) => {
                p.outgoing.remove(&id);
                let results = results_of(err.data.as_ref());
                let error = match granted_namespaces(&results) {
                    Err(denied @ ProposalError::RequiredDenied { .. }) => denied,
                    _ => ProposalError::Rejected { code: err.code, message: err.message },
                };
                self.push_event(None, Event::ProposalFailed { pairing: topic.clone(), id, error, results });
                return Ok(());
            }
        };
        let answer = ProposeResult::from_json(&result)?;
        let controller = PublicKey::from_hex(&answer.responder_public_key)
            .map_err(|_| bad(M, "responderPublicKey is not 32 hex bytes"))?;
        let results = results_of(Some(&result));
        let session_key = p.outgoing.get(&id).map(|o| o.key_pair.derive_sym_key(&controller)).transpose()?;
        let Some(session_key) = session_key else { return Err(IncomingError::UnexpectedResponse(id)) };
        p.outgoing.remove(&id);
        let session_topic = session_key.topic();
        let mut session = self.new_session(session_key, topic.clone(), Role::Proposer, Value::Null, now);
        session.phase = Phase::AwaitingSettle { controller, results, deadline: now.instant + self.config.proposal_ttl };
        self.sessions.insert(session_topic.clone(), session);
        self.topic_changes.push_back(TopicChange::Subscribe(session_topic));
        Ok(())
    }

    // ---- session topic -------------------------------------------------------

    fn session_message(&mut self, topic: &Topic, msg: Message, now: Now) -> Result<(), IncomingError> {
        let settling = self.sessions.get(topic).is_some_and(|s| matches!(s.phase, Phase::AwaitingSettle { .. }));
        match msg {
            Message::Request { method, .. } if settling && method != "wc_sessionSettle" => {
                // Refused before the replay check, so a redelivery after the settle still counts.
                return Err(IncomingError::NotSettled(method));
            }
            Message::Request { id, method, params } => {
                self.check_replay(topic, id, now)?;
                self.session_request(topic, id, method, params, now)?;
            }
            Message::Response { id, outcome } => self.session_response(topic, id, outcome)?,
        }
        let lane = Some(topic.clone());
        if let Some(s) = self.sessions.get_mut(topic)
            && s.presence.heard(now.instant).is_some()
        {
            self.push_event(lane, Event::PeerOnline { session: topic.clone() });
        }
        Ok(())
    }

    fn session_response(
        &mut self,
        topic: &Topic,
        id: u64,
        outcome: Result<Value, ErrorObject>,
    ) -> Result<(), IncomingError> {
        let s = self.sessions.get_mut(topic).ok_or_else(|| IncomingError::UnknownTopic(topic.clone()))?;
        let pending = s.pending_out.remove(&id).ok_or(IncomingError::UnexpectedResponse(id))?;
        let lane = Some(topic.clone());
        if let Phase::Settling { settle_id, .. } = &s.phase
            && *settle_id == id
        {
            if outcome.is_ok() {
                if let Phase::Settling { connect, .. } = std::mem::replace(&mut s.phase, Phase::Active) {
                    self.push_event(lane, Event::Connected(*connect));
                }
            } else {
                self.remove_session(topic);
                self.push_event(
                    lane,
                    Event::SessionDeleted { session: topic.clone(), reason: "settlement refused".into() },
                );
            }
            return Ok(());
        }
        if let (Some(change), Ok(result)) = (&pending.change, &outcome) {
            match change {
                PendingChange::Request => {
                    let granted: Vec<Permission> = serde_json::from_value(result.clone()).unwrap_or_default();
                    s.permissions.insert(granted);
                }
                PendingChange::Revoke(caps) => {
                    s.permissions.revoke(caps);
                }
            }
        }
        if !pending.internal {
            self.push_event(lane, Event::Response { session: topic.clone(), id, outcome });
        }
        Ok(())
    }

    fn session_request(
        &mut self,
        topic: &Topic,
        id: u64,
        method: String,
        params: Value,
        now: Now,
    ) -> Result<(), IncomingError> {
        let s = self.sessions.get_mut(topic).ok_or_else(|| IncomingError::UnknownTopic(topic.clone()))?;
        let key = s.key.clone();
        let lane = Some(topic.clone());
        let session = topic.clone();
        if let Phase::AwaitingSettle { controller, results, .. } = &s.phase {
            let settle = Settle::from_json(&params)?;
            if PublicKey::from_hex(&settle.controller.public_key).ok().as_ref() != Some(controller) {
                return Err(IncomingError::WrongController);
            }
            let (namespaces, expiry) = (settle.namespaces, settle.expiry);
            s.results = results.clone();
            s.peer_metadata = settle.controller.metadata;
            let invoker = self.config.metadata.get("url").and_then(Value::as_str).unwrap_or_default();
            s.permissions = initial_permissions(&namespaces, invoker, now.unix_ms());
            s.namespaces = namespaces;
            s.expiry = expiry;
            s.expiry_at = now.instant_at_unix(expiry);
            s.phase = Phase::Active;
            let connect = s.connect_result(topic);
            self.auto_respond(topic, &key, id, Ok(json!(true)), &method);
            self.push_event(lane, Event::Connected(connect));
            return Ok(());
        }
        let from_controller = s.role == Role::Proposer;
        let answer = |e: SdkError, context: &str| Err(e.to_error(Some(context)));
        match method.as_str() {
            "wc_sessionPing" => self.auto_respond(topic, &key, id, Ok(json!(true)), &method),
            "wc_sessionDelete" => {
                // Not answered, as WalletConnect wallets do: the peer has already unsubscribed.
                let reason = Reason::from_json(&params).message;
                self.remove_session(topic);
                self.push_event(lane, Event::SessionDeleted { session, reason });
            }
            "wc_sessionExtend" | "wc_sessionUpdate" | "wc_sessionEvent" if !from_controller => {
                let refusal = match method.as_str() {
                    "wc_sessionExtend" => SdkError::UnauthorizedExtendRequest,
                    "wc_sessionUpdate" => SdkError::UnauthorizedUpdateRequest,
                    _ => SdkError::UnauthorizedEvent,
                };
                self.auto_respond(topic, &key, id, answer(refusal, "only the controller may"), &method);
            }
            "wc_sessionExtend" => {
                let (ttl, skew) = (self.config.session_ttl, self.config.max_clock_skew);
                // No expiry (what the official SDKs send): 7 days from now, as they compute it.
                let expiry = Extend::from_json(&params).expiry.unwrap_or(now.unix_secs() + ttl.as_secs());
                match expiry::check_extend(s.expiry, expiry, now.unix_secs(), ttl, skew) {
                    Ok(expiry) => {
                        s.expiry = expiry;
                        s.expiry_at = now.instant_at_unix(expiry);
                        self.auto_respond(topic, &key, id, Ok(json!(true)), &method);
                        self.push_event(lane, Event::SessionExtended { session, expiry });
                    }
                    Err(e) => {
                        let context = format!("expiry {expiry} is before {} or beyond 7 days", s.expiry);
                        self.auto_respond(topic, &key, id, answer(e, &context), &method);
                    }
                }
            }
            "wc_sessionUpdate" => {
                let Update { namespaces } = Update::from_json(&params)?;
                s.namespaces = namespaces.clone();
                self.auto_respond(topic, &key, id, Ok(json!(true)), &method);
                self.push_event(lane, Event::SessionUpdated { session, namespaces });
            }
            "wc_sessionEvent" => {
                let e = SessionEvent::from_json(&params)?;
                let event = Event::SessionEvent { session, chain_id: e.chain_id, name: e.name, data: e.data };
                self.auto_respond(topic, &key, id, Ok(json!(true)), &method);
                self.push_event(lane, event);
            }
            "wc_sessionRequest" => self.app_request(topic, id, &params, now)?,
            _ => self.auto_respond(topic, &key, id, answer(SdkError::WcMethodUnsupported, &method), &method),
        }
        Ok(())
    }

    /// A `wc_sessionRequest`: authorised against the session's grants on the
    /// wallet side; permission methods are handled here; the rest become events.
    fn app_request(&mut self, topic: &Topic, id: u64, params: &Value, now: Now) -> Result<(), IncomingError> {
        const M: &str = "wc_sessionRequest";
        let bound = self.config.max_inbound_pending;
        let s = self.sessions.get_mut(topic).ok_or_else(|| IncomingError::UnknownTopic(topic.clone()))?;
        let key = s.key.clone();
        let SessionRequest { method, params: inner, chain_id, expiry_timestamp } = SessionRequest::from_json(params)?;
        if expiry_timestamp.is_some_and(|e| e <= now.unix_secs()) {
            return Err(IncomingError::RequestExpired(id));
        }
        let lane = Some(topic.clone());
        let session = topic.clone();
        if s.role == Role::Controller {
            let refusal = if PERMISSION_METHODS.contains(&method.as_str()) {
                None
            } else if !s.permissions.allows(&method) {
                Some(SdkError::UnauthorizedMethod.to_error(Some(&method)))
            } else {
                let ungranted = chain_id.as_deref().filter(|c| !grants(&s.namespaces, "chains", c));
                ungranted.map(|chain| SdkError::UnsupportedChains.to_error(Some(chain)))
            };
            if let Some(err) = refusal {
                self.auto_respond(topic, &key, id, Err(err), M);
                return Ok(());
            }
            match method.as_str() {
                "wallet_getPermissions" => {
                    let list = crate::permissions::PermissionSet::to_result(&s.permissions.list());
                    self.auto_respond(topic, &key, id, Ok(list), M);
                    return Ok(());
                }
                "wallet_revokePermissions" => {
                    let Ok(caps) = parse_capabilities(&inner) else {
                        self.auto_respond(topic, &key, id, Err(ErrorObject::new(-32602, "invalid params")), M);
                        return Ok(());
                    };
                    let capabilities = s.permissions.revoke(&caps);
                    self.auto_respond(topic, &key, id, Ok(Value::Null), M);
                    self.push_event(lane, Event::PermissionsRevoked { session, capabilities });
                    return Ok(());
                }
                _ => {}
            }
        }
        if s.inbound_pending.len() >= bound {
            return Err(IncomingError::TooManyPending(topic.clone()));
        }
        let event = if s.role == Role::Controller && method == "wallet_requestPermissions" {
            let Ok(capabilities) = parse_capabilities(&inner) else {
                self.auto_respond(topic, &key, id, Err(ErrorObject::new(-32602, "invalid params")), M);
                return Ok(());
            };
            Event::PermissionsRequested { session, id, capabilities }
        } else {
            Event::Request { session, id, chain_id, method, params: inner }
        };
        s.inbound_pending.insert(id);
        self.push_event(lane, event);
        Ok(())
    }
}
