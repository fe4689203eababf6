//! Serialisable endpoint state, so a restarted wallet or dapp resumes its
//! pairings and established sessions (keys, topics, grants, pending requests,
//! replay windows) without pairing again. Proposals in flight and sessions still
//! settling are not saved: they are short-lived and simply proposed again.
//!
//! The snapshot holds secret keys: store it where secrets belong.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroize;

use crate::keys::{KeyError, SymKey, Topic};
use crate::namespaces::{ItemResult, Namespaces};
use crate::permissions::{PendingChange, PermissionSet};
use crate::presence::Presence;
use crate::replay::ReplayWindow;
use crate::rpc::IdGenerator;

use super::state::{Pairing, PendingOut, Phase, Session};
use super::{Config, Endpoint, Now, Role, SecureRng, TopicChange};

/// Format version written into every snapshot.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Written by an incompatible version.
    #[error("snapshot version {0} is not supported (expected {SNAPSHOT_VERSION})")]
    Version(u32),
    /// A key in the snapshot is malformed.
    #[error("snapshot key is invalid: {0}")]
    Key(#[from] KeyError),
    /// A topic does not match its key: the snapshot was altered.
    #[error("snapshot topic {0} does not match its key")]
    TopicMismatch(Topic),
}

/// A saved pairing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingSnapshot {
    /// Pairing topic.
    pub topic: Topic,
    /// Hex symmetric key (secret).
    pub sym_key: String,
    /// Expiry, unix seconds.
    pub expiry: u64,
    /// Replay window of the topic.
    pub window: ReplayWindow,
}

/// A saved pending outgoing request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSnapshot {
    /// Method of the request.
    pub method: String,
    /// Deadline, unix ms.
    pub deadline_unix_ms: u64,
    /// Whether the application sees its answer.
    pub internal: bool,
    /// Permission change applied when the answer arrives.
    #[serde(default)]
    pub change: Option<PendingChange>,
}

/// A saved established session.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    /// Session topic.
    pub topic: Topic,
    /// Hex symmetric key (secret).
    pub sym_key: String,
    /// Pairing topic.
    pub pairing: Topic,
    /// Our role.
    pub role: Role,
    /// Peer metadata.
    pub peer_metadata: Value,
    /// Granted namespaces.
    pub namespaces: Namespaces,
    /// Per-item answers of the proposal.
    pub results: Vec<ItemResult>,
    /// Expiry, unix seconds.
    pub expiry: u64,
    /// EIP-2255 permissions.
    pub permissions: PermissionSet,
    /// Our requests waiting for a response, by id.
    pub pending_out: BTreeMap<u64, PendingSnapshot>,
    /// Peer requests we have not answered.
    pub inbound_pending: Vec<u64>,
    /// Replay window of the topic.
    pub window: ReplayWindow,
}

/// Everything needed to resume an endpoint.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// Last request id issued (ids keep increasing across restarts).
    pub last_id: u64,
    /// Pairings.
    pub pairings: Vec<PairingSnapshot>,
    /// Established sessions.
    pub sessions: Vec<SessionSnapshot>,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.pairings.iter_mut().for_each(|p| p.sym_key.zeroize());
        self.sessions.iter_mut().for_each(|s| s.sym_key.zeroize());
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("pairings", &self.pairings.iter().map(|p| &p.topic).collect::<Vec<_>>())
            .field("sessions", &self.sessions.iter().map(|s| &s.topic).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn key_for(topic: &Topic, hex: &str) -> Result<SymKey, SnapshotError> {
    let key = SymKey::from_hex(hex)?;
    if &key.topic() != topic {
        return Err(SnapshotError::TopicMismatch(topic.clone()));
    }
    Ok(key)
}

impl Endpoint {
    /// Saves pairings and established sessions.
    pub fn snapshot(&self) -> Snapshot {
        let pairings = self
            .pairings
            .iter()
            .map(|(topic, p)| PairingSnapshot {
                topic: topic.clone(),
                sym_key: p.key.to_hex().to_string(),
                expiry: p.expiry,
                window: p.window.clone(),
            })
            .collect();
        let sessions = self
            .sessions
            .iter()
            .filter(|(_, s)| matches!(s.phase, Phase::Active))
            .map(|(topic, s)| SessionSnapshot {
                topic: topic.clone(),
                sym_key: s.key.to_hex().to_string(),
                pairing: s.pairing.clone(),
                role: s.role,
                peer_metadata: s.peer_metadata.clone(),
                namespaces: s.namespaces.clone(),
                results: s.results.clone(),
                expiry: s.expiry,
                permissions: s.permissions.clone(),
                pending_out: s
                    .pending_out
                    .iter()
                    .map(|(id, p)| {
                        let saved = PendingSnapshot {
                            method: p.method.clone(),
                            deadline_unix_ms: p.deadline_unix_ms,
                            internal: p.internal,
                            change: p.change.clone(),
                        };
                        (*id, saved)
                    })
                    .collect(),
                inbound_pending: s.inbound_pending.iter().copied().collect(),
                window: s.window.clone(),
            })
            .collect();
        Snapshot { version: SNAPSHOT_VERSION, last_id: self.ids.last(), pairings, sessions }
    }

    /// Rebuilds an endpoint from a snapshot; it re-subscribes every topic (see
    /// `poll_topic_change`). Timers are re-anchored on `now`.
    pub fn restore(
        config: Config,
        rng: impl SecureRng + Send + 'static,
        snapshot: &Snapshot,
        now: Now,
    ) -> Result<Self, SnapshotError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(snapshot.version));
        }
        let mut ep = Endpoint::new(config, rng);
        ep.ids = IdGenerator::starting_after(snapshot.last_id);
        for p in &snapshot.pairings {
            let pairing = Pairing {
                key: key_for(&p.topic, &p.sym_key)?,
                expiry: p.expiry,
                expiry_at: now.instant_at_unix(p.expiry),
                window: p.window.clone(),
                outgoing: BTreeMap::new(),
                incoming: BTreeMap::new(),
                pings: BTreeMap::new(),
            };
            ep.pairings.insert(p.topic.clone(), pairing);
            ep.topic_changes.push_back(TopicChange::Subscribe(p.topic.clone()));
        }
        for s in &snapshot.sessions {
            let pending_out = s
                .pending_out
                .iter()
                .map(|(id, p)| {
                    let left = Duration::from_millis(p.deadline_unix_ms.saturating_sub(now.unix_ms()));
                    let pending = PendingOut {
                        method: p.method.clone(),
                        deadline: now.instant + left,
                        deadline_unix_ms: p.deadline_unix_ms,
                        internal: p.internal,
                        change: p.change.clone(),
                    };
                    (*id, pending)
                })
                .collect();
            let session = Session {
                key: key_for(&s.topic, &s.sym_key)?,
                pairing: s.pairing.clone(),
                role: s.role,
                phase: Phase::Active,
                peer_metadata: s.peer_metadata.clone(),
                namespaces: s.namespaces.clone(),
                results: s.results.clone(),
                expiry: s.expiry,
                expiry_at: now.instant_at_unix(s.expiry),
                permissions: s.permissions.clone(),
                pending_out,
                inbound_pending: s.inbound_pending.iter().copied().collect(),
                window: s.window.clone(),
                presence: Presence::new(ep.config.heartbeat_interval, ep.config.offline_after, now.instant),
            };
            ep.sessions.insert(s.topic.clone(), session);
            ep.topic_changes.push_back(TopicChange::Subscribe(s.topic.clone()));
        }
        Ok(ep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::time::{Instant, UNIX_EPOCH};

    #[test]
    fn altered_or_foreign_snapshots_are_refused() {
        let now = Now::new(Instant::now(), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let mut ep = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(1));
        let uri = ep.create_pairing(now);
        let snap = ep.snapshot();
        assert!(!format!("{snap:?}").contains(uri.sym_key.to_hex().as_str()), "no secrets in Debug");
        let restored = Endpoint::restore(Config::default(), ChaCha20Rng::seed_from_u64(2), &snap, now).unwrap();
        assert_eq!(restored.pairings().collect::<Vec<_>>(), vec![&uri.topic]);

        let mut wrong_version = snap.clone();
        wrong_version.version = 99;
        let err = Endpoint::restore(Config::default(), ChaCha20Rng::seed_from_u64(2), &wrong_version, now).unwrap_err();
        assert_eq!(err, SnapshotError::Version(99));

        let mut swapped = snap.clone();
        swapped.pairings[0].sym_key = "11".repeat(32);
        let err = Endpoint::restore(Config::default(), ChaCha20Rng::seed_from_u64(2), &swapped, now).unwrap_err();
        assert_eq!(err, SnapshotError::TopicMismatch(uri.topic.clone()));
    }
}
