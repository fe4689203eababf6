//! The WalletConnect v2 relay protocol's wire pieces that both ends must spell the
//! same way: the node's bridge serves them, the session driver sends them.
//!
//! - [`method`]: the `irn_*` method names and the subscription id clients compute;
//! - [`did`]: `did:key` identifiers of ed25519 keys (the relay client id);
//! - [`jwt`]: the relay-auth JWT (`@walletconnect/relay-auth`), signed and verified.

pub mod did;
pub mod jwt;
pub mod method;

pub use jwt::{Claims, JwtError, VerifiedClient};
pub use method::Method;
