//! The body of every fuzz target, one function per decoder that reads remote
//! input. `fuzz/` (cargo-fuzz, nightly) wraps each in `fuzz_target!`, and
//! `tests/corpus.rs` (stable, part of `cargo test --workspace`) feeds it every
//! committed input in `fuzz/corpus/<target>/`. Each function calls the real
//! decoder and panics only when an invariant breaks: a decoded value that does
//! not survive re-encoding, an answer that is not a valid frame, a limit not kept.

use std::sync::OnceLock;
use std::time::Instant;

use futures::executor::block_on;
use futures::io::Cursor;
use heliograph_node::bridge::{jsonrpc, tokens::Tokens};
use heliograph_node::light::{TopicPolicy, filter, lightpush, peer_exchange};
use heliograph_node::p2p::codec;
use heliograph_node::store::query::Query;
use heliograph_proto::Message;
use heliograph_proto::filter::FilterSubscribeResponse;
use heliograph_proto::peer_exchange::PeerExchangeRpc;
use heliograph_proto::store::StoreQueryRequest;
use heliograph_session::envelope::Envelope;
use heliograph_session::uri::PairingUri;
use heliograph_waku::{PubsubTopic, RelayMessage};
use libp2p::PeerId;
use libp2p::identity::ed25519;

/// A target body: takes one input, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/<name>.rs` file and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame", frame),
    ("waku_message", waku_message),
    ("store_query", store_query),
    ("filter_request", filter_request),
    ("lightpush_request", lightpush_request),
    ("peer_exchange", peer_exchange),
    ("jsonrpc", jsonrpc),
    ("pairing_uri", pairing_uri),
    ("envelope", envelope),
    ("wc_jwt", wc_jwt),
    ("bridge_token", bridge_token),
];

/// The clock the time-checking decoders (JWTs, tokens) see, Unix seconds: fixed so
/// that a corpus input verifies (or not) the same on every run.
pub const NOW_SECS: u64 = 1_800_000_000;

/// The frame limit [`frame`] reads with.
pub const MAX_FRAME: usize = 64 * 1024;

/// The seed of the ed25519 key whose capability tokens [`bridge_token`] accepts.
pub const TOKEN_KEY_SEED: [u8; 32] = [7; 32];

/// The varint-length-prefixed frame reader of every request-response protocol.
pub fn frame(data: &[u8]) {
    let Ok(read) = block_on(codec::read_frame(&mut Cursor::new(data), MAX_FRAME)) else { return };
    assert!(read.len() <= MAX_FRAME, "a frame over the limit was read");
    let mut out = Cursor::new(Vec::new());
    block_on(codec::write_frame(&mut out, &read)).expect("writing to memory");
    let written = out.into_inner();
    let again = block_on(codec::read_frame(&mut Cursor::new(written.as_slice()), MAX_FRAME)).expect("re-read");
    assert_eq!(again, read, "a frame did not survive write and re-read");
}

/// A WakuMessage as relayed by the mesh: decoded, validated, re-encoded.
pub fn waku_message(data: &[u8]) {
    let topic = PubsubTopic::default_waku();
    let Ok(relayed) = RelayMessage::decode(topic.clone(), data.to_vec()) else { return };
    let _ = relayed.hash();
    let rebuilt = RelayMessage::encode(topic.clone(), relayed.message.clone()).expect("a valid message re-encodes");
    let again = RelayMessage::decode(topic, rebuilt.encoded.clone()).expect("a re-encoded message decodes");
    assert_eq!(again.message, relayed.message, "a message did not survive re-encoding");
    assert_eq!(again.hash(), relayed.hash(), "the hash depends on the encoding");
}

/// A store v3 query request, as the store server reads it.
pub fn store_query(data: &[u8]) {
    let Ok(req) = StoreQueryRequest::decode(data) else { return };
    let again = StoreQueryRequest::decode(req.encode_to_vec().as_slice()).expect("re-encoded request decodes");
    assert_eq!(again, req, "a store request did not survive re-encoding");
    let _ = Query::from_request(req, 100);
}

/// A filter v2 subscribe request: every request gets an answer that decodes.
pub fn filter_request(data: &[u8]) {
    let mut subs = filter::Subscriptions::new(filter::Limits::default(), TopicPolicy::new(1, 8));
    let peer = PeerId::from(libp2p::identity::PublicKey::from(token_key().public()));
    let now = Instant::now();
    for _ in 0..2 {
        let outcome = subs.handle(peer, Ok(data), now);
        let response = FilterSubscribeResponse::decode(outcome.response.as_slice()).expect("the answer decodes");
        assert_eq!(response.status_code, outcome.status, "the answer and the outcome disagree");
    }
    assert!(subs.len() <= 1, "one peer holds more than one subscriber slot");
}

/// A lightpush request; the first byte picks the version (even: v3, odd: legacy v2).
pub fn lightpush_request(data: &[u8]) {
    let Some((&version, frame)) = data.split_first() else { return };
    let version = if version % 2 == 0 { lightpush::Version::V3 } else { lightpush::Version::V2 };
    let Ok(push) = lightpush::decode(version, Ok(frame), &TopicPolicy::new(1, 8)) else { return };
    let relayed = RelayMessage::decode(push.message.pubsub_topic.clone(), push.message.encoded.clone())
        .expect("an accepted push relays as a valid message");
    assert_eq!(relayed.message, push.message.message, "the relayed bytes differ from the accepted message");
}

/// A peer-exchange frame, both ways: as a query we answer and as an answer whose
/// ENRs we cache.
pub fn peer_exchange(data: &[u8]) {
    let mut cache = peer_exchange::EnrCache::new(8, vec![0; 32]);
    let (answer, status) = cache.answer(Ok(data));
    let rpc = PeerExchangeRpc::decode(answer.as_slice()).expect("our answer decodes");
    let response = rpc.response.expect("our answer has a response");
    assert_eq!(response.status_code, Some(status), "the answer and its status disagree");
    for raw in peer_exchange::enrs_of(data) {
        if cache.insert(&raw) {
            let record = peer_exchange::decode_enr(&raw).expect("a cached ENR decodes");
            let _ = peer_exchange::raw_enr(&record);
        }
    }
    assert!(cache.len() <= 8, "the ENR cache outgrew its capacity");
}

/// A bridge JSON-RPC text frame, and the params readers every method uses: a
/// refused frame gets an error response that the client side reads back as one.
pub fn jsonrpc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match jsonrpc::parse(text) {
        jsonrpc::Incoming::Request { params, .. } => {
            if let Ok(params) = jsonrpc::params_object(params) {
                let _ = jsonrpc::string(&params, "topic");
                let _ = jsonrpc::opt_u64(&params, "ttl");
                let _ = jsonrpc::strings(&params, "contentTopics");
            }
        }
        jsonrpc::Incoming::Response { .. } => {}
        jsonrpc::Incoming::Invalid { id, error } => {
            let answer = jsonrpc::parse(&jsonrpc::error(&id, &error));
            if id.is_null() {
                assert!(matches!(answer, jsonrpc::Incoming::Invalid { .. }), "an id-less error reads as {answer:?}");
            } else {
                assert_eq!(
                    answer,
                    jsonrpc::Incoming::Response { id, ok: false },
                    "an error response does not read back"
                );
            }
        }
    }
}

/// A `wc:` pairing URI: a parsed URI prints as one that parses to the same pairing.
pub fn pairing_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(uri) = PairingUri::parse(text) else { return };
    let printed = uri.to_string();
    let again = PairingUri::parse(&printed).expect("a printed URI parses");
    assert!(again == uri, "a pairing URI did not survive printing: {printed}");
}

/// A session envelope, as raw bytes and as base64 wire text.
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = Envelope::from_bytes(data.to_vec()) {
        assert_eq!(envelope.to_bytes(), data, "an envelope did not survive re-encoding");
        let again = Envelope::decode(&envelope.encode()).expect("an encoded envelope decodes");
        assert_eq!(again, envelope, "an envelope did not survive base64");
        let _ = envelope.plaintext();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Envelope::decode(text);
    }
}

/// A WalletConnect relay-auth JWT.
pub fn wc_jwt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(client) = heliograph_wc_wire::jwt::verify(text, NOW_SECS, 86_400) {
        assert!(client.exp > NOW_SECS, "an expired token verified");
    }
}

/// A bridge access token (opaque or an ed25519 capability token).
pub fn bridge_token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let public = hex::encode(token_key().public().to_bytes());
    let tokens = Tokens::new(&[public]).expect("a valid key");
    if tokens.verify(text, NOW_SECS).is_ok() {
        assert!(tokens.verify(text, NOW_SECS).is_err(), "a capability token was accepted twice");
    }
}

/// The key behind [`TOKEN_KEY_SEED`], derived once.
pub fn token_key() -> &'static ed25519::Keypair {
    static KEY: OnceLock<ed25519::Keypair> = OnceLock::new();
    KEY.get_or_init(|| {
        let secret = ed25519::SecretKey::try_from_bytes(TOKEN_KEY_SEED).expect("32 bytes");
        ed25519::Keypair::from(secret)
    })
}
