//! The params of every Sign v2 method, typed, with their wire form: what we
//! write is what the official SDKs write (every field the spec names, arrays
//! always present), and reading accepts what they send (unknown fields are
//! ignored, optional fields may be absent or `null`).
//!
//! | method | params |
//! |---|---|
//! | `wc_sessionPropose` | [`Propose`] → result [`ProposeResult`] |
//! | `wc_sessionSettle` | [`Settle`] → `true` |
//! | `wc_sessionUpdate` | [`Update`] → `true` |
//! | `wc_sessionExtend` | [`Extend`] → `true` |
//! | `wc_sessionRequest` | [`SessionRequest`] → the wallet's result |
//! | `wc_sessionEvent` | [`SessionEvent`] → `true` (the SDKs send no answer) |
//! | `wc_sessionDelete`, `wc_pairingDelete` | [`Reason`] → `true` (the SDKs send no answer) |
//! | `wc_sessionPing`, `wc_pairingPing` | `{}` → `true` |

use serde_json::{Map, Value, json};

use crate::namespaces::Namespaces;

use super::namespaces::{NamespaceError, proposal_from_wire, proposal_to_wire, session_from_wire, session_to_wire};

/// Why params could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A field the method needs is missing or has the wrong type.
    #[error("malformed {method} params: {field} is missing or not {expected}")]
    Field {
        /// Method.
        method: &'static str,
        /// Field path.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// Namespaces that WalletConnect does not accept.
    #[error("{method}: {error}")]
    Namespaces {
        /// Method.
        method: &'static str,
        /// What is wrong.
        #[source]
        error: NamespaceError,
    },
}

impl WireError {
    /// The WalletConnect code to answer this problem with.
    pub fn sdk_error(&self) -> super::SdkError {
        match self {
            WireError::Namespaces { error, .. } => error.sdk_error(),
            WireError::Field { .. } => super::SdkError::InvalidMethod,
        }
    }

    fn field(method: &'static str, field: &'static str, expected: &'static str) -> Self {
        WireError::Field { method, field, expected }
    }
}

/// The relay protocol (`{"protocol": "irn"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Protocol name; `irn` is the only one in use.
    pub protocol: String,
    /// Protocol data, rarely set.
    pub data: Option<String>,
}

impl Default for Relay {
    fn default() -> Self {
        Relay { protocol: "irn".into(), data: None }
    }
}

impl Relay {
    fn to_json(&self) -> Value {
        let mut v = json!({"protocol": self.protocol});
        if let Some(data) = &self.data {
            v["data"] = json!(data);
        }
        v
    }

    fn from_json(v: Option<&Value>) -> Option<Self> {
        let v = v?;
        let protocol = v.get("protocol")?.as_str()?.to_owned();
        Some(Relay { protocol, data: v.get("data").and_then(Value::as_str).map(str::to_owned) })
    }
}

/// A proposer or controller: its X25519 public key (hex) and app metadata
/// (`{name, description, url, icons}`, kept as sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    /// 32-byte X25519 key, hex.
    pub public_key: String,
    /// App metadata.
    pub metadata: Value,
}

impl Participant {
    fn to_json(&self) -> Value {
        json!({"publicKey": self.public_key, "metadata": self.metadata})
    }

    fn from_json(method: &'static str, field: &'static str, v: Option<&Value>) -> Result<Self, WireError> {
        let v = v.ok_or_else(|| WireError::field(method, field, "an object"))?;
        let key = v.get("publicKey").and_then(Value::as_str);
        let public_key = key.ok_or_else(|| WireError::field(method, field, "an object with publicKey"))?.to_owned();
        Ok(Participant { public_key, metadata: v.get("metadata").cloned().unwrap_or(Value::Null) })
    }
}

/// `wc_sessionPropose` params.
#[derive(Debug, Clone, PartialEq)]
pub struct Propose {
    /// Namespaces the session cannot do without (the SDKs ≥ 2.19 send `{}` and
    /// move everything to the optional ones).
    pub required_namespaces: Namespaces,
    /// Namespaces the wallet may grant.
    pub optional_namespaces: Namespaces,
    /// Relay protocols, `[{"protocol": "irn"}]`.
    pub relays: Vec<Relay>,
    /// The proposer's key (for the session key agreement) and metadata.
    pub proposer: Participant,
    /// When the proposal expires, unix seconds.
    pub expiry_timestamp: Option<u64>,
    /// The pairing topic it is sent on.
    pub pairing_topic: Option<String>,
    /// Free-form string properties the dapp asks to be echoed into the session.
    pub session_properties: Option<Map<String, Value>>,
}

impl Propose {
    /// The wire params.
    pub fn to_json(&self) -> Result<Value, WireError> {
        const M: &str = "wc_sessionPropose";
        let ns = |n: &Namespaces| proposal_to_wire(n).map_err(|error| WireError::Namespaces { method: M, error });
        let mut v = json!({
            "requiredNamespaces": ns(&self.required_namespaces)?,
            "optionalNamespaces": ns(&self.optional_namespaces)?,
            "relays": self.relays.iter().map(Relay::to_json).collect::<Vec<_>>(),
            "proposer": self.proposer.to_json(),
        });
        if let Some(expiry) = self.expiry_timestamp {
            v["expiryTimestamp"] = json!(expiry);
        }
        if let Some(topic) = &self.pairing_topic {
            v["pairingTopic"] = json!(topic);
        }
        if let Some(props) = &self.session_properties {
            v["sessionProperties"] = Value::Object(props.clone());
        }
        Ok(v)
    }

    /// Reads the params; only `proposer.publicKey` is required.
    pub fn from_json(v: &Value) -> Result<Self, WireError> {
        const M: &str = "wc_sessionPropose";
        let ns = |field| proposal_from_wire(v.get(field)).map_err(|error| WireError::Namespaces { method: M, error });
        let relays = match v.get("relays").and_then(Value::as_array) {
            Some(list) => list.iter().filter_map(|r| Relay::from_json(Some(r))).collect(),
            None => vec![Relay::default()],
        };
        Ok(Propose {
            required_namespaces: ns("requiredNamespaces")?,
            optional_namespaces: ns("optionalNamespaces")?,
            relays,
            proposer: Participant::from_json(M, "proposer", v.get("proposer"))?,
            expiry_timestamp: v.get("expiryTimestamp").and_then(Value::as_u64),
            pairing_topic: v.get("pairingTopic").and_then(Value::as_str).map(str::to_owned),
            session_properties: v.get("sessionProperties").and_then(Value::as_object).cloned(),
        })
    }
}

/// The wallet's result for `wc_sessionPropose`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposeResult {
    /// Relay protocol chosen.
    pub relay: Relay,
    /// The wallet's X25519 key, hex.
    pub responder_public_key: String,
}

impl ProposeResult {
    /// The wire result.
    pub fn to_json(&self) -> Value {
        json!({"relay": self.relay.to_json(), "responderPublicKey": self.responder_public_key})
    }

    /// Reads the result; `relay` defaults to `irn`.
    pub fn from_json(v: &Value) -> Result<Self, WireError> {
        let key = v.get("responderPublicKey").and_then(Value::as_str);
        let key = key.ok_or_else(|| WireError::field("wc_sessionPropose", "responderPublicKey", "a hex string"))?;
        Ok(ProposeResult {
            relay: Relay::from_json(v.get("relay")).unwrap_or_default(),
            responder_public_key: key.to_owned(),
        })
    }
}

/// `wc_sessionSettle` params.
#[derive(Debug, Clone, PartialEq)]
pub struct Settle {
    /// Relay protocol.
    pub relay: Relay,
    /// Granted session namespaces (accounts, methods, events, chains).
    pub namespaces: Namespaces,
    /// Session properties, echoed or set by the wallet.
    pub session_properties: Option<Map<String, Value>>,
    /// The controller's key and metadata.
    pub controller: Participant,
    /// Session expiry, unix seconds.
    pub expiry: u64,
    /// The pairing the session was proposed on.
    pub pairing_topic: Option<String>,
}

impl Settle {
    /// The wire params.
    pub fn to_json(&self) -> Result<Value, WireError> {
        let namespaces = session_to_wire(&self.namespaces)
            .map_err(|error| WireError::Namespaces { method: "wc_sessionSettle", error })?;
        let mut v = json!({
            "relay": self.relay.to_json(),
            "namespaces": namespaces,
            "controller": self.controller.to_json(),
            "expiry": self.expiry,
        });
        if let Some(props) = &self.session_properties {
            v["sessionProperties"] = Value::Object(props.clone());
        }
        if let Some(topic) = &self.pairing_topic {
            v["pairingTopic"] = json!(topic);
        }
        Ok(v)
    }

    /// Reads the params; `controller.publicKey`, `namespaces` and `expiry` are required.
    pub fn from_json(v: &Value) -> Result<Self, WireError> {
        const M: &str = "wc_sessionSettle";
        if !v.get("namespaces").is_some_and(Value::is_object) {
            return Err(WireError::field(M, "namespaces", "an object"));
        }
        let namespaces =
            session_from_wire(v.get("namespaces")).map_err(|error| WireError::Namespaces { method: M, error })?;
        Ok(Settle {
            relay: Relay::from_json(v.get("relay")).unwrap_or_default(),
            namespaces,
            session_properties: v.get("sessionProperties").and_then(Value::as_object).cloned(),
            controller: Participant::from_json(M, "controller", v.get("controller"))?,
            expiry: v
                .get("expiry")
                .and_then(Value::as_u64)
                .ok_or_else(|| WireError::field(M, "expiry", "unix seconds"))?,
            pairing_topic: v.get("pairingTopic").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// `wc_sessionUpdate` params: the new session namespaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// New namespaces, replacing the old ones.
    pub namespaces: Namespaces,
}

impl Update {
    /// The wire params.
    pub fn to_json(&self) -> Result<Value, WireError> {
        let namespaces = session_to_wire(&self.namespaces)
            .map_err(|error| WireError::Namespaces { method: "wc_sessionUpdate", error })?;
        Ok(json!({"namespaces": namespaces}))
    }

    /// Reads the params.
    pub fn from_json(v: &Value) -> Result<Self, WireError> {
        const M: &str = "wc_sessionUpdate";
        if !v.get("namespaces").is_some_and(Value::is_object) {
            return Err(WireError::field(M, "namespaces", "an object"));
        }
        let namespaces =
            session_from_wire(v.get("namespaces")).map_err(|error| WireError::Namespaces { method: M, error })?;
        Ok(Update { namespaces })
    }
}

/// `wc_sessionExtend` params. The spec names `expiry`; the official SDKs
/// (2.25) send `{}` and let each side compute "7 days from now" itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extend {
    /// New expiry, unix seconds; `None` when the peer sent none.
    pub expiry: Option<u64>,
}

impl Extend {
    /// The wire params (we always name the expiry).
    pub fn to_json(self) -> Value {
        match self.expiry {
            Some(expiry) => json!({"expiry": expiry}),
            None => json!({}),
        }
    }

    /// Reads the params; a missing or non-integer expiry is `None`.
    pub fn from_json(v: &Value) -> Self {
        Extend { expiry: v.get("expiry").and_then(Value::as_u64) }
    }
}

/// `wc_sessionRequest` params.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRequest {
    /// The wallet method, e.g. `personal_sign`.
    pub method: String,
    /// Its params.
    pub params: Value,
    /// When the request expires, unix seconds (the SDKs allow 300 s to 7 days).
    pub expiry_timestamp: Option<u64>,
    /// CAIP-2 chain it targets (the SDKs always send one).
    pub chain_id: Option<String>,
}

impl SessionRequest {
    /// The wire params.
    pub fn to_json(&self) -> Value {
        let mut request = json!({"method": self.method, "params": self.params});
        if let Some(expiry) = self.expiry_timestamp {
            request["expiryTimestamp"] = json!(expiry);
        }
        let mut v = json!({"request": request});
        if let Some(chain) = &self.chain_id {
            v["chainId"] = json!(chain);
        }
        v
    }

    /// Reads the params; `request.method` is required.
    pub fn from_json(v: &Value) -> Result<Self, WireError> {
        let method = v.pointer("/request/method").and_then(Value::as_str);
        let method = method.ok_or_else(|| WireError::field("wc_sessionRequest", "request.method", "a string"))?;
        Ok(SessionRequest {
            method: method.to_owned(),
            params: v.pointer("/request/params").cloned().unwrap_or(Value::Null),
            expiry_timestamp: v.pointer("/request/expiryTimestamp").and_then(Value::as_u64),
            chain_id: v.get("chainId").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// `wc_sessionEvent` params.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// Event name, e.g. `accountsChanged`.
    pub name: String,
    /// Event data.
    pub data: Value,
    /// CAIP-2 chain.
    pub chain_id: Option<String>,
}

impl SessionEvent {
    /// The wire params.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"event": {"name": self.name, "data": self.data}});
        if let Some(chain) = &self.chain_id {
            v["chainId"] = json!(chain);
        }
        v
    }

    /// Reads the params; `event.name` is required.
    pub fn from_json(v: &Value) -> Result<Self, WireError> {
        let name = v.pointer("/event/name").and_then(Value::as_str);
        let name = name.ok_or_else(|| WireError::field("wc_sessionEvent", "event.name", "a string"))?;
        Ok(SessionEvent {
            name: name.to_owned(),
            data: v.pointer("/event/data").cloned().unwrap_or(Value::Null),
            chain_id: v.get("chainId").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// `wc_sessionDelete` / `wc_pairingDelete` params: why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// A code, 6000 (user disconnected) for a user's choice.
    pub code: i64,
    /// A message for people.
    pub message: String,
}

impl Reason {
    /// The wire params.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }

    /// Reads the params leniently: a missing code is 6000, a missing message empty.
    pub fn from_json(v: &Value) -> Self {
        Reason {
            code: v.get("code").and_then(Value::as_i64).unwrap_or(6000),
            message: v.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        }
    }
}

/// `wc_sessionPing` / `wc_pairingPing` params (`{}`).
pub fn ping() -> Value {
    json!({})
}
