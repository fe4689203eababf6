//! Health for operators and Kubernetes probes.
//!
//! - `GET /health`: nwaku's report, `{"nodeHealth": …, "protocolsHealth":
//!   [{"Relay": "READY"}, {"Store": "NOT_READY", "desc": "…"}, …]}` with
//!   nwaku's status words (`READY`, `NOT_READY`, `NOT_MOUNTED`,
//!   `SHUTTING_DOWN`); 200 when the node is ready, 503 otherwise.
//! - `GET /livez`: 200 while the node's network task answers (restart it if not).
//! - `GET /readyz`: 200 only when the node can do its job: the store, when
//!   enabled, opened and is writable (its writer thread takes a write and its
//!   folder takes a file), and, when bootstrap peers or ENR trees are
//!   configured, at least one relay peer is connected. A node meant to join a
//!   mesh that cannot reach it is not ready; a lone node without bootstrap
//!   peers is, once its store works.
//!
//! [`assess`] is the pure decision; the handlers only gather its inputs.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;
use crate::config::Config;

/// What readiness depends on, fixed by the configuration.
#[derive(Debug, Clone)]
pub struct Checks {
    /// Bootstrap peers or ENR trees are configured: a relay peer is expected.
    pub expects_peers: bool,
    /// The folder of the store, when the store is enabled.
    pub store_dir: Option<PathBuf>,
}

impl Checks {
    /// The checks a node with `config` needs.
    pub fn from_config(config: &Config) -> Checks {
        Checks {
            expects_peers: !config.network.bootstrap.is_empty() || !config.network.dns_discovery_urls.is_empty(),
            store_dir: config
                .store
                .enabled
                .then(|| config.store.path.clone().unwrap_or_else(|| config.data_dir.join("store"))),
        }
    }
}

/// A health word, as nwaku writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Working.
    Ready,
    /// Mounted but not working (see the description).
    NotReady,
    /// Not served by this node.
    NotMounted,
    /// The node is stopping.
    ShuttingDown,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "READY",
            Status::NotReady => "NOT_READY",
            Status::NotMounted => "NOT_MOUNTED",
            Status::ShuttingDown => "SHUTTING_DOWN",
        }
    }
}

/// The store as a probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreState {
    /// The store is turned off.
    Disabled,
    /// It took a write.
    Writable,
    /// It did not open, or a write failed: why.
    Failed(String),
}

/// What the handlers observed.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The network task answered.
    pub alive: bool,
    /// Connected peers that speak Waku relay.
    pub relay_peers: usize,
    /// The store probe.
    pub store: StoreState,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The node as a whole.
    pub node: Status,
    /// Per protocol, in nwaku's names, with a reason when not ready.
    pub protocols: Vec<(&'static str, Status, Option<String>)>,
    /// Why the node is not ready (empty when it is).
    pub reasons: Vec<String>,
}

impl Report {
    /// Ready for traffic.
    pub fn ready(&self) -> bool {
        self.node == Status::Ready
    }

    fn to_json(&self) -> Value {
        let protocols: Vec<Value> = self
            .protocols
            .iter()
            .map(|(name, status, desc)| {
                let mut entry = serde_json::Map::new();
                entry.insert((*name).to_owned(), json!(status.as_str()));
                if let Some(desc) = desc {
                    entry.insert("desc".into(), json!(desc));
                }
                Value::Object(entry)
            })
            .collect();
        json!({ "nodeHealth": self.node.as_str(), "protocolsHealth": protocols })
    }
}

/// Decides the node's health from what was observed.
pub fn assess(checks: &Checks, observed: &Observed) -> Report {
    if !observed.alive {
        return Report {
            node: Status::ShuttingDown,
            protocols: vec![("Relay", Status::ShuttingDown, None)],
            reasons: vec!["the node is shutting down".into()],
        };
    }
    let mut reasons = Vec::new();
    let relay = if observed.relay_peers > 0 {
        (Status::Ready, None)
    } else {
        (Status::NotReady, Some("no relay peers connected".to_owned()))
    };
    if observed.relay_peers == 0 && checks.expects_peers {
        reasons.push("bootstrap peers are configured but no relay peer is connected".to_owned());
    }
    let store = match &observed.store {
        StoreState::Disabled => (Status::NotMounted, None),
        StoreState::Writable => (Status::Ready, None),
        StoreState::Failed(why) => {
            reasons.push(format!("the store is not writable: {why}"));
            (Status::NotReady, Some(why.clone()))
        }
    };
    let protocols = vec![
        ("Relay", relay.0, relay.1),
        ("Rln Relay", Status::NotMounted, None),
        ("Store", store.0, store.1),
        ("Legacy Store", Status::NotMounted, None),
        ("Lightpush", Status::Ready, None),
        ("Legacy Lightpush", Status::Ready, None),
        ("Filter", Status::Ready, None),
        ("Peer Exchange", Status::Ready, None),
    ];
    let node = if reasons.is_empty() { Status::Ready } else { Status::NotReady };
    Report { node, protocols, reasons }
}

/// Probes the store: its writer takes an (empty) write and its folder takes a file.
async fn probe_store(state: &AppState) -> StoreState {
    let Some(dir) = &state.health.store_dir else { return StoreState::Disabled };
    let Some(store) = &state.store else {
        return StoreState::Failed("the store did not open (see the node's log)".into());
    };
    if let Err(e) = store.put(Vec::new()).await {
        return StoreState::Failed(format!("the store writer refused a write: {e}"));
    }
    let probe = dir.join(".health-probe");
    let written = tokio::fs::write(&probe, b"ok").await;
    let _ = tokio::fs::remove_file(&probe).await;
    match written {
        Ok(()) => StoreState::Writable,
        Err(e) => StoreState::Failed(format!("cannot write in {}: {e}", dir.display())),
    }
}

async fn observe(state: &AppState) -> Observed {
    let alive = state.network.info().await.is_some();
    let relay = heliograph_proto::protocol_id::RELAY;
    let relay_peers = if alive {
        state.network.peers().await.iter().filter(|p| p.protocols.iter().any(|proto| proto == relay)).count()
    } else {
        0
    };
    Observed { alive, relay_peers, store: probe_store(state).await }
}

fn code(ok: bool) -> StatusCode {
    if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

/// `GET /health`: nwaku's per-protocol report.
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let report = assess(&state.health, &observe(&state).await);
    (code(report.ready()), Json(report.to_json()))
}

/// `GET /livez`: the process serves and its network task answers.
pub async fn livez(State(state): State<AppState>) -> impl IntoResponse {
    let alive = state.network.info().await.is_some();
    (code(alive), Json(json!({ "alive": alive })))
}

/// `GET /readyz`: ready for traffic, or why not.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let report = assess(&state.health, &observe(&state).await);
    (code(report.ready()), Json(json!({ "ready": report.ready(), "reasons": report.reasons })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(expects_peers: bool) -> Checks {
        Checks { expects_peers, store_dir: Some(PathBuf::from("/tmp/store")) }
    }

    fn observed(relay_peers: usize, store: StoreState) -> Observed {
        Observed { alive: true, relay_peers, store }
    }

    fn status_of(report: &Report, name: &str) -> Status {
        report.protocols.iter().find(|(n, ..)| *n == name).map(|(_, s, _)| *s).expect("listed")
    }

    #[test]
    fn bootstrap_peers_configured_means_ready_only_with_a_relay_peer() {
        let lonely = assess(&checks(true), &observed(0, StoreState::Writable));
        assert!(!lonely.ready());
        assert_eq!(status_of(&lonely, "Relay"), Status::NotReady);
        assert!(lonely.reasons[0].contains("no relay peer"), "{:?}", lonely.reasons);
        let meshed = assess(&checks(true), &observed(1, StoreState::Writable));
        assert!(meshed.ready() && meshed.reasons.is_empty());
        assert_eq!(status_of(&meshed, "Relay"), Status::Ready);
        // Without bootstrap peers a lone node is ready; its relay still says it has no peers.
        let alone = assess(&checks(false), &observed(0, StoreState::Writable));
        assert!(alone.ready());
        assert_eq!(status_of(&alone, "Relay"), Status::NotReady);
    }

    #[test]
    fn a_failed_store_is_not_ready_and_a_disabled_one_not_mounted() {
        let failed = assess(&checks(false), &observed(3, StoreState::Failed("disk full".into())));
        assert!(!failed.ready());
        assert_eq!(status_of(&failed, "Store"), Status::NotReady);
        let json = failed.to_json();
        assert_eq!(json["nodeHealth"], "NOT_READY");
        assert!(
            json["protocolsHealth"]
                .as_array()
                .expect("list")
                .iter()
                .any(|p| p["Store"] == "NOT_READY" && p["desc"] == "disk full")
        );
        let off = assess(&checks(false), &observed(0, StoreState::Disabled));
        assert!(off.ready());
        assert_eq!(status_of(&off, "Store"), Status::NotMounted);
        assert_eq!(status_of(&off, "Rln Relay"), Status::NotMounted);
        let stopping = assess(&checks(false), &Observed { alive: false, relay_peers: 0, store: StoreState::Writable });
        assert_eq!(stopping.to_json()["nodeHealth"], "SHUTTING_DOWN");
    }
}
