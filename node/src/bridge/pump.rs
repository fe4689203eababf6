//! The connection pump: moves frames between a WebSocket (any `Sink` +
//! `Stream` of messages) and its [`Session`], through the [`router`](super::router).
//! It writes responses and the hub's queued pushes (batched, within the write
//! timeout), pings, keeps up to [`MAX_PUBLISHES_IN_FLIGHT`] publishes in flight
//! with their answers in request order, checks the socket's token every second
//! (`bridge_tokenExpiring` shortly before it expires; close 1008 once it expired
//! or was revoked), and closes the socket when the consumer is too slow, the
//! node shuts down or a limit is crossed (then after writing the answers still due).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::router::{self, Closing, close};
use super::session::{GrantState, Session};

/// How often a socket's token is checked: a revocation closes it within this.
const GRANT_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The `bridge_tokenExpiring` notification.
fn expiring(expires_at: u64) -> String {
    serde_json::json!({"jsonrpc": "2.0", "method": "bridge_tokenExpiring", "params": {"expiresAt": expires_at}})
        .to_string()
}

/// Most queued frames written with one flush.
const WRITE_BATCH: usize = 64;
/// Publishes one connection may have queued but not yet answered; beyond this
/// the pump stops reading the socket until one is answered.
pub const MAX_PUBLISHES_IN_FLIGHT: usize = 64;

/// Feeds `frames` and flushes once, within `timeout`; false if the socket failed or was too slow.
async fn write_batch<S, E>(socket: &mut S, timeout: std::time::Duration, frames: Vec<String>) -> bool
where
    S: Sink<Message, Error = E> + Unpin,
{
    let send = async {
        for frame in frames {
            socket.feed(Message::Text(frame.into())).await?;
        }
        socket.flush().await
    };
    within(timeout, send).await
}

/// Sends one message within `timeout`; false if the socket failed or was too slow.
async fn write<S, E>(socket: &mut S, timeout: std::time::Duration, message: Message) -> bool
where
    S: Sink<Message, Error = E> + Unpin,
{
    within(timeout, socket.send(message)).await
}

/// Runs a socket write to completion within `timeout`; false if it failed or took longer.
/// The timer is only armed when the write cannot finish at once (the socket is full):
/// registering one per write costs more than most writes.
async fn within<E>(timeout: std::time::Duration, send: impl Future<Output = Result<(), E>>) -> bool {
    let mut send = std::pin::pin!(send);
    if let std::task::Poll::Ready(done) = futures::poll!(send.as_mut()) {
        return done.is_ok();
    }
    matches!(tokio::time::timeout(timeout, send).await, Ok(Ok(())))
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(reason.to_owned()) }))
}

/// Runs one connection until it closes: reads frames into the session, writes
/// responses and queued pushes, pings every `ping_interval`, and closes the
/// socket when the consumer is too slow, the node shuts down or a limit is crossed.
pub async fn pump<S, E>(
    mut socket: S,
    mut session: Session,
    mut queue: mpsc::Receiver<String>,
    pending: Arc<AtomicUsize>,
    kill: CancellationToken,
    shutdown: CancellationToken,
) where
    S: Sink<Message, Error = E> + Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
{
    let config = session.hub.config.clone();
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    // The token was verified on the upgrade: the first check is one period later.
    let mut grant_check = tokio::time::interval_at(tokio::time::Instant::now() + GRANT_CHECK, GRANT_CHECK);
    grant_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = config.write_timeout;
    // Created once: a fresh `cancelled()` future per loop turn would register and
    // unregister a waiter on the shared shutdown token for every frame.
    let (shutting_down, killed) = (shutdown.cancelled(), kill.cancelled());
    tokio::pin!(shutting_down, killed);
    // Answers to queued publishes, in the order the publishes came.
    let mut later: FuturesOrdered<BoxFuture<'static, Option<String>>> = FuturesOrdered::new();
    let closing: Option<Closing> = loop {
        tokio::select! {
            biased;
            () = &mut shutting_down => break Some(Closing::new(close::GOING_AWAY, "shutdown", "node shutting down")),
            () = &mut killed => {
                break Some(Closing::new(close::POLICY, "slow_consumer", "slow consumer: too many unsent messages"));
            }
            frame = queue.recv() => {
                let Some(frame) = frame else { break None };
                // Batch what is queued into one flush (one syscall for many small frames).
                let mut batch = vec![frame];
                while batch.len() < WRITE_BATCH {
                    match queue.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                pending.fetch_sub(batch.iter().map(String::len).sum(), Ordering::Relaxed);
                if !write_batch(&mut socket, timeout, batch).await {
                    session.hub.metrics.slow_consumer_disconnects.inc();
                    break Some(Closing::new(close::POLICY, "slow_consumer", "slow consumer: write timed out"));
                }
                // Written: room for the next piece of a backlog.
                session.stream_backlog();
            }
            _ = grant_check.tick(), if session.grant.is_some() => {
                match session.check_grant(crate::waku::time::now_secs()) {
                    GrantState::Live => {}
                    GrantState::Expiring(expires_at) => {
                        if !write(&mut socket, timeout, Message::Text(expiring(expires_at).into())).await {
                            break None;
                        }
                    }
                    GrantState::Expired => {
                        let reason = "bridge token expired: reconnect or bridge_authenticate with a fresh one";
                        break Some(Closing::new(close::POLICY, "token_expired", reason));
                    }
                    GrantState::Revoked => {
                        break Some(Closing::new(close::POLICY, "token_revoked", "bridge token revoked"));
                    }
                }
            }
            _ = ping.tick() => {
                if !write(&mut socket, timeout, Message::Ping(Default::default())).await {
                    break None;
                }
            }
            Some(answer) = later.next(), if !later.is_empty() => {
                if let Some(frame) = answer
                    && !write(&mut socket, timeout, Message::Text(frame.into())).await
                {
                    break None;
                }
            }
            incoming = socket.next(), if later.len() < MAX_PUBLISHES_IN_FLIGHT => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => router::handle(&mut session, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => router::binary(&mut session),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        let text = e.to_string();
                        debug!(error = %text, "bridge socket read failed");
                        if text.contains("too long") || text.contains("Space limit") || text.contains("size") {
                            let reason = format!("frame larger than {} bytes", config.max_frame_size);
                            break Some(Closing::new(close::TOO_BIG, "frame_too_large", reason));
                        }
                        break None;
                    }
                };
                if let Some(frame) = reply.frame {
                    if later.is_empty() {
                        if !write(&mut socket, timeout, Message::Text(frame.into())).await {
                            break None;
                        }
                    } else {
                        // Behind answers still to come: wait in line, so answers keep request order.
                        later.push_back(futures::future::ready(Some(frame)).boxed());
                    }
                }
                later.extend(reply.later);
                if let Some(closing) = reply.close {
                    // Answers still to come (this frame's among them) go out first, so the
                    // client sees every answer and then why the socket closes.
                    let drain = async {
                        while let Some(answer) = later.next().await {
                            if let Some(frame) = answer
                                && !write(&mut socket, timeout, Message::Text(frame.into())).await
                            {
                                return;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(timeout, drain).await;
                    break Some(closing);
                }
            }
        }
    };
    if let Some(closing) = closing {
        session.hub.metrics.reject(closing.label);
        let _ = tokio::time::timeout(
            config.write_timeout.min(std::time::Duration::from_secs(1)),
            socket.send(close_frame(closing.code, &closing.reason)),
        )
        .await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), socket.close()).await;
    session.close();
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use base64::Engine as _;
    use futures::channel::mpsc as chan;
    use serde_json::{Value, json};

    use super::*;
    use crate::bridge::hub::Hub;
    use crate::bridge::jsonrpc::code;
    use crate::bridge::metrics::BridgeMetrics;
    use crate::bridge::tokens::Tokens;
    use crate::config::Config;

    /// A WebSocket stand-in made of two channels: what the test sends, and what the pump writes.
    struct ChannelSocket {
        incoming: chan::UnboundedReceiver<Result<Message, String>>,
        outgoing: chan::UnboundedSender<Message>,
    }

    impl Stream for ChannelSocket {
        type Item = Result<Message, String>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Pin::new(&mut self.incoming).poll_next(cx)
        }
    }

    impl Sink<Message> for ChannelSocket {
        type Error = String;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), String> {
            self.outgoing.unbounded_send(item).map_err(|e| e.to_string())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn next_json(rx: &mut chan::UnboundedReceiver<Message>) -> Value {
        loop {
            let message = tokio::time::timeout(std::time::Duration::from_secs(5), rx.next())
                .await
                .expect("a frame in time")
                .expect("pump alive");
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
        }
    }

    #[tokio::test]
    async fn the_pump_serves_json_rpc_over_any_sink_and_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
        let shutdown = CancellationToken::new();
        let mut registry = prometheus_client::registry::Registry::default();
        let transport = Arc::new(crate::p2p::transport::build);
        let metrics = crate::metrics::NodeMetrics::default();
        let (network, _task) = crate::p2p::spawn(&config, transport, &mut registry, metrics, None, shutdown.clone())
            .await
            .expect("network");
        let tokens = Arc::new(Tokens::new(&[]).expect("tokens"));
        let publisher = crate::publish::Publisher::new(network.clone(), None);
        let hub = Hub::new(&config, network, publisher, None, BridgeMetrics::default(), tokens, None);

        let _fanout = crate::bridge::fanout::spawn(hub.clone(), shutdown.clone());
        let (to_pump, incoming) = chan::unbounded();
        let (outgoing, mut from_pump) = chan::unbounded();
        let (session, queue, pending, kill) = Session::open(hub.clone(), None, None, "127.0.0.1".parse().expect("ip"));
        let pump =
            tokio::spawn(pump(ChannelSocket { incoming, outgoing }, session, queue, pending, kill, shutdown.clone()));

        let send = |v: Value| to_pump.unbounded_send(Ok(Message::Text(v.to_string().into()))).expect("send");
        send(json!({"jsonrpc":"2.0","id":"s","method":"waku_subscribe","params":{"contentTopics":["/a/1/b/proto"]}}));
        let reply = next_json(&mut from_pump).await;
        assert_eq!(reply["id"], "s");
        let sub = reply["result"].as_str().expect("id").to_owned();
        send(
            json!({"jsonrpc":"2.0","id":7,"method":"waku_publish","params":{"message":{"payload":"AQI=","contentTopic":"/a/1/b/proto"}}}),
        );
        let mut got_reply = false;
        let mut got_push = false;
        while !(got_reply && got_push) {
            let frame = next_json(&mut from_pump).await;
            if frame["id"] == 7 {
                assert_eq!(frame["result"]["relayPeers"], 0);
                got_reply = true;
            } else {
                assert_eq!(frame["params"]["subscription"], sub.as_str());
                assert_eq!(frame["params"]["result"]["message"]["payload"], "AQI=");
                got_push = true;
            }
        }
        send(json!({"jsonrpc":"2.0","id":8,"method":"irn_subscribe","params":{"topic":"00"}}));
        assert_eq!(next_json(&mut from_pump).await["error"]["code"], code::UNAUTHORIZED);

        // Publishes sent back to back, more than fit in flight, with a bad one and a
        // notification among them: every request is answered, in order, and the
        // messages are relayed in the order they were sent.
        let count = 3 * MAX_PUBLISHES_IN_FLIGHT as u64;
        for n in 0..count {
            let payload = base64::engine::general_purpose::STANDARD.encode(n.to_be_bytes());
            let topic = if n == 5 { "not a content topic" } else { "/a/1/b/proto" };
            let mut request = json!({"jsonrpc":"2.0","method":"waku_publish",
                "params":{"message":{"payload":payload,"contentTopic":topic}}});
            if n != 7 {
                request["id"] = json!(100 + n);
            }
            send(request);
        }
        let (mut answers, mut pushed) = (Vec::new(), Vec::new());
        while answers.len() < count as usize - 1 || pushed.len() < count as usize - 1 {
            let frame = next_json(&mut from_pump).await;
            match frame["id"].as_u64() {
                Some(id) => answers.push((id, frame["error"]["code"].as_i64())),
                None => {
                    let payload = frame["params"]["result"]["message"]["payload"].as_str().expect("payload");
                    let bytes = base64::engine::general_purpose::STANDARD.decode(payload).expect("base64");
                    pushed.push(u64::from_be_bytes(bytes.try_into().expect("8 bytes")));
                }
            }
        }
        let expected_ids: Vec<u64> = (0..count).filter(|n| *n != 7).map(|n| 100 + n).collect();
        assert_eq!(answers.iter().map(|(id, _)| *id).collect::<Vec<_>>(), expected_ids, "answered in order");
        assert!(answers.iter().all(|(id, error)| error.is_some() == (*id == 105)), "only the bad one fails");
        let expected_pushes: Vec<u64> = (0..count).filter(|n| *n != 5).collect();
        assert_eq!(pushed, expected_pushes, "relayed in the order sent");

        shutdown.cancel();
        pump.await.expect("pump ends");
        let close = from_pump.next().await;
        assert!(matches!(close, Some(Message::Close(Some(ref f))) if f.code == close::GOING_AWAY), "{close:?}");
        assert_eq!(hub.metrics.connections.get(), 0, "the connection unregistered");
    }
}
