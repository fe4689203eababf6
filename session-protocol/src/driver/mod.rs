//! A tokio driver (cargo feature `driver`) that connects an [`Endpoint`] to a
//! Heliograph node's WebSocket bridge, speaking the WalletConnect v2 relay
//! protocol the way the official client does.
//!
//! One task owns the endpoint and the socket and runs one pump loop: it takes
//! one input (a relay frame, an application command, a timer), then drains the
//! endpoint's outputs in the documented order (topic changes, transmits,
//! events), arms the next timer and saves the snapshot when the state changed.
//!
//! - Connection: `ws://host:port/?auth=<JWT>&projectId=<id>&ua=<ua>`, a fresh
//!   EdDSA JWT from the persistent [`ClientKey`] on every (re)connect.
//! - Reconnect with the crate's [`Backoff`] (exponential, capped, jittered); on
//!   every (re)connect all topics are subscribed again with `irn_batchSubscribe`
//!   and publishes the relay had not acknowledged are sent again.
//! - Pushes (`irn_subscription`) are acked `{"id":<same>,"result":true}` and fed
//!   to [`Endpoint::handle_incoming`].
//! - Backpressure: at most [`DriverConfig::max_in_flight`] unacknowledged
//!   publishes; the rest wait in the endpoint's bounded queues (so the
//!   application sees `QueueFull`). Events go to the application through a
//!   bounded channel; while it is full, they wait in the endpoint's bounded,
//!   fair event queues.
//! - Shutdown through a [`CancellationToken`]: a last snapshot, then a close frame.

pub mod auth;
pub mod relay;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use futures::{SinkExt, StreamExt};
use rand_core::OsRng;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use auth::{AuthError, ClientKey};

use crate::backoff::Backoff;
use crate::endpoint::SnapshotError;
use crate::{Config, Endpoint, Event, Now, SessionStore, StoreError, Topic, TopicChange, Transmit};
use heliograph_wc_wire::Method;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Command = Box<dyn FnOnce(&mut Endpoint, Now) + Send>;

/// How the driver talks to the relay.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Relay URL exactly as configured, e.g. `ws://127.0.0.1:8090` (also the JWT `aud`).
    pub relay_url: String,
    /// WalletConnect project id sent as `projectId`.
    pub project_id: String,
    /// User agent sent as `ua`.
    pub user_agent: String,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Longest a connection attempt (TCP + WebSocket handshake) may take.
    pub connect_timeout: Duration,
    /// Longest the relay may take to answer a request before the connection is
    /// considered stalled and reopened.
    pub rpc_timeout: Duration,
    /// A silent connection is pinged after half of this and reopened after all of it.
    pub idle_timeout: Duration,
    /// Most publishes sent and not yet acknowledged by the relay.
    pub max_in_flight: usize,
    /// Capacity of the event channel to the application.
    pub event_capacity: usize,
    /// Capacity of the command channel from the application.
    pub command_capacity: usize,
    /// Incoming traffic and timers save the snapshot at most this often (commands
    /// and new or ended sessions save it at once).
    pub snapshot_interval: Duration,
}

impl DriverConfig {
    /// Defaults for a relay at `relay_url`.
    pub fn new(relay_url: impl Into<String>) -> Self {
        DriverConfig {
            relay_url: relay_url.into(),
            project_id: "heliograph".into(),
            user_agent: format!("wc-2/rust-heliograph-{}/driver", env!("CARGO_PKG_VERSION")),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            max_in_flight: 256,
            event_capacity: 64,
            command_capacity: 64,
            snapshot_interval: Duration::from_millis(250),
        }
    }
}

/// What the driver tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverEvent {
    /// An endpoint event (proposal, connected session, request, response, ...).
    Endpoint(Event),
    /// The relay connection is open and every topic has been subscribed again.
    RelayConnected,
    /// The relay connection failed or ended; the next attempt is in `retry_in`.
    RelayDisconnected {
        /// What happened.
        reason: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The relay refused a publish for good (after retries); the message is lost.
    PublishFailed {
        /// Topic of the message.
        topic: Topic,
        /// Its tag.
        tag: u32,
        /// The relay's error.
        error: String,
    },
}

/// Why the driver (or a call into it) failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The driver task has stopped (shut down or failed), so the call cannot run.
    #[error("the session driver has stopped")]
    Stopped,
    /// Saving or loading the session snapshot failed.
    #[error("session store: {0}")]
    Store(#[from] StoreError),
    /// The stored snapshot could not be restored.
    #[error("restoring the stored sessions: {0}")]
    Restore(#[from] SnapshotError),
    /// The client key could not be loaded or created.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The relay URL is not a `ws://` or `wss://` URL.
    #[error("relay URL `{0}` is not a ws:// or wss:// URL")]
    BadUrl(String),
    /// The driver task panicked.
    #[error("the session driver task panicked")]
    Panicked,
}

/// Why one relay connection ended (reported in [`DriverEvent::RelayDisconnected`]).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The TCP connection or the WebSocket handshake failed.
    #[error("connecting to {url} failed: {source}")]
    Connect {
        /// Relay URL (without the auth query).
        url: String,
        /// The error.
        source: Box<tungstenite::Error>,
    },
    /// The connection attempt took longer than `connect_timeout`.
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    /// The relay closed the socket.
    #[error("the relay closed the connection ({code}: {reason})")]
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Reading or writing the socket failed.
    #[error("relay socket: {0}")]
    Socket(Box<tungstenite::Error>),
    /// Nothing arrived for `idle_timeout`, not even an answer to our ping.
    #[error("no frame from the relay for {0:?}")]
    Idle(Duration),
    /// The relay did not answer a request within `rpc_timeout`.
    #[error("the relay did not answer {method} within {timeout:?}")]
    Stalled {
        /// The request's method.
        method: &'static str,
        /// The timeout.
        timeout: Duration,
    },
    /// The relay answered a subscription request with an error.
    #[error("the relay refused {method}: {error}")]
    Refused {
        /// The request's method.
        method: &'static str,
        /// The relay's error object.
        error: String,
    },
}

impl From<tungstenite::Error> for ConnectionError {
    fn from(e: tungstenite::Error) -> Self {
        ConnectionError::Socket(Box::new(e))
    }
}

/// A cloneable handle through which the application calls the endpoint.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// Runs `f` on the endpoint inside the pump (with the current time) and returns
    /// its result; the outputs it causes are sent right after. Example:
    /// `handle.call(move |ep, now| ep.request(&topic, chain, "personal_sign", params, now)).await??`.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Endpoint, Now) -> R + Send + 'static,
    ) -> Result<R, DriverError> {
        let (tx, rx) = oneshot::channel();
        let command: Command = Box::new(move |ep, now| {
            // The caller may have given up waiting; then the result is not needed.
            let _ = tx.send(f(ep, now));
        });
        self.commands.send(command).await.map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }
}

/// A running driver: the handle to call the endpoint, the event stream, and the task.
pub struct Driver {
    /// Calls into the endpoint.
    pub handle: Handle,
    /// Events for the application (bounded).
    pub events: mpsc::Receiver<DriverEvent>,
    task: JoinHandle<Result<(), DriverError>>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

/// The endpoint saved in `store`, or a new one when the store is empty. Returns
/// whether it was restored.
pub fn restore_or_new(config: Config, store: &dyn SessionStore) -> Result<(Endpoint, bool), DriverError> {
    let now = Now::new(Instant::now(), SystemTime::now());
    match store.load()? {
        Some(snapshot) => Ok((Endpoint::restore(config, OsRng, &snapshot, now)?, true)),
        None => Ok((Endpoint::new(config, OsRng), false)),
    }
}

impl Driver {
    /// Starts the pump task on the current tokio runtime. `store`, when given, gets
    /// a snapshot after every state change (see [`DriverConfig::snapshot_interval`])
    /// and at shutdown. The task runs until `shutdown` is cancelled.
    pub fn spawn(
        endpoint: Endpoint,
        key: ClientKey,
        store: Option<Box<dyn SessionStore + Send>>,
        config: DriverConfig,
        shutdown: CancellationToken,
    ) -> Result<Driver, DriverError> {
        if !(config.relay_url.starts_with("ws://") || config.relay_url.starts_with("wss://")) {
            return Err(DriverError::BadUrl(config.relay_url));
        }
        let (event_tx, events) = mpsc::channel(config.event_capacity.max(1));
        let (command_tx, commands) = mpsc::channel(config.command_capacity.max(1));
        let pump = Pump {
            ep: endpoint,
            key,
            subject: auth::random_subject(),
            store,
            events: event_tx,
            commands,
            commands_open: true,
            topics: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            resend: VecDeque::new(),
            next_id: 0,
            blocked_event: None,
            dirty: false,
            urgent: false,
            last_saved: Instant::now(),
            attempt: 0,
            config,
        };
        let task = tokio::spawn(pump.run(shutdown));
        Ok(Driver { handle: Handle { commands: command_tx }, events, task })
    }

    /// Waits for the task to end (after the shutdown token is cancelled).
    pub async fn join(self) -> Result<(), DriverError> {
        drop(self.events);
        self.task.await.map_err(|_| DriverError::Panicked)?
    }
}

/// A relay request we sent and wait on.
enum Rpc {
    Publish { transmit: Transmit, attempts: u32 },
    Subscribe,
    BatchSubscribe,
    Unsubscribe,
}

impl Rpc {
    fn method(&self) -> &'static str {
        match self {
            Rpc::Publish { .. } => Method::Publish,
            Rpc::Subscribe => Method::Subscribe,
            Rpc::BatchSubscribe => Method::BatchSubscribe,
            Rpc::Unsubscribe => Method::Unsubscribe,
        }
        .name()
    }
}

/// Publishes the relay refused are retried this many times in all.
const PUBLISH_ATTEMPTS: u32 = 3;

/// The relay connection.
enum Link {
    /// Waiting before the next connection attempt.
    Down { retry_at: Instant },
    /// A connection attempt in progress.
    Connecting(Pin<Box<dyn Future<Output = Result<Box<Ws>, ConnectionError>> + Send>>),
    /// Open.
    Up(Box<Up>),
}

struct Up {
    ws: Ws,
    last_frame: Instant,
    pinged: bool,
    opened: Instant,
}

/// What woke the pump.
enum Wake {
    Link(LinkInput),
    Command(Option<Command>),
    Forwarded,
    Timer,
}

enum LinkInput {
    Opened(Result<Box<Ws>, ConnectionError>),
    Frame(Option<Result<Message, tungstenite::Error>>),
}

/// Waits for what the link produces next (never, while it is down).
async fn link_input(link: &mut Link) -> LinkInput {
    match link {
        Link::Down { .. } => std::future::pending().await,
        Link::Connecting(attempt) => LinkInput::Opened(attempt.as_mut().await),
        Link::Up(up) => LinkInput::Frame(up.ws.next().await),
    }
}

struct Pump {
    ep: Endpoint,
    key: ClientKey,
    subject: String,
    store: Option<Box<dyn SessionStore + Send>>,
    events: mpsc::Sender<DriverEvent>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    /// Every topic the endpoint wants (subscribed again on each connect).
    topics: BTreeSet<Topic>,
    /// Requests sent on the current connection, by id, with when they were sent.
    in_flight: BTreeMap<u64, (Rpc, Instant)>,
    /// Publishes not acknowledged when the last connection ended, in order.
    resend: VecDeque<(Transmit, u32)>,
    next_id: u64,
    /// An event taken from the endpoint while the application channel was full.
    blocked_event: Option<DriverEvent>,
    dirty: bool,
    urgent: bool,
    last_saved: Instant,
    attempt: u32,
    config: DriverConfig,
}

fn now() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

impl Pump {
    async fn run(mut self, shutdown: CancellationToken) -> Result<(), DriverError> {
        let mut link = self.connect();
        self.drain(&mut link).await;
        loop {
            let deadline = self.deadline(&link);
            let wake = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                input = link_input(&mut link) => Wake::Link(input),
                command = self.commands.recv(), if self.commands_open => Wake::Command(command),
                permit = self.events.reserve(), if self.blocked_event.is_some() => {
                    if let (Ok(permit), Some(event)) = (permit, self.blocked_event.take()) {
                        permit.send(event);
                    }
                    // Otherwise the application dropped its receiver: the event has nowhere to go.
                    Wake::Forwarded
                },
                () = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
            };
            match wake {
                Wake::Link(LinkInput::Opened(Ok(ws))) => self.opened(&mut link, ws).await,
                Wake::Link(LinkInput::Opened(Err(e))) => self.lost(&mut link, e),
                Wake::Link(LinkInput::Frame(frame)) => self.frame(&mut link, frame).await,
                Wake::Command(Some(command)) => {
                    command(&mut self.ep, now());
                    self.dirty = true;
                    self.urgent = true;
                }
                Wake::Command(None) => self.commands_open = false,
                Wake::Forwarded => {}
                Wake::Timer => {
                    if let Err(e) = self.timers(&mut link).await {
                        self.lost(&mut link, e);
                    }
                }
            }
            self.drain(&mut link).await;
        }
        self.save(true);
        if let Link::Up(up) = &mut link {
            let frame = CloseFrame { code: CloseCode::Normal, reason: "client shutting down".into() };
            // Best effort: the relay also notices a dropped socket.
            let _ = tokio::time::timeout(Duration::from_secs(2), up.ws.close(Some(frame))).await;
        }
        Ok(())
    }

    /// Starts a connection attempt with a fresh JWT.
    fn connect(&mut self) -> Link {
        let n = now();
        let jwt = self.key.jwt(&self.config.relay_url, &self.subject, n.unix_secs());
        let url = auth::connect_url(&self.config.relay_url, &jwt, &self.config.project_id, &self.config.user_agent);
        let shown = self.config.relay_url.clone();
        let timeout = self.config.connect_timeout;
        tracing::debug!(relay = %shown, client = %self.key.client_id(), "connecting");
        Link::Connecting(Box::pin(async move {
            match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
                Ok(Ok((ws, _response))) => Ok(Box::new(ws)),
                Ok(Err(e)) => Err(ConnectionError::Connect { url: shown, source: Box::new(e) }),
                Err(_) => Err(ConnectionError::ConnectTimeout(shown)),
            }
        }))
    }

    /// The connection is open: subscribe every topic again, resend what was not acknowledged.
    async fn opened(&mut self, link: &mut Link, ws: Box<Ws>) {
        let at = Instant::now();
        *link = Link::Up(Box::new(Up { ws: *ws, last_frame: at, pinged: false, opened: at }));
        tracing::info!(relay = %self.config.relay_url, topics = self.topics.len(), "relay connected");
        let topics: Vec<String> = self.topics.iter().map(|t| t.as_str().to_owned()).collect();
        let mut frames = Vec::new();
        for chunk in topics.chunks(heliograph_wc_wire::method::BATCH_LIMIT) {
            let id = self.id();
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            frames.push(relay::batch_subscribe(id, &refs));
            self.in_flight.insert(id, (Rpc::BatchSubscribe, at));
        }
        while let Some((transmit, attempts)) = self.resend.pop_front() {
            let id = self.id();
            frames.push(relay::publish(id, &transmit));
            self.in_flight.insert(id, (Rpc::Publish { transmit, attempts }, at));
        }
        if let Err(e) = self.send_all(link, frames).await {
            self.lost(link, e);
            return;
        }
        self.notify(DriverEvent::RelayConnected);
    }

    /// The connection failed or ended: keep unacknowledged publishes, wait, retry.
    fn lost(&mut self, link: &mut Link, error: ConnectionError) {
        if let Link::Up(up) = link
            && up.opened.elapsed() >= self.config.rpc_timeout
        {
            // It worked for a while: start the backoff from the beginning.
            self.attempt = 0;
        }
        let in_flight = std::mem::take(&mut self.in_flight);
        for (_, (rpc, _)) in in_flight {
            if let Rpc::Publish { transmit, attempts } = rpc {
                self.resend.push_back((transmit, attempts));
            }
        }
        let delay = self.config.backoff.delay(self.attempt, &mut OsRng);
        self.attempt = self.attempt.saturating_add(1);
        tracing::warn!(error = %error, retry_in = ?delay, "relay connection lost");
        *link = Link::Down { retry_at: Instant::now() + delay };
        self.notify(DriverEvent::RelayDisconnected { reason: error.to_string(), retry_in: delay });
    }

    async fn frame(&mut self, link: &mut Link, frame: Option<Result<Message, tungstenite::Error>>) {
        let Link::Up(up) = link else { return };
        up.last_frame = Instant::now();
        up.pinged = false;
        let text = match frame {
            None => return self.lost(link, ConnectionError::Closed { code: 1006, reason: "socket ended".into() }),
            Some(Err(e)) => return self.lost(link, e.into()),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                return self.lost(link, ConnectionError::Closed { code, reason });
            }
            Some(Ok(Message::Text(text))) => text,
            // Pings are answered by tungstenite; binary frames are not part of the protocol.
            Some(Ok(_)) => return,
        };
        match relay::parse(text.as_str()) {
            Ok(relay::Incoming::Push { ack_id, topic, message, .. }) => {
                // Ack first, like the official client: the ack means "received".
                if let Err(e) = self.send_all(link, vec![relay::ack(&ack_id)]).await {
                    return self.lost(link, e);
                }
                if let Err(reason) = self.ep.handle_incoming(&topic, &message, now()) {
                    tracing::debug!(%topic, %reason, "incoming message refused");
                }
                self.dirty = true;
            }
            Ok(relay::Incoming::Response { id, outcome }) => {
                let Some((rpc, _)) = self.in_flight.remove(&id) else {
                    tracing::debug!(id, "relay response to no request of ours");
                    return;
                };
                match (rpc, outcome) {
                    (_, Ok(_)) => {}
                    (Rpc::Publish { transmit, attempts }, Err(error)) => {
                        tracing::warn!(topic = %transmit.topic, tag = transmit.tag, %error, "relay refused a publish");
                        if attempts + 1 < PUBLISH_ATTEMPTS {
                            self.resend.push_back((transmit, attempts + 1));
                        } else {
                            let event = DriverEvent::PublishFailed {
                                topic: transmit.topic,
                                tag: transmit.tag,
                                error: error.to_string(),
                            };
                            self.notify(event);
                        }
                    }
                    (rpc, Err(error)) => {
                        let method = rpc.method();
                        self.lost(link, ConnectionError::Refused { method, error: error.to_string() });
                    }
                }
            }
            Ok(relay::Incoming::Other { method }) => tracing::debug!(%method, "ignored relay request"),
            Err(e) => tracing::debug!(error = %e, "unreadable relay frame"),
        }
    }

    /// Fires what is due: endpoint timers, reconnects, pings, stall detection, saves.
    async fn timers(&mut self, link: &mut Link) -> Result<(), ConnectionError> {
        let at = Instant::now();
        if self.ep.poll_timeout().is_some_and(|t| t <= at) {
            self.ep.handle_timeout(now());
            self.dirty = true;
        }
        match link {
            Link::Down { retry_at } if *retry_at <= at => *link = self.connect(),
            Link::Up(up) => {
                if let Some((rpc, _)) = self.in_flight.values().find(|(_, sent)| at >= *sent + self.config.rpc_timeout)
                {
                    return Err(ConnectionError::Stalled { method: rpc.method(), timeout: self.config.rpc_timeout });
                }
                let silent = at.saturating_duration_since(up.last_frame);
                if silent >= self.config.idle_timeout {
                    return Err(ConnectionError::Idle(silent));
                }
                if silent >= self.config.idle_timeout / 2 && !up.pinged {
                    up.pinged = true;
                    up.ws.send(Message::Ping(Vec::new().into())).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The earliest instant something is due.
    fn deadline(&self, link: &Link) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut at = self.ep.poll_timeout().unwrap_or(far).min(far);
        match link {
            Link::Down { retry_at } => at = at.min(*retry_at),
            Link::Connecting(_) => {}
            Link::Up(up) => {
                if let Some((_, sent)) = self.in_flight.values().min_by_key(|(_, sent)| *sent) {
                    at = at.min(*sent + self.config.rpc_timeout);
                }
                let idle = if up.pinged { self.config.idle_timeout } else { self.config.idle_timeout / 2 };
                at = at.min(up.last_frame + idle);
            }
        }
        if self.dirty {
            at = at.min(self.last_saved + self.config.snapshot_interval);
        }
        at
    }

    /// After every input: topic changes, transmits, events (in that order), then the snapshot.
    async fn drain(&mut self, link: &mut Link) {
        let at = Instant::now();
        let mut frames = Vec::new();
        while let Some(change) = self.ep.poll_topic_change() {
            self.dirty = true;
            self.urgent = true;
            let id = self.id();
            match change {
                TopicChange::Subscribe(topic) => {
                    frames.push(relay::subscribe(id, topic.as_str()));
                    self.in_flight.insert(id, (Rpc::Subscribe, at));
                    self.topics.insert(topic);
                }
                TopicChange::Unsubscribe(topic) => {
                    frames.push(relay::unsubscribe(id, topic.as_str(), &self.key.client_id()));
                    self.in_flight.insert(id, (Rpc::Unsubscribe, at));
                    self.topics.remove(&topic);
                }
            }
        }
        if !matches!(link, Link::Up(_)) {
            // Subscriptions are made on the next connect; transmits wait in the endpoint.
            self.in_flight.retain(|_, (rpc, _)| matches!(rpc, Rpc::Publish { .. }));
            frames.clear();
        } else {
            let resend: Vec<_> = self.resend.drain(..).collect();
            for (transmit, attempts) in resend {
                let id = self.id();
                frames.push(relay::publish(id, &transmit));
                self.in_flight.insert(id, (Rpc::Publish { transmit, attempts }, at));
            }
            while self.in_flight.len() < self.config.max_in_flight {
                let Some(transmit) = self.ep.poll_transmit() else { break };
                let id = self.id();
                frames.push(relay::publish(id, &transmit));
                self.in_flight.insert(id, (Rpc::Publish { transmit, attempts: 0 }, at));
            }
            if let Err(e) = self.send_all(link, frames).await {
                self.lost(link, e);
            }
        }
        self.forward_events();
        if self.dirty && (self.urgent || self.last_saved.elapsed() >= self.config.snapshot_interval) {
            self.save(false);
        }
    }

    /// Moves endpoint events to the application until its channel is full.
    fn forward_events(&mut self) {
        loop {
            if let Some(event) = self.blocked_event.take() {
                match self.events.try_reserve() {
                    Ok(permit) => permit.send(event),
                    Err(mpsc::error::TrySendError::Full(())) => {
                        self.blocked_event = Some(event);
                        return;
                    }
                    // Nobody listens any more; drop the event.
                    Err(mpsc::error::TrySendError::Closed(())) => {}
                }
            }
            let Some(event) = self.ep.poll_event() else { return };
            if matches!(
                event,
                Event::Connected(_)
                    | Event::SessionDeleted { .. }
                    | Event::SessionExpired { .. }
                    | Event::Response { .. }
            ) {
                self.dirty = true;
                self.urgent = true;
            }
            self.blocked_event = Some(DriverEvent::Endpoint(event));
        }
    }

    /// Connection notices are dropped when the application is behind.
    fn notify(&mut self, event: DriverEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("application event channel full: connection notice dropped");
        }
    }

    fn save(&mut self, force: bool) {
        if !(self.dirty || force) {
            return;
        }
        if let Some(store) = self.store.as_mut() {
            // A small synchronous write (temp file, fsync, rename): the snapshot must be
            // on disk before the pump goes on, so a crash right after loses nothing.
            if let Err(e) = store.save(&self.ep.snapshot()) {
                tracing::error!(error = %e, "saving the session snapshot failed");
            }
        }
        self.dirty = false;
        self.urgent = false;
        self.last_saved = Instant::now();
    }

    async fn send_all(&mut self, link: &mut Link, frames: Vec<String>) -> Result<(), ConnectionError> {
        let Link::Up(up) = link else { return Ok(()) };
        if frames.is_empty() {
            return Ok(());
        }
        for frame in frames {
            up.ws.feed(Message::text(frame)).await?;
        }
        up.ws.flush().await?;
        Ok(())
    }

    /// A new request id: a decimal string on the wire, strictly increasing, shaped
    /// like the official client's (`unix_ms * 10^6 + counter`).
    fn id(&mut self) -> u64 {
        let base = now().unix_ms().saturating_mul(1_000_000);
        self.next_id = base.max(self.next_id + 1);
        self.next_id
    }
}
