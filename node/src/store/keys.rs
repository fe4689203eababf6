//! Key layout of the store. Times are stored so that byte order is time
//! order (sign bit flipped, big-endian); topics are length-prefixed so one
//! topic can never be a prefix of another's keys.

use crate::waku::hash::MessageHash;

/// A time as 8 bytes whose byte order is numeric order.
pub fn time(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time encoded by [`time`].
pub fn decode_time(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

fn push_topic(out: &mut Vec<u8>, topic: &str) {
    let len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&topic.as_bytes()[..usize::from(len)]);
}

/// The index prefix under which a query scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// Every message.
    All,
    /// Messages of one pubsub topic.
    Pubsub(String),
    /// Messages of one content topic on one pubsub topic.
    Content(String, String),
}

impl Prefix {
    /// The prefix bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Prefix::All => {}
            Prefix::Pubsub(p) => push_topic(&mut out, p),
            Prefix::Content(p, c) => {
                push_topic(&mut out, p);
                push_topic(&mut out, c);
            }
        }
        out
    }

    /// The full index key of a message under this prefix.
    pub fn key(&self, ts: i64, hash: &MessageHash) -> Vec<u8> {
        let mut out = self.bytes();
        out.extend_from_slice(&time(ts));
        out.extend_from_slice(hash);
        out
    }

    /// Splits an index key under this prefix into time and hash.
    pub fn split(&self, key: &[u8]) -> Option<(i64, MessageHash)> {
        let rest = key.get(self.bytes().len()..)?;
        let ts = decode_time(rest)?;
        let hash = rest.get(8..40)?.try_into().ok()?;
        Some((ts, hash))
    }

    /// Key range `[lower, upper)` covering times `start..=end` under this prefix.
    pub fn time_range(&self, start: i64, end: i64) -> (Vec<u8>, Vec<u8>) {
        let mut lower = self.bytes();
        lower.extend_from_slice(&time(start));
        let upper = match end.checked_add(1) {
            Some(next) => {
                let mut upper = self.bytes();
                upper.extend_from_slice(&time(next));
                upper
            }
            None => successor(self.bytes()),
        };
        (lower, upper)
    }
}

/// The smallest key greater than every key starting with `prefix`
/// (all-0xff prefixes map to a key past every realistic key).
fn successor(mut prefix: Vec<u8>) -> Vec<u8> {
    while let Some(last) = prefix.pop() {
        if last < 0xff {
            prefix.push(last + 1);
            return prefix;
        }
    }
    vec![0xff; 64]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bytes_sort_like_times() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000_000_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(time(pair[0]) < time(pair[1]), "{pair:?}");
        }
        for t in times {
            assert_eq!(decode_time(&time(t)), Some(t));
        }
    }

    #[test]
    fn topics_cannot_shadow_each_other() {
        let a = Prefix::Pubsub("/waku/2/rs/1/1".into()).key(5, &[0; 32]);
        let b = Prefix::Pubsub("/waku/2/rs/1/10".into()).bytes();
        assert!(!a.starts_with(&b));
        let p = Prefix::Content("/p".into(), "/c".into());
        assert_eq!(p.split(&p.key(-7, &[9; 32])), Some((-7, [9; 32])));
    }

    #[test]
    fn ranges_include_both_ends() {
        let p = Prefix::Pubsub("/t".into());
        let (lo, hi) = p.time_range(10, 20);
        for (ts, inside) in [(9, false), (10, true), (20, true), (21, false)] {
            let key = p.key(ts, &[0xff; 32]);
            assert_eq!(key >= lo && key < hi, inside, "ts {ts}");
        }
        let (_, hi) = p.time_range(0, i64::MAX);
        assert!(p.key(i64::MAX, &[0xff; 32]) < hi);
    }
}
