//! The DNS discovery task: resolves EIP-1459 ENR trees (the walk is
//! [`heliograph_waku::enrtree`]) on a schedule and keeps the peers found
//! connected by sending dials to the swarm task through its [`NetworkHandle`]
//! channel. Every record found is also handed to `on_found` (the node feeds
//! its peer-exchange cache), so this task knows no protocol above the swarm.

use std::time::Duration;

use heliograph_waku::enr::NodeEnr;
use heliograph_waku::enrtree::{EnrTreeUrl, Resolver, dial_addrs, resolve};
use libp2p::Multiaddr;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::handle::NetworkHandle;

/// How often the trees are resolved again after a success.
const REFRESH: Duration = Duration::from_secs(30 * 60);
/// First wait after a failed resolution; doubles up to [`REFRESH`].
const RETRY: Duration = Duration::from_secs(5);
/// How often peers found in the trees are dialed again if not connected.
const REDIAL: Duration = Duration::from_secs(30);

/// Resolves every URL now and every 30 minutes (retrying failures with
/// backoff), and keeps the peers found connected: every 30 s each peer that is
/// not connected is dialed, one address after the other until one works.
/// `on_found` sees every record of every successful resolution.
pub fn spawn(
    urls: Vec<EnrTreeUrl>,
    network: NetworkHandle,
    on_found: impl Fn(&NodeEnr) + Send + 'static,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let resolver = match Resolver::system() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "no system DNS resolver: DNS discovery is off");
                return;
            }
        };
        let mut retry = RETRY;
        let mut next_resolve = tokio::time::Instant::now();
        // Per tree, the dialable addresses of each node found (kept when a refresh fails).
        let mut found: Vec<Vec<Vec<Multiaddr>>> = vec![Vec::new(); urls.len()];
        loop {
            let cycle = tokio::time::Instant::now();
            if cycle >= next_resolve {
                let mut failed = false;
                for (url, peers) in urls.iter().zip(&mut found) {
                    match resolve(&resolver, url).await {
                        Ok(tree) => {
                            for record in &tree.enrs {
                                on_found(record);
                            }
                            *peers = tree.enrs.iter().map(dial_addrs).filter(|a| !a.is_empty()).collect();
                            info!(domain = %url.domain, nodes = tree.enrs.len(), dialable = peers.len(), skipped = tree.skipped, "ENR tree resolved");
                        }
                        Err(e) => {
                            warn!(domain = %url.domain, error = %e, "ENR tree resolution failed");
                            failed = true;
                        }
                    }
                }
                next_resolve = cycle + if failed { retry } else { REFRESH };
                retry = if failed { (retry * 2).min(REFRESH) } else { RETRY };
            }
            // A connected peer's dial returns at once (the swarm skips it).
            let dials = found.iter().flatten().map(|addrs| dial_one_of(&network, addrs));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = async {
                    let _ = tokio::time::timeout(REDIAL, futures::future::join_all(dials)).await;
                    tokio::time::sleep_until((cycle + REDIAL).min(next_resolve.max(cycle + RETRY))).await;
                } => {}
            }
        }
    })
}

/// Dials a peer's addresses in order until one connects.
async fn dial_one_of(network: &NetworkHandle, addrs: &[Multiaddr]) {
    for addr in addrs {
        match network.dial(addr.clone()).await {
            Ok(_) => return,
            Err(e) => debug!(%addr, error = %e, "dial of a DNS-discovered peer failed"),
        }
    }
}
