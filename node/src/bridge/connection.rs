//! One bridge connection: [`Session`] turns incoming JSON-RPC frames into
//! responses (no socket inside; pushes go to the hub's bounded queue), and
//! [`pump`] moves frames between a WebSocket (any `Sink` + `Stream` of
//! messages) and the session, sends pings, and closes slow consumers.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::hub::{ConnHandle, Hub, SEND_QUEUE};
use super::jsonrpc::{self, Incoming, RpcError, code};
use super::walletconnect::auth::ClientId;
use super::walletconnect::mailbox::ConnId;
use super::{waku_methods, walletconnect};

/// Close codes the bridge uses.
pub mod close {
    /// The node is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: the consumer is too slow.
    pub const POLICY: u16 = 1008;
    /// A frame over the size cap.
    pub const TOO_BIG: u16 = 1009;
    /// Rate limited: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Rate-limited requests in a row after which the socket is closed with 1013.
const MAX_LIMITED_IN_A_ROW: u32 = 20;

/// What the pump should do after a frame.
#[derive(Debug, Default, PartialEq)]
pub struct Reply {
    /// A response to send, if any.
    pub frame: Option<String>,
    /// Close the socket with this code and reason.
    pub close: Option<(u16, String)>,
}

/// The JSON-RPC state of one connection.
pub struct Session {
    /// The shared bridge state.
    pub hub: Arc<Hub>,
    /// This connection's id in the hub.
    pub conn: ConnId,
    /// The verified WalletConnect client, if the socket came with an auth JWT.
    pub client: Option<ClientId>,
    /// The access token's subject, if the socket came with a token (for rate limits).
    pub subject: Option<String>,
    /// Peer IP, for rate limits.
    pub ip: IpAddr,
    /// waku_* subscriptions: id → content topics.
    pub waku_subs: HashMap<String, Vec<String>>,
    /// WalletConnect topics subscribed on this connection.
    pub wc_topics: HashSet<String>,
    limited_in_a_row: u32,
}

impl Session {
    /// Registers a connection with the hub. Returns the session, the queue of
    /// frames to send, the count of queued bytes, and the slow-consumer signal.
    pub fn open(
        hub: Arc<Hub>,
        client: Option<ClientId>,
        subject: Option<String>,
        ip: IpAddr,
    ) -> (Session, mpsc::Receiver<String>, Arc<AtomicUsize>, CancellationToken) {
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let (handle, pending, kill) = ConnHandle::new(tx, hub.config.max_pending_bytes);
        let conn = hub.register(handle);
        let session = Session {
            hub,
            conn,
            client,
            subject,
            ip,
            waku_subs: HashMap::new(),
            wc_topics: HashSet::new(),
            limited_in_a_row: 0,
        };
        (session, rx, pending, kill)
    }

    /// Subscriptions this connection holds.
    pub fn subscription_count(&self) -> usize {
        self.waku_subs.values().map(Vec::len).sum::<usize>() + self.wc_topics.len()
    }

    /// Fails if `more` subscriptions would exceed the per-connection cap.
    pub fn check_room(&self, more: usize) -> Result<(), RpcError> {
        let max = self.hub.config.max_subscriptions;
        if self.subscription_count() + more > max {
            return Err(RpcError::new(
                code::LIMIT_EXCEEDED,
                format!("subscription limit reached: at most {max} per connection; unsubscribe first"),
            ));
        }
        Ok(())
    }

    /// The WalletConnect client id, or the error for a connection without one.
    pub fn client_id(&self) -> Result<String, RpcError> {
        self.client.as_ref().map(|c| c.0.clone()).ok_or_else(|| {
            RpcError::new(
                code::UNAUTHORIZED,
                "irn_* methods need a WalletConnect relay auth JWT: connect with ?auth=<JWT>",
            )
        })
    }

    /// Handles one text frame.
    pub async fn handle(&mut self, text: &str) -> Reply {
        match jsonrpc::parse(text) {
            Incoming::Invalid { id, error } => Reply { frame: Some(jsonrpc::error(&id, &error)), close: None },
            Incoming::Response { id, ok } => {
                if let (Some(push_id), Some(client)) = (id.as_u64(), &self.client)
                    && ok
                {
                    self.hub.wc_ack(push_id, &client.0);
                }
                Reply::default()
            }
            Incoming::Request { id, method, params } => {
                self.hub.metrics.requests.inc();
                let limit_key = self.client.as_ref().map(|c| c.0.as_str()).or(self.subject.as_deref());
                if !self.hub.allow_request(self.ip, limit_key) {
                    self.limited_in_a_row += 1;
                    if self.limited_in_a_row >= MAX_LIMITED_IN_A_ROW {
                        return Reply {
                            frame: None,
                            close: Some((close::TRY_AGAIN_LATER, "rate limit exceeded; reconnect later".into())),
                        };
                    }
                    let error = RpcError::new(code::RATE_LIMITED, "rate limit exceeded; slow down and retry later");
                    return Reply { frame: id.map(|id| jsonrpc::error(&id, &error)), close: None };
                }
                self.limited_in_a_row = 0;
                let outcome = self.dispatch(&method, params).await;
                let Some(id) = id else { return Reply::default() };
                let frame = match outcome {
                    Ok(result) => jsonrpc::result(&id, result),
                    Err(error) => {
                        debug!(method = %method, code = error.code, "bridge request failed");
                        jsonrpc::error(&id, &error)
                    }
                };
                Reply { frame: Some(frame), close: None }
            }
        }
    }

    async fn dispatch(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        if method.starts_with("waku_") {
            waku_methods::call(self, method, params).await
        } else {
            walletconnect::methods::call(self, method, params).await
        }
    }

    /// Unregisters the connection and its subscriptions.
    pub fn close(self) {
        let content: Vec<String> = self.waku_subs.into_values().flatten().collect();
        let wc: Vec<String> = self.wc_topics.into_iter().collect();
        self.hub.unregister(self.conn, &content, &wc);
    }
}

/// Sends one message within `timeout`; false if the socket failed or was too slow.
async fn write<S, E>(socket: &mut S, timeout: std::time::Duration, message: Message) -> bool
where
    S: Sink<Message, Error = E> + Unpin,
{
    matches!(tokio::time::timeout(timeout, socket.send(message)).await, Ok(Ok(())))
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
    let timeout = config.write_timeout;
    let closing: Option<(u16, String)> = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Some((close::GOING_AWAY, "node shutting down".into())),
            () = kill.cancelled() => {
                break Some((close::POLICY, "slow consumer: too many unsent messages".into()));
            }
            frame = queue.recv() => {
                let Some(frame) = frame else { break None };
                pending.fetch_sub(frame.len(), Ordering::Relaxed);
                if !write(&mut socket, timeout, Message::Text(frame.into())).await {
                    session.hub.metrics.slow_consumer_disconnects.inc();
                    break Some((close::POLICY, "slow consumer: write timed out".into()));
                }
            }
            _ = ping.tick() => {
                if !write(&mut socket, timeout, Message::Ping(Default::default())).await {
                    break None;
                }
            }
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = session.handle(text.as_str()).await;
                    if let Some(frame) = reply.frame
                        && !write(&mut socket, timeout, Message::Text(frame.into())).await
                    {
                        break None;
                    }
                    if reply.close.is_some() {
                        break reply.close;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let error = RpcError::new(code::INVALID_REQUEST, "binary frames are not supported: send JSON text frames");
                    if !write(&mut socket, timeout, Message::Text(jsonrpc::error(&Value::Null, &error).into())).await {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let text = e.to_string();
                    debug!(error = %text, "bridge socket read failed");
                    if text.contains("too long") || text.contains("Space limit") || text.contains("size") {
                        break Some((close::TOO_BIG, format!("frame larger than {} bytes", config.max_frame_size)));
                    }
                    break None;
                }
            }
        }
    };
    if let Some((code, reason)) = closing {
        session.hub.metrics.reject(match code {
            close::POLICY => "slow_consumer",
            close::TOO_BIG => "frame_too_large",
            close::TRY_AGAIN_LATER => "rate_limited",
            _ => "shutdown",
        });
        let _ = tokio::time::timeout(
            config.write_timeout.min(std::time::Duration::from_secs(1)),
            socket.send(close_frame(code, &reason)),
        )
        .await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), socket.close()).await;
    session.close();
}
