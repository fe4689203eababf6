//! The error codes of WalletConnect Sign v2 (and the EIP-1193 provider codes
//! wallets answer requests with) as one typed enum, so that every refusal on the
//! wire carries the code the official SDKs expect.

use crate::rpc::ErrorObject;

/// A WalletConnect Sign (or EIP-1193) error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdkError {
    /// 1001: the method is not valid here.
    InvalidMethod,
    /// 1002: the event is not valid here.
    InvalidEvent,
    /// 1003: a malformed or out-of-order `wc_sessionUpdate`.
    InvalidUpdateRequest,
    /// 1004: a malformed `wc_sessionExtend` (expiry in the past or beyond 7 days).
    InvalidExtendRequest,
    /// 1005: a malformed `wc_sessionSettle`.
    InvalidSessionSettleRequest,
    /// 3001: the method was not granted in the session.
    UnauthorizedMethod,
    /// 3002: the event was not granted in the session.
    UnauthorizedEvent,
    /// 3003: only the controller may update the session.
    UnauthorizedUpdateRequest,
    /// 3004: only the controller may extend the session.
    UnauthorizedExtendRequest,
    /// 4001 (EIP-1193): the user rejected the request.
    UserRejectedRequest,
    /// 4100 (EIP-1193): the method or account is not authorised.
    Unauthorized,
    /// 4200 (EIP-1193): the wallet does not support the method.
    UnsupportedMethod,
    /// 4900 (EIP-1193): the provider is disconnected from all chains.
    Disconnected,
    /// 4901 (EIP-1193): the provider is disconnected from the requested chain.
    ChainDisconnected,
    /// 5000: the user rejected the proposal.
    UserRejected,
    /// 5001: the user rejected the chains.
    UserRejectedChains,
    /// 5002: the user rejected the methods.
    UserRejectedMethods,
    /// 5003: the user rejected the events.
    UserRejectedEvents,
    /// 5100: the wallet does not support the chains.
    UnsupportedChains,
    /// 5101: the wallet does not support the methods.
    UnsupportedMethods,
    /// 5102: the wallet does not support the events.
    UnsupportedEvents,
    /// 5103: the accounts are not supported (or not CAIP-10).
    UnsupportedAccounts,
    /// 5104: the wallet does not support the namespace key.
    UnsupportedNamespaceKey,
    /// 6000: the user ended the session.
    UserDisconnected,
    /// 7000: the session could not be settled.
    SessionSettlementFailed,
    /// 10001: the peer does not implement this `wc_` method.
    WcMethodUnsupported,
}

/// Every code, in numeric order (for tables and tests).
pub const ALL: [SdkError; 26] = [
    SdkError::InvalidMethod,
    SdkError::InvalidEvent,
    SdkError::InvalidUpdateRequest,
    SdkError::InvalidExtendRequest,
    SdkError::InvalidSessionSettleRequest,
    SdkError::UnauthorizedMethod,
    SdkError::UnauthorizedEvent,
    SdkError::UnauthorizedUpdateRequest,
    SdkError::UnauthorizedExtendRequest,
    SdkError::UserRejectedRequest,
    SdkError::Unauthorized,
    SdkError::UnsupportedMethod,
    SdkError::Disconnected,
    SdkError::ChainDisconnected,
    SdkError::UserRejected,
    SdkError::UserRejectedChains,
    SdkError::UserRejectedMethods,
    SdkError::UserRejectedEvents,
    SdkError::UnsupportedChains,
    SdkError::UnsupportedMethods,
    SdkError::UnsupportedEvents,
    SdkError::UnsupportedAccounts,
    SdkError::UnsupportedNamespaceKey,
    SdkError::UserDisconnected,
    SdkError::SessionSettlementFailed,
    SdkError::WcMethodUnsupported,
];

impl SdkError {
    /// The numeric code on the wire.
    pub fn code(self) -> i64 {
        match self {
            SdkError::InvalidMethod => 1001,
            SdkError::InvalidEvent => 1002,
            SdkError::InvalidUpdateRequest => 1003,
            SdkError::InvalidExtendRequest => 1004,
            SdkError::InvalidSessionSettleRequest => 1005,
            SdkError::UnauthorizedMethod => 3001,
            SdkError::UnauthorizedEvent => 3002,
            SdkError::UnauthorizedUpdateRequest => 3003,
            SdkError::UnauthorizedExtendRequest => 3004,
            SdkError::UserRejectedRequest => 4001,
            SdkError::Unauthorized => 4100,
            SdkError::UnsupportedMethod => 4200,
            SdkError::Disconnected => 4900,
            SdkError::ChainDisconnected => 4901,
            SdkError::UserRejected => 5000,
            SdkError::UserRejectedChains => 5001,
            SdkError::UserRejectedMethods => 5002,
            SdkError::UserRejectedEvents => 5003,
            SdkError::UnsupportedChains => 5100,
            SdkError::UnsupportedMethods => 5101,
            SdkError::UnsupportedEvents => 5102,
            SdkError::UnsupportedAccounts => 5103,
            SdkError::UnsupportedNamespaceKey => 5104,
            SdkError::UserDisconnected => 6000,
            SdkError::SessionSettlementFailed => 7000,
            SdkError::WcMethodUnsupported => 10001,
        }
    }

    /// The code's default message, as the SDKs word it.
    pub fn message(self) -> &'static str {
        match self {
            SdkError::InvalidMethod => "Invalid method.",
            SdkError::InvalidEvent => "Invalid event.",
            SdkError::InvalidUpdateRequest => "Invalid update request.",
            SdkError::InvalidExtendRequest => "Invalid extend request.",
            SdkError::InvalidSessionSettleRequest => "Invalid session settle request.",
            SdkError::UnauthorizedMethod => "Unauthorized method.",
            SdkError::UnauthorizedEvent => "Unauthorized event.",
            SdkError::UnauthorizedUpdateRequest => "Unauthorized update request.",
            SdkError::UnauthorizedExtendRequest => "Unauthorized extend request.",
            SdkError::UserRejectedRequest => "User rejected the request.",
            SdkError::Unauthorized => "Unauthorized.",
            SdkError::UnsupportedMethod => "Unsupported method.",
            SdkError::Disconnected => "Disconnected.",
            SdkError::ChainDisconnected => "Chain disconnected.",
            SdkError::UserRejected => "User rejected.",
            SdkError::UserRejectedChains => "User rejected chains.",
            SdkError::UserRejectedMethods => "User rejected methods.",
            SdkError::UserRejectedEvents => "User rejected events.",
            SdkError::UnsupportedChains => "Unsupported chains.",
            SdkError::UnsupportedMethods => "Unsupported methods.",
            SdkError::UnsupportedEvents => "Unsupported events.",
            SdkError::UnsupportedAccounts => "Unsupported accounts.",
            SdkError::UnsupportedNamespaceKey => "Unsupported namespace key.",
            SdkError::UserDisconnected => "User disconnected.",
            SdkError::SessionSettlementFailed => "Session settlement failed.",
            SdkError::WcMethodUnsupported => "Unsupported wc_ method.",
        }
    }

    /// The code with this number, if it is one of ours.
    pub fn from_code(code: i64) -> Option<Self> {
        ALL.into_iter().find(|e| e.code() == code)
    }

    /// The "unsupported" code for a namespace item kind (`chains` → 5100, ...).
    pub fn unsupported(kind: &str) -> Self {
        match kind {
            "chains" => SdkError::UnsupportedChains,
            "methods" => SdkError::UnsupportedMethods,
            "events" => SdkError::UnsupportedEvents,
            "accounts" => SdkError::UnsupportedAccounts,
            _ => SdkError::UnsupportedNamespaceKey,
        }
    }

    /// The JSON-RPC error object: the default message, then `context` after a space
    /// when given (the SDKs' `getSdkError(key, context)` shape).
    pub fn to_error(self, context: Option<&str>) -> ErrorObject {
        let message = match context {
            Some(c) if !c.is_empty() => format!("{} {c}", self.message()),
            _ => self.message().to_owned(),
        };
        ErrorObject::new(self.code(), message)
    }
}

impl std::fmt::Display for SdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_round_trip() {
        let codes: Vec<i64> = ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        for e in ALL {
            assert_eq!(SdkError::from_code(e.code()), Some(e));
        }
        assert_eq!(SdkError::from_code(5105), None);
    }

    #[test]
    fn errors_carry_the_sdk_message_and_context() {
        let e = SdkError::UnsupportedChains.to_error(Some("eip155:999"));
        assert_eq!((e.code, e.message.as_str()), (5100, "Unsupported chains. eip155:999"));
        assert_eq!(SdkError::UserRejected.to_error(None).message, "User rejected.");
        assert_eq!(SdkError::unsupported("events"), SdkError::UnsupportedEvents);
        assert_eq!(SdkError::unsupported("rpcMap"), SdkError::UnsupportedNamespaceKey);
    }
}
