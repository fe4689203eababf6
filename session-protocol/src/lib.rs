//! Sans-IO session protocol for Heliograph: WalletConnect v2 compatible pairing,
//! encrypted envelopes and multiplexed JSON-RPC sessions between two parties that
//! reach each other only through a relay.
//!
//! Nothing here does IO or reads a clock: state machines take bytes and the current
//! time, and hand back bytes to publish and events. Start at [`Endpoint`]; see
//! `README.md` in this crate for the API and the state machines.

pub mod backoff;
pub mod endpoint;
pub mod envelope;
pub mod fair;
pub mod keys;
pub mod linking;
pub mod namespaces;
pub mod permissions;
pub mod presence;
pub mod qr;
pub mod replay;
pub mod rpc;
pub mod store;
pub mod uri;

pub use endpoint::{
    Config, ConnectResult, Endpoint, EndpointError, Event, IncomingError, IncomingProposal, Now, Role, Snapshot,
    TopicChange, Transmit,
};
pub use envelope::{Envelope, EnvelopeError};
pub use keys::{KeyError, KeyPair, PublicKey, SymKey, Topic};
pub use qr::{Qr, QrError};
pub use store::{FileStore, MemoryStore, SessionStore, StoreError};
pub use uri::{PairingUri, UriError};
