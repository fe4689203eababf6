//! The method router: turns one incoming JSON-RPC text frame of a session
//! into a [`Reply`] for the pump. It parses the frame, records WalletConnect
//! acks, applies the session's rate limits (to every frame but acks) and
//! authorization, hands the request to `waku_methods`, `turn_methods` or
//! `walletconnect::methods` (and serves `bridge_authenticate` itself), and
//! keeps each connection within its budget of
//! bad frames (`bridge.bad_frame_limit`). Publishes are pipelined: a
//! `waku_publish` is queued in the swarm task and answered when it is relayed,
//! as [`Reply::later`].

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::debug;

use super::jsonrpc::{self, Incoming, RpcError, code};
use super::session::{Admission, Session, verify_token};
use super::turn_methods;
use super::waku_methods;
use super::walletconnect::methods as wc_methods;

/// Close codes the bridge uses.
pub mod close {
    /// The node is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: the consumer is too slow, sent too many bad frames, or its token
    /// expired or was revoked.
    pub const POLICY: u16 = 1008;
    /// A frame over the size cap.
    pub const TOO_BIG: u16 = 1009;
    /// Rate limited: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Why and how the pump closes a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// The WebSocket close code.
    pub code: u16,
    /// The reason sent in the close frame (at most 123 bytes).
    pub reason: String,
    /// The `heliograph_bridge_rejected` reason it is counted under.
    pub label: &'static str,
}

impl Closing {
    /// A close with `code`, counted under `label`, telling the client `reason`.
    pub fn new(code: u16, label: &'static str, reason: impl Into<String>) -> Self {
        Closing { code, reason: reason.into(), label }
    }
}

/// What the pump should do after a frame.
#[derive(Default)]
pub struct Reply {
    /// A response to send now, if any.
    pub frame: Option<String>,
    /// A response to send when it is ready (a queued publish), if any; `None` inside
    /// for a notification, which gets no response.
    pub later: Option<BoxFuture<'static, Option<String>>>,
    /// Close the socket after the response.
    pub close: Option<Closing>,
}

impl Reply {
    fn frame(frame: String) -> Self {
        Reply { frame: Some(frame), ..Reply::default() }
    }
}

/// Handles one text frame of `session`. A bad frame (see [`is_bad`]) is answered
/// with its error and counted against the session's bad-frame budget; the one
/// past the budget also closes the socket.
pub async fn handle(session: &mut Session, text: &str) -> Reply {
    let (mut reply, bad) = route(session, text).await;
    if bad {
        charge_bad_frame(session, &mut reply);
    }
    reply
}

/// Handles one binary frame of `session`: the bridge speaks JSON text only, so it
/// is a bad frame.
pub fn binary(session: &mut Session) -> Reply {
    if let Some(reply) = refused(session, Some(&Value::Null)) {
        return reply;
    }
    let error = RpcError::new(code::INVALID_REQUEST, "binary frames are not supported: send JSON text frames");
    let mut reply = Reply::frame(jsonrpc::error(&Value::Null, &error));
    charge_bad_frame(session, &mut reply);
    reply
}

/// The reply to a frame the rate limits refuse, if they do: error -32029 (when there
/// is an `id` to answer), or a close after too many refusals in a row. Every frame
/// is charged, requests and bad frames alike, so reconnecting does not reset what an
/// IP may send.
fn refused(session: &mut Session, id: Option<&Value>) -> Option<Reply> {
    match session.admit() {
        Admission::Admitted => None,
        Admission::Close => {
            let closing = Closing::new(close::TRY_AGAIN_LATER, "rate_limited", "rate limit exceeded; reconnect later");
            Some(Reply { close: Some(closing), ..Reply::default() })
        }
        Admission::Limited => {
            let error = RpcError::new(code::RATE_LIMITED, "rate limit exceeded; slow down and retry later");
            Some(Reply { frame: id.map(|id| jsonrpc::error(id, &error)), ..Reply::default() })
        }
    }
}

/// Whether `error` answers a bad frame: one the client got wrong (not JSON, not
/// JSON-RPC, an unknown method, params that fail validation), not a rate limit, a
/// missing grant, a connection limit or a node-side failure.
fn is_bad(error: &RpcError) -> bool {
    matches!(error.code, code::PARSE_ERROR | code::INVALID_REQUEST | code::METHOD_NOT_FOUND | code::INVALID_PARAMS)
}

fn charge_bad_frame(session: &mut Session, reply: &mut Reply) {
    if session.bad_frame() {
        let limit = session.hub.config.bad_frame_limit;
        debug!(limit, "bridge connection over its bad-frame budget");
        reply.close = Some(Closing::new(
            close::POLICY,
            "bad_frames",
            format!("too many bad frames: over {limit} a minute (bridge.bad_frame_limit)"),
        ));
    }
}

/// The reply to one text frame, and whether the frame was bad.
async fn route(session: &mut Session, text: &str) -> (Reply, bool) {
    match jsonrpc::parse(text) {
        Incoming::Invalid { id, error } => match refused(session, Some(&id)) {
            Some(reply) => (reply, false),
            None => (Reply::frame(jsonrpc::error(&id, &error)), true),
        },
        Incoming::Response { id, ok } => {
            if let (Some(push_id), Some(client)) = (id.as_u64(), &session.client)
                && ok
            {
                session.hub.wc_ack(push_id, &client.0);
            }
            (Reply::default(), false)
        }
        Incoming::Request { id, method, params } => {
            session.hub.metrics.requests.inc();
            if let Some(reply) = refused(session, id.as_ref()) {
                return (reply, false);
            }
            if let Err(error) = session.authorize(&method) {
                return (Reply { frame: id.map(|id| answer(id, &method, Err(error))), ..Reply::default() }, false);
            }
            if method == "waku_publish" {
                return match waku_methods::start_publish(session, params).await {
                    Ok(pending) => {
                        let later = pending.map(move |outcome| Some(answer(id?, &method, outcome))).boxed();
                        (Reply { later: Some(later), ..Reply::default() }, false)
                    }
                    Err(error) => {
                        let bad = is_bad(&error);
                        (Reply { frame: id.map(|id| answer(id, &method, Err(error))), ..Reply::default() }, bad)
                    }
                };
            }
            let outcome = dispatch(session, &method, params).await;
            let bad = outcome.as_ref().is_err_and(is_bad);
            (Reply { frame: id.map(|id| answer(id, &method, outcome)), ..Reply::default() }, bad)
        }
    }
}

async fn dispatch(session: &mut Session, method: &str, params: Value) -> Result<Value, RpcError> {
    if method == "bridge_authenticate" {
        authenticate(session, params).await
    } else if method.starts_with("waku_") {
        waku_methods::call(session, method, params).await
    } else if method.starts_with("turn_") {
        turn_methods::call(session, method, params)
    } else {
        wc_methods::call(session, method, params).await
    }
}

/// `bridge_authenticate {token}`: swaps the socket's token for a fresh one (opaque or
/// capability) without reconnecting; answers the new expiry and subject.
async fn authenticate(session: &mut Session, params: Value) -> Result<Value, RpcError> {
    let token = match &params {
        Value::Object(map) if map.len() == 1 => map.get("token").and_then(Value::as_str),
        Value::Array(items) if items.len() == 1 => items[0].as_str(),
        _ => None,
    }
    .ok_or_else(|| RpcError::params("bridge_authenticate takes {\"token\": \"…\"}"))?;
    let now = crate::waku::time::now_secs();
    let grant = verify_token(session.hub.clone(), token.trim().to_owned(), now)
        .await
        .map_err(|e| RpcError::new(code::UNAUTHORIZED, e.to_string()))?;
    let (expires_at, subject) = (grant.expires_at, grant.subject.0.clone());
    session.reauthenticate(grant)?;
    debug!(%subject, expires_at, "bridge socket re-authenticated");
    Ok(json!({"expiresAt": expires_at, "subject": subject}))
}

/// The response frame of request `id` to `method`.
fn answer(id: Value, method: &str, outcome: Result<Value, RpcError>) -> String {
    match outcome {
        Ok(result) => jsonrpc::result(&id, result),
        Err(error) => {
            debug!(method = %method, code = error.code, "bridge request failed");
            jsonrpc::error(&id, &error)
        }
    }
}
