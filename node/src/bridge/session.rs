//! The state of one bridge connection, without a socket: who the client is
//! (its WalletConnect client id, its access token's grant, its IP), what it
//! holds (`waku_*` subscriptions and WalletConnect topics), and its limits
//! (the subscription cap, the rate limits, the bad-frame budget).
//! [`Session::open`] registers the connection with the hub; the method modules
//! read and change a session, the router hands it to them, and the pump owns it
//! for the connection's life.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use super::hub::registry::{ConnHandle, SEND_QUEUE};
use super::jsonrpc::{RpcError, code};
use super::tokens::{Grant, Lookup, TokenError};
use super::walletconnect::auth::ClientId;
use super::walletconnect::mailbox::ConnId;
use crate::rate_limit::RateLimiter;

/// Rate-limited requests in a row after which the socket is closed with 1013.
const MAX_LIMITED_IN_A_ROW: u32 = 20;

/// Seconds before its token expires at which a socket is sent `bridge_tokenExpiring`.
pub const EXPIRY_NOTICE: u64 = 30;

/// Where a socket's token stands (see [`Session::check_grant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Live (or no token held).
    Live,
    /// Expires at these Unix seconds, within [`EXPIRY_NOTICE`]: tell the client, once.
    Expiring(u64),
    /// Past its expiry: close the socket.
    Expired,
    /// Revoked: close the socket.
    Revoked,
}

/// One waku_* subscription of a connection.
pub struct WakuSubscription {
    /// Its content topics.
    pub content_topics: Vec<String>,
    /// Bytes of topic names it holds (charged to the connection's topic budget).
    pub bytes: usize,
}

/// What the rate limits say about a connection's next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within the limits: serve it.
    Admitted,
    /// Over a limit: refuse it.
    Limited,
    /// Over a limit [`MAX_LIMITED_IN_A_ROW`] times in a row: close the connection.
    Close,
}

/// The JSON-RPC state of one connection.
pub struct Session {
    /// The shared bridge state.
    pub hub: Arc<Hub>,
    /// This connection's id in the hub.
    pub conn: ConnId,
    /// The verified WalletConnect client, if the socket came with an auth JWT.
    pub client: Option<ClientId>,
    /// The access token's grant, if the socket came with a token (or authenticated later):
    /// the operator's grant that admits `waku_*` methods under `bridge.require_token`.
    pub grant: Option<Grant>,
    /// Whether the client was told its token expires soon (reset when the expiry moves).
    expiry_noticed: bool,
    /// Peer IP, for rate limits.
    pub ip: IpAddr,
    /// waku_* subscriptions by id.
    pub waku_subs: HashMap<String, WakuSubscription>,
    /// WalletConnect topics subscribed on this connection.
    pub wc_topics: HashSet<String>,
    /// Set while the hub has backlog left to stream to this connection.
    streaming: Arc<AtomicBool>,
    limited_in_a_row: u32,
    /// This connection's budget of bad frames (`bridge.bad_frame_limit`), one bucket.
    bad_frames: RateLimiter<()>,
}

impl Session {
    /// Registers a connection with the hub. Returns the session, the queue of
    /// frames to send, the count of queued bytes, and the slow-consumer signal.
    pub fn open(
        hub: Arc<Hub>,
        client: Option<ClientId>,
        grant: Option<Grant>,
        ip: IpAddr,
    ) -> (Session, mpsc::Receiver<String>, Arc<AtomicUsize>, CancellationToken) {
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let (handle, pending, kill, streaming) = ConnHandle::new(tx, hub.config.max_pending_bytes);
        let conn = hub.register(handle);
        let bad_frames = RateLimiter::new(hub.config.bad_frame_limit);
        let session = Session {
            hub,
            conn,
            client,
            grant,
            expiry_noticed: false,
            ip,
            waku_subs: HashMap::new(),
            wc_topics: HashSet::new(),
            streaming,
            limited_in_a_row: 0,
            bad_frames,
        };
        (session, rx, pending, kill)
    }

    /// The token subject, if the socket holds a token.
    pub fn subject(&self) -> Option<&str> {
        self.grant.as_ref().map(|g| g.subject.0.as_str())
    }

    /// Where the socket's token stands at `now`: an opaque token's expiry is read
    /// again (a refresh moves it, a revocation removes it). [`GrantState::Expiring`]
    /// is returned once per expiry, [`EXPIRY_NOTICE`] seconds before it.
    pub fn check_grant(&mut self, now: u64) -> GrantState {
        let Some(grant) = &mut self.grant else { return GrantState::Live };
        if let Some(id) = &grant.token_id {
            match self.hub.tokens.opaque_expiry(id) {
                Lookup::Revoked => return GrantState::Revoked,
                Lookup::Expires(expires) if expires != grant.expires_at => {
                    grant.expires_at = expires;
                    self.expiry_noticed = false;
                }
                // Busy: the expiry known so far still holds.
                Lookup::Expires(_) | Lookup::Busy => {}
            }
        }
        if grant.expires_at <= now {
            GrantState::Expired
        } else if grant.expires_at - now <= EXPIRY_NOTICE && !self.expiry_noticed {
            self.expiry_noticed = true;
            GrantState::Expiring(grant.expires_at)
        } else {
            GrantState::Live
        }
    }

    /// Swaps the socket's token for `grant` (`bridge_authenticate`), keeping its
    /// subscriptions. A socket holding a token may switch only to one of the same
    /// subject: its rate limits and what it subscribed were granted to that subject.
    pub fn reauthenticate(&mut self, grant: Grant) -> Result<(), RpcError> {
        if let Some(old) = &self.grant
            && old.subject != grant.subject
        {
            return Err(RpcError::new(
                code::UNAUTHORIZED,
                format!("the token names another subject than this socket's ({}); open a new socket", old.subject.0),
            ));
        }
        self.grant = Some(grant);
        self.expiry_noticed = false;
        Ok(())
    }

    /// Subscriptions this connection holds.
    pub fn subscription_count(&self) -> usize {
        self.waku_subs.values().map(|s| s.content_topics.len()).sum::<usize>() + self.wc_topics.len()
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

    /// Whether this connection may call `method`. With `bridge.require_token`, `waku_*`
    /// methods need an operator grant (an access token); a WalletConnect auth JWT is
    /// self-signed, so it proves only a client key and admits only the relay's `irn_*` methods.
    pub fn authorize(&self, method: &str) -> Result<(), RpcError> {
        if method.starts_with("waku_") && self.hub.config.require_token && self.grant.is_none() {
            return Err(RpcError::new(
                code::UNAUTHORIZED,
                "waku_* methods need a bridge token (bridge.require_token is on): connect with ?token=… or \
                 Authorization: Bearer …; a WalletConnect auth JWT admits irn_* methods only",
            ));
        }
        Ok(())
    }

    /// Checks the per-IP and per-client (WalletConnect client id, else token subject)
    /// rate limits for one request, counting refusals in a row.
    pub fn admit(&mut self) -> Admission {
        let limit_key = self.client.as_ref().map(|c| c.0.as_str()).or(self.subject());
        if !self.hub.allow_request(self.ip, limit_key) {
            self.limited_in_a_row += 1;
            if self.limited_in_a_row >= MAX_LIMITED_IN_A_ROW {
                return Admission::Close;
            }
            return Admission::Limited;
        }
        self.limited_in_a_row = 0;
        Admission::Admitted
    }

    /// Counts one bad frame (see [`router`](super::router)) against `bridge.bad_frame_limit`;
    /// true once the connection is past its budget and is to be closed.
    pub fn bad_frame(&mut self) -> bool {
        self.hub.metrics.bad_frames.inc();
        !self.bad_frames.check(&(), Instant::now())
    }

    /// Tops up the send queue from the hub's WalletConnect backlog, if one is waiting.
    pub fn stream_backlog(&self) {
        if self.streaming.load(Ordering::Relaxed) {
            self.hub.wc_stream(self.conn);
        }
    }

    /// Unregisters the connection and its subscriptions.
    pub fn close(self) {
        let content: Vec<String> = self.waku_subs.into_values().flat_map(|s| s.content_topics).collect();
        let wc: Vec<String> = self.wc_topics.into_iter().collect();
        self.hub.unregister(self.conn, &content, &wc);
    }
}

/// Verifies `token` at `now` off the async workers (a capability token's id is fsynced first).
pub async fn verify_token(hub: Arc<Hub>, token: String, now: u64) -> Result<Grant, TokenError> {
    match tokio::task::spawn_blocking(move || hub.tokens.verify(&token, now)).await {
        Ok(verified) => verified,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: the upgrade is refused anyway.
        Err(_) => Err(TokenError::Invalid),
    }
}
