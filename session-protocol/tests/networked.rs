//! Two real peers through a real `heliograph` node's WebSocket bridge: the
//! `wallet` and `dapp` examples as processes (killed and restarted where the
//! test needs it) and the driver in-process, all on 127.0.0.1.
//!
//! The node binary is `$HELIOGRAPH_BIN`, or `heliograph` in the target directory
//! these tests were built into (`cargo test --workspace` builds it). When the
//! node has no WalletConnect bridge, these tests fail with "bridge not
//! available"; `HELIOGRAPH_SKIP_BRIDGE_TESTS=1` opts out explicitly.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use heliograph_session::driver::{ClientKey, Driver, DriverConfig, DriverEvent, restore_or_new};
use heliograph_session::namespaces::Request;
use heliograph_session::{Config, ConnectResult, Endpoint, Event, FileStore, MemoryStore, Now, Topic};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[path = "js_runner/mod.rs"]
mod js_runner;

const WAIT: Duration = Duration::from_secs(60);

/// The directory holding the test executable's profile outputs (`…/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // …/debug/deps/networked-<hash> → …/debug
    exe.parent().and_then(Path::parent).expect("test executable lives in <profile>/deps").to_path_buf()
}

fn node_bin() -> PathBuf {
    let path = std::env::var_os("HELIOGRAPH_BIN").map_or_else(|| profile_dir().join("heliograph"), PathBuf::from);
    assert!(
        path.is_file(),
        "heliograph node binary not found at {}: run `cargo build -p heliograph-node` (or `cargo test --workspace`), \
         or set HELIOGRAPH_BIN",
        path.display()
    );
    path
}

fn example_bin(name: &str) -> PathBuf {
    let path = profile_dir().join("examples").join(name);
    assert!(path.is_file(), "example {name} not built at {}: run `cargo test -p heliograph-session`", path.display());
    path
}

/// A running `heliograph` node, killed on drop.
struct Node {
    child: Child,
    relay: String,
    bridge: String,
    dir: tempfile::TempDir,
}

impl Node {
    /// Starts a node; `None` only when `HELIOGRAPH_SKIP_BRIDGE_TESTS` is set and it has no bridge.
    async fn start() -> Option<Node> {
        let dir = tempfile::tempdir().unwrap();
        let (child, bridge) = Node::spawn(dir.path(), "127.0.0.1:0").await?;
        Some(Node { child, relay: format!("ws://{bridge}"), bridge, dir })
    }

    async fn spawn(dir: &Path, bridge_addr: &str) -> Option<(Child, String)> {
        let log_path = dir.join("node.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let mut child = Command::new(node_bin())
            .args(["--data-dir", dir.join("data").to_str().unwrap()])
            .args(["--rest-addr", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--bridge-addr", bridge_addr])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the heliograph node");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["event"] == "ready"
                {
                    return Some(v);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        // Keep draining stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let bridge = ready.as_ref().and_then(|r| r["bridge"].as_str().map(str::to_owned));
        let Some(bridge) = bridge else {
            if std::env::var_os("HELIOGRAPH_SKIP_BRIDGE_TESTS").is_some() {
                eprintln!("SKIPPED (HELIOGRAPH_SKIP_BRIDGE_TESTS): the node has no WalletConnect bridge");
                return None;
            }
            panic!(
                "bridge not available: the heliograph node did not report a \"bridge\" address \
                 (ready line: {ready:?}); node log tail:\n{}",
                tail(&log)
            );
        };
        Some((child, bridge))
    }

    /// Kills the node (no graceful shutdown) and starts it again on the same
    /// bridge address and data directory.
    async fn restart(&mut self) {
        self.child.kill().await.unwrap();
        let (child, bridge) = Node::spawn(self.dir.path(), &self.bridge).await.expect("node restarts with its bridge");
        assert_eq!(bridge, self.bridge, "same bridge address after the restart");
        self.child = child;
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(3000);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    &text[start..]
}

/// An example process whose JSON lines are collected.
struct Proc {
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(name: &str, args: &[String], dir: &Path, tag: &str) -> Proc {
        Proc::spawn_command(Command::new(example_bin(name)), args, dir, tag)
    }

    fn spawn_command(mut command: Command, args: &[String], dir: &Path, tag: &str) -> Proc {
        let stderr = dir.join(format!("{tag}.stderr"));
        let mut child = command
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {tag}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"event": "unparsed", "line": line}));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines, seen: Vec::new(), stderr }
    }

    /// The next line whose `event` is `event`, failing after `WAIT`.
    async fn expect(&mut self, event: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if v["event"] == event {
                        return v;
                    }
                    if event != "failed" && v["event"] == "failed" {
                        self.fail(&format!("process reported failure while waiting for {event}"));
                    }
                }
                Ok(None) => self.fail(&format!("process ended before printing {event}")),
                Err(_) => self.fail(&format!("no {event} line within {WAIT:?}")),
            }
        }
    }

    fn fail(&self, what: &str) -> ! {
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        panic!("{what}\nlines so far: {:#?}\nstderr tail:\n{}", self.seen, tail(&stderr));
    }

    fn lines_with(&self, event: &str) -> Vec<&Value> {
        self.seen.iter().filter(|v| v["event"] == event).collect()
    }

    async fn kill(&mut self) {
        self.child.kill().await.expect("kill example process");
    }

    async fn exit_ok(&mut self) -> bool {
        let status = tokio::time::timeout(WAIT, self.child.wait()).await.expect("process exits").expect("wait");
        status.success()
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn wallet_args(node: &Node, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = args(&["--relay", &node.relay, "--state"]);
    a.push(dir.join("wallet.json").to_string_lossy().into_owned());
    a.push("--eth-key-file".into());
    a.push(dir.join("wallet.eth-key").to_string_lossy().into_owned());
    a.extend(args(extra));
    a
}

fn dapp_args(node: &Node, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = args(&["--relay", &node.relay, "--state"]);
    a.push(dir.join("dapp.json").to_string_lossy().into_owned());
    a.extend(args(extra));
    a
}

fn result_of<'a>(connected: &'a Value, value: &str) -> &'a Value {
    connected["results"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["value"] == value))
        .unwrap_or_else(|| panic!("no item result for {value} in {connected}"))
}

#[tokio::test]
async fn pairing_approves_with_optional_items_partly_denied_and_signs() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--chain",
        "eip155:1",
        "--optional-chain",
        "eip155:137",
        "--optional-chain",
        "eip155:10",
        "--optional-method",
        "eth_signTypedData_v4",
        "--optional-event",
        "chainChanged",
    ];
    let mut dapp = Proc::spawn("dapp", &dapp_args(&node, dir.path(), &extra), dir.path(), "dapp");
    let uri = dapp.expect("uri").await["uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("wc:") && uri.contains("symKey="), "{uri}");
    let deny = [
        "--uri",
        &uri,
        "--deny",
        "eip155/chains/eip155:137=no polygon here",
        "--deny",
        "eip155/methods/eth_signTypedData_v4=typed data is off",
    ];
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &deny), dir.path(), "wallet");
    let address = wallet.expect("ready").await["address"].as_str().unwrap().to_owned();

    let connected = dapp.expect("connected").await;
    assert_eq!(result_of(&connected, "eip155:137")["outcome"], "denied");
    assert_eq!(result_of(&connected, "eip155:137")["reason"], "no polygon here");
    assert_eq!(result_of(&connected, "eth_signTypedData_v4")["reason"], "typed data is off");
    assert_eq!(result_of(&connected, "eip155:10")["outcome"], "granted");
    assert_eq!(result_of(&connected, "chainChanged")["outcome"], "granted");
    assert_eq!(result_of(&connected, "eip155:1")["outcome"], "granted");
    assert_eq!(connected["accounts"], json!([format!("eip155:1:{address}"), format!("eip155:10:{address}")]));
    let permissions: Vec<&str> =
        connected["permissions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(permissions.contains(&"personal_sign"), "{permissions:?}");
    assert!(!permissions.contains(&"eth_signTypedData_v4"), "a denied method is no permission: {permissions:?}");
    let wallet_connected = wallet.expect("connected").await;
    assert_eq!(wallet_connected["sas"], connected["sas"], "both sides derive the same short authentication string");
    assert_eq!(wallet_connected["session"], connected["session"]);

    let verified = dapp.expect("verified").await;
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["address"], address.as_str());
    assert_eq!(dapp.expect("done").await["verified"], 1);
    assert!(dapp.exit_ok().await, "dapp exits 0 when every signature verified");
}

#[tokio::test]
async fn a_denied_required_item_fails_the_proposal_with_its_reason() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut dapp = Proc::spawn("dapp", &dapp_args(&node, dir.path(), &["--chain", "eip155:1"]), dir.path(), "dapp");
    let uri = dapp.expect("uri").await["uri"].as_str().unwrap().to_owned();
    let deny = ["--uri", &uri, "--deny", "eip155/chains/eip155:1=mainnet is off"];
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &deny), dir.path(), "wallet");
    let failed = dapp.expect("proposal_failed").await;
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("eip155/chains/eip155:1") && error.contains("mainnet is off"), "{error}");
    assert!(!dapp.exit_ok().await, "the dapp fails when its proposal fails");
    assert!(wallet.expect("approve_failed").await["error"].as_str().unwrap().contains("mainnet is off"));
    assert!(wallet.lines_with("connected").is_empty());
}

#[tokio::test]
async fn three_sessions_in_parallel_with_interleaved_requests() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--sessions", "3", "--requests", "3"];
    let mut dapp = Proc::spawn("dapp", &dapp_args(&node, dir.path(), &extra), dir.path(), "dapp");
    let uri = dapp.expect("uri").await["uri"].as_str().unwrap().to_owned();
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &["--uri", &uri]), dir.path(), "wallet");

    let done = dapp.expect("done").await;
    assert_eq!(done["verified"], 9);
    let sessions: std::collections::BTreeSet<String> =
        dapp.lines_with("connected").iter().map(|c| c["session"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sessions.len(), 3, "three distinct sessions over one pairing");
    assert!(dapp.lines_with("verified").iter().all(|v| v["valid"] == true));
    // The requests went out interleaved (round-robin over sessions), so the wallet
    // sees them interleaved too, not session after session.
    for _ in 0..9 {
        wallet.expect("responded").await;
    }
    let order: Vec<&str> = wallet.lines_with("request").iter().map(|r| r["session"].as_str().unwrap()).collect();
    assert_eq!(order.len(), 9);
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > 2, "requests of the three sessions arrived grouped, not interleaved: {order:?}");
    assert!(dapp.exit_ok().await);
}

/// A dapp driven in-process, with short heartbeats so offline peers show quickly.
struct InProcessDapp {
    driver: Driver,
    shutdown: CancellationToken,
}

impl InProcessDapp {
    fn start(relay: &str) -> InProcessDapp {
        InProcessDapp::start_with(DriverConfig::new(relay))
    }

    fn start_with(driver_config: DriverConfig) -> InProcessDapp {
        let config = Config {
            heartbeat_interval: Duration::from_secs(1),
            offline_after: Duration::from_secs(3),
            ..Config::default()
        };
        let endpoint = Endpoint::new(config, rand_core::OsRng);
        let shutdown = CancellationToken::new();
        let driver = Driver::spawn(
            endpoint,
            ClientKey::generate(),
            Some(Box::new(MemoryStore::new())),
            driver_config,
            shutdown.clone(),
        )
        .unwrap();
        InProcessDapp { driver, shutdown }
    }

    async fn next(&mut self, what: &str, mut pick: impl FnMut(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.driver.events.recv()).await {
                Ok(Some(DriverEvent::Endpoint(e))) if pick(&e) => return e,
                Ok(Some(_)) => {}
                Ok(None) => panic!("driver stopped while waiting for {what}"),
                Err(_) => panic!("no {what} within {WAIT:?}"),
            }
        }
    }

    /// Creates a pairing and proposes a session on it; returns the URI for the wallet.
    async fn propose(&mut self) -> String {
        let uri = self.driver.handle.call(|ep, now| ep.create_pairing(now)).await.unwrap();
        let mut request = Request::default();
        request.required_namespaces.insert(
            "eip155".into(),
            [("chains".into(), vec!["eip155:1".into()]), ("methods".into(), vec!["personal_sign".into()])].into(),
        );
        let pairing = uri.topic.clone();
        self.driver.handle.call(move |ep, now| ep.propose(&pairing, request, now)).await.unwrap().unwrap();
        uri.to_string()
    }

    async fn connected(&mut self) -> ConnectResult {
        match self.next("Connected", |e| matches!(e, Event::Connected(_))).await {
            Event::Connected(c) => c,
            _ => unreachable!(),
        }
    }

    /// Sends `personal_sign` of `message` on `session`; returns the request id.
    async fn sign(&mut self, session: &Topic, message: &str, address: &str) -> u64 {
        let params = json!([format!("0x{}", hex::encode(message)), address]);
        let session = session.clone();
        self.driver
            .handle
            .call(move |ep, now| ep.request(&session, Some("eip155:1"), "personal_sign", params, now))
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits for the response to request `id` and returns the address its signature recovers.
    async fn signer(&mut self, id: u64, message: &str) -> String {
        let event = self.next("the signature", |e| matches!(e, Event::Response { id: got, .. } if *got == id)).await;
        let Event::Response { outcome, .. } = event else { unreachable!() };
        let signature = outcome.expect("the wallet signs");
        let bytes = hex::decode(signature.as_str().unwrap().trim_start_matches("0x")).unwrap();
        let address = heliograph_session::linking::recover_eip191(message.as_bytes(), &bytes).unwrap();
        format!("0x{}", hex::encode(address))
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.driver.join().await.unwrap();
    }
}

#[tokio::test]
async fn a_restarted_wallet_resumes_its_session_without_pairing_again() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut dapp = InProcessDapp::start(&node.relay);
    let uri = dapp.propose().await;
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &["--uri", &uri]), dir.path(), "wallet1");
    let address = wallet.expect("ready").await["address"].as_str().unwrap().to_owned();
    let session = dapp.connected().await.session;
    let id = dapp.sign(&session, "before the restart", &address).await;
    assert_eq!(dapp.signer(id, "before the restart").await, address);
    wallet.expect("responded").await;

    // Kill the wallet process (no graceful shutdown) and ask while it is gone.
    wallet.kill().await;
    let id = dapp.sign(&session, "while the wallet was down", &address).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &[]), dir.path(), "wallet2");
    let ready = wallet.expect("ready").await;
    assert_eq!(ready["restored"], true);
    assert_eq!(ready["address"], address.as_str());
    assert_eq!(ready["sessions"], json!([session.as_str()]), "the session was resumed from the state file");
    assert_eq!(dapp.signer(id, "while the wallet was down").await, address, "answered after the restart");
    let request = wallet.expect("request").await;
    assert_eq!(request["session"], session.as_str());
    assert!(wallet.lines_with("paired").is_empty() && wallet.lines_with("proposal").is_empty(), "no new pairing");

    // The resumed session keeps working both ways.
    let id = dapp.sign(&session, "after the restart", &address).await;
    assert_eq!(dapp.signer(id, "after the restart").await, address);
    dapp.stop().await;
}

#[tokio::test]
async fn a_peer_going_offline_is_reported_and_coming_back_too() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut dapp = InProcessDapp::start(&node.relay);
    let uri = dapp.propose().await;
    let fast = ["--uri", &uri, "--heartbeat-secs", "1", "--offline-secs", "3"];
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &fast), dir.path(), "wallet1");
    let session = dapp.connected().await.session;
    wallet.expect("connected").await;

    // Heartbeats keep a live peer online: no PeerOffline while both run.
    let quiet = tokio::time::timeout(
        Duration::from_secs(5),
        dapp.next("PeerOffline", |e| matches!(e, Event::PeerOffline { .. })),
    )
    .await;
    assert!(quiet.is_err(), "a live wallet was reported offline");

    let killed_at = Instant::now();
    wallet.kill().await;
    let offline = dapp.next("PeerOffline", |e| matches!(e, Event::PeerOffline { .. })).await;
    assert_eq!(offline, Event::PeerOffline { session: session.clone() });
    let after = killed_at.elapsed();
    assert!(after < Duration::from_secs(15), "offline reported only after {after:?}");

    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &fast[2..]), dir.path(), "wallet2");
    assert_eq!(wallet.expect("ready").await["restored"], true);
    let online = dapp.next("PeerOnline", |e| matches!(e, Event::PeerOnline { .. })).await;
    assert_eq!(online, Event::PeerOnline { session });
    dapp.stop().await;
}

/// The driver gives up nothing when the relay is unreachable: it keeps retrying
/// with backoff and reports each failure; at shutdown it saves the snapshot, so
/// `restore_or_new` brings the pairing back.
#[tokio::test]
async fn an_unreachable_relay_is_retried_with_backoff_and_state_saved_at_shutdown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("state.json"));
    let (mut endpoint, restored) = restore_or_new(Config::default(), &store).unwrap();
    assert!(!restored);
    let pairing = endpoint.create_pairing(Now::new(Instant::now(), SystemTime::now())).topic;
    let shutdown = CancellationToken::new();
    let mut driver = Driver::spawn(
        endpoint,
        ClientKey::generate(),
        Some(Box::new(store.clone())),
        DriverConfig::new(format!("ws://127.0.0.1:{port}")),
        shutdown.clone(),
    )
    .unwrap();
    let mut delays = Vec::new();
    while delays.len() < 3 {
        match tokio::time::timeout(WAIT, driver.events.recv()).await.unwrap().unwrap() {
            DriverEvent::RelayDisconnected { reason, retry_in } => {
                assert!(reason.contains("connecting to ws://127.0.0.1"), "{reason}");
                assert!(!reason.contains("auth="), "no token in errors: {reason}");
                delays.push(retry_in);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Equal jitter: attempt n waits between half and all of 500 ms * 2^n.
    for (n, d) in delays.iter().enumerate() {
        let ceiling = Duration::from_millis(500 << n);
        assert!(*d >= ceiling / 2 && *d <= ceiling, "attempt {n}: {d:?}");
    }
    // Calls still work while the relay is away.
    let pairings = driver.handle.call(|ep, _| ep.pairings().cloned().collect::<Vec<_>>()).await.unwrap();
    assert_eq!(pairings, vec![pairing.clone()]);
    shutdown.cancel();
    driver.join().await.unwrap();

    let (restored_endpoint, restored) = restore_or_new(Config::default(), &store).unwrap();
    assert!(restored);
    assert_eq!(restored_endpoint.pairings().collect::<Vec<_>>(), vec![&pairing]);
}

#[tokio::test]
async fn both_peers_reconnect_and_resubscribe_after_the_relay_restarts() {
    let Some(mut node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut dapp = InProcessDapp::start(&node.relay);
    let uri = dapp.propose().await;
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &["--uri", &uri]), dir.path(), "wallet");
    let address = wallet.expect("ready").await["address"].as_str().unwrap().to_owned();
    let session = dapp.connected().await.session;
    wallet.expect("connected").await;

    node.restart().await;
    // The dapp notices, backs off, reconnects and subscribes its topics again.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut disconnected = false;
    loop {
        match tokio::time::timeout_at(deadline, dapp.driver.events.recv()).await.unwrap().unwrap() {
            DriverEvent::RelayDisconnected { .. } => disconnected = true,
            DriverEvent::RelayConnected if disconnected => break,
            _ => {}
        }
    }
    let reconnected = wallet.expect("relay_connected").await;
    assert_eq!(reconnected["event"], "relay_connected");
    assert!(!wallet.lines_with("relay_disconnected").is_empty(), "the wallet saw the relay go away");

    // Only a resubscribed wallet receives this request on the new relay process.
    let id = dapp.sign(&session, "after the relay restart", &address).await;
    assert_eq!(dapp.signer(id, "after the relay restart").await, address);
    dapp.stop().await;
}

/// The official `@walletconnect/sign-client` 2.25.0 as the dapp, our `wallet`
/// example (driver) as the wallet, through the bridge: pairing, approval,
/// personal_sign and the dapp's disconnect all cross implementations.
#[tokio::test]
async fn the_official_sign_client_dapp_works_with_the_rust_wallet() {
    if !js_runner::node_available() {
        return;
    }
    let Some(node) = Node::start().await else { return };
    let js = js_runner::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let command = Command::from(js_runner::node_command(&js));
    let mut dapp = Proc::spawn_command(command, &args(&["signclient_dapp.mjs", &node.relay]), dir.path(), "js-dapp");
    let uri = dapp.expect("uri").await["uri"].as_str().unwrap().to_owned();
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &["--uri", &uri]), dir.path(), "wallet");
    let address = wallet.expect("ready").await["address"].as_str().unwrap().to_owned();

    let connected = dapp.expect("connected").await;
    assert_eq!(connected["accounts"], json!([format!("eip155:1:{address}")]));
    let wallet_session = wallet.expect("connected").await;
    assert_eq!(wallet_session["session"], connected["topic"]);

    let signed = dapp.expect("signature").await;
    let signature = hex::decode(signed["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let signer = heliograph_session::linking::recover_eip191(signed["text"].as_str().unwrap().as_bytes(), &signature);
    assert_eq!(format!("0x{}", hex::encode(signer.unwrap())), address);
    dapp.expect("disconnected").await;
    assert_eq!(wallet.expect("session_deleted").await["session"], connected["topic"]);
    assert!(dapp.exit_ok().await);
}

/// With an event channel of one slot and an application that does not read for
/// a while, the driver keeps serving calls and the relay, and no event is lost:
/// they wait in the endpoint's bounded queues until the application reads.
#[tokio::test]
async fn a_slow_application_loses_no_events_through_the_bounded_channel() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut config = DriverConfig::new(&node.relay);
    config.event_capacity = 1;
    let mut dapp = InProcessDapp::start_with(config);
    let uri = dapp.propose().await;
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &["--uri", &uri]), dir.path(), "wallet");
    let address = wallet.expect("ready").await["address"].as_str().unwrap().to_owned();
    let session = dapp.connected().await.session;

    let mut ids = std::collections::BTreeMap::new();
    for n in 0..20 {
        let message = format!("request {n}");
        ids.insert(dapp.sign(&session, &message, &address).await, message);
    }
    for _ in 0..20 {
        wallet.expect("responded").await;
    }
    // Only now does the application read: every response is there, in order of arrival.
    let mut answered = Vec::new();
    while answered.len() < ids.len() {
        let event = dapp.next("a response", |e| matches!(e, Event::Response { .. })).await;
        let Event::Response { id, outcome, .. } = event else { unreachable!() };
        let signature = hex::decode(outcome.unwrap().as_str().unwrap().trim_start_matches("0x")).unwrap();
        let signer = heliograph_session::linking::recover_eip191(ids[&id].as_bytes(), &signature).unwrap();
        assert_eq!(format!("0x{}", hex::encode(signer)), address);
        answered.push(id);
    }
    answered.sort_unstable();
    assert_eq!(answered, ids.keys().copied().collect::<Vec<_>>(), "every request answered exactly once");
    dapp.stop().await;
}

/// The endpoint accepts envelopes up to 150 KiB, the bridge only up to 140 KiB:
/// a message in between is refused by the relay, retried, then reported as
/// `PublishFailed`, and the connection and session go on working.
#[tokio::test]
async fn a_publish_the_relay_refuses_is_reported_and_the_session_goes_on() {
    let Some(node) = Node::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut dapp = InProcessDapp::start(&node.relay);
    let uri = dapp.propose().await;
    let mut wallet = Proc::spawn("wallet", &wallet_args(&node, dir.path(), &["--uri", &uri]), dir.path(), "wallet");
    let address = wallet.expect("ready").await["address"].as_str().unwrap().to_owned();
    let session = dapp.connected().await.session;

    let huge = "x".repeat(54_500); // sent hex-encoded: about 146 KiB sealed
    let id = dapp.sign(&session, &huge, &address).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let (tag, error) = loop {
        match tokio::time::timeout_at(deadline, dapp.driver.events.recv()).await.unwrap().unwrap() {
            DriverEvent::PublishFailed { topic, tag, error } => {
                assert_eq!(topic, session);
                break (tag, error);
            }
            DriverEvent::Endpoint(Event::Response { id: got, .. }) if got == id => panic!("the relay took it"),
            _ => {}
        }
    };
    assert_eq!(tag, 1108, "a wc_sessionRequest");
    assert!(error.contains("at most"), "the relay's reason is passed on: {error}");
    let id = dapp.sign(&session, "a normal one", &address).await;
    assert_eq!(dapp.signer(id, "a normal one").await, address);
    dapp.stop().await;
}
