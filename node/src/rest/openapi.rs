//! `GET /openapi.json`: the hand-written OpenAPI 3.0 document of this REST
//! API (`openapi.json` beside this file). Tests check that every route of
//! [`super::app`] is in it with its methods and nothing else is, that every
//! operation documents the gate's 403, and that every admin-gated route
//! ([`super::guard::needs_admin`]) documents the admin secret and its 401.
//!
//! Why not generated with `utoipa` or `aide`: both derive schemas from the
//! handlers' typed bodies (`ToSchema` / `JsonSchema`), and most of these handlers
//! answer nwaku's JSON shapes built as `serde_json::Value` (`json!`), so there
//! are no types to derive from. Generating the document would mean re-typing every
//! response of the nwaku-compatible API (and the proto crate's messages) just
//! for the document, at the risk of changing the JSON clients rely on, or
//! writing the same schemas as attribute text instead of JSON; `aide` would
//! also replace axum's `Router` with its own `ApiRouter` everywhere. What a
//! generator would give for free, the route list matching the router, the tests
//! below check instead.

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Serves the document.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every `.route("path", get(..).post(..))` of `rest::app`, read from its source.
    fn routes() -> Vec<(String, Vec<&'static str>)> {
        let source = include_str!("mod.rs");
        let mut routes = Vec::new();
        for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
            let rest = &line[".route(\"".len()..];
            let Some((path, handlers)) = rest.split_once('"') else { continue };
            let methods = ["get", "post", "put", "delete", "patch"]
                .into_iter()
                .filter(|m| handlers.contains(&format!(" {m}(")) || handlers.contains(&format!(".{m}(")))
                .collect();
            routes.push((path.to_owned(), methods));
        }
        routes
    }

    #[test]
    fn every_route_of_the_app_is_documented_with_its_methods() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        let routes = routes();
        assert!(routes.len() >= 13, "route extraction found {routes:?}");
        for (path, methods) in &routes {
            let item = &doc["paths"][path];
            assert!(item.is_object(), "route {path} is missing from openapi.json");
            assert!(!methods.is_empty(), "no method found for {path}");
            for method in methods {
                assert!(item[*method].is_object(), "{} {path} is missing from openapi.json", method.to_uppercase());
            }
        }
        let documented = doc["paths"].as_object().expect("paths").len();
        assert_eq!(documented, routes.len(), "openapi.json documents a route the app does not serve");
    }

    /// The operations of the document: (path, method, operation).
    fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("path item");
                item.iter().filter(|(m, _)| *m != "parameters").map(move |(m, op)| (path.as_str(), m.as_str(), op))
            })
            .collect()
    }

    /// The response `status` of `op`, with a `$ref` to `components.responses` followed.
    fn response<'a>(doc: &'a Value, op: &'a Value, status: &str) -> Option<&'a Value> {
        let r = op["responses"].get(status)?;
        match r["$ref"].as_str() {
            Some(target) => doc.pointer(target.strip_prefix('#')?),
            None => Some(r),
        }
    }

    #[test]
    fn gated_routes_document_the_admin_secret_and_every_route_the_gate() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert_eq!(doc["components"]["securitySchemes"]["adminSecret"]["scheme"], "bearer");
        let ops = operations(&doc);
        let gated: Vec<_> = ops.iter().filter(|(path, _, _)| super::super::guard::needs_admin(path)).collect();
        assert!(gated.len() >= 3, "token minting and /admin/v1/peers GET and POST are gated: {gated:?}");
        for (path, method, op) in &ops {
            let what = format!("{} {path}", method.to_uppercase());
            let forbidden = response(&doc, op, "403").unwrap_or_else(|| panic!("{what} lacks the gate's 403"));
            assert!(forbidden["description"].as_str().is_some_and(|d| d.contains("Host")), "{what}: {forbidden}");
            let requires_secret =
                op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("adminSecret").is_some()));
            if super::super::guard::needs_admin(path) {
                assert!(requires_secret, "{what} is admin-gated but does not name the adminSecret scheme");
                let unauthorized =
                    response(&doc, op, "401").unwrap_or_else(|| panic!("{what} is admin-gated but lacks 401"));
                assert!(unauthorized["headers"].get("WWW-Authenticate").is_some(), "{what}: {unauthorized}");
            } else {
                assert!(!requires_secret && op["responses"].get("401").is_none(), "{what} is not admin-gated");
            }
        }
    }
}
