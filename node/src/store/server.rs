//! The store v3 protocol's server side: answers the swarm's inbound store
//! queries through [`InboundService`]. Malformed or invalid queries are
//! answered at once with 400; at most [`MAX_CONCURRENT_QUERIES`] run at once
//! (more get 429), each on the blocking pool, trimmed to the frame limit.

use std::sync::Arc;
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

/// Serves inbound store queries from a [`Store`].
pub struct StoreServer {
    store: Store,
    slots: Arc<Semaphore>,
}

impl StoreServer {
    /// A server over `store`.
    pub fn new(store: Store) -> Self {
        StoreServer { store, slots: Arc::new(Semaphore::new(MAX_CONCURRENT_QUERIES)) }
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
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            let response = StoreQueryResponse {
                request_id: query.request_id,
                status_code: Some(query::status::TOO_MANY_REQUESTS),
                status_desc: Some("too many store queries at once; retry shortly".into()),
                ..Default::default()
            };
            return Answer::Now(response.encode_to_vec());
        };
        Answer::Later(Box::pin(async move {
            let response = answer_query(&self.store, query).await.encode_to_vec();
            drop(permit);
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
