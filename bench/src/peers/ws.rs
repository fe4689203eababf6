//! WebSocket plumbing the adapters share: connecting with Nagle off and an
//! optional subprotocol, and a background task that drains a publisher's socket.

use std::net::SocketAddr;

use futures::StreamExt;
use futures::stream::{SplitSink, SplitStream};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The writing half of a client WebSocket.
pub type WsSink = SplitSink<Ws, Message>;

/// Connects to `ws://{addr}{path}`, asking for `subprotocol` if given, with TCP_NODELAY.
pub async fn connect(addr: SocketAddr, path: &str, subprotocol: Option<&str>) -> anyhow::Result<Ws> {
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    if let Some(protocol) = subprotocol {
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol)?);
    }
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    Ok(ws)
}

/// Reads and drops everything the server sends on `stream` until it closes.
pub fn drain(mut stream: SplitStream<Ws>) {
    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
}

/// Most bytes of a byte-stream protocol (NATS, MQTT) coalesced into one binary frame.
const MAX_BATCH_FRAME: usize = 64 * 1024;

/// A byte-stream protocol carried in WebSocket frames: what arrives is appended to `buf`.
pub struct WsBytes {
    /// The socket.
    pub ws: Ws,
    /// Received bytes not parsed yet.
    pub buf: bytes::BytesMut,
}

impl WsBytes {
    /// Wraps a connected socket.
    pub fn new(ws: Ws) -> Self {
        WsBytes { ws, buf: bytes::BytesMut::with_capacity(16 * 1024) }
    }

    /// Waits for the next data frame and appends it to `buf`.
    pub async fn fill(&mut self) -> anyhow::Result<()> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(data))) => self.buf.extend_from_slice(&data),
                Some(Ok(Message::Text(text))) => self.buf.extend_from_slice(text.as_bytes()),
                Some(Ok(Message::Close(_))) | None => anyhow::bail!("the server closed the WebSocket"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
            }
            return Ok(());
        }
    }

    /// Sends `bytes` in one binary frame and flushes.
    pub async fn send(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        use futures::SinkExt;
        Ok(self.ws.send(Message::binary(bytes)).await?)
    }

    /// Turns into a batching writer, draining what the server sends.
    pub fn into_batch(self) -> WsBatch {
        let (sink, stream) = self.ws.split();
        drain(stream);
        WsBatch { sink, buf: Vec::with_capacity(MAX_BATCH_FRAME) }
    }
}

/// Coalesces protocol bytes into binary frames of up to 64 KiB.
pub struct WsBatch {
    sink: WsSink,
    /// Bytes not yet framed.
    pub buf: Vec<u8>,
}

impl WsBatch {
    /// Frames the buffer if it is full; call after appending to `buf`.
    pub async fn spill(&mut self) -> anyhow::Result<()> {
        use futures::SinkExt;
        if self.buf.len() >= MAX_BATCH_FRAME {
            let frame = std::mem::replace(&mut self.buf, Vec::with_capacity(MAX_BATCH_FRAME));
            self.sink.feed(Message::binary(frame)).await?;
        }
        Ok(())
    }

    /// Frames what is buffered and flushes the socket.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        use futures::SinkExt;
        if !self.buf.is_empty() {
            let frame = std::mem::replace(&mut self.buf, Vec::with_capacity(MAX_BATCH_FRAME));
            self.sink.feed(Message::binary(frame)).await?;
        }
        Ok(self.sink.flush().await?)
    }
}
