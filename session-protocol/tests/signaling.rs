//! WebRTC signaling over real endpoints, shared test vectors for the TypeScript
//! client (`tests/vectors/signaling.json`), and properties of the SAS and of glare.
//!
//! The vectors file is checked, not silently rewritten: run with
//! `HELIOGRAPH_UPDATE_VECTORS=1` to regenerate it after a deliberate format change.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::time::{Instant, SystemTime};

use heliograph_session::envelope::{Envelope, seal_type0_with_iv};
use heliograph_session::linking;
use heliograph_session::namespaces::{Outcome, Request};
use heliograph_session::rpc::ErrorObject;
use heliograph_session::signaling::{
    self, Call, CallEvent, Candidate, Fingerprint, METHODS, REFUSED_CODE, Signal, SignalingError, short_auth_string,
};
use heliograph_session::{Config, Endpoint, Event, KeyPair, Now, PairingUri, SymKey, Topic};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

fn fp(byte: u8) -> Fingerprint {
    Fingerprint::parse(&format!("sha-256 {}", vec![format!("{byte:02X}"); 32].join(":"))).unwrap()
}

fn sdp(fp: &Fingerprint, ufrag: &str) -> String {
    format!(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
         a=ice-ufrag:{ufrag}\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=ice-options:trickle\r\n\
         a=fingerprint:{fp}\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n"
    )
}

// ---- two real endpoints, a session granting the signaling methods -----------------

struct Net {
    dapp: Endpoint,
    wallet: Endpoint,
    now: Now,
}

impl Net {
    /// Moves every transmit between the two endpoints until quiet; returns the events.
    fn pump(&mut self) -> (Vec<Event>, Vec<Event>) {
        let (mut de, mut we) = (vec![], vec![]);
        loop {
            let mut moved = false;
            while let Some(t) = self.dapp.poll_transmit() {
                moved = true;
                self.wallet.handle_incoming(t.topic.as_str(), &t.message, self.now).unwrap();
            }
            while let Some(t) = self.wallet.poll_transmit() {
                moved = true;
                self.dapp.handle_incoming(t.topic.as_str(), &t.message, self.now).unwrap();
            }
            while let Some(e) = self.dapp.poll_event() {
                de.push(e);
            }
            while let Some(e) = self.wallet.poll_event() {
                we.push(e);
            }
            while self.dapp.poll_topic_change().is_some() || self.wallet.poll_topic_change().is_some() {}
            if !moved {
                return (de, we);
            }
        }
    }
}

fn connect(grant_signaling: bool) -> (Net, Topic) {
    let now = Now::new(Instant::now(), SystemTime::now());
    let mut net = Net {
        dapp: Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(1)),
        wallet: Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(2)),
        now,
    };
    let uri = net.dapp.create_pairing(now);
    let pairing = net.wallet.pair(&uri.to_string(), now).unwrap();
    let mut request = Request::default();
    request.required_namespaces.insert(
        "eip155".into(),
        [("chains".into(), vec!["eip155:1".into()]), ("methods".into(), vec!["personal_sign".into()])].into(),
    );
    request.optional_namespaces.insert(
        "eip155".into(),
        [
            // WalletConnect wants chains in every namespace whose key is not a chain.
            ("chains".into(), vec!["eip155:1".into()]),
            ("methods".into(), METHODS.iter().map(|m| m.to_string()).collect()),
        ]
        .into(),
    );
    net.dapp.propose(&pairing, request, now).unwrap();
    let (_, we) = net.pump();
    let Some(Event::Proposal(p)) = we.into_iter().next() else { panic!("no proposal") };
    let decide = |item: &heliograph_session::namespaces::Item, _: bool| {
        if grant_signaling || !item.value.starts_with("wrtc_") {
            Outcome::Granted
        } else {
            Outcome::Denied { reason: "no calls".into() }
        }
    };
    net.wallet
        .approve(&p.pairing, p.id, decide, vec!["eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".into()], now)
        .unwrap();
    let (de, _) = net.pump();
    let session = de.iter().find_map(|e| if let Event::Connected(c) = e { Some(c.session.clone()) } else { None });
    (net, session.unwrap())
}

/// Sends what `call` has queued, from `from_dapp`'s side; returns the peer's signaling
/// requests (method, params) and the responses that came back to the sender.
fn send(net: &mut Net, session: &Topic, from_dapp: bool, call: &mut Call) {
    let now = net.now;
    while let Some(s) = call.poll_signal() {
        let ep = if from_dapp { &mut net.dapp } else { &mut net.wallet };
        ep.request(session, None, s.method(), s.params(), now).unwrap();
    }
}

/// Feeds the peer's signaling requests into `call` and answers each (true or the refusal).
fn receive(net: &mut Net, session: &Topic, events: Vec<Event>, at_dapp: bool, call: &mut Call) -> Vec<Value> {
    let now = net.now;
    let mut responses = vec![];
    for e in events {
        match e {
            Event::Request { id, method, params, .. } => {
                let outcome = call
                    .handle(&method, &params)
                    .map(|()| json!(true))
                    .map_err(|err| ErrorObject::new(REFUSED_CODE, err.to_string()));
                let ep = if at_dapp { &mut net.dapp } else { &mut net.wallet };
                ep.respond(session, id, outcome, now).unwrap();
            }
            Event::Response { outcome, .. } => {
                responses.push(outcome.unwrap_or_else(|e| json!({"error": e.message})));
            }
            _ => {}
        }
    }
    responses
}

#[test]
fn call_over_a_real_session_shows_the_same_sas_on_both_sides() {
    let (mut net, session) = connect(true);
    let mut dapp_call = net.dapp.call(&session, fp(0x11)).unwrap();
    let mut wallet_call = net.wallet.call(&session, fp(0x22)).unwrap();

    dapp_call.offer("call-1", &sdp(&fp(0x11), "dapp")).unwrap();
    dapp_call
        .candidate(Some(Candidate {
            candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }))
        .unwrap();
    send(&mut net, &session, true, &mut dapp_call);
    let (_, we) = net.pump();
    receive(&mut net, &session, we, false, &mut wallet_call);
    let Some(CallEvent::IncomingOffer { sas: wallet_sas, .. }) = wallet_call.poll_event() else { panic!("no offer") };
    assert!(matches!(wallet_call.poll_event(), Some(CallEvent::RemoteCandidate { candidate: Some(_), .. })));

    wallet_call.answer(&sdp(&fp(0x22), "wallet")).unwrap();
    send(&mut net, &session, false, &mut wallet_call);
    let (de, _) = net.pump();
    let acks = receive(&mut net, &session, de, true, &mut dapp_call);
    let Some(CallEvent::Answered { sas: dapp_sas, .. }) = dapp_call.poll_event() else { panic!("no answer") };
    assert_eq!(dapp_sas, wallet_sas);
    assert_eq!(dapp_sas.len(), 6);
    // The wallet's acks of the offer and the candidate came back to the dapp.
    assert_eq!(acks, vec![json!(true), json!(true)]);
}

#[test]
fn tampered_offer_is_refused_with_a_clear_error_to_the_caller() {
    let (mut net, session) = connect(true);
    let mut wallet_call = net.wallet.call(&session, fp(0x22)).unwrap();
    // A caller whose SDP does not match the fingerprint it authenticates.
    let params = json!({"callId": "c", "sdp": sdp(&fp(0x66), "x"), "fingerprint": fp(0x11).to_string()});
    let now = net.now;
    net.dapp.request(&session, None, signaling::METHOD_OFFER, params, now).unwrap();
    let (_, we) = net.pump();
    receive(&mut net, &session, we, false, &mut wallet_call);
    assert_eq!(wallet_call.poll_event(), None);
    let (de, _) = net.pump();
    let errors: Vec<_> = de
        .into_iter()
        .filter_map(|e| match e {
            Event::Response { outcome: Err(e), .. } => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, REFUSED_CODE);
    assert!(errors[0].message.contains("DTLS fingerprint mismatch"), "{}", errors[0].message);
}

#[test]
fn signaling_needs_the_wallet_to_grant_it() {
    let (mut net, session) = connect(false);
    let mut dapp_call = net.dapp.call(&session, fp(0x11)).unwrap();
    dapp_call.offer("c", &sdp(&fp(0x11), "d")).unwrap();
    send(&mut net, &session, true, &mut dapp_call);
    let (de, we) = net.pump();
    assert!(!we.iter().any(|e| matches!(e, Event::Request { .. })), "the wallet never sees an ungranted offer");
    assert!(
        de.iter().any(|e| matches!(e, Event::Response { outcome: Err(e), .. } if e.code == 3001)),
        "refused as unauthorised: {de:?}"
    );
}

// ---- shared vectors ----------------------------------------------------------------

fn vectors() -> Value {
    let key = SymKey::from_bytes(core::array::from_fn(|i| i as u8));
    let mut sas = vec![];
    for (k, a, b) in [
        (key.clone(), fp(0x11), fp(0x22)),
        (key.clone(), fp(0x22), fp(0x11)),
        (key.clone(), fp(0x11), fp(0x23)),
        (SymKey::from_bytes([0xff; 32]), fp(0x11), fp(0x22)),
        (
            SymKey::from_bytes([0x42; 32]),
            Fingerprint::parse("sha-256 9f:1a:2b:3c:4d:5e:6f:70:81:92:a3:b4:c5:d6:e7:f8:09:1a:2b:3c:4d:5e:6f:70:81:92:a3:b4:c5:d6:e7:f8").unwrap(),
            Fingerprint::parse("sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF").unwrap(),
        ),
    ] {
        sas.push(json!({"key": k.to_hex().as_str(), "a": a.as_str(), "b": b.as_str(), "sas": short_auth_string(&k, &a, &b)}));
    }
    let fingerprints = json!([
        {"input": "SHA-256 ab:cd:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd", "canonical": "sha-256 AB:CD:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"},
        {"input": "sha-256 zz:00", "canonical": null},
        {"input": "sha-256", "canonical": null},
    ]);
    let offer = Signal::Offer { call: "call-1".into(), sdp: sdp(&fp(0x11), "dapp"), fingerprint: fp(0x11) };
    let candidate = Signal::Candidate {
        call: "call-1".into(),
        candidate: Some(Candidate {
            candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }),
    };
    let end = Signal::Candidate { call: "call-1".into(), candidate: None };
    let hangup = Signal::Hangup { call: "call-1".into(), reason: "bye".into() };
    let signals: Vec<Value> = [offer.clone(), candidate, end, hangup]
        .iter()
        .map(|s| json!({"method": s.method(), "params": s.params()}))
        .collect();
    // Renegotiation: the dapp (fingerprint 0x11) calls, the wallet (0x22) answers, then the
    // dapp adds a track and sends a new offer on the same call.
    let renegotiation = {
        let key = SymKey::from_bytes([0x42; 32]);
        let (mut dapp, mut wallet) = (Call::new(key.clone(), fp(0x11)), Call::new(key.clone(), fp(0x22)));
        dapp.offer("call-1", &sdp(&fp(0x11), "dapp")).unwrap();
        let offer = dapp.poll_signal().unwrap();
        wallet.handle(offer.method(), &offer.params()).unwrap();
        wallet.answer(&sdp(&fp(0x22), "wallet")).unwrap();
        let answer = wallet.poll_signal().unwrap();
        dapp.handle(answer.method(), &answer.params()).unwrap();
        dapp.renegotiate(&sdp(&fp(0x11), "dapp-track")).unwrap();
        let reoffer = dapp.poll_signal().unwrap();
        wallet.handle(reoffer.method(), &reoffer.params()).unwrap();
        wallet.answer(&sdp(&fp(0x22), "wallet-track")).unwrap();
        let reanswer = wallet.poll_signal().unwrap();
        let signal = |s: &Signal| json!({"method": s.method(), "params": s.params()});
        json!({
            "symKey": key.to_hex().as_str(),
            "signals": [signal(&offer), signal(&answer), signal(&reoffer), signal(&reanswer)],
            "sas": dapp.sas().unwrap(),
        })
    };
    let tampered = {
        let mut p = offer.params();
        p["sdp"] = Value::String(sdp(&fp(0x66), "dapp"));
        json!({"method": offer.method(), "params": p, "error": Signal::parse(offer.method(), &p).unwrap_err().to_string()})
    };

    // Session key agreement and an envelope carrying a signaling request.
    let a = KeyPair::from_secret_bytes([0x01; 32]);
    let b = KeyPair::from_secret_bytes([0x02; 32]);
    let session_key = a.derive_sym_key(&b.public()).unwrap();
    assert_eq!(session_key, b.derive_sym_key(&a.public()).unwrap());
    let request = json!({
        "id": 1_700_000_000_000_000u64, "jsonrpc": "2.0", "method": "wc_sessionRequest",
        "params": {"request": {"method": offer.method(), "params": offer.params()}, "chainId": null},
    })
    .to_string();
    let iv = [7u8; 12];
    let message = seal_type0_with_iv(&session_key, iv, &request);
    assert_eq!(Envelope::decode(&message).unwrap().open(&session_key).unwrap(), request);
    let pairing_key = SymKey::from_bytes([0x33; 32]);
    let uri = PairingUri {
        topic: pairing_key.topic(),
        sym_key: pairing_key.clone(),
        expiry: 1_900_000_000,
        methods: None,
        relay_data: None,
    };
    let signing = k256::ecdsa::SigningKey::from_slice(&[0x4c; 32]).unwrap();
    let eip191_message = "Sign in to the Heliograph demo\nnonce: 42";
    let eip191 = json!({
        "privateKey": hex::encode([0x4c; 32]),
        "address": format!("0x{}", hex::encode(linking::eth_address(signing.verifying_key()))),
        "message": eip191_message,
        "hash": hex::encode(linking::eip191_hash(eip191_message.as_bytes())),
    });
    json!({
        "eip191": eip191,
        "comment": "Generated and checked by session-protocol/tests/signaling.rs; consumed by clients/ts tests.",
        "sas": sas,
        "fingerprints": fingerprints,
        "sdpFingerprint": {"sdp": sdp(&fp(0x11), "dapp"), "fingerprint": fp(0x11).as_str()},
        "signals": signals,
        "tamperedOffer": tampered,
        "renegotiation": renegotiation,
        "session": {
            "privateA": a.secret_hex().as_str(), "publicA": a.public().to_hex(),
            "privateB": b.secret_hex().as_str(), "publicB": b.public().to_hex(),
            "symKey": session_key.to_hex().as_str(), "topic": session_key.topic().as_str(),
        },
        "envelope": {"symKey": session_key.to_hex().as_str(), "iv": hex::encode(iv), "plaintext": request, "message": message},
        "pairing": {"uri": uri.to_string(), "topic": pairing_key.topic().as_str(), "symKey": pairing_key.to_hex().as_str(), "expiry": 1_900_000_000u64},
    })
}

#[test]
fn shared_vectors_match_the_committed_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signaling.json");
    let text = serde_json::to_string_pretty(&vectors()).unwrap() + "\n";
    if std::env::var_os("HELIOGRAPH_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with HELIOGRAPH_UPDATE_VECTORS=1 to create it", path.display()));
    assert_eq!(
        committed, text,
        "vectors changed: regenerate with HELIOGRAPH_UPDATE_VECTORS=1 and update the TS client"
    );
}

// ---- properties ---------------------------------------------------------------------

fn arb_fp() -> impl Strategy<Value = Fingerprint> {
    proptest::collection::vec(any::<u8>(), 32).prop_map(|b| {
        Fingerprint::parse(&format!("sha-256 {}", b.iter().map(|x| format!("{x:02X}")).collect::<Vec<_>>().join(":")))
            .unwrap()
    })
}

proptest! {
    #[test]
    fn sas_is_symmetric_and_changes_with_any_substitution(key in any::<[u8; 32]>(), a in arb_fp(), b in arb_fp(), c in arb_fp()) {
        let k = SymKey::from_bytes(key);
        let s = short_auth_string(&k, &a, &b);
        prop_assert_eq!(s.len(), 6);
        prop_assert_eq!(&s, &short_auth_string(&k, &b, &a));
        // A substituted fingerprint gives another code except with probability 1e-6;
        // count collisions instead of asserting, then bound them below.
        if c != a && c != b {
            let collide = short_auth_string(&k, &c, &b) == s && short_auth_string(&k, &a, &c) == s;
            prop_assert!(!collide, "both substitutions collide");
        }
    }

    #[test]
    fn glare_always_converges_on_one_call_with_one_sas(key in any::<[u8; 32]>(), a in arb_fp(), b in arb_fp(), a_first in any::<bool>()) {
        prop_assume!(a != b);
        let k = SymKey::from_bytes(key);
        let (mut x, mut y) = (Call::new(k.clone(), a.clone()), Call::new(k, b.clone()));
        x.offer("x", &sdp(&a, "x")).unwrap();
        y.offer("y", &sdp(&b, "y")).unwrap();
        let (sx, sy) = (x.poll_signal().unwrap(), y.poll_signal().unwrap());
        if a_first {
            x.handle(sy.method(), &sy.params()).unwrap();
            y.handle(sx.method(), &sx.params()).unwrap();
        } else {
            y.handle(sx.method(), &sx.params()).unwrap();
            x.handle(sy.method(), &sy.params()).unwrap();
        }
        // Exactly the loser rolls back and answers.
        let (loser, winner, loser_fp) = if a < b { (&mut x, &mut y, &a) } else { (&mut y, &mut x, &b) };
        prop_assert!(matches!(loser.poll_event(), Some(CallEvent::Rollback { .. })), "expected Rollback");
        prop_assert!(matches!(loser.poll_event(), Some(CallEvent::IncomingOffer { .. })), "expected IncomingOffer");
        prop_assert_eq!(winner.poll_event(), None);
        loser.answer(&sdp(loser_fp, "l")).unwrap();
        let ans = loser.poll_signal().unwrap();
        winner.handle(ans.method(), &ans.params()).unwrap();
        prop_assert!(matches!(winner.poll_event(), Some(CallEvent::Answered { .. })), "expected Answered");
        prop_assert_eq!(loser.call_id(), winner.call_id());
        prop_assert_eq!(loser.sas(), winner.sas());
    }

    #[test]
    fn any_sdp_fingerprint_other_than_the_claimed_one_is_refused(a in arb_fp(), b in arb_fp()) {
        prop_assume!(a != b);
        let mut call = Call::new(SymKey::from_bytes([1; 32]), b.clone());
        let params = json!({"callId": "c", "sdp": sdp(&b, "u"), "fingerprint": a.as_str()});
        let refused = matches!(call.handle(signaling::METHOD_OFFER, &params), Err(SignalingError::FingerprintMismatch { .. }));
        prop_assert!(refused);
        prop_assert_eq!(call.poll_event(), None);
    }
}

#[test]
fn vector_pairing_uri_parses_in_the_crate() {
    // The pairing URI in the vectors must stay parseable by the crate itself.
    let v = vectors();
    let uri = PairingUri::parse(v["pairing"]["uri"].as_str().unwrap()).unwrap();
    assert_eq!(uri.topic.as_str(), v["pairing"]["topic"].as_str().unwrap());
}
