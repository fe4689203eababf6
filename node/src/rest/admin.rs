//! Debug, admin (peers, log level) and metrics endpoints (health is [`super::health`]).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use libp2p::Multiaddr;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

/// `GET /debug/v1/info`: listen addresses and ENR.
pub async fn info(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let info = state.network.info().await.ok_or_else(|| ApiError::unavailable("the node is shutting down"))?;
    Ok(Json(json!({
        "listenAddresses": info.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "enrUri": info.enr,
        "peerId": info.peer_id.to_string(),
        "pubsubTopics": info.topics.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })))
}

/// `GET /debug/v1/version`.
pub async fn version() -> String {
    format!("heliograph-v{}", env!("CARGO_PKG_VERSION"))
}

/// `GET /admin/v1/peers`: connected peers with address and protocols.
pub async fn peers(State(state): State<AppState>) -> Json<Value> {
    let mut peers = state.network.peers().await;
    peers.sort_by_key(|p| p.peer_id.to_string());
    Json(Value::Array(
        peers
            .into_iter()
            .map(|p| {
                json!({
                    "multiaddr": p.addr.with(libp2p::multiaddr::Protocol::P2p(p.peer_id)).to_string(),
                    "peerId": p.peer_id.to_string(),
                    "protocols": p.protocols,
                    "connected": true,
                    "direction": if p.outbound { "outbound" } else { "inbound" },
                    "agent": p.agent,
                    "pubsubTopics": p.topics,
                    "meshTopics": p.mesh,
                })
            })
            .collect(),
    ))
}

/// `POST /admin/v1/peers`: dials each multiaddr and waits for the outcome.
pub async fn connect(
    State(state): State<AppState>,
    body: Result<Json<Vec<String>>, JsonRejection>,
) -> Result<&'static str, ApiError> {
    let Json(addrs) = body.map_err(|e| ApiError::bad_request(format!("expected a JSON list of multiaddrs: {e}")))?;
    if addrs.is_empty() || addrs.len() > 64 {
        return Err(ApiError::bad_request("give between 1 and 64 multiaddrs"));
    }
    let parsed = addrs
        .iter()
        .map(|a| a.parse::<Multiaddr>().map_err(|e| ApiError::bad_request(format!("`{a}` is not a multiaddr: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let dials = parsed.into_iter().map(|addr| {
        let network = state.network.clone();
        async move { (addr.clone(), network.dial(addr).await) }
    });
    let failures: Vec<String> = futures::future::join_all(dials)
        .await
        .into_iter()
        .filter_map(|(addr, r)| r.err().map(|e| format!("{addr}: {e}")))
        .collect();
    if failures.is_empty() {
        Ok("OK")
    } else {
        Err(ApiError::bad_request(format!("Failed to connect to peers: {}", failures.join("; "))))
    }
}

/// `GET /metrics`: Prometheus text format (when `metrics.addr` does not serve it elsewhere).
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = crate::metrics::encode(&state.registry)
        .map_err(|e| ApiError::unavailable(format!("cannot encode metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text))
}

/// `POST /admin/v1/log-level/{level}`: replaces the log filter by `level` for every target.
pub async fn log_level(Path(level): Path<String>) -> Result<String, ApiError> {
    match crate::logging::set_level(&level) {
        Ok(level) => Ok(format!("log level set to {level}")),
        Err(e @ crate::logging::LogError::Level(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}
