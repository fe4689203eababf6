//! The WalletConnect relay methods, with the hosted relay's limits: topics of
//! 64 hex characters, TTLs within bounds, batches of at most 500, a message
//! size cap. Unknown param keys (TVF fields, `correlationId`, …) are accepted
//! and ignored.

use serde_json::{Map, Value, json};

use super::mailbox::MAX_TTL;
use super::message::{WcMessage, publisher_key, valid_topic};
use crate::bridge::hub::relay_message;
use crate::bridge::jsonrpc::{self, RpcError, code};
use crate::bridge::session::Session;
use crate::p2p::{NoPeers, PublishError};
use crate::publish::PublishFailure;
use crate::waku::time::now_ms;
use heliograph_wc_wire::Method;

/// Most topics or messages in one batch call.
pub const MAX_BATCH: usize = heliograph_wc_wire::method::BATCH_LIMIT;
/// Shortest TTL accepted, in seconds.
pub const MIN_TTL: u64 = 10;
/// Largest message (the base64 envelope), in bytes: it must fit a Waku message.
pub const MAX_MESSAGE_LEN: usize = 140 * 1024;
/// TTL of `wc_proposeSession` / `wc_approveSession` messages when none is given.
const SESSION_TTL: u32 = 300;
/// Bytes of a fetch response besides its messages: the JSON-RPC frame, the id, `hasMore`.
const RESPONSE_OVERHEAD: usize = 512;
/// TTL of `irn_publish` when none is given (the client's default).
const DEFAULT_TTL: u32 = 21_600;

/// Runs `method`: a relay method, or one of the bridge's WalletConnect session helpers.
pub async fn call(session: &mut Session, method: &str, params: Value) -> Result<Value, RpcError> {
    // `irn_subscription` goes from the relay to clients only.
    let relay = Method::from_name(method).filter(|m| *m != Method::Subscription);
    if relay.is_none() && !matches!(method, "wc_proposeSession" | "wc_approveSession") {
        return Err(not_found(method));
    }
    let client = session.client_id()?;
    let params = jsonrpc::params_object(params)?;
    match (relay, method) {
        (Some(Method::Publish), _) => {
            publish_params(session, &client, &params, DEFAULT_TTL).await?;
            Ok(Value::Bool(true))
        }
        (Some(Method::BatchPublish), _) => {
            let messages = batch(&params, "messages")?;
            for message in messages {
                let message = jsonrpc::params_object(message.clone())?;
                publish_params(session, &client, &message, DEFAULT_TTL).await?;
            }
            Ok(Value::Bool(true))
        }
        (Some(Method::Subscribe), _) => subscribe(session, &client, &topic(&params, "topic")?).await.map(Value::String),
        (Some(Method::BatchSubscribe), _) => {
            let topics = topics(&params)?;
            let mut ids = Vec::with_capacity(topics.len());
            for topic in topics {
                ids.push(Value::String(subscribe(session, &client, &topic).await?));
            }
            Ok(Value::Array(ids))
        }
        (Some(Method::Unsubscribe), _) => {
            unsubscribe(session, &topic(&params, "topic")?);
            Ok(Value::Bool(true))
        }
        (Some(Method::BatchUnsubscribe), _) => {
            let items = batch(&params, "subscriptions")?;
            for item in items {
                let item = jsonrpc::params_object(item.clone())?;
                unsubscribe(session, &topic(&item, "topic")?);
            }
            Ok(Value::Bool(true))
        }
        (Some(Method::FetchMessages), _) => fetch(session, &client, &[topic(&params, "topic")?]).await,
        (Some(Method::BatchFetchMessages), _) => fetch(session, &client, &topics(&params)?).await,
        (None, "wc_proposeSession") => {
            let pairing = topic(&params, "pairingTopic")?;
            let proposal = jsonrpc::string(&params, "sessionProposal")?;
            let ttl = ttl(&params, SESSION_TTL)?;
            subscribe(session, &client, &pairing).await?;
            publish(session, &client, pairing, proposal, 1100, ttl).await?;
            Ok(Value::Bool(true))
        }
        (None, "wc_approveSession") => {
            let pairing = topic(&params, "pairingTopic")?;
            let session_topic = topic(&params, "sessionTopic")?;
            let response = jsonrpc::string(&params, "sessionProposalResponse")?;
            let settle = jsonrpc::string(&params, "sessionSettlementRequest")?;
            let ttl = ttl(&params, SESSION_TTL)?;
            subscribe(session, &client, &session_topic).await?;
            publish(session, &client, pairing, response, 1101, ttl).await?;
            publish(session, &client, session_topic, settle, 1102, ttl).await?;
            Ok(Value::Bool(true))
        }
        _ => Err(not_found(method)),
    }
}

fn not_found(method: &str) -> RpcError {
    RpcError::new(
        code::METHOD_NOT_FOUND,
        format!("unknown method {method}; the bridge serves waku_* and the WalletConnect irn_*/wc_* relay methods"),
    )
}

/// A WC topic param.
fn topic(params: &Map<String, Value>, key: &str) -> Result<String, RpcError> {
    let topic = jsonrpc::string(params, key)?;
    if !valid_topic(&topic) {
        return Err(RpcError::params(format!("{key} must be 64 hex characters (a 32-byte topic)")));
    }
    Ok(topic.to_ascii_lowercase())
}

/// A batch array of at most [`MAX_BATCH`] items.
fn batch<'a>(params: &'a Map<String, Value>, key: &str) -> Result<&'a Vec<Value>, RpcError> {
    match params.get(key) {
        Some(Value::Array(items)) if items.len() <= MAX_BATCH => Ok(items),
        Some(Value::Array(items)) => Err(RpcError::new(
            code::LIMIT_EXCEEDED,
            format!("{key} has {} items; at most {MAX_BATCH} per batch call", items.len()),
        )),
        Some(other) => Err(RpcError::params(format!("{key} must be an array, not {}", jsonrpc::type_name(other)))),
        None => Err(RpcError::params(format!("missing param {key}"))),
    }
}

fn topics(params: &Map<String, Value>) -> Result<Vec<String>, RpcError> {
    batch(params, "topics")?
        .iter()
        .map(|t| match t {
            Value::String(s) if valid_topic(s) => Ok(s.to_ascii_lowercase()),
            _ => Err(RpcError::params("topics must be 64-hex-character strings")),
        })
        .collect()
}

fn ttl(params: &Map<String, Value>, default: u32) -> Result<u32, RpcError> {
    let ttl = jsonrpc::opt_u64(params, "ttl")?.unwrap_or(u64::from(default));
    if !(MIN_TTL..=u64::from(MAX_TTL)).contains(&ttl) {
        return Err(RpcError::params(format!("ttl {ttl} is out of bounds: {MIN_TTL}..={MAX_TTL} seconds")));
    }
    u32::try_from(ttl).map_err(|_| RpcError::params("ttl too large"))
}

async fn publish_params(
    session: &mut Session,
    client: &str,
    params: &Map<String, Value>,
    default_ttl: u32,
) -> Result<(), RpcError> {
    let topic = topic(params, "topic")?;
    let message = jsonrpc::string(params, "message")?;
    let ttl = ttl(params, default_ttl)?;
    let tag = jsonrpc::opt_u64(params, "tag")?.unwrap_or(0);
    let tag = u32::try_from(tag).map_err(|_| RpcError::params("tag must fit 32 bits"))?;
    publish(session, client, topic, message, tag, ttl).await
}

/// Publishes a WC message into the mesh (and so the store and local subscribers).
async fn publish(
    session: &mut Session,
    client: &str,
    topic: String,
    message: String,
    tag: u32,
    ttl: u32,
) -> Result<(), RpcError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(RpcError::params(format!("message is {} bytes; at most {MAX_MESSAGE_LEN}", message.len())));
    }
    if message.is_empty() {
        return Err(RpcError::params("message must not be empty"));
    }
    let hub = session.hub.clone();
    // Clients re-send a timed-out publish with the same id: publishing it once is enough.
    if hub.wc_has_message(&topic, &message) {
        return Ok(());
    }
    let wc = WcMessage { topic, message, published_at: now_ms(), tag, ttl, publisher: publisher_key(client) };
    let relayed = relay_message(&hub, None, wc.to_waku())?;
    let hash = relayed.hash();
    let pubsub = relayed.pubsub_topic.clone();
    let topic = wc.topic.clone();
    // Kept before it is relayed: a message the mailbox has no room for is refused, not acknowledged and lost.
    hub.wc_accept(hash, wc).map_err(|e| RpcError::new(code::LIMIT_EXCEEDED, e.to_string()))?;
    let mut outcome = hub.publisher.publish(relayed.clone(), NoPeers::DeliverLocally).await;
    if matches!(outcome, Err(PublishFailure::Relay(PublishError::NotSubscribed(_)))) {
        if let Err(e) = hub.use_topic(session.conn, &pubsub).await {
            hub.wc_forget(&topic, &hash);
            return Err(e);
        }
        outcome = hub.publisher.publish(relayed, NoPeers::DeliverLocally).await;
    }
    let error = match outcome {
        Ok(_) | Err(PublishFailure::Relay(PublishError::Duplicate)) => return Ok(()),
        Err(PublishFailure::Relay(PublishError::Invalid(e))) => RpcError::params(e.to_string()),
        Err(e) => RpcError::internal(format!("publish failed, retry: {e}")),
    };
    hub.wc_forget(&topic, &hash);
    Err(error)
}

/// One page of the unacked messages of `topics`; `hasMore` asks for another call.
async fn fetch(session: &mut Session, client: &str, topics: &[String]) -> Result<Value, RpcError> {
    let budget = session.hub.config.max_response_bytes.saturating_sub(RESPONSE_OVERHEAD);
    let (messages, more) = session.hub.wc_fetch(client, topics, budget).await;
    Ok(json!({"messages": messages, "hasMore": more}))
}

async fn subscribe(session: &mut Session, client: &str, topic: &str) -> Result<String, RpcError> {
    if !session.wc_topics.contains(topic) {
        session.check_room(1)?;
        session.hub.charge_topic_bytes(session.conn, topic.len())?;
        // The shard of the topic must be relayed for messages from other nodes to arrive.
        let content = super::message::content_topic(topic);
        if let Ok(ct) = content.parse::<crate::waku::ContentTopic>() {
            let used = match session.hub.autoshard(&ct) {
                Ok(shard) => session.hub.use_topic(session.conn, &shard).await,
                Err(e) => Err(e),
            };
            if let Err(e) = used {
                session.hub.refund_topic_bytes(session.conn, topic.len());
                return Err(e);
            }
        }
        session.wc_topics.insert(topic.to_owned());
        session.hub.wc_subscribed();
    }
    Ok(session.hub.wc_subscribe(session.conn, client, topic).await)
}

fn unsubscribe(session: &mut Session, topic: &str) {
    if session.wc_topics.remove(topic) {
        session.hub.wc_unsubscribe(session.conn, topic);
        session.hub.refund_topic_bytes(session.conn, topic.len());
    }
}
