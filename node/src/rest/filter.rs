//! Filter v2 client endpoints, as nwaku serves them with `--filternode`: this
//! node subscribes on the configured filter service node (`light.filter_node`)
//! and keeps what it pushes for polling.
//!
//! - `POST` / `PUT /filter/v2/subscriptions` `{requestId, pubsubTopic?, contentFilters}`:
//!   subscribe (without `pubsubTopic`, each content topic's autoshard);
//! - `DELETE /filter/v2/subscriptions` (same body): unsubscribe;
//! - `DELETE /filter/v2/subscriptions/all` `{requestId}`: unsubscribe from everything;
//! - `GET /filter/v2/subscriptions/{requestId}`: ping the subscription;
//! - `GET /filter/v2/messages/{contentTopic}`: drain the pushed messages of a content topic.
//!
//! Every answer but the last is `{requestId, statusDesc}` with the HTTP status of
//! the filter status (400, 404, 429, 503 as the service node said; 504 when it
//! cannot be dialled; 500 when the exchange broke).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::cache::RelayCache;
use super::error::ApiError;
use crate::light::LightError;
use crate::light::filter::status;
use crate::light::filter_client::{self, FilterReply, FilterRequest};
use crate::waku::ContentTopic;
use crate::waku::json::MessageJson;

/// The filter client side of the REST API: the service node and the pushed messages.
#[derive(Clone)]
pub struct FilterClient {
    /// The filter service node, ending in `/p2p/<peer id>`.
    pub node: Multiaddr,
    /// Pushed messages per subscribed content topic.
    pub cache: Arc<Mutex<RelayCache>>,
}

impl FilterClient {
    fn cache(&self) -> std::sync::MutexGuard<'_, RelayCache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts taking the service node's push streams into the cache until shutdown.
    pub fn spawn_receiver(
        &self,
        state: &AppState,
        shutdown: CancellationToken,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, LightError> {
        let Some(service) = crate::waku::addr::peer_of(&self.node) else { return Ok(None) };
        let client = self.clone();
        let metrics = state.metrics.clone();
        let task = filter_client::spawn_push_receiver(
            &state.network,
            service,
            move |_pubsub_topic, message| {
                for _ in 0..client.cache().push_content(&message) {
                    metrics.dropped("rest_filter_cache_full");
                }
            },
            shutdown,
        )?;
        Ok(Some(task))
    }
}

/// Body of subscribe, update and unsubscribe.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscribeBody {
    request_id: String,
    #[serde(default)]
    pubsub_topic: Option<String>,
    content_filters: Vec<String>,
}

/// Body of unsubscribe-all.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllBody {
    request_id: String,
}

/// The answer to every subscription request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    request_id: String,
    status_desc: String,
}

type Reply = (StatusCode, Json<Answer>);

fn answer(request_id: String, reply: FilterReply) -> Reply {
    let http = match reply.status {
        status::OK => StatusCode::OK,
        status::BAD_REQUEST => StatusCode::BAD_REQUEST,
        status::NOT_FOUND => StatusCode::NOT_FOUND,
        status::TOO_MANY_REQUESTS => StatusCode::TOO_MANY_REQUESTS,
        status::SERVICE_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        filter_client::DIAL_FAILURE => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (http, Json(Answer { request_id, status_desc: reply.desc }))
}

fn bad_request(request_id: &str, desc: impl std::fmt::Display) -> Reply {
    answer(request_id.to_owned(), FilterReply { status: status::BAD_REQUEST, desc: format!("BAD_REQUEST: {desc}") })
}

fn no_service(request_id: String) -> Reply {
    let desc = "No suitable service peer & no discovery method: start the node with --filter-node".to_owned();
    answer(request_id, FilterReply { status: status::SERVICE_UNAVAILABLE, desc })
}

fn decode<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Reply> {
    body.map(|Json(b)| b).map_err(|e| bad_request("unknown", format!("Failed to decode request: {}", e.body_text())))
}

/// The pubsub topic each content topic goes on: the given one, else its autoshard.
fn criteria(state: &AppState, body: &SubscribeBody) -> Result<BTreeMap<String, Vec<String>>, String> {
    if body.content_filters.is_empty() {
        return Err("Failed to decode request: Field `contentFilters` is empty".into());
    }
    let mut by_topic: BTreeMap<String, Vec<String>> = BTreeMap::new();
    match body.pubsub_topic.as_deref().filter(|t| !t.is_empty()) {
        Some(topic) => {
            by_topic.insert(topic.to_owned(), body.content_filters.clone());
        }
        None => {
            for raw in &body.content_filters {
                let topic: ContentTopic = raw.parse().map_err(|e| format!("content topic {raw:?}: {e}"))?;
                let pubsub = topic.pubsub_topic(state.cluster_id, state.num_shards).map_err(|e| e.to_string())?;
                by_topic.entry(pubsub.to_string()).or_default().push(raw.clone());
            }
        }
    }
    Ok(by_topic)
}

async fn change(state: &AppState, body: Result<Json<SubscribeBody>, JsonRejection>, subscribe: bool) -> Reply {
    let body = match decode(body) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let Some(client) = &state.filter else { return no_service(body.request_id) };
    let groups = match criteria(state, &body) {
        Ok(g) => g,
        Err(desc) => return bad_request(&body.request_id, desc),
    };
    for (pubsub_topic, content_topics) in groups {
        let req = if subscribe {
            FilterRequest::Subscribe { pubsub_topic, content_topics }
        } else {
            FilterRequest::Unsubscribe { pubsub_topic, content_topics }
        };
        let reply = filter_client::send(&state.network, &client.node, &req).await;
        if reply.status != status::OK {
            return answer(body.request_id, reply);
        }
    }
    let mut cache = client.cache();
    if subscribe {
        if let Err(e) = cache.subscribe_content(&body.content_filters) {
            let desc = format!("subscribed on the filter node, but not kept for polling: {e}");
            return answer(body.request_id, FilterReply { status: status::SERVICE_UNAVAILABLE, desc });
        }
    } else {
        body.content_filters.iter().for_each(|t| cache.unsubscribe_content(t));
    }
    answer(body.request_id, FilterReply { status: status::OK, desc: "OK".into() })
}

/// `POST` and `PUT /filter/v2/subscriptions`: subscribe to content topics.
pub async fn subscribe(State(state): State<AppState>, body: Result<Json<SubscribeBody>, JsonRejection>) -> Reply {
    change(&state, body, true).await
}

/// `DELETE /filter/v2/subscriptions`: unsubscribe from content topics.
pub async fn unsubscribe(State(state): State<AppState>, body: Result<Json<SubscribeBody>, JsonRejection>) -> Reply {
    change(&state, body, false).await
}

/// `DELETE /filter/v2/subscriptions/all`: unsubscribe from everything.
pub async fn unsubscribe_all(State(state): State<AppState>, body: Result<Json<AllBody>, JsonRejection>) -> Reply {
    let body = match decode(body) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let Some(client) = &state.filter else { return no_service(body.request_id) };
    let reply = filter_client::send(&state.network, &client.node, &FilterRequest::UnsubscribeAll).await;
    if reply.status == status::OK {
        client.cache().clear();
    }
    answer(body.request_id, reply)
}

/// `GET /filter/v2/subscriptions/{requestId}`: whether the service node still holds ours.
pub async fn ping(State(state): State<AppState>, request_id: Option<Path<String>>) -> Reply {
    let request_id = request_id.map(|Path(id)| id).unwrap_or_default();
    let Some(client) = &state.filter else { return no_service(request_id) };
    answer(request_id, filter_client::send(&state.network, &client.node, &FilterRequest::Ping).await)
}

/// `GET /filter/v2/messages/{contentTopic}`: drains the pushed messages of a subscribed content topic.
pub async fn messages(
    State(state): State<AppState>,
    Path(content_topic): Path<String>,
) -> Result<Json<Vec<MessageJson>>, ApiError> {
    state
        .filter
        .as_ref()
        .and_then(|client| client.cache().take_content(&content_topic))
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(format!("Not subscribed to topic: {content_topic}")))
}
