//! The fan-out task: hands every message the node accepts to the hub (which
//! pushes it to matching subscribers without waiting), and sweeps expired
//! WalletConnect messages from the mailbox, until shutdown. A fan-out that
//! falls behind the relay's broadcast loses messages and counts them; it never
//! slows the relay.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::hub::Hub;

/// How often expired mailbox entries are dropped.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Feeds every accepted message to the hub and sweeps the mailbox, until shutdown.
pub fn spawn(hub: Arc<Hub>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    let mut messages = hub.network.messages();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = sweep.tick() => hub.sweep(),
                received = messages.recv() => match received {
                    Ok(message) => hub.on_message(&message),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "bridge fan-out fell behind the relay");
                        hub.metrics.reject("fanout_lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        debug!("bridge fan-out stopped");
    })
}
