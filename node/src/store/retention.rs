//! Retention: evicts messages by age, count and size in the background, in
//! small chunks through the writer so ingest never stalls behind a long delete.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Store;
use crate::config::StoreConfig;
use crate::waku::time::now_ns;

/// Messages deleted per writer request.
const CHUNK: usize = 1000;

/// Limits on what the store keeps; zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Oldest message kept.
    pub max_age: Duration,
    /// Most messages kept.
    pub max_messages: u64,
    /// Most bytes of message values kept.
    pub max_bytes: u64,
}

impl From<&StoreConfig> for Policy {
    fn from(c: &StoreConfig) -> Self {
        Policy { max_age: c.max_age, max_messages: c.max_messages, max_bytes: c.max_bytes }
    }
}

/// One retention pass: evicts until every limit holds. Returns messages evicted.
pub async fn enforce(store: &Store, policy: Policy) -> Result<usize, super::StoreError> {
    let mut evicted = 0;
    if !policy.max_age.is_zero() {
        let cutoff = now_ns().saturating_sub(i64::try_from(policy.max_age.as_nanos()).unwrap_or(i64::MAX));
        loop {
            let n = store.evict(CHUNK, Some(cutoff)).await?;
            evicted += n;
            if n < CHUNK {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    loop {
        let stats = store.stats();
        let over_count = if policy.max_messages > 0 { stats.count.saturating_sub(policy.max_messages) } else { 0 };
        let over_bytes = policy.max_bytes > 0 && stats.bytes > policy.max_bytes;
        if over_count == 0 && !over_bytes {
            break;
        }
        // Over the size limit: evict about as many messages as the excess holds, on average.
        let over_by_size = if over_bytes {
            let average = (stats.bytes / stats.count.max(1)).max(1);
            (stats.bytes - policy.max_bytes).div_ceil(average)
        } else {
            0
        };
        let chunk = usize::try_from(over_count.max(over_by_size)).unwrap_or(CHUNK).clamp(1, CHUNK);
        let n = store.evict(chunk, None).await?;
        if n == 0 {
            break;
        }
        evicted += n;
        tokio::task::yield_now().await;
    }
    Ok(evicted)
}

/// Runs [`enforce`] every `interval` until shutdown.
pub fn spawn(
    store: Store,
    policy: Policy,
    interval: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            match enforce(&store, policy).await {
                Ok(0) => {}
                Ok(n) => debug!(evicted = n, "retention pass"),
                Err(e) => warn!(error = %e, "retention pass failed"),
            }
        }
    })
}
