//! The bridge's check of a WalletConnect client's relay-auth JWT at connect (the
//! token format lives in `heliograph_wc_wire::jwt`, shared with the session driver).
//! The `iss` did:key is the client id. `aud` is the relay URL as the client
//! configured it; a node behind a proxy cannot know it, so it is not checked.

pub use heliograph_wc_wire::JwtError;

/// The longest token lifetime accepted: the official client signs `exp = iat + 1 day`
/// on every connect.
pub const MAX_LIFETIME_SECS: u64 = 86_400;

/// A verified relay client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

/// Verifies `jwt` at `now` (Unix seconds) and returns the client id.
pub fn verify(jwt: &str, now: u64) -> Result<ClientId, JwtError> {
    heliograph_wc_wire::jwt::verify(jwt, now, MAX_LIFETIME_SECS).map(|client| ClientId(client.client_id))
}
