//! Byte-level checks that the generated types carry the specs' field numbers.

use heliograph_proto::{Message, WakuMessage, metadata, store};

/// Reads the field numbers present in an encoded message (top level only).
fn field_numbers(mut bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = prost::encoding::decode_varint(&mut bytes).expect("key");
        let field = u32::try_from(key >> 3).expect("field");
        out.push(field);
        match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut bytes).expect("varint");
            }
            2 => {
                let len = usize::try_from(prost::encoding::decode_varint(&mut bytes).expect("len")).expect("len");
                bytes = &bytes[len..];
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    out
}

#[test]
fn waku_message_field_numbers_match_the_spec() {
    let msg = WakuMessage {
        payload: b"p".to_vec(),
        content_topic: "/app/1/chat/proto".into(),
        version: Some(0),
        timestamp: Some(1),
        meta: Some(b"m".to_vec()),
        rate_limit_proof: Some(b"r".to_vec()),
        ephemeral: Some(true),
    };
    assert_eq!(field_numbers(&msg.encode_to_vec()), [1, 2, 3, 10, 11, 21, 31]);
}

#[test]
fn timestamp_is_zigzag_encoded() {
    let msg = WakuMessage { timestamp: Some(-1), ..Default::default() };
    // sint64 -1 zigzags to 1: key (10 << 3 | 0) = 0x50, value 0x01.
    assert_eq!(msg.encode_to_vec(), [0x50, 0x01]);
}

#[test]
fn store_query_uses_high_field_numbers() {
    let req = store::StoreQueryRequest {
        request_id: "r".into(),
        include_data: true,
        pubsub_topic: Some("/waku/2/rs/1/0".into()),
        content_topics: vec!["/a/1/b/c".into()],
        time_start: Some(1),
        time_end: Some(2),
        message_hashes: vec![vec![0; 32]],
        pagination_cursor: Some(vec![1; 32]),
        pagination_forward: true,
        pagination_limit: Some(20),
    };
    assert_eq!(field_numbers(&req.encode_to_vec()), [1, 2, 10, 11, 12, 13, 20, 51, 52, 53]);
}

#[test]
fn metadata_round_trips() {
    let req =
        metadata::WakuMetadataRequest { cluster_id: Some(3), shards: vec![0, 1, 7], packed_shards: vec![0, 1, 7] };
    let back = metadata::WakuMetadataResponse::decode(req.encode_to_vec().as_slice()).expect("decode");
    assert_eq!(back.cluster_id, Some(3));
    assert_eq!(back.shards, [0, 1, 7]);
    assert_eq!(back.packed_shards, [0, 1, 7]);
}

#[test]
fn metadata_shards_are_one_tag_each_in_field_2_and_packed_in_field_3() {
    let res = metadata::WakuMetadataResponse { cluster_id: Some(1), shards: vec![0, 1], packed_shards: vec![0, 1] };
    // 0x10 = field 2 varint (one per shard), 0x1a = field 3 length-delimited.
    assert_eq!(res.encode_to_vec(), [0x08, 0x01, 0x10, 0x00, 0x10, 0x01, 0x1a, 0x02, 0x00, 0x01]);
    assert_eq!(field_numbers(&res.encode_to_vec()), [1, 2, 2, 3]);
}

#[test]
fn metadata_shards_decode_packed_or_unpacked() {
    let unpacked = [0x08, 0x01, 0x10, 0x03, 0x10, 0x05];
    let packed = [0x08, 0x01, 0x12, 0x02, 0x03, 0x05];
    for frame in [unpacked.as_slice(), packed.as_slice()] {
        let back = metadata::WakuMetadataRequest::decode(frame).expect("decode");
        assert_eq!(back.shards, [3, 5]);
        assert!(back.packed_shards.is_empty());
    }
    let unpacked_3 = [0x18, 0x04, 0x18, 0x06];
    assert_eq!(metadata::WakuMetadataRequest::decode(unpacked_3.as_slice()).expect("decode").packed_shards, [4, 6]);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(WakuMessage::decode([0xff_u8, 0xff, 0xff].as_slice()).is_err());
}
