//! The bottom layer of Heliograph: Waku v2 value types and the pure logic on
//! them, with no network, no storage and no tasks. Every other layer of the
//! node builds on this crate; it depends on none of them (cargo enforces it).
//!
//! - [`topic`]: pubsub and content topics, autosharding;
//! - [`message`], [`hash`]: relayed-message validation and deterministic hashes;
//! - [`enr`], [`bootstrap`], [`addr`]: node records, bootstrap peers, multiaddr helpers;
//! - [`enrtree`]: the EIP-1459 ENR-tree walk (over any TXT resolver);
//! - [`json`]: the nwaku REST JSON shape of a WakuMessage;
//! - [`time`]: the wall clock every layer reads.

pub mod addr;
pub mod bootstrap;
pub mod enr;
pub mod enrtree;
pub mod hash;
pub mod json;
pub mod message;
pub mod time;
pub mod topic;

pub use message::{MAX_MESSAGE_SIZE, MessageError, RelayMessage};
pub use topic::{ContentTopic, PubsubTopic, TopicError};
