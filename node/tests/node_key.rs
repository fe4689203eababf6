//! `heliograph key generate` and `--node-key` / `HELIOGRAPH_NODE_KEY` with the
//! real binary: the generated key gives the peer id it announced, it is used
//! instead of the data dir's key file, and it appears in no log, no
//! `--print-config` output and no `--help` text.

mod common;

use std::process::Command;

use common::TestNode;

fn heliograph(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_heliograph")).args(args).env_remove("HELIOGRAPH_CONFIG").output().expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_is_the_nodes_identity_and_is_never_printed() {
    let out = heliograph(&["key", "generate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).expect("utf8").trim().to_owned();
    assert_eq!(key.len(), 64, "64 hex characters: {key}");
    let stderr = String::from_utf8(out.stderr).expect("utf8");
    let peer_id = stderr.trim().strip_prefix("peer id: ").expect("peer id on stderr").to_owned();

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let node = TestNode::tcp(&data, &["--node-key", &key]).await;
    assert_eq!(node.peer_id, peer_id, "the node runs with the given key");
    assert!(!data.join("node-key").exists(), "a given key is not written into the data dir");
    let log = node.log();
    assert!(!log.is_empty(), "the node logged (at debug)");
    assert!(!log.contains(&key), "the key is in the node's log");
    drop(node);

    // The variable works too, and neither --print-config nor --help shows the key.
    let printed = Command::new(env!("CARGO_BIN_EXE_heliograph"))
        .arg("--print-config")
        .env("HELIOGRAPH_NODE_KEY", &key)
        .output()
        .expect("run");
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    assert!(!String::from_utf8_lossy(&printed.stdout).contains(&key), "--print-config prints the key");
    let help = Command::new(env!("CARGO_BIN_EXE_heliograph"))
        .arg("--help")
        .env("HELIOGRAPH_NODE_KEY", &key)
        .output()
        .expect("run");
    let help = String::from_utf8(help.stdout).expect("utf8");
    assert!(help.contains("HELIOGRAPH_NODE_KEY") && !help.contains(&key), "--help shows the key");

    // A bad key is a clear error.
    let bad = heliograph(&["--print-config", "--node-key", "1234zz"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("invalid node key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_out_writes_a_private_key_file_the_node_loads_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    std::fs::create_dir_all(&data).expect("mkdir");
    let file = data.join("node-key");
    let out = heliograph(&["key", "generate", "--out", file.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let peer_id = String::from_utf8(out.stdout).expect("utf8").trim().to_owned();
    let key = std::fs::read_to_string(&file).expect("key file").trim().to_owned();
    assert!(!peer_id.contains(&key) && key.len() == 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);
    }
    let again = heliograph(&["key", "generate", "--out", file.to_str().expect("utf8")]);
    assert!(!again.status.success(), "an existing key file is not overwritten");
    assert_eq!(std::fs::read_to_string(&file).expect("key file").trim(), key);

    let node = TestNode::tcp(&data, &[]).await;
    assert_eq!(node.peer_id, peer_id, "the node uses the key file in its data dir");
}
