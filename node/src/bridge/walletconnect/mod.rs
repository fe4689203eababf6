//! A WalletConnect v2 relay (the `irn_*` and `wc_*` methods of the hosted
//! relay) whose topics travel as Waku content topics through the mesh and the
//! store, so a dapp on one node pairs with a wallet on another.

pub mod auth;
pub mod mailbox;
pub mod message;
pub mod methods;
