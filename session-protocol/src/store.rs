//! Where endpoint snapshots live between runs: a small storage trait with an
//! in-memory implementation (tests) and a file implementation (JSON, written to a
//! temporary file, synced, then renamed over the old one so a crash leaves either
//! the old or the new snapshot, never a torn one).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::endpoint::Snapshot;

/// Why a snapshot could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the file failed.
    #[error("snapshot file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The stored JSON is not a snapshot.
    #[error("stored snapshot is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Storage for the endpoint state.
pub trait SessionStore {
    /// Replaces the stored snapshot.
    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
    /// The stored snapshot, if any.
    fn load(&self) -> Result<Option<Snapshot>, StoreError>;
}

/// Keeps the snapshot in memory (serialised, as a file would).
#[derive(Default)]
pub struct MemoryStore {
    json: Option<zeroize::Zeroizing<String>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

impl SessionStore for MemoryStore {
    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.json = Some(zeroize::Zeroizing::new(serde_json::to_string(snapshot)?));
        Ok(())
    }

    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        self.json.as_ref().map(|j| serde_json::from_str(j)).transpose().map_err(StoreError::from)
    }
}

/// Keeps the snapshot in one JSON file, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path` (the file need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io { path: path.to_owned(), source }
    }
}

impl SessionStore for FileStore {
    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(snapshot)?);
        let tmp = self.path.with_extension("tmp");
        {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(Self::io(&tmp))?;
            file.write_all(&json).map_err(Self::io(&tmp))?;
            file.sync_all().map_err(Self::io(&tmp))?;
        }
        fs::rename(&tmp, &self.path).map_err(Self::io(&self.path))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = fs::File::open(dir)
        {
            // Best effort: persist the rename itself.
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                Ok(Some(serde_json::from_slice(&bytes)?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io { path: self.path.clone(), source: e }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Config, Endpoint, Now};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::time::{Instant, UNIX_EPOCH};

    fn snapshot() -> Snapshot {
        let now = Now::new(Instant::now(), UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
        let mut ep = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(1));
        let _ = ep.create_pairing(now);
        ep.snapshot()
    }

    #[test]
    fn file_store_round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut store = FileStore::new(&path);
        assert!(store.load().unwrap().is_none(), "missing file means no snapshot");
        let snap = snapshot();
        store.save(&snap).unwrap();
        store.save(&snap).unwrap();
        assert!(store.load().unwrap() == Some(snap));
        assert!(!path.with_extension("tmp").exists(), "temporary file renamed away");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(FileStore::new(&path).load(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn memory_store_round_trips() {
        let mut store = MemoryStore::new();
        assert!(store.load().unwrap().is_none());
        let snap = snapshot();
        store.save(&snap).unwrap();
        assert!(store.load().unwrap() == Some(snap));
    }
}
