//! The node's persistent secp256k1 key (stable peer id across restarts), kept
//! as hex in `<data_dir>/node-key` with owner-only permissions, as nwaku's
//! `--nodekey` is.

use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::identity::{Keypair, secp256k1};

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "node-key";

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing the key file failed.
    #[error("node key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file does not hold a 32-byte hex secp256k1 secret.
    #[error("node key file {0} is corrupt: expected 64 hex characters of a secp256k1 secret key")]
    Corrupt(PathBuf),
}

/// Loads the node key from `data_dir`, creating it (and the folder) on first start.
pub fn load_or_create(data_dir: &Path) -> Result<secp256k1::Keypair, IdentityError> {
    let path = data_dir.join(KEY_FILE);
    let io = |source| IdentityError::Io { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut bytes = hex::decode(text.trim()).map_err(|_| IdentityError::Corrupt(path.clone()))?;
            let secret =
                secp256k1::SecretKey::try_from_bytes(&mut bytes).map_err(|_| IdentityError::Corrupt(path.clone()))?;
            Ok(secret.into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let keypair = secp256k1::Keypair::generate();
            write_private(&path, hex::encode(keypair.secret().to_bytes()).as_bytes()).map_err(io)?;
            Ok(keypair)
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a file readable by its owner only, atomically (temp file + rename).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The libp2p keypair of a secp256k1 node key.
pub fn libp2p_keypair(key: &secp256k1::Keypair) -> Keypair {
    Keypair::from(key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_survives_reload_and_corruption_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("create");
        let second = load_or_create(dir.path()).expect("load");
        assert_eq!(first.public(), second.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "key must not be readable by others");
        }
        std::fs::write(dir.path().join(KEY_FILE), "not hex").expect("write");
        assert!(matches!(load_or_create(dir.path()), Err(IdentityError::Corrupt(_))));
    }
}
