//! Latency percentiles and rates from raw samples.
//!
//! Percentiles are exact (nearest rank over the sorted samples), not taken from a
//! histogram such as `hdrhistogram`. The bench keeps every sample anyway: the
//! network report plots each delivery's latency as a CDF and takes per-message
//! spreads over receivers, and the peer scenarios sum the samples for rates. The
//! largest default run (mesh-rate: 10 000 messages/s for 5 s to 9 receivers)
//! holds 450 000 16-byte `Duration`s, 7 MB sorted once at the end, so a
//! histogram's constant memory buys nothing here, while its
//! bucketing (a few significant digits) and its own quantile rule would change
//! the published p50/p99 figures and the ratios against the baselines measured
//! in the same run. Its coordinated-omission correction is not needed either:
//! the fixed-rate runs time each message from its actual publish and report how
//! far the publisher fell behind its schedule on their own (the `behind`
//! column), and the one-in-flight runs measure round trips, not a schedule.

use std::time::Duration;

/// Summary of a set of latency samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// Summarises samples (sorts them in place). `None` when empty.
pub fn summarize(samples: &mut [Duration]) -> Option<Summary> {
    samples.sort_unstable();
    Some(Summary { count: samples.len(), p50: quantile(samples, 0.50)?, p99: quantile(samples, 0.99)? })
}

/// Quantile `q` (0 to 1) of `sorted`, by nearest rank. `None` when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * q.clamp(0.0, 1.0)).round() as usize).copied()
}

/// Formats a duration in microseconds with one decimal.
pub fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = summarize(&mut samples).expect("non-empty");
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(51));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert!(summarize(&mut []).is_none());
    }

    #[test]
    fn quantiles_are_exact_sample_values_at_the_ends_too() {
        let sorted: Vec<Duration> = [3, 5, 8].into_iter().map(Duration::from_micros).collect();
        assert_eq!(quantile(&sorted, 0.0), Some(Duration::from_micros(3)));
        assert_eq!(quantile(&sorted, 0.5), Some(Duration::from_micros(5)));
        assert_eq!(quantile(&sorted, 1.0), Some(Duration::from_micros(8)));
        assert_eq!(quantile(&[Duration::from_micros(7)], 0.99), Some(Duration::from_micros(7)));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
