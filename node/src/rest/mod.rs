//! The nwaku-compatible REST API (axum): health, debug, admin, relay, store,
//! lightpush, filter (as a client of a filter node) and Prometheus metrics
//! (unless `metrics.addr` gives them a listener of their own).
//! [`app`] builds the router; [`serve`] runs it until shutdown.

mod admin;
mod bridge_tokens;
pub mod cache;
pub mod error;
pub mod filter;
mod guard;
pub mod health;
mod lightpush;
mod openapi;
mod relay;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::config::Config;
use crate::metrics::NodeMetrics;
use crate::p2p::NetworkHandle;
use cache::RelayCache;

/// Largest request body: one maximal message in base64 JSON, with room to spare.
const MAX_BODY: usize = 512 * 1024;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The swarm task.
    pub network: NetworkHandle,
    /// REST polling caches.
    pub cache: Arc<Mutex<RelayCache>>,
    /// Prometheus registry for `/metrics`.
    pub registry: Arc<Registry>,
    /// Node metrics.
    pub metrics: NodeMetrics,
    /// The message store, if the node has one.
    pub store: Option<crate::store::Store>,
    /// Relays, then stores, what REST clients publish.
    pub publisher: crate::publish::Publisher,
    /// Cluster id, for topic checks.
    pub cluster_id: u16,
    /// Shards in the cluster, for autosharding.
    pub num_shards: u16,
    /// Folder served under `/demo/`, if any.
    pub static_dir: Option<std::path::PathBuf>,
    /// The bridge's access tokens, if the bridge is on.
    pub bridge_tokens: Option<Arc<crate::bridge::tokens::Tokens>>,
    /// The lightpush service node REST lightpushes go through, if one is configured.
    pub lightpush_node: Option<libp2p::Multiaddr>,
    /// Answer publishes that reach no relay peer with 200 (`rest.publish_without_peers`).
    pub publish_without_peers: bool,
    /// This node's filter subscribers (as a filter service node).
    pub filter_hub: Arc<crate::light::FilterHub>,
    /// The store node REST queries go to when this node has no store, if configured.
    pub store_node: Option<libp2p::Multiaddr>,
    /// The filter client of the `/filter/v2/*` routes, if a filter node is configured.
    pub filter: Option<filter::FilterClient>,
    /// What `/health` and `/readyz` check.
    pub health: health::Checks,
}

impl AppState {
    /// Locks the cache; a poisoned lock still holds consistent queues.
    fn cache(&self) -> std::sync::MutexGuard<'_, RelayCache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The REST router, behind `guard`; with `/metrics` unless the metrics have a listener of their own.
fn app(state: AppState, guard: Arc<guard::Guard>, with_metrics: bool) -> Router {
    let router = match &state.static_dir {
        Some(dir) => Router::new().nest_service("/demo", tower_http::services::ServeDir::new(dir)),
        None => Router::new(),
    };
    let router = if with_metrics {
        router
            // One `.route(` a line: the OpenAPI test reads them.
            .route("/metrics", get(admin::metrics))
    } else {
        router
    };
    router
        .route("/health", get(health::health))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/debug/v1/info", get(admin::info))
        .route("/debug/v1/version", get(admin::version))
        .route("/admin/v1/peers", get(admin::peers).post(admin::connect))
        .route("/admin/v1/log-level/{level}", post(admin::log_level))
        .route("/relay/v1/subscriptions", post(relay::subscribe).delete(relay::unsubscribe))
        .route("/relay/v1/messages/{topic}", get(relay::messages).post(relay::publish))
        .route("/relay/v1/auto/subscriptions", post(relay::auto_subscribe).delete(relay::auto_unsubscribe))
        .route("/relay/v1/auto/messages", post(relay::auto_publish))
        .route("/relay/v1/auto/messages/{content_topic}", get(relay::auto_messages).post(relay::auto_publish_to))
        .route("/store/v3/messages", get(store::messages))
        .route("/lightpush/v3/message", post(lightpush::push))
        .route("/lightpush/v1/message", post(lightpush::push_legacy))
        .route("/filter/v2/subscriptions", post(filter::subscribe).put(filter::subscribe).delete(filter::unsubscribe))
        .route("/filter/v2/subscriptions/all", delete(filter::unsubscribe_all))
        .route("/filter/v2/subscriptions/", get(filter::ping))
        .route("/filter/v2/subscriptions/{request_id}", get(filter::ping))
        .route("/filter/v2/messages/{content_topic}", get(filter::messages))
        .route("/bridge/v1/tokens", post(bridge_tokens::issue))
        .route("/bridge/v1/tokens/{id}", delete(bridge_tokens::revoke))
        .route("/bridge/v1/tokens/{id}/refresh", post(bridge_tokens::refresh))
        .route("/openapi.json", get(openapi::document))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(request_timeout))
        .layer(middleware::from_fn_with_state(guard, guard::gate))
        .with_state(state)
}

/// Fills the REST caches from the node's relayed messages until shutdown.
pub fn spawn_cache_filler(state: &AppState, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    let mut messages = state.network.messages();
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                received = messages.recv() => match received {
                    Ok(message) => {
                        let evicted = state.cache().push(&message);
                        for _ in 0..evicted {
                            state.metrics.dropped("rest_cache_full");
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "REST cache fell behind the relay");
                        state.metrics.messages_dropped
                            .get_or_create(&crate::metrics::ReasonLabel { reason: "rest_cache_lagged".into() })
                            .inc_by(n);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    })
}

/// Binds the REST listener; returns the bound address and the serving task.
/// `admin` is the admin secret (see [`crate::config::RestConfig::admin_secret`]);
/// refused connections are counted in `refused`.
pub async fn serve(
    config: &Config,
    state: AppState,
    admin: Option<&crate::config::Secret>,
    refused: crate::http_server::Refused,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(config.rest.addr).await?;
    let addr = listener.local_addr()?;
    info!(%addr, admin_secret = admin.is_some(), "REST API listening");
    let router = app(state, guard::Guard::new(&config.rest, admin, addr), config.metrics.addr.is_none());
    let limits = crate::http_server::Limits {
        header_timeout: config.rest.header_timeout,
        max_per_ip: config.rest.max_connections_per_ip,
        uncapped: Vec::new(),
        refused,
    };
    let task =
        tokio::spawn(crate::http_server::run(listener, router, limits, shutdown).instrument(info_span!("rest", %addr)));
    Ok((addr, task))
}

/// Requests taking longer than this are cut off (a dial waits on the network).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn request_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::unavailable("request timed out").into_response(),
    }
}
