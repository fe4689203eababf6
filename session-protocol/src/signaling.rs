//! WebRTC signaling inside an established session: offer, answer, trickled ICE
//! candidates, ICE restart, renegotiation (tracks added or removed mid-call) and
//! hang-up, as JSON-RPC methods (`wrtc_offer`, `wrtc_answer`, `wrtc_candidate`,
//! `wrtc_restart`, `wrtc_renegotiate`, `wrtc_hangup`) that travel
//! as `wc_sessionRequest`s on the session topic, so they are encrypted with the
//! session key and never appear on an address-derived topic.
//!
//! Against DTLS fingerprint substitution (RFC 8827) every offer and answer names
//! the sender's DTLS fingerprint, which must equal the one in its SDP, and both
//! sides derive a 6-digit short authentication string (SAS) from the session key
//! and both fingerprints:
//!
//! ```text
//! sas = u32_be(HKDF-SHA256(salt = none, ikm = session key,
//!                          info = "heliograph-sas" ‖ 0x00 ‖ min(fpA, fpB) ‖ 0x00 ‖ max(fpA, fpB))[0..4]) mod 10^6
//! ```
//!
//! where a fingerprint is in its canonical text form (`sha-256 AB:CD:…`, algorithm
//! lowercase, hex uppercase) and min/max compare those strings bytewise. Users
//! compare the six digits; a fingerprint swapped anywhere changes them. A call
//! whose SDP fingerprint differs from the one covered by the SAS is refused with
//! [`SignalingError::FingerprintMismatch`].
//!
//! Glare (both sides offer at once) is resolved deterministically: the offer
//! whose fingerprint sorts higher wins; the other side drops its own offer and
//! answers the winning one.
//!
//! [`Call`] is sans-IO: the application feeds it local actions and the peer's
//! requests ([`Call::handle`]) and sends what [`Call::poll_signal`] returns with
//! [`Endpoint::request`](crate::Endpoint::request).

use std::collections::VecDeque;
use std::fmt;

use hkdf::Hkdf;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::keys::SymKey;

/// Method carrying an offer.
pub const METHOD_OFFER: &str = "wrtc_offer";
/// Method carrying an answer (to an offer, a restart or a renegotiation).
pub const METHOD_ANSWER: &str = "wrtc_answer";
/// Method carrying one trickled ICE candidate (or the end of candidates).
pub const METHOD_CANDIDATE: &str = "wrtc_candidate";
/// Method carrying an ICE-restart offer on an established call.
pub const METHOD_RESTART: &str = "wrtc_restart";
/// Method carrying a new offer on an established call whose media changed (a track
/// added or removed), same ICE credentials and DTLS fingerprint.
pub const METHOD_RENEGOTIATE: &str = "wrtc_renegotiate";
/// Method ending a call.
pub const METHOD_HANGUP: &str = "wrtc_hangup";
/// Every signaling method; a dapp asks for them in its proposal so the wallet grants them.
pub const METHODS: [&str; 6] =
    [METHOD_OFFER, METHOD_ANSWER, METHOD_CANDIDATE, METHOD_RESTART, METHOD_RENEGOTIATE, METHOD_HANGUP];
/// JSON-RPC error code used to refuse a signaling message.
pub const REFUSED_CODE: i64 = 5300;
/// Largest SDP accepted, in bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;

/// Why a fingerprint, a signaling message or a call action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalingError {
    /// The fingerprint text is not `<algorithm> <hex:hex:…>`.
    #[error("malformed DTLS fingerprint `{0}`")]
    BadFingerprint(String),
    /// The SDP has no `a=fingerprint` line.
    #[error("the SDP has no a=fingerprint line")]
    NoFingerprint,
    /// The SDP has several different fingerprints.
    #[error("the SDP has several different DTLS fingerprints")]
    AmbiguousFingerprint,
    /// The fingerprint in the SDP is not the one covered by the short authentication string.
    #[error("DTLS fingerprint mismatch: the SDP has {in_sdp}, the authenticated one is {expected}; call refused")]
    FingerprintMismatch {
        /// Fingerprint covered by the SAS (or, for a local action, ours).
        expected: String,
        /// Fingerprint found in the SDP.
        in_sdp: String,
    },
    /// Both offers carry the same fingerprint: glare cannot be resolved and the peer is suspect.
    #[error("both parties present the same DTLS fingerprint; call refused")]
    SameFingerprint,
    /// The method is not a signaling method.
    #[error("`{0}` is not a signaling method")]
    UnknownMethod(String),
    /// A required parameter is missing or has the wrong type.
    #[error("malformed {method}: {what}")]
    Malformed {
        /// Method.
        method: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// The SDP is larger than [`MAX_SDP_LEN`].
    #[error("SDP of {0} bytes exceeds the limit of {MAX_SDP_LEN}")]
    SdpTooLarge(usize),
    /// The message names another call than the current one.
    #[error("message for call `{0}`, which is not the current call")]
    UnknownCall(String),
    /// The message or action does not fit the call's state.
    #[error("{action} not allowed while the call is {state}")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The call's state.
        state: &'static str,
    },
}

/// A DTLS certificate fingerprint (`a=fingerprint:sha-256 AB:CD:…`), canonical form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Parses `<algorithm> <hex>:<hex>:…` (any case); normalises to lowercase algorithm and uppercase hex.
    pub fn parse(text: &str) -> Result<Self, SignalingError> {
        let bad = || SignalingError::BadFingerprint(text.chars().take(200).collect());
        let mut parts = text.split_ascii_whitespace();
        let (Some(algorithm), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let algorithm = algorithm.to_ascii_lowercase();
        if algorithm.is_empty() || !algorithm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad());
        }
        let bytes: Vec<&str> = value.split(':').collect();
        if bytes.len() < 16 || bytes.len() > 64 || !bytes.iter().all(|b| b.len() == 2 && hex::decode(b).is_ok()) {
            return Err(bad());
        }
        Ok(Fingerprint(format!("{algorithm} {}", value.to_ascii_uppercase())))
    }

    /// The fingerprint of an SDP: every `a=fingerprint:` line must name the same one.
    pub fn from_sdp(sdp: &str) -> Result<Self, SignalingError> {
        let mut found: Option<Fingerprint> = None;
        for line in sdp.lines() {
            if let Some(rest) = line.trim_end_matches('\r').strip_prefix("a=fingerprint:") {
                let fp = Fingerprint::parse(rest.trim())?;
                match &found {
                    Some(prev) if *prev != fp => return Err(SignalingError::AmbiguousFingerprint),
                    _ => found = Some(fp),
                }
            }
        }
        found.ok_or(SignalingError::NoFingerprint)
    }

    /// Canonical text: `sha-256 AB:CD:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

/// The 6-digit short authentication string of a call: bound to the session key and
/// both DTLS fingerprints, the same on both sides whatever the order of `a` and `b`.
pub fn short_auth_string(key: &SymKey, a: &Fingerprint, b: &Fingerprint) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut info = Vec::with_capacity(16 + lo.0.len() + hi.0.len());
    info.extend_from_slice(b"heliograph-sas");
    info.push(0);
    info.extend_from_slice(lo.0.as_bytes());
    info.push(0);
    info.extend_from_slice(hi.0.as_bytes());
    let mut out = [0u8; 4];
    // Invariant: 4 bytes is far below HKDF-SHA256's 255 * 32 byte output limit.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(None, key.as_bytes()).expand(&info, &mut out).expect("4 <= 255 * 32");
    format!("{:06}", u32::from_be_bytes(out) % 1_000_000)
}

/// A trickled ICE candidate (`RTCIceCandidateInit`); `None` in [`Signal::Candidate`] ends the trickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The `candidate:` attribute.
    pub candidate: String,
    /// Media stream id.
    pub sdp_mid: Option<String>,
    /// Media line index.
    pub sdp_m_line_index: Option<u32>,
}

/// One signaling message, as sent in `wc_sessionRequest {request: {method, params}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// `wrtc_offer {callId, sdp, fingerprint}`.
    Offer {
        /// Call id chosen by the caller.
        call: String,
        /// SDP offer.
        sdp: String,
        /// The caller's DTLS fingerprint (must equal the SDP's).
        fingerprint: Fingerprint,
    },
    /// `wrtc_answer {callId, sdp, fingerprint}`.
    Answer {
        /// Call id.
        call: String,
        /// SDP answer.
        sdp: String,
        /// The answerer's DTLS fingerprint (must equal the SDP's).
        fingerprint: Fingerprint,
    },
    /// `wrtc_candidate {callId, candidate: {candidate, sdpMid, sdpMLineIndex} | null}`.
    Candidate {
        /// Call id.
        call: String,
        /// The candidate, or `None` at the end of gathering.
        candidate: Option<Candidate>,
    },
    /// `wrtc_restart {callId, sdp, fingerprint}`: an ICE-restart offer on an established call.
    Restart {
        /// Call id.
        call: String,
        /// SDP offer with new ICE credentials.
        sdp: String,
        /// Must be the fingerprint already covered by the SAS.
        fingerprint: Fingerprint,
    },
    /// `wrtc_renegotiate {callId, sdp, fingerprint}`: a new offer on an established call
    /// whose tracks changed.
    Renegotiate {
        /// Call id.
        call: String,
        /// SDP offer with the changed media sections.
        sdp: String,
        /// Must be the fingerprint already covered by the SAS.
        fingerprint: Fingerprint,
    },
    /// `wrtc_hangup {callId, reason}`.
    Hangup {
        /// Call id.
        call: String,
        /// Why.
        reason: String,
    },
}

impl Signal {
    /// The JSON-RPC method name.
    pub fn method(&self) -> &'static str {
        match self {
            Signal::Offer { .. } => METHOD_OFFER,
            Signal::Answer { .. } => METHOD_ANSWER,
            Signal::Candidate { .. } => METHOD_CANDIDATE,
            Signal::Restart { .. } => METHOD_RESTART,
            Signal::Renegotiate { .. } => METHOD_RENEGOTIATE,
            Signal::Hangup { .. } => METHOD_HANGUP,
        }
    }

    /// The call it belongs to.
    pub fn call(&self) -> &str {
        match self {
            Signal::Offer { call, .. }
            | Signal::Answer { call, .. }
            | Signal::Candidate { call, .. }
            | Signal::Restart { call, .. }
            | Signal::Renegotiate { call, .. }
            | Signal::Hangup { call, .. } => call,
        }
    }

    /// The JSON-RPC params.
    pub fn params(&self) -> Value {
        match self {
            Signal::Offer { call, sdp, fingerprint }
            | Signal::Answer { call, sdp, fingerprint }
            | Signal::Restart { call, sdp, fingerprint }
            | Signal::Renegotiate { call, sdp, fingerprint } => {
                json!({"callId": call, "sdp": sdp, "fingerprint": fingerprint.as_str()})
            }
            Signal::Candidate { call, candidate } => json!({
                "callId": call,
                "candidate": candidate.as_ref().map(|c| json!({
                    "candidate": c.candidate, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_m_line_index,
                })),
            }),
            Signal::Hangup { call, reason } => json!({"callId": call, "reason": reason}),
        }
    }

    /// Parses a received request. Offers, answers, restarts and renegotiations must carry the
    /// fingerprint that their SDP has.
    pub fn parse(method: &str, params: &Value) -> Result<Self, SignalingError> {
        let method: &'static str = METHODS
            .iter()
            .find(|m| **m == method)
            .ok_or_else(|| SignalingError::UnknownMethod(method.chars().take(80).collect()))?;
        let malformed = |what| SignalingError::Malformed { method, what };
        let call = params.get("callId").and_then(Value::as_str).ok_or(malformed("no callId"))?.to_owned();
        if call.is_empty() || call.len() > 128 {
            return Err(malformed("callId must be 1 to 128 characters"));
        }
        let described = || -> Result<(String, Fingerprint), SignalingError> {
            let sdp = params.get("sdp").and_then(Value::as_str).ok_or(malformed("no sdp"))?;
            if sdp.len() > MAX_SDP_LEN {
                return Err(SignalingError::SdpTooLarge(sdp.len()));
            }
            let claimed = params.get("fingerprint").and_then(Value::as_str).ok_or(malformed("no fingerprint"))?;
            let claimed = Fingerprint::parse(claimed)?;
            check_sdp(sdp, &claimed)?;
            Ok((sdp.to_owned(), claimed))
        };
        Ok(match method {
            METHOD_OFFER => {
                let (sdp, fingerprint) = described()?;
                Signal::Offer { call, sdp, fingerprint }
            }
            METHOD_ANSWER => {
                let (sdp, fingerprint) = described()?;
                Signal::Answer { call, sdp, fingerprint }
            }
            METHOD_RESTART => {
                let (sdp, fingerprint) = described()?;
                Signal::Restart { call, sdp, fingerprint }
            }
            METHOD_RENEGOTIATE => {
                let (sdp, fingerprint) = described()?;
                Signal::Renegotiate { call, sdp, fingerprint }
            }
            METHOD_CANDIDATE => {
                let c = params.get("candidate").ok_or(malformed("no candidate"))?;
                let candidate = if c.is_null() {
                    None
                } else {
                    let text = c.get("candidate").and_then(Value::as_str).ok_or(malformed("no candidate.candidate"))?;
                    if text.len() > 1024 {
                        return Err(malformed("candidate too long"));
                    }
                    let sdp_mid = c.get("sdpMid").and_then(Value::as_str).map(str::to_owned);
                    let sdp_m_line_index =
                        c.get("sdpMLineIndex").and_then(Value::as_u64).and_then(|i| u32::try_from(i).ok());
                    Some(Candidate { candidate: text.to_owned(), sdp_mid, sdp_m_line_index })
                };
                Signal::Candidate { call, candidate }
            }
            _ => {
                let reason = params.get("reason").and_then(Value::as_str).unwrap_or_default();
                Signal::Hangup { call, reason: reason.chars().take(256).collect() }
            }
        })
    }
}

/// Checks that `sdp` carries exactly the fingerprint `expected`.
pub fn check_sdp(sdp: &str, expected: &Fingerprint) -> Result<(), SignalingError> {
    let in_sdp = Fingerprint::from_sdp(sdp)?;
    if in_sdp != *expected {
        return Err(SignalingError::FingerprintMismatch { expected: expected.0.clone(), in_sdp: in_sdp.0 });
    }
    Ok(())
}

/// What the application must do after [`Call::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The peer offers a call: set it as remote description, then [`Call::answer`].
    /// `sas` is the short authentication string to show.
    IncomingOffer {
        /// Call id.
        call: String,
        /// Remote SDP.
        sdp: String,
        /// Short authentication string.
        sas: String,
    },
    /// Our offer lost a glare: roll back the local offer, then handle the
    /// [`CallEvent::IncomingOffer`] that follows.
    Rollback {
        /// Our abandoned call id.
        call: String,
    },
    /// The peer answered our offer, restart or renegotiation: set it as remote description.
    Answered {
        /// Call id.
        call: String,
        /// Remote SDP.
        sdp: String,
        /// Short authentication string.
        sas: String,
    },
    /// The peer restarts ICE: set it as remote description, then [`Call::answer`].
    RestartOffer {
        /// Call id.
        call: String,
        /// Remote SDP.
        sdp: String,
    },
    /// The peer renegotiates (its tracks changed): set it as remote description, then
    /// [`Call::answer`].
    RenegotiateOffer {
        /// Call id.
        call: String,
        /// Remote SDP.
        sdp: String,
    },
    /// A remote ICE candidate to add (`None`: the peer finished gathering).
    RemoteCandidate {
        /// Call id.
        call: String,
        /// The candidate.
        candidate: Option<Candidate>,
    },
    /// The peer hung up.
    HungUp {
        /// Call id.
        call: String,
        /// The peer's reason.
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    /// We sent an offer and wait for the answer.
    Offering {
        call: String,
    },
    /// We received an offer and owe an answer.
    AnswerDue {
        call: String,
        remote: Fingerprint,
    },
    /// Offer and answer exchanged.
    Established {
        call: String,
        remote: Fingerprint,
        restart: Restart,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    None,
    /// We sent a new offer (ICE restart or renegotiation).
    Sent,
    /// We received one and owe an answer.
    Due,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Offering { .. } => "offering",
            State::AnswerDue { .. } => "waiting for our answer",
            State::Established { restart: Restart::None, .. } => "established",
            State::Established { .. } => "renegotiating",
        }
    }

    fn call(&self) -> Option<&str> {
        match self {
            State::Idle => None,
            State::Offering { call } | State::AnswerDue { call, .. } | State::Established { call, .. } => Some(call),
        }
    }
}

/// One side of a WebRTC call over a session: the signaling state machine.
#[derive(Debug)]
pub struct Call {
    key: SymKey,
    local: Fingerprint,
    state: State,
    outbox: VecDeque<Signal>,
    events: VecDeque<CallEvent>,
}

impl Call {
    /// A call on the session whose key is `session_key`, with our DTLS fingerprint
    /// (see [`Endpoint::call`](crate::Endpoint::call)).
    pub fn new(session_key: SymKey, local_fingerprint: Fingerprint) -> Self {
        Call {
            key: session_key,
            local: local_fingerprint,
            state: State::Idle,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our DTLS fingerprint.
    pub fn local_fingerprint(&self) -> &Fingerprint {
        &self.local
    }

    /// The peer's authenticated DTLS fingerprint, once known.
    pub fn remote_fingerprint(&self) -> Option<&Fingerprint> {
        match &self.state {
            State::AnswerDue { remote, .. } | State::Established { remote, .. } => Some(remote),
            _ => None,
        }
    }

    /// The short authentication string, once the peer's fingerprint is known.
    pub fn sas(&self) -> Option<String> {
        self.remote_fingerprint().map(|r| short_auth_string(&self.key, &self.local, r))
    }

    /// The current call id, if any.
    pub fn call_id(&self) -> Option<&str> {
        self.state.call()
    }

    /// Whether offer and answer have been exchanged.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// Starts a call with our SDP offer (which must carry our fingerprint).
    pub fn offer(&mut self, call: &str, sdp: &str) -> Result<(), SignalingError> {
        if self.state != State::Idle {
            return Err(SignalingError::WrongState { action: "offer", state: self.state.name() });
        }
        check_sdp(sdp, &self.local)?;
        self.state = State::Offering { call: call.to_owned() };
        self.outbox.push_back(Signal::Offer {
            call: call.to_owned(),
            sdp: sdp.to_owned(),
            fingerprint: self.local.clone(),
        });
        Ok(())
    }

    /// Answers the offer (or restart or renegotiation offer) the peer made.
    pub fn answer(&mut self, sdp: &str) -> Result<(), SignalingError> {
        check_sdp(sdp, &self.local)?;
        let (call, remote) = match &self.state {
            State::AnswerDue { call, remote } | State::Established { call, remote, restart: Restart::Due } => {
                (call.clone(), remote.clone())
            }
            other => return Err(SignalingError::WrongState { action: "answer", state: other.name() }),
        };
        self.outbox.push_back(Signal::Answer {
            call: call.clone(),
            sdp: sdp.to_owned(),
            fingerprint: self.local.clone(),
        });
        self.state = State::Established { call, remote, restart: Restart::None };
        Ok(())
    }

    /// Sends one of our ICE candidates (`None` when gathering is complete).
    pub fn candidate(&mut self, candidate: Option<Candidate>) -> Result<(), SignalingError> {
        let call = self.state.call().ok_or(SignalingError::WrongState { action: "candidate", state: "idle" })?;
        self.outbox.push_back(Signal::Candidate { call: call.to_owned(), candidate });
        Ok(())
    }

    /// Restarts ICE on the established call with a new offer (same DTLS fingerprint).
    pub fn restart(&mut self, sdp: &str) -> Result<(), SignalingError> {
        self.reoffer(sdp, "ICE restart", |call, sdp, fingerprint| Signal::Restart { call, sdp, fingerprint })
    }

    /// Renegotiates the established call after a track was added or removed: a new
    /// offer with the same DTLS fingerprint (and SAS), answered with `wrtc_answer`.
    pub fn renegotiate(&mut self, sdp: &str) -> Result<(), SignalingError> {
        self.reoffer(sdp, "renegotiation", |call, sdp, fingerprint| Signal::Renegotiate { call, sdp, fingerprint })
    }

    /// A new offer on the established call, one at a time (restart or renegotiation).
    fn reoffer(
        &mut self,
        sdp: &str,
        action: &'static str,
        signal: fn(String, String, Fingerprint) -> Signal,
    ) -> Result<(), SignalingError> {
        check_sdp(sdp, &self.local)?;
        let State::Established { call, restart: restart @ Restart::None, .. } = &mut self.state else {
            return Err(SignalingError::WrongState { action, state: self.state.name() });
        };
        *restart = Restart::Sent;
        let call = call.clone();
        self.outbox.push_back(signal(call, sdp.to_owned(), self.local.clone()));
        Ok(())
    }

    /// Ends the call (no-op when idle). A new call can then be offered.
    pub fn hangup(&mut self, reason: &str) {
        if let Some(call) = self.state.call() {
            self.outbox.push_back(Signal::Hangup { call: call.to_owned(), reason: reason.to_owned() });
        }
        self.state = State::Idle;
    }

    /// Checks the certificate the DTLS handshake actually presented (its fingerprint,
    /// e.g. from `RTCDtlsTransport.getRemoteCertificates()`) against the authenticated one.
    pub fn verify_remote_certificate(&self, presented: &Fingerprint) -> Result<(), SignalingError> {
        let expected = self
            .remote_fingerprint()
            .ok_or(SignalingError::WrongState { action: "certificate check", state: self.state.name() })?;
        if expected != presented {
            return Err(SignalingError::FingerprintMismatch {
                expected: expected.0.clone(),
                in_sdp: presented.0.clone(),
            });
        }
        Ok(())
    }

    /// Handles a signaling request from the peer (`Event::Request {method, params}`).
    /// On error, answer the request with [`REFUSED_CODE`] and the error's text.
    pub fn handle(&mut self, method: &str, params: &Value) -> Result<(), SignalingError> {
        let signal = Signal::parse(method, params)?;
        let renegotiate = matches!(signal, Signal::Renegotiate { .. });
        let current = self.state.call().map(str::to_owned);
        let same_call = current.as_deref() == Some(signal.call());
        match signal {
            Signal::Offer { call, sdp, fingerprint } => {
                if let State::Offering { call: ours } = &self.state {
                    match fingerprint.cmp(&self.local) {
                        std::cmp::Ordering::Equal => return Err(SignalingError::SameFingerprint),
                        // Glare, and our offer wins: the peer will answer ours.
                        std::cmp::Ordering::Less => return Ok(()),
                        std::cmp::Ordering::Greater => {
                            self.events.push_back(CallEvent::Rollback { call: ours.clone() });
                            self.state = State::Idle;
                        }
                    }
                } else if self.state != State::Idle {
                    return Err(SignalingError::WrongState { action: "offer", state: self.state.name() });
                }
                if fingerprint == self.local {
                    return Err(SignalingError::SameFingerprint);
                }
                let sas = short_auth_string(&self.key, &self.local, &fingerprint);
                self.state = State::AnswerDue { call: call.clone(), remote: fingerprint };
                self.events.push_back(CallEvent::IncomingOffer { call, sdp, sas });
            }
            Signal::Answer { call, sdp, fingerprint } => {
                if !same_call {
                    return Err(SignalingError::UnknownCall(call));
                }
                match &mut self.state {
                    State::Offering { .. } => {
                        if fingerprint == self.local {
                            return Err(SignalingError::SameFingerprint);
                        }
                        let sas = short_auth_string(&self.key, &self.local, &fingerprint);
                        self.state =
                            State::Established { call: call.clone(), remote: fingerprint, restart: Restart::None };
                        self.events.push_back(CallEvent::Answered { call, sdp, sas });
                    }
                    State::Established { remote, restart: restart @ Restart::Sent, .. } => {
                        if *remote != fingerprint {
                            return Err(mismatch(remote, &fingerprint));
                        }
                        *restart = Restart::None;
                        let sas = short_auth_string(&self.key, &self.local, &fingerprint);
                        self.events.push_back(CallEvent::Answered { call, sdp, sas });
                    }
                    other => return Err(SignalingError::WrongState { action: "answer", state: other.name() }),
                }
            }
            Signal::Restart { call, sdp, fingerprint } | Signal::Renegotiate { call, sdp, fingerprint } => {
                if !same_call {
                    return Err(SignalingError::UnknownCall(call));
                }
                let action = if renegotiate { "renegotiation" } else { "ICE restart" };
                let local = &self.local;
                match &mut self.state {
                    State::Established { remote, restart, .. } if *restart != Restart::Due => {
                        if *remote != fingerprint {
                            return Err(mismatch(remote, &fingerprint));
                        }
                        // Glare of new offers (restarts, renegotiations): the higher fingerprint's wins.
                        if *restart == Restart::Sent && fingerprint < *local {
                            return Ok(());
                        }
                        *restart = Restart::Due;
                        self.events.push_back(if renegotiate {
                            CallEvent::RenegotiateOffer { call, sdp }
                        } else {
                            CallEvent::RestartOffer { call, sdp }
                        });
                    }
                    other => return Err(SignalingError::WrongState { action, state: other.name() }),
                }
            }
            Signal::Candidate { call, candidate } => {
                if !same_call {
                    return Err(SignalingError::UnknownCall(call));
                }
                self.events.push_back(CallEvent::RemoteCandidate { call, candidate });
            }
            Signal::Hangup { call, reason } => {
                if !same_call {
                    return Err(SignalingError::UnknownCall(call));
                }
                self.state = State::Idle;
                self.events.push_back(CallEvent::HungUp { call, reason });
            }
        }
        Ok(())
    }

    /// The next message to send with `Endpoint::request(session, None, signal.method(), signal.params(), now)`.
    pub fn poll_signal(&mut self) -> Option<Signal> {
        self.outbox.pop_front()
    }

    /// The next thing the application must do.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }
}

fn mismatch(expected: &Fingerprint, got: &Fingerprint) -> SignalingError {
    SignalingError::FingerprintMismatch { expected: expected.0.clone(), in_sdp: got.0.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fp(byte: u8) -> Fingerprint {
        Fingerprint::parse(&format!("sha-256 {}", vec![format!("{byte:02x}"); 32].join(":"))).unwrap()
    }

    pub(crate) fn sdp(fp: &Fingerprint, ufrag: &str) -> String {
        format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:{ufrag}\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=fingerprint:{fp}\r\n\
             a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n"
        )
    }

    fn pump(from: &mut Call, to: &mut Call) -> Vec<Result<(), SignalingError>> {
        let mut out = vec![];
        while let Some(s) = from.poll_signal() {
            out.push(to.handle(s.method(), &s.params()));
        }
        out
    }

    #[test]
    fn fingerprint_parse_normalises_and_rejects_garbage() {
        let a = Fingerprint::parse("SHA-256 ab:CD:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd").unwrap();
        assert_eq!(a.as_str(), "sha-256 AB:CD:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD");
        for bad in ["", "sha-256", "sha-256 zz:00", "sha-256 AB:CD", "sha-256 A:B:C:D:E:F:0:1:2:3:4:5:6:7:8:9", "x y z"]
        {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sdp_fingerprint_must_be_unique() {
        assert_eq!(Fingerprint::from_sdp(&sdp(&fp(1), "u")).unwrap(), fp(1));
        assert_eq!(Fingerprint::from_sdp("v=0\r\n"), Err(SignalingError::NoFingerprint));
        let two = format!("{}a=fingerprint:{}\r\n", sdp(&fp(1), "u"), fp(2));
        assert_eq!(Fingerprint::from_sdp(&two), Err(SignalingError::AmbiguousFingerprint));
    }

    #[test]
    fn sas_is_symmetric_and_bound_to_key_and_both_fingerprints() {
        let k = SymKey::from_bytes([7; 32]);
        let s = short_auth_string(&k, &fp(1), &fp(2));
        assert_eq!(s.len(), 6);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(s, short_auth_string(&k, &fp(2), &fp(1)));
        assert_ne!(s, short_auth_string(&SymKey::from_bytes([8; 32]), &fp(1), &fp(2)));
        assert_ne!(s, short_auth_string(&k, &fp(1), &fp(3)));
        assert_ne!(s, short_auth_string(&k, &fp(3), &fp(2)));
    }

    #[test]
    fn offer_answer_candidates_restart_hangup() {
        let k = SymKey::from_bytes([9; 32]);
        let (mut a, mut b) = (Call::new(k.clone(), fp(1)), Call::new(k, fp(2)));
        a.offer("c1", &sdp(&fp(1), "a1")).unwrap();
        a.candidate(Some(Candidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }))
        .unwrap();
        assert!(pump(&mut a, &mut b).iter().all(Result::is_ok));
        let Some(CallEvent::IncomingOffer { call, sas, .. }) = b.poll_event() else { panic!("no offer") };
        assert_eq!(call, "c1");
        assert!(matches!(b.poll_event(), Some(CallEvent::RemoteCandidate { candidate: Some(_), .. })));
        b.answer(&sdp(&fp(2), "b1")).unwrap();
        b.candidate(None).unwrap();
        assert!(pump(&mut b, &mut a).iter().all(Result::is_ok));
        let Some(CallEvent::Answered { sas: sas_a, .. }) = a.poll_event() else { panic!("no answer") };
        assert_eq!(sas, sas_a);
        assert_eq!(a.sas(), b.sas());
        assert!(matches!(a.poll_event(), Some(CallEvent::RemoteCandidate { candidate: None, .. })));
        assert!(a.is_established() && b.is_established());
        a.verify_remote_certificate(&fp(2)).unwrap();
        assert!(matches!(a.verify_remote_certificate(&fp(3)), Err(SignalingError::FingerprintMismatch { .. })));

        // ICE restart keeps the fingerprints and the SAS.
        b.restart(&sdp(&fp(2), "b2")).unwrap();
        assert!(pump(&mut b, &mut a).iter().all(Result::is_ok));
        assert!(matches!(a.poll_event(), Some(CallEvent::RestartOffer { .. })));
        a.answer(&sdp(&fp(1), "a2")).unwrap();
        assert!(pump(&mut a, &mut b).iter().all(Result::is_ok));
        assert!(matches!(b.poll_event(), Some(CallEvent::Answered { sas: s, .. }) if s == sas));

        // A track added mid-call: a renegotiation offer, answered, same SAS; one at a time.
        a.renegotiate(&sdp(&fp(1), "a2")).unwrap();
        assert_eq!(
            a.renegotiate(&sdp(&fp(1), "a2")),
            Err(SignalingError::WrongState { action: "renegotiation", state: "renegotiating" })
        );
        assert!(pump(&mut a, &mut b).iter().all(Result::is_ok));
        assert_eq!(b.poll_event(), Some(CallEvent::RenegotiateOffer { call: "c1".into(), sdp: sdp(&fp(1), "a2") }));
        b.answer(&sdp(&fp(2), "b2")).unwrap();
        assert!(pump(&mut b, &mut a).iter().all(Result::is_ok));
        assert!(matches!(a.poll_event(), Some(CallEvent::Answered { sas: s, .. }) if s == sas));
        // A renegotiation naming another fingerprint than the authenticated one is refused.
        let forged = json!({"callId": "c1", "sdp": sdp(&fp(3), "x"), "fingerprint": fp(3).as_str()});
        assert!(matches!(b.handle(METHOD_RENEGOTIATE, &forged), Err(SignalingError::FingerprintMismatch { .. })));
        assert_eq!(b.poll_event(), None);

        a.hangup("bye");
        assert!(pump(&mut a, &mut b).iter().all(Result::is_ok));
        assert_eq!(b.poll_event(), Some(CallEvent::HungUp { call: "c1".into(), reason: "bye".into() }));
        assert_eq!(b.call_id(), None);
    }

    #[test]
    fn tampered_sdp_fingerprint_is_refused() {
        let k = SymKey::from_bytes([9; 32]);
        let (mut a, mut b) = (Call::new(k.clone(), fp(1)), Call::new(k, fp(2)));
        a.offer("c1", &sdp(&fp(1), "a1")).unwrap();
        let s = a.poll_signal().unwrap();
        let mut params = s.params();
        // A man in the middle swaps the fingerprint in the SDP but cannot change the authenticated one.
        params["sdp"] = Value::String(sdp(&fp(66), "a1"));
        let err = b.handle(s.method(), &params).unwrap_err();
        assert!(matches!(err, SignalingError::FingerprintMismatch { .. }), "{err}");
        assert!(err.to_string().contains("call refused"));
        assert_eq!(b.poll_event(), None);
        // Our own SDP must carry our fingerprint too.
        let mut c = Call::new(SymKey::from_bytes([9; 32]), fp(1));
        assert!(matches!(c.offer("c", &sdp(&fp(5), "x")), Err(SignalingError::FingerprintMismatch { .. })));
    }

    #[test]
    fn substituted_fingerprint_changes_the_sas() {
        let k = SymKey::from_bytes([9; 32]);
        let (mut a, mut b) = (Call::new(k.clone(), fp(1)), Call::new(k, fp(2)));
        a.offer("c1", &sdp(&fp(1), "a1")).unwrap();
        let s = a.poll_signal().unwrap();
        let mut params = s.params();
        // Fingerprint replaced consistently in the SDP and in the field: accepted, but the SAS differs.
        params["sdp"] = Value::String(sdp(&fp(66), "a1"));
        params["fingerprint"] = Value::String(fp(66).to_string());
        b.handle(s.method(), &params).unwrap();
        b.answer(&sdp(&fp(2), "b1")).unwrap();
        pump(&mut b, &mut a);
        assert_ne!(a.sas(), b.sas());
    }

    #[test]
    fn glare_is_resolved_by_the_higher_fingerprint() {
        let k = SymKey::from_bytes([9; 32]);
        let (mut lo, mut hi) = (Call::new(k.clone(), fp(1)), Call::new(k, fp(2)));
        lo.offer("lo", &sdp(&fp(1), "l")).unwrap();
        hi.offer("hi", &sdp(&fp(2), "h")).unwrap();
        let to_hi = pump(&mut lo, &mut hi);
        let to_lo = pump(&mut hi, &mut lo);
        assert!(to_hi.iter().chain(&to_lo).all(Result::is_ok));
        assert_eq!(hi.poll_event(), None, "the winner ignores the losing offer");
        assert_eq!(lo.poll_event(), Some(CallEvent::Rollback { call: "lo".into() }));
        assert!(matches!(lo.poll_event(), Some(CallEvent::IncomingOffer { call, .. }) if call == "hi"));
        lo.answer(&sdp(&fp(1), "l2")).unwrap();
        pump(&mut lo, &mut hi);
        assert!(matches!(hi.poll_event(), Some(CallEvent::Answered { call, .. }) if call == "hi"));
        assert_eq!(lo.sas(), hi.sas());
    }

    #[test]
    fn out_of_state_and_foreign_messages_are_refused() {
        let k = SymKey::from_bytes([9; 32]);
        let mut b = Call::new(k, fp(2));
        let answer = Signal::Answer { call: "x".into(), sdp: sdp(&fp(1), "u"), fingerprint: fp(1) };
        assert!(matches!(b.handle(answer.method(), &answer.params()), Err(SignalingError::UnknownCall(_))));
        assert!(matches!(b.handle("eth_sign", &json!({})), Err(SignalingError::UnknownMethod(_))));
        assert!(matches!(b.handle(METHOD_OFFER, &json!({"callId": "c"})), Err(SignalingError::Malformed { .. })));
        let same = Signal::Offer { call: "c".into(), sdp: sdp(&fp(2), "u"), fingerprint: fp(2) };
        assert_eq!(b.handle(same.method(), &same.params()), Err(SignalingError::SameFingerprint));
        assert!(matches!(b.answer(&sdp(&fp(2), "u")), Err(SignalingError::WrongState { .. })));
    }
}
