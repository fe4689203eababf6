//! The live opaque bridge tokens, kept across restarts: for each token its
//! non-secret id, the sha256 of the token (never the token), its expiry and
//! its subject. Every change (issue, refresh, revoke) is appended to a file in
//! the data dir and fsynced before it is acknowledged; on load, expired,
//! revoked and torn (half-written) entries are dropped and the file is
//! rewritten, and it is rewritten again whenever it holds twice the live
//! tokens.
//!
//! Why a journal and not the RocksDB store: the store is optional
//! (`store.enabled = false` runs a relay-only node) while a bridge token must
//! outlive a restart on every node, and the store's column families hold
//! messages and their indexes only; a few thousand short lines, rewritten
//! now and then, need nothing more (the same reasoning as [`super::seen_jti`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::journal_file::{self, JournalFile};

/// Why a change was not recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JournalError {
    /// The file could not be read or written; the change did not happen.
    #[error("cannot record the bridge token in {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        message: String,
    },
}

/// One live opaque token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// sha256 of the token.
    pub hash: [u8; 32],
    /// Unix seconds after which it is refused.
    pub expires: u64,
    /// Who it names (rate limits, re-authentication).
    pub subject: String,
}

/// Live opaque tokens by id, with an index by hash; on disk if opened with a file.
#[derive(Default)]
pub struct TokenJournal {
    by_id: HashMap<String, Entry>,
    by_hash: HashMap<[u8; 32], String>,
    journal: Option<JournalFile>,
}

/// Whether `s` can be written on a journal line as one word (ids and subjects are checked by their callers).
fn is_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

fn add_line(id: &str, entry: &Entry) -> String {
    format!("+ {id} {} {} {}\n", hex::encode(entry.hash), entry.expires, entry.subject)
}

impl TokenJournal {
    /// Memory only (lost on restart).
    pub fn in_memory() -> TokenJournal {
        TokenJournal::default()
    }

    /// Loads `path` (missing: no tokens), keeping the tokens live at `now`,
    /// rewrites it with those only, and appends to it from then on.
    pub fn open(path: &Path, now: u64) -> Result<TokenJournal, JournalError> {
        let io = |e: std::io::Error| JournalError::Io { path: path.to_owned(), message: e.to_string() };
        let text = journal_file::read(path).map_err(io)?;
        let mut tokens = TokenJournal::default();
        // A torn last line (a crash mid-append) was never acknowledged: it does not parse and is skipped.
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["+", id, hash, expires, subject] => {
                    let hash: Option<[u8; 32]> = hex::decode(hash).ok().and_then(|h| h.try_into().ok());
                    if let (Some(hash), Ok(expires)) = (hash, expires.parse::<u64>())
                        && is_word(id)
                        && is_word(subject)
                    {
                        tokens.put(id, Entry { hash, expires, subject: (*subject).to_owned() });
                    }
                }
                ["~", id, expires] => {
                    if let (Some(entry), Ok(expires)) = (tokens.by_id.get_mut(*id), expires.parse::<u64>()) {
                        entry.expires = expires;
                    }
                }
                ["-", id] => tokens.forget(id),
                _ => {}
            }
        }
        tokens.prune(now);
        tokens.journal = Some(tokens.rewrite(path).map_err(io)?);
        Ok(tokens)
    }

    fn put(&mut self, id: &str, entry: Entry) {
        self.forget(id);
        self.by_hash.insert(entry.hash, id.to_owned());
        self.by_id.insert(id.to_owned(), entry);
    }

    fn forget(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            self.by_hash.remove(&old.hash);
        }
    }

    /// Drops the tokens expired at `now` (in memory; the next rewrite drops them on disk).
    pub fn prune(&mut self, now: u64) {
        let by_hash = &mut self.by_hash;
        self.by_id.retain(|_, entry| {
            let live = entry.expires > now;
            if !live {
                by_hash.remove(&entry.hash);
            }
            live
        });
    }

    /// Live tokens (expired ones included until pruned).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The token whose hash is `hash`, with its id.
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<(&str, &Entry)> {
        let id = self.by_hash.get(hash)?;
        self.by_id.get(id).map(|entry| (id.as_str(), entry))
    }

    /// The token `id`.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id)
    }

    /// Records a new token: on disk first (synced), then in memory.
    pub fn insert(&mut self, id: &str, entry: Entry) -> Result<(), JournalError> {
        debug_assert!(is_word(id) && is_word(&entry.subject));
        self.append(&add_line(id, &entry))?;
        self.put(id, entry);
        Ok(())
    }

    /// Sets the expiry of token `id`; false if there is none.
    pub fn set_expiry(&mut self, id: &str, expires: u64) -> Result<bool, JournalError> {
        if !self.by_id.contains_key(id) {
            return Ok(false);
        }
        self.append(&format!("~ {id} {expires}\n"))?;
        if let Some(entry) = self.by_id.get_mut(id) {
            entry.expires = expires;
        }
        Ok(true)
    }

    /// Revokes token `id`; false if there is none.
    pub fn remove(&mut self, id: &str) -> Result<bool, JournalError> {
        if !self.by_id.contains_key(id) {
            return Ok(false);
        }
        self.append(&format!("- {id}\n"))?;
        self.forget(id);
        Ok(true)
    }

    /// Appends `line` and syncs it; compacts the file when it holds twice the live tokens.
    fn append(&mut self, line: &str) -> Result<(), JournalError> {
        let Some(journal) = &mut self.journal else { return Ok(()) };
        let appended = journal.append(line);
        appended.map_err(|e| JournalError::Io { path: journal.path().to_owned(), message: e.to_string() })?;
        if journal.lines() >= 2 * self.by_id.len() + 64 {
            let path = journal.path().to_owned();
            // The change is on disk already; a failed compaction keeps appending to the old file.
            if let Ok(compacted) = self.rewrite(&path) {
                self.journal = Some(compacted);
            }
        }
        Ok(())
    }

    /// Writes the live tokens to a new file, syncs it and renames it over `path`.
    fn rewrite(&self, path: &Path) -> std::io::Result<JournalFile> {
        let text: String = self.by_id.iter().map(|(id, entry)| add_line(id, entry)).collect();
        JournalFile::rewrite(path, &text, self.by_id.len())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn entry(byte: u8, expires: u64) -> Entry {
        Entry { hash: [byte; 32], expires, subject: "app".into() }
    }

    #[test]
    fn tokens_survive_a_reopen_with_refreshes_and_revocations_and_torn_lines_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        let mut tokens = TokenJournal::open(&path, NOW).expect("open");
        tokens.insert("a", entry(1, NOW + 100)).expect("a");
        tokens.insert("b", entry(2, NOW + 5)).expect("b");
        tokens.insert("c", entry(3, NOW + 100)).expect("c");
        assert!(tokens.set_expiry("b", NOW + 200).expect("refresh"));
        assert!(tokens.remove("c").expect("revoke"));
        assert!(!tokens.remove("c").expect("unknown"), "revoked once");
        assert!(!tokens.set_expiry("zz", NOW).expect("unknown"));
        drop(tokens);
        let mut file = OpenOptions::new().append(true).open(&path).expect("append");
        file.write_all(b"+ d 0101").expect("torn");
        drop(file);
        let tokens = TokenJournal::open(&path, NOW + 150).expect("reopen");
        assert_eq!(tokens.len(), 1, "a expired, c revoked, the torn d dropped");
        assert_eq!(tokens.get("b"), Some(&entry(2, NOW + 200)), "the refresh survived");
        assert_eq!(tokens.by_hash(&[2; 32]).map(|(id, _)| id), Some("b"));
        assert_eq!(tokens.by_hash(&[3; 32]), None, "a revoked token is not found by its hash");
        assert_eq!(std::fs::read_to_string(&path).expect("read").lines().count(), 1, "compacted");
    }

    #[test]
    fn an_unwritable_file_refuses_to_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = TokenJournal::open(&dir.path().join("missing-dir").join("tokens"), NOW).err().expect("cannot create");
        assert!(matches!(err, JournalError::Io { .. }), "{err}");
    }
}
