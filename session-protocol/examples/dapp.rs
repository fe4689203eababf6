//! A dapp on a Heliograph relay: creates a pairing, prints the URI and a
//! terminal QR code, proposes sessions (required and optional items), sends
//! `personal_sign` requests on all of them interleaved, and verifies every
//! signature by recovering the signer's address. Human text goes to stderr, one
//! JSON object per line to stdout (for scripts and tests).
//!
//! ```text
//! cargo run -p heliograph-session --example dapp -- --relay ws://127.0.0.1:8090 --state dapp.json \
//!     --chain eip155:1 --optional-chain eip155:137 --sessions 3 --requests 2
//! ```
//! Exit code 0 when every session connected and every signature verified.
//! With `--control` it runs no script and takes commands as JSON lines on stdin
//! instead (`common/control.rs`), which is how the e2e suites drive it.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use heliograph_session::driver::{DriverEvent, Handle};
use heliograph_session::namespaces::{Namespaces, Request};
use heliograph_session::{ConnectResult, Event, Qr, Topic};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use common::{emit, human};

/// Dapp example: pair, propose, request signatures, verify them.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    relay: common::RelayArgs,
    /// Required chains (repeatable).
    #[arg(long = "chain", default_values_t = ["eip155:1".to_string()])]
    chains: Vec<String>,
    /// Optional chains (repeatable).
    #[arg(long = "optional-chain")]
    optional_chains: Vec<String>,
    /// Required methods (repeatable).
    #[arg(long = "method", default_values_t = ["personal_sign".to_string()])]
    methods: Vec<String>,
    /// Optional methods (repeatable).
    #[arg(long = "optional-method")]
    optional_methods: Vec<String>,
    /// Optional events (repeatable).
    #[arg(long = "optional-event")]
    optional_events: Vec<String>,
    /// Sessions to propose over the pairing, all at once.
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// `personal_sign` requests per session, sent interleaved across sessions.
    #[arg(long, default_value_t = 1)]
    requests: usize,
    /// Text to sign.
    #[arg(long, default_value = "Sign in to Heliograph")]
    message: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Keep running this many seconds after the work is done (reporting events).
    #[arg(long, default_value_t = 0)]
    linger_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    common::init_logging();
    let shutdown = CancellationToken::new();
    common::cancel_on_signal(shutdown.clone());
    let (mut driver, _restored) = common::start(&args.relay, "dapp", shutdown.clone())?;
    let handle = driver.handle.clone();
    if args.relay.control {
        let outcome = common::control::run(handle, &mut driver.events, None, shutdown.clone()).await;
        shutdown.cancel();
        driver.join().await?;
        return outcome;
    }

    let uri = handle.call(|ep, now| ep.create_pairing(now)).await?;
    let text = uri.to_string();
    emit(json!({"event": "uri", "uri": text, "pairing": uri.topic}));
    human(&format!("scan with the wallet, or paste:\n{text}"));
    match Qr::new(&text) {
        Ok(qr) => human(&qr.to_unicode()),
        Err(e) => human(&format!("(no QR code: {e})")),
    }

    let request = proposal(&args);
    for _ in 0..args.sessions {
        let (pairing, request) = (uri.topic.clone(), request.clone());
        let id = handle.call(move |ep, now| ep.propose(&pairing, request, now)).await??;
        emit(json!({"event": "proposed", "id": id}));
    }

    let work = run(&mut driver.events, &handle, &args);
    let outcome = tokio::select! {
        () = shutdown.cancelled() => Err(anyhow::anyhow!("interrupted")),
        r = tokio::time::timeout(Duration::from_secs(args.timeout_secs), work) => {
            r.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after {} s", args.timeout_secs)))
        }
    };
    match &outcome {
        Ok(verified) => emit(json!({"event": "done", "verified": verified})),
        Err(e) => emit(json!({"event": "failed", "error": e.to_string()})),
    }
    if outcome.is_ok() && args.linger_secs > 0 {
        let linger = async {
            while let Some(event) = driver.events.recv().await {
                report(&event);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(args.linger_secs), linger).await;
    }
    shutdown.cancel();
    drop(handle);
    driver.join().await?;
    outcome.map(|_| ())
}

fn proposal(args: &Args) -> Request {
    let ns = |chains: &[String], methods: &[String], events: &[String]| {
        let mut kinds = BTreeMap::new();
        for (kind, values) in [("chains", chains), ("methods", methods), ("events", events)] {
            if !values.is_empty() {
                kinds.insert(kind.to_owned(), values.to_vec());
            }
        }
        let mut out = Namespaces::new();
        if !kinds.is_empty() {
            out.insert("eip155".to_owned(), kinds);
        }
        out
    };
    // WalletConnect wants chains in every namespace: optional methods and events
    // without optional chains apply to the required chains.
    let optional_chains = if args.optional_chains.is_empty() { &args.chains } else { &args.optional_chains };
    let optional =
        !(args.optional_chains.is_empty() && args.optional_methods.is_empty() && args.optional_events.is_empty());
    Request {
        required_namespaces: ns(&args.chains, &args.methods, &[]),
        optional_namespaces: if optional {
            ns(optional_chains, &args.optional_methods, &args.optional_events)
        } else {
            Namespaces::new()
        },
        session_properties: None,
    }
}

/// Waits for every session, sends the requests interleaved, verifies every answer.
async fn run(
    events: &mut tokio::sync::mpsc::Receiver<DriverEvent>,
    handle: &Handle,
    args: &Args,
) -> anyhow::Result<usize> {
    let mut sessions: Vec<ConnectResult> = Vec::new();
    while sessions.len() < args.sessions {
        let event = events.recv().await.context("driver stopped")?;
        match event {
            DriverEvent::Endpoint(Event::Connected(c)) => {
                let results: Vec<_> = c.results.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
                emit(json!({"event": "connected", "session": c.session, "accounts": c.accounts,
                    "results": results, "permissions": c.permissions.iter().map(|p| &p.parent_capability).collect::<Vec<_>>(),
                    "sas": c.short_auth_string}));
                human(&format!("session {} connected; compare code {}", c.session, c.short_auth_string));
                sessions.push(c);
            }
            DriverEvent::Endpoint(Event::ProposalFailed { id, error, results, .. }) => {
                let results: Vec<_> = results.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
                emit(json!({"event": "proposal_failed", "id": id, "error": error.to_string(), "results": results}));
                bail!("proposal {id} failed: {error}");
            }
            other => report(&other),
        }
    }

    // (session, request id) -> expected signer address.
    let mut pending: HashMap<(Topic, u64), String> = HashMap::new();
    for round in 0..args.requests {
        for c in &sessions {
            let account = c.accounts.first().context("session without accounts")?.clone();
            let (chain, address) = account.rsplit_once(':').context("account is not CAIP-10")?;
            let (chain, address) = (chain.to_owned(), address.to_owned());
            let message = format!("{} (session {}, request {round})", args.message, &c.session.as_str()[..8]);
            let params = json!([format!("0x{}", hex::encode(message.as_bytes())), address]);
            let session = c.session.clone();
            let id =
                handle.call(move |ep, now| ep.request(&session, Some(&chain), "personal_sign", params, now)).await??;
            emit(json!({"event": "requested", "session": c.session, "id": id, "message": message}));
            pending.insert((c.session.clone(), id), format!("{address}|{message}"));
        }
    }

    let mut verified = 0;
    while !pending.is_empty() {
        let event = events.recv().await.context("driver stopped")?;
        match event {
            DriverEvent::Endpoint(Event::Response { session, id, outcome }) => {
                let Some(expected) = pending.remove(&(session.clone(), id)) else { continue };
                let (address, message) = expected.split_once('|').context("internal: expected entry")?;
                let signature = match outcome {
                    Ok(value) => value.as_str().map(str::to_owned).context("signature is not a string")?,
                    Err(e) => bail!("request {id} refused: {} {}", e.code, e.message),
                };
                let bytes = hex::decode(signature.trim_start_matches("0x")).context("signature is not hex")?;
                let recovered = heliograph_session::linking::recover_eip191(message.as_bytes(), &bytes)
                    .map(|a| format!("0x{}", hex::encode(a)))
                    .context("signature does not recover")?;
                let valid = recovered.eq_ignore_ascii_case(address);
                emit(json!({"event": "verified", "session": session, "id": id, "address": recovered, "valid": valid}));
                if !valid {
                    bail!("signature of request {id} recovers {recovered}, expected {address}");
                }
                verified += 1;
            }
            DriverEvent::Endpoint(Event::RequestTimedOut { session, id }) => {
                bail!("request {id} on {session} timed out")
            }
            other => report(&other),
        }
    }
    Ok(verified)
}

/// Reports events the dapp only logs.
fn report(event: &DriverEvent) {
    let line = match event {
        DriverEvent::RelayConnected => json!({"event": "relay_connected"}),
        DriverEvent::RelayDisconnected { reason, .. } => json!({"event": "relay_disconnected", "reason": reason}),
        DriverEvent::PublishFailed { topic, tag, error } => {
            json!({"event": "publish_failed", "topic": topic, "tag": tag, "error": error})
        }
        DriverEvent::Endpoint(Event::PeerOffline { session }) => json!({"event": "peer_offline", "session": session}),
        DriverEvent::Endpoint(Event::PeerOnline { session }) => json!({"event": "peer_online", "session": session}),
        DriverEvent::Endpoint(Event::SessionDeleted { session, reason }) => {
            json!({"event": "session_deleted", "session": session, "reason": reason})
        }
        DriverEvent::Endpoint(other) => json!({"event": "other", "debug": format!("{other:?}")}),
    };
    emit(line);
}
