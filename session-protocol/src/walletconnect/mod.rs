//! WalletConnect Sign v2 on the wire: the one place where our session types
//! (generalised namespaces, item results, reasons) become the JSON the spec and
//! the official SDKs (`@walletconnect/sign-client`, `@reown/walletkit`) write
//! and read, and back.
//!
//! - [`namespaces`]: proposal namespaces `{chains, methods, events}` and session
//!   namespaces `{accounts, methods, events}`, always with every array;
//! - [`params`]: the params of `wc_sessionPropose` / `Settle` / `Update` /
//!   `Extend` / `Request` / `Event` / `Delete` / `Ping` and `wc_pairingPing` /
//!   `wc_pairingDelete`;
//! - [`expiry`]: proposal and session lifetimes and the extension rule;
//! - [`errors`]: the spec's error codes as [`SdkError`].
//!
//! `tests/vectors/walletconnect.json` holds wire vectors other clients test against.

pub mod errors;
pub mod expiry;
pub mod namespaces;
pub mod params;

pub use errors::SdkError;
pub use namespaces::NamespaceError;
pub use params::WireError;
