//! The store v3 protocol's server side: answers the swarm's inbound store
//! queries through [`InboundService`]. Malformed or invalid queries are
//! answered at once with 400; at most [`MAX_CONCURRENT_QUERIES`] run at once,
//! and at most [`MAX_QUERIES_PER_PEER`] for any one peer (more get 429), each
//! on the blocking pool, trimmed to the frame limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use heliograph_proto::Message;
use heliograph_proto::store::{StoreQueryRequest, StoreQueryResponse};
use libp2p::PeerId;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::Store;
use super::query::{self, Query, QueryError};
use crate::p2p::behaviour::MAX_STORE_RESPONSE;
use crate::p2p::codec::LightRequest;
use crate::p2p::inbound::{Answer, InboundService, Protocol};

/// Store queries served at once; more get 429.
pub const MAX_CONCURRENT_QUERIES: usize = 32;
/// Store queries one peer may have running at once; more get 429, so one peer
/// cannot take every slot of [`MAX_CONCURRENT_QUERIES`] from the others.
pub const MAX_QUERIES_PER_PEER: usize = 4;

/// Serves inbound store queries from a [`Store`].
pub struct StoreServer {
    store: Store,
    slots: Arc<Semaphore>,
    per_peer: PeerSlots,
}

impl StoreServer {
    /// A server over `store`.
    pub fn new(store: Store) -> Self {
        StoreServer {
            store,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_QUERIES)),
            per_peer: PeerSlots::new(MAX_QUERIES_PER_PEER),
        }
    }
}

/// Queries running per peer. A peer has an entry only while it has a query
/// running, so the map holds at most [`MAX_CONCURRENT_QUERIES`] entries.
#[derive(Clone)]
struct PeerSlots {
    limit: usize,
    running: Arc<Mutex<HashMap<PeerId, usize>>>,
}

/// One running query of a peer; dropping it frees the slot.
struct PeerSlot {
    peer: PeerId,
    slots: PeerSlots,
}

impl PeerSlots {
    fn new(limit: usize) -> Self {
        PeerSlots { limit, running: Arc::default() }
    }

    /// A slot for `peer`, or `None` if it already runs `limit` queries.
    fn try_take(&self, peer: PeerId) -> Option<PeerSlot> {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = running.entry(peer).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot { peer, slots: self.clone() })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut running = self.slots.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.peer);
            }
        }
    }
}

impl InboundService for StoreServer {
    fn serve(self: Arc<Self>, protocol: Protocol, peer: PeerId, request: LightRequest, _now: Instant) -> Answer {
        if protocol != Protocol::Store {
            return Answer::Unanswered;
        }
        let Ok(request) = request else { return Answer::Unanswered };
        let parsed = StoreQueryRequest::decode(request.as_slice())
            .map_err(|e| (String::new(), format!("malformed store query: {e}")))
            .and_then(|req| {
                let id = req.request_id.clone();
                Query::from_request(req, self.store.max_page_size()).map_err(|e| (id, e.to_string()))
            });
        let query = match parsed {
            Ok(q) => q,
            Err((request_id, desc)) => {
                debug!(%peer, %desc, "refused store query");
                let response = StoreQueryResponse {
                    request_id,
                    status_code: Some(query::status::BAD_REQUEST),
                    status_desc: Some(desc),
                    ..Default::default()
                };
                return Answer::Now(response.encode_to_vec());
            }
        };
        let too_many = |request_id: String, desc: String| {
            debug!(%peer, %desc, "store query refused");
            let response = StoreQueryResponse {
                request_id,
                status_code: Some(query::status::TOO_MANY_REQUESTS),
                status_desc: Some(desc),
                ..Default::default()
            };
            Answer::Now(response.encode_to_vec())
        };
        let Some(peer_slot) = self.per_peer.try_take(peer) else {
            let desc = format!(
                "this peer already has {MAX_QUERIES_PER_PEER} store queries running, the limit; \
                 wait for an answer before sending another"
            );
            return too_many(query.request_id, desc);
        };
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return too_many(query.request_id, "too many store queries at once; retry shortly".into());
        };
        Answer::Later(Box::pin(async move {
            let response = answer_query(&self.store, query).await.encode_to_vec();
            drop((permit, peer_slot));
            response
        }))
    }
}

/// Runs a validated query and builds the response, trimmed to the frame limit.
pub async fn answer_query(store: &Store, query: Query) -> StoreQueryResponse {
    let (request_id, forward, include_data) = (query.request_id.clone(), query.forward, query.include_data);
    let outcome =
        store.query(query).await.map(|page| query::fit(page, forward, include_data, MAX_STORE_RESPONSE - 1024));
    if let Err(QueryError::Store(e)) = &outcome {
        warn!(error = %e, "store query failed");
    }
    query::response(request_id, include_data, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::metrics::NodeMetrics;

    fn query(id: &str) -> LightRequest {
        let request = StoreQueryRequest {
            request_id: id.into(),
            include_data: true,
            pubsub_topic: Some("/waku/2/rs/1/0".into()),
            ..Default::default()
        };
        Ok(request.encode_to_vec())
    }

    fn status(response: &[u8]) -> (u32, String) {
        let response = StoreQueryResponse::decode(response).expect("a store response");
        (response.status_code.unwrap_or(0), response.status_desc.unwrap_or_default())
    }

    #[tokio::test]
    async fn one_peer_gets_429_beyond_its_running_queries_and_others_are_still_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let store =
            Store::open(&StoreConfig::default(), dir.path(), NodeMetrics::default(), shutdown.clone()).expect("store");
        let server = Arc::new(StoreServer::new(store.clone()));
        let (greedy, other) = (PeerId::random(), PeerId::random());
        let now = Instant::now();

        // Queries the swarm has not finished yet hold their slots.
        let mut running = Vec::new();
        for i in 0..MAX_QUERIES_PER_PEER {
            match server.clone().serve(Protocol::Store, greedy, query(&format!("q{i}")), now) {
                Answer::Later(future) => running.push(future),
                _ => panic!("query {i} within the limit was not run"),
            }
        }
        let Answer::Now(refused) = server.clone().serve(Protocol::Store, greedy, query("one too many"), now) else {
            panic!("a query beyond the per-peer limit was run");
        };
        let (code, desc) = status(&refused);
        assert_eq!(code, query::status::TOO_MANY_REQUESTS);
        assert!(desc.contains("already has 4 store queries running"), "{desc}");
        assert_eq!(StoreQueryResponse::decode(refused.as_slice()).expect("decode").request_id, "one too many");

        // Another peer is not held back by the greedy one.
        let Answer::Later(served) = server.clone().serve(Protocol::Store, other, query("other"), now) else {
            panic!("another peer's query was refused");
        };
        assert_eq!(status(&served.await).0, 200);

        // An answered query frees its slot; so does one whose future was dropped.
        let first = running.pop().expect("a running query");
        assert_eq!(status(&first.await).0, 200);
        drop(running.pop());
        let mut again = Vec::new();
        for id in ["after answer", "after drop"] {
            match server.clone().serve(Protocol::Store, greedy, query(id), now) {
                Answer::Later(future) => again.push(future),
                _ => panic!("{id}: the freed slot was not reusable"),
            }
        }
        assert!(
            matches!(server.clone().serve(Protocol::Store, greedy, query("full again"), now), Answer::Now(_)),
            "four running again, yet a fifth was run"
        );
        drop(again);
        // Closed before the process exits: RocksDB aborts when its statics go while a database is open.
        drop(server);
        shutdown.cancel();
        store.close().await;
    }
}
