//! Gap filling: when a peer that serves store queries (re)connects, ask it
//! for the window this node may have missed — since its newest stored
//! message, bounded by a maximum window — and store what was lacking. A
//! restarted or partitioned node then answers queries as if never down.
//!
//! A store peer's answer is not trusted. Every returned message must carry
//! the deterministic hash of its own content and be on the pubsub topic asked
//! for; a page with one false entry is discarded whole and the peer is not
//! asked again until it reconnects. A message that is not a valid relay
//! message, or whose timestamp is outside the asked window (or more than
//! [`MAX_CLOCK_AHEAD`] ahead of this node's clock), is skipped and counted: an
//! honest peer may hold one from a sender with a bad clock. Peers in this node's relay mesh are asked first; a store peer
//! outside the mesh is asked only after [`MESH_GRACE`], with the smaller
//! [`Budget::OUTSIDE_MESH`]. What one peer may add in one pass is bounded in
//! messages, bytes and pages.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use heliograph_proto::Message;
use heliograph_proto::store::{StoreQueryRequest, WakuMessageKeyValue};
use libp2p::PeerId;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Store, StoreError, StoredMessage};
use crate::metrics::{NodeMetrics, ReasonLabel};
use crate::p2p::{NetworkHandle, PeerInfo};
use crate::waku::time::now_ns;
use crate::waku::{PubsubTopic, RelayMessage};

/// How often the peer list is checked for newly connected store peers.
const POLL: Duration = Duration::from_secs(1);
/// Slack before the newest stored message, for messages still in flight then.
const OVERLAP: Duration = Duration::from_secs(60);
/// Messages asked for per page.
const PAGE_SIZE: u64 = 100;
/// How far ahead of this node's clock a fetched message's timestamp may be.
/// A later one would move the newest stored time, and so the start of every
/// later gap fill, into the future.
pub const MAX_CLOCK_AHEAD: Duration = Duration::from_secs(20);
/// How long a connected store peer outside the relay mesh waits before it is
/// asked, so that a peer about to join the mesh is asked as a mesh peer.
pub const MESH_GRACE: Duration = Duration::from_secs(5);

/// Why gap filling from a peer stopped.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Shutdown,
    /// The query did not get an answer.
    #[error("store query failed: {0}")]
    Query(String),
    /// The peer answered with an error status.
    #[error("peer answered {code}: {desc}")]
    Status {
        /// The status code.
        code: u32,
        /// Its description.
        desc: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The peer's answer was false; the page was discarded.
    #[error("the peer's answer was discarded: {0}")]
    Untrusted(#[from] Untrusted),
}

/// Why an entry of a store peer's answer was not stored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// The entry carries no message hash.
    #[error("an entry has no message hash")]
    NoHash,
    /// The entry carries no message though the query asked for data.
    #[error("an entry has no message though the query asked for data")]
    NoMessage,
    /// The claimed hash is not the hash of the message's content.
    #[error("an entry claims hash {claimed} but its message hashes to {computed}")]
    HashMismatch {
        /// The hash the peer sent, hex.
        claimed: String,
        /// The hash of the message it sent, hex.
        computed: String,
    },
    /// The message is on another pubsub topic than the one asked for.
    #[error("a message is on pubsub topic {got}, the query asked for {asked}")]
    WrongTopic {
        /// The topic asked for.
        asked: String,
        /// The topic of the message.
        got: String,
    },
    /// The message's timestamp is outside the window asked for.
    #[error("a message's timestamp {timestamp} is outside the asked window {start}..={end}")]
    OutsideWindow {
        /// The message's timestamp, ns.
        timestamp: i64,
        /// The window's start, ns.
        start: i64,
        /// The latest acceptable timestamp, ns.
        end: i64,
    },
    /// The message would not be relayed (too large, no content topic, …).
    #[error("a message is not a valid relay message: {0}")]
    Invalid(String),
    /// The page holds more messages than asked for.
    #[error("a page holds {0} messages, more than the {PAGE_SIZE} asked for")]
    PageTooLong(usize),
}

impl Untrusted {
    /// Whether the entry proves the answer false, so its whole page is
    /// discarded; otherwise only the entry is skipped.
    pub fn discards_page(&self) -> bool {
        !matches!(self, Untrusted::OutsideWindow { .. } | Untrusted::Invalid(_))
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Untrusted::NoHash => "no_hash",
            Untrusted::NoMessage => "no_message",
            Untrusted::HashMismatch { .. } => "hash_mismatch",
            Untrusted::WrongTopic { .. } => "wrong_topic",
            Untrusted::OutsideWindow { .. } => "outside_window",
            Untrusted::Invalid(_) => "invalid",
            Untrusted::PageTooLong(_) => "page_too_long",
        }
    }
}

/// What one peer may add to the store in one pass of gap filling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Messages.
    pub messages: usize,
    /// Bytes of encoded messages.
    pub bytes: usize,
    /// Pages asked for (an endless run of empty pages ends too).
    pub pages: usize,
}

impl Budget {
    /// For a peer in this node's relay mesh: six hours of a busy shard.
    pub const MESH: Budget = Budget { messages: 100_000, bytes: 256 * 1024 * 1024, pages: 1_000 };
    /// For a store peer outside the mesh, which gossipsub has not scored.
    pub const OUTSIDE_MESH: Budget = Budget { messages: 5_000, bytes: 16 * 1024 * 1024, pages: 100 };

    /// Takes one page from the budget: keeps as much of `batch` as still fits
    /// and returns false once the budget is spent.
    fn take(&mut self, batch: &mut Vec<StoredMessage>) -> bool {
        self.pages = self.pages.saturating_sub(1);
        let mut kept = 0;
        for message in batch.iter() {
            let size = message.message.encoded_len();
            if kept == self.messages || size > self.bytes {
                break;
            }
            kept += 1;
            self.bytes -= size;
        }
        let spent = kept < batch.len() || kept == self.messages || self.pages == 0;
        self.messages -= kept;
        batch.truncate(kept);
        !spent
    }
}

/// Checks one entry of an answer to a query for `asked` from `start` on,
/// received at `received` (ns): the message to store, `None` for an
/// ephemeral one (never stored), or why the entry is false.
pub fn verify(
    entry: WakuMessageKeyValue,
    asked: &PubsubTopic,
    start: i64,
    received: i64,
) -> Result<Option<StoredMessage>, Untrusted> {
    let message = entry.message.ok_or(Untrusted::NoMessage)?;
    if let Some(topic) = entry.pubsub_topic
        && topic != asked.to_string()
    {
        return Err(Untrusted::WrongTopic { asked: asked.to_string(), got: topic });
    }
    let relayed = RelayMessage::encode(asked.clone(), message).map_err(|e| Untrusted::Invalid(e.to_string()))?;
    let computed = relayed.hash();
    let claimed = entry.message_hash.ok_or(Untrusted::NoHash)?;
    if claimed != computed {
        return Err(Untrusted::HashMismatch { claimed: hex::encode(claimed), computed: hex::encode(computed) });
    }
    let end = received.saturating_add(i64::try_from(MAX_CLOCK_AHEAD.as_nanos()).unwrap_or(i64::MAX));
    if let Some(timestamp) = relayed.message.timestamp.filter(|t| *t != 0)
        && !(start..=end).contains(&timestamp)
    {
        return Err(Untrusted::OutsideWindow { timestamp, start, end });
    }
    Ok(StoredMessage::keep(&relayed, received))
}

/// Decides which connected store peers to fill from, when, and with what budget.
#[derive(Debug, Default)]
pub struct Planner {
    /// When each store peer not yet filled from was first seen connected.
    seen: HashMap<PeerId, Instant>,
    /// Store peers filled from during their current connection.
    filled: HashSet<PeerId>,
}

impl Planner {
    /// The store peers among `peers` to fill from now, peers in the relay mesh
    /// first, each with its budget. Each peer is filled from once per
    /// connection; a peer that went away is filled from again when it comes
    /// back (a partition healed).
    pub fn due(&mut self, peers: &[PeerInfo], now: Instant) -> Vec<(PeerId, Budget)> {
        let serves_store =
            |p: &&PeerInfo| p.protocols.iter().any(|proto| proto == heliograph_proto::protocol_id::STORE_QUERY);
        let store_peers: Vec<&PeerInfo> = peers.iter().filter(serves_store).collect();
        let connected: HashSet<PeerId> = store_peers.iter().map(|p| p.peer_id).collect();
        self.filled.retain(|p| connected.contains(p));
        self.seen.retain(|p, _| connected.contains(p));
        let mut due = Vec::new();
        for peer in store_peers {
            if self.filled.contains(&peer.peer_id) {
                continue;
            }
            let first_seen = *self.seen.entry(peer.peer_id).or_insert(now);
            let budget = if !peer.mesh.is_empty() {
                Budget::MESH
            } else if now.saturating_duration_since(first_seen) >= MESH_GRACE {
                Budget::OUTSIDE_MESH
            } else {
                continue;
            };
            due.push((peer.peer_id, budget));
        }
        due.sort_by_key(|(_, budget)| *budget != Budget::MESH);
        for (peer, _) in &due {
            self.seen.remove(peer);
            self.filled.insert(*peer);
        }
        due
    }
}

/// Watches for store peers and fills gaps from them until shutdown.
pub fn spawn(
    store: Store,
    network: NetworkHandle,
    metrics: NodeMetrics,
    max_window: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut planner = Planner::default();
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let peers = network.peers().await;
            for (peer, budget) in planner.due(&peers, Instant::now()) {
                match fill_from(&store, &network, &metrics, peer, max_window, budget).await {
                    Ok(0) => debug!(%peer, "gap filling: nothing missing"),
                    Ok(n) => info!(%peer, fetched = n, "gap filling: stored missed messages"),
                    Err(FillError::Untrusted(e)) => {
                        metrics.gap_fill_rejected.get_or_create(&ReasonLabel { reason: e.label().into() }).inc();
                        warn!(%peer, error = %e, "gap filling: the peer sent a false answer; not asking it again");
                    }
                    Err(e) => warn!(%peer, error = %e, "gap filling failed"),
                }
            }
        }
    })
}

/// Fetches every message of the node's topics in the missed window from `peer`,
/// within `budget`. Returns how many messages were fetched (stored ones are
/// deduplicated); pages fetched before a failing one stay stored.
pub async fn fill_from(
    store: &Store,
    network: &NetworkHandle,
    metrics: &NodeMetrics,
    peer: PeerId,
    max_window: Duration,
    mut budget: Budget,
) -> Result<usize, FillError> {
    let now = now_ns();
    let floor = now.saturating_sub(i64::try_from(max_window.as_nanos()).unwrap_or(i64::MAX));
    let newest = store.newest_time().await?;
    let overlap = i64::try_from(OVERLAP.as_nanos()).unwrap_or(i64::MAX);
    let start = newest.map_or(floor, |t| t.saturating_sub(overlap).max(floor));
    let topics = network.info().await.ok_or(FillError::Shutdown)?.topics;
    let mut fetched = 0;
    for topic in topics {
        let mut cursor = None;
        for page in 0.. {
            let request = StoreQueryRequest {
                request_id: format!("gap-fill-{page}"),
                include_data: true,
                pubsub_topic: Some(topic.to_string()),
                time_start: Some(start),
                // No upper bound: senders' clocks run ahead of ours too.
                pagination_cursor: cursor.take(),
                pagination_forward: true,
                pagination_limit: Some(PAGE_SIZE),
                ..Default::default()
            };
            let response = network.store_query(peer, request).await.map_err(FillError::Query)?;
            if response.status_code != Some(200) {
                return Err(FillError::Status {
                    code: response.status_code.unwrap_or(0),
                    desc: response.status_desc.unwrap_or_default(),
                });
            }
            if response.messages.len() > PAGE_SIZE as usize {
                return Err(Untrusted::PageTooLong(response.messages.len()).into());
            }
            let received = now_ns();
            let mut batch = Vec::with_capacity(response.messages.len());
            for entry in response.messages {
                match verify(entry, &topic, start, received) {
                    Ok(Some(message)) => batch.push(message),
                    Ok(None) => {}
                    Err(e) if e.discards_page() => return Err(e.into()),
                    Err(e) => {
                        debug!(%peer, %topic, reason = %e, "gap filling: message skipped");
                        metrics.gap_fill_rejected.get_or_create(&ReasonLabel { reason: e.label().into() }).inc();
                    }
                }
            }
            let more = budget.take(&mut batch);
            fetched += batch.len();
            if !batch.is_empty() {
                let n = batch.len();
                store.put(batch).await?;
                // Counted as stored, so a later failing page does not hide what came before.
                metrics.gap_filled_messages.inc_by(n as u64);
            }
            if !more {
                warn!(%peer, %topic, fetched, "gap filling stopped: this peer's budget for the pass is spent");
                return Ok(fetched);
            }
            match response.pagination_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::message_hash;
    use heliograph_proto::WakuMessage;

    const TOPIC: &str = "/waku/2/rs/1/0";

    fn topic() -> PubsubTopic {
        TOPIC.parse().expect("topic")
    }

    fn message(text: &str, timestamp: i64) -> WakuMessage {
        WakuMessage {
            payload: text.as_bytes().to_vec(),
            content_topic: "/heliograph/1/sync-test/proto".into(),
            timestamp: Some(timestamp),
            ..Default::default()
        }
    }

    /// An honest entry: the message, its topic and its own hash.
    fn entry(message: WakuMessage) -> WakuMessageKeyValue {
        WakuMessageKeyValue {
            message_hash: Some(message_hash(TOPIC, &message).to_vec()),
            pubsub_topic: Some(TOPIC.into()),
            message: Some(message),
        }
    }

    #[test]
    fn honest_entries_are_stored_with_their_hash() {
        let now = now_ns();
        let m = message("honest", now - 1_000);
        let stored = verify(entry(m.clone()), &topic(), now - 10_000, now).expect("honest").expect("stored");
        assert_eq!(stored.hash, message_hash(TOPIC, &m));
        assert_eq!((stored.time, stored.message), (now - 1_000, m));

        let mut ephemeral = message("ephemeral", now);
        ephemeral.ephemeral = Some(true);
        assert_eq!(verify(entry(ephemeral), &topic(), now - 10_000, now), Ok(None), "verified, never stored");
        let mut untimed = message("no timestamp", 0);
        untimed.timestamp = None;
        let stored = verify(entry(untimed), &topic(), now - 10_000, now).expect("honest").expect("stored");
        assert_eq!(stored.time, now, "ordered by the receive time");
    }

    #[test]
    fn false_entries_are_refused_with_the_reason() {
        let now = now_ns();
        let start = now - 10_000;
        let check = |e: WakuMessageKeyValue| verify(e, &topic(), start, now).map(|_| ()).expect_err("refused").label();

        // A hash that is not the content's: another message's, or the right one for edited content.
        let mut forged = entry(message("forged", now));
        forged.message_hash = Some(message_hash(TOPIC, &message("original", now)).to_vec());
        assert_eq!(check(forged), "hash_mismatch");
        let mut edited = entry(message("original", now));
        edited.message.as_mut().expect("message").payload = b"edited".to_vec();
        let err = verify(edited, &topic(), start, now).expect_err("refused");
        assert!(err.to_string().contains("hashes to"), "{err}");

        let mut no_hash = entry(message("no hash", now));
        no_hash.message_hash = None;
        assert_eq!(check(no_hash), "no_hash");
        let mut no_message = entry(message("x", now));
        no_message.message = None;
        assert_eq!(check(no_message), "no_message");

        // Right hash for another topic, claimed on ours.
        let other = "/waku/2/rs/1/7";
        let m = message("elsewhere", now);
        let elsewhere = WakuMessageKeyValue {
            message_hash: Some(message_hash(other, &m).to_vec()),
            pubsub_topic: Some(other.into()),
            message: Some(m),
        };
        assert_eq!(check(elsewhere), "wrong_topic");

        // Consistent, but outside what was asked: before the window, or far in the future.
        assert_eq!(check(entry(message("old", start - 1))), "outside_window");
        let ahead = i64::try_from(MAX_CLOCK_AHEAD.as_nanos()).expect("fits");
        assert_eq!(check(entry(message("future", now + ahead + 1))), "outside_window");
        assert_eq!(check(entry(message("max", i64::MAX))), "outside_window");
        assert!(verify(entry(message("just ahead", now + ahead)), &topic(), start, now).is_ok());

        let mut huge = message("", now);
        huge.payload = vec![1; crate::waku::MAX_MESSAGE_SIZE];
        assert_eq!(check(entry(huge)), "invalid");
        let mut untopical = message("no content topic", now);
        untopical.content_topic = String::new();
        assert_eq!(check(entry(untopical)), "invalid");
    }

    #[test]
    fn only_proven_lies_discard_the_page() {
        let lies = [
            Untrusted::NoHash,
            Untrusted::NoMessage,
            Untrusted::HashMismatch { claimed: String::new(), computed: String::new() },
            Untrusted::WrongTopic { asked: String::new(), got: String::new() },
            Untrusted::PageTooLong(101),
        ];
        assert!(lies.iter().all(Untrusted::discards_page));
        // A sender's bad clock, or a message nwaku keeps and our relay refuses, is no lie.
        assert!(!Untrusted::OutsideWindow { timestamp: 0, start: 1, end: 2 }.discards_page());
        assert!(!Untrusted::Invalid(String::new()).discards_page());
    }

    fn stored(n: usize, payload: usize) -> Vec<StoredMessage> {
        (0..n)
            .map(|i| {
                let mut m = message(&i.to_string(), 1);
                m.payload.resize(payload, 0);
                StoredMessage::new(TOPIC.into(), m, 1)
            })
            .collect()
    }

    #[test]
    fn a_budget_bounds_messages_bytes_and_pages() {
        let mut budget = Budget { messages: 150, bytes: usize::MAX, pages: 10 };
        let mut page = stored(100, 10);
        assert!(budget.take(&mut page), "room left after the first page");
        assert_eq!(page.len(), 100);
        let mut page = stored(100, 10);
        assert!(!budget.take(&mut page), "spent");
        assert_eq!(page.len(), 50, "cut to the 150 messages of the budget");

        let size = stored(1, 1000)[0].message.encoded_len();
        let mut budget = Budget { messages: 1000, bytes: size * 3 + size / 2, pages: 10 };
        let mut page = stored(5, 1000);
        assert!(!budget.take(&mut page));
        assert_eq!(page.len(), 3, "cut to the bytes of the budget");

        let mut budget = Budget { messages: 1000, bytes: usize::MAX, pages: 3 };
        assert!(budget.take(&mut Vec::new()));
        assert!(budget.take(&mut Vec::new()));
        assert!(!budget.take(&mut Vec::new()), "endless empty pages end at the page budget");
    }

    fn peer(id: PeerId, store: bool, mesh: bool) -> PeerInfo {
        PeerInfo {
            peer_id: id,
            addr: "/ip4/127.0.0.1/tcp/1".parse().expect("addr"),
            outbound: true,
            protocols: if store { vec![heliograph_proto::protocol_id::STORE_QUERY.into()] } else { Vec::new() },
            agent: None,
            topics: vec![TOPIC.into()],
            mesh: if mesh { vec![TOPIC.into()] } else { Vec::new() },
        }
    }

    #[test]
    fn mesh_peers_are_asked_first_and_others_after_the_grace() {
        let (meshed, outside, plain) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut planner = Planner::default();
        let t0 = Instant::now();
        let peers = vec![peer(outside, true, false), peer(plain, false, true), peer(meshed, true, true)];
        assert_eq!(planner.due(&peers, t0), vec![(meshed, Budget::MESH)], "the mesh peer at once, no others");
        assert_eq!(planner.due(&peers, t0 + MESH_GRACE / 2), vec![], "each peer once");
        assert_eq!(planner.due(&peers, t0 + MESH_GRACE), vec![(outside, Budget::OUTSIDE_MESH)]);
        assert_eq!(planner.due(&peers, t0 + MESH_GRACE * 2), vec![]);

        // Both come back at once: the mesh one first; the other, still in its grace, joins the mesh.
        let t1 = t0 + MESH_GRACE * 3;
        assert_eq!(planner.due(&[], t1), vec![], "both went away");
        let back = vec![peer(outside, true, false), peer(meshed, true, true)];
        assert_eq!(planner.due(&back, t1), vec![(meshed, Budget::MESH)]);
        let joined = vec![peer(outside, true, true), peer(meshed, true, true)];
        assert_eq!(planner.due(&joined, t1 + Duration::from_secs(1)), vec![(outside, Budget::MESH)]);
    }
}
