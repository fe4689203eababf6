//! Relay endpoints: subscriptions, publishing, and polling of cached messages,
//! by pubsub topic and by content topic (autosharding).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};

use super::AppState;
use super::error::ApiError;
use crate::p2p::{NoPeers, PublishOutcome};
use crate::publish::PublishFailure;
use crate::waku::json::MessageJson;
use crate::waku::{ContentTopic, PubsubTopic, RelayMessage};

/// Most topics in one subscription request.
const MAX_TOPICS_PER_REQUEST: usize = 100;

fn topics_body<T>(body: Result<Json<Vec<T>>, JsonRejection>) -> Result<Vec<T>, ApiError> {
    let Json(list) = body.map_err(|e| ApiError::bad_request(format!("expected a JSON list of topics: {e}")))?;
    // An empty list changes nothing and is answered OK, as nwaku does.
    if list.len() > MAX_TOPICS_PER_REQUEST {
        return Err(ApiError::bad_request(format!("give at most {MAX_TOPICS_PER_REQUEST} topics")));
    }
    Ok(list)
}

/// Parses a pubsub topic. Like nwaku, any cluster's topic may be subscribed to
/// and published on (publishing needs the subscription first).
fn pubsub_topic(raw: &str) -> Result<PubsubTopic, ApiError> {
    raw.parse().map_err(|e| ApiError::bad_request(format!("Invalid pubsub topic: {e}")))
}

fn content_topic(state: &AppState, raw: &str) -> Result<(ContentTopic, PubsubTopic), ApiError> {
    let topic: ContentTopic = raw.parse().map_err(|e| ApiError::bad_request(format!("{e}")))?;
    let pubsub =
        topic.pubsub_topic(state.cluster_id, state.num_shards).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((topic, pubsub))
}

/// `POST /relay/v1/subscriptions`: relay and cache these pubsub topics.
pub async fn subscribe(
    State(state): State<AppState>,
    body: Result<Json<Vec<String>>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let topics = topics_body(body)?.iter().map(|t| pubsub_topic(t)).collect::<Result<Vec<_>, _>>()?;
    state.cache().subscribe_pubsub(&topics).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for topic in topics {
        state.network.subscribe(topic).await.map_err(ApiError::bad_request)?;
    }
    Ok("OK")
}

/// `DELETE /relay/v1/subscriptions`: stop caching and relaying these topics (configured ones too, as nwaku).
pub async fn unsubscribe(
    State(state): State<AppState>,
    body: Result<Json<Vec<String>>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let topics = topics_body(body)?.iter().map(|t| pubsub_topic(t)).collect::<Result<Vec<_>, _>>()?;
    for topic in topics {
        state.cache().unsubscribe_pubsub(&topic);
        state.network.unsubscribe(topic).await;
    }
    Ok("OK")
}

/// `GET /relay/v1/messages/{topic}`: drains the cached messages of a subscribed topic.
pub async fn messages(
    State(state): State<AppState>,
    Path(topic): Path<String>,
) -> Result<Json<Vec<MessageJson>>, ApiError> {
    let topic = pubsub_topic(&topic)?;
    state.cache().take_pubsub(&topic).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("not subscribed to {topic}: POST it to /relay/v1/subscriptions first"))
    })
}

async fn publish_to(
    state: &AppState,
    topic: PubsubTopic,
    body: Result<Json<MessageJson>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let Json(json) =
        body.map_err(|e| ApiError::bad_request(format!("malformed message: {}", super::error::body_rejection(&e))))?;
    let message = json.into_message()?;
    if message.payload.is_empty() {
        return Err(ApiError::bad_request("Failed to publish: the message payload is empty"));
    }
    let message = RelayMessage::encode(topic, message).map_err(crate::p2p::PublishError::from)?;
    // With no relay peer on the topic a message still goes out when a filter
    // subscriber of this node wants it, or when configured to (nwaku's behaviour);
    // otherwise 503.
    let topic = message.pubsub_topic.to_string();
    let local = state.publish_without_peers || state.filter_hub.has_subscribers(&topic, &message.message.content_topic);
    let published = if local {
        state.publisher.publish(message, NoPeers::DeliverLocally).await
    } else {
        publish_soon(state, message).await
    };
    // 200 means relayed and, unless ephemeral, stored (durably per the store's mode).
    match published {
        Ok(_) => Ok("OK"),
        // Already relayed (and stored) once: nwaku answers a repeated publish with 200.
        Err(PublishFailure::Relay(crate::p2p::PublishError::Duplicate)) => Ok("OK"),
        Err(PublishFailure::Relay(e)) => Err(e.into()),
        Err(e @ PublishFailure::NotStored { .. }) => Err(ApiError::insufficient_storage(e.to_string())),
    }
}

/// How long a publish waits for a relay peer on its topic: right after a (re)subscription
/// the peers' subscription announcements are still on their way.
const PEER_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Publishes, retrying for up to [`PEER_GRACE`] while no relay peer is on the topic.
async fn publish_soon(state: &AppState, message: RelayMessage) -> Result<PublishOutcome, PublishFailure> {
    let deadline = tokio::time::Instant::now() + PEER_GRACE;
    loop {
        match state.publisher.publish(message.clone(), NoPeers::Fail).await {
            Err(PublishFailure::Relay(crate::p2p::PublishError::NoPeers(_)))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            outcome => return outcome,
        }
    }
}

/// `POST /relay/v1/messages/{topic}`: publishes a message on a relayed pubsub topic.
pub async fn publish(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    body: Result<Json<MessageJson>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let topic = pubsub_topic(&topic)?;
    publish_to(&state, topic, body).await
}

/// `POST /relay/v1/auto/subscriptions`: relay and cache these content topics.
pub async fn auto_subscribe(
    State(state): State<AppState>,
    body: Result<Json<Vec<String>>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let raw = topics_body(body)?;
    let parsed = raw.iter().map(|t| content_topic(&state, t)).collect::<Result<Vec<_>, _>>()?;
    state.cache().subscribe_content(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for (_, pubsub) in parsed {
        state.network.subscribe(pubsub).await.map_err(ApiError::bad_request)?;
    }
    Ok("OK")
}

/// `DELETE /relay/v1/auto/subscriptions`: stop caching these content topics.
pub async fn auto_unsubscribe(
    State(state): State<AppState>,
    body: Result<Json<Vec<String>>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    for raw in topics_body(body)? {
        content_topic(&state, &raw)?;
        state.cache().unsubscribe_content(&raw);
    }
    Ok("OK")
}

/// `GET /relay/v1/auto/messages/{contentTopic}`: drains the cached messages of a content topic.
pub async fn auto_messages(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Vec<MessageJson>>, ApiError> {
    content_topic(&state, &raw)?;
    state.cache().take_content(&raw).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("not subscribed to {raw}: POST it to /relay/v1/auto/subscriptions first"))
    })
}

/// `POST /relay/v1/auto/messages`: publishes on the shard of the message's content topic.
pub async fn auto_publish(
    State(state): State<AppState>,
    body: Result<Json<MessageJson>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let Json(json) =
        body.map_err(|e| ApiError::bad_request(format!("malformed message: {}", super::error::body_rejection(&e))))?;
    let raw = json.content_topic.clone().ok_or_else(|| ApiError::bad_request("contentTopic is required"))?;
    let (_, pubsub) = content_topic(&state, &raw)?;
    publish_to(&state, pubsub, Ok(Json(json))).await
}

/// `POST /relay/v1/auto/messages/{contentTopic}`: the same, with the content topic in the path.
pub async fn auto_publish_to(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Result<Json<MessageJson>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let Json(mut json) =
        body.map_err(|e| ApiError::bad_request(format!("malformed message: {}", super::error::body_rejection(&e))))?;
    match &json.content_topic {
        Some(t) if t != &raw => {
            return Err(ApiError::bad_request(format!("contentTopic {t} differs from the path's {raw}")));
        }
        _ => json.content_topic = Some(raw.clone()),
    }
    let (_, pubsub) = content_topic(&state, &raw)?;
    publish_to(&state, pubsub, Ok(Json(json))).await
}
