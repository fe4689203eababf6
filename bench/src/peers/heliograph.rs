//! Client adapter for the Heliograph bridge: `waku_subscribe`, `waku_publish`
//! and `waku_subscription` pushes, JSON-RPC 2.0 in WebSocket text frames.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use heliograph_node::config::Config;
use tokio_tungstenite::tungstenite::Message;

use super::ws::{self, Ws, WsSink};
use super::{Client, Delivery, HEADER, Writer};

/// A node for the bench: bridge on loopback without rate limits, store in `dir`, no REST.
pub fn node_config(dir: &Path) -> anyhow::Result<Config> {
    let mut config = Config { data_dir: dir.join("node"), ..Config::default() };
    config.rest.enabled = false;
    config.log = "warn".into();
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.bridge.addr = "127.0.0.1:0".parse()?;
    config.bridge.rate_limit_per_ip = 0;
    config.bridge.rate_limit_per_client = 0;
    // Room for the 10k idle connections and the fan-out runs' subscribers.
    config.bridge.max_connections = 20_000;
    // Every bench client connects from loopback.
    config.bridge.max_connections_per_ip = 20_000;
    Ok(config)
}

/// The content topic a bench topic maps to.
fn content_topic(topic: &str) -> String {
    format!("/bench/1/{topic}/proto")
}

/// The payload header of a `waku_subscription` push: only the first base64 characters are decoded.
fn delivery_of(frame: &str) -> Option<Delivery> {
    const KEY: &str = r#""payload":""#;
    let start = frame.find(KEY)? + KEY.len();
    // 24 base64 characters hold 18 bytes, enough for the header.
    let prefix = frame.get(start..start + HEADER.div_ceil(3) * 4)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(prefix).ok()?;
    Delivery::parse(&bytes)
}

/// A bridge connection.
pub struct BridgeClient {
    ws: Ws,
    next_id: u64,
}

impl Client for BridgeClient {
    type Writer = BridgeWriter;

    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(BridgeClient { ws: ws::connect(addr, "/", None).await?, next_id: 1 })
    }

    async fn subscribe(&mut self, topic: &str) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"waku_subscribe","params":{{"contentTopics":["{}"]}}}}"#,
            content_topic(topic)
        );
        self.ws.send(Message::text(request)).await?;
        while let Some(frame) = self.ws.next().await {
            let Message::Text(text) = frame? else { continue };
            let reply: serde_json::Value = serde_json::from_str(text.as_str())?;
            if reply["id"] == id {
                anyhow::ensure!(reply["result"].is_string(), "waku_subscribe failed: {text}");
                return Ok(());
            }
        }
        anyhow::bail!("the bridge closed the connection before answering waku_subscribe")
    }

    async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(delivery) = delivery_of(text.as_str()) {
                        return Ok(delivery);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the bridge closed the connection"),
            }
        }
    }

    fn into_writer(self) -> BridgeWriter {
        let (sink, stream) = self.ws.split();
        ws::drain(stream);
        BridgeWriter { sink, next_id: self.next_id }
    }
}

/// Sends `waku_publish` requests; the answers are drained unread.
pub struct BridgeWriter {
    sink: WsSink,
    next_id: u64,
}

impl Writer for BridgeWriter {
    async fn publish(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"waku_publish","params":{{"message":{{"payload":"{}","contentTopic":"{}"}}}}}}"#,
            base64::engine::general_purpose::STANDARD.encode(payload),
            content_topic(topic)
        );
        Ok(self.sink.feed(Message::text(request)).await?)
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        Ok(self.sink.flush().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Clock;

    #[test]
    fn reads_the_header_from_a_push() {
        let payload = Clock::start().payload(7, 64);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
        let frame = format!(
            r#"{{"jsonrpc":"2.0","method":"waku_subscription","params":{{"subscription":"ab","result":{{"hash":"0x00","message":{{"payload":"{b64}","contentTopic":"/bench/1/bench/proto"}}}}}}}}"#
        );
        assert_eq!(delivery_of(&frame), Delivery::parse(&payload));
        assert_eq!(delivery_of(r#"{"jsonrpc":"2.0","id":1,"result":"ab"}"#), None);
    }
}
