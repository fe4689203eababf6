//! `POST /lightpush/v3/message`: a lightpush through this node's own lightpush
//! service (relay, then store), or through the configured lightpush service
//! node (`light.lightpush_node`), answered with the v3 status as JSON.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::message_json::MessageJson;
use crate::light::lightpush::status;
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

/// `POST /lightpush/v3/message` with `{pubsubTopic?, message}`.
pub async fn push(
    State(state): State<AppState>,
    body: Result<Json<PushBody>, JsonRejection>,
) -> (StatusCode, Json<PushResult>) {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return refuse(status::BAD_REQUEST, format!("malformed request: {e}")),
    };
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
        Ok(t) => return refuse(status::UNSUPPORTED_TOPIC, format!("pubsub topic {t} is in another cluster")),
        Err(e) => return refuse(status::BAD_REQUEST, e),
    };
    let message = match body.message.into_message() {
        Ok(m) => m,
        Err(e) => return refuse(status::BAD_REQUEST, e.message().to_owned()),
    };
    if message.payload.is_empty() {
        return refuse(status::INVALID_MESSAGE, "the message has an empty payload".into());
    }
    let message = match RelayMessage::encode(topic, message) {
        Ok(m) => m,
        Err(e @ crate::waku::MessageError::TooLarge(_)) => return refuse(status::PAYLOAD_TOO_LARGE, e.to_string()),
        Err(e) => return refuse(status::INVALID_MESSAGE, e.to_string()),
    };
    let result = match &state.lightpush_node {
        Some(node) => crate::light::client::push_through(&state.network, node, &message).await,
        None => crate::light::publish_and_store(&state.network, state.store.as_ref(), message).await,
    };
    state.metrics.light_request("rest_lightpush", result.status);
    reply(result.status, result.desc, result.relay_peers)
}
