//! Property tests of the endpoint state machines in virtual time: random
//! interleavings, drops, duplicates, reorders, tampering, misrouting and replays
//! of envelopes between a dapp and a wallet. No endpoint ever accepts a tampered,
//! misrouted or replayed envelope, every event matches something the peer really
//! sent (once), and honest traffic still completes.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Flight, Pair, Side, approve_all, eip155_request};
use heliograph_session::rpc::ErrorObject;
use heliograph_session::{Config, Event, Topic};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Op {
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Tamper(usize, usize, u8),
    Misroute(usize, usize),
    Replay(usize),
    Advance(u16),
    Request(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<usize>().prop_map(Op::Drop),
        2 => any::<usize>().prop_map(Op::Duplicate),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Swap(a, b)),
        2 => (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(a, b, c)| Op::Tamper(a, b, c)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Misroute(a, b)),
        2 => any::<usize>().prop_map(Op::Replay),
        1 => (0u16..2000).prop_map(Op::Advance),
        3 => any::<usize>().prop_map(Op::Request),
    ]
}

/// What each side really sent, to check every event against.
#[derive(Default)]
struct Ledger {
    /// Dapp requests: (session, id) → (method, params).
    requests: BTreeMap<(Topic, u64), (String, Value)>,
    /// Wallet answers: (session, id) → outcome.
    answers: BTreeMap<(Topic, u64), Result<Value, ErrorObject>>,
}

fn react(ledger: &mut Ledger) -> impl FnMut(&mut Pair, Side, Vec<Event>) + '_ {
    move |pair, side, events| {
        approve_all(pair, side, events.clone());
        if side != Side::Wallet {
            return;
        }
        for e in events {
            if let Event::Request { session, id, params, .. } = e {
                let answer = Ok(json!({"signed": params}));
                let now = pair.now;
                pair.wallet.respond(&session, id, answer.clone(), now).expect("respond");
                ledger.answers.insert((session, id), answer);
            }
        }
    }
}

fn config() -> Config {
    Config { request_timeout: Duration::from_secs(3600), ..Config::default() }
}

fn run_case(seed: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut pair = Pair::new(config(), seed);
    let mut ledger = Ledger::default();
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).expect("pair");
    for _ in 0..2 {
        pair.dapp.propose(&pairing, eip155_request(), now).expect("propose");
    }
    let mut dropped = false;
    let mut counter = 0u64;
    for op in ops {
        {
            let mut r = react(&mut ledger);
            for side in [Side::Dapp, Side::Wallet] {
                let events = pair.pump(side);
                r(&mut pair, side, events);
            }
        }
        let n = pair.inflight.len();
        match op {
            Op::Deliver(i) if n > 0 => {
                let f = pair.inflight.remove(i % n);
                let _ = pair.deliver(&f);
            }
            Op::Drop(i) if n > 0 => {
                pair.inflight.remove(i % n);
                dropped = true;
            }
            Op::Duplicate(i) if n > 0 => {
                let f = pair.inflight[i % n].clone();
                pair.inflight.push(f);
            }
            Op::Swap(a, b) if n > 0 => pair.inflight.swap(a % n, b % n),
            Op::Tamper(i, byte, bit) if n > 0 => {
                let f = pair.inflight[i % n].clone();
                let mut bytes = STANDARD.decode(&f.message).expect("base64");
                let at = byte % bytes.len();
                bytes[at] ^= 1 << bit;
                let forged = Flight { message: STANDARD.encode(&bytes), ..f };
                prop_assert!(pair.deliver(&forged).is_err(), "tampered envelope accepted");
            }
            Op::Misroute(i, t) if n > 0 => {
                let f = pair.inflight[i % n].clone();
                let topics: Vec<Topic> =
                    pair.subs.get(&f.to).into_iter().flatten().filter(|x| **x != f.topic).cloned().collect();
                if !topics.is_empty() {
                    let wrong = Flight { topic: topics[t % topics.len()].clone(), ..f };
                    prop_assert!(pair.deliver(&wrong).is_err(), "misrouted envelope accepted");
                }
            }
            Op::Replay(i) if !pair.accepted.is_empty() => {
                let f = pair.accepted[i % pair.accepted.len()].clone();
                prop_assert!(pair.deliver(&f).is_err(), "replayed envelope accepted");
            }
            Op::Advance(ms) => pair.advance(Duration::from_millis(u64::from(ms))),
            Op::Request(s) => {
                let sessions: Vec<Topic> =
                    pair.dapp.sessions().filter(|t| pair.dapp.session_info(t).is_some()).cloned().collect();
                if !sessions.is_empty() {
                    let session = sessions[s % sessions.len()].clone();
                    counter += 1;
                    let params = json!([format!("message {counter}")]);
                    let now = pair.now;
                    if let Ok(id) = pair.dapp.request(&session, Some("eip155:1"), "personal_sign", params.clone(), now)
                    {
                        ledger.requests.insert((session, id), ("personal_sign".into(), params));
                    }
                }
            }
            _ => {}
        }
    }
    // Honest phase: everything still in flight is delivered in order.
    pair.run(&mut react(&mut ledger));
    if !dropped {
        let established = pair.dapp.sessions().filter(|t| pair.dapp.session_info(t).is_some()).count();
        prop_assert_eq!(established, 2, "both sessions connect when nothing is dropped");
        let answered: BTreeSet<(Topic, u64)> = pair
            .dapp_events
            .iter()
            .filter_map(|e| match e {
                Event::Response { session, id, .. } => Some((session.clone(), *id)),
                _ => None,
            })
            .collect();
        for key in ledger.requests.keys() {
            prop_assert!(answered.contains(key), "request {:?} never answered", key);
        }
    }
    // Let every timer fire: whatever is still pending resolves.
    for _ in 0..4 {
        pair.advance(Duration::from_secs(1800));
        pair.run(&mut react(&mut ledger));
    }

    prop_assert_eq!(pair.double_accepts, 0, "an envelope was accepted twice");
    // Every request the wallet's app saw was really sent by the dapp, once.
    let mut seen = BTreeSet::new();
    for e in &pair.wallet_events {
        if let Event::Request { session, id, method, params, .. } = e {
            let key = (session.clone(), *id);
            prop_assert_eq!(ledger.requests.get(&key), Some(&(method.clone(), params.clone())));
            prop_assert!(seen.insert(key), "request delivered twice");
        }
    }
    // Every response the dapp saw was really sent by the wallet; each request
    // resolves at most once, by response or by timeout.
    let mut resolved = BTreeSet::new();
    for e in &pair.dapp_events {
        match e {
            Event::Response { session, id, outcome } => {
                let key = (session.clone(), *id);
                prop_assert_eq!(ledger.answers.get(&key), Some(outcome));
                prop_assert!(resolved.insert(key), "request resolved twice");
            }
            Event::RequestTimedOut { session, id } => {
                prop_assert!(resolved.insert((session.clone(), *id)), "request resolved twice");
            }
            _ => {}
        }
    }
    // Each request resolved, unless its session ended first.
    let ended: BTreeSet<Topic> = pair
        .dapp_events
        .iter()
        .filter_map(|e| match e {
            Event::SessionExpired { session } | Event::SessionDeleted { session, .. } => Some(session.clone()),
            _ => None,
        })
        .collect();
    for key in ledger.requests.keys() {
        prop_assert!(resolved.contains(key) || ended.contains(&key.0), "request {:?} never resolved", key);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn adversarial_network_never_breaks_sessions(seed in any::<u64>(), ops in proptest::collection::vec(op(), 0..120)) {
        run_case(seed, ops)?;
    }

    #[test]
    fn envelopes_round_trip_and_any_bit_flip_is_refused(
        key in any::<[u8; 32]>(),
        message in ".{0,200}",
        seed in any::<u64>(),
        flip in any::<(usize, u8)>(),
    ) {
        use heliograph_session::{envelope, Envelope, SymKey};
        use rand_core::SeedableRng;
        let key = SymKey::from_bytes(key);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let wire = envelope::seal_type0(&key, &message, &mut rng);
        prop_assert_eq!(Envelope::decode(&wire).unwrap().open(&key).unwrap(), message);
        let mut bytes = STANDARD.decode(&wire).unwrap();
        let at = flip.0 % bytes.len();
        bytes[at] ^= 1 << (flip.1 % 8);
        let opened = Envelope::from_bytes(bytes).and_then(|e| e.open(&key));
        prop_assert!(opened.is_err());
    }
}
