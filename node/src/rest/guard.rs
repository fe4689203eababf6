//! The REST API's gate, in front of every route: the `Host` header must name
//! this node (against DNS rebinding), a state-changing request (POST, PUT,
//! DELETE) sent by a browser page of another origin is refused, and token
//! minting and `/admin/v1/*` need the admin secret; without one configured
//! they are served on a loopback address only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::debug;

use super::error::ApiError;
use crate::access::AllowLists;
use crate::config::{RestConfig, Secret};

/// What the gate checks.
#[derive(Debug)]
pub struct Guard {
    allow: AllowLists,
    /// sha256 of the admin secret: compared in constant time, never kept in clear.
    admin: Option<[u8; 32]>,
    bound: SocketAddr,
}

impl Guard {
    /// The gate of a REST listener bound to `bound`.
    pub fn new(config: &RestConfig, admin: Option<&Secret>, bound: SocketAddr) -> Arc<Guard> {
        let allow = AllowLists::new("rest", &config.allowed_hosts, &config.allowed_origins).with_bound(bound.ip());
        let admin = admin.map(|s| Sha256::digest(s.expose().as_bytes()).into());
        Arc::new(Guard { allow, admin, bound })
    }

    fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let host = header(header::HOST);
        self.allow.check_host(host).map_err(|e| Box::new(ApiError::forbidden(e.to_string()).into_response()))?;
        let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
        if !reads.contains(method) {
            self.allow
                .check_origin(host, header(header::ORIGIN))
                .map_err(|e| ApiError::forbidden(format!("cross-origin {method} refused: {e}")).into_response())?;
        }
        if !needs_admin(path) {
            return Ok(());
        }
        match &self.admin {
            Some(expected) => {
                let presented = header(header::AUTHORIZATION)
                    .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                    .map(|v| <[u8; 32]>::from(Sha256::digest(v.trim().as_bytes())));
                if presented.is_some_and(|p| bool::from(p.ct_eq(expected))) {
                    Ok(())
                } else {
                    let mut response = ApiError::unauthorized(format!(
                        "{path} needs the REST admin secret: send Authorization: Bearer <secret>"
                    ))
                    .into_response();
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
                    Err(Box::new(response))
                }
            }
            None if self.bound.ip().is_loopback() => Ok(()),
            None => Err(Box::new(
                ApiError::forbidden(format!(
                    "{path} is refused: the REST API listens on {} (not loopback) and no admin secret is configured; \
                 set rest.admin_token_file or rest.admin_token (--rest-admin-token-file, HELIOGRAPH_REST_ADMIN_TOKEN) \
                 and send it as Authorization: Bearer <secret>",
                    self.bound
                ))
                .into_response(),
            )),
        }
    }
}

/// Whether `path` is admin-gated (token minting and `/admin/v1/*`): it needs the
/// admin secret, or a loopback listener when none is configured.
pub fn needs_admin(path: &str) -> bool {
    path.starts_with("/admin/") || path.starts_with("/bridge/")
}

/// The middleware: passes the request on, or answers why it is refused.
pub async fn gate(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.check(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            debug!(method = %request.method(), path = request.uri().path(), status = %refused.status(), "REST request refused");
            *refused
        }
    }
}
