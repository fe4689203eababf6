//! The HTTP listener under the REST API and the bridge: hyper's HTTP/1.1
//! server (with upgrades, for WebSocket) over accepted TCP connections, with
//! two defences against slowloris: hyper's header read timeout closes a
//! connection that has not sent a whole request head in time (also one idle
//! between keep-alive requests), and a cap on connections open at once per
//! client IP refuses more with a short 503. Each request carries the peer's
//! [`ConnectInfo`] and the connection's [`IpSlot`]; a WebSocket handler keeps
//! the slot for as long as its socket lives. Both defences are counted in
//! [`Refusals`] (`heliograph_http_refused_connections_total{listener, reason}`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{Instrument, debug, warn};

/// Answer to a connection over its IP's cap, written without waiting, before closing.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\n\
content-length: 52\r\n\r\ntoo many connections from this address; retry later\n";
/// Pause after a failed accept (for example: out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a listener bounds its clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest a client may take to send a whole request head (the WebSocket
    /// handshake too), and longest a keep-alive connection may sit idle.
    pub header_timeout: Duration,
    /// Most connections open at once from one IP address.
    pub max_per_ip: usize,
    /// Peers the per-IP cap does not count (trusted reverse proxies, which carry many clients).
    pub uncapped: Vec<IpNet>,
    /// Where this listener's refusals are counted.
    pub refused: Refused,
}

/// `reason` of a connection refused by the per-IP cap.
const PER_IP_CAP: &str = "per_ip_cap";
/// `reason` of a connection cut off by the header timeout before a whole request head.
const HEADER_TIMEOUT: &str = "header_timeout";

/// Labels of a refused or cut-off connection.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabel {
    listener: &'static str,
    reason: &'static str,
}

/// Connections the listeners refused (`per_ip_cap`: answered 503) or cut off
/// (`header_timeout`: no whole request head in time; on the bridge, the
/// WebSocket handshake), per listener. A keep-alive connection closed by the
/// timeout after a request is not counted: idle clients are no attack, and a
/// scraper's kept connection would count at every scrape. Clones count into
/// the same family.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Family<RefusalLabel, Counter>);

impl Refusals {
    /// Registers `heliograph_http_refused_connections_total`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "heliograph_http_refused_connections",
            "Connections refused by a listener's per-IP cap or cut off by its header timeout, per listener and reason",
            self.0.clone(),
        );
    }

    /// The counters of one listener, labelled `listener` (`rest`, `bridge`, `metrics`),
    /// exported at 0 from the start so that rates and alerts have a series before the first refusal.
    pub fn listener(&self, listener: &'static str) -> Refused {
        for reason in [PER_IP_CAP, HEADER_TIMEOUT] {
            let _ = self.0.get_or_create(&RefusalLabel { listener, reason });
        }
        Refused { family: self.0.clone(), listener }
    }
}

/// One listener's part of [`Refusals`].
#[derive(Debug, Clone)]
pub struct Refused {
    family: Family<RefusalLabel, Counter>,
    listener: &'static str,
}

impl Refused {
    fn count(&self, reason: &'static str) {
        self.family.get_or_create(&RefusalLabel { listener: self.listener, reason }).inc();
    }
}

/// Connections open per IP address.
#[derive(Debug, Default)]
struct OpenPerIp(Mutex<HashMap<IpAddr, usize>>);

impl OpenPerIp {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counts stay consistent under a panic elsewhere: every change is one statement.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a place for `ip` if it has fewer than `max` open.
    fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut open = self.lock();
        let count = open.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot { _held: Arc::new(Slot { ip, table: Arc::clone(self) }) })
    }
}

#[derive(Debug)]
struct Slot {
    ip: IpAddr,
    table: Arc<OpenPerIp>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A connection's place in its IP's count, given back when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct IpSlot {
    _held: Arc<Slot>,
}

/// Serves `router` on `listener` under `limits` until `shutdown`, then closes
/// idle connections, lets requests in progress finish, and returns.
pub async fn run(listener: TcpListener, router: Router, limits: Limits, shutdown: CancellationToken) {
    let open = Arc::new(OpenPerIp::default());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let ip = peer.ip().to_canonical();
        let slot = if limits.uncapped.iter().any(|net| net.contains(&ip)) {
            None
        } else {
            match open.acquire(ip, limits.max_per_ip) {
                Some(slot) => Some(slot),
                None => {
                    debug!(%peer, max = limits.max_per_ip, "connection refused: too many from this address");
                    limits.refused.count(PER_IP_CAP);
                    let _ = stream.try_write(OVER_CAP);
                    continue;
                }
            }
        };
        let refused = limits.refused.clone();
        let connection =
            serve_connection(builder.clone(), stream, peer, slot, router.clone(), refused, shutdown.clone());
        connections.spawn(connection.in_current_span());
    }
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it ends, or shuts it down gracefully on `shutdown`.
fn serve_connection(
    builder: hyper::server::conn::http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Option<IpSlot>,
    router: Router,
    refused: Refused,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    // Small frames (acks, pushes) must not wait for Nagle's algorithm.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    // Whether a whole request head came: a keep-alive connection idle after its
    // requests also ends in a header timeout, which is no slow client.
    let answered = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&answered);
    let service = router.map_request(move |mut request: axum::http::Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(slot) = &slot {
            request.extensions_mut().insert(slot.clone());
        }
        request
    });
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
    async move {
        let mut connection = std::pin::pin!(connection);
        let mut stopping = false;
        let ended = loop {
            tokio::select! {
                ended = connection.as_mut() => break ended,
                () = shutdown.cancelled(), if !stopping => {
                    // Idle connections close now; a request in progress is answered first.
                    connection.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        };
        if let Err(e) = ended {
            // A header read timeout lands here: hyper closed a slow or silent client.
            if e.is_timeout() && !answered.load(Ordering::Relaxed) {
                refused.count(HEADER_TIMEOUT);
            }
            debug!(%peer, error = %e, "HTTP connection closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_ip_and_given_back_when_the_last_clone_drops() {
        let open = Arc::new(OpenPerIp::default());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let first = open.acquire(a, 2).expect("first");
        let second = open.acquire(a, 2).expect("second");
        assert!(open.acquire(a, 2).is_none(), "a third from the same address is refused");
        let other = open.acquire(b, 2).expect("another address has its own count");
        let kept = first.clone();
        drop(first);
        assert!(open.acquire(a, 2).is_none(), "a clone still holds the place");
        drop(kept);
        let third = open.acquire(a, 2).expect("room again");
        drop((second, third, other));
        assert!(open.lock().is_empty(), "no entry is left for addresses with nothing open");
    }
}
