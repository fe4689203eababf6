//! The index of `waku_*` subscriptions: for each content topic, the
//! connections subscribed to it and their subscription ids (each optionally
//! limited to one pubsub topic), and the fan-out of one relayed message to
//! them as `waku_subscription` pushes, queued without waiting.

use std::collections::HashMap;

use serde_json::json;

use super::registry::Registry;
use crate::bridge::metrics::BridgeMetrics;
use crate::bridge::walletconnect::mailbox::ConnId;
use crate::waku::RelayMessage;
use crate::waku::json::MessageJson;

/// The start of every `waku_subscription` push, up to the subscription id.
const PUSH_HEAD: &str = r#"{"jsonrpc":"2.0","method":"waku_subscription","params":{"subscription":""#;

struct WakuSub {
    id: String,
    pubsub: Option<String>,
}

/// The `waku_*` subscriptions of every connection, by content topic.
#[derive(Default)]
pub struct WakuSubs {
    by_topic: HashMap<String, HashMap<ConnId, Vec<WakuSub>>>,
}

impl WakuSubs {
    /// Subscribes `conn` as `id` to waku messages on `content_topics` (optionally only on `pubsub`).
    pub fn subscribe(&mut self, conn: ConnId, id: &str, content_topics: &[String], pubsub: Option<String>) {
        for topic in content_topics {
            self.by_topic
                .entry(topic.clone())
                .or_default()
                .entry(conn)
                .or_default()
                .push(WakuSub { id: id.to_owned(), pubsub: pubsub.clone() });
        }
    }

    /// Ends the subscription `id` of `conn` on `content_topics`; returns how many entries it held.
    pub fn unsubscribe(&mut self, conn: ConnId, id: &str, content_topics: &[String]) -> usize {
        let mut removed = 0;
        for topic in content_topics {
            if let Some(subs) = self.by_topic.get_mut(topic) {
                if let Some(list) = subs.get_mut(&conn) {
                    let before = list.len();
                    list.retain(|s| s.id != id);
                    removed += before - list.len();
                    if list.is_empty() {
                        subs.remove(&conn);
                    }
                }
                if subs.is_empty() {
                    self.by_topic.remove(topic);
                }
            }
        }
        removed
    }

    /// Ends every subscription of a closed `conn` on `content_topics`; returns how many entries they held.
    pub fn remove_conn(&mut self, conn: ConnId, content_topics: &[String]) -> usize {
        let mut removed = 0;
        for topic in content_topics {
            if let Some(subs) = self.by_topic.get_mut(topic) {
                removed += subs.remove(&conn).map_or(0, |v| v.len());
                if subs.is_empty() {
                    self.by_topic.remove(topic);
                }
            }
        }
        removed
    }

    /// Queues `message` (relayed on `pubsub`) for every subscription of its content topic.
    pub fn fan_out(&self, message: &RelayMessage, pubsub: &str, conns: &Registry, metrics: &BridgeMetrics) {
        let Some(subs) = self.by_topic.get(&message.message.content_topic) else { return };
        let hash = format!("0x{}", hex::encode(message.hash()));
        // Serialised once; only the subscription id (hex, no escaping) differs per subscriber,
        // so each frame is three copies into an exactly sized string (no formatting per subscriber).
        let result = json!({"hash": hash, "pubsubTopic": pubsub, "message": MessageJson::from(&message.message)});
        let tail = format!(r#"","result":{result}}}}}"#);
        // Straight to each connection's queue: one lookup per connection, no list of pushes.
        for (conn, list) in subs {
            let Some(handle) = conns.get(*conn) else { continue };
            for sub in list.iter().filter(|s| s.pubsub.as_ref().is_none_or(|p| *p == pubsub)) {
                let mut frame = String::with_capacity(PUSH_HEAD.len() + sub.id.len() + tail.len());
                frame.push_str(PUSH_HEAD);
                frame.push_str(&sub.id);
                frame.push_str(&tail);
                if handle.send(frame, metrics) {
                    metrics.messages_pushed.inc();
                }
            }
        }
    }
}
