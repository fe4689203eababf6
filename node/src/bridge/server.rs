//! The bridge's WebSocket listener (axum over [`crate::http_server`], which
//! times out slow handshakes and caps connections per IP): checks Host and
//! Origin, verifies the WalletConnect auth JWT when one is given, enforces the
//! connection cap, takes the client IP (behind trusted proxies, from their
//! headers), then hands the socket to [`pump`](super::pump::pump).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Extension, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span};

use super::client_ip::client_ip;
use super::hub::Hub;
use super::pump::pump;
use super::session::{Session, verify_token};
use super::tokens::TokenError;
use super::walletconnect::auth;
use crate::http_server::{self, IpSlot, Limits};

/// Initial read buffer of a connection (tungstenite's default is 128 KiB); larger frames grow it.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes of frames the socket buffers before writing without a flush (tungstenite's default is 128 KiB).
const WRITE_BUFFER: usize = 16 * 1024;

#[derive(Clone)]
struct ServerState {
    hub: Arc<Hub>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

/// The bridge router: the WebSocket endpoint at `/`.
fn app(hub: Arc<Hub>, shutdown: CancellationToken) -> Router {
    let slots = Arc::new(Semaphore::new(hub.config.max_connections));
    Router::new().route("/", get(upgrade)).with_state(ServerState { hub, slots, shutdown })
}

fn refuse(hub: &Hub, status: StatusCode, reason: &str, message: String) -> Response {
    hub.metrics.reject(reason);
    debug!(reason, %message, "bridge upgrade refused");
    (status, message).into_response()
}

async fn upgrade(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    slot: Option<Extension<IpSlot>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let hub = &state.hub;
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = hub.allow.check(header(header::HOST), header(header::ORIGIN)) {
        return refuse(hub, StatusCode::FORBIDDEN, "origin", e.to_string());
    }
    let client = match query.get("auth") {
        Some(jwt) => match auth::verify(jwt, crate::waku::time::now_secs(), &hub.audience, header(header::HOST)) {
            Ok(client) => Some(client),
            Err(e) => return refuse(hub, StatusCode::UNAUTHORIZED, "auth", e.to_string()),
        },
        None => None,
    };
    let now = crate::waku::time::now_secs();
    let presented = query.get("token").map(String::as_str).or_else(|| {
        header(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    });
    let grant = match presented {
        // A capability token's id is fsynced to the data dir before it is accepted:
        // off the async workers, so a slow disk does not stall other connections.
        Some(token) => match verify_token(hub.clone(), token.trim().to_owned(), now).await {
            Ok(grant) => Some(grant),
            Err(e) => return refuse(hub, StatusCode::UNAUTHORIZED, "token", e.to_string()),
        },
        None if hub.config.require_token && client.is_none() => {
            return refuse(hub, StatusCode::UNAUTHORIZED, "token", TokenError::Missing.to_string());
        }
        None => None,
    };
    let Ok(permit) = state.slots.clone().try_acquire_owned() else {
        return refuse(
            hub,
            StatusCode::SERVICE_UNAVAILABLE,
            "connections",
            "too many bridge connections; retry later".into(),
        );
    };
    let ip = client_ip(peer.ip(), &headers, &hub.config.trusted_proxies);
    let hub = state.hub.clone();
    let shutdown = state.shutdown.clone();
    ws.max_frame_size(hub.config.max_frame_size)
        .max_message_size(hub.config.max_frame_size)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| {
            let (session, queue, pending, kill) = Session::open(hub, client, grant, ip);
            let span = info_span!("bridge_conn", conn = session.conn, %peer, client_ip = %ip);
            async move {
                debug!("bridge connection open");
                pump(socket, session, queue, pending, kill, shutdown).await;
                // The socket counts against its IP's cap until it closes.
                drop((permit, slot));
                debug!("bridge connection closed");
            }
            .instrument(span)
        })
}

/// Binds the bridge listener; returns the bound address and the serving task.
pub async fn serve(
    addr: SocketAddr,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "bridge listening (WebSocket JSON-RPC: waku_*, WalletConnect irn_*)");
    let limits = Limits {
        header_timeout: hub.config.handshake_timeout,
        max_per_ip: hub.config.max_connections_per_ip,
        uncapped: hub.config.trusted_proxies.clone(),
        refused: hub.metrics.refusals.listener("bridge"),
    };
    let router = app(hub, shutdown.clone());
    let task =
        tokio::spawn(http_server::run(listener, router, limits, shutdown).instrument(info_span!("bridge", %addr)));
    Ok((addr, task))
}
