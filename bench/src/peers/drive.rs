//! The one load generator every peer is driven by: subscribers on their own
//! tasks, one publisher whose writes are batched (many publishes, one flush),
//! pacing by in-flight window or by rate, and latency from the send stamp in
//! each payload to its arrival.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};

use super::{Client, Clock, TOPIC, Writer};

/// Longest wait for the next delivery before the rest counts as lost.
const IDLE: Duration = Duration::from_secs(3);
/// Connections opened at once.
const CONNECT_CONCURRENCY: usize = 32;
/// Most publishes written with one flush.
const PUBLISH_BATCH: usize = 64;

/// How fast the publisher goes.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as deliveries allow, with at most `window` messages published but not yet delivered everywhere.
    Max {
        /// Messages in flight.
        window: u64,
    },
    /// A fixed rate of messages per second.
    Rate {
        /// Messages per second.
        per_second: f64,
    },
}

/// What one fan-out run measured.
#[derive(Debug)]
pub struct FanoutRun {
    /// Deliveries expected: messages × subscribers.
    pub expected: u64,
    /// Deliveries made.
    pub delivered: u64,
    /// From the first publish to the last delivery.
    pub elapsed: Duration,
    /// Publish → deliver latency of every delivery (paced runs only).
    pub latencies: Vec<Duration>,
    /// Share of one core the server (if its CPU time was given) and this process used, first publish to last delivery.
    pub busy: (Option<f64>, f64),
}

impl FanoutRun {
    /// Deliveries per second, summed over subscribers.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Deliveries that never came.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
}

/// CPU time (user + system, all threads) of process `pid`, from /proc.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends with the last ')': state is the first, utime the 12th.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ, 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Opens `count` connections to `addr`, each subscribed to the bench topic.
pub async fn subscribers<C: Client>(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<C>> {
    futures::stream::iter(0..count)
        .map(|_| async move {
            let mut client = C::connect(addr).await?;
            client.subscribe(TOPIC).await?;
            anyhow::Ok(client)
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// Publishes `messages` messages of `size` bytes one at a time, each after the
/// previous one arrived at the one subscriber. Returns the latencies and the messages lost.
pub async fn one_in_flight<C: Client>(
    addr: SocketAddr,
    messages: usize,
    size: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let clock = Clock::start();
    let mut sub = subscribers::<C>(addr, 1).await?.pop().ok_or_else(|| anyhow::anyhow!("no subscriber"))?;
    let mut writer = C::connect(addr).await?.into_writer();
    let (mut latencies, mut lost) = (Vec::with_capacity(messages), 0);
    for seq in 0..messages as u64 {
        writer.publish(TOPIC, &clock.payload(seq, size)).await?;
        writer.flush().await?;
        loop {
            match tokio::time::timeout(IDLE, sub.next()).await {
                Ok(Ok(d)) if d.seq == seq => {
                    latencies.push(clock.since(d));
                    break;
                }
                // A straggler of an earlier, timed-out message.
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    Ok((latencies, lost))
}

/// Fans `messages` messages of `size` bytes out to `subscribers` subscribers at `pace`;
/// `server_cpu` reads the server's CPU time, to tell a busy server from a busy generator.
pub async fn fanout<C: Client>(
    addr: SocketAddr,
    subscribers: usize,
    messages: usize,
    size: usize,
    pace: Pace,
    server_cpu: &(dyn Fn() -> Option<Duration> + Sync),
) -> anyhow::Result<FanoutRun> {
    let clock = Clock::start();
    let subs = self::subscribers::<C>(addr, subscribers).await?;
    let delivered = Arc::new(AtomicU64::new(0));
    // Wakes the publisher when a delivery may have made room in the window.
    let progress = Arc::new(tokio::sync::Notify::new());
    let record = matches!(pace, Pace::Rate { .. });
    let tasks: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            let (delivered, progress) = (delivered.clone(), progress.clone());
            tokio::spawn(async move {
                let (mut got, mut latencies, mut last) = (0, Vec::new(), None);
                while got < messages {
                    let Ok(Ok(d)) = tokio::time::timeout(IDLE, sub.next()).await else { break };
                    got += 1;
                    delivered.fetch_add(1, Ordering::Relaxed);
                    progress.notify_one();
                    if record {
                        latencies.push(clock.since(d));
                    }
                    last = Some(Instant::now());
                }
                (latencies, last)
            })
        })
        .collect();

    let mut writer = C::connect(addr).await?.into_writer();
    let start = Instant::now();
    let cpu_before = (server_cpu(), cpu_time(std::process::id()));
    let mut seq = 0u64;
    let total = messages as u64;
    match pace {
        Pace::Max { window } => {
            while seq < total {
                let done = delivered.load(Ordering::Relaxed) / subscribers as u64;
                let room = window.saturating_sub(seq - done.min(seq)).min(total - seq).min(PUBLISH_BATCH as u64);
                if room == 0 {
                    // No delivery for a while: the rest would never fit; it counts as lost.
                    if tokio::time::timeout(IDLE, progress.notified()).await.is_err() {
                        break;
                    }
                    continue;
                }
                for _ in 0..room {
                    writer.publish(TOPIC, &clock.payload(seq, size)).await?;
                    seq += 1;
                }
                writer.flush().await?;
            }
        }
        Pace::Rate { per_second } => {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while seq < total {
                tick.tick().await;
                let due = ((start.elapsed().as_secs_f64() * per_second) as u64 + 1).min(total);
                while seq < due {
                    writer.publish(TOPIC, &clock.payload(seq, size)).await?;
                    seq += 1;
                }
                writer.flush().await?;
            }
        }
    }

    let mut run = FanoutRun {
        expected: total * subscribers as u64,
        delivered: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        busy: (None, 0.0),
    };
    for task in tasks {
        let (latencies, last) = task.await?;
        run.latencies.extend(latencies);
        if let Some(last) = last {
            run.elapsed = run.elapsed.max(last.saturating_duration_since(start));
        }
    }
    run.delivered = delivered.load(Ordering::Relaxed);
    // Over the same span as the rate: first publish to last delivery (not the idle wait after it).
    let span = if run.elapsed.is_zero() { start.elapsed() } else { run.elapsed };
    let wall = span.as_secs_f64().max(1e-9);
    let share =
        |before: Option<Duration>, after: Option<Duration>| Some(after?.saturating_sub(before?).as_secs_f64() / wall);
    run.busy =
        (share(cpu_before.0, server_cpu()), share(cpu_before.1, cpu_time(std::process::id())).unwrap_or(f64::NAN));
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::bare::BareClient;

    #[tokio::test]
    async fn the_generator_counts_every_delivery_of_the_bare_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(crate::peers::bare::serve(listener, shutdown.clone()));

        let run =
            fanout::<BareClient>(addr, 5, 300, 256, Pace::Max { window: 50 }, &|| None).await.expect("max-rate run");
        assert_eq!((run.expected, run.delivered, run.lost()), (1500, 1500, 0));
        assert!(run.latencies.is_empty(), "max-rate runs time nothing");
        assert!(run.busy.0.is_none() && run.busy.1 >= 0.0, "no server CPU given, this process's measured");
        let paced =
            fanout::<BareClient>(addr, 3, 50, 64, Pace::Rate { per_second: 1000.0 }, &|| None).await.expect("paced");
        assert_eq!((paced.delivered, paced.latencies.len()), (150, 150));
        let (latencies, lost) = one_in_flight::<BareClient>(addr, 20, 64).await.expect("one in flight");
        assert_eq!((latencies.len(), lost), (20, 0));
        shutdown.cancel();
    }
}
