//! JSON-RPC 2.0 messages as WalletConnect sends them inside envelopes, and the
//! WalletConnect id scheme (`unix_ms * 1000 + 3 random digits`), which lets the
//! replay window judge a request's age from its id.

use rand_core::RngCore;
use serde_json::{Map, Value, json};

/// Why a decrypted payload is not an acceptable JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Not JSON.
    #[error("payload is not JSON")]
    NotJson,
    /// JSON, but not a JSON-RPC 2.0 request or response object.
    #[error("payload is not a JSON-RPC 2.0 object: {0}")]
    NotJsonRpc(&'static str),
}

/// A JSON-RPC error object (`{code, message, data?}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorObject {
    /// Error code (WalletConnect SDK codes or JSON-RPC codes).
    pub code: i64,
    /// Human-readable reason.
    pub message: String,
    /// Extra structured detail.
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorObject { code, message: message.into(), data: None }
    }
}

/// A decoded JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request (or notification-like request; WalletConnect always sets an id).
    Request {
        /// Request id.
        id: u64,
        /// Method name.
        method: String,
        /// Parameters (`null` when absent).
        params: Value,
    },
    /// A response to one of our requests.
    Response {
        /// Id of the request answered.
        id: u64,
        /// Result or error.
        outcome: Result<Value, ErrorObject>,
    },
}

impl Message {
    /// Parses a JSON-RPC 2.0 request or response with a numeric id.
    pub fn parse(text: &str) -> Result<Self, RpcError> {
        let value: Value = serde_json::from_str(text).map_err(|_| RpcError::NotJson)?;
        let obj = value.as_object().ok_or(RpcError::NotJsonRpc("not an object"))?;
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(RpcError::NotJsonRpc("jsonrpc is not \"2.0\""));
        }
        let id = obj.get("id").and_then(Value::as_u64).ok_or(RpcError::NotJsonRpc("id is not an unsigned integer"))?;
        if let Some(method) = obj.get("method") {
            let method = method.as_str().ok_or(RpcError::NotJsonRpc("method is not a string"))?.to_owned();
            let params = obj.get("params").cloned().unwrap_or(Value::Null);
            return Ok(Message::Request { id, method, params });
        }
        if let Some(result) = obj.get("result") {
            return Ok(Message::Response { id, outcome: Ok(result.clone()) });
        }
        let error =
            obj.get("error").and_then(Value::as_object).ok_or(RpcError::NotJsonRpc("no method, result or error"))?;
        let code =
            error.get("code").and_then(Value::as_i64).ok_or(RpcError::NotJsonRpc("error.code is not an integer"))?;
        let message = error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Message::Response { id, outcome: Err(ErrorObject { code, message, data: error.get("data").cloned() }) })
    }

    /// Serialises the message as compact JSON.
    pub fn to_json(&self) -> String {
        let mut obj = Map::new();
        match self {
            Message::Request { id, method, params } => {
                obj.insert("id".into(), json!(id));
                obj.insert("jsonrpc".into(), json!("2.0"));
                obj.insert("method".into(), json!(method));
                obj.insert("params".into(), params.clone());
            }
            Message::Response { id, outcome } => {
                obj.insert("id".into(), json!(id));
                obj.insert("jsonrpc".into(), json!("2.0"));
                match outcome {
                    Ok(result) => {
                        obj.insert("result".into(), result.clone());
                    }
                    Err(e) => {
                        let mut err = Map::new();
                        err.insert("code".into(), json!(e.code));
                        err.insert("message".into(), json!(e.message));
                        if let Some(data) = &e.data {
                            err.insert("data".into(), data.clone());
                        }
                        obj.insert("error".into(), Value::Object(err));
                    }
                }
            }
        }
        Value::Object(obj).to_string()
    }
}

/// Issues WalletConnect-style ids: `unix_ms * 1000 + random(0..1000)`, strictly increasing.
#[derive(Debug, Clone, Default)]
pub struct IdGenerator {
    last: u64,
}

impl IdGenerator {
    /// Starts after `last` (restored from storage).
    pub fn starting_after(last: u64) -> Self {
        IdGenerator { last }
    }

    /// The last id handed out.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// A new id for a request created at `unix_ms`.
    pub fn next<R: RngCore + ?Sized>(&mut self, unix_ms: u64, rng: &mut R) -> u64 {
        let candidate = unix_ms.saturating_mul(1000).saturating_add(u64::from(rng.next_u32() % 1000));
        self.last = candidate.max(self.last.saturating_add(1));
        self.last
    }
}

/// The creation time (unix ms) encoded in a WalletConnect id.
pub fn id_time_ms(id: u64) -> u64 {
    id / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn requests_and_responses_round_trip() {
        let req =
            Message::Request { id: 1_795_668_933_386_046_208, method: "wc_sessionPing".into(), params: json!({}) };
        assert_eq!(Message::parse(&req.to_json()).unwrap(), req);
        let ok = Message::Response { id: 5, outcome: Ok(json!(true)) };
        assert_eq!(Message::parse(&ok.to_json()).unwrap(), ok);
        let err = Message::Response { id: 6, outcome: Err(ErrorObject::new(5000, "User rejected.")) };
        assert_eq!(Message::parse(&err.to_json()).unwrap(), err);
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert_eq!(Message::parse("nope"), Err(RpcError::NotJson));
        assert!(Message::parse(r#"{"id":1,"method":"x"}"#).is_err());
        assert!(Message::parse(r#"{"jsonrpc":"2.0","id":"a","method":"x"}"#).is_err());
        assert!(Message::parse(r#"{"jsonrpc":"2.0","id":1}"#).is_err());
    }

    #[test]
    fn ids_encode_time_and_increase() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut ids = IdGenerator::default();
        let a = ids.next(1_700_000_000_000, &mut rng);
        let b = ids.next(1_700_000_000_000, &mut rng);
        assert!(b > a);
        assert_eq!(id_time_ms(a), 1_700_000_000_000);
        let c = ids.next(1, &mut rng);
        assert!(c > b, "a clock step back must not reuse ids");
    }
}
