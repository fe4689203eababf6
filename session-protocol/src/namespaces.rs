//! Session proposals and their answers. A proposal asks for items (chains,
//! methods, events, or any capability kind a namespace defines) as required or
//! optional; the answer reports granted / denied-with-reason per item. A denied
//! required item fails the whole proposal, naming the item and the reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Items a namespace asks for, by kind: `{"chains": [...], "methods": [...], "events": [...]}`
/// (WalletConnect `requiredNamespaces` entry; any other kind is allowed). The
/// wire form is [`crate::walletconnect::namespaces`]' job.
pub type Namespace = BTreeMap<String, Vec<String>>;

/// Namespaces by name (`eip155`, `solana`, ...).
pub type Namespaces = BTreeMap<String, Namespace>;

/// One requested capability.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Item {
    /// Namespace name, e.g. `eip155`.
    pub namespace: String,
    /// Kind within the namespace, e.g. `chains`, `methods`, `events`.
    pub kind: String,
    /// The value, e.g. `eip155:1` or `personal_sign`.
    pub value: String,
}

impl Item {
    /// Builds an item.
    pub fn new(namespace: &str, kind: &str, value: &str) -> Self {
        Item { namespace: namespace.into(), kind: kind.into(), value: value.into() }
    }
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.value)
    }
}

/// The wallet's answer for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// The item is granted.
    Granted,
    /// The item is denied.
    Denied {
        /// Why (shown to the requesting party).
        reason: String,
    },
}

/// An item with its outcome, as reported back to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    /// The item.
    #[serde(flatten)]
    pub item: Item,
    /// Whether it was required.
    pub required: bool,
    /// The answer.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a proposer asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Items the session cannot work without.
    pub required_namespaces: Namespaces,
    /// Items the session can do without.
    #[serde(default)]
    pub optional_namespaces: Namespaces,
    /// WalletConnect `sessionProperties`: free-form values the dapp asks the
    /// wallet to echo into the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why a proposal failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// A required item was denied; nothing was granted.
    #[error("required item {item} denied: {reason}")]
    RequiredDenied {
        /// The first required item denied.
        item: Item,
        /// The wallet's reason.
        reason: String,
    },
    /// The wallet rejected the whole proposal.
    #[error("proposal rejected ({code}): {message}")]
    Rejected {
        /// The wallet's error code (5000 user rejected, 5100 unsupported chains, ...).
        code: i64,
        /// The wallet's message.
        message: String,
    },
    /// No answer arrived before the proposal's deadline.
    #[error("no answer to the proposal in time")]
    TimedOut,
}

impl Request {
    /// Every item asked for, with whether it is required (required first).
    pub fn items(&self) -> Vec<(Item, bool)> {
        let mut out = Vec::new();
        for (required, spaces) in [(true, &self.required_namespaces), (false, &self.optional_namespaces)] {
            for (ns, kinds) in spaces {
                for (kind, values) in kinds {
                    for value in values {
                        out.push((Item::new(ns, kind, value), required));
                    }
                }
            }
        }
        out
    }

    /// Answers every item with `decide`; returns the per-item results and, if no
    /// required item was denied, the granted namespaces. Atomic: one denied
    /// required item means nothing is granted.
    pub fn evaluate(
        &self,
        mut decide: impl FnMut(&Item, bool) -> Outcome,
    ) -> (Vec<ItemResult>, Result<Namespaces, ProposalError>) {
        let results: Vec<ItemResult> = self
            .items()
            .into_iter()
            .map(|(item, required)| {
                let outcome = decide(&item, required);
                ItemResult { item, required, outcome }
            })
            .collect();
        let verdict = granted_namespaces(&results);
        (results, verdict)
    }
}

/// The namespaces granted by `results`, or the first denied required item.
pub fn granted_namespaces(results: &[ItemResult]) -> Result<Namespaces, ProposalError> {
    let mut granted = Namespaces::new();
    for r in results {
        match &r.outcome {
            Outcome::Denied { reason } if r.required => {
                return Err(ProposalError::RequiredDenied { item: r.item.clone(), reason: reason.clone() });
            }
            Outcome::Denied { .. } => {}
            Outcome::Granted => granted
                .entry(r.item.namespace.clone())
                .or_default()
                .entry(r.item.kind.clone())
                .or_default()
                .push(r.item.value.clone()),
        }
    }
    Ok(granted)
}

/// Whether `namespaces` grant `value` of `kind` in any namespace.
pub fn grants(namespaces: &Namespaces, kind: &str, value: &str) -> bool {
    namespaces.values().any(|ns| ns.get(kind).is_some_and(|v| v.iter().any(|x| x == value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        let mut req = Request::default();
        req.required_namespaces.insert(
            "eip155".into(),
            [("chains".into(), vec!["eip155:1".into()]), ("methods".into(), vec!["personal_sign".into()])].into(),
        );
        req.optional_namespaces.insert("eip155".into(), [("chains".into(), vec!["eip155:10".into()])].into());
        req
    }

    #[test]
    fn optional_denials_do_not_fail_the_proposal() {
        let (results, verdict) = request().evaluate(|item, _| {
            if item.value == "eip155:10" {
                Outcome::Denied { reason: "unsupported chain".into() }
            } else {
                Outcome::Granted
            }
        });
        assert_eq!(results.len(), 3);
        let granted = verdict.unwrap();
        assert!(grants(&granted, "chains", "eip155:1"));
        assert!(!grants(&granted, "chains", "eip155:10"));
        assert!(grants(&granted, "methods", "personal_sign"));
    }

    #[test]
    fn a_denied_required_item_fails_atomically_and_is_named() {
        let (results, verdict) = request().evaluate(|item, _| {
            if item.kind == "methods" {
                Outcome::Denied { reason: "signing disabled".into() }
            } else {
                Outcome::Granted
            }
        });
        assert_eq!(
            verdict,
            Err(ProposalError::RequiredDenied {
                item: Item::new("eip155", "methods", "personal_sign"),
                reason: "signing disabled".into()
            })
        );
        assert_eq!(results.iter().filter(|r| r.outcome == Outcome::Granted).count(), 2);
    }

    #[test]
    fn item_results_serialise_flat() {
        let r = ItemResult {
            item: Item::new("eip155", "chains", "eip155:1"),
            required: true,
            outcome: Outcome::Denied { reason: "no".into() },
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["namespace"], "eip155");
        assert_eq!(v["outcome"], "denied");
        assert_eq!(serde_json::from_value::<ItemResult>(v).unwrap(), r);
    }
}
