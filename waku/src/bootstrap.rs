//! A configured bootstrap peer: a multiaddr, or a signed ENR (`enr:…`, as in
//! nwaku's and Status's bootstrap lists). An ENR is dialed at the addresses it
//! carries (`ip`/`tcp` and the Waku `multiaddrs` field) and handed out by peer
//! exchange from the start.

use std::fmt;
use std::str::FromStr;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use super::enr::NodeEnr;
use super::enrtree::dial_addrs;

/// Why a bootstrap entry is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BootstrapError {
    /// `enr:…` that does not decode or whose signature does not verify.
    #[error("invalid ENR `{text}`: {reason}")]
    Enr {
        /// The entry as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// An ENR without any address to dial.
    #[error("ENR `{0}` has no TCP or WebSocket address to dial")]
    NoAddress(String),
    /// Neither an ENR nor a multiaddr.
    #[error("`{text}` is neither a multiaddr nor an ENR: {reason}")]
    Addr {
        /// The entry as given.
        text: String,
        /// Why it is not a multiaddr.
        reason: String,
    },
}

/// A peer to dial at start and keep connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum BootstrapPeer {
    /// A multiaddr, best ending in `/p2p/<peer id>`.
    Addr(Multiaddr),
    /// A signed node record with at least one dialable address.
    Enr(Box<NodeEnr>),
}

impl BootstrapPeer {
    /// The addresses to dial, each ending in `/p2p/<peer id>` for an ENR.
    pub fn dial_addrs(&self) -> Vec<Multiaddr> {
        match self {
            BootstrapPeer::Addr(addr) => vec![addr.clone()],
            BootstrapPeer::Enr(record) => dial_addrs(record),
        }
    }

    /// The record, for an `enr:` entry.
    pub fn enr(&self) -> Option<&NodeEnr> {
        match self {
            BootstrapPeer::Addr(_) => None,
            BootstrapPeer::Enr(record) => Some(record),
        }
    }
}

impl From<Multiaddr> for BootstrapPeer {
    fn from(addr: Multiaddr) -> Self {
        BootstrapPeer::Addr(addr)
    }
}

impl FromStr for BootstrapPeer {
    type Err = BootstrapError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.starts_with("enr:") {
            let record: NodeEnr =
                text.parse().map_err(|reason: String| BootstrapError::Enr { text: text.to_owned(), reason })?;
            if dial_addrs(&record).is_empty() {
                return Err(BootstrapError::NoAddress(text.to_owned()));
            }
            return Ok(BootstrapPeer::Enr(Box::new(record)));
        }
        text.parse::<Multiaddr>()
            .map(BootstrapPeer::Addr)
            .map_err(|e| BootstrapError::Addr { text: text.to_owned(), reason: e.to_string() })
    }
}

impl fmt::Display for BootstrapPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootstrapPeer::Addr(addr) => addr.fmt(f),
            BootstrapPeer::Enr(record) => f.write_str(&record.to_base64()),
        }
    }
}

impl TryFrom<String> for BootstrapPeer {
    type Error = BootstrapError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<BootstrapPeer> for String {
    fn from(peer: BootstrapPeer) -> Self {
        peer.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enr::{Capabilities, EnrInput, build};
    use libp2p::identity::secp256k1;

    fn record(addrs: &[Multiaddr]) -> NodeEnr {
        let input = EnrInput {
            seq: 1,
            addrs,
            capabilities: Capabilities { relay: true, ..Default::default() },
            cluster: 1,
            shards: &[0],
        };
        build(&secp256k1::Keypair::generate(), &input).expect("enr")
    }

    #[test]
    fn multiaddrs_and_enrs_parse_and_print_back() {
        let addr: BootstrapPeer = "/ip4/10.0.0.2/tcp/60000".parse().expect("multiaddr");
        assert_eq!(addr.to_string(), "/ip4/10.0.0.2/tcp/60000");
        assert!(addr.enr().is_none());

        let enr = record(&["/ip4/10.0.0.3/tcp/60000".parse().expect("addr")]);
        let peer: BootstrapPeer = enr.to_base64().parse().expect("enr");
        assert_eq!(peer.to_string(), enr.to_base64());
        assert_eq!(peer.enr(), Some(&enr));
        let dial = peer.dial_addrs();
        assert_eq!(dial.len(), 1);
        assert!(dial[0].to_string().starts_with("/ip4/10.0.0.3/tcp/60000/p2p/"), "{dial:?}");
    }

    #[test]
    fn bad_entries_are_errors() {
        assert!(matches!("enr:nonsense".parse::<BootstrapPeer>(), Err(BootstrapError::Enr { .. })));
        assert!(matches!("not an address".parse::<BootstrapPeer>(), Err(BootstrapError::Addr { .. })));
        let unreachable = record(&[]).to_base64();
        assert_eq!(unreachable.parse::<BootstrapPeer>(), Err(BootstrapError::NoAddress(unreachable)));
    }
}
