//! Heliograph side by side with its peers: Redis, NATS, Mosquitto and a bare
//! tokio WebSocket broadcast server, each started by the bench as its own
//! process and driven by one generic load generator through a small client
//! adapter per protocol ([`Client`] and [`Writer`]).

pub mod bare;
pub mod drive;
pub mod heliograph;
pub mod mqtt;
pub mod nats;
pub mod process;
pub mod redis;
pub mod scenarios;
pub mod ws;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Bytes at the start of every payload: sequence number and send time, both big-endian u64.
pub const HEADER: usize = 16;

/// The topic every scenario publishes on (each adapter maps it to its own naming).
pub const TOPIC: &str = "bench";

/// What the subscriber side read from one delivered payload's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The publisher's sequence number.
    pub seq: u64,
    /// Send time in nanoseconds since the run's [`Clock`] base.
    pub sent_ns: u64,
}

impl Delivery {
    /// Reads the header of `payload`; `None` when it is too short.
    pub fn parse(payload: &[u8]) -> Option<Delivery> {
        let seq = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
        let sent_ns = u64::from_be_bytes(payload.get(8..HEADER)?.try_into().ok()?);
        Some(Delivery { seq, sent_ns })
    }
}

/// The time base shared by publishers and subscribers of one process.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    /// Nanoseconds since the base.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A payload of `size` bytes (at least [`HEADER`]) stamped with `seq` and the current time.
    pub fn payload(&self, seq: u64, size: usize) -> Vec<u8> {
        let mut payload = Vec::with_capacity(size.max(HEADER));
        payload.extend_from_slice(&seq.to_be_bytes());
        payload.extend_from_slice(&self.now_ns().to_be_bytes());
        payload.resize(size.max(HEADER), b'a' + (seq % 26) as u8);
        payload
    }

    /// Time from a delivery's send stamp to now.
    pub fn since(&self, delivery: Delivery) -> Duration {
        Duration::from_nanos(self.now_ns().saturating_sub(delivery.sent_ns))
    }
}

/// One connection to a broker, as a subscriber (and, after [`Client::into_writer`], a publisher).
pub trait Client: Sized + Send + 'static {
    /// The publishing half this client turns into.
    type Writer: Writer;

    /// Opens a connection and completes the protocol handshake.
    fn connect(addr: SocketAddr) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Subscribes to `topic`; returns once the broker acknowledged it.
    fn subscribe(&mut self, topic: &str) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The next delivered message, skipping acks and keep-alives.
    fn next(&mut self) -> impl Future<Output = anyhow::Result<Delivery>> + Send;

    /// Turns the connection into a publisher; what the broker sends back is read and dropped in the background.
    fn into_writer(self) -> Self::Writer;
}

/// The publishing half of a connection: publishes are buffered until [`Writer::flush`].
pub trait Writer: Send + 'static {
    /// Buffers one publish of `payload` on `topic` (writes only when the buffer is full).
    fn publish(&mut self, topic: &str, payload: &[u8]) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Writes everything buffered.
    fn flush(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The servers compared, in table order (Heliograph first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The Heliograph node's WebSocket JSON-RPC bridge.
    Heliograph,
    /// Redis 7 pub/sub, RESP over TCP (Redis has no WebSocket listener).
    Redis,
    /// NATS 2.9 over its WebSocket listener.
    Nats,
    /// Mosquitto 2.0, MQTT 3.1.1 QoS 0 over WebSocket.
    Mosquitto,
    /// The bare tokio WebSocket broadcast server: the raw baseline.
    Bare,
}

impl Peer {
    /// Every peer, Heliograph first.
    pub const ALL: [Peer; 5] = [Peer::Heliograph, Peer::Redis, Peer::Nats, Peer::Mosquitto, Peer::Bare];

    /// The peers with a WebSocket listener.
    pub const WEBSOCKET: [Peer; 4] = [Peer::Heliograph, Peer::Nats, Peer::Mosquitto, Peer::Bare];

    /// The column name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Heliograph => "Heliograph",
            Peer::Redis => "Redis (TCP)",
            Peer::Nats => "NATS WS",
            Peer::Mosquitto => "Mosquitto WS",
            Peer::Bare => "bare WS",
        }
    }
}

/// Runs `$body` with `$client` bound to the client type of `$peer`.
macro_rules! with_client {
    ($peer:expr, $client:ident => $body:expr) => {
        match $peer {
            $crate::peers::Peer::Heliograph => {
                type $client = $crate::peers::heliograph::BridgeClient;
                $body
            }
            $crate::peers::Peer::Redis => {
                type $client = $crate::peers::redis::RedisClient;
                $body
            }
            $crate::peers::Peer::Nats => {
                type $client = $crate::peers::nats::NatsClient;
                $body
            }
            $crate::peers::Peer::Mosquitto => {
                type $client = $crate::peers::mqtt::MqttClient;
                $body
            }
            $crate::peers::Peer::Bare => {
                type $client = $crate::peers::bare::BareClient;
                $body
            }
        }
    };
}
pub(crate) use with_client;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_header_round_trips() {
        let clock = Clock::start();
        let payload = clock.payload(42, 64);
        assert_eq!(payload.len(), 64);
        let delivery = Delivery::parse(&payload).expect("header");
        assert_eq!(delivery.seq, 42);
        assert!(delivery.sent_ns <= clock.now_ns());
        assert_eq!(clock.payload(1, 4).len(), HEADER, "payloads never drop the header");
        assert!(Delivery::parse(&payload[..10]).is_none());
    }
}
