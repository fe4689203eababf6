//! Pubsub topics (named and relay-sharded) and content topics, with the
//! autosharding rule that maps a content topic to a shard of a cluster
//! (waku-org/specs `standards/core/relay-sharding.md`).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Longest topic string accepted, to bound memory a peer can make us hold.
pub const MAX_TOPIC_LEN: usize = 256;

/// Why a topic string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic is longer than [`MAX_TOPIC_LEN`].
    #[error("topic is {0} bytes long, the limit is {MAX_TOPIC_LEN}")]
    TooLong(usize),
    /// A pubsub topic that is neither `/waku/2/rs/<cluster>/<shard>` nor `/waku/2/<name>`.
    #[error("`{0}` is not a Waku pubsub topic: expected `/waku/2/rs/<cluster>/<shard>` or `/waku/2/<name>`")]
    BadPubsubTopic(String),
    /// A content topic that is not `/app/version/name/encoding` (optionally `/0/…`).
    #[error(
        "`{0}` is not a Waku content topic: expected `/<app>/<version>/<name>/<encoding>` (optionally prefixed by generation `/0`)"
    )]
    BadContentTopic(String),
    /// Content topic generations other than 0 are not defined yet.
    #[error("content topic generation {0} is not supported (only 0)")]
    UnsupportedGeneration(String),
    /// Autosharding over zero shards.
    #[error("the cluster has no shards to map content topics to")]
    NoShards,
}

/// A gossipsub topic that Waku relay runs on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PubsubTopic {
    /// Static or auto sharding: `/waku/2/rs/<cluster>/<shard>`.
    Sharded {
        /// Cluster id.
        cluster: u16,
        /// Shard index in the cluster.
        shard: u16,
    },
    /// Legacy named sharding, e.g. `/waku/2/default-waku/proto`.
    Named(String),
}

impl PubsubTopic {
    /// The legacy default topic of Waku v2.
    pub fn default_waku() -> Self {
        PubsubTopic::Named("default-waku/proto".into())
    }

    /// The cluster this topic belongs to, if it is sharded.
    pub fn cluster(&self) -> Option<u16> {
        match self {
            PubsubTopic::Sharded { cluster, .. } => Some(*cluster),
            PubsubTopic::Named(_) => None,
        }
    }
}

impl fmt::Display for PubsubTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubsubTopic::Sharded { cluster, shard } => write!(f, "/waku/2/rs/{cluster}/{shard}"),
            PubsubTopic::Named(name) => write!(f, "/waku/2/{name}"),
        }
    }
}

impl FromStr for PubsubTopic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong(s.len()));
        }
        let bad = || TopicError::BadPubsubTopic(s.to_owned());
        let rest = s.strip_prefix("/waku/2/").ok_or_else(bad)?;
        if let Some(sharded) = rest.strip_prefix("rs/") {
            let (cluster, shard) = sharded.split_once('/').ok_or_else(bad)?;
            let cluster = parse_decimal(cluster).ok_or_else(bad)?;
            let shard = parse_decimal(shard).ok_or_else(bad)?;
            return Ok(PubsubTopic::Sharded { cluster, shard });
        }
        let printable = rest.chars().all(|c| c.is_ascii_graphic());
        if rest.is_empty() || !printable || rest.starts_with('/') || rest.ends_with('/') {
            return Err(bad());
        }
        Ok(PubsubTopic::Named(rest.to_owned()))
    }
}

/// Parses a plain decimal `u16` (no sign, no leading `+`, no whitespace).
fn parse_decimal(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A content topic `/{app}/{version}/{name}/{encoding}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentTopic {
    raw: String,
    app: String,
    version: String,
}

impl ContentTopic {
    /// The application name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The full topic string as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The shard this topic maps to under autosharding with `num_shards` shards:
    /// the last 8 bytes of `sha256(app ‖ version)` as a big-endian integer,
    /// modulo the number of shards.
    pub fn shard(&self, num_shards: u16) -> Result<u16, TopicError> {
        if num_shards == 0 {
            return Err(TopicError::NoShards);
        }
        let digest = Sha256::new().chain_update(self.app.as_bytes()).chain_update(self.version.as_bytes()).finalize();
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&digest[24..]);
        let shard = u64::from_be_bytes(tail) % u64::from(num_shards);
        Ok(u16::try_from(shard).expect("a value modulo a u16 fits a u16"))
    }

    /// The pubsub topic this content topic is autosharded to in `cluster`.
    pub fn pubsub_topic(&self, cluster: u16, num_shards: u16) -> Result<PubsubTopic, TopicError> {
        Ok(PubsubTopic::Sharded { cluster, shard: self.shard(num_shards)? })
    }
}

impl fmt::Display for ContentTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for ContentTopic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong(s.len()));
        }
        let bad = || TopicError::BadContentTopic(s.to_owned());
        let parts: Vec<&str> = s.strip_prefix('/').ok_or_else(bad)?.split('/').collect();
        let (app, version) = match parts.as_slice() {
            [app, version, name, encoding] if ![app, version, name, encoding].iter().any(|p| p.is_empty()) => {
                (*app, *version)
            }
            [generation, app, version, name, encoding]
                if ![app, version, name, encoding].iter().any(|p| p.is_empty()) =>
            {
                if *generation != "0" {
                    return Err(TopicError::UnsupportedGeneration((*generation).to_owned()));
                }
                (*app, *version)
            }
            _ => return Err(bad()),
        };
        Ok(ContentTopic { raw: s.to_owned(), app: app.to_owned(), version: version.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_topics_round_trip() {
        let t: PubsubTopic = "/waku/2/rs/3/7".parse().expect("valid");
        assert_eq!(t, PubsubTopic::Sharded { cluster: 3, shard: 7 });
        assert_eq!(t.to_string(), "/waku/2/rs/3/7");
        assert_eq!(t.cluster(), Some(3));
    }

    #[test]
    fn named_topics_round_trip() {
        let t: PubsubTopic = "/waku/2/default-waku/proto".parse().expect("valid");
        assert_eq!(t, PubsubTopic::default_waku());
        assert_eq!(t.to_string(), "/waku/2/default-waku/proto");
        assert_eq!(t.cluster(), None);
    }

    #[test]
    fn malformed_pubsub_topics_are_refused() {
        for bad in [
            "",
            "waku/2/rs/1/0",
            "/waku/1/rs/1/0",
            "/waku/2/rs/1",
            "/waku/2/rs/1/",
            "/waku/2/rs/x/0",
            "/waku/2/rs/1/+2",
            "/waku/2/rs/70000/0",
            "/waku/2/",
            "/waku/2/a b",
        ] {
            assert!(bad.parse::<PubsubTopic>().is_err(), "{bad:?} should be refused");
        }
        let long = format!("/waku/2/{}", "x".repeat(MAX_TOPIC_LEN));
        assert_eq!(long.parse::<PubsubTopic>(), Err(TopicError::TooLong(long.len())));
    }

    #[test]
    fn content_topics_parse_with_and_without_generation() {
        let t: ContentTopic = "/toychat/2/huilong/proto".parse().expect("valid");
        assert_eq!(t.app(), "toychat");
        let g: ContentTopic = "/0/toychat/2/huilong/proto".parse().expect("valid");
        assert_eq!(g.shard(8), t.shard(8));
        assert_eq!(
            "/1/toychat/2/huilong/proto".parse::<ContentTopic>(),
            Err(TopicError::UnsupportedGeneration("1".into()))
        );
        for bad in ["toychat/2/huilong/proto", "/toychat/2/proto", "/toychat//huilong/proto", "/a/b/c/d/e/f"] {
            assert!(bad.parse::<ContentTopic>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn autosharding_matches_the_spec_example() {
        // relay-sharding spec: app "myapp", version "1", 8 shards → shard 0.
        let t: ContentTopic = "/myapp/1/chat/proto".parse().expect("valid");
        assert_eq!(t.shard(8), Ok(0));
    }

    #[test]
    fn autosharding_gives_the_shards_nwaku_gives() {
        // nwaku's autosharding test vectors (cluster 1, 8 shards).
        for (topic, shard) in [
            ("/toychat/2/huilong/proto", 3),
            ("/0/toychat/2/huilong/proto", 3),
            ("/toychat2/2/huilong/proto", 6),
            ("/toychat/2/huilong/proto2", 3),
            ("/0/toychat/4/huilong/proto2", 7),
        ] {
            let t: ContentTopic = topic.parse().expect("valid");
            assert_eq!(t.pubsub_topic(1, 8).expect("shards").to_string(), format!("/waku/2/rs/1/{shard}"), "{topic}");
        }
    }

    #[test]
    fn autosharding_uses_the_last_eight_digest_bytes() {
        let t: ContentTopic = "/toychat/2/huilong/proto".parse().expect("valid");
        let digest = Sha256::digest(b"toychat2");
        let expected = u64::from_be_bytes(digest[24..].try_into().expect("8 bytes")) % 1024;
        assert_eq!(u64::from(t.shard(1024).expect("shards")), expected);
        assert_eq!(t.shard(0), Err(TopicError::NoShards));
        // Only app and version matter: different names share the shard.
        let same_app: ContentTopic = "/toychat/2/other/json".parse().expect("valid");
        assert_eq!(same_app.shard(1024), t.shard(1024));
    }
}
