//! The WebSocket bridge for dapps and wallets: JSON-RPC 2.0 over one
//! WebSocket listener serving the `waku_*` methods and a WalletConnect v2
//! relay (`irn_*`, `wc_*`) whose topics travel through the Waku mesh and
//! store. The API is documented in docs/bridge.md.

pub mod client_ip;
pub mod fanout;
pub mod hub;
pub mod journal_file;
pub mod jsonrpc;
pub mod metrics;
pub mod pump;
pub mod router;
pub mod seen_jti;
pub mod server;
pub mod session;
pub mod token_journal;
pub mod tokens;
pub mod topics;
pub mod turn_methods;
pub mod waku_methods;
pub mod walletconnect;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::p2p::NetworkHandle;
use crate::store::Store;
pub use metrics::BridgeMetrics;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The listener could not be bound.
    #[error("cannot bind the bridge on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// The token configuration is invalid.
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    /// The TURN settings are invalid, or the secret file cannot be read.
    #[error(transparent)]
    Turn(#[from] crate::config::ConfigError),
}

/// Starts the bridge: its listener and its fan-out task. Returns the bound address and the tasks.
pub async fn spawn(
    config: &Config,
    network: NetworkHandle,
    publisher: crate::publish::Publisher,
    store: Option<Store>,
    metrics: BridgeMetrics,
    tokens: Arc<tokens::Tokens>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, Vec<tokio::task::JoinHandle<()>>), BridgeError> {
    let turn = config.turn.issuer()?;
    let hub = hub::Hub::new(config, network, publisher, store, metrics, tokens, turn);
    let fanout = fanout::spawn(Arc::clone(&hub), shutdown.clone());
    let (addr, server) = server::serve(config.bridge.addr, hub, shutdown)
        .await
        .map_err(|source| BridgeError::Bind { addr: config.bridge.addr, source })?;
    Ok((addr, vec![fanout, server]))
}
