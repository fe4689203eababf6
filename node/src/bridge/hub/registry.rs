//! The registry of open connections: each connection's sending side (its
//! bounded send queue, the bytes queued in it, its slow-consumer signal), by
//! connection id. Queueing never waits: a full queue or too many pending bytes
//! marks the connection as a slow consumer, which its pump then closes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bridge::metrics::BridgeMetrics;
use crate::bridge::walletconnect::mailbox::ConnId;

/// Frames queued for one connection, whatever their size.
pub const SEND_QUEUE: usize = 4096;

/// The sending side of one connection, as the hub sees it.
#[derive(Clone)]
pub struct ConnHandle {
    tx: mpsc::Sender<String>,
    pending_bytes: Arc<AtomicUsize>,
    kill: CancellationToken,
    max_pending_bytes: usize,
    streaming: Arc<AtomicBool>,
}

impl ConnHandle {
    /// A handle over `tx`; `kill` is cancelled when the connection must close as a
    /// slow consumer; `streaming` is set while the connection has a backlog to stream.
    pub fn new(
        tx: mpsc::Sender<String>,
        max_pending_bytes: usize,
    ) -> (Self, Arc<AtomicUsize>, CancellationToken, Arc<AtomicBool>) {
        let pending_bytes = Arc::new(AtomicUsize::new(0));
        let kill = CancellationToken::new();
        let streaming = Arc::new(AtomicBool::new(false));
        let handle = ConnHandle {
            tx,
            pending_bytes: pending_bytes.clone(),
            kill: kill.clone(),
            max_pending_bytes,
            streaming: streaming.clone(),
        };
        (handle, pending_bytes, kill, streaming)
    }

    /// Queues a frame without waiting; a full queue or too many pending bytes
    /// marks the connection as a slow consumer. Returns whether it was queued.
    pub fn send(&self, frame: String, metrics: &BridgeMetrics) -> bool {
        if self.kill.is_cancelled() {
            return false;
        }
        let len = frame.len();
        let pending = self.pending_bytes.fetch_add(len, Ordering::Relaxed) + len;
        let queued = pending <= self.max_pending_bytes && self.tx.try_send(frame).is_ok();
        if !queued {
            self.pending_bytes.fetch_sub(len, Ordering::Relaxed);
            if !self.tx.is_closed() {
                metrics.slow_consumer_disconnects.inc();
                self.kill.cancel();
            }
        }
        queued
    }

    /// Queues a backlog frame: the caller keeps backlogs under the byte cap
    /// and the queue's free slots, so it never marks a slow consumer.
    pub fn send_backlog(&self, frame: String) -> bool {
        let len = frame.len();
        self.pending_bytes.fetch_add(len, Ordering::Relaxed);
        let queued = self.tx.try_send(frame).is_ok();
        if !queued {
            self.pending_bytes.fetch_sub(len, Ordering::Relaxed);
        }
        queued
    }

    /// Room for backlog frames: bytes until the queue holds half its byte cap, and free slots.
    pub fn backlog_room(&self) -> (usize, usize) {
        let target = (self.max_pending_bytes / 2).max(1);
        (target.saturating_sub(self.pending_bytes.load(Ordering::Relaxed)), self.tx.capacity())
    }

    /// Records whether the connection has backlog left to stream (its pump then asks for more).
    pub fn set_streaming(&self, more: bool) {
        self.streaming.store(more, Ordering::Relaxed);
    }
}

/// Every open connection's [`ConnHandle`], by id.
pub struct Registry {
    conns: HashMap<ConnId, ConnHandle>,
    next: ConnId,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { conns: HashMap::new(), next: 1 }
    }
}

impl Registry {
    /// Adds a connection and returns its id (ids start at 1 and are never reused).
    pub fn insert(&mut self, handle: ConnHandle) -> ConnId {
        let id = self.next;
        self.next += 1;
        self.conns.insert(id, handle);
        id
    }

    /// Forgets a connection.
    pub fn remove(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// The sending side of `conn`, while it is open.
    pub fn get(&self, conn: ConnId) -> Option<&ConnHandle> {
        self.conns.get(&conn)
    }

    /// Queues `frame` for `conn` as a push (see [`ConnHandle::send`]); counts it when queued.
    pub fn push(&self, conn: ConnId, frame: String, metrics: &BridgeMetrics) {
        if let Some(handle) = self.conns.get(&conn)
            && handle.send(frame, metrics)
        {
            metrics.messages_pushed.inc();
        }
    }
}
