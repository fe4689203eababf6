//! A JSON-RPC client of the bridge over a real WebSocket (tokio-tungstenite),
//! shared by the bridge's test files.

use std::collections::VecDeque;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestNode;

/// A JSON-RPC client over a real WebSocket that keeps every text frame's size.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub pushes: VecDeque<Value>,
    next_id: u64,
    /// The largest text frame received so far, in bytes.
    pub largest_frame: usize,
}

impl Client {
    pub async fn waku(node: &TestNode) -> Client {
        Self::open(&format!("ws://{}/", node.bridge.as_deref().expect("bridge on"))).await
    }

    pub async fn wc(node: &TestNode, key: &SigningKey) -> Client {
        let bridge = node.bridge.as_deref().expect("bridge on");
        Self::open(&format!("ws://{bridge}/?auth={}", super::wc_jwt(key, bridge))).await
    }

    pub async fn open(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket upgrade");
        Client { ws, pushes: VecDeque::new(), next_id: 1, largest_frame: 0 }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// Sends a text frame as it is (malformed JSON included).
    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next JSON text frame; panics on a close frame, naming its code.
    pub async fn frame(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("a frame within 20 s")
                .expect("socket open")
                .expect("frame");
            match message {
                Message::Text(text) => {
                    self.largest_frame = self.largest_frame.max(text.len());
                    return serde_json::from_str(text.as_str()).expect("JSON frame");
                }
                Message::Close(frame) => panic!("the node closed the socket: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Sends a request and returns its response; pushes on the way are kept.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        loop {
            let frame = self.frame().await;
            if frame["id"] == json!(id) && frame.get("method").is_none() {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    pub async fn push(&mut self) -> Value {
        match self.pushes.pop_front() {
            Some(p) => p,
            None => self.frame().await,
        }
    }

    /// Acks an `irn_subscription` push as WalletConnect clients do.
    pub async fn ack(&mut self, push: &Value) {
        self.send(json!({"id": push["id"], "jsonrpc": "2.0", "result": true})).await;
    }

    /// Whether a push arrives within `wait`.
    pub async fn quiet_for(&mut self, wait: Duration) -> bool {
        if !self.pushes.is_empty() {
            return false;
        }
        tokio::time::timeout(wait, self.frame()).await.is_err()
    }
}
