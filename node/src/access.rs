//! `Host` and `Origin` allow-lists, shared by the bridge's WebSocket upgrade
//! and the REST API: against DNS rebinding (a page whose name resolves to
//! this node sends its own name as `Host`) and cross-site requests (a browser
//! names the page that sent a request in `Origin`). Loopback names always
//! pass; other names must be listed in the `<section>.allowed_hosts` and
//! `<section>.allowed_origins` settings.

use std::net::IpAddr;

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// The Host header is not loopback and not allowed.
    #[error("host `{host}` is not allowed: add it to {section}.allowed_hosts")]
    Host {
        /// The Host header as sent.
        host: String,
        /// The config section of the list (`bridge`, `rest`).
        section: &'static str,
    },
    /// The Origin header is not allowed.
    #[error("origin `{origin}` is not allowed: add it to {section}.allowed_origins")]
    Origin {
        /// The Origin header as sent.
        origin: String,
        /// The config section of the list (`bridge`, `rest`).
        section: &'static str,
    },
}

/// The Host and Origin allow-lists of one listener.
#[derive(Debug, Clone)]
pub struct AllowLists {
    section: &'static str,
    hosts: Vec<String>,
    origins: Vec<String>,
    any_ip_host: bool,
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
    /// The lists of the config `section`: extra host names and origins (`*` allows any origin).
    pub fn new(section: &'static str, hosts: &[String], origins: &[String]) -> Self {
        AllowLists {
            section,
            hosts: hosts.iter().map(|h| host_name(h)).collect(),
            origins: origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
            any_ip_host: false,
        }
    }

    /// Also allows the address the listener is bound to as Host. Bound to every
    /// interface (`0.0.0.0`, `::`), any IP literal is allowed: DNS rebinding
    /// needs a name, and a node does not know all its own addresses.
    pub fn with_bound(mut self, bound: IpAddr) -> Self {
        if bound.is_unspecified() {
            self.any_ip_host = true;
        } else {
            self.hosts.push(bound.to_string().to_ascii_lowercase());
        }
        self
    }

    /// Checks the `Host` header. A missing Host is allowed (HTTP/1.0).
    pub fn check_host(&self, host: Option<&str>) -> Result<(), AccessError> {
        let Some(host) = host else { return Ok(()) };
        let name = host_name(host);
        let allowed =
            is_loopback(&name) || self.hosts.contains(&name) || (self.any_ip_host && name.parse::<IpAddr>().is_ok());
        if allowed { Ok(()) } else { Err(AccessError::Host { host: host.to_owned(), section: self.section }) }
    }

    /// Checks the `Origin` header: missing (a non-browser client), loopback,
    /// listed, or the same `host[:port]` as the request's (already checked)
    /// Host: the page was served by this listener.
    pub fn check_origin(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), AccessError> {
        let Some(origin) = origin else { return Ok(()) };
        let normalized = origin.trim_end_matches('/').to_ascii_lowercase();
        let authority = normalized.split_once("://").map(|(_, rest)| rest);
        let same_origin =
            authority.zip(host).is_some_and(|(authority, host)| authority == host.trim().to_ascii_lowercase());
        let allowed = same_origin
            || self.origins.iter().any(|o| o == "*" || *o == normalized)
            || authority.is_some_and(|a| is_loopback(&host_name(a)));
        if allowed { Ok(()) } else { Err(AccessError::Origin { origin: origin.to_owned(), section: self.section }) }
    }

    /// Checks both headers (the bridge's upgrade, which every origin must pass).
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), AccessError> {
        self.check_host(host)?;
        self.check_origin(host, origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_origins_pass_others_need_listing() {
        let lists = AllowLists::new("bridge", &[], &[]);
        for host in ["127.0.0.1:8090", "localhost", "[::1]:8090", "LOCALHOST:1"] {
            assert_eq!(lists.check(Some(host), None), Ok(()), "{host}");
        }
        assert_eq!(lists.check(Some("127.0.0.1:8090"), Some("http://localhost:3000")), Ok(()));
        let refused = lists.check(Some("evil.example:8090"), None).expect_err("unlisted host");
        assert!(matches!(refused, AccessError::Host { .. }));
        assert!(refused.to_string().contains("bridge.allowed_hosts"), "{refused}");
        assert!(matches!(
            lists.check(Some("127.0.0.1"), Some("https://evil.example")),
            Err(AccessError::Origin { .. })
        ));
        let lists = AllowLists::new("rest", &["relay.example.org".into()], &["https://dapp.example/".into()]);
        assert_eq!(lists.check(Some("relay.example.org:443"), Some("https://dapp.example")), Ok(()));
        let refused = lists.check(Some("relay.example.org"), Some("https://other.example")).expect_err("origin");
        assert!(refused.to_string().contains("rest.allowed_origins"), "{refused}");
    }

    #[test]
    fn the_bound_address_and_same_origin_pages_pass() {
        let lists = AllowLists::new("rest", &[], &[]).with_bound("192.168.1.5".parse().expect("ip"));
        assert_eq!(lists.check_host(Some("192.168.1.5:8645")), Ok(()));
        assert!(lists.check_host(Some("192.168.1.6:8645")).is_err(), "another address is not this listener's");
        assert_eq!(lists.check_origin(Some("192.168.1.5:8645"), Some("http://192.168.1.5:8645")), Ok(()));
        assert!(lists.check_origin(Some("192.168.1.5:8645"), Some("http://192.168.1.5:9999")).is_err());
        let any = AllowLists::new("rest", &[], &[]).with_bound("0.0.0.0".parse().expect("ip"));
        assert_eq!(any.check_host(Some("10.1.2.3:8645")), Ok(()));
        assert!(any.check_host(Some("rebound.evil.example:8645")).is_err(), "names still need listing");
    }
}
