//! `GET /store/v3/messages`: store v3 queries over REST with nwaku's query
//! parameters and JSON shape, answered locally or by a peer (`peerAddr`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use base64::Engine;
use heliograph_proto::store::{StoreQueryRequest, StoreQueryResponse};
use libp2p::{Multiaddr, PeerId};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::store::query::{Query, response};
use crate::store::server::answer_query;
use crate::waku::addr::peer_of;
use crate::waku::json::MessageJson;

/// Reads a 32-byte hash given as hex (`0x` optional), as nwaku does, or as (url-safe)
/// base64; errors are worded as nwaku's.
fn parse_hash(raw: &str) -> Result<Vec<u8>, ApiError> {
    let raw = raw.trim();
    let base64 = || {
        let engines = [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE];
        engines.iter().find_map(|e| e.decode(raw).ok().filter(|b| b.len() == 32))
    };
    let digits = raw.strip_prefix("0x").unwrap_or(raw);
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return base64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Exception converting hex string to bytes: {bad} is not a hexadecimal character"
            ))
        });
    }
    match hex::decode(digits) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => base64().ok_or_else(|| {
            let len = digits.len() / 2;
            ApiError::bad_request(format!("waku message hash parsing error: invalid hash length: {len}"))
        }),
    }
}

/// Reads `peerAddr`: a multiaddr ending in `/p2p/<peer id>`, errors worded as nwaku's.
fn parse_peer_addr(raw: &str) -> Result<(Multiaddr, PeerId), ApiError> {
    let (addr, peer) = raw.rsplit_once("/p2p/").unwrap_or((raw, ""));
    let addr: Multiaddr = addr.parse().map_err(|e| match e {
        libp2p::multiaddr::Error::UnknownProtocolString(p) => {
            ApiError::bad_request(format!("Invalid MultiAddress: Unsupported protocol `{p}`"))
        }
        e => ApiError::bad_request(format!("Invalid MultiAddress: {e}")),
    })?;
    let peer: PeerId =
        peer.parse().map_err(|e| ApiError::bad_request(format!("Failed parsing remote peer info: {e}")))?;
    Ok((addr.with(libp2p::multiaddr::Protocol::P2p(peer)), peer))
}

/// Reads a boolean as nwaku does: case-insensitive `true`/`yes`/`on`/`1` or `false`/`no`/`off`/`0`.
fn parse_bool(params: &HashMap<String, String>, key: &str, default: bool) -> Result<bool, ApiError> {
    let Some(raw) = params.get(key).filter(|v| !v.is_empty()) else { return Ok(default) };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!("{key} must be true or false, not `{raw}`"))),
    }
}

/// A time bound in ns; like nwaku, zero or negative means "no bound".
fn parse_time(params: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    Ok(parse_int::<i64>(params, key)?.filter(|t| *t > 0))
}

/// The page size; like nwaku, a negative one is taken as the largest page.
fn parse_page_size(params: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    Ok(parse_int::<i64>(params, "pageSize")?.map(|n| u64::try_from(n).unwrap_or(u64::MAX)))
}

fn parse_int<T: std::str::FromStr>(params: &HashMap<String, String>, key: &str) -> Result<Option<T>, ApiError> {
    match params.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{key} must be an integer, not `{v}`")))
        }
    }
}

/// A comma-separated list; like nwaku, items are not trimmed (`" "` is a content topic).
fn list(params: &HashMap<String, String>, key: &str) -> Vec<String> {
    params.get(key).map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

fn request_from(params: &HashMap<String, String>) -> Result<StoreQueryRequest, ApiError> {
    Ok(StoreQueryRequest {
        request_id: params.get("requestId").cloned().unwrap_or_else(|| format!("rest-{}", rand::random::<u64>())),
        include_data: parse_bool(params, "includeData", false)?,
        pubsub_topic: params.get("pubsubTopic").filter(|t| !t.is_empty()).cloned(),
        content_topics: list(params, "contentTopics"),
        time_start: parse_time(params, "startTime")?,
        time_end: parse_time(params, "endTime")?,
        message_hashes: list(params, "hashes").iter().map(|h| parse_hash(h)).collect::<Result<_, _>>()?,
        pagination_cursor: params.get("cursor").filter(|c| !c.is_empty()).map(|c| parse_hash(c)).transpose()?,
        pagination_forward: parse_bool(params, "ascending", true)?,
        pagination_limit: parse_page_size(params)?,
    })
}

/// The JSON answer. As nwaku: a store node's answer is 200 whatever the store status in
/// the body (429 when it rate-limits); a local query that fails has that status.
fn to_json(res: StoreQueryResponse, remote: bool) -> (StatusCode, Json<Value>) {
    let code = res.status_code.unwrap_or(500);
    let http = match code {
        crate::store::query::status::TOO_MANY_REQUESTS => StatusCode::TOO_MANY_REQUESTS,
        _ if remote => StatusCode::OK,
        c => StatusCode::from_u16(u16::try_from(c).unwrap_or(500)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let messages: Vec<Value> = res
        .messages
        .iter()
        .map(|kv| {
            json!({
                "messageHash": kv.message_hash.as_ref().map(|h| format!("0x{}", hex::encode(h))),
                "message": kv.message.as_ref().map(MessageJson::from),
                "pubsubTopic": kv.pubsub_topic,
            })
        })
        .collect();
    let body = json!({
        "requestId": res.request_id,
        "statusCode": code,
        "statusDesc": res.status_desc.unwrap_or_default(),
        "messages": messages,
        "paginationCursor": res.pagination_cursor.map(|c| format!("0x{}", hex::encode(c))),
    });
    (http, Json(body))
}

/// `GET /store/v3/messages`.
pub async fn messages(
    State(state): State<AppState>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = request_from(&params)?;
    let remote = match params.get("peerAddr").filter(|a| !a.is_empty()) {
        Some(raw) => Some(parse_peer_addr(raw)?),
        // Without a store of its own the node asks its store node (nwaku's --storenode).
        None if state.store.is_none() => state.store_node.clone().and_then(|a| peer_of(&a).map(|p| (a, p))),
        None => None,
    };
    if let Some((addr, peer)) = remote {
        let failed = |e: String| ApiError::unavailable(format!("PEER_DIAL_FAILURE: store node {addr}: {e}"));
        state.network.dial(addr.clone()).await.map_err(failed)?;
        let res = state.network.store_query(peer, request).await.map_err(failed)?;
        return Ok(to_json(res, true));
    }
    let Some(store) = &state.store else {
        return Err(ApiError::precondition_failed(
            "No suitable service peer & no discovery method: this node has no store; give peerAddr or --store-node",
        ));
    };
    let (id, include) = (request.request_id.clone(), request.include_data);
    let res = match Query::from_request(request, store.max_page_size()) {
        Ok(query) => answer_query(store, query).await,
        Err(e) => response(id, include, Err(e)),
    };
    Ok(to_json(res, false))
}
