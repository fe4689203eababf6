//! The `waku_*` JSON-RPC methods: subscribe to content topics and get
//! `waku_subscription` notifications, publish into the mesh and the store,
//! page through the store, and read node info. See docs/bridge.md.

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::hub::relay_message;
use super::jsonrpc::{self, RpcError, code};
use super::session::{Session, WakuSubscription};
use crate::p2p::{NoPeers, PublishError};
use crate::publish::PublishFailure;
use crate::store::MessageHash;
use crate::store::query::{DEFAULT_PAGE_SIZE, MAX_QUERY_ITEMS, Page, Query};
use crate::waku::json::MessageJson;
use crate::waku::{ContentTopic, PubsubTopic};

/// Bytes of a history response besides its messages: the JSON-RPC frame, the id, the cursor.
const HISTORY_OVERHEAD: usize = 512;

/// Runs `method`.
pub async fn call(session: &mut Session, method: &str, params: Value) -> Result<Value, RpcError> {
    let params = jsonrpc::params_object(params)?;
    match method {
        "waku_subscribe" => subscribe(session, &params).await,
        "waku_unsubscribe" => unsubscribe(session, &params),
        "waku_history" => history(session, &params).await,
        "waku_info" => info(session).await,
        other => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!(
                "unknown method {other}; waku methods: waku_subscribe, waku_unsubscribe, waku_publish, waku_history, waku_info"
            ),
        )),
    }
}

fn content_topics(params: &Map<String, Value>) -> Result<Vec<String>, RpcError> {
    let topics = jsonrpc::strings(params, "contentTopics")?;
    if topics.is_empty() {
        return Err(RpcError::params("contentTopics must name at least one content topic"));
    }
    for topic in &topics {
        topic.parse::<ContentTopic>().map_err(|e| RpcError::params(format!("contentTopics: {e}")))?;
    }
    Ok(topics)
}

fn pubsub_topic(params: &Map<String, Value>) -> Result<Option<String>, RpcError> {
    match params.get("pubsubTopic") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            s.parse::<PubsubTopic>().map_err(|e| RpcError::params(format!("pubsubTopic: {e}")))?;
            Ok(Some(s.clone()))
        }
        Some(other) => {
            Err(RpcError::params(format!("pubsubTopic must be a string, not {}", jsonrpc::type_name(other))))
        }
    }
}

async fn subscribe(session: &mut Session, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let mut topics = content_topics(params)?;
    topics.sort();
    topics.dedup();
    let pubsub = pubsub_topic(params)?;
    session.check_room(topics.len())?;
    // Make sure the node relays the shards (or the named topic) the subscription needs,
    // within what bridge clients may use.
    let mut needed: Vec<PubsubTopic> = match &pubsub {
        Some(p) => vec![p.parse().map_err(|e| RpcError::params(format!("pubsubTopic: {e}")))?],
        None => topics
            .iter()
            .map(|t| {
                t.parse::<ContentTopic>()
                    .map_err(|e| RpcError::params(e.to_string()))
                    .and_then(|c| session.hub.autoshard(&c))
            })
            .collect::<Result<_, _>>()?,
    };
    needed.sort();
    needed.dedup();
    for topic in &needed {
        session.hub.allow_topic(topic)?;
    }
    // The hub keeps each content topic, and the pubsub topic with each when one is named.
    let bytes = topics.iter().map(|t| t.len() + pubsub.as_ref().map_or(0, String::len)).sum();
    session.hub.charge_topic_bytes(session.conn, bytes)?;
    for topic in &needed {
        if let Err(e) = session.hub.use_topic(session.conn, topic).await {
            session.hub.refund_topic_bytes(session.conn, bytes);
            return Err(e);
        }
    }
    let id = hex::encode(rand::random::<[u8; 16]>());
    session.hub.waku_subscribe(session.conn, &id, &topics, pubsub);
    session.waku_subs.insert(id.clone(), WakuSubscription { content_topics: topics, bytes });
    Ok(Value::String(id))
}

fn unsubscribe(session: &mut Session, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let id = jsonrpc::string(params, "subscription")?;
    let Some(sub) = session.waku_subs.remove(&id) else {
        return Ok(Value::Bool(false));
    };
    session.hub.waku_unsubscribe(session.conn, &id, &sub.content_topics);
    session.hub.refund_topic_bytes(session.conn, sub.bytes);
    Ok(Value::Bool(true))
}

/// The result of a `waku_publish` the swarm task has queued, once it is relayed.
pub type PendingResult = BoxFuture<'static, Result<Value, RpcError>>;

/// Starts a `waku_publish`: checks and queues the message in the swarm task (so
/// publishes on one connection keep their order) and returns its result to come.
/// The connection can read its next request meanwhile.
pub async fn start_publish(session: &Session, params: Value) -> Result<PendingResult, RpcError> {
    let mut params = jsonrpc::params_object(params)?;
    let pubsub = pubsub_topic(&params)?;
    let message = params.remove("message").ok_or_else(|| RpcError::params("missing param message"))?;
    let message: MessageJson =
        serde_json::from_value(message).map_err(|e| RpcError::params(format!("message: {e}")))?;
    let mut message = message.into_message().map_err(|e| RpcError::params(e.to_string()))?;
    if message.timestamp.is_none() {
        message.timestamp = Some(crate::waku::time::now_ns());
    }
    let relayed = relay_message(&session.hub, pubsub.as_deref(), message)?;
    let hash = relayed.hash();
    let outcome = session.hub.publisher.queue(relayed, NoPeers::DeliverLocally).await.map_err(publish_error)?;
    Ok(async move {
        let outcome = outcome.await.map_err(|e| match e {
            PublishFailure::Relay(e) => publish_error(e),
            e @ PublishFailure::NotStored { .. } => RpcError::internal(e.to_string()),
        })?;
        Ok(json!({"hash": format!("0x{}", hex::encode(hash)), "relayPeers": outcome.relay_peers}))
    }
    .boxed())
}

fn publish_error(error: PublishError) -> RpcError {
    match error {
        PublishError::Invalid(e) => RpcError::params(e.to_string()),
        PublishError::NotSubscribed(t) => {
            RpcError::params(format!("this node does not relay {t}; waku_subscribe to a content topic on it first"))
        }
        e => RpcError::internal(format!("publish failed: {e}")),
    }
}

async fn history(session: &mut Session, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let Some(store) = session.hub.store.clone() else {
        return Err(RpcError::internal("this node has no message store"));
    };
    let topics = content_topics(params)?;
    if topics.len() > MAX_QUERY_ITEMS {
        return Err(RpcError::params(format!("at most {MAX_QUERY_ITEMS} content topics per history query")));
    }
    let pubsub = match pubsub_topic(params)? {
        Some(p) => p,
        None => {
            let shards: Vec<PubsubTopic> = topics
                .iter()
                .map(|t| {
                    t.parse::<ContentTopic>()
                        .map_err(|e| RpcError::params(e.to_string()))
                        .and_then(|c| session.hub.autoshard(&c))
                })
                .collect::<Result<_, _>>()?;
            if shards.iter().any(|s| *s != shards[0]) {
                return Err(RpcError::params(
                    "content topics on different shards: query them one pubsubTopic at a time",
                ));
            }
            shards[0].to_string()
        }
    };
    session.hub.allow_topic(&pubsub.parse().map_err(|e| RpcError::params(format!("pubsubTopic: {e}")))?)?;
    let int = |key: &str| -> Result<Option<i64>, RpcError> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                n.as_i64().map(Some).ok_or_else(|| RpcError::params(format!("{key} must be an integer (ns)")))
            }
            Some(other) => {
                Err(RpcError::params(format!("{key} must be an integer, not {}", jsonrpc::type_name(other))))
            }
        }
    };
    let cursor = match params.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => {
            let bytes = hex::decode(c.trim_start_matches("0x"))
                .map_err(|_| RpcError::params("cursor must be a 0x hex hash"))?;
            Some(<[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| RpcError::params("cursor must be 32 bytes"))?)
        }
        Some(other) => {
            return Err(RpcError::params(format!("cursor must be a string, not {}", jsonrpc::type_name(other))));
        }
    };
    let ascending = match params.get("ascending") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(RpcError::params(format!("ascending must be a boolean, not {}", jsonrpc::type_name(other))));
        }
    };
    let page_size =
        jsonrpc::opt_u64(params, "pageSize")?.map_or(DEFAULT_PAGE_SIZE, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let (start, end) = (int("startTime")?, int("endTime")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(RpcError::params("startTime is after endTime"));
    }
    let query = Query {
        request_id: String::new(),
        include_data: true,
        pubsub_topic: Some(pubsub),
        content_topics: topics,
        time_start: start,
        time_end: end,
        hashes: Vec::new(),
        cursor,
        forward: ascending,
        limit: page_size.clamp(1, store.max_page_size()),
    };
    let page = store.query(query).await.map_err(|e| RpcError::params(e.to_string()))?;
    let budget = session.hub.config.max_response_bytes.saturating_sub(HISTORY_OVERHEAD);
    let (messages, cursor) = fit_history(page, ascending, budget);
    Ok(json!({"messages": messages, "cursor": cursor.map(|c| format!("0x{}", hex::encode(c)))}))
}

/// The JSON of a history page, cut at the far end (the newest messages going
/// forward, the oldest going back) until it fits `max_bytes`, with the cursor
/// moved to the last message kept when it is cut. At least one message is kept.
fn fit_history(page: Page, forward: bool, max_bytes: usize) -> (Vec<Value>, Option<MessageHash>) {
    let json: Vec<(MessageHash, Value)> = page
        .messages
        .iter()
        .map(|m| {
            let value = json!({
                "hash": format!("0x{}", hex::encode(m.hash)),
                "pubsubTopic": m.pubsub_topic,
                "message": MessageJson::from(&m.message),
            });
            (m.hash, value)
        })
        .collect();
    // Pages list messages oldest first in both directions; the near end is where the cursor came from.
    let near_first: Vec<usize> = if forward { (0..json.len()).collect() } else { (0..json.len()).rev().collect() };
    let mut bytes = 0;
    let mut kept = 0;
    for &i in &near_first {
        let len = json[i].1.to_string().len() + 1;
        if kept > 0 && bytes + len > max_bytes {
            break;
        }
        bytes += len;
        kept += 1;
    }
    if kept == json.len() {
        return (json.into_iter().map(|(_, v)| v).collect(), page.cursor);
    }
    let cursor = json[near_first[kept - 1]].0;
    let skip = if forward { 0 } else { json.len() - kept };
    (json.into_iter().skip(skip).take(kept).map(|(_, v)| v).collect(), Some(cursor))
}

async fn info(session: &mut Session) -> Result<Value, RpcError> {
    let info = session.hub.network.info().await.ok_or_else(|| RpcError::internal("the node is shutting down"))?;
    let peers = session.hub.network.peers().await.len();
    Ok(json!({
        "peerId": info.peer_id.to_string(),
        "listenAddresses": info.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "enrUri": info.enr,
        "pubsubTopics": info.topics.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "peers": peers,
        "store": session.hub.store.is_some(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
