//! Cross-checks the crate against the real `@walletconnect/utils` (pinned in
//! `tests/js/package-lock.json`): envelopes, key agreement, topics and URIs must be
//! byte-identical in both directions. Skips (with a printed reason) only when `node`
//! or `npm` is not installed.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod js_runner;

use heliograph_session::envelope::{self, Envelope};
use heliograph_session::{KeyPair, PairingUri, PublicKey, SymKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

fn run_js(input: &Value) -> Option<Value> {
    js_runner::node_available().then(|| js_runner::run("vectors.cjs", input))
}

#[test]
fn rust_and_walletconnect_utils_agree_byte_for_byte() {
    let mut rng = ChaCha20Rng::seed_from_u64(2025);
    let sym = SymKey::generate(&mut rng);
    let iv = [7u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    let message = r#"{"id":1700000000000123,"jsonrpc":"2.0","method":"wc_sessionPing","params":{}}"#;
    let a = KeyPair::generate(&mut rng);
    let b = KeyPair::generate(&mut rng);
    let sender = KeyPair::generate(&mut rng).public();

    let mut rust_uri =
        PairingUri::generate(&mut rng, std::time::UNIX_EPOCH, std::time::Duration::from_secs(1_700_000_300));
    rust_uri.methods = Some(vec!["wc_sessionPropose".into(), "wc_sessionAuthenticate".into()]);

    let rust_sealed0 = envelope::seal_type0(&sym, message, &mut rng);
    let rust_sealed1 = envelope::seal_type1(&sym, sender, message, &mut rng);
    let mut tampered = Envelope::decode(&rust_sealed0).unwrap().to_bytes();
    tampered[20] ^= 0x40;
    let tampered = base64_encode(&tampered);

    let input = json!({
        "symKey": sym.to_hex().as_str(),
        "iv": hex::encode(iv),
        "message": message,
        "senderPublicKey": sender.to_hex(),
        "privA": a.secret_hex().as_str(),
        "pubB": b.public().to_hex(),
        "expiryTimestamp": 1_700_000_300u64,
        "methods": ["wc_sessionPropose", "wc_sessionAuthenticate"],
        "rustUri": rust_uri.to_string(),
        "rustEnvelopes": [
            {"symKey": sym.to_hex().as_str(), "encoded": rust_sealed0},
            {"symKey": sym.to_hex().as_str(), "encoded": rust_sealed1},
            {"symKey": sym.to_hex().as_str(), "encoded": tampered},
        ],
        "rustType1": rust_sealed1,
    });
    let Some(js) = run_js(&input) else { return };

    // Rust seals exactly what the JS library seals for the same key, iv and message.
    assert_eq!(js["type0"], envelope::seal_type0_with_iv(&sym, iv, message));
    let js_type1 = Envelope::decode(js["type1"].as_str().unwrap()).unwrap();
    assert_eq!(js_type1.sender(), Some(sender));
    assert_eq!(js_type1.open(&sym).unwrap(), message);
    assert_eq!(js["type2"], envelope::encode_type2(message));
    assert_eq!(Envelope::decode(js["type2"].as_str().unwrap()).unwrap().plaintext().unwrap(), message);

    // Key agreement and topic derivation.
    let derived = a.derive_sym_key(&b.public()).unwrap();
    assert_eq!(js["derived"], derived.to_hex().as_str());
    assert_eq!(js["derivedTopic"], derived.topic().as_str());
    let js_public = PublicKey::from_hex(js["jsPublic"].as_str().unwrap()).unwrap();
    assert_eq!(js["jsDerivedWithB"], b.derive_sym_key(&js_public).unwrap().to_hex().as_str());
    let js_sym = SymKey::from_hex(js["jsSym"].as_str().unwrap()).unwrap();
    assert_eq!(js["jsSymTopic"], js_sym.topic().as_str());
    // A JS-sealed envelope with a JS-chosen random iv opens in Rust.
    assert_eq!(Envelope::decode(js["jsSealed"].as_str().unwrap()).unwrap().open(&js_sym).unwrap(), message);

    // URIs: JS formatUri output equals ours and parses in Rust; ours parses in JS.
    let js_uri = PairingUri::parse(js["uri"].as_str().unwrap()).unwrap();
    assert_eq!(js_uri.sym_key, sym);
    let mut ours =
        PairingUri { topic: sym.topic(), sym_key: sym.clone(), expiry: 1_700_000_300, methods: None, relay_data: None };
    ours.methods = Some(vec!["wc_sessionPropose".into(), "wc_sessionAuthenticate".into()]);
    assert_eq!(js["uri"], ours.to_string());
    let parsed = &js["parsedRustUri"];
    assert_eq!(parsed["topic"], rust_uri.topic.as_str());
    assert_eq!(parsed["symKey"], rust_uri.sym_key.to_hex().as_str());
    assert_eq!(parsed["version"], 2);
    assert_eq!(parsed["relay"]["protocol"], "irn");
    assert_eq!(parsed["expiryTimestamp"], rust_uri.expiry);
    assert_eq!(parsed["methods"], json!(["wc_sessionPropose", "wc_sessionAuthenticate"]));

    // Rust-sealed envelopes open in JS; the tampered one is refused there too.
    assert_eq!(js["opened"][0], message);
    assert_eq!(js["opened"][1], message);
    assert!(js["opened"][2]["error"].is_string(), "JS accepted a tampered envelope: {}", js["opened"][2]);
    assert_eq!(js["rustType1Sender"], sender.to_hex());
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
