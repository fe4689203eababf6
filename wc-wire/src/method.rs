//! The relay's JSON-RPC methods (`irn_*`) and the subscription id both sides derive.

use sha2::{Digest, Sha256};

/// Most topics per batch call (`irn_batchSubscribe`, `irn_batchFetchMessages`, …).
pub const BATCH_LIMIT: usize = 500;

/// A relay JSON-RPC method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `irn_publish {topic, message, ttl, tag, prompt?}`.
    Publish,
    /// `irn_batchPublish {messages}`.
    BatchPublish,
    /// `irn_subscribe {topic}`, answered with the subscription id.
    Subscribe,
    /// `irn_batchSubscribe {topics}`.
    BatchSubscribe,
    /// `irn_unsubscribe {topic, id}`.
    Unsubscribe,
    /// `irn_batchUnsubscribe {subscriptions}`.
    BatchUnsubscribe,
    /// `irn_fetchMessages {topic}`.
    FetchMessages,
    /// `irn_batchFetchMessages {topics}`.
    BatchFetchMessages,
    /// `irn_subscription {id, data}`: the relay's push of a message.
    Subscription,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 9] = [
        Method::Publish,
        Method::BatchPublish,
        Method::Subscribe,
        Method::BatchSubscribe,
        Method::Unsubscribe,
        Method::BatchUnsubscribe,
        Method::FetchMessages,
        Method::BatchFetchMessages,
        Method::Subscription,
    ];

    /// The method's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Publish => "irn_publish",
            Method::BatchPublish => "irn_batchPublish",
            Method::Subscribe => "irn_subscribe",
            Method::BatchSubscribe => "irn_batchSubscribe",
            Method::Unsubscribe => "irn_unsubscribe",
            Method::BatchUnsubscribe => "irn_batchUnsubscribe",
            Method::FetchMessages => "irn_fetchMessages",
            Method::BatchFetchMessages => "irn_batchFetchMessages",
            Method::Subscription => "irn_subscription",
        }
    }

    /// The method named `name`, if it is a relay method.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The subscription id of `client_id` on `topic`, as clients compute it to
/// unsubscribe: hex(sha256(topic ‖ client id)).
pub fn subscription_id(topic: &str, client_id: &str) -> String {
    hex::encode(Sha256::new().chain_update(topic.as_bytes()).chain_update(client_id.as_bytes()).finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        assert_eq!(Method::from_name("irn_publishh"), None);
        assert_eq!(Method::from_name("waku_publish"), None);
    }

    #[test]
    fn subscription_id_is_sha256_of_topic_then_client_id() {
        // sha256("abcdid:key:z6Mk")
        let expected = hex::encode(Sha256::digest(b"abcdid:key:z6Mk"));
        assert_eq!(subscription_id("abc", "did:key:z6Mk"), expected);
        assert_ne!(subscription_id("did:key:z6Mk", "abc"), expected);
    }
}
