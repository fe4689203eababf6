//! The node's secp256k1 key (stable peer id across restarts): given as hex
//! (`--node-key`, like nwaku's `--nodekey`), or kept as hex in
//! `<data_dir>/node-key` with owner-only permissions and created on first
//! start. `heliograph key generate` makes one. A key is never logged: its
//! `Debug` is redacted and `--print-config` leaves it out.

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
    /// A node key given as text is not a 32-byte hex secp256k1 secret.
    #[error("invalid node key: expected 64 hex characters of a secp256k1 secret key")]
    Invalid,
    /// `key generate --out` would overwrite a file.
    #[error("{0} exists; not overwriting a node key")]
    Exists(PathBuf),
}

/// A secp256k1 node key given as hex; `Debug` never shows it.
#[derive(Clone)]
pub struct NodeKey(secp256k1::SecretKey);

impl NodeKey {
    /// A fresh random key.
    pub fn generate() -> NodeKey {
        NodeKey(secp256k1::SecretKey::generate())
    }

    /// The keypair.
    pub fn keypair(&self) -> secp256k1::Keypair {
        self.0.clone().into()
    }

    /// The libp2p peer id of this key.
    pub fn peer_id(&self) -> libp2p::PeerId {
        libp2p_keypair(&self.keypair()).public().to_peer_id()
    }

    /// The secret as 64 hex characters (for `key generate` only).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// Writes the key as a new file readable by its owner only; refuses to overwrite.
    pub fn write_new(&self, path: &Path) -> Result<(), IdentityError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let io = |source| IdentityError::Io { path: path.to_owned(), source };
        let mut file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => IdentityError::Exists(path.to_owned()),
            _ => io(e),
        })?;
        file.write_all(format!("{}\n", self.to_hex()).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKey(<redacted>)")
    }
}

impl PartialEq for NodeKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.to_bytes().ct_eq(&other.0.to_bytes()).into()
    }
}

impl std::str::FromStr for NodeKey {
    type Err = IdentityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = hex::decode(text).map_err(|_| IdentityError::Invalid)?;
        secp256k1::SecretKey::try_from_bytes(&mut bytes).map(NodeKey).map_err(|_| IdentityError::Invalid)
    }
}

impl<'de> serde::Deserialize<'de> for NodeKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
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

    #[test]
    fn node_keys_parse_from_hex_never_debug_print_and_are_not_overwritten() {
        let key = NodeKey::generate();
        let hex = key.to_hex();
        assert_eq!(hex.len(), 64);
        let parsed: NodeKey = hex.parse().expect("hex");
        assert_eq!(parsed, key);
        assert_eq!(format!("0x{hex}").parse::<NodeKey>().expect("0x prefix").peer_id(), key.peer_id());
        assert!(!format!("{key:?}").contains(&hex), "Debug shows the secret");
        assert!(matches!("abcd".parse::<NodeKey>(), Err(IdentityError::Invalid)));
        assert!(matches!("0".repeat(64).parse::<NodeKey>(), Err(IdentityError::Invalid)), "zero is no secp256k1 key");
        let dir = tempfile::tempdir().expect("tempdir");
        key.write_new(&dir.path().join(KEY_FILE)).expect("new file");
        assert_eq!(load_or_create(dir.path()).expect("load").public(), key.keypair().public(), "the node loads it");
        assert!(matches!(NodeKey::generate().write_new(&dir.path().join(KEY_FILE)), Err(IdentityError::Exists(_))));
    }
}
