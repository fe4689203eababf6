//! Store v3 queries as data: a [`Query`] validated from a
//! `StoreQueryRequest` (or REST parameters), and the response built from a
//! [`Page`]. No IO here; `db` executes queries.

use heliograph_proto::store::{StoreQueryRequest, StoreQueryResponse, WakuMessageKeyValue};

use super::StoreError;
use super::message::StoredMessage;
use crate::waku::hash::MessageHash;

/// Page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Most content topics or hashes in one query.
pub const MAX_QUERY_ITEMS: usize = 100;

/// Status codes of store v3 responses.
pub mod status {
    /// Success, also for an empty page.
    pub const OK: u32 = 200;
    /// Malformed or contradictory query.
    pub const BAD_REQUEST: u32 = 400;
    /// Too many queries from this peer.
    pub const TOO_MANY_REQUESTS: u32 = 429;
    /// The store failed.
    pub const INTERNAL_ERROR: u32 = 500;
    /// The store is not available on this node.
    pub const SERVICE_UNAVAILABLE: u32 = 503;
}

/// Why a query was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A hash lookup cannot be combined with content or time filters.
    #[error("message hashes cannot be combined with content topics or a time range")]
    HashesWithFilters,
    /// Too many content topics or hashes.
    #[error("at most {MAX_QUERY_ITEMS} content topics and {MAX_QUERY_ITEMS} message hashes per query")]
    TooManyItems,
    /// A hash or cursor is not 32 bytes.
    #[error("{0} must be 32 bytes")]
    BadHashLength(&'static str),
    /// The cursor names no stored message.
    #[error("cursor not found: no stored message has that hash")]
    UnknownCursor,
    /// The store failed.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
    /// The store is off or could not be opened.
    #[error("this node has no message store: {0}")]
    Unavailable(String),
}

impl QueryError {
    /// The store v3 status code for this error.
    pub fn status(&self) -> u32 {
        match self {
            QueryError::Store(_) => status::INTERNAL_ERROR,
            QueryError::Unavailable(_) => status::SERVICE_UNAVAILABLE,
            _ => status::BAD_REQUEST,
        }
    }
}

/// A validated store query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Echoed in the response.
    pub request_id: String,
    /// Return the messages, not only their hashes.
    pub include_data: bool,
    /// Pubsub topic filter.
    pub pubsub_topic: Option<String>,
    /// Content topic filter (on every pubsub topic when `pubsub_topic` is `None`).
    pub content_topics: Vec<String>,
    /// Inclusive lower time bound, ns.
    pub time_start: Option<i64>,
    /// Inclusive upper time bound, ns.
    pub time_end: Option<i64>,
    /// Look up these hashes instead of filtering.
    pub hashes: Vec<MessageHash>,
    /// Continue after (forward) or before (backward) this message, exclusive.
    pub cursor: Option<MessageHash>,
    /// Ascending from the start (true) or descending from the end.
    pub forward: bool,
    /// Page size, already capped by the server maximum.
    pub limit: usize,
}

fn hash_of(bytes: &[u8], what: &'static str) -> Result<MessageHash, QueryError> {
    bytes.try_into().map_err(|_| QueryError::BadHashLength(what))
}

impl Query {
    /// Validates a wire request; the page size is capped at `max_page`.
    pub fn from_request(req: StoreQueryRequest, max_page: usize) -> Result<Query, QueryError> {
        let pubsub_topic = req.pubsub_topic.filter(|t| !t.is_empty());
        if req.content_topics.len() > MAX_QUERY_ITEMS || req.message_hashes.len() > MAX_QUERY_ITEMS {
            return Err(QueryError::TooManyItems);
        }
        if !req.message_hashes.is_empty()
            && (!req.content_topics.is_empty() || req.time_start.is_some() || req.time_end.is_some())
        {
            return Err(QueryError::HashesWithFilters);
        }
        let hashes = req.message_hashes.iter().map(|h| hash_of(h, "message hash")).collect::<Result<_, _>>()?;
        let cursor = req.pagination_cursor.as_deref().map(|c| hash_of(c, "pagination cursor")).transpose()?;
        let limit = match req.pagination_limit {
            None | Some(0) => DEFAULT_PAGE_SIZE.min(max_page),
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(max_page),
        };
        let mut content_topics = req.content_topics;
        content_topics.sort();
        content_topics.dedup();
        Ok(Query {
            request_id: req.request_id,
            include_data: req.include_data,
            pubsub_topic,
            content_topics,
            time_start: req.time_start,
            time_end: req.time_end,
            hashes,
            cursor,
            forward: req.pagination_forward,
            limit,
        })
    }
}

/// One page of results, in ascending time order in both directions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The messages.
    pub messages: Vec<StoredMessage>,
    /// Where the next page starts, if there is one.
    pub cursor: Option<MessageHash>,
}

/// Drops messages from the far end of a page until its encoding fits in
/// `max_bytes`, moving the cursor to the last message kept.
pub fn fit(mut page: Page, forward: bool, include_data: bool, max_bytes: usize) -> Page {
    use heliograph_proto::Message;
    let size = |p: &Page| response(String::new(), include_data, Ok(p.clone())).encoded_len();
    while page.messages.len() > 1 && size(&page) > max_bytes {
        let half = page.messages.len() / 2;
        if forward {
            page.messages.truncate(half);
            page.cursor = page.messages.last().map(|m| m.hash);
        } else {
            page.messages.drain(..page.messages.len() - half);
            page.cursor = page.messages.first().map(|m| m.hash);
        }
    }
    page
}

/// Builds the wire response for a query outcome.
pub fn response(request_id: String, include_data: bool, outcome: Result<Page, QueryError>) -> StoreQueryResponse {
    match outcome {
        Ok(page) => StoreQueryResponse {
            request_id,
            status_code: Some(status::OK),
            status_desc: Some("OK".into()),
            messages: page
                .messages
                .into_iter()
                .map(|m| WakuMessageKeyValue {
                    message_hash: Some(m.hash.to_vec()),
                    pubsub_topic: Some(m.pubsub_topic),
                    message: include_data.then_some(m.message),
                })
                .collect(),
            pagination_cursor: page.cursor.map(|c| c.to_vec()),
        },
        Err(e) => StoreQueryResponse {
            request_id,
            status_code: Some(e.status()),
            status_desc: Some(e.to_string()),
            messages: Vec::new(),
            pagination_cursor: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> StoreQueryRequest {
        StoreQueryRequest {
            request_id: "r".into(),
            include_data: true,
            pubsub_topic: Some("/waku/2/rs/1/0".into()),
            content_topics: vec!["/a/1/b/c".into()],
            pagination_forward: true,
            ..Default::default()
        }
    }

    #[test]
    fn valid_requests_get_defaults_and_caps() {
        // As nwaku: content topics without a pubsub topic, and an empty time range, are queries.
        let anywhere = StoreQueryRequest { pubsub_topic: None, ..request() };
        assert!(Query::from_request(anywhere, 100).expect("valid").pubsub_topic.is_none());
        let empty_range = StoreQueryRequest { time_start: Some(5), time_end: Some(4), ..request() };
        assert!(Query::from_request(empty_range, 100).is_ok());
        let q = Query::from_request(request(), 100).expect("valid");
        assert_eq!(q.limit, DEFAULT_PAGE_SIZE);
        let big = StoreQueryRequest { pagination_limit: Some(5000), ..request() };
        assert_eq!(Query::from_request(big, 100).expect("valid").limit, 100);
        // js-waku sends hash lookups with the pubsub topic set: accepted.
        let by_hash = StoreQueryRequest { content_topics: vec![], message_hashes: vec![vec![1; 32]], ..request() };
        assert_eq!(Query::from_request(by_hash, 100).expect("valid").hashes, [[1; 32]]);
    }

    #[test]
    fn contradictory_requests_say_why() {
        let cases = [
            (StoreQueryRequest { message_hashes: vec![vec![0; 32]], ..request() }, "cannot be combined"),
            (StoreQueryRequest { message_hashes: vec![vec![0; 3]], content_topics: vec![], ..request() }, "32 bytes"),
            (StoreQueryRequest { pagination_cursor: Some(vec![0; 31]), ..request() }, "cursor must be 32 bytes"),
            (StoreQueryRequest { content_topics: vec!["x".into(); 101], ..request() }, "at most 100"),
        ];
        for (req, needle) in cases {
            let err = Query::from_request(req, 100).expect_err(needle);
            assert_eq!(err.status(), status::BAD_REQUEST);
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
            let res = response("r".into(), true, Err(err));
            assert_eq!(res.status_code, Some(400));
            assert!(res.status_desc.expect("desc").contains(needle));
        }
    }
}
