//! The bridge's check of a WalletConnect client's relay-auth JWT at connect (the
//! token format lives in `heliograph_wc_wire::jwt`, shared with the session driver).
//! The `iss` did:key is the client id. `aud` is the relay URL as the client
//! configured it: a token signed for another relay is refused here, so a relay the
//! client once trusted cannot replay its token to impersonate it on this node.
//!
//! Which `aud` is this relay: the operator's `bridge.public_urls` when listed (the
//! URLs clients are given, e.g. `wss://relay.example.org`; needed when a proxy
//! rewrites the Host header); otherwise any `ws://` / `wss://` URL whose host and
//! port are the upgrade's `Host` header, which the bridge's Host allow-list has
//! already admitted.

pub use heliograph_wc_wire::JwtError;

/// The longest token lifetime accepted: the official client signs `exp = iat + 1 day`
/// on every connect.
pub const MAX_LIFETIME_SECS: u64 = 86_400;

/// A verified relay client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

/// Why a client's relay-auth token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token itself is bad (format, signature, times).
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// The token was signed for another relay.
    #[error("auth JWT aud `{aud}` is not this relay ({expected})")]
    Audience {
        /// The `aud` claim (a URL the client chose; echoing it back is harmless).
        aud: String,
        /// What this relay accepts, for the operator reading the client's error.
        expected: String,
    },
}

/// The relay URLs a token may name in `aud`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    public_urls: Vec<String>,
}

impl Audience {
    /// `public_urls` empty: the upgrade's Host decides (see the module doc).
    pub fn new(public_urls: &[String]) -> Self {
        Audience { public_urls: public_urls.iter().map(|url| normalise(url)).collect() }
    }

    /// Whether `aud` names this relay, reached with `host` (the upgrade's Host header).
    fn admits(&self, aud: &str, host: Option<&str>) -> Result<(), String> {
        if !self.public_urls.is_empty() {
            let aud = normalise(aud);
            return match self.public_urls.contains(&aud) {
                true => Ok(()),
                false => Err(format!("bridge.public_urls: {}", self.public_urls.join(", "))),
            };
        }
        let Some(host) = host else { return Err("a ws:// or wss:// URL of the Host header".into()) };
        match authority(aud) {
            Some((scheme_port, aud_host)) if same_host(aud_host, scheme_port, host) => Ok(()),
            _ => Err(format!("ws:// or wss:// URL of host `{host}`")),
        }
    }
}

/// Lower-cased scheme and host, no trailing `/`: `WSS://Relay.Example/` equals `wss://relay.example`.
fn normalise(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            format!("{}://{}{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase(), path)
        }
        None => url.to_string(),
    }
}

/// The default port of a `ws://` / `wss://` URL and its `host[:port]`; `None` for other schemes.
fn authority(url: &str) -> Option<(u16, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "ws" => 80,
        "wss" => 443,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((default_port, &rest[..end]))
}

/// `host[:port]` of the aud against the Host header, ports defaulted by the aud's scheme.
fn same_host(aud: &str, default_port: u16, header: &str) -> bool {
    let split = |authority: &str| -> (String, u16) {
        // `[::1]:8090`, `example.org:443`, `example.org`.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => (&authority[..i], authority[i + 1..].parse().ok()),
            _ => (authority, Some(default_port)),
        };
        (host.to_ascii_lowercase(), port.unwrap_or(0))
    };
    let (aud, header) = (split(aud), split(header.trim()));
    !aud.0.is_empty() && aud.1 != 0 && aud == header
}

/// Verifies `jwt` at `now` (Unix seconds) for this relay, reached with `host`, and
/// returns the client id.
pub fn verify(jwt: &str, now: u64, audience: &Audience, host: Option<&str>) -> Result<ClientId, AuthError> {
    let client = heliograph_wc_wire::jwt::verify(jwt, now, MAX_LIFETIME_SECS)?;
    audience.admits(&client.aud, host).map_err(|expected| AuthError::Audience { aud: client.aud.clone(), expected })?;
    Ok(ClientId(client.client_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_host() -> Audience {
        Audience::new(&[])
    }

    #[test]
    fn without_public_urls_the_aud_must_name_the_host_the_client_reached() {
        let a = by_host();
        assert_eq!(a.admits("ws://127.0.0.1:8090", Some("127.0.0.1:8090")), Ok(()));
        assert_eq!(a.admits("wss://Relay.Example.org", Some("relay.example.org")), Ok(()));
        assert_eq!(a.admits("wss://relay.example.org/", Some("relay.example.org:443")), Ok(()));
        assert_eq!(a.admits("wss://relay.example.org:443/ws?x=1", Some("relay.example.org")), Ok(()));
        assert_eq!(a.admits("ws://[::1]:8090", Some("[::1]:8090")), Ok(()));
        for (aud, host) in [
            ("ws://127.0.0.1:8091", "127.0.0.1:8090"),
            ("wss://relay.walletconnect.org", "relay.example.org"),
            ("ws://relay.example.org", "relay.example.org:443"),
            ("https://relay.example.org", "relay.example.org"),
            ("relay.example.org", "relay.example.org"),
            ("", "relay.example.org"),
            ("ws://:80", ":80"),
            ("ws://host:notaport", "host:notaport"),
        ] {
            assert!(a.admits(aud, Some(host)).is_err(), "{aud} via {host}");
        }
        assert!(a.admits("ws://127.0.0.1:8090", None).is_err());
    }

    #[test]
    fn public_urls_are_matched_exactly_up_to_case_and_a_trailing_slash() {
        let a = Audience::new(&["wss://relay.example.org/".into(), "wss://other.example/wc".into()]);
        assert_eq!(a.admits("WSS://relay.EXAMPLE.org", Some("10.0.0.5:8090")), Ok(()));
        assert_eq!(a.admits("wss://other.example/wc/", None), Ok(()));
        let refused =
            a.admits("wss://other.example/WC", Some("other.example")).expect_err("an aud of another host is refused");
        assert!(refused.contains("bridge.public_urls"), "{refused}");
        assert!(a.admits("ws://10.0.0.5:8090", Some("10.0.0.5:8090")).is_err());
    }
}
