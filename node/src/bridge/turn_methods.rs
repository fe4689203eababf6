//! The `turn_credentials` JSON-RPC method: short-lived credentials for the TURN
//! server the operator runs (see [`crate::turn`]), so WebRTC calls work across NATs.
//! It takes no params (unknown keys are ignored). The router's rate limits apply; with `bridge.require_token`
//! it needs a bridge token, as waku_* methods do (a self-signed WalletConnect JWT
//! is free to make, relayed media is not). Without a configured TURN server it
//! answers [`code::NOT_CONFIGURED`]. See docs/bridge.md.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jsonrpc::{self, RpcError, code};
use super::session::Session;
use crate::waku::time::now_secs;

/// Runs `method`.
pub fn call(session: &Session, method: &str, params: Value) -> Result<Value, RpcError> {
    match method {
        "turn_credentials" => credentials(session, params),
        other => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("unknown method {other}; turn methods: turn_credentials"),
        )),
    }
}

fn credentials(session: &Session, params: Value) -> Result<Value, RpcError> {
    // No params; unknown keys are ignored as everywhere on the bridge (a client cannot
    // choose its TURN user name).
    jsonrpc::params_object(params)?;
    if session.hub.config.require_token && session.grant.is_none() {
        return Err(RpcError::new(
            code::UNAUTHORIZED,
            "turn_credentials needs a bridge token (bridge.require_token is on): connect with ?token=… or \
             Authorization: Bearer …",
        ));
    }
    let Some(issuer) = &session.hub.turn else {
        return Err(RpcError::new(
            code::NOT_CONFIGURED,
            "this node hands out no TURN credentials (no turn.secret configured); calls use direct paths only",
        ));
    };
    let credentials = issuer.issue(&user(session), now_secs());
    serde_json::to_value(credentials).map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))
}

/// The TURN user name part: a digest of who is asking (token subject, else WalletConnect
/// client id), so the TURN server's logs can tell clients apart without naming them, and
/// without the `:` separator a did:key holds.
fn user(session: &Session) -> String {
    let who = session.subject().or(session.client.as_ref().map(|c| c.0.as_str())).unwrap_or("anonymous");
    hex::encode(&Sha256::digest(who.as_bytes())[..8])
}
