//! Sans-IO session protocol for Heliograph: WalletConnect v2 compatible pairing,
//! encrypted envelopes and multiplexed JSON-RPC sessions between two parties that
//! reach each other only through a relay.
//!
//! Nothing here does IO or reads a clock: state machines take bytes and the current
//! time, and hand back bytes to publish and events. Start at [`Endpoint`]; see
//! `README.md` in this crate for the API and the state machines.
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use heliograph_session::namespaces::{Outcome, Request};
//! use heliograph_session::{Config, Endpoint, Event, Now};
//! use rand_core::SeedableRng;
//!
//! let now = Now::new(Instant::now(), SystemTime::now());
//! let rng = |seed| rand_chacha::ChaCha20Rng::seed_from_u64(seed);
//! let mut dapp = Endpoint::new(Config::default(), rng(1));
//! let mut wallet = Endpoint::new(Config::default(), rng(2));
//!
//! // The dapp shows the URI (e.g. `Qr::new(&uri.to_string())?.to_unicode()`), the wallet scans it.
//! let uri = dapp.create_pairing(now);
//! let pairing = wallet.pair(&uri.to_string(), now)?;
//! let mut request = Request::default();
//! request.required_namespaces.insert("eip155".into(), [("chains".into(), vec!["eip155:1".into()])].into());
//! dapp.propose(&pairing, request, now)?;
//!
//! // A stand-in for the relay: move every transmit to the other side until quiet.
//! let mut connected = false;
//! for _ in 0..10 {
//!     while let Some(t) = dapp.poll_transmit() {
//!         wallet.handle_incoming(t.topic.as_str(), &t.message, now)?;
//!     }
//!     while let Some(event) = wallet.poll_event() {
//!         if let Event::Proposal(p) = event {
//!             let account = "eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".to_string();
//!             wallet.approve(&p.pairing, p.id, |_, _| Outcome::Granted, vec![account], now)?;
//!         }
//!     }
//!     while let Some(t) = wallet.poll_transmit() {
//!         dapp.handle_incoming(t.topic.as_str(), &t.message, now)?;
//!     }
//!     while let Some(event) = dapp.poll_event() {
//!         connected |= matches!(event, Event::Connected(ref c) if c.accounts.len() == 1);
//!     }
//! }
//! assert!(connected);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod backoff;
#[cfg(feature = "driver")]
pub mod driver;
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
pub mod signaling;
pub mod store;
pub mod uri;
pub mod walletconnect;

pub use endpoint::{
    Config, ConnectResult, Endpoint, EndpointError, Event, IncomingError, IncomingProposal, Now, Role, Snapshot,
    TopicChange, Transmit,
};
pub use envelope::{Envelope, EnvelopeError};
pub use keys::{KeyError, KeyPair, PublicKey, SymKey, Topic};
pub use qr::{Qr, QrError};
pub use signaling::{Call, CallEvent, Fingerprint, Signal, SignalingError};
pub use store::{FileStore, MemoryStore, SessionStore, StoreError};
pub use uri::{PairingUri, UriError};
