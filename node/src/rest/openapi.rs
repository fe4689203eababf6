//! `GET /openapi.json`: the hand-written OpenAPI 3.0 document of this REST
//! API (`openapi.json` beside this file). A test checks that every route of
//! [`super::app`] is in it, with its methods.

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
}
