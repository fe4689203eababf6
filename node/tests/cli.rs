//! The binary as an operator first meets it: `--help` and `--print-config`.

use std::process::Command;

#[test]
fn help_teaches_flags_env_and_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_heliograph")).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    for needle in
        ["--bootstrap", "--listen", "--cluster-id", "--data-dir", "HELIOGRAPH_DATA_DIR", "--config", "127.0.0.1:8645"]
    {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[test]
fn print_config_merges_file_env_and_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, "[relay]\ncluster_id = 3\nnum_shards = 4\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_heliograph"))
        .args(["--print-config", "--config"])
        .arg(&file)
        .env("HELIOGRAPH_NUM_SHARDS", "16")
        .args(["--shard", "9"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: heliograph_node::Config =
        toml::from_str(&String::from_utf8(out.stdout).expect("utf8")).expect("printed config is valid TOML");
    assert_eq!(printed.relay.cluster_id, 3, "from the file");
    assert_eq!(printed.relay.num_shards, 16, "env wins over the file");
    assert_eq!(printed.relay.shards, [9], "flag");

    let bad =
        Command::new(env!("CARGO_BIN_EXE_heliograph")).args(["--print-config", "--shard", "99"]).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("shard 99 is out of range"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pages_are_served_under_demo_and_nothing_outside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pages = dir.path().join("pages");
    std::fs::create_dir_all(&pages).expect("dir");
    std::fs::write(pages.join("index.html"), "<h1>demo</h1>").expect("write");
    std::fs::write(dir.path().join("secret.txt"), "do not serve").expect("write");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_heliograph"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--rest-addr", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-store", "--static-dir"])
        .arg(&pages)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let ready: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.expect("read").expect("ready line")).expect("json");
    let base = format!("http://{}", ready["rest"].as_str().expect("rest"));
    let page = reqwest::get(format!("{base}/demo/index.html")).await.expect("get");
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.expect("body"), "<h1>demo</h1>");
    let escape = reqwest::get(format!("{base}/demo/..%2Fsecret.txt")).await.expect("get");
    assert_ne!(escape.status(), 200, "path traversal must not reach files outside the folder");
}
