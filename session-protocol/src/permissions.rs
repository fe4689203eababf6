//! EIP-2255 wallet permissions for a session: the shapes of
//! `wallet_requestPermissions`, `wallet_getPermissions` and
//! `wallet_revokePermissions`, and the set a wallet keeps per session.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a permissions request was malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// Params are not `[{ "<capability>": {...}, ... }]`.
    #[error("permission params must be a one-element array of {{capability: {{}}}} objects")]
    BadParams,
    /// No capability was named.
    #[error("no capability named in the permission request")]
    Empty,
}

/// A caveat restricting a permission (EIP-2255 `{type, value}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caveat {
    /// Caveat type, e.g. `restrictReturnedAccounts`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Caveat value.
    pub value: Value,
}

/// A granted permission, as returned by `wallet_getPermissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Who holds it (the dapp origin or URL).
    pub invoker: String,
    /// The method or capability, e.g. `eth_accounts`.
    pub parent_capability: String,
    /// Restrictions.
    #[serde(default)]
    pub caveats: Vec<Caveat>,
    /// When it was granted (unix ms).
    pub date: u64,
}

/// The permissions one session holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSet {
    granted: BTreeMap<String, Permission>,
}

impl PermissionSet {
    /// Grants `capabilities` to `invoker` at `date_ms`; returns the new permissions.
    pub fn grant(&mut self, invoker: &str, capabilities: &[String], date_ms: u64) -> Vec<Permission> {
        capabilities
            .iter()
            .map(|cap| {
                let p = Permission {
                    invoker: invoker.into(),
                    parent_capability: cap.clone(),
                    caveats: vec![],
                    date: date_ms,
                };
                self.granted.insert(cap.clone(), p.clone());
                p
            })
            .collect()
    }

    /// Records permissions the wallet reported as granted (dapp-side view).
    pub fn insert(&mut self, permissions: impl IntoIterator<Item = Permission>) {
        for p in permissions {
            self.granted.insert(p.parent_capability.clone(), p);
        }
    }

    /// Revokes `capabilities`; returns those that were held.
    pub fn revoke(&mut self, capabilities: &[String]) -> Vec<String> {
        capabilities.iter().filter(|c| self.granted.remove(c.as_str()).is_some()).cloned().collect()
    }

    /// Whether `capability` is held.
    pub fn allows(&self, capability: &str) -> bool {
        self.granted.contains_key(capability)
    }

    /// All permissions, ordered by capability.
    pub fn list(&self) -> Vec<Permission> {
        self.granted.values().cloned().collect()
    }

    /// The `wallet_getPermissions` / `wallet_requestPermissions` result shape.
    pub fn to_result(permissions: &[Permission]) -> Value {
        json!(permissions)
    }
}

/// A permission change waiting for the wallet's answer (dapp side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PendingChange {
    /// `wallet_requestPermissions`: the answer lists what was granted.
    Request,
    /// `wallet_revokePermissions` of these capabilities.
    Revoke(Vec<String>),
}

/// Reads the capability names from `wallet_requestPermissions` or
/// `wallet_revokePermissions` params: `[{"eth_accounts": {}}]`.
pub fn parse_capabilities(params: &Value) -> Result<Vec<String>, PermissionError> {
    let arr = params.as_array().ok_or(PermissionError::BadParams)?;
    let [obj] = arr.as_slice() else { return Err(PermissionError::BadParams) };
    let obj = obj.as_object().ok_or(PermissionError::BadParams)?;
    if obj.is_empty() {
        return Err(PermissionError::Empty);
    }
    Ok(obj.keys().cloned().collect())
}

/// Builds the params of `wallet_requestPermissions` / `wallet_revokePermissions`.
pub fn capabilities_params(capabilities: &[String]) -> Value {
    let obj: serde_json::Map<String, Value> = capabilities.iter().map(|c| (c.clone(), json!({}))).collect();
    json!([obj])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_list_revoke() {
        let params = capabilities_params(&["eth_accounts".into(), "personal_sign".into()]);
        let caps = parse_capabilities(&params).unwrap();
        let mut set = PermissionSet::default();
        let granted = set.grant("https://dapp.example", &caps, 42);
        assert_eq!(granted.len(), 2);
        let v = PermissionSet::to_result(&set.list());
        assert_eq!(v[0]["parentCapability"], "eth_accounts");
        assert_eq!(v[0]["invoker"], "https://dapp.example");
        assert_eq!(v[0]["caveats"], json!([]));
        assert_eq!(set.revoke(&["eth_accounts".into(), "nope".into()]), vec!["eth_accounts".to_string()]);
        assert!(!set.allows("eth_accounts"));
        assert!(set.allows("personal_sign"));
    }

    #[test]
    fn malformed_params() {
        assert_eq!(parse_capabilities(&json!({})), Err(PermissionError::BadParams));
        assert_eq!(parse_capabilities(&json!([{}])), Err(PermissionError::Empty));
        assert_eq!(parse_capabilities(&json!([{}, {}])), Err(PermissionError::BadParams));
    }
}
