//! End-to-end behaviour of two endpoints over the modelled relay: connect,
//! per-item answers, requests, timeouts, cancellation, permissions, lifecycle
//! events, multiplexing fairness, flood bounds, presence and resume.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;

use std::time::Duration;

use common::{Pair, Side, approve_all, eip155_request};
use heliograph_session::namespaces::{Item, Outcome, ProposalError};
use heliograph_session::rpc::ErrorObject;
use heliograph_session::{Config, Endpoint, EndpointError, Event, FileStore, IncomingError, SessionStore, Topic};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;

fn nothing(_: &mut Pair, _: Side, _: Vec<Event>) {}

fn answer_requests(pair: &mut Pair, side: Side, events: Vec<Event>) {
    if side != Side::Wallet {
        return;
    }
    for e in events {
        if let Event::Request { session, id, method, params, .. } = e {
            let now = pair.now;
            pair.wallet.respond(&session, id, Ok(json!({"method": method, "echo": params})), now).unwrap();
        }
    }
}

#[test]
fn connect_delivers_everything_granted_at_once() {
    let mut pair = Pair::new(Config::default(), 1);
    let session = pair.connect();
    let dapp = pair.dapp_events.iter().find_map(|e| if let Event::Connected(c) = e { Some(c.clone()) } else { None });
    let wallet =
        pair.wallet_events.iter().find_map(|e| if let Event::Connected(c) = e { Some(c.clone()) } else { None });
    let (dapp, wallet) = (dapp.unwrap(), wallet.unwrap());
    assert_eq!(dapp.session, session);
    assert_eq!(wallet.session, session);
    assert_eq!(dapp.accounts, vec!["eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".to_string()]);
    assert_eq!(dapp.namespaces, wallet.namespaces);
    assert_eq!(dapp.namespaces["eip155"]["chains"], vec!["eip155:1".to_string(), "eip155:137".to_string()]);
    assert_eq!(dapp.results.len(), 5, "one result per requested item (4 required, 1 optional)");
    assert!(dapp.results.iter().all(|r| r.outcome == Outcome::Granted));
    let caps: Vec<_> = dapp.permissions.iter().map(|p| p.parent_capability.as_str()).collect();
    assert_eq!(caps, ["eth_accounts", "eth_sendTransaction", "personal_sign"]);
    assert_eq!(pair.dapp.session_info(&session).unwrap().accounts, dapp.accounts);
    assert_eq!(dapp.short_auth_string, wallet.short_auth_string, "both sides show the same code");
}

#[test]
fn denied_required_item_fails_atomically_and_names_it() {
    let mut pair = Pair::new(Config::default(), 2);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    let proposal_id = pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    let mut wallet_error = None;
    pair.run(&mut |p, side, events| {
        if side != Side::Wallet {
            return;
        }
        for e in events {
            if let Event::Proposal(prop) = e {
                let now = p.now;
                let decide = |item: &Item, _: bool| {
                    if item.value == "eth_sendTransaction" {
                        Outcome::Denied { reason: "read-only wallet".into() }
                    } else {
                        Outcome::Granted
                    }
                };
                wallet_error = Some(p.wallet.approve(&prop.pairing, prop.id, decide, vec![], now).unwrap_err());
            }
        }
    });
    let expected = ProposalError::RequiredDenied {
        item: Item::new("eip155", "methods", "eth_sendTransaction"),
        reason: "read-only wallet".into(),
    };
    assert_eq!(wallet_error, Some(EndpointError::Proposal(expected.clone())));
    let failed = pair.dapp_events.iter().find_map(|e| match e {
        Event::ProposalFailed { id, error, results, .. } => Some((*id, error.clone(), results.clone())),
        _ => None,
    });
    let (id, error, results) = failed.expect("dapp told");
    assert_eq!(id, proposal_id);
    assert_eq!(error, expected);
    assert_eq!(results.len(), 5);
    assert!(pair.dapp.sessions().next().is_none() && pair.wallet.sessions().next().is_none(), "nothing granted");
    assert!(!pair.dapp_events.iter().any(|e| matches!(e, Event::Connected(_))));
}

#[test]
fn denied_optional_item_is_reported_and_not_granted() {
    let mut pair = Pair::new(Config::default(), 3);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    pair.run(&mut |p, side, events| {
        for e in events {
            if let (Side::Wallet, Event::Proposal(prop)) = (side, e) {
                let now = p.now;
                let decide = |item: &Item, required: bool| {
                    if required {
                        Outcome::Granted
                    } else {
                        Outcome::Denied { reason: format!("{} unsupported", item.value) }
                    }
                };
                p.wallet.approve(&prop.pairing, prop.id, decide, vec![], now).unwrap();
            }
        }
    });
    let c =
        pair.dapp_events.iter().find_map(|e| if let Event::Connected(c) = e { Some(c.clone()) } else { None }).unwrap();
    assert_eq!(c.namespaces["eip155"]["chains"], vec!["eip155:1".to_string()]);
    let denied: Vec<_> = c.results.iter().filter(|r| r.outcome != Outcome::Granted).collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].item.value, "eip155:137");
    assert_eq!(denied[0].outcome, Outcome::Denied { reason: "eip155:137 unsupported".into() });
}

#[test]
fn rejection_and_proposal_timeout() {
    let mut pair = Pair::new(Config::default(), 4);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    let propose = pair.dapp.poll_transmit().unwrap();
    assert_eq!((propose.tag, propose.ttl.as_secs(), propose.prompt), (1100, 300, true));
    pair.wallet.handle_incoming(propose.topic.as_str(), &propose.message, now).unwrap();
    let Some(Event::Proposal(prop)) = pair.wallet.poll_event() else { panic!("no proposal") };
    pair.wallet.reject(&prop.pairing, prop.id, "user said no").unwrap();
    let reply = pair.wallet.poll_transmit().unwrap();
    assert_eq!(reply.tag, 1120, "rejections carry WalletConnect's reject tag");
    pair.dapp.handle_incoming(reply.topic.as_str(), &reply.message, now).unwrap();
    pair.run(&mut nothing);
    assert!(pair.dapp_events.iter().any(|e| matches!(e,
        Event::ProposalFailed { error: ProposalError::Rejected { code: 5000, message }, .. } if message == "user said no")));

    // Unanswered: times out on the dapp side.
    pair.dapp.propose(&pairing, eip155_request(), pair.now).unwrap();
    pair.run(&mut nothing);
    pair.advance(Duration::from_secs(301));
    pair.run(&mut nothing);
    assert!(pair.dapp_events.iter().any(|e| matches!(e, Event::ProposalFailed { error: ProposalError::TimedOut, .. })));
}

#[test]
fn requests_are_correlated_and_answered() {
    let mut pair = Pair::new(Config::default(), 5);
    let session = pair.connect();
    let now = pair.now;
    let a = pair.dapp.request(&session, Some("eip155:1"), "personal_sign", json!(["0xdead", "0xab16"]), now).unwrap();
    let b = pair.dapp.request(&session, Some("eip155:1"), "eth_sendTransaction", json!([{}]), now).unwrap();
    pair.run(&mut answer_requests);
    let responses: Vec<_> = pair
        .dapp_events
        .iter()
        .filter_map(|e| if let Event::Response { id, outcome, .. } = e { Some((*id, outcome.clone())) } else { None })
        .collect();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0], (a, Ok(json!({"method": "personal_sign", "echo": ["0xdead", "0xab16"]}))));
    assert_eq!(responses[1].0, b);
    assert_eq!(pair.wallet.respond(&session, a, Ok(json!(1)), now), Err(EndpointError::UnknownRequest(a)));
}

#[test]
fn ungranted_method_and_chain_are_refused_by_the_wallet() {
    let mut pair = Pair::new(Config::default(), 6);
    let session = pair.connect();
    let now = pair.now;
    let m = pair.dapp.request(&session, Some("eip155:1"), "eth_signTypedData", json!([]), now).unwrap();
    let c = pair.dapp.request(&session, Some("eip155:5"), "personal_sign", json!([]), now).unwrap();
    pair.run(&mut answer_requests);
    let code_of = |want: u64| {
        pair.dapp_events.iter().find_map(|e| match e {
            Event::Response { id, outcome: Err(err), .. } if *id == want => Some(err.code),
            _ => None,
        })
    };
    assert_eq!(code_of(m), Some(3001));
    assert_eq!(code_of(c), Some(5100));
    assert!(!pair.wallet_events.iter().any(|e| matches!(e, Event::Request { .. })), "never reached the app");
}

#[test]
fn timeout_and_cancel() {
    let config = Config { request_timeout: Duration::from_secs(10), ..Config::default() };
    let mut pair = Pair::new(config, 7);
    let session = pair.connect();
    let now = pair.now;
    let slow = pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    let cancelled = pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    assert!(pair.dapp.cancel(&session, cancelled));
    assert!(!pair.dapp.cancel(&session, cancelled));
    pair.run(&mut nothing); // the wallet sees the first request but does not answer
    let wallet_ids: Vec<u64> = pair
        .wallet_events
        .iter()
        .filter_map(|e| if let Event::Request { id, .. } = e { Some(*id) } else { None })
        .collect();
    assert_eq!(wallet_ids, vec![slow], "a cancelled request that was not sent yet is never sent");
    assert!(pair.dapp.poll_timeout().unwrap() <= pair.now.instant + Duration::from_secs(10));
    pair.advance(Duration::from_secs(10));
    pair.run(&mut nothing);
    assert!(pair.dapp_events.iter().any(|e| matches!(e, Event::RequestTimedOut { id, .. } if *id == slow)));
    // A late answer is refused.
    let now = pair.now;
    pair.wallet.respond(&session, slow, Ok(json!("late")), now).unwrap();
    pair.run(&mut nothing);
    assert!(pair.refused.iter().any(|(s, e)| *s == Side::Dapp && *e == IncomingError::UnexpectedResponse(slow)));
    assert!(!pair.dapp_events.iter().any(|e| matches!(e, Event::Response { id, .. } if *id == slow)));
}

#[test]
fn permissions_request_get_revoke() {
    let mut pair = Pair::new(Config::default(), 8);
    let session = pair.connect();
    let now = pair.now;
    let req = pair
        .dapp
        .request(&session, None, "wallet_requestPermissions", json!([{"eth_signTypedData_v4": {}}]), now)
        .unwrap();
    pair.run(&mut |p, side, events| {
        for e in events {
            if let (Side::Wallet, Event::PermissionsRequested { session, id, capabilities }) = (side, e) {
                let now = p.now;
                p.wallet.grant_permissions(&session, id, &capabilities, now).unwrap();
            }
        }
    });
    let granted = pair.dapp_events.iter().find_map(|e| match e {
        Event::Response { id, outcome: Ok(v), .. } if *id == req => Some(v.clone()),
        _ => None,
    });
    assert_eq!(granted.unwrap()[0]["parentCapability"], "eth_signTypedData_v4");
    let now = pair.now;
    let get = pair.dapp.request(&session, None, "wallet_getPermissions", json!([]), now).unwrap();
    let revoke =
        pair.dapp.request(&session, None, "wallet_revokePermissions", json!([{"personal_sign": {}}]), now).unwrap();
    pair.run(&mut nothing);
    let result = |pair: &Pair, want: u64| {
        pair.dapp_events.iter().find_map(|e| match e {
            Event::Response { id, outcome, .. } if *id == want => Some(outcome.clone()),
            _ => None,
        })
    };
    let listed: Vec<String> = result(&pair, get)
        .unwrap()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parentCapability"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["eth_accounts", "eth_sendTransaction", "eth_signTypedData_v4", "personal_sign"]);
    assert_eq!(result(&pair, revoke), Some(Ok(json!(null))));
    assert!(
        pair.wallet_events
            .iter()
            .any(|e| matches!(e, Event::PermissionsRevoked { capabilities, .. } if capabilities == &["personal_sign"]))
    );
    // Revoked: the method is now refused.
    let now = pair.now;
    let sign = pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    pair.run(&mut answer_requests);
    assert!(matches!(result(&pair, sign), Some(Err(ErrorObject { code: 3001, .. }))));
}

#[test]
fn lifecycle_events_flow_from_the_controller() {
    let mut pair = Pair::new(Config::default(), 9);
    let session = pair.connect();
    let now = pair.now.advance(Duration::from_secs(3600));
    pair.now = now;
    pair.wallet.extend(&session, now).unwrap();
    pair.wallet.emit(&session, Some("eip155:1"), "accountsChanged", json!(["0x1"]), now).unwrap();
    let mut ns = pair.wallet.session_info(&session).unwrap().namespaces;
    ns.get_mut("eip155").unwrap().insert("chains".into(), vec!["eip155:1".into()]);
    pair.wallet.update(&session, ns.clone(), now).unwrap();
    pair.dapp.ping(&session, now).unwrap();
    assert_eq!(pair.dapp.extend(&session, now), Err(EndpointError::NotController));
    pair.run(&mut nothing);
    let expiry = 1_700_000_000 + 3600 + 7 * 24 * 3600;
    assert!(pair.dapp_events.contains(&Event::SessionExtended { session: session.clone(), expiry }));
    assert!(
        pair.dapp_events.iter().any(|e| matches!(e, Event::SessionEvent { name, .. } if name == "accountsChanged"))
    );
    assert!(pair.dapp_events.contains(&Event::SessionUpdated { session: session.clone(), namespaces: ns }));
    assert!(pair.dapp_events.iter().any(|e| matches!(e, Event::Response { outcome: Ok(v), .. } if *v == json!(true))));
    assert_eq!(pair.dapp.session_info(&session).unwrap().expiry, expiry);

    pair.dapp.delete(&session, "bye", pair.now).unwrap();
    pair.run(&mut nothing);
    assert!(pair.wallet_events.contains(&Event::SessionDeleted { session: session.clone(), reason: "bye".into() }));
    assert!(pair.wallet.sessions().next().is_none() && pair.dapp.sessions().next().is_none());
}

#[test]
fn sessions_expire() {
    let config = Config { session_ttl: Duration::from_secs(3600), ..Config::default() };
    let mut pair = Pair::new(config, 10);
    let session = pair.connect();
    for _ in 0..3601 / 30 + 1 {
        pair.advance(Duration::from_secs(30));
        pair.run(&mut nothing);
    }
    assert!(pair.dapp_events.contains(&Event::SessionExpired { session: session.clone() }));
    assert!(pair.wallet_events.contains(&Event::SessionExpired { session }));
}

#[test]
fn many_sessions_share_one_pairing_with_separate_id_spaces() {
    let mut pair = Pair::new(Config::default(), 11);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    for _ in 0..3 {
        pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    }
    pair.run(&mut approve_all);
    let sessions: Vec<Topic> = pair.dapp.sessions().cloned().collect();
    assert_eq!(sessions.len(), 3);
    let mut sent = Vec::new();
    for s in &sessions {
        sent.push((s.clone(), pair.dapp.request(s, None, "personal_sign", json!([s.as_str()]), now).unwrap()));
    }
    pair.run(&mut answer_requests);
    for (s, id) in sent {
        let got = pair.dapp_events.iter().find_map(|e| match e {
            Event::Response { session, id: rid, outcome: Ok(v), .. } if *session == s && *rid == id => Some(v.clone()),
            _ => None,
        });
        assert_eq!(got.unwrap()["echo"], json!([s.as_str()]), "each answer arrives on its own session");
    }
}

#[test]
fn a_flooding_session_does_not_starve_another() {
    let config = Config { transmit_bound: 8, max_inbound_pending: 4, ..Config::default() };
    let mut pair = Pair::new(config, 12);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    pair.run(&mut approve_all);
    let sessions: Vec<Topic> = pair.dapp.sessions().cloned().collect();
    let (flood, quiet) = (&sessions[0], &sessions[1]);
    // Outgoing: the flooding session hits its own bound, the quiet one still has room.
    let mut sent = 0;
    while pair.dapp.request(flood, None, "personal_sign", json!([]), now).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 8);
    assert_eq!(
        pair.dapp.request(flood, None, "personal_sign", json!([]), now),
        Err(EndpointError::QueueFull(flood.clone()))
    );
    pair.dapp.request(quiet, None, "personal_sign", json!(["quiet"]), now).unwrap();
    // Round-robin: the quiet session's envelope is among the first two transmits.
    let all: Vec<_> = std::iter::from_fn(|| pair.dapp.poll_transmit()).collect();
    assert_eq!(all.len(), 9);
    assert!(all[..2].iter().any(|t| &t.topic == quiet), "quiet session served second at the latest");
    for t in &all {
        let _ = pair.wallet.handle_incoming(t.topic.as_str(), &t.message, now);
    }
    // Incoming: at most 4 unanswered requests per session reach the app; the rest are refused.
    let events: Vec<_> = std::iter::from_fn(|| pair.wallet.poll_event()).collect();
    let on = |s: &Topic| events.iter().filter(|e| matches!(e, Event::Request { session, .. } if session == s)).count();
    assert_eq!(on(flood), 4, "flood capped at max_inbound_pending");
    assert_eq!(on(quiet), 1, "the quiet session is unaffected");
}

#[test]
fn tampered_replayed_and_misrouted_envelopes_are_refused() {
    let mut pair = Pair::new(Config::default(), 13);
    let session = pair.connect();
    let now = pair.now;
    pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    let t = pair.dapp.poll_transmit().unwrap();
    let pairing = pair.wallet.pairings().next().unwrap().clone();
    // Misrouted onto the pairing topic: wrong key.
    assert!(matches!(
        pair.wallet.handle_incoming(pairing.as_str(), &t.message, now),
        Err(IncomingError::Envelope(heliograph_session::EnvelopeError::WrongKeyOrTampered))
    ));
    // Unknown topic.
    let stranger = heliograph_session::SymKey::from_bytes([9; 32]).topic();
    assert_eq!(
        pair.wallet.handle_incoming(stranger.as_str(), &t.message, now),
        Err(IncomingError::UnknownTopic(stranger))
    );
    // Tampered.
    let mut bytes = heliograph_session::Envelope::decode(&t.message).unwrap().to_bytes();
    bytes[14] ^= 0x80;
    let tampered = heliograph_session::Envelope::from_bytes(bytes).unwrap().encode();
    assert!(pair.wallet.handle_incoming(session.as_str(), &tampered, now).is_err());
    // Genuine once, then replayed.
    assert_eq!(pair.wallet.handle_incoming(session.as_str(), &t.message, now), Ok(()));
    assert!(matches!(pair.wallet.handle_incoming(session.as_str(), &t.message, now), Err(IncomingError::Replay(_))));
    let requests =
        std::iter::from_fn(|| pair.wallet.poll_event()).filter(|e| matches!(e, Event::Request { .. })).count();
    assert_eq!(requests, 1);
}

#[test]
fn presence_follows_traffic() {
    let config = Config {
        heartbeat_interval: Duration::from_secs(10),
        offline_after: Duration::from_secs(25),
        ..Config::default()
    };
    let mut pair = Pair::new(config, 14);
    let session = pair.connect();
    // Heartbeats keep both sides online while the network works.
    for _ in 0..6 {
        pair.advance(Duration::from_secs(10));
        pair.run(&mut nothing);
    }
    assert!(!pair.dapp_events.iter().any(|e| matches!(e, Event::PeerOffline { .. })));
    // The network goes silent: heartbeats are lost.
    for _ in 0..3 {
        pair.advance(Duration::from_secs(10));
        pair.pump(Side::Dapp);
        pair.pump(Side::Wallet);
        pair.inflight.clear();
    }
    assert!(pair.dapp_events.contains(&Event::PeerOffline { session: session.clone() }));
    pair.advance(Duration::from_secs(10));
    pair.run(&mut nothing);
    assert!(pair.dapp_events.contains(&Event::PeerOnline { session }));
}

#[test]
fn a_restarted_wallet_resumes_without_pairing_again() {
    let mut pair = Pair::new(Config::default(), 15);
    let session = pair.connect();
    let now = pair.now;
    // An unanswered request survives the restart.
    let id = pair.dapp.request(&session, None, "personal_sign", json!(["before restart"]), now).unwrap();
    pair.run(&mut nothing);
    let old_envelope = pair.inflight.clone();
    assert!(old_envelope.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path().join("wallet.json"));
    store.save(&pair.wallet.snapshot()).unwrap();
    assert!(!format!("{:?}", pair.wallet.snapshot()).contains(&pair.wallet.snapshot().sessions[0].sym_key));
    let snapshot = store.load().unwrap().unwrap();
    pair.wallet = Endpoint::restore(Config::default(), ChaCha20Rng::seed_from_u64(99), &snapshot, now).unwrap();
    assert_eq!(pair.wallet.session_info(&session).unwrap().accounts.len(), 1);
    pair.run(&mut nothing); // re-subscribes
    pair.wallet.respond(&session, id, Ok(json!("signed after restart")), now).unwrap();
    let later = pair.dapp.request(&session, None, "personal_sign", json!(["after"]), now).unwrap();
    pair.run(&mut answer_requests);
    assert!(pair.dapp_events.iter().any(|e| matches!(e, Event::Response { id: r, outcome: Ok(v), .. } if *r == id && *v == json!("signed after restart"))));
    assert!(pair.dapp_events.iter().any(|e| matches!(e, Event::Response { id: r, .. } if *r == later)));
}

#[test]
fn replay_window_survives_restart() {
    let mut pair = Pair::new(Config::default(), 16);
    let session = pair.connect();
    let now = pair.now;
    pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    let t = pair.dapp.poll_transmit().unwrap();
    pair.wallet.handle_incoming(session.as_str(), &t.message, now).unwrap();
    let mut store = heliograph_session::MemoryStore::new();
    store.save(&pair.wallet.snapshot()).unwrap();
    let snap = store.load().unwrap().unwrap();
    let mut restored = Endpoint::restore(Config::default(), ChaCha20Rng::seed_from_u64(5), &snap, now).unwrap();
    assert!(matches!(restored.handle_incoming(session.as_str(), &t.message, now), Err(IncomingError::Replay(_))));
}

#[test]
fn pairing_uri_errors_surface_through_pair() {
    let mut pair = Pair::new(Config::default(), 17);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let later = now.advance(Duration::from_secs(301));
    assert!(matches!(pair.wallet.pair(&uri.to_string(), later), Err(EndpointError::Uri(_))));
    assert!(matches!(pair.wallet.pair("wc:nope", now), Err(EndpointError::Uri(_))));
}

#[test]
fn timers_never_stay_due_after_handle_timeout() {
    // A full transmit queue must not leave a heartbeat due forever (a busy loop for the driver).
    let config = Config { transmit_bound: 2, heartbeat_interval: Duration::from_secs(10), ..Config::default() };
    let mut pair = Pair::new(config, 18);
    let session = pair.connect();
    let now = pair.now;
    pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    pair.dapp.request(&session, None, "personal_sign", json!([]), now).unwrap();
    let later = now.advance(Duration::from_secs(11));
    pair.dapp.handle_timeout(later);
    assert!(pair.dapp.poll_timeout().unwrap() > later.instant);
}

#[test]
fn huge_messages_are_refused_without_touching_other_sessions() {
    let mut pair = Pair::new(Config::default(), 19);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    pair.run(&mut approve_all);
    let sessions: Vec<Topic> = pair.dapp.sessions().cloned().collect();
    let huge = json!(["x".repeat(200 * 1024)]);
    assert!(matches!(
        pair.dapp.request(&sessions[0], None, "personal_sign", huge, now),
        Err(EndpointError::TooLarge(_))
    ));
    // An oversized envelope pushed by the relay is refused before any decryption work.
    let oversized = "A".repeat(heliograph_session::envelope::MAX_ENCODED_LEN + 4);
    assert!(matches!(
        pair.wallet.handle_incoming(sessions[0].as_str(), &oversized, now),
        Err(IncomingError::Envelope(heliograph_session::EnvelopeError::TooLarge(_)))
    ));
    let id = pair.dapp.request(&sessions[1], None, "personal_sign", json!(["small"]), now).unwrap();
    pair.run(&mut answer_requests);
    assert!(pair.dapp_events.iter().any(|e| matches!(e, Event::Response { id: r, .. } if *r == id)));
}
