//! One counted suite of hostile inputs and faults (issue 18) against one real
//! `heliograph` process on its defaults, over real sockets, on every ingress:
//! bridge JSON-RPC frames (waku_* and WalletConnect irn_*/wc_* connections),
//! bridge upgrades (WalletConnect auth JWTs, tokens, Host/Origin), the REST API,
//! and the libp2p request-response protocols (lightpush v3/v2, filter, peer
//! exchange, store, metadata) and relay (gossipsub). Each case asserts its specific clear error (a
//! JSON-RPC code, an HTTP status, a protocol status code, or a closed stream or
//! connection where that is the documented answer). After each group a healthy
//! bridge client on its own connection publishes and receives, and every message
//! acknowledged so far is still in the store: the node keeps serving, with
//! nothing acknowledged lost. Bad bridge frames are spread over connections
//! (the bridge closes a connection past `bridge.bad_frame_limit`); one case
//! asserts that limit itself.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::ws::Client;
use common::{TOPIC, TestNode};
use ed25519_dalek::{Signer, SigningKey};
use futures::{AsyncWriteExt, SinkExt, StreamExt};
use heliograph_node::light::lightpush::{self, Version};
use heliograph_node::p2p::codec::{read_frame, write_frame};
use heliograph_node::waku::ContentTopic;
use heliograph_node::waku::time::now_ns;
use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
use heliograph_proto::filter::{FilterSubscribeRequest, FilterSubscribeResponse};
use heliograph_proto::lightpush::{LightpushRequest, PushRpc};
use heliograph_proto::metadata::{WakuMetadataRequest, WakuMetadataResponse};
use heliograph_proto::peer_exchange::{PeerExchangeQuery, PeerExchangeRpc};
use heliograph_proto::store::{StoreQueryRequest, StoreQueryResponse};
use heliograph_proto::{Message as _, WakuMessage, protocol_id};
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder, identify};
use libp2p_stream::Control;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// The content topic of the healthy client's messages.
const CONTENT: &str = "/heliograph/1/hostile-inputs/proto";
/// Bad frames sent on one bridge connection before the suite opens another: well
/// under the default `bridge.bad_frame_limit` (20 a minute), so each case meets
/// the error of its input, not the limit.
const FRAMES_PER_CONNECTION: usize = 10;
/// An hour in nanoseconds.
const HOUR_NS: i64 = 3_600_000_000_000;

/// The distinct cases run, by name.
#[derive(Default)]
struct Tally {
    names: BTreeSet<String>,
}

impl Tally {
    fn case(&mut self, name: &str) {
        assert!(self.names.insert(name.to_owned()), "case {name:?} is listed twice");
    }
}

// ---------------------------------------------------------------------------
// The healthy client: publishes, receives, and checks nothing acknowledged is lost.

struct Healthy {
    ws: Client,
    subscription: String,
    acked: Vec<String>,
}

impl Healthy {
    async fn new(node: &TestNode) -> Healthy {
        let mut ws = Client::waku(node).await;
        let reply = ws.call("waku_subscribe", json!({"contentTopics": [CONTENT]})).await;
        let subscription = reply["result"].as_str().unwrap_or_else(|| panic!("subscribe: {reply}")).to_owned();
        Healthy { ws, subscription, acked: Vec::new() }
    }

    /// After the group `after`: a publish is acknowledged and pushed back, an
    /// occasional mistake does not cost the connection, every message acknowledged
    /// so far is in the store, and /health answers 200.
    async fn check(&mut self, node: &TestNode, after: &str) {
        let payload = STANDARD.encode(format!("healthy after {after}"));
        let message = json!({"payload": payload, "contentTopic": CONTENT, "timestamp": now_ns()});
        let reply = self.ws.call("waku_publish", json!({"message": message})).await;
        let hash = reply["result"]["hash"].as_str().unwrap_or_else(|| panic!("publish after {after}: {reply}"));
        self.acked.push(hash.to_owned());
        loop {
            let push = tokio::time::timeout(Duration::from_secs(10), self.ws.push())
                .await
                .unwrap_or_else(|_| panic!("the healthy client's message was not pushed after {after}"));
            if push["params"]["result"]["message"]["payload"] == payload.as_str() {
                assert_eq!(push["params"]["subscription"], self.subscription.as_str(), "{push}");
                break;
            }
        }
        let reply = self.ws.call("waku_info", json!(["a mistake"])).await;
        assert_eq!(reply["error"]["code"], -32602, "a well-behaved client's mistake is answered: {reply}");
        let stored = stored_hashes(node).await;
        for hash in &self.acked {
            assert!(stored.contains(hash), "acknowledged message {hash} is not in the store after {after}");
        }
        let (status, body) = node.get("/health").await;
        assert_eq!(status, 200, "health after {after}: {body}");
    }
}

/// Every stored hash on CONTENT, all pages, per the REST store API.
async fn stored_hashes(node: &TestNode) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = format!("/store/v3/messages?contentTopics={}&pageSize=100", urlencoding::encode(CONTENT));
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={}", urlencoding::encode(c)));
        }
        let (status, body) = node.get(&query).await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).expect("JSON");
        for m in page["messages"].as_array().expect("messages") {
            hashes.push(m["messageHash"].as_str().expect("hash").to_owned());
        }
        match page["paginationCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return hashes,
        }
    }
}

// ---------------------------------------------------------------------------
// Bridge frames.

/// A bad frame and the JSON-RPC error it must get.
struct FrameCase {
    name: &'static str,
    frame: Message,
    code: i64,
    /// Text the error message must contain ("" for any non-empty message).
    needle: &'static str,
}

fn text(name: &'static str, frame: impl Into<String>, code: i64, needle: &'static str) -> FrameCase {
    FrameCase { name, frame: Message::text(frame.into()), code, needle }
}

/// A request frame with id 1.
fn req(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

fn call(name: &'static str, method: &str, params: Value, code: i64, needle: &'static str) -> FrameCase {
    text(name, req(method, params), code, needle)
}

fn msg(payload: &str, content: &str, timestamp: Value) -> Value {
    json!({"payload": payload, "contentTopic": content, "timestamp": timestamp})
}

/// A valid message of CONTENT published now, with `field` replaced by `value`.
fn msg_with(field: &str, value: Value) -> Value {
    let mut m = msg("AQI=", CONTENT, json!(now_ns()));
    m[field] = value;
    m
}

/// Two content topics the node autoshards to different shards.
fn topics_on_two_shards() -> (String, String) {
    let shard = |t: &str| t.parse::<ContentTopic>().expect("topic").pubsub_topic(1, 8).expect("shard");
    // Autosharding hashes the application and version only.
    let first = "/probe-0/1/x/proto".to_owned();
    let second = (1..100)
        .map(|i| format!("/probe-{i}/1/x/proto"))
        .find(|t| shard(t) != shard(&first))
        .expect("a content topic on another shard");
    (first, second)
}

fn waku_frame_cases() -> Vec<FrameCase> {
    let (a, b) = topics_on_two_shards();
    let big_payload = STANDARD.encode(vec![7u8; 160 * 1024]);
    let long_topic = format!("/app/1/{}/proto", "x".repeat(70 * 1024));
    let many: Vec<String> = (0..101).map(|i| format!("/app/1/t{i}/proto")).collect();
    let ten_thousand: Vec<String> = (0..10_000).map(|i| format!("/t/1/n{i}/proto")).collect();
    vec![
        text("bridge: not JSON", "{not json", -32700, "not valid JSON"),
        text("bridge: truncated JSON", r#"{"jsonrpc":"2.0","id":1,"method":"waku_info""#, -32700, "not valid JSON"),
        text("bridge: JSON nested 10,000 deep", "[".repeat(10_000), -32700, "not valid JSON"),
        text("bridge: empty text frame", "", -32700, "not valid JSON"),
        text("bridge: batch array", format!("[{}]", req("waku_info", json!({}))), -32600, "batch arrays"),
        text("bridge: a bare number", "42", -32600, "JSON object"),
        text("bridge: a bare string", r#""waku_info""#, -32600, "JSON object"),
        text("bridge: null", "null", -32600, "JSON object"),
        text("bridge: no jsonrpc member", r#"{"id":1,"method":"waku_info"}"#, -32600, "\"jsonrpc\" must be \"2.0\""),
        text("bridge: jsonrpc 1.0", r#"{"jsonrpc":"1.0","id":1,"method":"waku_info"}"#, -32600, "\"2.0\""),
        text("bridge: jsonrpc a number", r#"{"jsonrpc":2.0,"id":1,"method":"waku_info"}"#, -32600, "\"2.0\""),
        text("bridge: id an object", r#"{"jsonrpc":"2.0","id":{"a":1},"method":"waku_info"}"#, -32600, "id must be"),
        text("bridge: id an array", r#"{"jsonrpc":"2.0","id":[1],"method":"waku_info"}"#, -32600, "id must be"),
        text("bridge: id a boolean", r#"{"jsonrpc":"2.0","id":true,"method":"waku_info"}"#, -32600, "id must be"),
        text("bridge: no method", r#"{"jsonrpc":"2.0","id":1}"#, -32600, "missing \"method\""),
        text("bridge: method a number", r#"{"jsonrpc":"2.0","id":1,"method":7}"#, -32600, "must be a string"),
        text("bridge: a response without an id", r#"{"jsonrpc":"2.0","result":true}"#, -32600, "needs the id"),
        call("bridge: unknown method", "eth_chainId", json!({}), -32601, "unknown method"),
        call("bridge: unknown waku_ method", "waku_nope", json!({}), -32601, "unknown method"),
        call("bridge: unknown irn_ method", "irn_nope", json!({}), -32601, "unknown method"),
        call("bridge: irn_subscription called by a client", "irn_subscription", json!({}), -32601, "unknown method"),
        call("bridge: irn_* without an auth JWT", "irn_subscribe", json!({"topic": "ab".repeat(32)}), -32001, "JWT"),
        call("bridge_authenticate: no token", "bridge_authenticate", json!({}), -32602, "takes {\"token\""),
        call("bridge_authenticate: token a number", "bridge_authenticate", json!({"token": 7}), -32602, "takes"),
        call(
            "bridge_authenticate: extra params",
            "bridge_authenticate",
            json!({"token": "x", "a": 1}),
            -32602,
            "takes",
        ),
        call(
            "bridge_authenticate: a made-up token",
            "bridge_authenticate",
            json!({"token": "hgt_x"}),
            -32001,
            "invalid",
        ),
        call(
            "bridge_authenticate: a junk JWT",
            "bridge_authenticate",
            json!(["a.b.c"]),
            -32001,
            "invalid bridge token",
        ),
        call("waku_info: params an array", "waku_info", json!([1, 2]), -32602, "params must be an object"),
        call("waku_info: params a string", "waku_info", json!("x"), -32602, "params must be an object"),
        call(
            "waku_subscribe: contentTopics a string",
            "waku_subscribe",
            json!({"contentTopics": CONTENT}),
            -32602,
            "contentTopics must be an array",
        ),
        call("waku_subscribe: no contentTopics", "waku_subscribe", json!({}), -32602, "missing param contentTopics"),
        call(
            "waku_subscribe: contentTopics empty",
            "waku_subscribe",
            json!({"contentTopics": []}),
            -32602,
            "at least one",
        ),
        call(
            "waku_subscribe: contentTopics of numbers",
            "waku_subscribe",
            json!({"contentTopics": [1, 2]}),
            -32602,
            "array of strings",
        ),
        call(
            "waku_subscribe: a content topic without slashes",
            "waku_subscribe",
            json!({"contentTopics": ["no-slashes"]}),
            -32602,
            "contentTopics:",
        ),
        call(
            "waku_subscribe: content topic generation 1",
            "waku_subscribe",
            json!({"contentTopics": ["/1/app/1/x/proto"]}),
            -32602,
            "generation 1",
        ),
        call(
            "waku_subscribe: a 70 kB content topic",
            "waku_subscribe",
            json!({"contentTopics": [long_topic]}),
            -32602,
            "the limit is 256",
        ),
        call(
            "waku_subscribe: pubsubTopic a number",
            "waku_subscribe",
            json!({"contentTopics": [CONTENT], "pubsubTopic": 5}),
            -32602,
            "pubsubTopic must be a string",
        ),
        call(
            "waku_subscribe: pubsubTopic not a pubsub topic",
            "waku_subscribe",
            json!({"contentTopics": [CONTENT], "pubsubTopic": "not/a/topic"}),
            -32602,
            "pubsubTopic:",
        ),
        call(
            "waku_subscribe: a pubsub topic of another cluster",
            "waku_subscribe",
            json!({"contentTopics": [CONTENT], "pubsubTopic": "/waku/2/rs/9/0"}),
            -32001,
            "not open to bridge clients",
        ),
        call(
            "waku_subscribe: 10,000 content topics",
            "waku_subscribe",
            json!({"contentTopics": ten_thousand}),
            -32005,
            "subscription limit",
        ),
        call(
            "waku_unsubscribe: subscription a number",
            "waku_unsubscribe",
            json!({"subscription": 5}),
            -32602,
            "subscription must be a string",
        ),
        call("waku_publish: no message", "waku_publish", json!({}), -32602, "missing param message"),
        call("waku_publish: message a string", "waku_publish", json!({"message": "hello"}), -32602, "message:"),
        call(
            "waku_publish: payload not base64",
            "waku_publish",
            json!({"message": msg_with("payload", json!("%%%"))}),
            -32602,
            "base64",
        ),
        call(
            "waku_publish: payload a number",
            "waku_publish",
            json!({"message": msg_with("payload", json!(5))}),
            -32602,
            "message:",
        ),
        call(
            "waku_publish: no contentTopic",
            "waku_publish",
            json!({"message": {"payload": "AQI="}}),
            -32602,
            "contentTopic",
        ),
        call(
            "waku_publish: contentTopic not a content topic",
            "waku_publish",
            json!({"message": msg_with("contentTopic", json!("nonsense"))}),
            -32602,
            "contentTopic",
        ),
        call(
            "waku_publish: a 160 KiB payload",
            "waku_publish",
            json!({"message": msg_with("payload", json!(big_payload))}),
            -32602,
            "Message size exceeded",
        ),
        call(
            "waku_publish: meta of 65 bytes",
            "waku_publish",
            json!({"message": msg_with("meta", json!(STANDARD.encode([1u8; 65])))}),
            -32602,
            "Meta",
        ),
        call(
            "waku_publish: timestamp i64::MAX",
            "waku_publish",
            json!({"message": msg_with("timestamp", json!(i64::MAX))}),
            -32602,
            "timestamp",
        ),
        call(
            "waku_publish: timestamp 1 (1970)",
            "waku_publish",
            json!({"message": msg_with("timestamp", json!(1))}),
            -32602,
            "timestamp",
        ),
        call(
            "waku_publish: timestamp an hour ahead",
            "waku_publish",
            json!({"message": msg_with("timestamp", json!(now_ns() + HOUR_NS))}),
            -32602,
            "timestamp",
        ),
        call(
            "waku_publish: timestamp negative",
            "waku_publish",
            json!({"message": msg_with("timestamp", json!(-5))}),
            -32602,
            "timestamp",
        ),
        call(
            "waku_publish: timestamp a string",
            "waku_publish",
            json!({"message": msg_with("timestamp", json!("now"))}),
            -32602,
            "message:",
        ),
        call(
            "waku_publish: timestamp above i64",
            "waku_publish",
            json!({"message": msg_with("timestamp", json!(u64::MAX))}),
            -32602,
            "message:",
        ),
        call(
            "waku_publish: pubsubTopic not a pubsub topic",
            "waku_publish",
            json!({"pubsubTopic": "rs/1/0", "message": msg_with("payload", json!("AQI="))}),
            -32602,
            "pubsubTopic:",
        ),
        call(
            "waku_publish: a pubsub topic of another cluster",
            "waku_publish",
            json!({"pubsubTopic": "/waku/2/rs/9/0", "message": msg_with("payload", json!("AQI="))}),
            -32001,
            "not open to bridge clients",
        ),
        call("waku_history: no contentTopics", "waku_history", json!({}), -32602, "missing param contentTopics"),
        call(
            "waku_history: cursor not hex",
            "waku_history",
            json!({"contentTopics": [CONTENT], "cursor": "zz"}),
            -32602,
            "cursor must be a 0x hex hash",
        ),
        call(
            "waku_history: cursor of 3 bytes",
            "waku_history",
            json!({"contentTopics": [CONTENT], "cursor": "0xabcdef"}),
            -32602,
            "cursor must be 32 bytes",
        ),
        call(
            "waku_history: cursor a number",
            "waku_history",
            json!({"contentTopics": [CONTENT], "cursor": 5}),
            -32602,
            "cursor must be a string",
        ),
        call(
            "waku_history: startTime after endTime",
            "waku_history",
            json!({"contentTopics": [CONTENT], "startTime": 10, "endTime": 5}),
            -32602,
            "startTime is after endTime",
        ),
        call(
            "waku_history: startTime a string",
            "waku_history",
            json!({"contentTopics": [CONTENT], "startTime": "yesterday"}),
            -32602,
            "startTime must be an integer",
        ),
        call(
            "waku_history: endTime above i64",
            "waku_history",
            json!({"contentTopics": [CONTENT], "endTime": u64::MAX}),
            -32602,
            "endTime must be an integer",
        ),
        call(
            "waku_history: ascending a string",
            "waku_history",
            json!({"contentTopics": [CONTENT], "ascending": "yes"}),
            -32602,
            "ascending must be a boolean",
        ),
        call(
            "waku_history: pageSize negative",
            "waku_history",
            json!({"contentTopics": [CONTENT], "pageSize": -1}),
            -32602,
            "pageSize must be a non-negative integer",
        ),
        call("waku_history: 101 content topics", "waku_history", json!({"contentTopics": many}), -32602, "at most 100"),
        call(
            "waku_history: content topics on two shards",
            "waku_history",
            json!({"contentTopics": [a, b]}),
            -32602,
            "different shards",
        ),
        FrameCase {
            name: "bridge: a binary frame",
            frame: Message::binary(br#"{"jsonrpc":"2.0","id":1,"method":"waku_info"}"#.to_vec()),
            code: -32600,
            needle: "binary frames are not supported",
        },
    ]
}

fn wc_frame_cases() -> Vec<FrameCase> {
    let topic = "ab".repeat(32);
    let publish = |extra: Value| {
        let mut params = json!({"topic": topic, "message": "AAEC", "ttl": 300, "tag": 1108});
        for (k, v) in extra.as_object().expect("object") {
            params[k] = v.clone();
        }
        params
    };
    let topics: Vec<String> = (0..501).map(|i| format!("{i:064x}")).collect();
    vec![
        call("irn_subscribe: topic not hex", "irn_subscribe", json!({"topic": "zz".repeat(32)}), -32602, "64 hex"),
        call(
            "irn_subscribe: topic of 63 characters",
            "irn_subscribe",
            json!({"topic": "a".repeat(63)}),
            -32602,
            "64 hex",
        ),
        call("irn_subscribe: topic a number", "irn_subscribe", json!({"topic": 5}), -32602, "topic must be a string"),
        call("irn_subscribe: no topic", "irn_subscribe", json!({}), -32602, "missing param topic"),
        call("irn_publish: ttl 1 s", "irn_publish", publish(json!({"ttl": 1})), -32602, "ttl 1 is out of bounds"),
        call("irn_publish: ttl a year", "irn_publish", publish(json!({"ttl": 31_536_000})), -32602, "out of bounds"),
        call("irn_publish: ttl u64::MAX", "irn_publish", publish(json!({"ttl": u64::MAX})), -32602, "out of bounds"),
        call("irn_publish: ttl negative", "irn_publish", publish(json!({"ttl": -300})), -32602, "non-negative"),
        call(
            "irn_publish: ttl a string",
            "irn_publish",
            publish(json!({"ttl": "300"})),
            -32602,
            "ttl must be an integer",
        ),
        call(
            "irn_publish: an empty message",
            "irn_publish",
            publish(json!({"message": ""})),
            -32602,
            "must not be empty",
        ),
        call(
            "irn_publish: a 150 KiB message",
            "irn_publish",
            publish(json!({"message": "A".repeat(150 * 1024)})),
            -32602,
            "at most",
        ),
        call(
            "irn_publish: message a number",
            "irn_publish",
            publish(json!({"message": 5})),
            -32602,
            "message must be a string",
        ),
        call("irn_publish: tag over 32 bits", "irn_publish", publish(json!({"tag": 1u64 << 40})), -32602, "32 bits"),
        call("irn_batchSubscribe: 501 topics", "irn_batchSubscribe", json!({"topics": topics}), -32005, "at most 500"),
        call(
            "irn_batchSubscribe: topics a string",
            "irn_batchSubscribe",
            json!({"topics": topic}),
            -32602,
            "topics must be an array",
        ),
        call(
            "irn_batchFetchMessages: a bad topic in the list",
            "irn_batchFetchMessages",
            json!({"topics": [topic, "nope"]}),
            -32602,
            "64-hex",
        ),
        call(
            "irn_batchPublish: an item not an object",
            "irn_batchPublish",
            json!({"messages": [5]}),
            -32602,
            "params must be an object",
        ),
        call(
            "irn_batchUnsubscribe: no subscriptions",
            "irn_batchUnsubscribe",
            json!({}),
            -32602,
            "missing param subscriptions",
        ),
        call(
            "wc_proposeSession: no sessionProposal",
            "wc_proposeSession",
            json!({"pairingTopic": topic}),
            -32602,
            "missing param sessionProposal",
        ),
        call(
            "wc_approveSession: sessionTopic not a topic",
            "wc_approveSession",
            json!({"pairingTopic": topic, "sessionTopic": "x", "sessionProposalResponse": "a", "sessionSettlementRequest": "b"}),
            -32602,
            "sessionTopic must be 64 hex",
        ),
        call(
            "irn_fetchMessages: params an array",
            "irn_fetchMessages",
            json!([topic]),
            -32602,
            "params must be an object",
        ),
    ]
}

/// Sends each case on `connect()`ed connections, at most FRAMES_PER_CONNECTION per
/// connection, and asserts its error.
async fn run_frames<F, Fut>(tally: &mut Tally, cases: Vec<FrameCase>, connect: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Client>,
{
    for chunk in cases.chunks(FRAMES_PER_CONNECTION) {
        let mut client = connect().await;
        for case in chunk {
            tally.case(case.name);
            client.ws.send(case.frame.clone()).await.expect("send");
            let reply = client.frame().await;
            let error = &reply["error"];
            assert_eq!(error["code"], case.code, "{}: {reply}", case.name);
            let message = error["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty() && message.contains(case.needle), "{}: {reply}", case.name);
        }
        let _ = client.ws.close(None).await;
    }
}

/// Ids of hostile sizes are echoed verbatim, with their JSON type, in the answer.
async fn huge_ids(tally: &mut Tally, node: &TestNode) {
    let mut client = Client::waku(node).await;
    let digits = "9".repeat(400);
    let long_string = format!("\"{}\"", "i".repeat(100_000));
    for (name, id) in [("bridge: a 400-digit numeric id", digits), ("bridge: a 100 kB string id", long_string)] {
        tally.case(name);
        client.send_text(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_chainId"}}"#)).await;
        let reply = client.frame().await;
        assert_eq!(reply["error"]["code"], -32601, "{name}: {}", reply["error"]);
        assert_eq!(reply["id"].to_string(), id, "{name}: the id is echoed as sent");
    }
}

/// The next close frame on `client`'s socket, as (code, reason), skipping other frames.
async fn close_of(client: &mut Client) -> (u16, String) {
    reset_or_close(client).await.expect("a close frame, not a reset")
}

/// A frame over `bridge.max_frame_size` closes the socket with 1009.
async fn oversized_frame(tally: &mut Tally, node: &TestNode) {
    tally.case("bridge: a frame over 1 MiB");
    let mut client = Client::waku(node).await;
    // The node refuses the frame from its header and does not read the rest: a client
    // still writing it can see the connection reset before the close frame arrives
    // (seen under load). Either way the frame is refused; when the close arrives it says why.
    if let Err(e) = client.ws.send(Message::text("x".repeat(1024 * 1024 + 1))).await {
        assert!(matches!(e, tungstenite::Error::Io(_)), "{e}");
        return;
    }
    match reset_or_close(&mut client).await {
        Some((code, reason)) => {
            assert_eq!(code, 1009, "{reason}");
            assert!(reason.contains("larger than 1048576"), "{reason}");
        }
        None => eprintln!("hostile_inputs: the oversized frame's connection was reset before its close frame"),
    }
}

/// The close frame, or `None` if the connection was reset before it came.
async fn reset_or_close(client: &mut Client) -> Option<(u16, String)> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), client.ws.next()).await.expect("a close in time");
        match next {
            Some(Ok(Message::Close(Some(frame)))) => return Some((u16::from(frame.code), frame.reason.to_string())),
            Some(Err(tungstenite::Error::Io(_))) => return None,
            Some(Ok(Message::Close(None))) | None => panic!("closed without a close frame"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket failed before a close frame: {e}"),
        }
    }
}

/// The bad-frame budget: 20 bad frames in a burst are each answered, the 21st is
/// answered and closes the socket with 1008 naming the limit; the budget refills,
/// so a connection that paces its mistakes keeps going, and publishes sent just
/// before the closing frame are answered first. Returns their hashes.
async fn bad_frame_budget(tally: &mut Tally, node: &TestNode) -> Vec<String> {
    tally.case("bridge: more bad frames than bridge.bad_frame_limit");
    let closes = node.metric("heliograph_bridge_rejected_total", "reason=\"bad_frames\"").await;
    let counted = node.metric("heliograph_bridge_bad_frames_total", "").await;

    let mut burst = Client::waku(node).await;
    for i in 0..21 {
        burst.send_text(format!("not json {i}")).await;
        let reply = burst.frame().await;
        assert_eq!(reply["error"]["code"], -32700, "bad frame {i} gets its own error: {reply}");
    }
    let (code, reason) = close_of(&mut burst).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("too many bad frames") && reason.contains("bridge.bad_frame_limit"), "{reason}");

    // Paced: the 20 allowed, then one per refill (one every 3 s) is still answered.
    let mut paced = Client::waku(node).await;
    for i in 0..20 {
        paced.send_text(format!("[{i}]")).await;
        assert_eq!(paced.frame().await["error"]["code"], -32600);
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    paced.send_text("[\"refilled\"]".into()).await;
    assert_eq!(paced.frame().await["error"]["code"], -32600);
    let info = paced.call("waku_info", json!({})).await;
    assert!(info["result"]["peerId"].is_string(), "still served after a refilled mistake: {info}");
    // Past the budget right behind a burst of publishes, written with one flush so
    // that some are still in flight when the bad frame is read: every publish is
    // answered, in order, then the bad frame, then the socket closes.
    for i in 0..32 {
        let payload = STANDARD.encode(format!("published just before the limit {i}"));
        let message = json!({"payload": payload, "contentTopic": CONTENT, "timestamp": now_ns()});
        let request =
            json!({"jsonrpc": "2.0", "id": 100 + i, "method": "waku_publish", "params": {"message": message}});
        paced.ws.feed(Message::text(request.to_string())).await.expect("feed");
    }
    paced.ws.feed(Message::text("[\"one too many\"]")).await.expect("feed");
    paced.ws.flush().await.expect("flush");
    let mut hashes = Vec::new();
    for i in 0..32 {
        let published = paced.frame().await;
        assert_eq!(published["id"], 100 + i, "answers keep request order: {published}");
        hashes.push(published["result"]["hash"].as_str().unwrap_or_else(|| panic!("{published}")).to_owned());
    }
    assert_eq!(paced.frame().await["error"]["code"], -32600, "the frame past the budget is answered too");
    assert_eq!(close_of(&mut paced).await.0, 1008);

    let closes_now = node.metric("heliograph_bridge_rejected_total", "reason=\"bad_frames\"").await;
    assert_eq!(closes_now - closes, 2.0, "each close is counted");
    let counted_now = node.metric("heliograph_bridge_bad_frames_total", "").await;
    assert!(counted_now - counted >= 43.0, "every bad frame is counted: {counted} -> {counted_now}");
    hashes
}

// ---------------------------------------------------------------------------
// Bridge upgrades.

/// A JWT of `header` and `claims` (JSON) signed by `key`.
fn jwt(key: &SigningKey, header: &str, claims: &Value) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// The status and body of a refused upgrade; panics if the upgrade is accepted.
async fn refused(request: tungstenite::handshake::client::Request) -> (u16, String) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("the upgrade failed without an HTTP answer: {e}"),
        Ok(_) => panic!("a hostile upgrade was accepted"),
    }
}

async fn upgrades(tally: &mut Tally, node: &TestNode) {
    let bridge = node.bridge.clone().expect("bridge");
    let key = common::wc_key();
    let other = common::wc_key();
    let now = unix_now();
    let iss = heliograph_wc_wire::did::encode(&key.verifying_key().to_bytes());
    let claims = |iat: u64, exp: u64| json!({"iss": iss, "sub": "00", "aud": "ws://127.0.0.1", "iat": iat, "exp": exp});
    let eddsa = r#"{"alg":"EdDSA","typ":"JWT"}"#;
    let good = jwt(&key, eddsa, &claims(now, now + 3600));
    let (head, rest) = good.split_once('.').expect("segments");
    let (body, _) = rest.split_once('.').expect("segments");
    let cut_signature = &good[..good.len() - 10];
    let jwts: Vec<(&str, String, &str)> = vec![
        ("auth: not a JWT", "garbage".into(), "three dot-separated segments"),
        ("auth: four segments", format!("{good}.x"), "three dot-separated segments"),
        ("auth: a 5 kB token", "a".repeat(5000), "too long"),
        ("auth: header not base64url", format!("!!!.{body}.x"), "bad base64url"),
        ("auth: header not JSON", format!("{}.{body}.x", URL_SAFE_NO_PAD.encode("nope")), "bad header"),
        ("auth: alg HS256", jwt(&key, r#"{"alg":"HS256","typ":"JWT"}"#, &claims(now, now + 60)), "alg must be EdDSA"),
        ("auth: alg none", format!("{}.{body}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#)), "alg must be EdDSA"),
        ("auth: claims not JSON", format!("{head}.{}.x", URL_SAFE_NO_PAD.encode("[")), "bad claims"),
        (
            "auth: iss not a did:key",
            jwt(&key, eddsa, &json!({"iss": "did:web:evil.example", "exp": now + 60})),
            "iss must be an ed25519 did:key",
        ),
        ("auth: signed by another key", jwt(&other, eddsa, &claims(now, now + 60)), "signature is invalid"),
        ("auth: signature cut short", cut_signature.to_owned(), "signature is invalid"),
        ("auth: expired", jwt(&key, eddsa, &claims(now - 120, now - 60)), "expired"),
        ("auth: issued an hour ahead", jwt(&key, eddsa, &claims(now + 3600, now + 7200)), "in the future"),
        ("auth: lives two days", jwt(&key, eddsa, &claims(now, now + 2 * 86_400)), "lives longer"),
    ];
    for (name, token, needle) in jwts {
        tally.case(name);
        let url = format!("ws://{bridge}/?auth={}", urlencoding::encode(&token));
        let (status, text) = refused(url.into_client_request().expect("request")).await;
        assert_eq!(status, 401, "{name}: {text}");
        assert!(text.contains(needle), "{name}: {text}");
    }

    tally.case("token: an unknown opaque token");
    let (status, text) =
        refused(format!("ws://{bridge}/?token=hgt_{}", "0".repeat(40)).into_client_request().expect("request")).await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.is_empty());

    tally.case("token: a garbage bearer header");
    let mut request = format!("ws://{bridge}/").into_client_request().expect("request");
    request.headers_mut().insert("authorization", "Bearer not.a.token".parse().expect("header"));
    let (status, text) = refused(request).await;
    assert_eq!(status, 401, "{text}");

    tally.case("upgrade: a cross-site Origin");
    let mut request = format!("ws://{bridge}/").into_client_request().expect("request");
    request.headers_mut().insert("origin", "https://evil.example".parse().expect("header"));
    assert_eq!(refused(request).await.0, 403);

    tally.case("upgrade: a rebound Host");
    let mut request = format!("ws://{bridge}/").into_client_request().expect("request");
    request.headers_mut().insert("host", "rebind.evil.example".parse().expect("header"));
    assert_eq!(refused(request).await.0, 403);
}

// ---------------------------------------------------------------------------
// REST.

enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

struct RestCase {
    name: &'static str,
    method: reqwest::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Body,
    status: u16,
    /// Text the answer must contain ("" for any).
    needle: &'static str,
}

fn rest(
    name: &'static str,
    method: reqwest::Method,
    path: &str,
    body: Body,
    status: u16,
    needle: &'static str,
) -> RestCase {
    RestCase { name, method, path: path.to_owned(), headers: Vec::new(), body, status, needle }
}

fn rest_cases(node: &TestNode) -> Vec<RestCase> {
    use reqwest::Method;
    let publish = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
    let m = |field: &str, value: Value| Body::Json(msg_with(field, value));
    let port = node.rest.rsplit(':').next().expect("port").to_owned();
    let mut cases = vec![
        rest(
            "rest: publish body not JSON",
            Method::POST,
            &publish,
            Body::Raw("application/json", "{not json".into()),
            400,
            "malformed message",
        ),
        rest(
            "rest: publish payload a number",
            Method::POST,
            &publish,
            m("payload", json!(5)),
            400,
            "malformed message",
        ),
        rest(
            "rest: publish payload not base64",
            Method::POST,
            &publish,
            m("payload", json!("%%%")),
            400,
            "payload is not valid base64",
        ),
        rest(
            "rest: publish without contentTopic",
            Method::POST,
            &publish,
            Body::Json(json!({"payload": "AQ=="})),
            400,
            "contentTopic is required",
        ),
        rest(
            "rest: publish to a path that is no pubsub topic",
            Method::POST,
            "/relay/v1/messages/not-a-topic",
            m("payload", json!("AQ==")),
            400,
            "not a Waku pubsub topic",
        ),
        rest(
            "rest: publish to another cluster's topic",
            Method::POST,
            &format!("/relay/v1/messages/{}", urlencoding::encode("/waku/2/rs/9/0")),
            m("payload", json!("AQ==")),
            400,
            "subscribe to it first",
        ),
        rest(
            "rest: publish a 160 KiB payload",
            Method::POST,
            &publish,
            m("payload", json!(STANDARD.encode(vec![0u8; 160 * 1024]))),
            400,
            "Message size exceeded maximum of 153600 bytes",
        ),
        rest(
            "rest: a body over 512 KiB",
            Method::POST,
            &publish,
            m("payload", json!(STANDARD.encode(vec![0u8; 600 * 1024]))),
            400,
            "over the REST limit",
        ),
        rest(
            "rest: publish an empty payload",
            Method::POST,
            &publish,
            m("payload", json!("")),
            400,
            "payload is empty",
        ),
        rest(
            "rest: publish meta of 65 bytes",
            Method::POST,
            &publish,
            m("meta", json!(STANDARD.encode([1u8; 65]))),
            400,
            "invalid length for Meta field",
        ),
        rest(
            "rest: publish timestamp i64::MAX",
            Method::POST,
            &publish,
            m("timestamp", json!(i64::MAX)),
            400,
            "timestamp",
        ),
        rest(
            "rest: publish timestamp an hour behind",
            Method::POST,
            &publish,
            m("timestamp", json!(now_ns() - HOUR_NS)),
            400,
            "timestamp",
        ),
        rest(
            "rest: lightpush timestamp i64::MAX",
            Method::POST,
            "/lightpush/v3/message",
            Body::Json(json!({"pubsubTopic": TOPIC, "message": msg_with("timestamp", json!(i64::MAX))})),
            400,
            "timestamp",
        ),
        rest(
            "rest: lightpush body not JSON",
            Method::POST,
            "/lightpush/v3/message",
            Body::Raw("application/json", "[[[".into()),
            400,
            "malformed request",
        ),
        rest(
            "rest: messages of an unsubscribed topic",
            Method::GET,
            &format!("/relay/v1/messages/{}", urlencoding::encode("/waku/2/rs/1/99")),
            Body::None,
            404,
            "not subscribed",
        ),
        rest(
            "rest: auto-subscribe a bad content topic",
            Method::POST,
            "/relay/v1/auto/subscriptions",
            Body::Json(json!(["no-slashes"])),
            400,
            "not a Waku content topic",
        ),
        rest(
            "rest: subscribe with an object, not a list",
            Method::POST,
            "/relay/v1/subscriptions",
            Body::Json(json!({"topic": TOPIC})),
            400,
            "expected a JSON list",
        ),
        rest(
            "rest: dial a garbage multiaddr",
            Method::POST,
            "/admin/v1/peers",
            Body::Json(json!(["garbage"])),
            400,
            "is not a multiaddr",
        ),
        rest(
            "rest: store cursor of 3 hex characters",
            Method::GET,
            "/store/v3/messages?cursor=abc",
            Body::None,
            400,
            "invalid hash length",
        ),
        rest(
            "rest: store hashes not hex",
            Method::GET,
            "/store/v3/messages?hashes=xyz",
            Body::None,
            400,
            "is not a hexadecimal character",
        ),
        rest(
            "rest: store peerAddr not a multiaddr",
            Method::GET,
            "/store/v3/messages?peerAddr=ip4/1.2.3.4",
            Body::None,
            400,
            "Invalid MultiAddress",
        ),
        rest(
            "rest: store pageSize not a number",
            Method::GET,
            "/store/v3/messages?pageSize=many",
            Body::None,
            400,
            "must be an integer",
        ),
        rest(
            "rest: store ascending maybe",
            Method::GET,
            "/store/v3/messages?ascending=maybe",
            Body::None,
            400,
            "true or false",
        ),
        rest(
            "rest: store startTime not a number",
            Method::GET,
            "/store/v3/messages?startTime=yesterday",
            Body::None,
            400,
            "startTime must be an integer",
        ),
        rest("rest: DELETE /health", Method::DELETE, "/health", Body::None, 405, ""),
        rest("rest: PUT /store/v3/messages", Method::PUT, "/store/v3/messages", Body::None, 405, ""),
        rest("rest: an unknown route", Method::GET, "/no/such/route", Body::None, 404, ""),
        rest(
            "rest: publish as text/plain",
            Method::POST,
            &publish,
            Body::Raw("text/plain", msg_with("payload", json!("AQ==")).to_string()),
            400,
            "Content-Type: application/json",
        ),
    ];
    let mut rebound =
        rest("rest: a rebound Host", Method::GET, "/debug/v1/info", Body::None, 403, "rest.allowed_hosts");
    rebound.headers.push(("host", format!("rebind.evil.example:{port}")));
    let mut cross = rest(
        "rest: a cross-origin write",
        Method::POST,
        "/bridge/v1/tokens",
        Body::Json(json!({})),
        403,
        "cross-origin",
    );
    cross.headers.push(("origin", "https://evil.example".into()));
    cases.extend([rebound, cross]);
    cases
}

async fn run_rest(tally: &mut Tally, node: &TestNode) {
    let port = node.rest.rsplit(':').next().expect("port").to_owned();
    for case in rest_cases(node) {
        tally.case(case.name);
        let mut request = node.http.request(case.method.clone(), format!("http://127.0.0.1:{port}{}", case.path));
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        request = match case.body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Raw(content_type, text) => request.header("content-type", content_type).body(text),
        };
        let response = request.send().await.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(status, case.status, "{}: {text}", case.name);
        assert!(text.contains(case.needle), "{}: {text}", case.name);
    }
}

// ---------------------------------------------------------------------------
// libp2p request-response protocols.

#[derive(NetworkBehaviour)]
struct PeerBehaviour {
    streams: libp2p_stream::Behaviour,
    identify: identify::Behaviour,
}

/// A raw libp2p peer connected to the node: its stream control and how many of its connections closed.
struct Peer {
    control: Control,
    node: PeerId,
    closed: Arc<AtomicUsize>,
}

async fn peer(target: &str) -> Peer {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)
        .expect("transport")
        .with_behaviour(|key| PeerBehaviour {
            streams: libp2p_stream::Behaviour::new(),
            identify: identify::Behaviour::new(identify::Config::new("/ipfs/id/1.0.0".into(), key.public())),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let control = swarm.behaviour().streams.new_control();
    swarm.dial(target.parse::<Multiaddr>().expect("addr")).expect("dial");
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(1);
    let closed = Arc::new(AtomicUsize::new(0));
    let closed_count = closed.clone();
    tokio::spawn(async move {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    let _ = connected_tx.try_send(peer_id);
                }
                SwarmEvent::ConnectionClosed { .. } => {
                    closed_count.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    });
    let node = tokio::time::timeout(Duration::from_secs(10), connected_rx.recv())
        .await
        .expect("connected in time")
        .expect("peer id");
    Peer { control, node, closed }
}

/// Writes raw `bytes` on a new `protocol` stream, closes its write side and reads
/// the answer frame; `None` if the node closed the stream without one.
async fn exchange(p: &mut Peer, protocol: &'static str, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut stream = p.control.open_stream(p.node, StreamProtocol::new(protocol)).await.expect("open stream");
    // A node that refuses a frame early may reset the stream mid-write: that is an answer too.
    if stream.write_all(bytes).await.is_err() {
        return None;
    }
    let _ = stream.close().await;
    tokio::time::timeout(Duration::from_secs(10), read_frame(&mut stream, 1 << 20))
        .await
        .expect("answered or closed in time")
        .ok()
}

/// `bytes` behind a length prefix.
fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut out = futures::io::Cursor::new(Vec::new());
    futures::executor::block_on(write_frame(&mut out, bytes)).expect("frame");
    out.into_inner()
}

/// A length prefix announcing `announced` bytes, followed by only `sent` of them.
fn announced(announced: usize, sent: usize) -> Vec<u8> {
    let mut out = framed(&vec![9u8; announced]);
    out.truncate(out.len() - announced + sent);
    out
}

/// What a p2p case must get.
#[derive(Debug, Clone, Copy, PartialEq)]
enum P2pWant {
    /// An answer with this status code, and a description when it is an error.
    Status(u32),
    /// The node's metadata (cluster 1): a peer that cannot state its own is kept.
    Metadata,
    /// The stream closed without an answer.
    Closed,
}

struct P2pCase {
    name: &'static str,
    protocol: &'static str,
    bytes: Vec<u8>,
    want: P2pWant,
}

fn p2p(name: &'static str, protocol: &'static str, bytes: Vec<u8>, want: P2pWant) -> P2pCase {
    P2pCase { name, protocol, bytes, want }
}

fn waku_message(timestamp: i64, payload: &[u8]) -> WakuMessage {
    WakuMessage {
        payload: payload.to_vec(),
        content_topic: CONTENT.into(),
        timestamp: Some(timestamp),
        ..Default::default()
    }
}

fn lightpush_v3(topic: Option<&str>, message: Option<WakuMessage>) -> Vec<u8> {
    framed(
        &LightpushRequest { request_id: "hostile".into(), pubsub_topic: topic.map(str::to_owned), message }
            .encode_to_vec(),
    )
}

fn filter_frame(kind: i32, topic: Option<&str>, contents: &[&str]) -> Vec<u8> {
    let request = FilterSubscribeRequest {
        request_id: "hostile".into(),
        filter_subscribe_type: kind,
        pubsub_topic: topic.map(str::to_owned),
        content_topics: contents.iter().map(|s| (*s).to_owned()).collect(),
    };
    framed(&request.encode_to_vec())
}

fn store_frame(request: StoreQueryRequest) -> Vec<u8> {
    framed(&StoreQueryRequest { request_id: "hostile".into(), ..request }.encode_to_vec())
}

fn p2p_cases() -> Vec<P2pCase> {
    use P2pWant::{Closed, Metadata, Status};
    let garbage = framed(&[0xff, 0x00, 0xff]);
    let not_varint = vec![0xff; 11];
    let now = now_ns();
    let subscribe = FilterSubscribeType::Subscribe as i32;
    let unsubscribe = FilterSubscribeType::Unsubscribe as i32;
    let many: Vec<String> = (0..101).map(|i| format!("/app/1/t{i}/proto")).collect();
    vec![
        p2p(
            "lightpush v3: not protobuf",
            protocol_id::LIGHTPUSH_V3,
            garbage.clone(),
            Status(lightpush::status::BAD_REQUEST),
        ),
        p2p(
            "lightpush v3: prefix not a varint",
            protocol_id::LIGHTPUSH_V3,
            not_varint.clone(),
            Status(lightpush::status::BAD_REQUEST),
        ),
        p2p(
            "lightpush v3: a 2 MiB length prefix",
            protocol_id::LIGHTPUSH_V3,
            announced(2 * 1024 * 1024, 100),
            Status(lightpush::status::PAYLOAD_TOO_LARGE),
        ),
        p2p("lightpush v3: a frame cut short", protocol_id::LIGHTPUSH_V3, announced(100, 10), Closed),
        p2p(
            "lightpush v3: no message",
            protocol_id::LIGHTPUSH_V3,
            lightpush_v3(Some(TOPIC), None),
            Status(lightpush::status::BAD_REQUEST),
        ),
        p2p(
            "lightpush v3: an empty payload",
            protocol_id::LIGHTPUSH_V3,
            lightpush_v3(Some(TOPIC), Some(waku_message(now, b""))),
            Status(lightpush::status::INVALID_MESSAGE),
        ),
        p2p(
            "lightpush v3: pubsub topic not a topic",
            protocol_id::LIGHTPUSH_V3,
            lightpush_v3(Some("nonsense"), Some(waku_message(now, b"x"))),
            Status(lightpush::status::UNSUPPORTED_TOPIC),
        ),
        p2p(
            "lightpush v3: timestamp i64::MAX",
            protocol_id::LIGHTPUSH_V3,
            lightpush_v3(Some(TOPIC), Some(waku_message(i64::MAX, b"x"))),
            Status(lightpush::status::INVALID_MESSAGE),
        ),
        p2p(
            "lightpush v3: no content topic",
            protocol_id::LIGHTPUSH_V3,
            lightpush_v3(
                Some(TOPIC),
                Some(WakuMessage { payload: b"x".to_vec(), timestamp: Some(now), ..Default::default() }),
            ),
            Status(lightpush::status::INVALID_MESSAGE),
        ),
        p2p(
            "lightpush v2: not protobuf",
            protocol_id::LIGHTPUSH_V2,
            garbage.clone(),
            Status(lightpush::status::INTERNAL_ERROR),
        ),
        p2p(
            "lightpush v2: a PushRpc without a request",
            protocol_id::LIGHTPUSH_V2,
            framed(&PushRpc { request_id: "hostile".into(), request: None, response: None }.encode_to_vec()),
            Status(lightpush::status::INTERNAL_ERROR),
        ),
        p2p("filter: not protobuf", protocol_id::FILTER_SUBSCRIBE, garbage.clone(), Status(400)),
        p2p("filter: a 1 MiB length prefix", protocol_id::FILTER_SUBSCRIBE, announced(1024 * 1024, 100), Status(400)),
        p2p("filter: unknown request type", protocol_id::FILTER_SUBSCRIBE, filter_frame(7, None, &[]), Status(400)),
        p2p(
            "filter: subscribe without a pubsub topic",
            protocol_id::FILTER_SUBSCRIBE,
            filter_frame(subscribe, None, &[CONTENT]),
            Status(400),
        ),
        p2p(
            "filter: subscribe to no content topic",
            protocol_id::FILTER_SUBSCRIBE,
            filter_frame(subscribe, Some(TOPIC), &[]),
            Status(400),
        ),
        p2p(
            "filter: subscribe to a bad pubsub topic",
            protocol_id::FILTER_SUBSCRIBE,
            filter_frame(subscribe, Some("garbage"), &[CONTENT]),
            Status(400),
        ),
        p2p(
            "filter: unsubscribe with nothing subscribed",
            protocol_id::FILTER_SUBSCRIBE,
            filter_frame(unsubscribe, Some(TOPIC), &[CONTENT]),
            Status(404),
        ),
        p2p("peer exchange: not protobuf", protocol_id::PEER_EXCHANGE, garbage.clone(), Status(400)),
        p2p(
            "peer exchange: a 1 MiB length prefix",
            protocol_id::PEER_EXCHANGE,
            announced(1024 * 1024, 100),
            Status(400),
        ),
        p2p(
            "peer exchange: an rpc without a query",
            protocol_id::PEER_EXCHANGE,
            framed(&PeerExchangeRpc { query: None, response: None }.encode_to_vec()),
            Status(400),
        ),
        p2p(
            "peer exchange: zero peers asked",
            protocol_id::PEER_EXCHANGE,
            framed(
                &PeerExchangeRpc { query: Some(PeerExchangeQuery { num_peers: 0 }), response: None }.encode_to_vec(),
            ),
            Status(400),
        ),
        p2p(
            "peer exchange: u64::MAX peers asked",
            protocol_id::PEER_EXCHANGE,
            framed(
                &PeerExchangeRpc { query: Some(PeerExchangeQuery { num_peers: u64::MAX }), response: None }
                    .encode_to_vec(),
            ),
            Status(200),
        ),
        p2p("store: not protobuf", protocol_id::STORE_QUERY, garbage.clone(), Status(400)),
        p2p(
            "store: a hash of 5 bytes",
            protocol_id::STORE_QUERY,
            store_frame(StoreQueryRequest { message_hashes: vec![vec![1; 5]], ..Default::default() }),
            Status(400),
        ),
        p2p(
            "store: a cursor of 3 bytes",
            protocol_id::STORE_QUERY,
            store_frame(StoreQueryRequest { pagination_cursor: Some(vec![1; 3]), ..Default::default() }),
            Status(400),
        ),
        p2p(
            "store: 101 content topics",
            protocol_id::STORE_QUERY,
            store_frame(StoreQueryRequest { content_topics: many, ..Default::default() }),
            Status(400),
        ),
        p2p(
            "store: hashes with content topics",
            protocol_id::STORE_QUERY,
            store_frame(StoreQueryRequest {
                message_hashes: vec![vec![1; 32]],
                content_topics: vec![CONTENT.into()],
                ..Default::default()
            }),
            Status(400),
        ),
        p2p("store: a 1 MiB length prefix", protocol_id::STORE_QUERY, announced(1024 * 1024, 100), Closed),
        p2p("store: a frame cut short", protocol_id::STORE_QUERY, announced(100, 10), Closed),
        p2p("store: prefix not a varint", protocol_id::STORE_QUERY, not_varint, Closed),
        p2p("metadata: not protobuf", protocol_id::METADATA, garbage, Metadata),
        p2p("metadata: a 1 MiB length prefix", protocol_id::METADATA, announced(1024 * 1024, 100), Closed),
    ]
}

/// The status code and description of an answer on `protocol`.
fn status_of(protocol: &str, frame: &[u8]) -> (u32, String) {
    match protocol {
        protocol_id::LIGHTPUSH_V3 | protocol_id::LIGHTPUSH_V2 => {
            let version = if protocol == protocol_id::LIGHTPUSH_V3 { Version::V3 } else { Version::V2 };
            let reply = lightpush::parse_response(version, frame).expect("a lightpush response");
            (reply.status, reply.desc)
        }
        protocol_id::FILTER_SUBSCRIBE => {
            let r = FilterSubscribeResponse::decode(frame).expect("a filter response");
            (r.status_code, r.status_desc.unwrap_or_default())
        }
        protocol_id::PEER_EXCHANGE => {
            let r = PeerExchangeRpc::decode(frame).expect("a peer exchange rpc").response.expect("a response");
            assert!(r.peer_infos.len() <= 20, "at most 20 peers per answer, got {}", r.peer_infos.len());
            (r.status_code.unwrap_or(200), r.status_desc.unwrap_or_default())
        }
        protocol_id::STORE_QUERY => {
            let r = StoreQueryResponse::decode(frame).expect("a store response");
            (r.status_code.unwrap_or(0), r.status_desc.unwrap_or_default())
        }
        other => panic!("no status on {other}"),
    }
}

async fn run_p2p(tally: &mut Tally, node: &TestNode) {
    let mut p = peer(&node.addr()).await;
    for case in p2p_cases() {
        tally.case(case.name);
        let answer = exchange(&mut p, case.protocol, &case.bytes).await;
        match (case.want, answer) {
            (P2pWant::Closed, None) => {}
            (P2pWant::Closed, Some(frame)) => panic!("{}: answered {frame:?}, expected a closed stream", case.name),
            (want, None) => panic!("{}: the stream closed without an answer, expected {want:?}", case.name),
            (P2pWant::Metadata, Some(frame)) => {
                let r = WakuMetadataResponse::decode(frame.as_slice()).expect("a metadata response");
                assert_eq!(r.cluster_id, Some(1), "{}: {r:?}", case.name);
            }
            (P2pWant::Status(code), Some(frame)) => {
                let (status, desc) = status_of(case.protocol, &frame);
                assert_eq!(status, code, "{}: {desc}", case.name);
                assert!(code == 200 || !desc.is_empty(), "{}: the error says why", case.name);
            }
        }
    }
    // Bad requests never cost the peer its connection; a good one is still served.
    let ping = filter_frame(FilterSubscribeType::SubscriberPing as i32, None, &[]);
    let answer = exchange(&mut p, protocol_id::FILTER_SUBSCRIBE, &ping).await.expect("a ping answer");
    assert_eq!(status_of(protocol_id::FILTER_SUBSCRIBE, &answer).0, 404, "a ping without subscriptions");
    assert_eq!(p.closed.load(Ordering::SeqCst), 0, "the node dropped a peer for bad requests");

    // A peer of another cluster is disconnected (its metadata says so).
    tally.case("metadata: a peer of another cluster");
    let mut stranger = peer(&node.addr()).await;
    let request = WakuMetadataRequest { cluster_id: Some(99), shards: vec![0], packed_shards: vec![0] };
    let _ = exchange(&mut stranger, protocol_id::METADATA, &framed(&request.encode_to_vec())).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stranger.closed.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "a peer of cluster 99 stayed connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.closed.load(Ordering::SeqCst), 0, "only the stranger was disconnected");
}

// ---------------------------------------------------------------------------
// Relay (gossipsub).

/// A peer speaking Waku relay that publishes whatever bytes it likes on TOPIC.
async fn rogue_relay_peer(target: &str) -> (libp2p::Swarm<gossipsub::Behaviour>, IdentTopic) {
    let config = gossipsub::ConfigBuilder::default()
        .protocol_id(protocol_id::RELAY, gossipsub::Version::V1_1)
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m| gossipsub::MessageId::new(&heliograph_node::waku::message::relay_id(&m.data)))
        .heartbeat_interval(Duration::from_millis(200))
        .build()
        .expect("gossipsub config");
    let relay = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config).expect("behaviour");
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)
        .expect("transport")
        .with_behaviour(|_| relay)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let topic = IdentTopic::new(TOPIC);
    swarm.behaviour_mut().subscribe(&topic).expect("subscribe");
    swarm.dial(target.parse::<Multiaddr>().expect("addr")).expect("dial");
    (swarm, topic)
}

/// Polls `swarm` for `wait`.
async fn poll_for(swarm: &mut libp2p::Swarm<gossipsub::Behaviour>, wait: Duration) {
    let until = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(20), swarm.select_next_some()).await;
    }
}

/// Messages a peer relays that the node must drop without forwarding or
/// delivering them, each counted under its reason; the peer is not disconnected.
/// Each comes from a fresh peer: gossipsub scoring rightly stops listening to a
/// peer after a few invalid messages, and each case is to meet its own check.
async fn run_relay(tally: &mut Tally, node: &TestNode) {
    let now = now_ns();
    let encode = |m: WakuMessage| m.encode_to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("relay: bytes that are not a WakuMessage", b"\xff\xff\xffnot protobuf".to_vec(), "malformed"),
        ("relay: a message timestamped i64::MAX", encode(waku_message(i64::MAX, b"future")), "timestamp_out_of_window"),
        (
            "relay: a message timestamped an hour ago",
            encode(waku_message(now - HOUR_NS, b"old")),
            "timestamp_out_of_window",
        ),
        (
            "relay: a message without a content topic",
            encode(WakuMessage { payload: b"x".to_vec(), timestamp: Some(now), ..Default::default() }),
            "no_content_topic",
        ),
        (
            "relay: a message with meta of 65 bytes",
            encode(WakuMessage { meta: Some(vec![1; 65]), ..waku_message(now, b"meta") }),
            "meta_too_long",
        ),
    ];
    node.take(TOPIC).await;
    for (name, data, reason) in cases {
        tally.case(name);
        let (mut rogue, topic) = rogue_relay_peer(&node.addr()).await;
        let filter = format!("reason=\"{reason}\"");
        let before = node.metric("heliograph_relay_dropped_messages_total", &filter).await;
        // The publish waits for the node's subscription to reach the rogue.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match rogue.behaviour_mut().publish(topic.clone(), data.clone()) {
                Ok(_) => break,
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                Err(e) => panic!("{name}: rogue publish: {e}"),
            }
            assert!(tokio::time::Instant::now() < deadline, "{name}: the node never subscribed towards the rogue");
            poll_for(&mut rogue, Duration::from_millis(50)).await;
        }
        let counted = tokio::time::Instant::now() + Duration::from_secs(10);
        while node.metric("heliograph_relay_dropped_messages_total", &filter).await < before + 1.0 {
            assert!(tokio::time::Instant::now() < counted, "{name}: not dropped as {reason}:\n{}", node.log());
            poll_for(&mut rogue, Duration::from_millis(50)).await;
        }
        let rogue_id = rogue.local_peer_id().to_string();
        assert!(node.peer_ids().await.contains(&rogue_id), "{name}: the relaying peer stays connected");
    }
    assert!(node.take(TOPIC).await.is_empty(), "a dropped message reached the node's subscribers");
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_and_more_hostile_inputs_get_clear_errors_and_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let mut tally = Tally::default();
    let mut healthy = Healthy::new(&node).await;
    healthy.check(&node, "start").await;

    run_frames(&mut tally, waku_frame_cases(), || Client::waku(&node)).await;
    huge_ids(&mut tally, &node).await;
    healthy.check(&node, "waku_* bridge frames").await;

    run_frames(&mut tally, wc_frame_cases(), || async { Client::wc(&node, &common::wc_key()).await }).await;
    healthy.check(&node, "WalletConnect bridge frames").await;

    oversized_frame(&mut tally, &node).await;
    let acked_before_the_close = bad_frame_budget(&mut tally, &node).await;
    healthy.acked.extend(acked_before_the_close);
    healthy.check(&node, "bridge limits").await;

    upgrades(&mut tally, &node).await;
    healthy.check(&node, "bridge upgrades").await;

    run_rest(&mut tally, &node).await;
    healthy.check(&node, "REST").await;

    run_p2p(&mut tally, &node).await;
    healthy.check(&node, "libp2p protocols").await;

    run_relay(&mut tally, &node).await;
    healthy.check(&node, "relay").await;

    let count = tally.names.len();
    println!("hostile inputs and faults: {count} distinct cases, {} acknowledged messages kept", healthy.acked.len());
    assert!(count >= 60, "only {count} distinct hostile cases");
}

/// `--bridge-bad-frame-limit` reaches the bridge: with 3, the 4th bad frame in a
/// row closes the socket with 1008 naming 3; with 0 there is no limit. Bad frames
/// also count against `--bridge-rate-limit-per-ip`, across reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bad_frame_limit_is_a_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(&dir.path().join("three"), &["--bridge-bad-frame-limit", "3"]).await;
    let mut client = Client::waku(&node).await;
    for _ in 0..4 {
        client.send_text("{".into()).await;
        assert_eq!(client.frame().await["error"]["code"], -32700);
    }
    let (code, reason) = close_of(&mut client).await;
    assert_eq!((code, reason.contains("over 3 a minute")), (1008, true), "{reason}");
    let mut other = Client::waku(&node).await;
    assert!(other.call("waku_info", json!({})).await["result"]["peerId"].is_string(), "others are served");

    let off = TestNode::tcp(&dir.path().join("off"), &["--bridge-bad-frame-limit", "0"]).await;
    let mut client = Client::waku(&off).await;
    for _ in 0..50 {
        client.send_text("{".into()).await;
        assert_eq!(client.frame().await["error"]["code"], -32700);
    }
    assert!(client.call("waku_info", json!({})).await["result"]["peerId"].is_string(), "no limit with 0");
    assert_eq!(off.metric("heliograph_bridge_rejected_total", "reason=\"bad_frames\"").await, 0.0);

    // Bad frames count against the per-IP rate limit too, so reconnecting does not
    // reset what one IP may send.
    let limited = TestNode::tcp(&dir.path().join("per-ip"), &["--bridge-rate-limit-per-ip", "30"]).await;
    let mut client = Client::waku(&limited).await;
    for _ in 0..15 {
        client.send_text("{".into()).await;
        assert_eq!(client.frame().await["error"]["code"], -32700);
    }
    let _ = client.ws.close(None).await;
    let mut again = Client::waku(&limited).await;
    for _ in 0..15 {
        again.send_text("[]".into()).await;
        assert_eq!(again.frame().await["error"]["code"], -32600);
    }
    again.send_text("{".into()).await;
    let refused = again.frame().await;
    assert_eq!(refused["error"]["code"], -32029, "the 31st frame from the IP: {refused}");
    assert_eq!(again.call("waku_info", json!({})).await["error"]["code"], -32029, "requests share the budget");
}
