//! The capability-token ids (`jti`) already used, with their expiry, so each
//! token is accepted once, also across restarts: every id is appended to a
//! file in the data dir and fsynced before its token is accepted. On load,
//! expired and torn (half-written) lines are dropped and the file is
//! rewritten; it is rewritten again whenever it holds twice the live ids.
//! Ids are kept as 16 bytes of their sha256, so a line is at most 54 bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::journal_file::{self, JournalFile};

/// Most remembered ids (a capability token lives at most 30 days).
pub const MAX_SEEN: usize = 100_000;

/// Why an id was not recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeenError {
    /// Used before: a replay.
    #[error("already used")]
    Replayed,
    /// [`MAX_SEEN`] ids are live; forgetting one would reopen its replay.
    #[error("too many live capability tokens (at most {MAX_SEEN}); let some expire")]
    Full,
    /// The file could not be read or written; the token is not accepted.
    #[error("cannot record the token id in {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        message: String,
    },
}

type Id = [u8; 16];

fn id_of(jti: &str) -> Id {
    let digest = Sha256::digest(jti.as_bytes());
    let mut id = [0; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

fn line(id: &Id, exp: u64) -> String {
    format!("{exp} {}\n", hex::encode(id))
}

/// The seen ids, in memory and, if opened with a file, on disk.
pub struct SeenJti {
    ids: HashMap<Id, u64>,
    journal: Option<JournalFile>,
}

impl SeenJti {
    /// Memory only (lost on restart).
    pub fn in_memory() -> SeenJti {
        SeenJti { ids: HashMap::new(), journal: None }
    }

    /// Loads `path` (missing: none seen), keeping the ids whose `exp` is after `now`,
    /// rewrites it with those only, and appends to it from then on.
    pub fn open(path: &Path, now: u64) -> Result<SeenJti, SeenError> {
        let io = |e: std::io::Error| SeenError::Io { path: path.to_owned(), message: e.to_string() };
        let text = journal_file::read(path).map_err(io)?;
        let mut ids = HashMap::new();
        for entry in text.lines() {
            let parsed = entry.split_once(' ').and_then(|(exp, id)| {
                let exp = exp.parse::<u64>().ok()?;
                let id: Id = hex::decode(id).ok()?.try_into().ok()?;
                Some((id, exp))
            });
            // A torn last line (a crash mid-append) was never acknowledged: skip it.
            if let Some((id, exp)) = parsed.filter(|(_, exp)| *exp > now)
                && ids.len() < MAX_SEEN
            {
                ids.insert(id, exp);
            }
        }
        let mut seen = SeenJti { ids, journal: None };
        seen.journal = Some(seen.rewrite(path).map_err(io)?);
        Ok(seen)
    }

    /// Writes the live ids to a new file, syncs it and renames it over `path`.
    fn rewrite(&self, path: &Path) -> std::io::Result<JournalFile> {
        let text: String = self.ids.iter().map(|(id, exp)| line(id, *exp)).collect();
        JournalFile::rewrite(path, &text, self.ids.len())
    }

    /// Records `jti` (valid until `exp`) as used at `now`: on disk first (synced), then in memory.
    pub fn record(&mut self, jti: &str, exp: u64, now: u64) -> Result<(), SeenError> {
        let id = id_of(jti);
        if self.ids.contains_key(&id) {
            return Err(SeenError::Replayed);
        }
        if self.ids.len() >= MAX_SEEN {
            self.ids.retain(|_, e| *e > now);
            if self.ids.len() >= MAX_SEEN {
                return Err(SeenError::Full);
            }
        }
        if let Some(journal) = &mut self.journal {
            let appended = journal.append(&line(&id, exp));
            appended.map_err(|e| SeenError::Io { path: journal.path().to_owned(), message: e.to_string() })?;
        }
        self.ids.insert(id, exp);
        if let Some(journal) = &self.journal
            && journal.lines() >= 2 * MAX_SEEN
        {
            self.ids.retain(|_, e| *e > now);
            let path = journal.path().to_owned();
            // The id is on disk already; a failed compaction keeps appending to the old file.
            if let Ok(compacted) = self.rewrite(&path) {
                self.journal = Some(compacted);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn ids_survive_a_reopen_and_expired_or_torn_lines_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seen");
        let mut seen = SeenJti::open(&path, NOW).expect("open");
        seen.record("a", NOW + 100, NOW).expect("a");
        seen.record("b", NOW + 5, NOW).expect("b");
        assert_eq!(seen.record("a", NOW + 100, NOW), Err(SeenError::Replayed));
        drop(seen);
        // A crash mid-append leaves a torn line.
        let mut file = OpenOptions::new().append(true).open(&path).expect("append");
        file.write_all(b"18000001").expect("torn");
        drop(file);
        let mut seen = SeenJti::open(&path, NOW + 10).expect("reopen");
        assert_eq!(seen.record("a", NOW + 100, NOW + 10), Err(SeenError::Replayed), "a replay after a restart");
        assert_eq!(seen.ids.len(), 1, "b expired and the torn line are dropped");
        assert_eq!(std::fs::read_to_string(&path).expect("read").lines().count(), 1, "the file is compacted");
        seen.record("b", NOW + 100, NOW + 10).expect("an expired id is forgotten with its token");
    }

    #[test]
    fn an_unwritable_file_refuses_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = SeenJti::open(&dir.path().join("missing-dir").join("seen"), NOW).err().expect("cannot create");
        assert!(matches!(err, SeenError::Io { .. }), "{err}");
    }
}
