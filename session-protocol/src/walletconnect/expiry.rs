//! Expiry rules of WalletConnect Sign: proposals live 5 minutes, sessions 7
//! days from settlement or from their last extension, and an extension may only
//! move the expiry forward, to at most 7 days from now.

use std::time::Duration;

use super::errors::SdkError;

/// How long a proposal waits for the wallet (`wc_sessionPropose` TTL).
pub const PROPOSAL_TTL: Duration = Duration::from_secs(300);
/// Lifetime of a session, and of each extension.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Whether a proposal with this `expiryTimestamp` has expired at `now` (unix s).
/// A proposal without one is treated as sent now (the SDKs do the same).
pub fn proposal_expired(expiry_timestamp: Option<u64>, now: u64) -> bool {
    expiry_timestamp.is_some_and(|e| e <= now)
}

/// Checks a `wc_sessionExtend` to `proposed` on a session expiring at `current`:
/// it may not move the expiry back, nor past `now + ttl + skew`. Equal is
/// accepted as a no-op (the official wallet extends within the same second of
/// settling). Returns the new expiry.
pub fn check_extend(current: u64, proposed: u64, now: u64, ttl: Duration, skew: Duration) -> Result<u64, SdkError> {
    if proposed < current || proposed > now + ttl.as_secs() + skew.as_secs() {
        return Err(SdkError::InvalidExtendRequest);
    }
    Ok(proposed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_rules() {
        let (now, skew) = (1_700_000_000, Duration::from_secs(300));
        let current = now + 3600;
        let week = now + SESSION_TTL.as_secs();
        assert_eq!(check_extend(current, week, now, SESSION_TTL, skew), Ok(week));
        assert_eq!(check_extend(current, current, now, SESSION_TTL, skew), Ok(current));
        assert_eq!(check_extend(current, current - 1, now, SESSION_TTL, skew), Err(SdkError::InvalidExtendRequest));
        assert_eq!(check_extend(current, week + 301, now, SESSION_TTL, skew), Err(SdkError::InvalidExtendRequest));
        assert!(
            proposal_expired(Some(now), now) && !proposal_expired(Some(now + 1), now) && !proposal_expired(None, now)
        );
    }
}
