//! Messages kept for REST polling (`GET /relay/v1/messages/…`): per pubsub
//! topic and per content topic subscribed through the REST API, each a
//! bounded queue whose oldest entries give way. A read drains the queue.

use std::collections::{HashMap, VecDeque};

use crate::waku::json::MessageJson;
use crate::waku::{PubsubTopic, RelayMessage};
use heliograph_proto::WakuMessage;

/// Most topics (pubsub plus content) a REST client can subscribe to.
pub const MAX_CACHED_TOPICS: usize = 1024;

/// Polling caches of REST subscriptions.
#[derive(Debug)]
pub struct RelayCache {
    capacity: usize,
    by_pubsub: HashMap<PubsubTopic, VecDeque<MessageJson>>,
    by_content: HashMap<String, VecDeque<MessageJson>>,
}

/// The subscription would exceed [`MAX_CACHED_TOPICS`].
#[derive(Debug, thiserror::Error)]
#[error("too many REST subscriptions: the limit is {MAX_CACHED_TOPICS} topics")]
pub struct TooManyTopics;

impl RelayCache {
    /// A cache keeping up to `capacity` messages per topic.
    pub fn new(capacity: usize) -> Self {
        RelayCache { capacity, by_pubsub: HashMap::new(), by_content: HashMap::new() }
    }

    fn room_for(&self, extra: usize) -> Result<(), TooManyTopics> {
        if self.by_pubsub.len() + self.by_content.len() + extra > MAX_CACHED_TOPICS {
            return Err(TooManyTopics);
        }
        Ok(())
    }

    /// Starts caching a pubsub topic (no-op if already cached).
    pub fn subscribe_pubsub(&mut self, topics: &[PubsubTopic]) -> Result<(), TooManyTopics> {
        let new = topics.iter().filter(|t| !self.by_pubsub.contains_key(t)).count();
        self.room_for(new)?;
        for topic in topics {
            self.by_pubsub.entry(topic.clone()).or_default();
        }
        Ok(())
    }

    /// Stops caching a pubsub topic.
    pub fn unsubscribe_pubsub(&mut self, topic: &PubsubTopic) {
        self.by_pubsub.remove(topic);
    }

    /// Starts caching a content topic (no-op if already cached).
    pub fn subscribe_content(&mut self, topics: &[String]) -> Result<(), TooManyTopics> {
        let new = topics.iter().filter(|t| !self.by_content.contains_key(*t)).count();
        self.room_for(new)?;
        for topic in topics {
            self.by_content.entry(topic.clone()).or_default();
        }
        Ok(())
    }

    /// Stops caching a content topic.
    pub fn unsubscribe_content(&mut self, topic: &str) {
        self.by_content.remove(topic);
    }

    /// Caches a relayed message; returns how many old messages gave way.
    pub fn push(&mut self, message: &RelayMessage) -> usize {
        let json = MessageJson::from(&message.message);
        let mut evicted = 0;
        if let Some(queue) = self.by_pubsub.get_mut(&message.pubsub_topic) {
            evicted += add(queue, self.capacity, json.clone());
        }
        if let Some(queue) = self.by_content.get_mut(&message.message.content_topic) {
            evicted += add(queue, self.capacity, json);
        }
        evicted
    }

    /// Caches a message under its content topic only (a filter push, which may
    /// come on a pubsub topic this node does not relay); returns the evictions.
    pub fn push_content(&mut self, message: &WakuMessage) -> usize {
        match self.by_content.get_mut(&message.content_topic) {
            Some(queue) => add(queue, self.capacity, MessageJson::from(message)),
            None => 0,
        }
    }

    /// Forgets every subscription and cached message.
    pub fn clear(&mut self) {
        self.by_pubsub.clear();
        self.by_content.clear();
    }

    /// Drains the messages of a pubsub topic; `None` if it is not subscribed.
    pub fn take_pubsub(&mut self, topic: &PubsubTopic) -> Option<Vec<MessageJson>> {
        self.by_pubsub.get_mut(topic).map(|q| q.drain(..).collect())
    }

    /// Drains the messages of a content topic; `None` if it is not subscribed.
    pub fn take_content(&mut self, topic: &str) -> Option<Vec<MessageJson>> {
        self.by_content.get_mut(topic).map(|q| q.drain(..).collect())
    }
}

/// Appends to a bounded queue; returns 1 if the oldest entry gave way.
fn add(queue: &mut VecDeque<MessageJson>, capacity: usize, json: MessageJson) -> usize {
    let evicted = usize::from(queue.len() == capacity);
    if evicted == 1 {
        queue.pop_front();
    }
    queue.push_back(json);
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> RelayMessage {
        let m = WakuMessage { payload: vec![n], content_topic: "/a/1/b/proto".into(), ..Default::default() };
        RelayMessage::encode(PubsubTopic::Sharded { cluster: 1, shard: 0 }, m).expect("valid")
    }

    #[test]
    fn keeps_the_newest_and_drains_on_read() {
        let topic = PubsubTopic::Sharded { cluster: 1, shard: 0 };
        let mut cache = RelayCache::new(2);
        assert!(cache.take_pubsub(&topic).is_none(), "unsubscribed topics are unknown");
        cache.subscribe_pubsub(std::slice::from_ref(&topic)).expect("room");
        cache.subscribe_content(&["/a/1/b/proto".into()]).expect("room");
        let evicted: usize = (1..=3).map(|n| cache.push(&message(n))).sum();
        assert_eq!(evicted, 2, "one eviction per full queue");
        let got = cache.take_pubsub(&topic).expect("subscribed");
        assert_eq!(got.iter().map(|m| m.payload.clone()).collect::<Vec<_>>(), ["Ag==", "Aw=="]);
        assert_eq!(cache.take_pubsub(&topic).expect("subscribed"), []);
        assert_eq!(cache.take_content("/a/1/b/proto").expect("subscribed").len(), 2);
    }

    #[test]
    fn topic_count_is_bounded() {
        let mut cache = RelayCache::new(1);
        let many: Vec<String> = (0..MAX_CACHED_TOPICS).map(|i| format!("/a/{i}/b/c")).collect();
        cache.subscribe_content(&many).expect("exactly the limit");
        assert!(cache.subscribe_pubsub(&[PubsubTopic::default_waku()]).is_err());
        cache.subscribe_content(&many[..1]).expect("re-subscribing costs nothing");
    }
}
