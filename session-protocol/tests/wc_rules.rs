//! WalletConnect rules the endpoint follows through the `walletconnect` mapping,
//! checked between two endpoints over the modelled relay: chain-keyed
//! namespaces get their accounts, proposals WalletConnect would refuse are
//! refused before sending, an extension in the settling second is accepted,
//! and events (which the SDKs never answer) never time out.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;

use std::time::Duration;

use common::{Pair, approve_all, eip155_request};
use heliograph_session::namespaces::{Namespaces, Request};
use heliograph_session::walletconnect::{NamespaceError, WireError};
use heliograph_session::{Config, EndpointError, Event};
use serde_json::json;

fn ns(v: serde_json::Value) -> Namespaces {
    serde_json::from_value(v).unwrap()
}

#[test]
fn chain_keyed_namespaces_get_their_accounts() {
    let mut pair = Pair::new(Config::default(), 21);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    let request =
        Request { required_namespaces: ns(json!({"eip155:1": {"methods": ["personal_sign"]}})), ..Request::default() };
    pair.dapp.propose(&pairing, request, now).unwrap();
    pair.run(&mut approve_all);
    let connected = pair.dapp_events.iter().find_map(|e| if let Event::Connected(c) = e { Some(c) } else { None });
    let namespaces = &connected.unwrap().namespaces;
    assert_eq!(namespaces.keys().collect::<Vec<_>>(), ["eip155:1"]);
    assert_eq!(
        namespaces["eip155:1"]["accounts"],
        vec!["eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".to_string()]
    );
    assert_eq!(namespaces["eip155:1"]["events"], Vec::<String>::new(), "events always present");
}

#[test]
fn proposals_walletconnect_refuses_are_not_sent() {
    let mut pair = Pair::new(Config::default(), 22);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let request = Request { optional_namespaces: ns(json!({"eip155": {"methods": ["x"]}})), ..eip155_request() };
    let err = pair.dapp.propose(&uri.topic, request, now).unwrap_err();
    let expected =
        WireError::Namespaces { method: "wc_sessionPropose", error: NamespaceError::NoChains("eip155".into()) };
    assert_eq!(err, EndpointError::Wire(expected));
    assert!(pair.dapp.poll_transmit().is_none());
}

#[test]
fn an_extension_in_the_settling_second_is_accepted_and_events_never_time_out() {
    let mut pair = Pair::new(Config::default(), 23);
    let session = pair.connect();
    let expiry = pair.wallet.session_info(&session).unwrap().expiry;
    let now = pair.now;
    pair.wallet.extend(&session, now).unwrap();
    pair.wallet.emit(&session, Some("eip155:1"), "chainChanged", json!(1), now).unwrap();
    pair.run(&mut |_, _, _| {});
    assert!(pair.dapp_events.contains(&Event::SessionExtended { session: session.clone(), expiry }));
    assert!(pair.refused.is_empty(), "{:?}", pair.refused);
    pair.advance(Duration::from_secs(301));
    pair.run(&mut |_, _, _| {});
    assert!(!pair.wallet_events.iter().any(|e| matches!(e, Event::RequestTimedOut { .. })));
}

#[test]
fn bad_accounts_are_refused_before_the_proposal_is_consumed() {
    let mut pair = Pair::new(Config::default(), 24);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    pair.dapp.propose(&pairing, eip155_request(), now).unwrap();
    let mut proposal = None;
    pair.run(&mut |_, _, events| {
        for e in events {
            if let Event::Proposal(p) = e {
                proposal = Some(p);
            }
        }
    });
    let p = proposal.unwrap();
    let grant = |_: &_, _| heliograph_session::namespaces::Outcome::Granted;
    let err = pair.wallet.approve(&p.pairing, p.id, grant, vec!["0xab".into()], now).unwrap_err();
    assert_eq!(err, EndpointError::BadAccount("0xab".into()));
    let account = "eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".to_string();
    assert!(pair.wallet.approve(&p.pairing, p.id, grant, vec![account], now).is_ok(), "the proposal is still there");
}

#[test]
fn a_malformed_proposal_is_answered_with_the_sdk_code() {
    use heliograph_session::envelope;
    use heliograph_session::rpc::Message;
    let mut pair = Pair::new(Config::default(), 25);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    let proposal = Message::Request {
        id: now.unix_ms() * 1000,
        method: "wc_sessionPropose".into(),
        params: json!({
            "requiredNamespaces": {"eip155": {"chains": ["eip155:1"], "methods": [7], "events": []}},
            "proposer": {"publicKey": "a3ad5e26070ddb2809200c6f56e739333512015bceeadbb8ea1731c4c7ddb207", "metadata": {}},
        }),
    };
    let sealed = envelope::seal_type0(&uri.sym_key, &proposal.to_json(), &mut rand_core::OsRng);
    let err = pair.wallet.handle_incoming(pairing.as_str(), &sealed, now).unwrap_err();
    assert!(err.to_string().contains("methods must be an array of strings"), "{err}");
    let answer = pair.wallet.poll_transmit().expect("an automatic rejection");
    assert_eq!((answer.topic, answer.tag), (pairing, 1120));
    let opened = envelope::Envelope::decode(&answer.message).unwrap().open(&uri.sym_key).unwrap();
    let Message::Response { outcome: Err(e), .. } = Message::parse(&opened).unwrap() else { panic!("not an error") };
    assert_eq!(e.code, 5101);
}

#[test]
fn an_expired_request_is_dropped_unanswered() {
    use heliograph_session::IncomingError;
    use heliograph_session::envelope;
    use heliograph_session::rpc::Message;
    let mut pair = Pair::new(Config::default(), 26);
    let session = pair.connect();
    let now = pair.now;
    // The session key, from the dapp's snapshot, to seal a request as a peer would.
    let key = pair.dapp.snapshot().sessions.iter().find(|s| s.topic == session).map(|s| s.sym_key.clone()).unwrap();
    let expired = Message::Request {
        id: now.unix_ms() * 1000 + 7,
        method: "wc_sessionRequest".into(),
        params: json!({"request": {"method": "personal_sign", "params": [], "expiryTimestamp": now.unix_secs()}, "chainId": "eip155:1"}),
    };
    let key = heliograph_session::SymKey::from_hex(&key).unwrap();
    let sealed = envelope::seal_type0(&key, &expired.to_json(), &mut rand_core::OsRng);
    let err = pair.wallet.handle_incoming(session.as_str(), &sealed, now).unwrap_err();
    assert_eq!(err, IncomingError::RequestExpired(now.unix_ms() * 1000 + 7));
    assert!(pair.wallet.poll_transmit().is_none(), "no answer, as the SDK wallets do");
}

#[test]
fn an_approval_that_cannot_be_settled_tells_the_dapp() {
    use heliograph_session::envelope;
    use heliograph_session::rpc::Message;
    let mut pair = Pair::new(Config::default(), 27);
    let now = pair.now;
    let uri = pair.dapp.create_pairing(now);
    let pairing = pair.wallet.pair(&uri.to_string(), now).unwrap();
    let id = now.unix_ms() * 1000;
    let proposal = Message::Request {
        id,
        method: "wc_sessionPropose".into(),
        params: json!({
            "requiredNamespaces": {"eip155": {"chains": ["1"], "methods": [], "events": []}},
            "proposer": {"publicKey": "a3ad5e26070ddb2809200c6f56e739333512015bceeadbb8ea1731c4c7ddb207", "metadata": {}},
        }),
    };
    let sealed = envelope::seal_type0(&uri.sym_key, &proposal.to_json(), &mut rand_core::OsRng);
    pair.wallet.handle_incoming(pairing.as_str(), &sealed, now).unwrap();
    let grant = |_: &_, _| heliograph_session::namespaces::Outcome::Granted;
    let account = "eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".to_string();
    assert!(matches!(pair.wallet.approve(&pairing, id, grant, vec![account], now), Err(EndpointError::Wire(_))));
    let answer = pair.wallet.poll_transmit().expect("the dapp is told");
    let opened = envelope::Envelope::decode(&answer.message).unwrap().open(&uri.sym_key).unwrap();
    let Message::Response { outcome: Err(e), .. } = Message::parse(&opened).unwrap() else { panic!("not an error") };
    assert_eq!(e.code, 5100);
    assert!(pair.wallet.sessions().next().is_none());
}
