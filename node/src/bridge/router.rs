//! The method router: turns one incoming JSON-RPC text frame of a session
//! into a [`Reply`] for the pump. It parses the frame, records WalletConnect
//! acks, applies the session's rate limits and authorization, and hands the
//! request to `waku_methods` or `walletconnect::methods`. Publishes are
//! pipelined: a `waku_publish` is queued in the swarm task and answered when it
//! is relayed, as [`Reply::later`].

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tracing::debug;

use super::jsonrpc::{self, Incoming, RpcError, code};
use super::session::{Admission, Session};
use super::waku_methods;
use super::walletconnect::methods as wc_methods;

/// Close codes the bridge uses.
pub mod close {
    /// The node is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: the consumer is too slow.
    pub const POLICY: u16 = 1008;
    /// A frame over the size cap.
    pub const TOO_BIG: u16 = 1009;
    /// Rate limited: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// What the pump should do after a frame.
#[derive(Default)]
pub struct Reply {
    /// A response to send now, if any.
    pub frame: Option<String>,
    /// A response to send when it is ready (a queued publish), if any; `None` inside
    /// for a notification, which gets no response.
    pub later: Option<BoxFuture<'static, Option<String>>>,
    /// Close the socket with this code and reason.
    pub close: Option<(u16, String)>,
}

impl Reply {
    fn frame(frame: String) -> Self {
        Reply { frame: Some(frame), ..Reply::default() }
    }
}

/// Handles one text frame of `session`.
pub async fn handle(session: &mut Session, text: &str) -> Reply {
    match jsonrpc::parse(text) {
        Incoming::Invalid { id, error } => Reply::frame(jsonrpc::error(&id, &error)),
        Incoming::Response { id, ok } => {
            if let (Some(push_id), Some(client)) = (id.as_u64(), &session.client)
                && ok
            {
                session.hub.wc_ack(push_id, &client.0);
            }
            Reply::default()
        }
        Incoming::Request { id, method, params } => {
            session.hub.metrics.requests.inc();
            match session.admit() {
                Admission::Admitted => {}
                Admission::Close => {
                    return Reply {
                        close: Some((close::TRY_AGAIN_LATER, "rate limit exceeded; reconnect later".into())),
                        ..Reply::default()
                    };
                }
                Admission::Limited => {
                    let error = RpcError::new(code::RATE_LIMITED, "rate limit exceeded; slow down and retry later");
                    return Reply { frame: id.map(|id| jsonrpc::error(&id, &error)), ..Reply::default() };
                }
            }
            if let Err(error) = session.authorize(&method) {
                return Reply { frame: id.map(|id| answer(id, &method, Err(error))), ..Reply::default() };
            }
            if method == "waku_publish" {
                return match waku_methods::start_publish(session, params).await {
                    Ok(pending) => Reply {
                        later: Some(pending.map(move |outcome| Some(answer(id?, &method, outcome))).boxed()),
                        ..Reply::default()
                    },
                    Err(error) => Reply { frame: id.map(|id| answer(id, &method, Err(error))), ..Reply::default() },
                };
            }
            let outcome = dispatch(session, &method, params).await;
            Reply { frame: id.map(|id| answer(id, &method, outcome)), ..Reply::default() }
        }
    }
}

async fn dispatch(session: &mut Session, method: &str, params: Value) -> Result<Value, RpcError> {
    if method.starts_with("waku_") {
        waku_methods::call(session, method, params).await
    } else {
        wc_methods::call(session, method, params).await
    }
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
