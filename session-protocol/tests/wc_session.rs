//! A WalletConnect v2 dapp played by the real `@walletconnect/utils` and
//! `jsonrpc-utils` (Node) against the Rust wallet endpoint: the JS proposal is
//! accepted, JS opens the Rust approval and settle, derives the same session
//! topic, acknowledges, and its `personal_sign` request reaches the wallet app.
//! Skips only when `node`/`npm` are missing.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod js_runner;

use std::time::{Instant, SystemTime};

use heliograph_session::namespaces::Outcome;
use heliograph_session::{Config, Endpoint, Event, Now, Topic, TopicChange};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

#[test]
fn js_dapp_connects_to_rust_wallet() {
    if !js_runner::node_available() {
        return;
    }
    // Real time: the JS ids carry Date.now() and the replay window checks their age.
    let now = Now::new(Instant::now(), SystemTime::now());
    let mut dapp_side = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(1));
    let uri = dapp_side.create_pairing(now);
    let mut wallet = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(2));
    let pairing = wallet.pair(&uri.to_string(), now).unwrap();
    assert_eq!(wallet.poll_topic_change(), Some(TopicChange::Subscribe(pairing.clone())));

    let key_hex = uri.sym_key.to_hex().to_string();
    let js = js_runner::run("session.cjs", &json!({"step": "propose", "pairingSymKey": key_hex}));
    wallet.handle_incoming(pairing.as_str(), js["message"].as_str().unwrap(), now).unwrap();
    let Some(Event::Proposal(proposal)) = wallet.poll_event() else { panic!("no proposal event") };
    assert_eq!(proposal.id.to_string(), js["id"].as_str().unwrap());
    assert_eq!(proposal.proposer_metadata["name"], "js dapp");
    assert_eq!(proposal.request.optional_namespaces["eip155"]["methods"], vec!["personal_sign".to_string()]);
    assert!(!proposal.request.optional_namespaces["eip155"].contains_key("rpcMap"), "non-list kinds are skipped");

    let account = "eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb";
    let session = wallet.approve(&pairing, proposal.id, |_, _| Outcome::Granted, vec![account.into()], now).unwrap();
    let response = wallet.poll_transmit().unwrap();
    let settle = wallet.poll_transmit().unwrap();
    assert_eq!((response.topic.clone(), response.tag), (pairing.clone(), 1101));
    assert_eq!((settle.topic.clone(), settle.tag), (session.clone(), 1102));

    let js = js_runner::run(
        "session.cjs",
        &json!({
            "step": "settle",
            "pairingSymKey": key_hex,
            "privateKey": js["privateKey"],
            "response": response.message,
            "settle": settle.message,
        }),
    );
    assert_eq!(Topic::parse(js["sessionTopic"].as_str().unwrap()).unwrap(), session, "same session topic in JS");
    assert_eq!(js["response"]["result"]["relay"]["protocol"], "irn");
    assert_eq!(js["settle"]["method"], "wc_sessionSettle");
    assert_eq!(js["settle"]["params"]["namespaces"]["eip155"]["accounts"], json!([account]));
    assert_eq!(js["settle"]["params"]["namespaces"]["eip155"]["methods"], json!(["personal_sign"]));

    wallet.handle_incoming(session.as_str(), js["ack"].as_str().unwrap(), now).unwrap();
    wallet.handle_incoming(session.as_str(), js["sign"].as_str().unwrap(), now).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| wallet.poll_event()).collect();
    assert!(matches!(&events[0], Event::Connected(c) if c.accounts == [account.to_string()]));
    let Event::Request { id, method, params, chain_id, .. } = &events[1] else { panic!("no request: {events:?}") };
    assert_eq!(id.to_string(), js["signId"].as_str().unwrap());
    assert_eq!((method.as_str(), chain_id.as_deref()), ("personal_sign", Some("eip155:1")));
    assert_eq!(params[0], Value::from("0x68656c6c6f"));
    // Tags follow the WalletConnect table.
    wallet.respond(&session, *id, Ok(json!("0xsig")), now).unwrap();
    let answer = wallet.poll_transmit().unwrap();
    assert_eq!((answer.tag, answer.ttl.as_secs(), answer.prompt), (1109, 900, false));
    // A replay of the JS request is refused.
    assert!(wallet.handle_incoming(session.as_str(), js["sign"].as_str().unwrap(), now).is_err());
}
