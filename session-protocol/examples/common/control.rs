//! `--control`: drive an example from another program. Commands arrive as one
//! JSON object per stdin line, `{"cmd": "...", "ref": <any>, ...}`; each gets one
//! answer line, `{"event": "ok", "cmd", "ref", ...}` or `{"event": "error", "cmd",
//! "ref", "error"}`. Everything the endpoint reports is printed as it happens,
//! one JSON line each (see [`event_line`]). Namespaces in commands are the
//! WalletConnect JSON shapes, read with the library's `walletconnect` mapping.
//!
//! | cmd | fields | answer |
//! |---|---|---|
//! | `create_pairing` | | `uri`, `pairing` |
//! | `pair` | `uri` | `pairing` |
//! | `propose` | `pairing`, `requiredNamespaces`, `optionalNamespaces`, `sessionProperties`? | `id` |
//! | `approve` | `pairing`, `id`, `accounts`, `deny`? (`ns/kind/value` list) | `session` |
//! | `reject` | `pairing`, `id`, `code`?, `message` | |
//! | `request` | `session`, `chainId`?, `method`, `params` | `id` |
//! | `respond` | `session`, `id`, `result` or `error {code, message}` or `sign: true` | `result` |
//! | `emit` | `session`, `chainId`?, `name`, `data` | `id` |
//! | `update` | `session`, `namespaces` | `id` |
//! | `extend` | `session` | `id`, `expiry` |
//! | `ping` | `session` | `id` |
//! | `disconnect` | `session`, `message`? | |
//! | `pairing_ping` | `pairing` | `id` (then a `pairing_ping` event) |
//! | `pairing_delete` | `pairing`, `message`? | |
//! | `session` | `session` | `info` (or `null`) |

use anyhow::{Context, anyhow};
use heliograph_session::driver::{DriverEvent, Handle};
use heliograph_session::namespaces::{Item, Outcome, ProposalError, Request};
use heliograph_session::rpc::ErrorObject;
use heliograph_session::walletconnect::namespaces::{proposal_from_wire, session_from_wire, session_to_wire};
use heliograph_session::{ConnectResult, Event, Topic};
use k256::ecdsa::SigningKey;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::emit;

/// Runs until stdin closes or `shutdown` fires. `key` signs `personal_sign`
/// answers (`respond` with `sign: true`).
pub async fn run(
    handle: Handle,
    events: &mut mpsc::Receiver<DriverEvent>,
    key: Option<SigningKey>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // A blocking reader thread: stdin has no portable async form without more tokio features.
    let (tx, mut lines) = mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    emit(json!({"event": "control_ready"}));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            line = lines.recv() => {
                let Some(line) = line else { return Ok(()) };
                if line.trim().is_empty() {
                    continue;
                }
                emit(answer(&handle, &line, key.as_ref()).await);
            }
            event = events.recv() => match event {
                Some(event) => emit(event_line(&event)),
                None => return Ok(()),
            },
        }
    }
}

async fn answer(handle: &Handle, line: &str, key: Option<&SigningKey>) -> Value {
    let (cmd, reference, outcome) = match serde_json::from_str::<Value>(line) {
        Ok(v) => {
            let cmd = v.get("cmd").and_then(Value::as_str).unwrap_or_default().to_owned();
            let outcome = command(handle, &cmd, &v, key).await;
            (cmd, v.get("ref").cloned().unwrap_or(Value::Null), outcome)
        }
        Err(e) => (String::new(), Value::Null, Err(anyhow!("not JSON: {e}"))),
    };
    match outcome {
        Ok(mut v) => {
            v["event"] = json!("ok");
            v["cmd"] = json!(cmd);
            v["ref"] = reference;
            v
        }
        Err(e) => json!({"event": "error", "cmd": cmd, "ref": reference, "error": format!("{e:#}")}),
    }
}

fn text(v: &Value, field: &str) -> anyhow::Result<String> {
    v.get(field).and_then(Value::as_str).map(str::to_owned).with_context(|| format!("{field} must be a string"))
}

fn topic(v: &Value, field: &str) -> anyhow::Result<Topic> {
    Ok(Topic::parse(&text(v, field)?)?)
}

fn id(v: &Value) -> anyhow::Result<u64> {
    let id = v.get("id").context("id missing")?;
    id.as_u64().or_else(|| id.as_str().and_then(|s| s.parse().ok())).context("id must be an unsigned integer")
}

async fn command(handle: &Handle, cmd: &str, v: &Value, key: Option<&SigningKey>) -> anyhow::Result<Value> {
    let chain = v.get("chainId").and_then(Value::as_str).map(str::to_owned);
    match cmd {
        "create_pairing" => {
            let uri = handle.call(|ep, now| ep.create_pairing(now)).await?;
            Ok(json!({"uri": uri.to_string(), "pairing": uri.topic}))
        }
        "pair" => {
            let uri = text(v, "uri")?;
            let pairing = handle.call(move |ep, now| ep.pair(&uri, now)).await??;
            Ok(json!({"pairing": pairing}))
        }
        "propose" => {
            let pairing = topic(v, "pairing")?;
            let request = Request {
                required_namespaces: proposal_from_wire(v.get("requiredNamespaces"))?,
                optional_namespaces: proposal_from_wire(v.get("optionalNamespaces"))?,
                session_properties: v.get("sessionProperties").and_then(Value::as_object).cloned(),
            };
            let id = handle.call(move |ep, now| ep.propose(&pairing, request, now)).await??;
            Ok(json!({"id": id}))
        }
        "approve" => {
            let (pairing, id) = (topic(v, "pairing")?, id(v)?);
            let accounts: Vec<String> = serde_json::from_value(v.get("accounts").cloned().unwrap_or(json!([])))?;
            let deny: Vec<String> = serde_json::from_value(v.get("deny").cloned().unwrap_or(json!([])))?;
            let decide = move |item: &Item, _: bool| {
                if deny.contains(&item.to_string()) {
                    Outcome::Denied { reason: "denied by the wallet".into() }
                } else {
                    Outcome::Granted
                }
            };
            let session = handle.call(move |ep, now| ep.approve(&pairing, id, decide, accounts, now)).await??;
            Ok(json!({"session": session}))
        }
        "reject" => {
            let (pairing, id) = (topic(v, "pairing")?, id(v)?);
            let code = v.get("code").and_then(Value::as_i64).unwrap_or(5000);
            let error = ErrorObject::new(code, text(v, "message").unwrap_or_else(|_| "User rejected.".into()));
            handle.call(move |ep, _| ep.reject_with(&pairing, id, error)).await??;
            Ok(json!({}))
        }
        "request" => {
            let (session, method) = (topic(v, "session")?, text(v, "method")?);
            let params = v.get("params").cloned().unwrap_or(Value::Null);
            let id = handle.call(move |ep, now| ep.request(&session, chain.as_deref(), &method, params, now)).await??;
            Ok(json!({"id": id}))
        }
        "respond" => {
            let (session, id) = (topic(v, "session")?, id(v)?);
            let outcome = if v.get("sign").and_then(Value::as_bool) == Some(true) {
                let key = key.context("this example holds no key to sign with")?;
                let params = v.get("params").context("sign needs the request's params")?;
                let message = params.get(0).and_then(Value::as_str).context("params[0] must be the message")?;
                Ok(Value::String(super::personal_sign(key, &super::personal_message(message))))
            } else if let Some(error) = v.get("error") {
                let code = error.get("code").and_then(Value::as_i64).context("error.code must be an integer")?;
                Err(ErrorObject::new(code, error.get("message").and_then(Value::as_str).unwrap_or_default()))
            } else {
                Ok(v.get("result").cloned().unwrap_or(Value::Null))
            };
            let shown = match &outcome {
                Ok(v) => v.clone(),
                Err(e) => json!({"code": e.code, "message": e.message}),
            };
            handle.call(move |ep, now| ep.respond(&session, id, outcome, now)).await??;
            Ok(json!({"result": shown}))
        }
        "emit" => {
            let (session, name) = (topic(v, "session")?, text(v, "name")?);
            let data = v.get("data").cloned().unwrap_or(Value::Null);
            let id = handle.call(move |ep, now| ep.emit(&session, chain.as_deref(), &name, data, now)).await??;
            Ok(json!({"id": id}))
        }
        "update" => {
            let session = topic(v, "session")?;
            let namespaces = session_from_wire(v.get("namespaces"))?;
            let id = handle.call(move |ep, now| ep.update(&session, namespaces, now)).await??;
            Ok(json!({"id": id}))
        }
        "extend" => {
            let session = topic(v, "session")?;
            let (id, expiry) = handle
                .call(move |ep, now| {
                    let id = ep.extend(&session, now)?;
                    Ok::<_, heliograph_session::EndpointError>((id, ep.session_info(&session).map(|s| s.expiry)))
                })
                .await??;
            Ok(json!({"id": id, "expiry": expiry}))
        }
        "pairing_ping" => {
            let pairing = topic(v, "pairing")?;
            let id = handle.call(move |ep, now| ep.pairing_ping(&pairing, now)).await??;
            Ok(json!({"id": id}))
        }
        "pairing_delete" => {
            let pairing = topic(v, "pairing")?;
            let message = text(v, "message").unwrap_or_else(|_| "User disconnected.".into());
            handle.call(move |ep, now| ep.pairing_delete(&pairing, &message, now)).await??;
            Ok(json!({}))
        }
        "ping" => {
            let session = topic(v, "session")?;
            let id = handle.call(move |ep, now| ep.ping(&session, now)).await??;
            Ok(json!({"id": id}))
        }
        "disconnect" => {
            let session = topic(v, "session")?;
            let message = text(v, "message").unwrap_or_else(|_| "User disconnected.".into());
            handle.call(move |ep, now| ep.delete(&session, &message, now)).await??;
            Ok(json!({}))
        }
        "session" => {
            let session = topic(v, "session")?;
            let info = handle.call(move |ep, _| ep.session_info(&session)).await?;
            Ok(json!({"info": info.as_ref().map(connected)}))
        }
        other => Err(anyhow!("unknown cmd {other:?}")),
    }
}

fn outcome_json(outcome: &Result<Value, ErrorObject>) -> Value {
    match outcome {
        Ok(result) => json!({"result": result}),
        Err(e) => json!({"error": {"code": e.code, "message": e.message}}),
    }
}

fn wire_namespaces(ns: &heliograph_session::namespaces::Namespaces) -> Value {
    session_to_wire(ns).unwrap_or_else(|_| json!(ns))
}

fn connected(c: &ConnectResult) -> Value {
    json!({"session": c.session, "pairing": c.pairing, "role": c.role, "accounts": c.accounts,
        "namespaces": wire_namespaces(&c.namespaces), "expiry": c.expiry, "peer": c.peer_metadata,
        "sas": c.short_auth_string})
}

/// The JSON line of a driver event.
pub fn event_line(event: &DriverEvent) -> Value {
    let e = match event {
        DriverEvent::RelayConnected => return json!({"event": "relay_connected"}),
        DriverEvent::RelayDisconnected { reason, .. } => {
            return json!({"event": "relay_disconnected", "reason": reason});
        }
        DriverEvent::PublishFailed { topic, tag, error } => {
            return json!({"event": "publish_failed", "topic": topic, "tag": tag, "error": error});
        }
        DriverEvent::Endpoint(e) => e,
    };
    match e {
        Event::Proposal(p) => json!({"event": "proposal", "pairing": p.pairing, "id": p.id,
            "requiredNamespaces": p.request.required_namespaces, "optionalNamespaces": p.request.optional_namespaces,
            "sessionProperties": p.request.session_properties, "proposer": p.proposer_metadata}),
        Event::Connected(c) => {
            let mut v = connected(c);
            v["event"] = json!("connected");
            v
        }
        Event::ProposalFailed { pairing, id, error, results } => {
            let code = match error {
                ProposalError::Rejected { code, .. } => Some(*code),
                _ => None,
            };
            json!({"event": "proposal_failed", "pairing": pairing, "id": id, "code": code, "error": error.to_string(),
                "results": results})
        }
        Event::Request { session, id, chain_id, method, params } => json!({"event": "request", "session": session,
            "id": id, "chainId": chain_id, "method": method, "params": params}),
        Event::Response { session, id, outcome } => {
            let mut v = outcome_json(outcome);
            v["event"] = json!("response");
            v["session"] = json!(session);
            v["id"] = json!(id);
            v
        }
        Event::RequestTimedOut { session, id } => json!({"event": "request_timed_out", "session": session, "id": id}),
        Event::SessionEvent { session, chain_id, name, data } => json!({"event": "session_event", "session": session,
            "chainId": chain_id, "name": name, "data": data}),
        Event::SessionUpdated { session, namespaces } => json!({"event": "session_update", "session": session,
            "namespaces": wire_namespaces(namespaces)}),
        Event::SessionExtended { session, expiry } => json!({"event": "session_extend", "session": session,
            "expiry": expiry}),
        Event::SessionDeleted { session, reason } => json!({"event": "session_delete", "session": session,
            "reason": reason}),
        Event::SessionExpired { session } => json!({"event": "session_expired", "session": session}),
        Event::PairingPing { pairing, id, answered } => json!({"event": "pairing_ping", "pairing": pairing,
            "id": id, "answered": answered}),
        Event::PairingDeleted { pairing, reason } => json!({"event": "pairing_delete", "pairing": pairing,
            "reason": reason}),
        Event::PeerOnline { session } => json!({"event": "peer_online", "session": session}),
        Event::PeerOffline { session } => json!({"event": "peer_offline", "session": session}),
        Event::PermissionsRequested { session, id, capabilities } => json!({"event": "permissions_requested",
            "session": session, "id": id, "capabilities": capabilities}),
        Event::PermissionsRevoked { session, capabilities } => json!({"event": "permissions_revoked",
            "session": session, "capabilities": capabilities}),
    }
}
