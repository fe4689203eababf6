//! REST lightpushes through this node's own lightpush service (relay, then
//! store), or through the configured lightpush service node
//! (`light.lightpush_node`, nwaku's `--lightpushnode`):
//! - `POST /lightpush/v3/message`: by lightpush v3, answered with the v3 status as JSON;
//! - `POST /lightpush/v1/message`: by legacy lightpush v2, answered as nwaku's legacy
//!   route does: 200 `OK`, 400 for a bad request, 429, or 503 with what failed.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::light::lightpush::{Version, status};
use crate::waku::json::MessageJson;
use crate::waku::{ContentTopic, PubsubTopic, RelayMessage};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushBody {
    /// The pubsub topic; when absent, the message's content topic is autosharded.
    #[serde(default)]
    pub pubsub_topic: Option<String>,
    /// The message.
    pub message: MessageJson,
}

/// The v3 outcome, as nwaku's REST API answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResult {
    /// The lightpush v3 status code.
    pub status_code: u32,
    /// What happened.
    pub status_desc: String,
    /// Relay peers the message was handed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_peer_count: Option<u32>,
}

fn refuse(code: u32, desc: String) -> (StatusCode, Json<PushResult>) {
    reply(code, desc, None)
}

fn reply(code: u32, desc: String, relay_peer_count: Option<u32>) -> (StatusCode, Json<PushResult>) {
    // 505 (no relay peers) is not an HTTP status worth sending; 503 says "try later".
    let http = match code {
        status::NO_PEERS => StatusCode::SERVICE_UNAVAILABLE,
        status::INVALID_MESSAGE | status::UNSUPPORTED_TOPIC => StatusCode::BAD_REQUEST,
        c => u16::try_from(c)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    (http, Json(PushResult { status_code: code, status_desc: desc, relay_peer_count }))
}

/// Validates a push body into the message to push; `Err` is the v3 status and why.
fn message_of(state: &AppState, body: PushBody) -> Result<RelayMessage, (u32, String)> {
    let topic = match &body.pubsub_topic {
        Some(raw) => raw.parse::<PubsubTopic>().map_err(|e| e.to_string()),
        None => body
            .message
            .content_topic
            .as_deref()
            .ok_or_else(|| "message.contentTopic is required".to_owned())
            .and_then(|t| t.parse::<ContentTopic>().map_err(|e| e.to_string()))
            .and_then(|t| t.pubsub_topic(state.cluster_id, state.num_shards).map_err(|e| e.to_string())),
    };
    let topic = match topic {
        Ok(t) if t.cluster().is_none_or(|c| c == state.cluster_id) => t,
        Ok(t) => return Err((status::UNSUPPORTED_TOPIC, format!("pubsub topic {t} is in another cluster"))),
        Err(e) => return Err((status::BAD_REQUEST, e)),
    };
    let message = body.message.into_message().map_err(|e| (status::BAD_REQUEST, e.to_string()))?;
    if message.payload.is_empty() {
        return Err((status::INVALID_MESSAGE, "the message has an empty payload".into()));
    }
    RelayMessage::encode(topic, message).map_err(|e| match e {
        crate::waku::MessageError::TooLarge(_) => (status::PAYLOAD_TOO_LARGE, e.to_string()),
        e => (status::INVALID_MESSAGE, e.to_string()),
    })
}

/// Pushes through the lightpush node by `version`, or through this node's own service.
async fn push_message(state: &AppState, version: Version, message: RelayMessage) -> crate::light::PushReply {
    let result = match &state.lightpush_node {
        Some(node) => crate::light::client::push_through(&state.network, node, version, &message).await,
        None => crate::light::publish_and_store(&state.publisher, message).await,
    };
    state.metrics.light_request("rest_lightpush", result.status);
    result
}

/// `POST /lightpush/v3/message` with `{pubsubTopic?, message}`.
pub async fn push(
    State(state): State<AppState>,
    body: Result<Json<PushBody>, JsonRejection>,
) -> (StatusCode, Json<PushResult>) {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(status::PAYLOAD_TOO_LARGE, super::error::body_rejection(&e));
        }
        Err(e) => return refuse(status::BAD_REQUEST, format!("malformed request: {e}")),
    };
    let message = match message_of(&state, body) {
        Ok(m) => m,
        Err((code, desc)) => return refuse(code, desc),
    };
    let result = push_message(&state, Version::V3, message).await;
    reply(result.status, result.desc, result.relay_peers)
}

/// `POST /lightpush/v1/message` with `{pubsubTopic?, message}` (nwaku's legacy route).
pub async fn push_legacy(
    State(state): State<AppState>,
    body: Result<Json<PushBody>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let Json(body) =
        body.map_err(|e| ApiError::bad_request(format!("malformed request: {}", super::error::body_rejection(&e))))?;
    let message =
        message_of(&state, body).map_err(|(_, desc)| ApiError::bad_request(format!("Invalid message: {desc}")))?;
    let result = push_message(&state, Version::V2, message).await;
    match result.status {
        status::SUCCESS => Ok("OK"),
        status::TOO_MANY_REQUESTS => Err(ApiError::too_many_requests("Request rate limit reached")),
        _ => Err(ApiError::unavailable(format!("Failed to request a message push: {}", result.desc))),
    }
}
