//! The client IP address the bridge's per-IP rate limit counts.
//!
//! It is the TCP peer's address, unless that peer is a trusted reverse proxy
//! (`bridge.trusted_proxies`, `--trusted-proxy <CIDR>`): then the hops the
//! proxies recorded in `Forwarded` (RFC 7239) or, without it, in
//! `X-Forwarded-For` are read from the right, skipping trusted proxies, and the
//! first untrusted hop is the client. A client may send its own forged header
//! through the proxy, but a proxy appends the address it saw, so the forged
//! entries lie left of the real one and are never reached. Headers from a peer
//! that is not trusted are ignored. Pure: headers in, address out.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address of the client behind `peer`, given the request `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let forwarded: Vec<&str> = headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()).collect();
    let hops: Vec<String> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().to_owned())
            .collect()
    } else {
        forwarded.iter().flat_map(|v| v.split(',')).map(forwarded_for).collect()
    };
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // An obfuscated or malformed hop: the last address known is the best there is.
            return client;
        };
        client = ip;
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

/// The `for=` parameter of one `Forwarded` element (empty if it has none).
fn forwarded_for(element: &str) -> String {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .unwrap_or_default()
}

/// An address of a hop: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let proxy = ip("127.0.0.1");
        let trusted: Vec<IpNet> = vec!["127.0.0.0/8".parse().expect("cidr")];
        let xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_ip(proxy, &xff, &trusted), ip("203.0.113.7"));
        assert_eq!(client_ip(proxy, &xff, &[]), proxy, "nothing trusted: the header is ignored");
        let stranger = ip("198.51.100.1");
        assert_eq!(client_ip(stranger, &xff, &trusted), stranger, "an untrusted peer cannot name another IP");
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy, "no header: the proxy itself");
    }

    #[test]
    fn forged_entries_left_of_the_proxys_are_skipped() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().expect("cidr"), "10.0.0.0/8".parse().expect("cidr")];
        // The client sent "1.1.1.1"; the edge proxy appended what it saw; an inner proxy appended the edge.
        let xff = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7"), ("x-forwarded-for", "10.0.0.5")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &xff, &trusted), ip("203.0.113.7"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &all_trusted, &trusted), ip("10.0.0.9"));
        let garbage = headers(&[("x-forwarded-for", "1.1.1.1, not-an-ip")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &garbage, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_takes_ports_and_ipv6() {
        let trusted: Vec<IpNet> = vec!["::1/128".parse().expect("cidr"), "127.0.0.1/32".parse().expect("cidr")];
        let both = headers(&[
            ("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8::17]:4711\""),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(client_ip(ip("::1"), &both, &trusted), ip("2001:db8::17"));
        let with_port = headers(&[("forwarded", "proto=https;For=\"192.0.2.60:8080\"")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &with_port, &trusted), ip("192.0.2.60"));
        let obfuscated = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &obfuscated, &trusted), ip("127.0.0.1"));
        // An IPv4 peer on a dual-stack socket is matched against IPv4 CIDRs.
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("mapped");
        let xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_ip(mapped, &xff, &trusted), ip("203.0.113.7"));
    }
}
