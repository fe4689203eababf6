//! Which pubsub topics bridge clients may use, and how much they may hold:
//! the operator's allow-list (`bridge.pubsub_topics`; by default the node's
//! own topics and the shards of its cluster), caps on the pubsub topics joined
//! for bridge clients (per connection and in total, beyond the node's own,
//! which cost nothing), and caps on the bytes of topic names their
//! subscriptions hold (per connection and in total). Sans-IO: the hub asks
//! here, then leases or releases the topics on the network.

use std::collections::{HashMap, HashSet};

use super::walletconnect::mailbox::ConnId;
use crate::config::{ANY_TOPIC, Config};
use crate::waku::PubsubTopic;

/// Why a topic or a subscription was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopicError {
    /// The operator did not open this topic to bridge clients.
    #[error("pubsub topic {0} is not open to bridge clients (bridge.pubsub_topics)")]
    NotAllowed(PubsubTopic),
    /// The connection holds its most pubsub topics.
    #[error(
        "this connection already uses {0} pubsub topics beyond the node's own, the most one may \
         (bridge.max_pubsub_topics_per_connection)"
    )]
    ConnectionTopics(usize),
    /// Bridge clients together hold the most pubsub topics.
    #[error(
        "bridge clients already hold {0} pubsub topics beyond the node's own, the most they may \
         (bridge.max_pubsub_topics); retry later"
    )]
    TotalTopics(usize),
    /// The connection's subscriptions hold their most bytes of topic names.
    #[error(
        "this connection's subscriptions would hold more than {0} bytes of topic names \
         (bridge.max_topic_bytes_per_connection); unsubscribe first"
    )]
    ConnectionBytes(usize),
    /// All bridge subscriptions together hold their most bytes of topic names.
    #[error(
        "bridge subscriptions would hold more than {0} bytes of topic names in total \
         (bridge.max_topic_bytes); retry later"
    )]
    TotalBytes(usize),
}

/// The caps, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Pubsub topics one connection may have joined beyond the node's own.
    pub topics_per_connection: usize,
    /// Pubsub topics all connections may have joined beyond the node's own.
    pub topics: usize,
    /// Bytes of topic names one connection's subscriptions may hold.
    pub bytes_per_connection: usize,
    /// Bytes of topic names all subscriptions may hold.
    pub bytes: usize,
}

#[derive(Debug)]
enum Allowed {
    /// Any topic (`"*"` listed).
    Any,
    /// The listed topics only.
    Listed(HashSet<PubsubTopic>),
    /// The node's own topics and every shard of its cluster (nothing listed).
    OwnAndCluster { cluster: u16, num_shards: u16 },
}

#[derive(Debug, Default)]
struct Held {
    topics: HashSet<PubsubTopic>,
    bytes: usize,
}

/// The topic bookkeeping of all bridge connections.
#[derive(Debug)]
pub struct BridgeTopics {
    allowed: Allowed,
    own: HashSet<PubsubTopic>,
    limits: Limits,
    conns: HashMap<ConnId, Held>,
    /// Connections using each topic joined for bridge clients.
    users: HashMap<PubsubTopic, usize>,
    bytes: usize,
}

impl BridgeTopics {
    /// The policy of a node running `config`. Entries that do not parse are left out
    /// (`Config::validate` refuses them before the node starts).
    pub fn new(config: &Config) -> Self {
        let listed = &config.bridge.pubsub_topics;
        let allowed = if listed.iter().any(|t| t == ANY_TOPIC) {
            Allowed::Any
        } else if listed.is_empty() {
            Allowed::OwnAndCluster { cluster: config.relay.cluster_id, num_shards: config.relay.num_shards }
        } else {
            Allowed::Listed(listed.iter().filter_map(|t| t.parse().ok()).collect())
        };
        let bridge = &config.bridge;
        BridgeTopics {
            allowed,
            own: config.pubsub_topics().unwrap_or_default().into_iter().collect(),
            limits: Limits {
                topics_per_connection: bridge.max_pubsub_topics_per_connection,
                topics: bridge.max_pubsub_topics,
                bytes_per_connection: bridge.max_topic_bytes_per_connection,
                bytes: bridge.max_topic_bytes,
            },
            conns: HashMap::new(),
            users: HashMap::new(),
            bytes: 0,
        }
    }

    /// Whether bridge clients may use `topic` at all.
    pub fn check_allowed(&self, topic: &PubsubTopic) -> Result<(), TopicError> {
        let allowed = match &self.allowed {
            Allowed::Any => true,
            Allowed::Listed(list) => list.contains(topic),
            Allowed::OwnAndCluster { cluster, num_shards } => {
                self.own.contains(topic)
                    || matches!(topic, PubsubTopic::Sharded { cluster: c, shard } if c == cluster && shard < num_shards)
            }
        };
        if allowed { Ok(()) } else { Err(TopicError::NotAllowed(topic.clone())) }
    }

    /// Lets `conn` use `topic`. Returns whether the node must lease it for the
    /// connection (a topic beyond the node's own, new to this connection).
    pub fn admit(&mut self, conn: ConnId, topic: &PubsubTopic) -> Result<bool, TopicError> {
        self.check_allowed(topic)?;
        if self.own.contains(topic) {
            return Ok(false);
        }
        let held = self.conns.entry(conn).or_default();
        if held.topics.contains(topic) {
            return Ok(false);
        }
        if held.topics.len() >= self.limits.topics_per_connection {
            return Err(TopicError::ConnectionTopics(held.topics.len()));
        }
        if !self.users.contains_key(topic) && self.users.len() >= self.limits.topics {
            return Err(TopicError::TotalTopics(self.users.len()));
        }
        held.topics.insert(topic.clone());
        *self.users.entry(topic.clone()).or_default() += 1;
        Ok(true)
    }

    /// Undoes an [`Self::admit`] whose lease failed.
    pub fn forget(&mut self, conn: ConnId, topic: &PubsubTopic) {
        if let Some(held) = self.conns.get_mut(&conn)
            && held.topics.remove(topic)
        {
            self.drop_user(topic);
        }
    }

    fn drop_user(&mut self, topic: &PubsubTopic) {
        if let Some(users) = self.users.get_mut(topic) {
            *users -= 1;
            if *users == 0 {
                self.users.remove(topic);
            }
        }
    }

    /// Counts `bytes` more of topic names held by `conn`'s subscriptions, within the caps.
    pub fn charge(&mut self, conn: ConnId, bytes: usize) -> Result<(), TopicError> {
        let held = self.conns.entry(conn).or_default();
        if held.bytes.saturating_add(bytes) > self.limits.bytes_per_connection {
            return Err(TopicError::ConnectionBytes(self.limits.bytes_per_connection));
        }
        if self.bytes.saturating_add(bytes) > self.limits.bytes {
            return Err(TopicError::TotalBytes(self.limits.bytes));
        }
        held.bytes += bytes;
        self.bytes += bytes;
        Ok(())
    }

    /// Gives back `bytes` charged to `conn` (an unsubscribe).
    pub fn refund(&mut self, conn: ConnId, bytes: usize) {
        if let Some(held) = self.conns.get_mut(&conn) {
            let bytes = bytes.min(held.bytes);
            held.bytes -= bytes;
            self.bytes -= bytes;
        }
    }

    /// Forgets a closed connection; returns the topics leased for it, to release.
    pub fn close(&mut self, conn: ConnId) -> Vec<PubsubTopic> {
        let Some(held) = self.conns.remove(&conn) else { return Vec::new() };
        self.bytes -= held.bytes;
        for topic in &held.topics {
            self.drop_user(topic);
        }
        held.topics.into_iter().collect()
    }

    /// Topics joined for bridge clients and bytes their subscriptions hold, in total.
    pub fn totals(&self) -> (usize, usize) {
        (self.users.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(text: &str) -> PubsubTopic {
        text.parse().expect("topic")
    }

    fn policy(listed: &[&str], limits: Limits) -> BridgeTopics {
        let mut config = Config::default();
        config.relay.shards = vec![0, 1];
        config.bridge.pubsub_topics = listed.iter().map(|t| (*t).to_owned()).collect();
        let mut topics = BridgeTopics::new(&config);
        topics.limits = limits;
        topics
    }

    const LIMITS: Limits = Limits { topics_per_connection: 2, topics: 3, bytes_per_connection: 100, bytes: 150 };

    #[test]
    fn by_default_the_nodes_own_topics_are_free_and_its_clusters_shards_are_leased() {
        let mut topics = policy(&[], LIMITS);
        assert_eq!(topics.admit(1, &topic("/waku/2/rs/1/0")), Ok(false), "relayed already: nothing to lease");
        assert_eq!(topics.admit(1, &topic("/waku/2/rs/1/7")), Ok(true), "a shard of the cluster it does not relay");
        assert_eq!(topics.admit(1, &topic("/waku/2/rs/1/7")), Ok(false), "once per connection");
        for other in ["/waku/2/rs/1/8", "/waku/2/rs/2/0", "/waku/2/default-waku/proto", "/waku/2/junk"] {
            assert!(matches!(topics.admit(1, &topic(other)), Err(TopicError::NotAllowed(_))), "{other}");
        }
    }

    #[test]
    fn leased_topics_are_capped_per_connection_and_in_total_and_given_back_on_close() {
        let mut topics = policy(&["*"], LIMITS);
        assert_eq!(topics.admit(1, &topic("/waku/2/a-1")), Ok(true));
        assert_eq!(topics.admit(1, &topic("/waku/2/a-2")), Ok(true));
        assert_eq!(topics.admit(1, &topic("/waku/2/a-3")), Err(TopicError::ConnectionTopics(2)));
        assert_eq!(topics.admit(2, &topic("/waku/2/a-1")), Ok(true), "a topic already held costs no room in total");
        assert_eq!(topics.admit(2, &topic("/waku/2/a-3")), Ok(true));
        assert_eq!(topics.admit(3, &topic("/waku/2/a-4")), Err(TopicError::TotalTopics(3)));
        assert_eq!(topics.admit(3, &topic("/waku/2/rs/1/0")), Ok(false), "the node's own topics stay open");
        let mut released = topics.close(1);
        released.sort();
        assert_eq!(released, [topic("/waku/2/a-1"), topic("/waku/2/a-2")]);
        assert_eq!(topics.totals().0, 2, "/a/1 is still used by connection 2");
        assert_eq!(topics.admit(3, &topic("/waku/2/a-4")), Ok(true));
        topics.forget(3, &topic("/waku/2/a-4"));
        assert_eq!(topics.totals().0, 2);
    }

    #[test]
    fn listed_topics_are_the_only_ones_open_and_name_bytes_are_capped() {
        let mut topics = policy(&["/waku/2/rs/1/0", "/waku/2/named-topic"], LIMITS);
        assert_eq!(topics.admit(1, &topic("/waku/2/named-topic")), Ok(true));
        assert!(topics.check_allowed(&topic("/waku/2/rs/1/1")).is_err(), "even the node's own, if not listed");
        assert_eq!(topics.charge(1, 60), Ok(()));
        assert_eq!(topics.charge(1, 41), Err(TopicError::ConnectionBytes(100)));
        assert_eq!(topics.charge(2, 91), Err(TopicError::TotalBytes(150)));
        topics.refund(1, 30);
        assert_eq!(topics.charge(2, 91), Ok(()));
        assert_eq!(topics.totals().1, 121);
        topics.close(2);
        topics.close(1);
        assert_eq!(topics.totals(), (0, 0));
    }
}
