//! Waku v2 protocol logic that needs no network: topics, autosharding and
//! message validation and hashing. Everything here is pure and unit-tested.

pub mod hash;
pub mod message;
pub mod topic;

pub use message::{MAX_MESSAGE_SIZE, MessageError, RelayMessage};
pub use topic::{ContentTopic, PubsubTopic, TopicError};
