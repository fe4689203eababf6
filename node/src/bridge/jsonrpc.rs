//! JSON-RPC 2.0 framing for the bridge: parsing one text frame into a request
//! or a response (an ack of a server push), and building results, errors and
//! notifications. Ids are kept as raw JSON values (the workspace enables
//! serde_json's `arbitrary_precision`), so `"1795668933386046208"` and
//! `1795668933386046208` are echoed back exactly, with the same JSON type and
//! never through an `f64`.

use serde_json::{Map, Value, json};

/// Standard and bridge-specific JSON-RPC error codes.
pub mod code {
    /// The frame is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a JSON-RPC 2.0 request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Missing or mistyped parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The node failed (store down, shutting down).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Too many requests; slow down.
    pub const RATE_LIMITED: i64 = -32029;
    /// A limit of the connection was reached (subscriptions, batch size).
    pub const LIMIT_EXCEEDED: i64 = -32005;
    /// The method needs authentication the connection does not have.
    pub const UNAUTHORIZED: i64 = -32001;
    /// The node does not offer the method (e.g. `turn_credentials` without a TURN server).
    pub const NOT_CONFIGURED: i64 = -32002;
}

/// A JSON-RPC error: code and a message a developer can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i64,
    /// What is wrong and what to do.
    pub message: String,
}

impl RpcError {
    /// An error with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
    }

    /// Invalid parameters.
    pub fn params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }

    /// A node-side failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }
}

/// One parsed incoming frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A call; `id` is `None` for a notification (no response is sent).
    Request {
        /// The id, verbatim.
        id: Option<Value>,
        /// The method name.
        method: String,
        /// The params (`null` when absent).
        params: Value,
    },
    /// A response to a server-initiated request (a push ack).
    Response {
        /// The id of the push, verbatim.
        id: Value,
        /// Whether it carried a result (not an error).
        ok: bool,
    },
    /// Not valid JSON-RPC: answer with this error (and this id, if one was readable).
    Invalid {
        /// The id if the frame had a usable one, else `null`.
        id: Value,
        /// The error to send.
        error: RpcError,
    },
}

/// Parses one text frame.
pub fn parse(text: &str) -> Incoming {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Invalid {
                id: Value::Null,
                error: RpcError::new(code::PARSE_ERROR, format!("frame is not valid JSON: {e}")),
            };
        }
    };
    let Value::Object(mut object) = value else {
        let error = if value.is_array() {
            "batch arrays are not supported: send one JSON-RPC object per frame"
        } else {
            "a JSON-RPC request must be a JSON object"
        };
        return Incoming::Invalid { id: Value::Null, error: RpcError::new(code::INVALID_REQUEST, error) };
    };
    let id = object.remove("id");
    if let Some(bad) = id.as_ref().filter(|id| !(id.is_string() || id.is_number() || id.is_null())) {
        let error = RpcError::new(code::INVALID_REQUEST, format!("id must be a string or a number, not {bad}"));
        return Incoming::Invalid { id: Value::Null, error };
    }
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Incoming::Invalid {
            id: id.unwrap_or(Value::Null),
            error: RpcError::new(code::INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\""),
        };
    }
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = object.remove("params").unwrap_or(Value::Null);
            Incoming::Request { id: id.filter(|i| !i.is_null()), method, params }
        }
        Some(_) => Incoming::Invalid {
            id: id.unwrap_or(Value::Null),
            error: RpcError::new(code::INVALID_REQUEST, "\"method\" must be a string"),
        },
        None if object.contains_key("result") || object.contains_key("error") => match id {
            Some(id) if !id.is_null() => Incoming::Response { id, ok: object.contains_key("result") },
            _ => Incoming::Invalid {
                id: Value::Null,
                error: RpcError::new(code::INVALID_REQUEST, "a response needs the id of the request"),
            },
        },
        None => Incoming::Invalid {
            id: id.unwrap_or(Value::Null),
            error: RpcError::new(code::INVALID_REQUEST, "missing \"method\""),
        },
    }
}

/// A success response.
pub fn result(id: &Value, result: Value) -> String {
    json!({"id": id, "jsonrpc": "2.0", "result": result}).to_string()
}

/// An error response.
pub fn error(id: &Value, error: &RpcError) -> String {
    json!({"id": id, "jsonrpc": "2.0", "error": {"code": error.code, "message": error.message}}).to_string()
}

/// A server-initiated request (`irn_subscription`) with a numeric id.
pub fn request(id: u64, method: &str, params: Value) -> String {
    json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// A notification (no id, no response expected).
pub fn notification(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// Named params as an object; `null` counts as empty. Unknown keys are kept (and ignored by callers).
pub fn params_object(params: Value) -> Result<Map<String, Value>, RpcError> {
    match params {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(RpcError::params(format!("params must be an object, not {}", type_name(&other)))),
    }
}

/// The JSON type of `value`, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required string param.
pub fn string(params: &Map<String, Value>, key: &str) -> Result<String, RpcError> {
    match params.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(RpcError::params(format!("{key} must be a string, not {}", type_name(other)))),
        None => Err(RpcError::params(format!("missing param {key}"))),
    }
}

/// An optional unsigned integer param.
pub fn opt_u64(params: &Map<String, Value>, key: &str) -> Result<Option<u64>, RpcError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| RpcError::params(format!("{key} must be a non-negative integer, not {n}"))),
        Some(other) => Err(RpcError::params(format!("{key} must be an integer, not {}", type_name(other)))),
    }
}

/// A required array of strings.
pub fn strings(params: &Map<String, Value>, key: &str) -> Result<Vec<String>, RpcError> {
    match params.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    RpcError::params(format!("{key} must be an array of strings, found {}", type_name(v)))
                })
            })
            .collect(),
        Some(other) => Err(RpcError::params(format!("{key} must be an array of strings, not {}", type_name(other)))),
        None => Err(RpcError::params(format!("missing param {key}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_are_echoed_exactly_with_their_type() {
        for raw in [r#""1795668933386046208""#, "1795668933386046208", "18446744073709551615"] {
            let frame = format!(r#"{{"id":{raw},"jsonrpc":"2.0","method":"irn_subscribe","params":{{}}}}"#);
            let Incoming::Request { id: Some(id), .. } = parse(&frame) else { panic!("request") };
            let out = result(&id, Value::Bool(true));
            assert!(out.contains(&format!(r#""id":{raw}"#)), "{out}");
        }
    }

    #[test]
    fn bad_frames_get_the_right_codes() {
        let cases = [
            ("{", code::PARSE_ERROR),
            ("[1]", code::INVALID_REQUEST),
            ("3", code::INVALID_REQUEST),
            (r#"{"id":1,"method":"x"}"#, code::INVALID_REQUEST),
            (r#"{"id":{},"jsonrpc":"2.0","method":"x"}"#, code::INVALID_REQUEST),
            (r#"{"id":1,"jsonrpc":"2.0","method":5}"#, code::INVALID_REQUEST),
            (r#"{"id":1,"jsonrpc":"2.0"}"#, code::INVALID_REQUEST),
        ];
        for (frame, expected) in cases {
            match parse(frame) {
                Incoming::Invalid { error, .. } => assert_eq!(error.code, expected, "{frame}"),
                other => panic!("{frame} parsed as {other:?}"),
            }
        }
        let deep = "[".repeat(10_000);
        assert!(matches!(parse(&deep), Incoming::Invalid { error, .. } if error.code == code::PARSE_ERROR));
    }

    #[test]
    fn acks_are_responses_and_params_are_typed() {
        assert_eq!(parse(r#"{"id":42,"jsonrpc":"2.0","result":true}"#), Incoming::Response { id: json!(42), ok: true });
        let params = params_object(json!({"topic": 5, "ttl": -1, "extra": "ignored"})).expect("object");
        assert!(string(&params, "topic").expect_err("type").message.contains("topic must be a string"));
        assert!(opt_u64(&params, "ttl").expect_err("sign").message.contains("non-negative"));
        assert!(params_object(json!([1])).is_err());
    }
}
