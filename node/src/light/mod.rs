//! The light-client protocols a service node offers to `@waku/sdk` and other
//! light nodes: filter v2, lightpush v3 and v2, and peer exchange. Each
//! protocol's logic is pure and lives in its own module; [`server`] turns it
//! into answers for the swarm task, which serves the requests with
//! `request_response` (one request per stream, varint-length-prefixed
//! protobuf); [`push`] delivers filter pushes, [`service`] starts it all, and
//! [`client`] is the requesting side.

pub mod client;
pub mod filter;
pub mod filter_client;
pub mod lightpush;
pub mod peer_exchange;
pub mod push;
pub mod server;
pub mod service;

use crate::config::Config;
use crate::waku::{ContentTopic, PubsubTopic};

pub use lightpush::PushReply;
pub use push::FilterHub;
pub use server::{Server, publish_and_store};
pub use service::{LightError, PeerExchangeCache, Services, Started, spawn};

/// Which pubsub topics light clients may use. Like nwaku, a topic need not be
/// relayed when the request comes: a lightpush on a topic this node does not relay
/// fails when it is published (no relay peers), and a filter subscription only
/// sees messages once the node relays its topic (for example after a REST
/// subscription).
#[derive(Debug, Clone)]
pub struct TopicPolicy {
    cluster: u16,
    num_shards: u16,
}

impl TopicPolicy {
    /// A policy for a node of `cluster` with `num_shards` autosharding shards.
    pub fn new(cluster: u16, num_shards: u16) -> Self {
        TopicPolicy { cluster, num_shards }
    }

    /// The policy of a node running `config`.
    pub fn from_config(config: &Config) -> Self {
        TopicPolicy::new(config.relay.cluster_id, config.relay.num_shards)
    }

    /// Parses a lightpush's pubsub topic and checks that it is in this node's cluster.
    pub fn check(&self, raw: &str) -> Result<PubsubTopic, String> {
        let topic: PubsubTopic = raw.parse().map_err(|e| format!("{e}"))?;
        if let Some(other) = topic.cluster().filter(|c| *c != self.cluster) {
            return Err(format!(
                "pubsub topic {topic} is in cluster {other}, this node is in cluster {}",
                self.cluster
            ));
        }
        Ok(topic)
    }

    /// Parses a filter subscription's pubsub topic: any well-formed one, of any
    /// cluster, as nwaku accepts. The filter limits bound what a peer can make the
    /// node remember.
    pub fn check_filter(&self, raw: &str) -> Result<PubsubTopic, String> {
        raw.parse().map_err(|e: crate::waku::TopicError| e.to_string())
    }

    /// The pubsub topic of this node's cluster a content topic is autosharded to.
    pub fn autoshard(&self, content_topic: &str) -> Result<PubsubTopic, String> {
        let topic: ContentTopic = content_topic.parse().map_err(|e| format!("{e}"))?;
        topic.pubsub_topic(self.cluster, self.num_shards).map_err(|e| e.to_string())
    }
}
