//! Shared parts of the `wallet` and `dapp` examples: relay and state flags,
//! starting the driver, JSON-line output, and Ethereum key helpers.

#![allow(dead_code)] // Each example uses a different part.

pub mod control;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use heliograph_session::driver::{ClientKey, Driver, DriverConfig, restore_or_new};
use heliograph_session::{Config, FileStore};
use k256::ecdsa::SigningKey;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Where the relay is and where state lives.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Relay (Heliograph bridge) URL.
    #[arg(long, env = "HELIOGRAPH_RELAY", default_value = "ws://127.0.0.1:8090")]
    pub relay: String,
    /// WalletConnect project id sent to the relay.
    #[arg(long, default_value = "heliograph-example")]
    pub project_id: String,
    /// Session snapshot file (JSON, mode 0600); a restarted process resumes from it.
    #[arg(long)]
    pub state: PathBuf,
    /// Relay client key file [default: the state file with `.client-key` appended].
    #[arg(long)]
    pub client_key: Option<PathBuf>,
    /// Send a heartbeat ping after this many seconds without sending.
    #[arg(long, default_value_t = 30)]
    pub heartbeat_secs: u64,
    /// Report the peer offline after this many seconds without hearing from it.
    #[arg(long, default_value_t = 90)]
    pub offline_secs: u64,
    /// Take commands as JSON lines on stdin and report every event as JSON lines
    /// on stdout (see `common/control.rs`), instead of running the scripted flow.
    #[arg(long)]
    pub control: bool,
}

/// Starts the driver with the state in `args.state` (restored if present).
/// Returns the driver and whether it resumed saved state.
pub fn start(args: &RelayArgs, name: &str, shutdown: CancellationToken) -> anyhow::Result<(Driver, bool)> {
    let config = Config {
        metadata: serde_json::json!({"name": name, "description": "Heliograph example", "url": format!("https://{name}.example"), "icons": []}),
        heartbeat_interval: Duration::from_secs(args.heartbeat_secs),
        offline_after: Duration::from_secs(args.offline_secs),
        ..Config::default()
    };
    let store = FileStore::new(&args.state);
    let (endpoint, restored) = restore_or_new(config, &store).context("loading the session state")?;
    let key_path = args.client_key.clone().unwrap_or_else(|| {
        let mut p = args.state.clone().into_os_string();
        p.push(".client-key");
        p.into()
    });
    let key = ClientKey::load_or_create(&key_path)?;
    let mut driver_config = DriverConfig::new(&args.relay);
    driver_config.project_id.clone_from(&args.project_id);
    let driver = Driver::spawn(endpoint, key, Some(Box::new(store)), driver_config, shutdown)?;
    Ok((driver, restored))
}

/// Logs (`RUST_LOG`, default `info`) go to stderr, next to the human text.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Prints one machine-readable JSON line on stdout.
pub fn emit(value: Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout only loses the log line.
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Prints human-readable text on stderr.
pub fn human(text: &str) {
    eprintln!("{text}");
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        token.cancel();
    });
}

/// `0x`-prefixed lowercase hex address of a key.
pub fn address_of(key: &SigningKey) -> String {
    format!("0x{}", hex::encode(heliograph_session::linking::eth_address(key.verifying_key())))
}

/// The bytes `personal_sign` signs: hex-decoded when `0x`-prefixed, else UTF-8.
pub fn personal_message(text: &str) -> Vec<u8> {
    text.strip_prefix("0x").and_then(|h| hex::decode(h).ok()).unwrap_or_else(|| text.as_bytes().to_vec())
}

/// EIP-191 `personal_sign`: 65 bytes r ‖ s ‖ v (27 or 28), `0x`-hex.
pub fn personal_sign(key: &SigningKey, message: &[u8]) -> String {
    let (sig, recid) = key.sign_prehash_recoverable(&heliograph_session::linking::eip191_hash(message));
    let mut bytes = sig.to_bytes().to_vec();
    bytes.push(27 + recid.to_byte());
    format!("0x{}", hex::encode(bytes))
}
