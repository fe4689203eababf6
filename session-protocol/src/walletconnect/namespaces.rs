//! Namespaces on the wire. Our [`Namespaces`](crate::namespaces::Namespaces) may
//! carry any item kinds; WalletConnect's carry fixed ones:
//!
//! - proposal namespaces (`requiredNamespaces`, `optionalNamespaces`):
//!   `{chains, methods, events}`, where `chains` may be left out when the key
//!   itself is a CAIP-2 chain (`"eip155:1": {...}`);
//! - session namespaces (settle, update): `{accounts, methods, events}` and
//!   optionally `chains`.
//!
//! Writing always puts `methods` and `events` (and `accounts` in session
//! namespaces) as arrays, empty when nothing was asked or granted, because the
//! official SDKs index them without checking. Other kinds of ours travel as
//! extra string-array members, which the SDKs ignore. Reading is lenient: missing
//! arrays are empty, members that are not string arrays (`rpcMap`, ...) are
//! skipped, and a chain key without `chains` counts as `chains: [key]`.

use serde_json::{Map, Value};

use crate::namespaces::{Namespace, Namespaces};

use super::errors::SdkError;

/// Kinds every proposal namespace carries on the wire.
pub const PROPOSAL_KINDS: [&str; 2] = ["methods", "events"];
/// Kinds every session namespace carries on the wire.
pub const SESSION_KINDS: [&str; 3] = ["accounts", "methods", "events"];

/// Why namespaces are not valid WalletConnect namespaces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    /// The namespaces value is not an object of objects.
    #[error("namespaces must be an object of objects (at {0:?})")]
    NotAnObject(String),
    /// `chains`, `methods`, `events` or `accounts` is not an array of strings.
    #[error("namespace {key}: {kind} must be an array of strings")]
    NotStrings {
        /// Namespace key.
        key: String,
        /// The member.
        kind: &'static str,
    },
    /// A namespace key that is no chain has no chains.
    #[error("namespace {0}: chains must be listed, or the key must be a CAIP-2 chain such as \"eip155:1\"")]
    NoChains(String),
    /// A chain is not CAIP-2 (`namespace:reference`).
    #[error("chain {0:?} is not CAIP-2 (\"namespace:reference\")")]
    BadChain(String),
    /// An account is not CAIP-10 (`namespace:reference:address`).
    #[error("account {0:?} is not CAIP-10 (\"namespace:reference:address\")")]
    BadAccount(String),
}

impl NamespaceError {
    /// The WalletConnect code for this problem.
    pub fn sdk_error(&self) -> SdkError {
        match self {
            NamespaceError::NotAnObject(_) => SdkError::UnsupportedNamespaceKey,
            NamespaceError::NotStrings { kind, .. } => SdkError::unsupported(kind),
            NamespaceError::NoChains(_) | NamespaceError::BadChain(_) => SdkError::UnsupportedChains,
            NamespaceError::BadAccount(_) => SdkError::UnsupportedAccounts,
        }
    }
}

/// Whether `s` is a CAIP-2 chain id: `namespace:reference`, both non-empty.
pub fn is_chain(s: &str) -> bool {
    matches!(s.split_once(':'), Some((ns, reference)) if !ns.is_empty() && !reference.is_empty() && !reference.contains(':'))
}

/// Whether `s` is a CAIP-10 account id: `namespace:reference:address`.
pub fn is_account(s: &str) -> bool {
    let mut parts = s.splitn(3, ':');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), Some(c)) if !a.is_empty() && !b.is_empty() && !c.is_empty())
}

/// The CAIP-2 chain of a CAIP-10 account (`eip155:1:0xab…` → `eip155:1`).
pub fn account_chain(account: &str) -> Option<&str> {
    let (chain, _) = account.rsplit_once(':')?;
    is_chain(chain).then_some(chain)
}

/// The namespace (`eip155`) a key (`eip155` or `eip155:1`) belongs to.
pub fn namespace_of(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
}

/// Proposal namespaces as the SDKs want them. Refuses a namespace without chains
/// (unless its key is a chain) and chains that are not CAIP-2, which the
/// official wallet would auto-reject.
pub fn proposal_to_wire(namespaces: &Namespaces) -> Result<Value, NamespaceError> {
    let mut out = Map::new();
    for (key, kinds) in namespaces {
        let chains = kinds.get("chains").filter(|c| !c.is_empty());
        if let Some(bad) = chains.into_iter().flatten().find(|c| !is_chain(c)) {
            return Err(NamespaceError::BadChain(bad.clone()));
        }
        if chains.is_none() && !is_chain(key) {
            return Err(NamespaceError::NoChains(key.clone()));
        }
        let mut ns = Map::new();
        // A chain key's own chain stays implicit, as the dapp wrote it.
        if let Some(chains) = chains.filter(|c| !(c.len() == 1 && c[0] == *key)) {
            ns.insert("chains".into(), strings(chains));
        }
        put_kinds(&mut ns, kinds, &PROPOSAL_KINDS);
        out.insert(key.clone(), Value::Object(ns));
    }
    Ok(Value::Object(out))
}

/// Session namespaces as the SDKs want them; refuses accounts that are not CAIP-10.
pub fn session_to_wire(namespaces: &Namespaces) -> Result<Value, NamespaceError> {
    let mut out = Map::new();
    for (key, kinds) in namespaces {
        if let Some(bad) = kinds.get("accounts").into_iter().flatten().find(|a| !is_account(a)) {
            return Err(NamespaceError::BadAccount(bad.clone()));
        }
        let mut ns = Map::new();
        if let Some(chains) = kinds.get("chains").filter(|c| !c.is_empty()) {
            if let Some(bad) = chains.iter().find(|c| !is_chain(c)) {
                return Err(NamespaceError::BadChain(bad.clone()));
            }
            ns.insert("chains".into(), strings(chains));
        }
        put_kinds(&mut ns, kinds, &SESSION_KINDS);
        out.insert(key.clone(), Value::Object(ns));
    }
    Ok(Value::Object(out))
}

/// Reads proposal namespaces leniently (`null` or absent → none).
pub fn proposal_from_wire(value: Option<&Value>) -> Result<Namespaces, NamespaceError> {
    let mut out = read(value, &["chains", "methods", "events"])?;
    for (key, kinds) in &mut out {
        if is_chain(key) && kinds.get("chains").is_none_or(Vec::is_empty) {
            kinds.insert("chains".into(), vec![key.clone()]);
        }
    }
    Ok(out)
}

/// Reads session namespaces leniently; a namespace without `chains` gets the
/// chains of its accounts (or its key, when that is a chain).
pub fn session_from_wire(value: Option<&Value>) -> Result<Namespaces, NamespaceError> {
    let mut out = read(value, &["chains", "accounts", "methods", "events"])?;
    for (key, kinds) in &mut out {
        if let Some(bad) = kinds.get("accounts").into_iter().flatten().find(|a| !is_account(a)) {
            return Err(NamespaceError::BadAccount(bad.clone()));
        }
        for kind in SESSION_KINDS {
            kinds.entry(kind.into()).or_default();
        }
        if kinds.get("chains").is_none_or(Vec::is_empty) {
            let mut chains: Vec<String> = Vec::new();
            if is_chain(key) {
                chains.push(key.clone());
            }
            for chain in kinds["accounts"].iter().filter_map(|a| account_chain(a)) {
                if !chains.iter().any(|c| c == chain) {
                    chains.push(chain.to_owned());
                }
            }
            kinds.insert("chains".into(), chains);
        }
    }
    Ok(out)
}

/// Adds the session kinds a controller must send (`accounts`, `methods`,
/// `events`) as empty lists where missing, so what we hold equals what the
/// peer reads back.
pub fn normalize_session(namespaces: &mut Namespaces) {
    for kinds in namespaces.values_mut() {
        for kind in SESSION_KINDS {
            kinds.entry(kind.into()).or_default();
        }
    }
}

/// Puts each account into the namespace whose chains hold its chain (so
/// `"eip155:1"`-keyed namespaces get their accounts), else into the namespace
/// named like its prefix, created if needed.
pub fn place_accounts(namespaces: &mut Namespaces, accounts: &[String]) {
    for account in accounts {
        let chain = account_chain(account).unwrap_or_default();
        let key = namespaces
            .iter()
            .find(|(key, kinds)| {
                key.as_str() == chain || kinds.get("chains").is_some_and(|c| c.iter().any(|x| x == chain))
            })
            .map(|(key, _)| key.clone())
            .unwrap_or_else(|| namespace_of(account).to_owned());
        let list = namespaces.entry(key).or_default().entry("accounts".into()).or_default();
        if !list.contains(account) {
            list.push(account.clone());
        }
    }
}

fn strings(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::String).collect())
}

fn put_kinds(ns: &mut Map<String, Value>, kinds: &Namespace, always: &[&str]) {
    for kind in always {
        ns.insert((*kind).into(), strings(kinds.get(*kind).map_or(&[][..], Vec::as_slice)));
    }
    for (kind, values) in kinds {
        if kind != "chains" && !ns.contains_key(kind) {
            ns.insert(kind.clone(), strings(values));
        }
    }
}

/// Reads an object of namespaces: the `typed` members must be string arrays;
/// other members are kept when they are string arrays and skipped otherwise.
fn read(value: Option<&Value>, typed: &[&'static str]) -> Result<Namespaces, NamespaceError> {
    let mut out = Namespaces::new();
    let object = match value {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(NamespaceError::NotAnObject(String::new())),
    };
    for (key, ns) in object {
        let ns = ns.as_object().ok_or_else(|| NamespaceError::NotAnObject(key.clone()))?;
        let entry = out.entry(key.clone()).or_default();
        for (kind, values) in ns {
            let list: Option<Vec<String>> =
                values.as_array().and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect());
            match (list, typed.iter().find(|t| **t == kind)) {
                (Some(list), _) => {
                    entry.insert(kind.clone(), list);
                }
                // `null` is how some SDK builds write an absent list.
                (None, Some(_)) if values.is_null() => {}
                (None, Some(t)) => return Err(NamespaceError::NotStrings { key: key.clone(), kind: t }),
                (None, None) => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(v: Value) -> Namespaces {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn proposals_always_carry_methods_and_events() {
        let wire = proposal_to_wire(&ns(json!({"eip155": {"chains": ["eip155:1"], "methods": ["personal_sign"]}})));
        assert_eq!(
            wire.unwrap(),
            json!({"eip155": {"chains": ["eip155:1"], "methods": ["personal_sign"], "events": []}})
        );
        let inline = proposal_to_wire(&ns(json!({"eip155:10": {"methods": []}}))).unwrap();
        assert_eq!(inline, json!({"eip155:10": {"methods": [], "events": []}}));
        let read_back = proposal_from_wire(Some(&inline)).unwrap();
        assert_eq!(proposal_to_wire(&read_back).unwrap(), inline, "a chain key's own chain stays implicit");
        assert_eq!(
            proposal_to_wire(&ns(json!({"eip155": {"methods": ["x"]}}))),
            Err(NamespaceError::NoChains("eip155".into()))
        );
        assert_eq!(
            proposal_to_wire(&ns(json!({"eip155": {"chains": ["1"]}}))),
            Err(NamespaceError::BadChain("1".into()))
        );
    }

    #[test]
    fn proposals_are_read_leniently() {
        let v = json!({"eip155": {"chains": ["eip155:1"], "rpcMap": {"1": "https://rpc"}}, "eip155:10": {"methods": ["eth_sign"], "events": null}});
        let read = proposal_from_wire(Some(&v)).unwrap();
        assert_eq!(read["eip155"], [("chains".to_string(), vec!["eip155:1".to_string()])].into());
        assert_eq!(read["eip155:10"]["chains"], vec!["eip155:10".to_string()]);
        assert!(proposal_from_wire(None).unwrap().is_empty());
        let bad = proposal_from_wire(Some(&json!({"eip155": {"methods": [1]}})));
        assert_eq!(bad.unwrap_err().sdk_error(), SdkError::UnsupportedMethods);
        assert!(proposal_from_wire(Some(&json!({"eip155": []}))).is_err());
    }

    #[test]
    fn sessions_carry_accounts_methods_events_and_read_chains_from_accounts() {
        let mut held = ns(json!({"eip155": {"chains": ["eip155:1"], "methods": ["personal_sign"]}}));
        place_accounts(&mut held, &["eip155:1:0xab".into()]);
        normalize_session(&mut held);
        let wire = session_to_wire(&held).unwrap();
        assert_eq!(
            wire,
            json!({"eip155": {"chains": ["eip155:1"], "accounts": ["eip155:1:0xab"], "methods": ["personal_sign"], "events": []}})
        );
        assert_eq!(session_from_wire(Some(&wire)).unwrap(), held);

        let sdk = json!({"eip155": {"accounts": ["eip155:1:0xab", "eip155:10:0xab"], "methods": [], "events": ["chainChanged"]}});
        let read = session_from_wire(Some(&sdk)).unwrap();
        assert_eq!(read["eip155"]["chains"], vec!["eip155:1".to_string(), "eip155:10".to_string()]);
        assert_eq!(
            session_to_wire(&ns(json!({"eip155": {"accounts": ["0xab"]}}))),
            Err(NamespaceError::BadAccount("0xab".into()))
        );
    }

    #[test]
    fn accounts_go_to_the_namespace_holding_their_chain() {
        let mut held = ns(json!({"eip155:1": {"chains": ["eip155:1"]}, "eip155": {"chains": ["eip155:10"]}}));
        place_accounts(&mut held, &["eip155:1:0xa".into(), "eip155:10:0xa".into(), "solana:main:Ab".into()]);
        assert_eq!(held["eip155:1"]["accounts"], vec!["eip155:1:0xa".to_string()]);
        assert_eq!(held["eip155"]["accounts"], vec!["eip155:10:0xa".to_string()]);
        assert_eq!(held["solana"]["accounts"], vec!["solana:main:Ab".to_string()]);
    }

    #[test]
    fn caip_ids() {
        assert!(is_chain("eip155:1") && !is_chain("eip155") && !is_chain(":1") && !is_chain("eip155:1:0x"));
        assert!(is_account("eip155:1:0xab") && !is_account("eip155:1"));
        assert_eq!(account_chain("eip155:1:0xab"), Some("eip155:1"));
    }
}
