//! The metrics listener (`metrics.addr`): `GET /metrics` alone, in plain HTTP,
//! on an address of its own, so Prometheus can reach it without reaching the
//! REST API (which mints tokens and dials peers). It runs on
//! [`crate::http_server`] with the REST listener's header timeout and per-IP
//! cap, and checks `Host` as REST does (loopback names, the bound address and
//! `metrics.allowed_hosts`), so a page that rebinds a name to this node
//! cannot read it. There is no credential: bind it where only the scraper
//! reaches it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span};

use crate::access::AllowLists;
use crate::config::Config;
use crate::http_server::{Limits, Refusals};

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    match crate::metrics::encode(&registry) {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("cannot encode metrics: {e}")).into_response(),
    }
}

async fn check_host(State(allow): State<Arc<AllowLists>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    match allow.check_host(host) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            debug!(error = %e, "metrics request refused");
            (StatusCode::FORBIDDEN, e.to_string()).into_response()
        }
    }
}

/// Binds `addr` and serves the registry there until `shutdown`; returns the bound address and the task.
pub async fn serve(
    addr: SocketAddr,
    config: &Config,
    registry: Arc<Registry>,
    refusals: &Refusals,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "metrics listening");
    let allow = Arc::new(AllowLists::new("metrics", &config.metrics.allowed_hosts, &[]).with_bound(addr.ip()));
    let router = Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry)
        .layer(middleware::from_fn_with_state(allow, check_host));
    let limits = Limits {
        header_timeout: config.rest.header_timeout,
        max_per_ip: config.rest.max_connections_per_ip,
        uncapped: Vec::new(),
        refused: refusals.listener("metrics"),
    };
    let task = tokio::spawn(
        crate::http_server::run(listener, router, limits, shutdown).instrument(info_span!("metrics", %addr)),
    );
    Ok((addr, task))
}
