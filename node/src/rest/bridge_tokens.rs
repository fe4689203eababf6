//! The opaque bridge access tokens' routes: `POST /bridge/v1/tokens` issues one,
//! `DELETE /bridge/v1/tokens/{id}` revokes it (sockets using it close within a
//! second), `POST /bridge/v1/tokens/{id}/refresh` gives it a new expiry (the
//! same token lives on, so sockets using it keep going). Only the operator
//! reaches them: the REST gate ([`super::guard`]) asks for the admin secret, or
//! serves them on a loopback address only. Each change is fsynced to the data
//! dir before it is answered, off the async workers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::bridge::tokens::{TokenError, Tokens};

/// Lifetime of a token when the request gives none, in seconds.
const DEFAULT_TTL: u64 = 3600;

/// The issue request body (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueRequest {
    /// Lifetime in seconds (1 s to 30 days; default 1 h).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Who the token names (default: its id); a socket re-authenticates only with a token of its subject.
    #[serde(default)]
    pub subject: Option<String>,
}

/// The refresh request body (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// New lifetime from now, in seconds (1 s to 30 days; default 1 h).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

fn tokens(state: &AppState) -> Result<Arc<Tokens>, ApiError> {
    state.bridge_tokens.clone().ok_or_else(|| ApiError::not_found("the bridge is off on this node"))
}

/// Runs a token change (it fsyncs) off the async workers.
async fn blocking<T: Send + 'static>(
    change: impl FnOnce() -> Result<T, TokenError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(change).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e @ TokenError::BadSubject)) => Err(ApiError::bad_request(e.to_string())),
        Ok(Err(e)) => Err(ApiError::unavailable(e.to_string())),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ApiError::unavailable("the node is shutting down")),
    }
}

/// Issues a token; the response is the only place it is ever shown.
pub async fn issue(State(state): State<AppState>, body: Option<Json<IssueRequest>>) -> Result<Json<Value>, ApiError> {
    let tokens = tokens(&state)?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let ttl = request.ttl_seconds.unwrap_or(DEFAULT_TTL);
    let now = crate::waku::time::now_secs();
    let issued = blocking(move || tokens.issue(ttl, request.subject.as_deref(), now)).await?;
    Ok(Json(json!({
        "id": issued.id, "token": issued.token, "expiresAt": issued.expires_at, "subject": issued.subject,
    })))
}

/// Revokes token `id`: 204, or 404 if there is no such live token.
pub async fn revoke(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let tokens = tokens(&state)?;
    if blocking(move || tokens.revoke(&id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no live bridge token has this id"))
    }
}

/// Gives token `id` a new expiry `ttlSeconds` from now; 404 if there is no such live token.
pub async fn refresh(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<RefreshRequest>>,
) -> Result<Json<Value>, ApiError> {
    let tokens = tokens(&state)?;
    let ttl = body.and_then(|Json(b)| b.ttl_seconds).unwrap_or(DEFAULT_TTL);
    let now = crate::waku::time::now_secs();
    let answer_id = id.clone();
    match blocking(move || tokens.refresh(&id, ttl, now)).await? {
        Some(expires_at) => Ok(Json(json!({"id": answer_id, "expiresAt": expires_at}))),
        None => Err(ApiError::not_found("no live bridge token has this id")),
    }
}
