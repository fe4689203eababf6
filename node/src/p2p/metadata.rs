//! Waku metadata (`/vac/waku/metadata/1.0.0`): both sides state their cluster
//! id and shards on connect; a peer of another cluster is disconnected.
//! Pure decisions over decoded frames; the swarm task does the IO.
//!
//! Wire form of the shard list (see `proto/proto/metadata.proto`): written
//! twice, one tag per shard in field 2 (what js-waku reads) and packed in field
//! 3 (what nwaku and go-waku read first), as nwaku writes it. Read from field 3
//! when present, else from field 2, each accepted packed or unpacked.

use heliograph_proto::Message;
use heliograph_proto::metadata::{WakuMetadataRequest, WakuMetadataResponse};

/// What to do with a peer after its metadata arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same cluster, or the peer did not say: keep it. Carries the shards it
    /// stated (empty for light clients, which relay nothing).
    Keep(Vec<u32>),
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
        let shards = self.shard_list();
        WakuMetadataRequest { cluster_id: Some(self.cluster.into()), packed_shards: shards.clone(), shards }
            .encode_to_vec()
    }

    /// Answers a peer's request. A request that does not decode still gets our
    /// metadata (the peer learns our cluster) and the peer is kept.
    pub fn answer(&self, request: &[u8]) -> (Vec<u8>, Verdict) {
        let verdict = match WakuMetadataRequest::decode(request) {
            Ok(req) => self.judge(req.cluster_id, either(req.packed_shards, req.shards)),
            Err(_) => Verdict::Keep(Vec::new()),
        };
        let shards = self.shard_list();
        let response =
            WakuMetadataResponse { cluster_id: Some(self.cluster.into()), packed_shards: shards.clone(), shards }
                .encode_to_vec();
        (response, verdict)
    }

    /// Judges a peer's response to our request; a response that does not decode is ignored.
    pub fn judge_response(&self, response: &[u8]) -> Verdict {
        match WakuMetadataResponse::decode(response) {
            Ok(res) => self.judge(res.cluster_id, either(res.packed_shards, res.shards)),
            Err(_) => Verdict::Keep(Vec::new()),
        }
    }

    fn judge(&self, cluster: Option<u32>, shards: Vec<u32>) -> Verdict {
        match cluster {
            Some(c) if c != u32::from(self.cluster) => Verdict::WrongCluster(c),
            _ => Verdict::Keep(shards),
        }
    }

    fn shard_list(&self) -> Vec<u32> {
        self.shards.iter().copied().map(u32::from).collect()
    }
}

/// The shard list of a decoded frame: field 3 when the peer wrote it, else field 2.
fn either(packed_shards: Vec<u32>, shards: Vec<u32>) -> Vec<u32> {
    if packed_shards.is_empty() { shards } else { packed_shards }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cluster 1, shards 0..7 as js-waku's encoder writes a response: one tag (0x10) per shard.
    const JS_WAKU_RESPONSE: [u8; 18] =
        [0x08, 0x01, 0x10, 0x00, 0x10, 0x01, 0x10, 0x02, 0x10, 0x03, 0x10, 0x04, 0x10, 0x05, 0x10, 0x06, 0x10, 0x07];
    /// The same, packed in field 2 (proto3's default, what prost wrote before).
    const PACKED_FIELD_2: [u8; 12] = [0x08, 0x01, 0x12, 0x08, 0, 1, 2, 3, 4, 5, 6, 7];
    /// The same, packed in field 3 only.
    const PACKED_FIELD_3: [u8; 12] = [0x08, 0x01, 0x1a, 0x08, 0, 1, 2, 3, 4, 5, 6, 7];

    fn all_eight() -> Vec<u32> {
        (0..8).collect()
    }

    #[test]
    fn writes_one_tag_per_shard_then_the_packed_copy() {
        let ours = Metadata::new(1, (0..8).collect());
        let (response, _) = ours.answer(&[]);
        // Field 2 exactly as js-waku writes it, then field 3 packed as nwaku writes it.
        let mut expected = JS_WAKU_RESPONSE.to_vec();
        expected.extend_from_slice(&PACKED_FIELD_3[2..]);
        assert_eq!(response, expected);
        assert_eq!(ours.request(), expected, "the request has the same layout");
    }

    #[test]
    fn reads_every_form_nwaku_go_waku_and_js_waku_write() {
        let ours = Metadata::new(1, vec![0]);
        let nwaku = ours.answer(&[]).0;
        for (what, frame) in [
            ("js-waku (field 2, unpacked)", JS_WAKU_RESPONSE.as_slice()),
            ("field 2 packed", PACKED_FIELD_2.as_slice()),
            ("field 3 packed", PACKED_FIELD_3.as_slice()),
        ] {
            assert_eq!(ours.judge_response(frame), Verdict::Keep(all_eight()), "{what}");
            assert_eq!(ours.answer(frame).1, Verdict::Keep(all_eight()), "{what}");
        }
        // Both fields (nwaku, go-waku, us): field 3 wins, nothing is counted twice.
        assert_eq!(ours.judge_response(&nwaku), Verdict::Keep(vec![0]));
        // js-waku's request: cluster 1, no shards.
        assert_eq!(ours.answer(&[0x08, 0x01]).1, Verdict::Keep(vec![]));
    }

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
        assert_eq!(decoded.packed_shards, [0, 1]);

        let same = Metadata::new(1, vec![]);
        assert_eq!(ours.answer(&same.request()).1, Verdict::Keep(vec![]));
    }

    #[test]
    fn the_largest_shard_list_fits_a_metadata_frame() {
        let ours = Metadata::new(1, (0..=crate::waku::enr::MAX_SHARD_INDEX).collect());
        let (response, _) = ours.answer(&[]);
        assert!(response.len() <= crate::p2p::behaviour::MAX_METADATA_FRAME, "{} bytes", response.len());
        assert_eq!(ours.judge_response(&response), Verdict::Keep((0..1024).collect()));
    }

    #[test]
    fn silent_or_garbled_peers_are_kept() {
        let ours = Metadata::new(1, vec![0]);
        let silent = WakuMetadataRequest::default().encode_to_vec();
        assert_eq!(ours.answer(&silent).1, Verdict::Keep(vec![]));
        let (response, verdict) = ours.answer(&[0xff, 0xff]);
        assert_eq!(verdict, Verdict::Keep(vec![]));
        assert!(!response.is_empty(), "a garbled request still gets our metadata");
        assert_eq!(ours.judge_response(&[0xff]), Verdict::Keep(vec![]));
    }
}
