//! The WalletConnect relay's delivery state, without IO: recent messages per
//! topic (kept until their TTL), the subscriptions of every connection, which
//! messages each client id has acked, and the pushes awaiting an ack.
//!
//! Semantics (see /work/shared/walletconnect-client-notes.md §5): a message is
//! pushed to every subscriber of its topic except its publisher, at most once
//! per subscription, in publish order; once a client id acks (or fetches) it,
//! it is never pushed to that client id again; messages published before a
//! subscription (or before a reconnect) are pushed when the subscription arrives.
//!
//! Bounds, since every field of a relayed message is the sender's word: a TTL
//! over [`MAX_TTL`] is cut to it, a `publishedAt` ahead of the clock by more
//! than [`MAX_CLOCK_SKEW_MS`] is refused, and the mailbox holds at most
//! [`Limits`] bytes per topic and in total. Room is made by dropping expired
//! messages and messages a receiver (not their publisher) has acked; when that
//! is not enough a publish is refused with [`MailboxError`] (the client
//! retries), never taken and then dropped. Delivered sets, acks and pending
//! pushes are pruned with the messages they name.
//!
//! A subscription's backlog (what is due when it arrives) is not pushed at
//! once: [`Mailbox::next_backlog`] hands it out in pieces as the connection's
//! send queue drains, one message per topic in turn, and messages arriving
//! meanwhile queue behind it, so a backlog larger than the send queue arrives
//! whole and in order instead of closing the connection as a slow consumer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use heliograph_wc_wire::Method;
use heliograph_wc_wire::method::subscription_id;
use serde_json::{Value, json};

use super::message::{PublisherKey, WcMessage};
use crate::bridge::jsonrpc;
use crate::store::MessageHash;

/// A connection, as the hub numbers them.
pub type ConnId = u64;

/// Longest TTL a WalletConnect message may have: 30 days, as the hosted relay.
pub const MAX_TTL: u32 = 30 * 24 * 3600;
/// How far ahead of this node's clock a relayed `publishedAt` may be.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// Most messages kept per topic.
pub const MAX_PER_TOPIC: usize = 1000;
/// Most messages kept over all topics.
const MAX_MESSAGES: usize = 100_000;
/// Most acks remembered per client id.
const MAX_ACKS_PER_CLIENT: usize = 10_000;
/// Most acks remembered over all client ids (about 60 bytes each).
const MAX_ACKS: usize = 1_000_000;
/// Most pushes awaiting an ack.
const MAX_PENDING: usize = 200_000;
/// What a kept message costs besides its text: topic, hash, fields, queue slots.
const KEPT_OVERHEAD: usize = 192;

/// Byte bounds of the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of messages kept over all topics.
    pub max_bytes: usize,
    /// Most bytes of messages kept on one topic.
    pub max_topic_bytes: usize,
}

impl Default for Limits {
    /// The bridge configuration's defaults.
    fn default() -> Self {
        let config = crate::config::BridgeConfig::default();
        Limits { max_bytes: config.wc_mailbox_max_bytes, max_topic_bytes: config.wc_topic_max_bytes }
    }
}

/// Why a message is not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// The topic's share of the mailbox is taken by messages no receiver has acked.
    #[error(
        "the mailbox of topic {topic} is full: {used} bytes are held for receivers that have not acked them, and this message ({size} bytes) would pass the cap of {max} bytes per topic; retry once the receiver has acked or fetched them, or they expire"
    )]
    TopicFull {
        /// The topic.
        topic: String,
        /// Bytes held on it.
        used: usize,
        /// Bytes this message needs.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// The topic holds [`MAX_PER_TOPIC`] messages no receiver has acked.
    #[error(
        "the mailbox of topic {0} is full: {MAX_PER_TOPIC} messages are held for receivers that have not acked them; retry once the receiver has acked or fetched them, or they expire"
    )]
    TopicCount(String),
    /// The whole mailbox is taken by messages no receiver has acked.
    #[error(
        "the relay's mailbox is full: {used} of {max} bytes are held for receivers that have not acked them; retry later"
    )]
    Full {
        /// Bytes held.
        used: usize,
        /// The cap.
        max: usize,
    },
    /// `publishedAt` is ahead of this node's clock by more than the allowed skew.
    #[error("publishedAt {published_at} is more than {MAX_CLOCK_SKEW_MS} ms ahead of the relay's clock ({now})")]
    FromTheFuture {
        /// The claimed publish time, ms.
        published_at: u64,
        /// This node's time, ms.
        now: u64,
    },
}

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
    message: Arc<WcMessage>,
    /// Acked or fetched by a client other than its publisher: the first to go when room is needed.
    received: bool,
}

impl Kept {
    fn cost(&self) -> usize {
        cost(&self.message)
    }
}

fn cost(message: &WcMessage) -> usize {
    message.message.len() + message.topic.len() + KEPT_OVERHEAD
}

#[derive(Debug, Default)]
struct TopicBox {
    messages: VecDeque<Kept>,
    bytes: usize,
}

#[derive(Debug)]
struct Subscription {
    client: PublisherKey,
    id: String,
    delivered: HashSet<MessageHash>,
    /// Due messages not yet handed out, oldest first.
    backlog: VecDeque<(MessageHash, Arc<WcMessage>)>,
}

/// A push awaiting its ack.
#[derive(Debug)]
struct Awaited {
    client: PublisherKey,
    topic: String,
    hash: MessageHash,
    expiry: u64,
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
    limits: Limits,
    topics: HashMap<String, TopicBox>,
    count: usize,
    bytes: usize,
    /// Received messages, oldest first, for making room across topics (stale entries are skipped).
    received: VecDeque<(String, MessageHash)>,
    subscriptions: HashMap<String, HashMap<ConnId, Subscription>>,
    /// Per connection, the topics whose subscription has a backlog, in turn order.
    streaming: HashMap<ConnId, VecDeque<String>>,
    acked: HashMap<PublisherKey, HashMap<MessageHash, u64>>,
    acked_len: usize,
    pending: HashMap<u64, Awaited>,
    next_push: u64,
}

impl Mailbox {
    /// An empty mailbox bounded by `limits`; push ids start at `first_push_id`.
    pub fn new(first_push_id: u64, limits: Limits) -> Self {
        Mailbox { next_push: first_push_id, limits, ..Default::default() }
    }

    /// Takes a message published through this node and returns the pushes to
    /// current subscribers; refuses it when it cannot be kept. A duplicate or
    /// expired message is accepted and pushes nothing.
    pub fn accept(&mut self, hash: MessageHash, message: WcMessage, now_ms: u64) -> Result<Vec<Push>, MailboxError> {
        let message = Arc::new(capped(message));
        Ok(if self.keep(hash, &message, now_ms)? { self.fan_out(hash, &message, true, now_ms) } else { Vec::new() })
    }

    /// Takes a message seen on the mesh and returns the pushes to current
    /// subscribers. One that cannot be kept (mailbox full) is still pushed to
    /// those subscribers (it is in the store for later ones); one from the
    /// future, a duplicate or an expired one gives none.
    pub fn ingest(&mut self, hash: MessageHash, message: WcMessage, now_ms: u64) -> Vec<Push> {
        let message = Arc::new(capped(message));
        match self.keep(hash, &message, now_ms) {
            Ok(true) => self.fan_out(hash, &message, true, now_ms),
            Err(MailboxError::TopicFull { .. } | MailboxError::TopicCount(_) | MailboxError::Full { .. }) => {
                self.fan_out(hash, &message, false, now_ms)
            }
            Ok(false) | Err(MailboxError::FromTheFuture { .. }) => Vec::new(),
        }
    }

    /// The pushes of a new message; subscriptions still streaming a backlog
    /// get it queued behind that (if it is `kept`: the others are not held).
    fn fan_out(&mut self, hash: MessageHash, message: &Arc<WcMessage>, kept: bool, now_ms: u64) -> Vec<Push> {
        let mut pushes = Vec::new();
        if let Some(subs) = self.subscriptions.get_mut(&message.topic) {
            for (conn, sub) in subs.iter_mut() {
                if !sub.backlog.is_empty() {
                    if kept {
                        sub.backlog.push_back((hash, message.clone()));
                    }
                    continue;
                }
                let due = Due { acked: &self.acked, pending: &mut self.pending, next_push: &mut self.next_push };
                if let Some(frame) = due.frame(sub, hash, message, now_ms) {
                    pushes.push(Push { conn: *conn, frame });
                }
            }
        }
        pushes
    }

    /// Stores a message (its TTL already [`capped`]); false if it is expired or
    /// already kept, an error if it is from the future or finds no room.
    fn keep(&mut self, hash: MessageHash, message: &Arc<WcMessage>, now_ms: u64) -> Result<bool, MailboxError> {
        if message.published_at > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(MailboxError::FromTheFuture { published_at: message.published_at, now: now_ms });
        }
        if message.expiry() <= now_ms
            || self.topics.get(&message.topic).is_some_and(|b| b.messages.iter().any(|k| k.hash == hash))
        {
            return Ok(false);
        }
        let size = cost(message);
        self.make_room(&message.topic, size, now_ms)?;
        let queue = self.topics.entry(message.topic.clone()).or_default();
        // Keep publish order even when an older message arrives late (from the store or a peer).
        let at =
            queue.messages.iter().rposition(|k| k.message.published_at <= message.published_at).map_or(0, |i| i + 1);
        queue.messages.insert(at, Kept { hash, message: message.clone(), received: false });
        queue.bytes += size;
        self.count += 1;
        self.bytes += size;
        Ok(true)
    }

    /// Frees room for `size` bytes on `topic`: expired messages first, then
    /// messages receivers have acked, oldest first.
    fn make_room(&mut self, topic: &str, size: usize, now_ms: u64) -> Result<(), MailboxError> {
        let Limits { max_bytes, max_topic_bytes } = self.limits;
        if let Some(queue) = self.topics.get_mut(topic) {
            let (mut count, mut bytes) = (0, 0);
            queue.messages.retain(|k| {
                let live = k.message.expiry() > now_ms;
                if !live {
                    count += 1;
                    bytes += k.cost();
                }
                live
            });
            queue.bytes -= bytes;
            self.count -= count;
            self.bytes -= bytes;
            while queue.messages.len() >= MAX_PER_TOPIC || queue.bytes + size > max_topic_bytes {
                let Some(i) = queue.messages.iter().position(|k| k.received) else {
                    return Err(if queue.messages.len() >= MAX_PER_TOPIC {
                        MailboxError::TopicCount(topic.to_owned())
                    } else {
                        MailboxError::TopicFull {
                            topic: topic.to_owned(),
                            used: queue.bytes,
                            size,
                            max: max_topic_bytes,
                        }
                    });
                };
                let gone = queue.messages.remove(i).map_or(0, |k| k.cost());
                queue.bytes -= gone;
                self.count -= 1;
                self.bytes -= gone;
            }
        } else if size > max_topic_bytes {
            return Err(MailboxError::TopicFull { topic: topic.to_owned(), used: 0, size, max: max_topic_bytes });
        }
        while self.count >= MAX_MESSAGES || self.bytes + size > max_bytes {
            let Some((other, hash)) = self.received.pop_front() else {
                return Err(MailboxError::Full { used: self.bytes, max: max_bytes });
            };
            if let Some(queue) = self.topics.get_mut(&other)
                && let Some(i) = queue.messages.iter().position(|k| k.hash == hash && k.received)
            {
                let gone = queue.messages.remove(i).map_or(0, |k| k.cost());
                queue.bytes -= gone;
                self.count -= 1;
                self.bytes -= gone;
                if queue.messages.is_empty() && other != topic {
                    self.topics.remove(&other);
                }
            }
        }
        Ok(())
    }

    /// Drops a kept message (its publish failed, so the client will retry it).
    pub fn forget(&mut self, topic: &str, hash: &MessageHash) {
        if let Some(queue) = self.topics.get_mut(topic)
            && let Some(i) = queue.messages.iter().position(|k| k.hash == *hash)
        {
            let gone = queue.messages.remove(i).map_or(0, |k| k.cost());
            queue.bytes -= gone;
            self.count -= 1;
            self.bytes -= gone;
            if queue.messages.is_empty() {
                self.topics.remove(topic);
            }
        }
    }

    /// Whether the same message text was published on `topic` and is still live
    /// (clients re-send a publish with the same id after a timeout).
    pub fn has_message(&self, topic: &str, message: &str, now_ms: u64) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|q| q.messages.iter().any(|k| k.message.message == message && k.message.expiry() > now_ms))
    }

    /// Subscribes `conn` (client `client_id`) to `topic`, after adding `backlog`
    /// (messages read from the store), and returns the subscription id. Every
    /// live message the client has not acked is due, oldest first: see
    /// [`Mailbox::next_backlog`].
    pub fn subscribe(
        &mut self,
        conn: ConnId,
        client_id: &str,
        topic: &str,
        backlog: Vec<(MessageHash, WcMessage)>,
        now_ms: u64,
    ) -> String {
        for (hash, message) in backlog {
            if message.topic == topic {
                // What finds no room stays in the store, for a later subscribe.
                let _ = self.keep(hash, &Arc::new(capped(message)), now_ms);
            }
        }
        let id = subscription_id(topic, client_id);
        let client = super::message::publisher_key(client_id);
        let subs = self.subscriptions.entry(topic.to_owned()).or_default();
        // A resubscribe on the same connection re-pushes what is still unacked.
        let sub = subs.entry(conn).or_insert_with(|| Subscription {
            client,
            id: id.clone(),
            delivered: HashSet::new(),
            backlog: VecDeque::new(),
        });
        sub.delivered.clear();
        let acked = self.acked.get(&client);
        sub.backlog = self
            .topics
            .get(topic)
            .into_iter()
            .flat_map(|q| &q.messages)
            .filter(|k| {
                k.message.expiry() > now_ms
                    && k.message.publisher != client
                    && !acked.is_some_and(|a| a.contains_key(&k.hash))
            })
            .map(|k| (k.hash, k.message.clone()))
            .collect();
        if !sub.backlog.is_empty() {
            let turns = self.streaming.entry(conn).or_default();
            if !turns.iter().any(|t| t == topic) {
                turns.push_back(topic.to_owned());
            }
        }
        id
    }

    /// The next pushes of the backlogs of `conn`, one message per topic in
    /// turn, until they reach `max_bytes` (the last one may pass it) or
    /// `max_frames`; and whether any backlog is left.
    pub fn next_backlog(
        &mut self,
        conn: ConnId,
        max_bytes: usize,
        max_frames: usize,
        now_ms: u64,
    ) -> (Vec<Push>, bool) {
        let Some(turns) = self.streaming.get_mut(&conn) else { return (Vec::new(), false) };
        let mut pushes = Vec::new();
        let mut bytes = 0;
        while bytes < max_bytes && pushes.len() < max_frames {
            let Some(topic) = turns.pop_front() else { break };
            let Some(sub) = self.subscriptions.get_mut(&topic).and_then(|s| s.get_mut(&conn)) else { continue };
            while let Some((hash, message)) = sub.backlog.pop_front() {
                let due = Due { acked: &self.acked, pending: &mut self.pending, next_push: &mut self.next_push };
                if let Some(frame) = due.frame(sub, hash, &message, now_ms) {
                    bytes += frame.len();
                    pushes.push(Push { conn, frame });
                    break;
                }
            }
            if !sub.backlog.is_empty() {
                turns.push_back(topic);
            }
        }
        let more = !turns.is_empty();
        if !more {
            self.streaming.remove(&conn);
        }
        (pushes, more)
    }

    /// Ends the subscription of `conn` to `topic`; whether it had one.
    pub fn unsubscribe(&mut self, conn: ConnId, topic: &str) -> bool {
        let Some(subs) = self.subscriptions.get_mut(topic) else { return false };
        let removed = subs.remove(&conn).is_some();
        if subs.is_empty() {
            self.subscriptions.remove(topic);
        }
        if let Some(turns) = self.streaming.get_mut(&conn) {
            turns.retain(|t| t != topic);
            if turns.is_empty() {
                self.streaming.remove(&conn);
            }
        }
        removed
    }

    /// Records that `client_id` acked push `push_id`; whether it was awaited.
    pub fn ack(&mut self, push_id: u64, client_id: &str) -> bool {
        let client = super::message::publisher_key(client_id);
        if self.pending.get(&push_id).is_none_or(|a| a.client != client) {
            return false;
        }
        let Some(awaited) = self.pending.remove(&push_id) else { return false };
        self.received(client, &awaited.topic, awaited.hash, awaited.expiry);
        true
    }

    /// Notes that `client` has `hash` (it acked or fetched it).
    fn received(&mut self, client: PublisherKey, topic: &str, hash: MessageHash, expiry: u64) {
        if let Some(kept) = self.topics.get_mut(topic).and_then(|q| q.messages.iter_mut().find(|k| k.hash == hash))
            && !kept.received
            && kept.message.publisher != client
        {
            kept.received = true;
            self.received.push_back((topic.to_owned(), hash));
        }
        if self.acked_len >= MAX_ACKS {
            return;
        }
        let acks = self.acked.entry(client).or_default();
        if acks.len() < MAX_ACKS_PER_CLIENT && acks.insert(hash, expiry).is_none() {
            self.acked_len += 1;
        }
    }

    /// Live messages on `topics` the client has neither published nor acked
    /// (irn_fetchMessages), oldest first per topic, as JSON, until their
    /// encoding reaches `max_bytes` (at least one is returned). They count as
    /// received by the client, so the next call returns the next ones. Also
    /// returns whether more are left.
    pub fn fetch(&mut self, client_id: &str, topics: &[String], max_bytes: usize, now_ms: u64) -> (Vec<Value>, bool) {
        let client = super::message::publisher_key(client_id);
        let acked = self.acked.get(&client);
        let mut taken = Vec::new();
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        'topics: for topic in topics {
            for k in self.topics.get(topic).into_iter().flat_map(|q| &q.messages) {
                if k.message.expiry() <= now_ms
                    || k.message.publisher == client
                    || acked.is_some_and(|a| a.contains_key(&k.hash))
                {
                    continue;
                }
                let json = message_json(&k.message);
                let len = json.to_string().len() + 1;
                if !out.is_empty() && bytes + len > max_bytes {
                    more = true;
                    break 'topics;
                }
                bytes += len;
                out.push(json);
                taken.push((topic.clone(), k.hash, k.message.expiry()));
            }
        }
        for (topic, hash, expiry) in taken {
            self.received(client, &topic, hash, expiry);
        }
        (out, more)
    }

    /// Drops expired messages, acks and pending pushes, and delivered marks of
    /// messages no longer kept.
    pub fn sweep(&mut self, now_ms: u64) {
        let (mut count, mut bytes) = (0, 0);
        self.topics.retain(|_, queue| {
            queue.messages.retain(|k| k.message.expiry() > now_ms);
            queue.bytes = queue.messages.iter().map(Kept::cost).sum();
            count += queue.messages.len();
            bytes += queue.bytes;
            !queue.messages.is_empty()
        });
        (self.count, self.bytes) = (count, bytes);
        self.received = self
            .topics
            .iter()
            .flat_map(|(topic, q)| q.messages.iter().filter(|k| k.received).map(|k| (topic.clone(), k.hash)))
            .collect();
        self.acked.retain(|_, acks| {
            acks.retain(|_, expiry| *expiry > now_ms);
            !acks.is_empty()
        });
        self.acked_len = self.acked.values().map(HashMap::len).sum();
        self.pending.retain(|_, a| a.expiry > now_ms);
        for (topic, subs) in &mut self.subscriptions {
            let kept: HashSet<&MessageHash> =
                self.topics.get(topic).into_iter().flat_map(|q| q.messages.iter().map(|k| &k.hash)).collect();
            for sub in subs.values_mut() {
                sub.delivered.retain(|h| kept.contains(h));
            }
        }
    }

    /// Messages kept in memory.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Bytes of messages kept in memory.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether no message is kept.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Delivered marks held over all subscriptions.
    #[cfg(test)]
    fn delivered_marks(&self) -> usize {
        self.subscriptions.values().flat_map(HashMap::values).map(|s| s.delivered.len()).sum()
    }
}

/// A message with its TTL cut to [`MAX_TTL`].
fn capped(mut message: WcMessage) -> WcMessage {
    message.ttl = message.ttl.min(MAX_TTL);
    message
}

/// What deciding on a push needs, borrowed from the mailbox.
struct Due<'a> {
    acked: &'a HashMap<PublisherKey, HashMap<MessageHash, u64>>,
    pending: &'a mut HashMap<u64, Awaited>,
    next_push: &'a mut u64,
}

impl Due<'_> {
    /// The push of `message` to `sub`, if it is due: live, not the subscriber's
    /// own, not acked, not yet delivered on this subscription.
    fn frame(self, sub: &mut Subscription, hash: MessageHash, message: &WcMessage, now_ms: u64) -> Option<String> {
        if message.expiry() <= now_ms
            || message.publisher == sub.client
            || self.acked.get(&sub.client).is_some_and(|a| a.contains_key(&hash))
            || !sub.delivered.insert(hash)
        {
            return None;
        }
        let push_id = *self.next_push;
        *self.next_push += 1;
        if self.pending.len() < MAX_PENDING {
            let awaited = Awaited { client: sub.client, topic: message.topic.clone(), hash, expiry: message.expiry() };
            self.pending.insert(push_id, awaited);
        }
        Some(jsonrpc::request(
            push_id,
            Method::Subscription.name(),
            json!({"id": sub.id, "data": message_json(message)}),
        ))
    }
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

    /// Subscribes and takes the whole backlog at once.
    fn subscribe(
        mb: &mut Mailbox,
        conn: ConnId,
        client: &str,
        topic: &str,
        backlog: Vec<(MessageHash, WcMessage)>,
        now: u64,
    ) -> (String, Vec<Push>) {
        let id = mb.subscribe(conn, client, topic, backlog, now);
        (id, mb.next_backlog(conn, usize::MAX, usize::MAX, now).0)
    }

    fn mailbox() -> Mailbox {
        let defaults = crate::config::BridgeConfig::default();
        Mailbox::new(
            1,
            Limits { max_bytes: defaults.wc_mailbox_max_bytes, max_topic_bytes: defaults.wc_topic_max_bytes },
        )
    }

    #[test]
    fn stored_messages_reach_later_subscribers_but_never_their_publisher() {
        let mut mb = mailbox();
        let (h, m) = msg("proposal", DAPP, NOW);
        assert!(mb.ingest(h, m, NOW).is_empty(), "nobody subscribed yet");
        let (_, own) = subscribe(&mut mb, 1, DAPP, &topic(), vec![], NOW);
        assert!(own.is_empty(), "no echo to the publisher");
        let (id, pushes) = subscribe(&mut mb, 2, WALLET, &topic(), vec![], NOW + 1);
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
        let mut mb = Mailbox::new(10, Limits::default());
        let (_, pushes) = subscribe(&mut mb, 1, WALLET, &topic(), vec![], NOW);
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
        let (_, again) = subscribe(&mut mb, 2, WALLET, &topic(), vec![], NOW + 2);
        assert_eq!(again.len(), 1);
        assert!(again[0].frame.contains("\"two\""));
        let (fetched, more) = mb.fetch(WALLET, &[topic()], usize::MAX, NOW + 2);
        assert_eq!((fetched.len(), more), (1, false));
        assert_eq!(mb.fetch(WALLET, &[topic()], usize::MAX, NOW + 2).0, Vec::<Value>::new(), "fetched is received");
    }

    #[test]
    fn backlog_is_merged_in_publish_order_and_expiry_is_enforced() {
        let mut mb = mailbox();
        let (h2, m2) = msg("later", DAPP, NOW + 5);
        mb.ingest(h2, m2, NOW + 5);
        let (h1, m1) = msg("earlier", DAPP, NOW);
        let (_, pushes) = subscribe(&mut mb, 1, WALLET, &topic(), vec![(h1, m1.clone()), (h1, m1)], NOW + 6);
        assert_eq!(pushes.len(), 2);
        assert!(pushes[0].frame.contains("earlier") && pushes[1].frame.contains("later"));
        assert!(mb.has_message(&topic(), "later", NOW + 6));
        assert_eq!(mb.delivered_marks(), 2);
        mb.sweep(NOW + 301_000);
        assert!(mb.is_empty());
        assert_eq!((mb.bytes(), mb.delivered_marks()), (0, 0), "delivered marks go with their messages");
        let (h3, m3) = msg("stale", DAPP, NOW);
        assert!(mb.ingest(h3, m3, NOW + 300_000).is_empty(), "expired on arrival");
    }

    #[test]
    fn relayed_ttl_and_publish_time_are_bounded() {
        let mut mb = mailbox();
        let (_, pushes) = subscribe(&mut mb, 1, WALLET, &topic(), vec![], NOW);
        assert!(pushes.is_empty());
        let (h, mut m) = msg("forever", DAPP, NOW - 31 * 24 * 3600 * 1000);
        m.ttl = u32::MAX;
        assert!(mb.ingest(h, m, NOW).is_empty(), "a ttl over 30 days is cut to 30 days: expired");
        let (h, m) = msg("future", DAPP, NOW + 3600 * 1000);
        assert!(mb.ingest(h, m.clone(), NOW).is_empty(), "from an hour ahead");
        assert!(matches!(mb.accept(h, m, NOW), Err(MailboxError::FromTheFuture { .. })));
        assert!(mb.is_empty());
    }

    #[test]
    fn a_full_topic_refuses_until_the_receiver_acks_and_relayed_overflow_is_still_pushed() {
        let size = cost(&msg("m00", DAPP, NOW).1);
        let mut mb = Mailbox::new(1, Limits { max_bytes: 5 * size, max_topic_bytes: 3 * size });
        let (_, _) = subscribe(&mut mb, 1, WALLET, &topic(), vec![], NOW);
        let mut frames = Vec::new();
        for i in 0..3 {
            let (h, m) = msg(&format!("m{i:02}"), DAPP, NOW + i);
            frames.extend(mb.accept(h, m, NOW).expect("room"));
        }
        let (h, m) = msg("m03", DAPP, NOW + 3);
        assert!(matches!(mb.accept(h, m.clone(), NOW), Err(MailboxError::TopicFull { .. })));
        assert_eq!(mb.len(), 3, "nothing kept was dropped to make room");
        let overflow = mb.ingest(h, m.clone(), NOW);
        assert_eq!(overflow.len(), 1, "a relayed message that finds no room is still pushed live");
        assert!(mb.ack(push_id(&frames[0].frame), WALLET));
        assert_eq!(mb.accept(h, m, NOW).map(|p| p.len()), Ok(0), "room made by the acked message (already pushed)");
        assert_eq!(mb.len(), 3);
        // Across topics: the total cap holds, other topics fill to it.
        let other = "bb".repeat(32);
        let mut m = msg("x00", DAPP, NOW).1;
        m.topic.clone_from(&other);
        mb.accept([1; 32], m.clone(), NOW).expect("room in total");
        m.message = "x01".into();
        mb.accept([2; 32], m.clone(), NOW).expect("room in total");
        m.message = "x02".into();
        assert!(matches!(mb.accept([3; 32], m, NOW), Err(MailboxError::Full { .. })));
    }

    #[test]
    fn a_backlog_is_handed_out_in_pieces_and_new_messages_queue_behind_it() {
        let mut mb = mailbox();
        for i in 0..3 {
            let (h, m) = msg(&format!("old{i}"), DAPP, NOW + i);
            mb.accept(h, m, NOW).expect("room");
        }
        let id = mb.subscribe(1, WALLET, &topic(), vec![], NOW);
        assert_eq!(id, subscription_id(&topic(), WALLET));
        let (first, more) = mb.next_backlog(1, 1, usize::MAX, NOW);
        assert_eq!((first.len(), more), (1, true), "one piece per call under a 1-byte budget");
        let (h, m) = msg("new", DAPP, NOW + 10);
        assert!(mb.accept(h, m, NOW).expect("room").is_empty(), "queued behind the backlog, not pushed ahead");
        assert_eq!(mb.next_backlog(1, usize::MAX, 0, NOW), (Vec::new(), true), "no free slot: nothing");
        let (rest, more) = mb.next_backlog(1, usize::MAX, usize::MAX, NOW);
        assert!(!more);
        let texts: Vec<bool> = first
            .iter()
            .chain(&rest)
            .zip(["old0", "old1", "old2", "new"])
            .map(|(p, text)| p.frame.contains(&format!("\"{text}\"")))
            .collect();
        assert_eq!(texts, [true; 4], "in publish order: {first:?} {rest:?}");
        let (h, m) = msg("live", DAPP, NOW + 11);
        assert_eq!(mb.accept(h, m, NOW).expect("room").len(), 1, "backlog done: pushed at once again");
    }
}
