//! The WalletConnect relay's delivery state, without IO: recent messages per
//! topic (kept until their TTL), the subscriptions of every connection, which
//! messages each client id has acknowledged, and the pushes awaiting an ack.
//!
//! Semantics (see /work/shared/walletconnect-client-notes.md §5): a message is
//! pushed to every subscriber of its topic except its publisher, at most once
//! per subscription, in publish order; once a client id acks it, it is never
//! pushed to that client id again; messages published before a subscription
//! (or before a reconnect) are pushed when the subscription arrives.

use std::collections::{HashMap, HashSet, VecDeque};

use heliograph_wc_wire::Method;
use heliograph_wc_wire::method::subscription_id;
use serde_json::{Value, json};

use super::message::{PublisherKey, WcMessage};
use crate::bridge::jsonrpc;
use crate::store::MessageHash;

/// A connection, as the hub numbers them.
pub type ConnId = u64;

/// Most messages kept per topic.
const MAX_PER_TOPIC: usize = 1000;
/// Most messages kept over all topics.
const MAX_MESSAGES: usize = 100_000;
/// Most acks remembered per client id.
const MAX_ACKS_PER_CLIENT: usize = 10_000;
/// Most client ids with acks remembered.
const MAX_CLIENTS: usize = 100_000;
/// Most pushes awaiting an ack.
const MAX_PENDING: usize = 200_000;

/// A frame to send on a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// Where.
    pub conn: ConnId,
    /// The `irn_subscription` request.
    pub frame: String,
}

#[derive(Debug, Clone)]
struct Kept {
    hash: MessageHash,
    message: WcMessage,
}

#[derive(Debug)]
struct Subscription {
    client: PublisherKey,
    id: String,
    delivered: HashSet<MessageHash>,
}

/// The JSON of a message in pushes and fetch results.
pub fn message_json(message: &WcMessage) -> Value {
    json!({
        "topic": message.topic,
        "message": message.message,
        "publishedAt": message.published_at,
        "tag": message.tag,
    })
}

/// Delivery state of the WalletConnect relay.
#[derive(Debug, Default)]
pub struct Mailbox {
    recent: HashMap<String, VecDeque<Kept>>,
    recent_len: usize,
    subscriptions: HashMap<String, HashMap<ConnId, Subscription>>,
    acked: HashMap<PublisherKey, HashMap<MessageHash, u64>>,
    pending: HashMap<u64, (PublisherKey, MessageHash, u64)>,
    next_push: u64,
}

impl Mailbox {
    /// An empty mailbox; push ids start at `first_push_id`.
    pub fn new(first_push_id: u64) -> Self {
        Mailbox { next_push: first_push_id, ..Default::default() }
    }

    /// Keeps a message seen on the mesh or published here, and returns the
    /// pushes to current subscribers. Duplicates and expired messages give none.
    pub fn ingest(&mut self, hash: MessageHash, message: WcMessage, now_ms: u64) -> Vec<Push> {
        if !self.keep(hash, &message, now_ms) {
            return Vec::new();
        }
        let mut pushes = Vec::new();
        if let Some(subs) = self.subscriptions.get_mut(&message.topic) {
            for (conn, sub) in subs.iter_mut() {
                if let Some(frame) =
                    push_frame(sub, &self.acked, &mut self.pending, &mut self.next_push, hash, &message, now_ms)
                {
                    pushes.push(Push { conn: *conn, frame });
                }
            }
        }
        pushes
    }

    /// Whether `hash` is kept, or stores it; false if expired or already kept.
    fn keep(&mut self, hash: MessageHash, message: &WcMessage, now_ms: u64) -> bool {
        if message.expiry() <= now_ms {
            return false;
        }
        let queue = self.recent.entry(message.topic.clone()).or_default();
        if queue.iter().any(|k| k.hash == hash) {
            return false;
        }
        if queue.len() >= MAX_PER_TOPIC {
            queue.pop_front();
            self.recent_len -= 1;
        }
        if self.recent_len >= MAX_MESSAGES {
            // Still delivered now and still in the store; only the in-memory copy is skipped.
            return true;
        }
        // Keep publish order even when an older message arrives late (from the store or a peer).
        let at = queue.iter().rposition(|k| k.message.published_at <= message.published_at).map_or(0, |i| i + 1);
        queue.insert(at, Kept { hash, message: message.clone() });
        self.recent_len += 1;
        true
    }

    /// Whether the same message text was published on `topic` and is still live
    /// (clients re-send a publish with the same id after a timeout).
    pub fn has_message(&self, topic: &str, message: &str, now_ms: u64) -> bool {
        self.recent
            .get(topic)
            .is_some_and(|q| q.iter().any(|k| k.message.message == message && k.message.expiry() > now_ms))
    }

    /// Subscribes `conn` (client `client_id`) to `topic`, after adding `backlog`
    /// (messages read from the store). Returns the subscription id and the
    /// pushes of every live message the client has not acked, oldest first.
    pub fn subscribe(
        &mut self,
        conn: ConnId,
        client_id: &str,
        topic: &str,
        backlog: Vec<(MessageHash, WcMessage)>,
        now_ms: u64,
    ) -> (String, Vec<Push>) {
        for (hash, message) in backlog {
            if message.topic == topic {
                self.keep(hash, &message, now_ms);
            }
        }
        let id = subscription_id(topic, client_id);
        let client = super::message::publisher_key(client_id);
        let subs = self.subscriptions.entry(topic.to_owned()).or_default();
        // A resubscribe on the same connection re-pushes what is still unacked.
        let sub =
            subs.entry(conn).or_insert_with(|| Subscription { client, id: id.clone(), delivered: HashSet::new() });
        sub.delivered.clear();
        let mut pushes = Vec::new();
        for kept in self.recent.get(topic).into_iter().flatten() {
            if let Some(frame) =
                push_frame(sub, &self.acked, &mut self.pending, &mut self.next_push, kept.hash, &kept.message, now_ms)
            {
                pushes.push(Push { conn, frame });
            }
        }
        (id, pushes)
    }

    /// Ends the subscription of `conn` to `topic`; whether it had one.
    pub fn unsubscribe(&mut self, conn: ConnId, topic: &str) -> bool {
        let Some(subs) = self.subscriptions.get_mut(topic) else { return false };
        let removed = subs.remove(&conn).is_some();
        if subs.is_empty() {
            self.subscriptions.remove(topic);
        }
        removed
    }

    /// Records that `client_id` acked push `push_id`; whether it was awaited.
    pub fn ack(&mut self, push_id: u64, client_id: &str) -> bool {
        let client = super::message::publisher_key(client_id);
        match self.pending.get(&push_id) {
            Some((owner, _, _)) if *owner == client => {}
            _ => return false,
        }
        let Some((_, hash, expiry)) = self.pending.remove(&push_id) else { return false };
        if self.acked.len() >= MAX_CLIENTS && !self.acked.contains_key(&client) {
            return true;
        }
        let acks = self.acked.entry(client).or_default();
        if acks.len() < MAX_ACKS_PER_CLIENT {
            acks.insert(hash, expiry);
        }
        true
    }

    /// Live messages on `topic` the client has neither published nor acked (irn_fetchMessages).
    pub fn fetch(&self, client_id: &str, topic: &str, now_ms: u64) -> Vec<WcMessage> {
        let client = super::message::publisher_key(client_id);
        let acked = self.acked.get(&client);
        self.recent
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|k| {
                k.message.expiry() > now_ms
                    && k.message.publisher != client
                    && !acked.is_some_and(|a| a.contains_key(&k.hash))
            })
            .map(|k| k.message.clone())
            .collect()
    }

    /// Drops expired messages, acks and pending pushes.
    pub fn sweep(&mut self, now_ms: u64) {
        let mut removed = 0;
        self.recent.retain(|_, queue| {
            let before = queue.len();
            queue.retain(|k| k.message.expiry() > now_ms);
            removed += before - queue.len();
            !queue.is_empty()
        });
        self.recent_len -= removed;
        self.acked.retain(|_, acks| {
            acks.retain(|_, expiry| *expiry > now_ms);
            !acks.is_empty()
        });
        self.pending.retain(|_, (_, _, expiry)| *expiry > now_ms);
    }

    /// Messages kept in memory.
    pub fn len(&self) -> usize {
        self.recent_len
    }

    /// Whether no message is kept.
    pub fn is_empty(&self) -> bool {
        self.recent_len == 0
    }
}

/// The push of `message` to `sub`, if it is due: live, not the subscriber's own,
/// not acked, not yet delivered on this subscription.
fn push_frame(
    sub: &mut Subscription,
    acked: &HashMap<PublisherKey, HashMap<MessageHash, u64>>,
    pending: &mut HashMap<u64, (PublisherKey, MessageHash, u64)>,
    next_push: &mut u64,
    hash: MessageHash,
    message: &WcMessage,
    now_ms: u64,
) -> Option<String> {
    if message.expiry() <= now_ms
        || message.publisher == sub.client
        || acked.get(&sub.client).is_some_and(|a| a.contains_key(&hash))
        || !sub.delivered.insert(hash)
    {
        return None;
    }
    let push_id = *next_push;
    *next_push += 1;
    if pending.len() < MAX_PENDING {
        pending.insert(push_id, (sub.client, hash, message.expiry()));
    }
    Some(jsonrpc::request(push_id, Method::Subscription.name(), json!({"id": sub.id, "data": message_json(message)})))
}

#[cfg(test)]
mod tests {
    use super::super::message::publisher_key;
    use super::*;
    use sha2::Digest;

    const NOW: u64 = 1_800_000_000_000;
    const DAPP: &str = "did:key:z6Mkdapp";
    const WALLET: &str = "did:key:z6Mkwallet";

    fn topic() -> String {
        "aa".repeat(32)
    }

    fn msg(text: &str, from: &str, at: u64) -> (MessageHash, WcMessage) {
        let message = WcMessage {
            topic: topic(),
            message: text.into(),
            published_at: at,
            tag: 1100,
            ttl: 300,
            publisher: publisher_key(from),
        };
        (sha2::Sha256::digest(text.as_bytes()).into(), message)
    }

    fn push_id(frame: &str) -> u64 {
        let v: Value = serde_json::from_str(frame).expect("json");
        v["id"].as_u64().expect("numeric id")
    }

    #[test]
    fn stored_messages_reach_later_subscribers_but_never_their_publisher() {
        let mut mb = Mailbox::new(1);
        let (h, m) = msg("proposal", DAPP, NOW);
        assert!(mb.ingest(h, m, NOW).is_empty(), "nobody subscribed yet");
        let (_, own) = mb.subscribe(1, DAPP, &topic(), vec![], NOW);
        assert!(own.is_empty(), "no echo to the publisher");
        let (id, pushes) = mb.subscribe(2, WALLET, &topic(), vec![], NOW + 1);
        assert_eq!(id, subscription_id(&topic(), WALLET));
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].conn, 2);
        let frame: Value = serde_json::from_str(&pushes[0].frame).expect("json");
        assert_eq!(frame["method"], "irn_subscription");
        assert_eq!(frame["params"]["data"]["message"], "proposal");
        assert_eq!(frame["params"]["data"]["tag"], 1100);
        assert_eq!(frame["params"]["id"], id.as_str());
    }

    #[test]
    fn acked_messages_are_not_redelivered_but_unacked_ones_are_after_reconnect() {
        let mut mb = Mailbox::new(10);
        let (_, pushes) = mb.subscribe(1, WALLET, &topic(), vec![], NOW);
        assert!(pushes.is_empty());
        let (h1, m1) = msg("one", DAPP, NOW);
        let (h2, m2) = msg("two", DAPP, NOW + 1);
        let first = mb.ingest(h1, m1.clone(), NOW);
        let second = mb.ingest(h2, m2, NOW);
        assert_eq!(mb.ingest(h1, m1, NOW), vec![], "duplicates are dropped");
        assert!(mb.ack(push_id(&first[0].frame), WALLET));
        assert!(!mb.ack(push_id(&second[0].frame), DAPP), "only the receiver can ack");
        // Reconnect: a new connection subscribes; only the unacked message comes back.
        mb.unsubscribe(1, &topic());
        let (_, again) = mb.subscribe(2, WALLET, &topic(), vec![], NOW + 2);
        assert_eq!(again.len(), 1);
        assert!(again[0].frame.contains("\"two\""));
        assert_eq!(mb.fetch(WALLET, &topic(), NOW + 2).len(), 1);
    }

    #[test]
    fn backlog_is_merged_in_publish_order_and_expiry_is_enforced() {
        let mut mb = Mailbox::new(1);
        let (h2, m2) = msg("later", DAPP, NOW + 5);
        mb.ingest(h2, m2, NOW + 5);
        let (h1, m1) = msg("earlier", DAPP, NOW);
        let (_, pushes) = mb.subscribe(1, WALLET, &topic(), vec![(h1, m1.clone()), (h1, m1)], NOW + 6);
        assert_eq!(pushes.len(), 2);
        assert!(pushes[0].frame.contains("earlier") && pushes[1].frame.contains("later"));
        assert!(mb.has_message(&topic(), "later", NOW + 6));
        mb.sweep(NOW + 301_000);
        assert!(mb.is_empty());
        let (h3, m3) = msg("stale", DAPP, NOW);
        assert!(mb.ingest(h3, m3, NOW + 300_000).is_empty(), "expired on arrival");
    }
}
