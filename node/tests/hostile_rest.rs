//! Hostile REST clients (issue 18, items 2 and 3), against real nodes: a page
//! in the operator's browser (DNS rebinding, cross-origin POSTs), a REST API on
//! every interface without or with an admin secret, and bridge capability
//! tokens replayed across a restart.

mod common;

use common::TestNode;
use serde_json::json;

/// A request to `node`'s REST port on 127.0.0.1 with the given headers; returns status and body.
async fn send(
    node: &TestNode,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let port = node.rest.rsplit(':').next().expect("port");
    let mut request = node.http.request(method, format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_hosts_and_cross_origin_writes_are_refused_on_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    let port = node.rest.rsplit(':').next().expect("port").to_owned();
    let own_host = format!("127.0.0.1:{port}");
    use reqwest::Method;

    // nwaku's clients: Host 127.0.0.1:port, no Origin.
    assert_eq!(send(&node, Method::GET, "/debug/v1/version", &[], None).await.0, 200);
    assert_eq!(
        send(&node, Method::GET, "/admin/v1/peers", &[("host", &format!("localhost:{port}"))], None).await.0,
        200
    );

    // DNS rebinding: the page's own name arrives as Host, on reads and writes alike.
    let rebound = format!("rebind.evil.example:{port}");
    for (method, path) in [(Method::GET, "/debug/v1/info"), (Method::POST, "/bridge/v1/tokens")] {
        let (status, body) = send(&node, method, path, &[("host", &rebound)], Some(json!({}))).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("rebind.evil.example") && body.contains("rest.allowed_hosts"), "{body}");
    }

    // A cross-origin page (Host is right: the browser talks to 127.0.0.1) cannot mint, dial, subscribe or publish.
    let evil = [("origin", "https://evil.example")];
    let writes = [
        (Method::POST, "/bridge/v1/tokens", json!({})),
        (Method::POST, "/admin/v1/peers", json!(["/ip4/127.0.0.1/tcp/1"])),
        (Method::POST, "/relay/v1/subscriptions", json!([common::TOPIC])),
        (Method::DELETE, "/relay/v1/subscriptions", json!([common::TOPIC])),
        (Method::POST, "/relay/v1/auto/messages", json!({"payload": "aGk=", "contentTopic": "/app/1/x/proto"})),
    ];
    for (method, path, body) in writes {
        let (status, text) = send(&node, method.clone(), path, &evil, Some(body)).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
        assert!(text.contains("cross-origin") && text.contains("rest.allowed_origins"), "{text}");
    }
    // Reads are not state-changing (and the browser keeps their answers from the page).
    assert_eq!(send(&node, Method::GET, "/debug/v1/version", &evil, None).await.0, 200);
    // No Origin (curl, nwaku tooling), a loopback page or the node's own /demo/ pages may write.
    let own_origin = format!("http://{own_host}");
    for headers in [vec![], vec![("origin", "http://localhost:3000")], vec![("origin", own_origin.as_str())]] {
        let (status, body) = send(&node, Method::POST, "/bridge/v1/tokens", &headers, Some(json!({}))).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
        assert!(body.contains("hgt_"), "{body}");
    }
    // The node keeps serving.
    assert_eq!(node.get("/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_lists_admit_the_operators_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--rest-allowed-host", "node.ops.example", "--rest-allowed-origin", "https://console.ops.example"];
    let node = TestNode::tcp(dir.path(), &args).await;
    use reqwest::Method;
    let headers = [("host", "node.ops.example:8645"), ("origin", "https://console.ops.example")];
    let (status, body) =
        send(&node, Method::POST, "/relay/v1/subscriptions", &headers, Some(json!([common::TOPIC]))).await;
    assert_eq!(status, 200, "{body}");
    let other = [("host", "node.ops.example:8645"), ("origin", "https://other.ops.example")];
    assert_eq!(send(&node, Method::POST, "/relay/v1/subscriptions", &other, Some(json!([common::TOPIC]))).await.0, 403);
    assert_eq!(send(&node, Method::GET, "/health", &[("host", "other.ops.example")], None).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_api_on_every_interface_needs_the_admin_secret() {
    use reqwest::Method;
    // Without a secret: minting and admin routes are refused, saying how to configure one.
    let dir = tempfile::tempdir().expect("tempdir");
    let open = TestNode::start_on(&dir.path().join("open"), "0.0.0.0:0", &["--listen", "/ip4/127.0.0.1/tcp/0"]).await;
    for (method, path) in [
        (Method::POST, "/bridge/v1/tokens"),
        (Method::DELETE, "/bridge/v1/tokens/0123456789abcdef"),
        (Method::POST, "/bridge/v1/tokens/0123456789abcdef/refresh"),
        (Method::GET, "/admin/v1/peers"),
        (Method::POST, "/admin/v1/peers"),
    ] {
        let (status, body) = send(&open, method.clone(), path, &[], Some(json!(["/ip4/127.0.0.1/tcp/1"]))).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains("not loopback") && body.contains("rest.admin_token_file"), "{body}");
    }
    assert_eq!(send(&open, Method::GET, "/debug/v1/version", &[], None).await.0, 200, "other routes still serve");
    open.stop().await;

    // With a secret from a file: the right bearer passes, none or a wrong one gets 401.
    let secret = "s3cret-admin-token-for-tests-0001";
    let file = dir.path().join("admin-token");
    std::fs::write(&file, format!("{secret}\n")).expect("secret file");
    let node = TestNode::start_on(
        &dir.path().join("guarded"),
        "0.0.0.0:0",
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--rest-admin-token-file", file.to_str().expect("utf-8")],
    )
    .await;
    let right = format!("Bearer {secret}");
    let wrong = format!("Bearer {secret}x");
    for headers in [vec![], vec![("authorization", wrong.as_str())]] {
        let (status, body) = send(&node, Method::POST, "/bridge/v1/tokens", &headers, Some(json!({}))).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert!(body.contains("admin secret"), "{body}");
        assert_eq!(send(&node, Method::GET, "/admin/v1/peers", &headers, None).await.0, 401);
    }
    let (status, body) =
        send(&node, Method::POST, "/bridge/v1/tokens", &[("authorization", right.as_str())], Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    // Revoke and refresh are gated like minting.
    let issued: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let refresh = format!("/bridge/v1/tokens/{}/refresh", issued["id"].as_str().expect("id"));
    let revoke = format!("/bridge/v1/tokens/{}", issued["id"].as_str().expect("id"));
    for headers in [vec![], vec![("authorization", wrong.as_str())]] {
        assert_eq!(send(&node, Method::POST, &refresh, &headers, Some(json!({}))).await.0, 401);
        assert_eq!(send(&node, Method::DELETE, &revoke, &headers, None).await.0, 401);
    }
    let authorized = [("authorization", right.as_str())];
    assert_eq!(send(&node, Method::POST, &refresh, &authorized, Some(json!({"ttlSeconds": 60}))).await.0, 200);
    assert_eq!(send(&node, Method::DELETE, &revoke, &authorized, None).await.0, 204);
    assert_eq!(send(&node, Method::GET, "/admin/v1/peers", &[("authorization", right.as_str())], None).await.0, 200);
    // Bound to every interface, an IP literal Host passes; a name still needs listing.
    assert_eq!(send(&node, Method::GET, "/health", &[("host", "10.9.8.7:8645")], None).await.0, 200);
    assert_eq!(send(&node, Method::GET, "/health", &[("host", "rebind.evil.example")], None).await.0, 403);
    let log = node.log();
    node.stop().await;
    assert!(!log.contains(secret), "the admin secret is never logged");
}

/// The status and body of a refused bridge upgrade (panics if it was accepted).
async fn refused_upgrade(url: String) -> (u16, String) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            (response.status().as_u16(), body)
        }
        other => panic!("upgrade accepted: {:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_token_replayed_after_a_restart_is_refused() {
    use heliograph_node::bridge::tokens::sign_capability;
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = libp2p::identity::ed25519::Keypair::generate();
    let config = dir.path().join("heliograph.toml");
    let key = hex::encode(operator.public().to_bytes());
    std::fs::write(&config, format!("[bridge]\nrequire_token = true\ntoken_keys = [\"{key}\"]\n")).expect("config");
    let args = ["--config", config.to_str().expect("utf-8")];
    let data = dir.path().join("node");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let token = sign_capability(&operator, "dapp-1", "restart-jti-1", now + 600);

    let node = TestNode::tcp(&data, &args).await;
    let bridge = node.bridge.clone().expect("bridge");
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{bridge}/?token={token}")).await.expect("first use");
    drop(ws);
    let (status, body) = refused_upgrade(format!("ws://{bridge}/?token={token}")).await;
    assert_eq!((status, body.contains("replayed")), (401, true), "{body}");
    node.stop().await;

    // Same data dir: the used id was kept on disk.
    let node = TestNode::tcp(&data, &args).await;
    let bridge = node.bridge.clone().expect("bridge");
    let (status, body) = refused_upgrade(format!("ws://{bridge}/?token={token}")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replayed"), "a replay after a restart is refused: {body}");
    // A fresh id still passes, and a token living longer than 30 days is refused.
    let fresh = sign_capability(&operator, "dapp-1", "restart-jti-2", now + 600);
    tokio_tungstenite::connect_async(format!("ws://{bridge}/?token={fresh}")).await.expect("a fresh token");
    let forever = sign_capability(&operator, "dapp-1", "restart-jti-3", now + 31 * 24 * 3600);
    let (status, body) = refused_upgrade(format!("ws://{bridge}/?token={forever}")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("30 days"), "{body}");
    node.stop().await;
}
