//! The raw baseline: a bare tokio WebSocket broadcast server (every data
//! frame one connection sends goes, as is, to every other connection, with
//! queued frames written in one flush), and its client adapter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::ws::{self, Ws, WsSink};
use super::{Client, Delivery, Writer};

/// Most queued frames written with one flush.
const WRITE_BATCH: usize = 64;

/// The same socket buffers as Heliograph's bridge (4 KiB read, 16 KiB write), so the baseline
/// is not charged for tungstenite's default 128 KiB read buffer per connection.
fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(16 * 1024)
}

/// Serves WebSocket connections on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) {
    let (tx, _) = broadcast::channel::<(u64, Message)>(65_536);
    let ids = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
        };
        let _ = stream.set_nodelay(true);
        let (tx, me) = (tx.clone(), ids.fetch_add(1, Ordering::Relaxed));
        // Subscribed before the handshake, so a client gets everything published after its connect returns.
        let mut rx = tx.subscribe();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config())).await else { return };
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    frame = stream.next() => match frame {
                        Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => { let _ = tx.send((me, frame)); }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    out = rx.recv() => {
                        let mut next = out;
                        let mut fed = 0;
                        loop {
                            match next {
                                Ok((from, frame)) if from != me => {
                                    if sink.feed(frame).await.is_err() { return }
                                    fed += 1;
                                }
                                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                                Err(broadcast::error::RecvError::Closed) => return,
                            }
                            if fed >= WRITE_BATCH { break }
                            match rx.try_recv() {
                                Ok(frame) => next = Ok(frame),
                                Err(_) => break,
                            }
                        }
                        if fed > 0 && sink.flush().await.is_err() { return }
                    },
                }
            }
        });
    }
}

/// A connection to the bare server; it has no topics, so subscribing is a no-op.
pub struct BareClient(Ws);

impl Client for BareClient {
    type Writer = BareWriter;

    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(BareClient(ws::connect(addr, "/", None).await?))
    }

    async fn subscribe(&mut self, _topic: &str) -> anyhow::Result<()> {
        Ok(())
    }

    async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            match self.0.next().await {
                Some(Ok(Message::Binary(payload))) => {
                    return Delivery::parse(&payload).ok_or_else(|| anyhow::anyhow!("short payload"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the bare server closed the connection"),
            }
        }
    }

    fn into_writer(self) -> BareWriter {
        let (sink, stream) = self.0.split();
        ws::drain(stream);
        BareWriter(sink)
    }
}

/// Publishes raw binary frames.
pub struct BareWriter(WsSink);

impl Writer for BareWriter {
    async fn publish(&mut self, _topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        Ok(self.0.feed(Message::binary(payload.to_vec())).await?)
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        Ok(self.0.flush().await?)
    }
}
