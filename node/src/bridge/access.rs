//! Access control of the bridge: the `Host` and `Origin` allow-lists checked
//! on the WebSocket upgrade (against DNS rebinding and cross-site WebSocket
//! hijacking). The rate limits per client and per IP are [`crate::rate_limit`].

use std::net::IpAddr;

use crate::config::BridgeConfig;

/// Why an upgrade was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// The Host header is not loopback and not allowed.
    #[error("host `{0}` is not allowed: add it to bridge.allowed_hosts")]
    Host(String),
    /// The Origin header is not allowed.
    #[error("origin `{0}` is not allowed: add it to bridge.allowed_origins")]
    Origin(String),
}

/// The Host and Origin allow-lists.
#[derive(Debug, Clone)]
pub struct AllowLists {
    hosts: Vec<String>,
    origins: Vec<String>,
}

/// The host name of `host[:port]` (IPv6 literals in brackets), lowercased.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host.clone(), |(h, _)| h.to_owned())
}

fn is_loopback(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl AllowLists {
    /// The lists of `config`.
    pub fn new(config: &BridgeConfig) -> Self {
        AllowLists {
            hosts: config.allowed_hosts.iter().map(|h| host_name(h)).collect(),
            origins: config.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
        }
    }

    /// Checks the upgrade's `Host` and `Origin` headers. A missing Host is
    /// allowed (HTTP/1.0); a missing Origin means a non-browser client.
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), AccessError> {
        if let Some(host) = host {
            let name = host_name(host);
            if !is_loopback(&name) && !self.hosts.contains(&name) {
                return Err(AccessError::Host(host.to_owned()));
            }
        }
        if let Some(origin) = origin {
            let normalized = origin.trim_end_matches('/').to_ascii_lowercase();
            let origin_host = normalized.split_once("://").map(|(_, rest)| host_name(rest));
            let allowed = self.origins.iter().any(|o| o == "*" || *o == normalized)
                || origin_host.is_some_and(|h| is_loopback(&h));
            if !allowed {
                return Err(AccessError::Origin(origin.to_owned()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_origins_pass_others_need_listing() {
        let mut config = BridgeConfig::default();
        let lists = AllowLists::new(&config);
        for host in ["127.0.0.1:8090", "localhost", "[::1]:8090", "LOCALHOST:1"] {
            assert_eq!(lists.check(Some(host), None), Ok(()), "{host}");
        }
        assert_eq!(lists.check(Some("127.0.0.1:8090"), Some("http://localhost:3000")), Ok(()));
        assert!(matches!(lists.check(Some("evil.example:8090"), None), Err(AccessError::Host(_))));
        assert!(matches!(lists.check(Some("127.0.0.1"), Some("https://evil.example")), Err(AccessError::Origin(_))));
        config.allowed_hosts = vec!["relay.example.org".into()];
        config.allowed_origins = vec!["https://dapp.example/".into()];
        let lists = AllowLists::new(&config);
        assert_eq!(lists.check(Some("relay.example.org:443"), Some("https://dapp.example")), Ok(()));
        assert!(lists.check(Some("relay.example.org"), Some("https://other.example")).is_err());
    }
}
