//! Peer exchange (`/vac/waku/peer-exchange/2.0.0-alpha1`): a bounded cache of
//! ENRs of other nodes, learned from our peers' peer-exchange answers, and the
//! answer to a query: the node's own record, then a random sample of the cache,
//! so that records spread without discv5 and queriers do not all learn (and
//! dial) the same newest peers. Pure; the swarm task answers queries with it
//! and [`super::service`] polls peers.

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use heliograph_proto::Message;
use heliograph_proto::peer_exchange::{PeerExchangeQuery, PeerExchangeResponse, PeerExchangeRpc, PeerInfo};
use rand::seq::IteratorRandom;

use crate::waku::enr::NodeEnr;

/// Peer-exchange status codes.
pub mod status {
    /// Answered.
    pub const SUCCESS: u32 = 200;
    /// The query is malformed or asks for no peers.
    pub const BAD_REQUEST: u32 = 400;
}

/// Most ENRs handed out in one answer, whatever the query asks.
pub const MAX_PEERS_PER_ANSWER: usize = 20;
/// Most ENRs kept.
pub const CACHE_SIZE: usize = 200;

/// A bounded cache of valid ENRs, newest first, one per node.
#[derive(Debug)]
pub struct EnrCache {
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    capacity: usize,
    own: Vec<u8>,
    own_record: Option<Vec<u8>>,
}

impl EnrCache {
    /// An empty cache of `capacity` records; `own_node_id` (ours) is never cached.
    pub fn new(capacity: usize, own_node_id: Vec<u8>) -> Self {
        EnrCache { entries: VecDeque::new(), capacity, own: own_node_id, own_record: None }
    }

    /// Hands out `raw`, our own record, first in every answer (it is never cached).
    #[must_use]
    pub fn with_own_record(mut self, raw: Vec<u8>) -> Self {
        self.own_record = Some(raw);
        self
    }

    /// The records held, verified, newest first.
    pub fn records(&self) -> Vec<NodeEnr> {
        self.entries.iter().filter_map(|(_, raw)| decode_enr(raw)).collect()
    }

    /// ENRs held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no ENR is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a raw (RLP) ENR if its signature checks; a newer record of a node replaces the older.
    /// Returns whether it was taken.
    pub fn insert(&mut self, raw: &[u8]) -> bool {
        let Some(record) = decode_enr(raw) else { return false };
        let id = record.node_id().raw().to_vec();
        if id == self.own {
            return false;
        }
        if let Some(pos) = self.entries.iter().position(|(node, _)| *node == id) {
            let known_seq = self.entries.get(pos).and_then(|(_, r)| decode_enr(r)).map_or(0, |r| r.seq());
            if record.seq() < known_seq {
                return false;
            }
            self.entries.remove(pos);
        }
        self.entries.push_front((id, raw.to_vec()));
        self.entries.truncate(self.capacity);
        true
    }

    /// Answers a query frame: up to the number asked for, never more than [`MAX_PEERS_PER_ANSWER`]:
    /// our own record if set, then records drawn at random from the cache.
    pub fn answer(&self, request: Result<&[u8], String>) -> (Vec<u8>, u32) {
        let wanted = request
            .and_then(|b| PeerExchangeRpc::decode(b).map_err(|e| format!("malformed query: {e}")))
            .and_then(|rpc| rpc.query.ok_or_else(|| "the rpc has no query".to_owned()))
            .and_then(|q| match q.num_peers {
                0 => Err("num_peers must be above 0".to_owned()),
                n => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(MAX_PEERS_PER_ANSWER)),
            });
        let response = match wanted {
            Ok(n) => {
                let own = self.own_record.iter().take(n);
                let sample =
                    self.entries.iter().map(|(_, raw)| raw).choose_multiple(&mut rand::thread_rng(), n - own.len());
                PeerExchangeResponse {
                    peer_infos: own.chain(sample).map(|raw| PeerInfo { enr: raw.clone() }).collect(),
                    status_code: Some(status::SUCCESS),
                    status_desc: None,
                }
            }
            Err(desc) => PeerExchangeResponse {
                peer_infos: Vec::new(),
                status_code: Some(status::BAD_REQUEST),
                status_desc: Some(desc),
            },
        };
        let status = response.status_code.unwrap_or(status::SUCCESS);
        (PeerExchangeRpc { query: None, response: Some(response) }.encode_to_vec(), status)
    }
}

/// A query for `n` peers.
pub fn query(n: u64) -> Vec<u8> {
    PeerExchangeRpc { query: Some(PeerExchangeQuery { num_peers: n }), response: None }.encode_to_vec()
}

/// The raw ENRs of an answer frame; an answer that does not decode yields none.
pub fn enrs_of(answer: &[u8]) -> Vec<Vec<u8>> {
    PeerExchangeRpc::decode(answer)
        .ok()
        .and_then(|rpc| rpc.response)
        .map(|r| r.peer_infos.into_iter().map(|p| p.enr).collect())
        .unwrap_or_default()
}

/// Decodes and verifies a raw ENR.
pub fn decode_enr(raw: &[u8]) -> Option<NodeEnr> {
    if raw.len() > 300 {
        return None; // EIP-778: a record is at most 300 bytes.
    }
    format!("enr:{}", URL_SAFE_NO_PAD.encode(raw)).parse::<NodeEnr>().ok()
}

/// The raw (RLP) bytes of an ENR.
pub fn raw_enr(record: &NodeEnr) -> Vec<u8> {
    let text = record.to_base64();
    URL_SAFE_NO_PAD.decode(text.trim_start_matches("enr:")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waku::enr::{Capabilities, EnrInput, build};
    use libp2p::identity::secp256k1;

    fn record(seq: u64, key: &secp256k1::Keypair) -> Vec<u8> {
        let addrs: Vec<libp2p::Multiaddr> = vec!["/ip4/10.0.0.1/tcp/60000".parse().expect("addr")];
        let input = EnrInput {
            seq,
            addrs: &addrs,
            capabilities: Capabilities { relay: true, ..Default::default() },
            cluster: 1,
            shards: &[0],
        };
        raw_enr(&build(key, &input).expect("enr"))
    }

    #[test]
    fn cache_is_bounded_deduplicated_and_verified() {
        let mut cache = EnrCache::new(3, vec![]);
        let keys: Vec<_> = (0..5).map(|_| secp256k1::Keypair::generate()).collect();
        assert!(cache.insert(&record(1, &keys[0])));
        assert!(cache.insert(&record(2, &keys[0])), "a newer record replaces the old one");
        assert!(!cache.insert(&record(1, &keys[0])), "an older record is ignored");
        assert_eq!(cache.len(), 1);
        let mut forged = record(3, &keys[0]);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(!cache.insert(&forged), "a record with a bad signature or encoding is refused");
        assert!(!cache.insert(b"garbage"));
        for key in &keys[1..] {
            assert!(cache.insert(&record(1, key)));
        }
        assert_eq!(cache.len(), 3, "the cache never grows past its capacity");
    }

    #[test]
    fn own_record_is_never_cached() {
        let key = secp256k1::Keypair::generate();
        let raw = record(1, &key);
        let id = decode_enr(&raw).expect("valid").node_id().raw().to_vec();
        let mut cache = EnrCache::new(10, id);
        assert!(!cache.insert(&raw));
    }

    #[test]
    fn own_record_comes_first_and_the_rest_is_a_sample() {
        let own_key = secp256k1::Keypair::generate();
        let own = record(1, &own_key);
        let own_id = decode_enr(&own).expect("valid").node_id().raw().to_vec();
        let mut cache = EnrCache::new(100, own_id).with_own_record(own.clone());
        let (frame, _) = cache.answer(Ok(&query(5)));
        assert_eq!(enrs_of(&frame), vec![own.clone()], "an otherwise empty cache hands out our record");
        for _ in 0..50 {
            cache.insert(&record(1, &secp256k1::Keypair::generate()));
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let enrs = enrs_of(&cache.answer(Ok(&query(5))).0);
            assert_eq!(enrs.len(), 5);
            assert_eq!(enrs[0], own, "our record first");
            seen.extend(enrs.into_iter().skip(1));
        }
        assert!(seen.len() > 4 * 2, "answers draw different records, not always the newest: {}", seen.len());
        assert_eq!(cache.records().len(), 50, "our record is not cached");
    }

    #[test]
    fn answers_hold_at_most_what_was_asked_and_the_cap() {
        let mut cache = EnrCache::new(100, vec![]);
        for _ in 0..30 {
            cache.insert(&record(1, &secp256k1::Keypair::generate()));
        }
        let (frame, status) = cache.answer(Ok(&query(2)));
        assert_eq!((enrs_of(&frame).len(), status), (2, status::SUCCESS));
        let (frame, _) = cache.answer(Ok(&query(1000)));
        let enrs = enrs_of(&frame);
        assert_eq!(enrs.len(), MAX_PEERS_PER_ANSWER);
        assert!(enrs.iter().all(|e| decode_enr(e).is_some()));
        assert_eq!(cache.answer(Ok(&query(0))).1, status::BAD_REQUEST);
        assert_eq!(cache.answer(Ok(&[0xff, 0xff])).1, status::BAD_REQUEST);
        assert_eq!(cache.answer(Err("frame too big".into())).1, status::BAD_REQUEST);
        let (frame, status) = EnrCache::new(10, vec![]).answer(Ok(&query(5)));
        assert_eq!((enrs_of(&frame).len(), status), (0, status::SUCCESS), "an empty cache answers with no peers");
    }
}
