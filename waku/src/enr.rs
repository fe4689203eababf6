//! The node's own Ethereum Node Record (EIP-778) with the Waku fields of
//! 31/WAKU2-ENR: `multiaddrs` (WebSocket addresses), `waku2` (capabilities)
//! and `rs` or, for 64 shards and more, `rsv` (relay shards). Handed out by
//! `/debug/v1/info` and peer exchange.

use std::net::IpAddr;

use bytes::Bytes;
use enr::k256::ecdsa::SigningKey;
use libp2p::Multiaddr;
use libp2p::identity::secp256k1;
use libp2p::multiaddr::Protocol;

/// A signed ENR of this node.
pub type NodeEnr = enr::Enr<SigningKey>;

/// Capability bits of the `waku2` field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    /// Relay (bit 0).
    pub relay: bool,
    /// Store (bit 1).
    pub store: bool,
    /// Filter (bit 2).
    pub filter: bool,
    /// Lightpush (bit 3).
    pub lightpush: bool,
}

impl Capabilities {
    fn bits(self) -> u8 {
        u8::from(self.relay) | u8::from(self.store) << 1 | u8::from(self.filter) << 2 | u8::from(self.lightpush) << 3
    }
}

/// Why the ENR could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EnrError {
    /// The record could not be signed or is too large.
    #[error("cannot build ENR: {0}")]
    Build(#[from] enr::Error),
    /// The node key is not a valid signing key.
    #[error("node key is not a valid ENR signing key")]
    Key,
}

/// What goes into the record.
#[derive(Debug, Clone)]
pub struct EnrInput<'a> {
    /// Sequence number; raise it whenever the content changes.
    pub seq: u64,
    /// Reachable addresses (external first, then specific listen addresses).
    pub addrs: &'a [Multiaddr],
    /// Served protocols.
    pub capabilities: Capabilities,
    /// Cluster id.
    pub cluster: u16,
    /// Relayed shards.
    pub shards: &'a [u16],
}

/// Builds and signs the node's ENR.
pub fn build(key: &secp256k1::Keypair, input: &EnrInput<'_>) -> Result<NodeEnr, EnrError> {
    let signing = SigningKey::from_slice(&key.secret().to_bytes()).map_err(|_| EnrError::Key)?;
    let mut builder = enr::Builder::default();
    builder.seq(input.seq);

    // The first plain-TCP address with a concrete IP goes into ip/tcp.
    if let Some((ip, port)) = input.addrs.iter().find_map(tcp_endpoint) {
        match ip {
            IpAddr::V4(v4) => builder.ip4(v4).tcp4(port),
            IpAddr::V6(v6) => builder.ip6(v6).tcp6(port),
        };
    }
    // WebSocket addresses travel in `multiaddrs`: each a 2-byte big-endian length, then the bytes.
    let mut multiaddrs = Vec::new();
    for addr in input.addrs.iter().filter(|a| is_websocket(a) && tcp_endpoint_any(a)) {
        let raw = addr.to_vec();
        let len = u16::try_from(raw.len()).unwrap_or(u16::MAX);
        multiaddrs.extend_from_slice(&len.to_be_bytes());
        multiaddrs.extend_from_slice(&raw[..usize::from(len)]);
    }
    if !multiaddrs.is_empty() {
        builder.add_value("multiaddrs", &Bytes::from(multiaddrs));
    }
    builder.add_value("waku2", &Bytes::from(vec![input.capabilities.bits()]));
    let (key, value) = relay_shards(input.cluster, input.shards);
    builder.add_value(key, &Bytes::from(value));
    Ok(builder.build(&signing)?)
}

/// Shard lists at least this long go into `rsv` (a bit vector) instead of `rs`, as nwaku does.
const MAX_RS_SHARDS: usize = 64;
/// Highest shard index a Waku ENR can carry (the `rsv` vector has 1024 bits).
pub const MAX_SHARD_INDEX: u16 = 1023;

/// The relay-shards field: `rs` = cluster (u16 BE), shard count (u8), each shard
/// (u16 BE) for fewer than 64 shards; else `rsv` = cluster (u16 BE) and a
/// 128-byte vector where bit `s % 8` of byte `s / 8` marks shard `s`.
fn relay_shards(cluster: u16, shards: &[u16]) -> (&'static str, Vec<u8>) {
    let mut value = cluster.to_be_bytes().to_vec();
    if shards.len() < MAX_RS_SHARDS {
        value.push(u8::try_from(shards.len()).expect("fewer than 64 shards"));
        for shard in shards {
            value.extend_from_slice(&shard.to_be_bytes());
        }
        ("rs", value)
    } else {
        let mut vector = [0u8; 128];
        for shard in shards.iter().filter(|s| **s <= MAX_SHARD_INDEX) {
            vector[usize::from(shard / 8)] |= 1 << (shard % 8);
        }
        value.extend_from_slice(&vector);
        ("rsv", value)
    }
}

fn is_websocket(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::Ws(_) | Protocol::Wss(_)))
}

/// A concrete (non-unspecified) IP and TCP port of a plain TCP address.
fn tcp_endpoint(addr: &Multiaddr) -> Option<(IpAddr, u16)> {
    if is_websocket(addr) {
        return None;
    }
    endpoint(addr)
}

fn tcp_endpoint_any(addr: &Multiaddr) -> bool {
    endpoint(addr).is_some()
        || addr.iter().any(|p| matches!(p, Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_)))
}

fn endpoint(addr: &Multiaddr) -> Option<(IpAddr, u16)> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(v4) if !v4.is_unspecified() => ip = Some(IpAddr::V4(v4)),
            Protocol::Ip6(v6) if !v6.is_unspecified() => ip = Some(IpAddr::V6(v6)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    Some((ip?, port?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_carries_address_capabilities_and_shards() {
        let key = secp256k1::Keypair::generate();
        let addrs: Vec<Multiaddr> = vec![
            "/ip4/0.0.0.0/tcp/1".parse().expect("addr"),
            "/ip4/10.1.2.3/tcp/60000".parse().expect("addr"),
            "/ip4/10.1.2.3/tcp/8000/ws".parse().expect("addr"),
        ];
        let input = EnrInput {
            seq: 7,
            addrs: &addrs,
            capabilities: Capabilities { relay: true, ..Default::default() },
            cluster: 1,
            shards: &[0, 5],
        };
        let record = build(&key, &input).expect("enr");
        let text = record.to_base64();
        assert!(text.starts_with("enr:"));
        let back: NodeEnr = text.parse().expect("parses back");
        assert_eq!(back.seq(), 7);
        assert_eq!(back.ip4(), Some("10.1.2.3".parse().expect("ip")));
        assert_eq!(back.tcp4(), Some(60000));
        let field = |key: &str| back.get_decodable::<Bytes>(key).expect("present").expect("decodes");
        assert_eq!(field("waku2").as_ref(), [1]);
        assert_eq!(field("rs").as_ref(), [0, 1, 2, 0, 0, 0, 5]);
        let ws = field("multiaddrs");
        let len = usize::from(u16::from_be_bytes([ws[0], ws[1]]));
        let decoded = Multiaddr::try_from(ws[2..2 + len].to_vec()).expect("multiaddr");
        assert_eq!(decoded, addrs[2]);
        assert!(back.get_decodable::<Bytes>("rsv").is_none(), "two shards go into rs");
        // The record's public key is the node key.
        assert_eq!(back.public_key().to_sec1_bytes().as_ref(), key.public().to_bytes());
    }

    #[test]
    fn many_shards_go_into_the_bit_vector() {
        let (key, value) = relay_shards(1, &(0..63).collect::<Vec<_>>());
        assert_eq!((key, value.len()), ("rs", 3 + 2 * 63));
        let shards: Vec<u16> = (0..64).chain([1023]).collect();
        let (key, value) = relay_shards(3, &shards);
        assert_eq!(key, "rsv");
        assert_eq!(value.len(), 130);
        assert_eq!(value[..2], [0, 3]);
        assert!(value[2..10].iter().all(|b| *b == 0xff), "shards 0..63 set");
        assert!(value[10..129].iter().all(|b| *b == 0), "64..1015 clear");
        assert_eq!(value[129], 0x80, "shard 1023 is the top bit of the last byte");
    }
}
