//! A wallet on a Heliograph relay: pairs from a `wc:` URI (argument or stdin),
//! answers session proposals with a policy given by flags, and answers
//! `personal_sign` with a real EIP-191 signature. Human text goes to stderr,
//! one JSON object per line to stdout (for scripts and tests).
//!
//! ```text
//! cargo run -p heliograph-session --example wallet -- --relay ws://127.0.0.1:8090 \
//!     --state wallet.json --eth-key-file wallet.eth-key --uri 'wc:…' \
//!     --deny eip155/chains/eip155:137='not on this chain'
//! ```
//! Restarted with the same `--state` (and no URI), it resumes its sessions.
//! With `--control` it applies no policy and takes commands as JSON lines on
//! stdin instead (`common/control.rs`), which is how the e2e suites drive it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use heliograph_session::driver::DriverEvent;
use heliograph_session::namespaces::{Item, Outcome};
use heliograph_session::rpc::ErrorObject;
use heliograph_session::{Event, IncomingProposal};
use k256::ecdsa::SigningKey;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use common::{emit, human};

/// Wallet example: pair, approve by policy, sign.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    relay: common::RelayArgs,
    /// Pairing URI (`wc:…`); read from stdin when absent and nothing is saved.
    #[arg(long)]
    uri: Option<String>,
    /// secp256k1 private key file (hex); created when missing.
    #[arg(long)]
    eth_key_file: PathBuf,
    /// Deny an item `namespace/kind/value`, optionally `=reason` (repeatable).
    #[arg(long = "deny", value_name = "ITEM[=REASON]")]
    deny: Vec<String>,
    /// Deny every optional item.
    #[arg(long)]
    deny_optional: bool,
    /// Reject every proposal as a whole with this reason.
    #[arg(long)]
    reject: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    common::init_logging();
    let key = load_or_create_eth_key(&args.eth_key_file)?;
    let address = common::address_of(&key);
    let denied: BTreeMap<String, String> = args
        .deny
        .iter()
        .map(|d| match d.split_once('=') {
            Some((item, reason)) => (item.to_owned(), reason.to_owned()),
            None => (d.clone(), "denied by the wallet policy".to_owned()),
        })
        .collect();

    let shutdown = CancellationToken::new();
    common::cancel_on_signal(shutdown.clone());
    let (mut driver, restored) = common::start(&args.relay, "wallet", shutdown.clone())?;
    let handle = driver.handle.clone();
    let (pairings, sessions) = handle
        .call(|ep, _| {
            let topics = |it: &mut dyn Iterator<Item = &heliograph_session::Topic>| {
                it.map(|t| t.as_str().to_owned()).collect::<Vec<_>>()
            };
            (topics(&mut ep.pairings()), topics(&mut ep.sessions()))
        })
        .await?;
    emit(json!({"event": "ready", "role": "wallet", "address": address, "restored": restored,
        "pairings": pairings, "sessions": sessions}));
    if args.relay.control {
        let outcome = common::control::run(handle, &mut driver.events, Some(key), shutdown.clone()).await;
        shutdown.cancel();
        driver.join().await?;
        return outcome;
    }
    human(&format!("wallet {address}: {} saved session(s)", sessions.len()));

    if pairings.is_empty() || args.uri.is_some() {
        let uri = match &args.uri {
            Some(uri) => uri.clone(),
            None => {
                human("paste the wc: URI and press enter:");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).context("reading the URI from stdin")?;
                line.trim().to_owned()
            }
        };
        let pairing = handle.call(move |ep, now| ep.pair(&uri, now)).await??;
        emit(json!({"event": "paired", "pairing": pairing}));
        human(&format!("paired on {pairing}"));
    }

    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = driver.events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        match event {
            DriverEvent::RelayConnected => emit(json!({"event": "relay_connected"})),
            DriverEvent::RelayDisconnected { reason, retry_in } => {
                emit(
                    json!({"event": "relay_disconnected", "reason": reason, "retryInMs": retry_in.as_millis() as u64}),
                );
            }
            DriverEvent::PublishFailed { topic, tag, error } => {
                emit(json!({"event": "publish_failed", "topic": topic, "tag": tag, "error": error}));
            }
            DriverEvent::Endpoint(Event::Proposal(p)) => {
                answer_proposal(&handle, p, &args, &denied, &address).await?;
            }
            DriverEvent::Endpoint(Event::Connected(c)) => {
                emit(json!({"event": "connected", "session": c.session, "accounts": c.accounts,
                    "sas": c.short_auth_string, "peer": c.peer_metadata["name"]}));
                human(&format!("session {} connected; compare code {}", c.session, c.short_auth_string));
            }
            DriverEvent::Endpoint(Event::Request { session, id, chain_id, method, params }) => {
                emit(json!({"event": "request", "session": session, "id": id, "method": method, "chainId": chain_id}));
                let outcome = match method.as_str() {
                    "personal_sign" => sign(&key, &address, &params),
                    _ => Err(ErrorObject::new(4200, format!("method {method} is not supported by this wallet"))),
                };
                let signed = outcome.is_ok();
                let s = session.clone();
                handle.call(move |ep, now| ep.respond(&s, id, outcome, now)).await??;
                emit(json!({"event": "responded", "session": session, "id": id, "ok": signed}));
            }
            DriverEvent::Endpoint(Event::PermissionsRequested { session, id, capabilities }) => {
                let caps = capabilities.clone();
                handle.call(move |ep, now| ep.grant_permissions(&session, id, &caps, now)).await??;
                emit(json!({"event": "permissions_granted", "capabilities": capabilities}));
            }
            DriverEvent::Endpoint(event) => emit(common_event(&event)),
        }
    }
    drop(handle);
    driver.join().await?;
    Ok(())
}

/// Applies the policy flags to a proposal and answers it.
async fn answer_proposal(
    handle: &heliograph_session::driver::Handle,
    p: IncomingProposal,
    args: &Args,
    denied: &BTreeMap<String, String>,
    address: &str,
) -> anyhow::Result<()> {
    let items: Vec<Value> = p
        .request
        .items()
        .iter()
        .map(|(item, required)| json!({"item": item.to_string(), "required": required}))
        .collect();
    emit(json!({"event": "proposal", "pairing": p.pairing, "id": p.id, "items": items,
        "proposer": p.proposer_metadata["name"]}));
    if let Some(reason) = &args.reject {
        let (pairing, reason) = (p.pairing.clone(), reason.clone());
        handle.call(move |ep, _| ep.reject(&pairing, p.id, &reason)).await??;
        emit(json!({"event": "rejected", "id": p.id}));
        return Ok(());
    }
    let decide = {
        let denied = denied.clone();
        let deny_optional = args.deny_optional;
        move |item: &Item, required: bool| match denied.get(&item.to_string()) {
            Some(reason) => Outcome::Denied { reason: reason.clone() },
            None if deny_optional && !required => Outcome::Denied { reason: "optional items are off".into() },
            None => Outcome::Granted,
        }
    };
    // One account per granted eip155 chain.
    let accounts: Vec<String> = p
        .request
        .items()
        .iter()
        .filter(|(item, required)| {
            item.namespace == "eip155" && item.kind == "chains" && decide(item, *required) == Outcome::Granted
        })
        .map(|(item, _)| format!("{}:{address}", item.value))
        .collect();
    let pairing = p.pairing.clone();
    let id = p.id;
    let result = handle.call(move |ep, now| ep.approve(&pairing, id, decide, accounts, now)).await?;
    match result {
        Ok(session) => emit(json!({"event": "approved", "id": id, "session": session})),
        Err(e) => emit(json!({"event": "approve_failed", "id": id, "error": e.to_string()})),
    }
    Ok(())
}

/// Answers `personal_sign [message, address]`.
fn sign(key: &SigningKey, address: &str, params: &Value) -> Result<Value, ErrorObject> {
    let message = params.get(0).and_then(Value::as_str).ok_or_else(|| ErrorObject::new(-32602, "missing message"))?;
    if let Some(asked) = params.get(1).and_then(Value::as_str)
        && !asked.eq_ignore_ascii_case(address)
    {
        return Err(ErrorObject::new(4100, format!("this wallet holds {address}, not {asked}")));
    }
    Ok(Value::String(common::personal_sign(key, &common::personal_message(message))))
}

/// The JSON line of an event the wallet only reports.
fn common_event(event: &Event) -> Value {
    match event {
        Event::PeerOffline { session } => json!({"event": "peer_offline", "session": session}),
        Event::PeerOnline { session } => json!({"event": "peer_online", "session": session}),
        Event::SessionDeleted { session, reason } => {
            json!({"event": "session_deleted", "session": session, "reason": reason})
        }
        Event::SessionExpired { session } => json!({"event": "session_expired", "session": session}),
        Event::Response { session, id, outcome } => {
            json!({"event": "response", "session": session, "id": id, "ok": outcome.is_ok()})
        }
        Event::RequestTimedOut { session, id } => json!({"event": "request_timed_out", "session": session, "id": id}),
        other => json!({"event": "other", "debug": format!("{other:?}")}),
    }
}

fn load_or_create_eth_key(path: &std::path::Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim().trim_start_matches("0x")).context("eth key file is not hex")?;
            Ok(SigningKey::from_slice(&bytes).context("eth key file does not hold a secp256k1 key")?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            loop {
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
                if let Ok(key) = SigningKey::from_slice(&seed) {
                    let mut options = std::fs::OpenOptions::new();
                    options.write(true).create_new(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                    let mut file = options.open(path).context("creating the eth key file")?;
                    std::io::Write::write_all(&mut file, hex::encode(seed).as_bytes())
                        .context("writing the eth key file")?;
                    return Ok(key);
                }
            }
        }
        Err(e) => bail!("reading {}: {e}", path.display()),
    }
}
