//! The glue between the sans-IO WalletConnect [`Mailbox`] and the rest of the
//! bridge: its pushes go into connection queues, a subscription's backlog is
//! streamed into a connection's queue up to half its byte cap (and topped up
//! as the pump drains it), its size is a metric, and what the mailbox missed
//! (relayed by other nodes, or kept over a restart) is read from the store.

use tracing::warn;

use super::registry::Registry;
use crate::bridge::metrics::BridgeMetrics;
use crate::bridge::walletconnect::mailbox::{self, ConnId, Mailbox, Push};
use crate::bridge::walletconnect::message::WcMessage;
use crate::store::query::Query;
use crate::store::{MessageHash, Store};
use crate::waku::PubsubTopic;
use crate::waku::time::{now_ms, now_ns};

/// Most stored messages read for one WalletConnect subscribe.
const MAX_BACKLOG: usize = 500;

/// Queues the mailbox's `pushes` into their connections.
pub fn deliver(conns: &Registry, pushes: Vec<Push>, metrics: &BridgeMetrics) {
    for push in pushes {
        conns.push(push.conn, push.frame, metrics);
    }
}

/// Publishes the mailbox's size.
pub fn gauge(mailbox: &Mailbox, metrics: &BridgeMetrics) {
    metrics.wc_mailbox_bytes.set(i64::try_from(mailbox.bytes()).unwrap_or(i64::MAX));
}

/// Tops up the queue of `conn` from its backlogs, if it has drained below half its byte cap.
pub fn stream(conns: &Registry, mailbox: &mut Mailbox, conn: ConnId, metrics: &BridgeMetrics) {
    let Some(handle) = conns.get(conn) else { return };
    let (room, slots) = handle.backlog_room();
    let (pushes, more) = mailbox.next_backlog(conn, room, slots, now_ms());
    for push in pushes {
        if handle.send_backlog(push.frame) {
            metrics.messages_pushed.inc();
        }
    }
    handle.set_streaming(more);
}

/// Live WalletConnect messages of the content topic `content` (on `pubsub`) in the store.
pub async fn stored(store: &Store, pubsub: &PubsubTopic, content: String) -> Vec<(MessageHash, WcMessage)> {
    let query = Query {
        request_id: String::new(),
        include_data: true,
        pubsub_topic: Some(pubsub.to_string()),
        content_topics: vec![content],
        time_start: Some(now_ns().saturating_sub(i64::from(mailbox::MAX_TTL) * 1_000_000_000)),
        time_end: None,
        hashes: Vec::new(),
        cursor: None,
        forward: false,
        limit: MAX_BACKLOG.min(store.max_page_size()),
    };
    match store.query(query).await {
        Ok(page) => {
            page.messages.into_iter().filter_map(|m| WcMessage::from_waku(&m.message).map(|wc| (m.hash, wc))).collect()
        }
        Err(e) => {
            warn!(error = %e, "cannot read WalletConnect messages from the store");
            Vec::new()
        }
    }
}
