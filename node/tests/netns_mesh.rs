//! Five real `heliograph` processes, each in its own network namespace,
//! joined by veth pairs to a bridge in a sixth namespace (10.77.0.0/24, which
//! exists only inside these namespaces). Every node knows only node 1's
//! address. A message published at one node reaches every node's store; then
//! a node is killed and a message published elsewhere still reaches the rest.
//!
//! A second test serves an EIP-1459 ENR tree holding node 1's record from a
//! DNS server in the bridge namespace: a node given only the `enrtree://` URL
//! resolves it, dials node 1 and receives the mesh's messages.
//!
//! Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), `ip`, `curl` (and `python3` for
//! the DNS server); elsewhere it prints `SKIPPED: <reason>` and passes.
//! Namespaces are removed on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

const NODES: usize = 5;
const SUBNET: &str = "10.77.0";
const TOPIC: &str = "/waku/2/rs/1/0";
const CONTENT_TOPIC: &str = "/heliograph/1/netns/proto";

/// Runs `ip args…` and reports failure with its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The namespaces and links of one test run; removed on drop, also on failure.
struct Net {
    tag: String,
    nodes: usize,
}

impl Net {
    fn ns(&self, i: usize) -> String {
        format!("hg{}-n{i}", self.tag)
    }

    fn bridge_ns(&self) -> String {
        format!("hg{}-br", self.tag)
    }

    fn all(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| self.ns(i)).chain([self.bridge_ns()]).collect()
    }

    /// Builds `nodes` namespaces on one bridge, or says why it cannot. `test`
    /// (one letter) keeps the names of tests running at once apart.
    fn build(test: char, nodes: usize) -> Result<Net, String> {
        let net = Net { tag: format!("{}{test}", std::process::id() % 100_000), nodes };
        for ns in net.all() {
            let _ = ip(&["netns", "del", &ns]); // leftovers of a killed run
        }
        let br = net.bridge_ns();
        ip(&["netns", "add", &br])?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        for i in 1..=nodes {
            let ns = net.ns(i);
            let (inner, outer) = (format!("hg{}v{i}", net.tag), format!("hg{}b{i}", net.tag));
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer, "netns", &br])?;
            ip(&["-n", &br, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &outer, "up"])?;
            ip(&["-n", &ns, "addr", "add", &format!("{SUBNET}.{i}/24"), "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.all() {
            let _ = ip(&["netns", "del", &ns]);
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&ns));
        }
        let _ = std::fs::remove_dir("/etc/netns"); // only if empty
    }
}

/// One node process inside namespace `ns`, its REST API on the namespace's loopback.
struct NsNode {
    ns: String,
    child: Child,
    peer_id: String,
    dir: PathBuf,
}

impl NsNode {
    async fn start(ns: &str, index: usize, dir: &Path, args: &[String]) -> NsNode {
        std::fs::create_dir_all(dir).expect("data dir");
        let log = std::fs::File::create(dir.join("node.log")).expect("log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_heliograph"), "--data-dir"])
            .arg(dir)
            .args(["--listen", &format!("/ip4/{SUBNET}.{index}/tcp/60000")])
            .args(["--rest-addr", "127.0.0.1:8645", "--log", "info,heliograph_node=debug"]);
        cmd.args(args);
        let mut child = cmd
            .env_remove("HELIOGRAPH_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn heliograph in a namespace");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("node did not get ready within 30 s")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("node {index} exited before ready:\n{}", read_log(dir)));
        let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
        assert_eq!(ready["event"], "ready");
        NsNode {
            ns: ns.to_owned(),
            child,
            peer_id: ready["peerId"].as_str().expect("peer id").to_owned(),
            dir: dir.to_owned(),
        }
    }

    /// `curl` inside the namespace: (status, body).
    async fn curl(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "curl", "-sS", "--max-time", "10", "-X", method])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:8645{path}"));
        if let Some(body) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", &body.to_string()]);
        }
        let out = cmd.output().await.expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// A sample of `/metrics`: the value of the line starting with `series`.
    async fn metric(&self, series: &str) -> Option<f64> {
        let (status, text) = self.curl("GET", "/metrics", None).await;
        assert_eq!(status, 200);
        text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    /// Waits until `series` reads `want` (gauges are sampled each second).
    async fn wait_metric(&self, series: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.metric(series).await;
            if got == Some(want) {
                return;
            }
            assert!(Instant::now() < deadline, "{series} at {} is {got:?}, expected {want}", self.ns);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn peers(&self) -> Vec<Value> {
        let (status, body) = self.curl("GET", "/admin/v1/peers", None).await;
        assert_eq!(status, 200, "peers: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Publishes, retrying while the mesh forms (503: no relay peers yet).
    async fn publish(&self, message: &Value) {
        let path = format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = self.curl("POST", &path, Some(message)).await;
            if status == 200 {
                return;
            }
            assert_eq!(status, 503, "unexpected publish answer: {body}");
            assert!(Instant::now() < deadline, "no relay peers after 15 s at {}: {body}", self.ns);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the store holds a message with `hash` (0x… hex).
    async fn wait_stored(&self, hash: &str) {
        let path = format!("/store/v3/messages?pubsubTopic={}&includeData=true", urlencoding::encode(TOPIC));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = self.curl("GET", &path, None).await;
            if status == 200 {
                let page: Value = serde_json::from_str(&body).expect("JSON");
                let found = page["messages"].as_array().into_iter().flatten().any(|m| m["messageHash"] == hash);
                if found {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "message {hash} never stored at {} ({status}: {body}); log:\n{}",
                self.ns,
                read_log(&self.dir)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
}

/// Now, in Unix nanoseconds: a message older than the store's retention (two days
/// by default) would be evicted by the next retention pass before the test reads it.
fn sent_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as i64
}

/// A message and its deterministic hash, computed as the Waku spec says:
/// sha256(pubsub topic ‖ payload ‖ content topic ‖ meta ‖ timestamp as 8 bytes BE).
fn message(text: &str, timestamp: i64) -> (Value, String) {
    let mut h = Sha256::new();
    h.update(TOPIC.as_bytes());
    h.update(text.as_bytes());
    h.update(CONTENT_TOPIC.as_bytes());
    h.update(timestamp.to_be_bytes());
    let hash = format!("0x{}", hex::encode(h.finalize()));
    (json!({ "payload": STANDARD.encode(text), "contentTopic": CONTENT_TOPIC, "timestamp": timestamp }), hash)
}

/// Why this machine cannot run the test, if it cannot.
fn unsupported() -> Option<String> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("network namespaces need root".into());
    }
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        return Some("curl is not installed".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_namespaces_form_a_mesh_store_every_message_and_heal_after_a_kill() {
    if let Some(reason) = unsupported() {
        println!("SKIPPED: {reason}");
        return;
    }
    let net = match Net::build('m', NODES) {
        Ok(net) => net,
        Err(e) => {
            println!("SKIPPED: network namespaces are not permitted here: {e}");
            return;
        }
    };
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");

    let first = NsNode::start(&net.ns(1), 1, &tmp.path().join("n1"), &[]).await;
    let boot = format!("/ip4/{SUBNET}.1/tcp/60000");
    let mut nodes = vec![first];
    for i in 2..=NODES {
        // Nodes 2 and 3 pin node 1's peer id; 4 and 5 dial the bare address,
        // as deploy/compose.yaml and the Helm chart do.
        let addr = if i <= 3 { format!("{boot}/p2p/{}", nodes[0].peer_id) } else { boot.clone() };
        let args = ["--bootstrap".to_owned(), addr];
        nodes.push(NsNode::start(&net.ns(i), i, &tmp.path().join(format!("n{i}")), &args).await);
    }

    // Every node reaches node 1 over the bridge, and node 1 meshes with all of them.
    let ids: Vec<String> = nodes.iter().map(|n| n.peer_id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let peers = nodes[0].peers().await;
        let meshed = |id: &String| {
            peers
                .iter()
                .any(|p| p["peerId"] == **id && p["meshTopics"].as_array().is_some_and(|t| t.contains(&json!(TOPIC))))
        };
        if ids[1..].iter().all(meshed) {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 never meshed with all peers: {peers:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for node in &nodes[1..] {
        let peers = node.peers().await;
        assert!(peers.iter().any(|p| p["peerId"] == *ids[0]), "{} is not connected to node 1", node.ns);
        let addr = peers.iter().find(|p| p["peerId"] == *ids[0]).and_then(|p| p["multiaddr"].as_str()).unwrap_or("");
        assert!(addr.contains(&format!("{SUBNET}.1/tcp/60000")), "node 1 reached over the bridge, got {addr}");
    }

    // The mesh gauge of node 1 counts its four mesh peers on the topic.
    let mesh_series = format!("heliograph_mesh_peers{{topic=\"{TOPIC}\"}}");
    nodes[0].wait_metric(&mesh_series, 4.0).await;

    // Published at a leaf (node 3): relayed through node 1 and stored everywhere.
    let (msg, hash) = message("across five namespaces", sent_now());
    nodes[2].publish(&msg).await;
    for node in &nodes {
        node.wait_stored(&hash).await;
    }

    // Node 2 dies without a goodbye. Node 1 drops it, and a message published
    // at node 5 still reaches every remaining node.
    let mut dead = nodes.remove(1);
    dead.child.kill().await.expect("kill node 2");
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes[0].peers().await.iter().any(|p| p["peerId"] == *ids[1]) {
        assert!(Instant::now() < deadline, "node 1 still lists the killed node");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nodes[0].wait_metric(&mesh_series, 3.0).await;
    let (msg, hash) = message("after node 2 died", sent_now());
    nodes[3].publish(&msg).await;
    for node in &nodes {
        node.wait_stored(&hash).await;
    }
    // Every store lookup above was timed by the store query histogram.
    let queries = nodes[0].metric("heliograph_store_query_seconds_count").await.expect("histogram count");
    assert!(queries >= 2.0, "store queries timed: {queries}");
    let remaining = nodes[0].peers().await;
    assert_eq!(remaining.len(), NODES - 2, "node 1 keeps the three live peers: {remaining:?}");

    let elapsed = started.elapsed();
    println!(
        "netns mesh: {NODES} nodes in namespaces {}..{}, both messages stored everywhere, healed after a kill, in {elapsed:?}",
        net.ns(1),
        net.ns(NODES)
    );
    drop(nodes);
    drop(dead);
    drop(net);
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// Signs an ENR tree holding `enr` for `domain`; returns the zone and the `enrtree://` URL.
fn enr_tree(domain: &str, enr: &str) -> (BTreeMap<String, Vec<String>>, String) {
    use enr::k256::ecdsa::signature::hazmat::PrehashSigner;
    use enr::k256::ecdsa::{Signature, SigningKey};
    use heliograph_node::waku::enrtree::entry_hash;
    use sha3::Keccak256;

    let key = SigningKey::from_slice(&[0x5a; 32]).expect("tree key");
    let mut zone = BTreeMap::new();
    let mut put = |text: String| {
        let hash = entry_hash(&text);
        zone.insert(format!("{hash}.{domain}"), vec![text]);
        hash
    };
    let leaf = put(enr.to_owned());
    let enrs = put(format!("enrtree-branch:{leaf}"));
    let links = put("enrtree-branch:".to_owned());
    let unsigned = format!("enrtree-root:v1 e={enrs} l={links} seq=1");
    let sig: Signature = key.sign_prehash(&<Keccak256 as sha3::Digest>::digest(unsigned.as_bytes())).expect("sign");
    let mut sig = sig.to_bytes().to_vec();
    sig.push(0);
    let root = format!("{unsigned} sig={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig));
    zone.insert(domain.to_owned(), vec![root]);
    let public = data_encoding::BASE32_NOPAD.encode(&key.verifying_key().to_sec1_bytes());
    (zone, format!("enrtree://{public}@{domain}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_given_only_an_enrtree_url_finds_the_mesh_through_dns() {
    if let Some(reason) = unsupported() {
        println!("SKIPPED: {reason}");
        return;
    }
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        println!("SKIPPED: python3 (for the test DNS server) is not installed");
        return;
    }
    if !Path::new("/etc/resolv.conf").exists() {
        println!("SKIPPED: no /etc/resolv.conf for `ip netns exec` to replace");
        return;
    }
    let net = match Net::build('d', 2) {
        Ok(net) => net,
        Err(e) => {
            println!("SKIPPED: network namespaces are not permitted here: {e}");
            return;
        }
    };
    let dns_ip = format!("{SUBNET}.254");
    ip(&["-n", &net.bridge_ns(), "addr", "add", &format!("{dns_ip}/24"), "dev", "br0"]).expect("DNS address");
    let tmp = tempfile::tempdir().expect("tempdir");

    // Node 1 and its signed record, as /debug/v1/info hands it out.
    let first = NsNode::start(&net.ns(1), 1, &tmp.path().join("n1"), &[]).await;
    let (status, body) = first.curl("GET", "/debug/v1/info", None).await;
    assert_eq!(status, 200, "{body}");
    let info: Value = serde_json::from_str(&body).expect("JSON");
    let record = info["enrUri"].as_str().expect("enrUri");

    // The tree, served by a DNS server in the bridge namespace.
    let domain = "nodes.heliograph.test";
    let (zone, url) = enr_tree(domain, record);
    let zone_file = tmp.path().join("zone.json");
    std::fs::write(&zone_file, serde_json::to_string(&zone).expect("zone JSON")).expect("write zone");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/txt_dns.py");
    let mut dns = Command::new("ip")
        .args(["netns", "exec", &net.bridge_ns(), "python3", script])
        .arg(&zone_file)
        .arg(&dns_ip)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the DNS server");
    let mut lines = BufReader::new(dns.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.expect("DNS server ready");
    assert_eq!(ready.expect("read").as_deref(), Some("ready"));

    // Node 2 resolves with that server only: `ip netns exec` mounts this file over /etc/resolv.conf.
    let etc = Path::new("/etc/netns").join(net.ns(2));
    std::fs::create_dir_all(&etc).expect("/etc/netns dir");
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {dns_ip}\noptions timeout:1 attempts:2\n"))
        .expect("resolv.conf");
    let second =
        NsNode::start(&net.ns(2), 2, &tmp.path().join("n2"), &["--dns-discovery-url".to_owned(), url.clone()]).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while !second.peers().await.iter().any(|p| p["peerId"] == *first.peer_id) {
        assert!(Instant::now() < deadline, "node 2 never found node 1 through {url}; log:\n{}", read_log(&second.dir));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (msg, hash) = message("found through DNS", sent_now());
    first.publish(&msg).await;
    second.wait_stored(&hash).await;
    assert!(read_log(&second.dir).contains("ENR tree resolved"), "the node logs what it found");

    // Node 1 restarts (same key, same address): node 2 dials it again by itself.
    let mut first = first;
    first.child.kill().await.expect("kill node 1");
    let restarted = NsNode::start(&net.ns(1), 1, &tmp.path().join("n1"), &[]).await;
    assert_eq!(restarted.peer_id, first.peer_id, "the key survives a restart");
    let deadline = Instant::now() + Duration::from_secs(45);
    while !second.peers().await.iter().any(|p| p["peerId"] == *first.peer_id) {
        assert!(Instant::now() < deadline, "node 2 never redialed the restarted node 1");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("netns DNS discovery: {url} resolved to node 1 {}, redialed after its restart", first.peer_id);

    drop(second);
    drop(restarted);
    drop(first);
    let _ = dns.kill().await;
    drop(net);
}

/// The `HEALTHCHECK` command of deploy/Dockerfile, as Docker runs it.
fn dockerfile_healthcheck() -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/Dockerfile")).expect("Dockerfile");
    let joined = text.replace("\\\n", " ");
    let line = joined.lines().find(|l| l.starts_with("HEALTHCHECK")).expect("a HEALTHCHECK");
    let cmd = &line[line.find("CMD [").expect("exec-form CMD") + 4..];
    serde_json::from_str(cmd.trim()).expect("CMD is a JSON array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerfile_healthcheck_passes_on_a_serving_node_and_fails_without_one() {
    if let Some(reason) = unsupported() {
        println!("SKIPPED: {reason}");
        return;
    }
    let net = match Net::build('h', 1) {
        Ok(net) => net,
        Err(e) => {
            println!("SKIPPED: network namespaces are not permitted here: {e}");
            return;
        }
    };
    let check = dockerfile_healthcheck();
    assert_eq!(check[0], "bash");
    let run_check = || async {
        let status = Command::new("ip").args(["netns", "exec", &net.ns(1)]).args(&check).status().await.expect("run");
        status.success()
    };
    // Nothing listens yet: the check fails.
    assert!(!run_check().await, "the health check passes with no node");

    let tmp = tempfile::tempdir().expect("tempdir");
    let node = NsNode::start(&net.ns(1), 1, &tmp.path().join("n1"), &[]).await;
    assert!(run_check().await, "the health check fails on a serving node; log:\n{}", read_log(&node.dir));
    drop(node);
    drop(net);
}
