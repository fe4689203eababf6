//! `POST /bridge/v1/tokens`: issues an opaque bridge access token. Only the
//! operator reaches it: the REST gate ([`super::guard`]) asks for the admin
//! secret, or serves it on a loopback address only.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

/// Lifetime of a token when the request gives none, in seconds.
const DEFAULT_TTL: u64 = 3600;

/// The request body (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueRequest {
    /// Lifetime in seconds (1 s to 30 days; default 1 h).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

/// Issues a token; the response is the only place it is ever shown.
pub async fn issue(State(state): State<AppState>, body: Option<Json<IssueRequest>>) -> Result<Json<Value>, ApiError> {
    let tokens = state.bridge_tokens.as_ref().ok_or_else(|| ApiError::not_found("the bridge is off on this node"))?;
    let ttl = body.and_then(|Json(b)| b.ttl_seconds).unwrap_or(DEFAULT_TTL);
    let now = crate::waku::time::now_secs();
    let (token, expires_at) = tokens.issue(ttl, now).map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(json!({"token": token, "expiresAt": expires_at})))
}
