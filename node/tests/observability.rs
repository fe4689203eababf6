//! Logs and metrics of real `heliograph` processes over real sockets (issue 21
//! item 4, issue 18 leftovers): JSON log lines carry their span fields, the
//! log level changes at run time through the admin REST route (behind the
//! admin secret off loopback), `/metrics` moves to its own listener with the
//! process and build metrics, and refused or timed-out connections are counted.

mod common;

use std::time::Duration;

use common::TestNode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SECRET: &str = "observability-admin-secret-01";

/// The log lines written after byte `from` of the node's log.
fn log_since(node: &TestNode, from: usize) -> String {
    node.log().get(from..).unwrap_or_default().to_owned()
}

/// Opens and closes one bridge WebSocket (its open and close are debug events in a span).
async fn bridge_round_trip(node: &TestNode) {
    let url = format!("ws://{}/", node.bridge.as_deref().expect("bridge"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    ws.close(None).await.expect("close");
    // The server logs the close once the pump ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_parse_and_carry_the_span_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &["--log-format", "json"]).await;
    bridge_round_trip(&node).await;
    // A REST request refused by the gate is logged inside the listener's span.
    let rebound = node.http.get(node.url("/health")).header("host", "rebound.evil.example");
    assert_eq!(rebound.send().await.expect("answer").status().as_u16(), 403);
    let log = node.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string() && line["target"].is_string(), "{line}");
        assert!(line["fields"].is_object(), "{line}");
    }
    let open = lines
        .iter()
        .find(|l| l["fields"]["message"] == "bridge connection open")
        .unwrap_or_else(|| panic!("no bridge connection line in\n{log}"));
    // The connection's span and its fields: peer and client IP.
    assert_eq!(open["span"]["name"], "bridge_conn", "{open}");
    assert_eq!(open["span"]["client_ip"], "127.0.0.1", "{open}");
    assert!(open["span"]["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{open}");
    // The span list ends with the current span.
    let spans = open["spans"].as_array().expect("span list");
    assert_eq!(spans.last(), Some(&open["span"]), "{open}");
    let refused = lines
        .iter()
        .find(|l| l["fields"]["message"] == "REST request refused")
        .unwrap_or_else(|| panic!("no refused REST request in\n{log}"));
    assert_eq!(refused["fields"]["status"], "403 Forbidden", "{refused}");
    assert_eq!(refused["span"]["name"], "rest", "{refused}");
    assert_eq!(refused["span"]["addr"], node.rest.trim_start_matches("http://"), "{refused}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_changes_at_run_time_by_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &[]).await;
    // The harness logs heliograph_node at debug: a bridge connection is logged.
    let mark = node.log().len();
    bridge_round_trip(&node).await;
    assert!(log_since(&node, mark).contains("bridge connection open"), "debug events are logged at first");

    let (status, body) = node.post_raw("/admin/v1/log-level/verbose", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown log level `verbose`") && body.contains("trace, debug, info"), "{body}");
    let (status, _) = node.get("/admin/v1/log-level/info").await;
    assert_eq!(status, 405, "the route takes POST only");

    let mark = node.log().len();
    let (status, body) = node.post_raw("/admin/v1/log-level/ERROR", "").await;
    assert_eq!((status, body.as_str()), (200, "log level set to error"));
    bridge_round_trip(&node).await;
    let after = log_since(&node, mark);
    assert!(after.contains("log level changing"), "the change itself is on record: {after}");
    assert!(!after.contains("bridge connection open"), "debug events are no longer logged: {after}");

    let (status, _) = node.post_raw("/admin/v1/log-level/debug", "").await;
    assert_eq!(status, 200);
    let mark = node.log().len();
    bridge_round_trip(&node).await;
    assert!(log_since(&node, mark).contains("bridge connection open"), "debug events are logged again");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_log_level_route_needs_the_admin_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = ["--listen", "/ip4/127.0.0.1/tcp/0"];
    let open = TestNode::start_on(&dir.path().join("open"), "0.0.0.0:0", &listen).await;
    let (status, body) = open.post_raw("/admin/v1/log-level/debug", "").await;
    assert_eq!(status, 403, "no secret configured off loopback: refused ({body})");
    assert!(body.contains("admin secret"), "{body}");

    let args = [&listen[..], &["--rest-admin-token", SECRET]].concat();
    let node = TestNode::start_on(&dir.path().join("guarded"), "0.0.0.0:0", &args).await;
    let url = node.url("/admin/v1/log-level/warn");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(node.http.post(&url).send().await.expect("POST")), 401, "without the secret");
    let wrong = node.http.post(&url).bearer_auth("not-the-secret-at-all").send().await.expect("POST");
    assert_eq!(status(wrong), 401, "with a wrong secret");
    let mark = node.log().len();
    let right = node.http.post(&url).bearer_auth(SECRET).send().await.expect("POST");
    assert_eq!(right.status().as_u16(), 200);
    assert_eq!(right.text().await.expect("body"), "log level set to warn");
    assert!(log_since(&node, mark).contains("log level changing"));
    assert!(!node.log().contains(SECRET), "the secret is never logged");
    node.stop().await;
    open.stop().await;
}

/// A sample's value in Prometheus text: the first line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

/// A counter of `heliograph_http_refused_connections_total` for one listener and reason.
fn refused(text: &str, listener: &str, reason: &str) -> f64 {
    let prefix = format!("heliograph_http_refused_connections_total{{listener=\"{listener}\",reason=\"{reason}\"}}");
    sample(text, &prefix).unwrap_or(0.0)
}

/// `/proc/<pid>/status` field `name` (e.g. `VmRSS`), first number.
fn proc_status(pid: u32, name: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status.lines().find(|l| l.starts_with(&format!("{name}:"))).expect("field");
    line.split_whitespace().nth(1).expect("value").parse().expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_to_their_own_listener_with_process_and_build_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::tcp(dir.path(), &["--metrics-addr", "127.0.0.1:0"]).await;
    let addr = node.metrics.clone().expect("the ready line names the metrics listener");
    assert_ne!(Some(addr.as_str()), node.rest.strip_prefix("http://"), "a listener of its own");

    let (status, body) = node.get("/metrics").await;
    assert_eq!(status, 404, "REST no longer serves /metrics: {body}");
    let scrape = node.http.get(format!("http://{addr}/metrics")).send().await.expect("scrape");
    assert_eq!(scrape.status().as_u16(), 200);
    assert!(scrape.headers()["content-type"].to_str().expect("ascii").starts_with("application/openmetrics-text"));
    let text = scrape.text().await.expect("body");
    let version = format!("heliograph_build_info{{version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(text.lines().any(|l| l.starts_with(&version) && l.ends_with(" 1")), "{text}");
    assert!(text.contains("# TYPE heliograph_build_info gauge"), "{text}");
    assert!(text.contains("# TYPE heliograph_peers gauge"), "the node's own metrics are there too");
    assert!(text.contains("# TYPE process_cpu_seconds counter"), "{text}");
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "process_start_time_seconds",
    ] {
        assert!(sample(&text, &format!("{name} ")).is_some(), "{name} is missing:\n{text}");
    }
    // They describe the node's process, not the test's.
    let pid = node.pid();
    let rss = sample(&text, "process_resident_memory_bytes ").expect("rss");
    let vm_rss = proc_status(pid, "VmRSS") * 1024.0;
    assert!(rss > vm_rss / 2.0 && rss < vm_rss * 2.0, "RSS {rss} vs the node's VmRSS {vm_rss}");
    let threads = sample(&text, "process_threads ").expect("threads");
    assert!((threads - proc_status(pid, "Threads")).abs() <= 4.0, "{threads} threads");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fds").count() as f64;
    assert!((sample(&text, "process_open_fds ").expect("fds") - fds).abs() <= 8.0, "vs {fds} open fds");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let start = sample(&text, "process_start_time_seconds ").expect("start");
    assert!(start <= now + 1.0 && start > now - 120.0, "the node started just now: {start} vs {now}");

    // Host is checked as on REST: a rebound name is refused, loopback passes.
    let rebound = node.http.get(format!("http://{addr}/metrics")).header("host", "rebound.evil.example");
    let refused = rebound.send().await.expect("answer");
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text().await.expect("body").contains("metrics.allowed_hosts"));
    let other = node.http.get(format!("http://{addr}/health")).send().await.expect("answer");
    assert_eq!(other.status().as_u16(), 404, "the metrics listener serves /metrics only");
    node.stop().await;

    // Unset: /metrics stays on REST, process metrics included.
    let plain = TestNode::tcp(&dir.path().join("plain"), &[]).await;
    assert_eq!(plain.metrics, None);
    let (status, text) = plain.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("process_resident_memory_bytes ") && text.contains("heliograph_build_info{"), "{text}");
    plain.stop().await;
}

/// Opens `count` connections to `addr` that send `partial` and stall.
async fn stalled(addr: &str, partial: &str, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(partial.as_bytes()).await.expect("write");
        held.push(stream);
    }
    held
}

/// Reads what the server sends until it closes `stream` (within 5 s).
async fn answer(stream: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_timed_out_connections_are_counted_per_listener() {
    const CAP: usize = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = CAP.to_string();
    // Metrics on their own listener, so that scraping takes no REST place.
    let node = TestNode::tcp(
        dir.path(),
        &[
            "--metrics-addr",
            "127.0.0.1:0",
            "--rest-header-timeout",
            "1s",
            "--rest-max-connections-per-ip",
            &cap,
            "--bridge-handshake-timeout",
            "1s",
            "--bridge-max-connections-per-ip",
            &cap,
        ],
    )
    .await;
    let scraper = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let metrics_url = format!("http://{}/metrics", node.metrics.as_deref().expect("metrics"));
    let scrape = || async { scraper.get(&metrics_url).send().await.expect("scrape").text().await.expect("body") };
    let before = scrape().await;
    // Every running listener's series is there at 0 before the first refusal.
    for listener in ["rest", "bridge", "metrics"] {
        for reason in ["per_ip_cap", "header_timeout"] {
            let series =
                format!("heliograph_http_refused_connections_total{{listener=\"{listener}\",reason=\"{reason}\"}} 0");
            assert!(before.lines().any(|l| l == series), "{series} missing:\n{before}");
        }
    }

    let rest = node.rest.trim_start_matches("http://").to_owned();
    let bridge = node.bridge.clone().expect("bridge");
    for (listener, addr, partial) in [
        ("rest", &rest, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "),
        ("bridge", &bridge, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"),
    ] {
        let mut held = stalled(addr, partial, CAP).await;
        let mut over = TcpStream::connect(addr.as_str()).await.expect("connect");
        let refusal = answer(&mut over).await;
        assert!(refusal.starts_with("HTTP/1.1 503"), "{listener}: {refusal}");
        let text = scrape().await;
        assert_eq!(refused(&text, listener, "per_ip_cap"), 1.0, "{listener}: the refusal is counted\n{text}");
        // The stalled ones are cut off by the timeout, and counted.
        for stream in &mut held {
            answer(stream).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = scrape().await;
            let timeouts = refused(&text, listener, "header_timeout");
            if timeouts >= CAP as f64 {
                assert_eq!(timeouts, CAP as f64, "{listener}: one per stalled connection\n{text}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{listener}: timeouts not counted\n{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Each listener counts its own: the bridge's refusal is not REST's.
    let text = scrape().await;
    assert_eq!((refused(&text, "rest", "per_ip_cap"), refused(&text, "bridge", "per_ip_cap")), (1.0, 1.0));
    node.stop().await;
}
