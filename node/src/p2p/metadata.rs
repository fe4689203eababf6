//! Waku metadata (`/vac/waku/metadata/1.0.0`): both sides state their cluster
//! id and shards on connect; a peer of another cluster is disconnected.
//! Pure decisions over decoded frames; the swarm task does the IO.

use heliograph_proto::Message;
use heliograph_proto::metadata::{WakuMetadataRequest, WakuMetadataResponse};

/// What to do with a peer after its metadata arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Same cluster, or the peer did not say: keep it.
    Keep,
    /// The peer is in another cluster: disconnect it.
    WrongCluster(u32),
}

/// This node's side of the exchange.
#[derive(Debug, Clone)]
pub struct Metadata {
    cluster: u16,
    shards: Vec<u16>,
}

impl Metadata {
    /// Metadata of a node in `cluster` relaying `shards`.
    pub fn new(cluster: u16, shards: Vec<u16>) -> Self {
        Metadata { cluster, shards }
    }

    /// The request sent to every new peer.
    pub fn request(&self) -> Vec<u8> {
        WakuMetadataRequest { cluster_id: Some(self.cluster.into()), shards: self.shard_list() }.encode_to_vec()
    }

    /// Answers a peer's request. A request that does not decode still gets our
    /// metadata (the peer learns our cluster) and the peer is kept.
    pub fn answer(&self, request: &[u8]) -> (Vec<u8>, Verdict) {
        let verdict = match WakuMetadataRequest::decode(request) {
            Ok(req) => self.judge(req.cluster_id),
            Err(_) => Verdict::Keep,
        };
        let response =
            WakuMetadataResponse { cluster_id: Some(self.cluster.into()), shards: self.shard_list() }.encode_to_vec();
        (response, verdict)
    }

    /// Judges a peer's response to our request; a response that does not decode is ignored.
    pub fn judge_response(&self, response: &[u8]) -> Verdict {
        match WakuMetadataResponse::decode(response) {
            Ok(res) => self.judge(res.cluster_id),
            Err(_) => Verdict::Keep,
        }
    }

    fn judge(&self, cluster: Option<u32>) -> Verdict {
        match cluster {
            Some(c) if c != u32::from(self.cluster) => Verdict::WrongCluster(c),
            _ => Verdict::Keep,
        }
    }

    fn shard_list(&self) -> Vec<u32> {
        self.shards.iter().copied().map(u32::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_cluster_is_kept_other_cluster_is_not() {
        let ours = Metadata::new(1, vec![0, 1]);
        let theirs = Metadata::new(2, vec![0]);
        let (response, verdict) = ours.answer(&theirs.request());
        assert_eq!(verdict, Verdict::WrongCluster(2));
        assert_eq!(theirs.judge_response(&response), Verdict::WrongCluster(1));
        let decoded = WakuMetadataResponse::decode(response.as_slice()).expect("decode");
        assert_eq!(decoded.cluster_id, Some(1));
        assert_eq!(decoded.shards, [0, 1], "every served shard is listed");

        let same = Metadata::new(1, vec![]);
        assert_eq!(ours.answer(&same.request()).1, Verdict::Keep);
    }

    #[test]
    fn silent_or_garbled_peers_are_kept() {
        let ours = Metadata::new(1, vec![0]);
        let silent = WakuMetadataRequest { cluster_id: None, shards: vec![] }.encode_to_vec();
        assert_eq!(ours.answer(&silent).1, Verdict::Keep);
        let (response, verdict) = ours.answer(&[0xff, 0xff]);
        assert_eq!(verdict, Verdict::Keep);
        assert!(!response.is_empty(), "a garbled request still gets our metadata");
        assert_eq!(ours.judge_response(&[0xff]), Verdict::Keep);
    }
}
