//! The wall clock, read in the units the Waku wire uses: nanoseconds for
//! message timestamps and store cursors, milliseconds for WalletConnect
//! mailboxes, seconds for token and JWT expiry. One source, so every layer
//! agrees on "now" and on how a clock before 1970 reads (as zero).

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 before it, `i64::MAX` past 2262).
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    u64::try_from(now_ns() / 1_000_000).unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    u64::try_from(now_ns() / 1_000_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_agree() {
        let (ns, ms, s) = (now_ns(), now_ms(), now_secs());
        assert!(ns > 1_600_000_000_000_000_000, "clock reads {ns}");
        assert!(ms / 1000 >= s && ms / 1000 <= s + 1);
        assert!(u64::try_from(ns / 1_000_000).unwrap_or(0) <= ms);
    }
}
