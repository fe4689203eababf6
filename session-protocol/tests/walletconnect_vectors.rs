//! Checks `tests/vectors/walletconnect.json` against the `walletconnect` module:
//! namespaces written and read exactly as the vectors say, refusals with the
//! listed codes, every spec error code, and every method's params round-trip.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use heliograph_session::namespaces::Namespaces;
use heliograph_session::walletconnect::errors::{ALL, SdkError};
use heliograph_session::walletconnect::namespaces::{
    proposal_from_wire, proposal_to_wire, session_from_wire, session_to_wire,
};
use heliograph_session::walletconnect::params::{
    Extend, Propose, ProposeResult, Reason, SessionEvent, SessionRequest, Settle, Update, ping,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/walletconnect.json")).unwrap()
}

fn ours(v: &Value) -> Namespaces {
    serde_json::from_value(v["ours"].clone()).unwrap()
}

#[test]
fn namespaces_are_written_and_read_as_the_vectors_say() {
    let v = vectors();
    for case in v["proposal"]["write"].as_array().unwrap() {
        assert_eq!(proposal_to_wire(&ours(case)).unwrap(), case["wire"], "{}", case["name"]);
        assert_eq!(proposal_from_wire(Some(&case["wire"])).unwrap().len(), ours(case).len(), "{}", case["name"]);
    }
    for case in v["proposal"]["read"].as_array().unwrap() {
        assert_eq!(proposal_from_wire(Some(&case["wire"])).unwrap(), ours(case), "{}", case["name"]);
    }
    for case in v["session"]["write"].as_array().unwrap() {
        assert_eq!(session_to_wire(&ours(case)).unwrap(), case["wire"], "{}", case["name"]);
        assert_eq!(session_to_wire(&session_from_wire(Some(&case["wire"])).unwrap()).unwrap(), case["wire"]);
    }
    for case in v["session"]["read"].as_array().unwrap() {
        assert_eq!(session_from_wire(Some(&case["wire"])).unwrap(), ours(case), "{}", case["name"]);
    }
}

#[test]
fn refusals_carry_the_listed_codes() {
    let v = vectors();
    let code = |case: &Value| case["code"].as_i64().unwrap();
    for case in v["proposal"]["refuse_write"].as_array().unwrap() {
        let err = proposal_to_wire(&ours(case)).unwrap_err();
        assert_eq!(err.sdk_error().code(), code(case), "{}", case["name"]);
    }
    for case in v["proposal"]["refuse_read"].as_array().unwrap() {
        let err = proposal_from_wire(Some(&case["wire"])).unwrap_err();
        assert_eq!(err.sdk_error().code(), code(case), "{}", case["name"]);
    }
    for case in v["session"]["refuse_write"].as_array().unwrap() {
        let err = session_to_wire(&ours(case)).unwrap_err();
        assert_eq!(err.sdk_error().code(), code(case), "{}", case["name"]);
    }
}

#[test]
fn every_spec_error_code_is_typed() {
    let v = vectors();
    let listed = v["errors"].as_array().unwrap();
    assert_eq!(listed.len(), ALL.len());
    for (entry, e) in listed.iter().zip(ALL) {
        assert_eq!(entry["code"].as_i64(), Some(e.code()));
        assert_eq!(entry["message"].as_str(), Some(e.message()));
        assert_eq!(SdkError::from_code(e.code()), Some(e));
    }
}

#[test]
fn every_method_s_params_round_trip() {
    let v = vectors();
    let p = &v["params"];
    assert_eq!(Propose::from_json(&p["wc_sessionPropose"]).unwrap().to_json().unwrap(), p["wc_sessionPropose"]);
    let result = &p["wc_sessionPropose_result"];
    assert_eq!(ProposeResult::from_json(result).unwrap().to_json(), *result);
    assert_eq!(Settle::from_json(&p["wc_sessionSettle"]).unwrap().to_json().unwrap(), p["wc_sessionSettle"]);
    assert_eq!(Update::from_json(&p["wc_sessionUpdate"]).unwrap().to_json().unwrap(), p["wc_sessionUpdate"]);
    assert_eq!(Extend::from_json(&p["wc_sessionExtend"]).to_json(), p["wc_sessionExtend"]);
    assert_eq!(Extend::from_json(&serde_json::json!({})).expiry, None, "what the SDKs send");
    assert_eq!(SessionRequest::from_json(&p["wc_sessionRequest"]).unwrap().to_json(), p["wc_sessionRequest"]);
    assert_eq!(SessionEvent::from_json(&p["wc_sessionEvent"]).unwrap().to_json(), p["wc_sessionEvent"]);
    assert_eq!(Reason::from_json(&p["wc_sessionDelete"]).to_json(), p["wc_sessionDelete"]);
    assert_eq!(Reason::from_json(&p["wc_pairingDelete"]).to_json(), p["wc_pairingDelete"]);
    assert_eq!(ping(), p["wc_sessionPing"]);
    assert_eq!(ping(), p["wc_pairingPing"]);
}

#[test]
fn malformed_params_name_the_field() {
    let err = Propose::from_json(&serde_json::json!({"requiredNamespaces": {}})).unwrap_err();
    assert_eq!(err.to_string(), "malformed wc_sessionPropose params: proposer is missing or not an object");
    let err = Settle::from_json(&serde_json::json!({"namespaces": {}, "controller": {"publicKey": "ab"}})).unwrap_err();
    assert_eq!(err.to_string(), "malformed wc_sessionSettle params: expiry is missing or not unix seconds");
    assert!(SessionRequest::from_json(&serde_json::json!({"request": {}})).is_err());
    assert!(SessionEvent::from_json(&serde_json::json!({"event": {"data": 1}})).is_err());
}
