//! Gap filling: when a peer that serves store queries (re)connects, ask it
//! for the window this node may have missed — since its newest stored
//! message, bounded by a maximum window — and store what was lacking. A
//! restarted or partitioned node then answers queries as if never down.

use std::collections::HashSet;
use std::time::Duration;

use heliograph_proto::store::StoreQueryRequest;
use libp2p::PeerId;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Store, StoredMessage};
use crate::metrics::NodeMetrics;
use crate::p2p::NetworkHandle;
use crate::waku::time::now_ns;

/// How often the peer list is checked for newly connected store peers.
const POLL: Duration = Duration::from_secs(1);
/// Slack before the newest stored message, for messages still in flight then.
const OVERLAP: Duration = Duration::from_secs(60);
/// Most pages fetched per topic and peer in one pass.
const MAX_PAGES: usize = 1000;

/// Watches for store peers and fills gaps from them until shutdown.
pub fn spawn(
    store: Store,
    network: NetworkHandle,
    metrics: NodeMetrics,
    max_window: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut synced: HashSet<PeerId> = HashSet::new();
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let peers = network.peers().await;
            let store_peers: HashSet<PeerId> = peers
                .iter()
                .filter(|p| p.protocols.iter().any(|proto| proto == heliograph_proto::protocol_id::STORE_QUERY))
                .map(|p| p.peer_id)
                .collect();
            // A peer that went away is synced again when it comes back (a partition healed).
            synced.retain(|p| store_peers.contains(p));
            for peer in store_peers {
                if synced.insert(peer) {
                    match fill_from(&store, &network, &metrics, peer, max_window).await {
                        Ok(0) => debug!(%peer, "gap filling: nothing missing"),
                        Ok(n) => info!(%peer, fetched = n, "gap filling: stored missed messages"),
                        Err(e) => warn!(%peer, error = %e, "gap filling failed"),
                    }
                }
            }
        }
    })
}

/// Fetches every message of the node's topics in the missed window from `peer`.
/// Returns how many messages were fetched (stored ones are deduplicated).
pub async fn fill_from(
    store: &Store,
    network: &NetworkHandle,
    metrics: &NodeMetrics,
    peer: PeerId,
    max_window: Duration,
) -> Result<usize, String> {
    let now = now_ns();
    let floor = now.saturating_sub(i64::try_from(max_window.as_nanos()).unwrap_or(i64::MAX));
    let newest = store.newest_time().await.map_err(|e| e.to_string())?;
    let overlap = i64::try_from(OVERLAP.as_nanos()).unwrap_or(i64::MAX);
    let start = newest.map_or(floor, |t| t.saturating_sub(overlap).max(floor));
    let topics = network.info().await.ok_or("shutting down")?.topics;
    let mut fetched = 0;
    for topic in topics {
        let mut cursor = None;
        for page in 0.. {
            if page == MAX_PAGES {
                warn!(%peer, %topic, "gap filling stopped after {MAX_PAGES} pages");
                break;
            }
            let request = StoreQueryRequest {
                request_id: format!("gap-fill-{page}"),
                include_data: true,
                pubsub_topic: Some(topic.to_string()),
                time_start: Some(start),
                // No upper bound: senders' clocks run ahead of ours too.
                pagination_cursor: cursor.take(),
                pagination_forward: true,
                pagination_limit: Some(100),
                ..Default::default()
            };
            let response = network.store_query(peer, request).await?;
            if response.status_code != Some(200) {
                return Err(format!(
                    "peer answered {}: {}",
                    response.status_code.unwrap_or(0),
                    response.status_desc.unwrap_or_default()
                ));
            }
            let received = now_ns();
            let batch: Vec<StoredMessage> = response
                .messages
                .into_iter()
                .filter_map(|kv| {
                    let message = kv.message?;
                    super::message::is_kept(&message).then(|| {
                        StoredMessage::new(kv.pubsub_topic.unwrap_or_else(|| topic.to_string()), message, received)
                    })
                })
                .collect();
            fetched += batch.len();
            if !batch.is_empty() {
                let n = batch.len();
                store.put(batch).await.map_err(|e| e.to_string())?;
                // Counted as stored, so a later failing page does not hide what came before.
                metrics.gap_filled_messages.inc_by(n as u64);
            }
            match response.pagination_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(fetched)
}
