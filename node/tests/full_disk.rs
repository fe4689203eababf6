//! A full disk under a real `heliograph` process (issue 18, item 14): the
//! data dir is on a small tmpfs. When the disk fills, publishes get 507 and
//! `/readyz` says why; when space comes back the store reopens by itself,
//! publishes are stored again, and nothing acknowledged before is lost.
//! Mounting needs root (CI runs as root); elsewhere the test says so and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::TestNode;
use serde_json::{Value, json};

const TOPIC: &str = "/waku/2/rs/1/0";

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed as root");
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn message(i: usize, size: usize) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as i64;
    let payload: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
    json!({"payload": STANDARD.encode(payload), "contentTopic": "/full-disk/1/t/proto", "timestamp": now})
}

async fn publish(node: &TestNode, message: &Value) -> (u16, String) {
    node.post_json(&format!("/relay/v1/messages/{}", urlencoding::encode(TOPIC)), message).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_publishes_and_the_store_resumes_when_space_returns() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "128m");
    let node = TestNode::tcp(&disk.0.join("node"), &["--rest-publish-without-peers"]).await;
    // Leave about 1 MiB free.
    let free = rustix::fs::statvfs(&disk.0).expect("statvfs");
    let filler = disk.0.join("filler");
    let fill = (free.f_bavail * free.f_frsize).saturating_sub(1024 * 1024);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).expect("fits")]).expect("filler");

    let mut acked = 0;
    let refusal = loop {
        let (status, body) = publish(&node, &message(acked, 20_000)).await;
        match status {
            200 => acked += 1,
            _ => break (status, body),
        }
        assert!(acked < 1000, "the disk never filled");
    };
    assert_eq!(refusal.0, 507, "{refusal:?}");
    assert!(refusal.1.contains("not stored") && refusal.1.contains("No space"), "{refusal:?}");
    let (ready, why) = node.get("/readyz").await;
    assert_eq!(ready, 503, "{why}");
    assert!(why.contains("store"), "{why}");

    // Space returns: the next publish reopens the store and is kept.
    std::fs::remove_file(&filler).expect("remove filler");
    let (status, body) = publish(&node, &message(acked, 2_000)).await;
    assert_eq!(status, 200, "after space returned: {body}");
    acked += 1;
    let (ready, why) = node.get("/readyz").await;
    assert_eq!(ready, 200, "{why}");
    assert!(node.log().contains("message store reopened"), "the store did not reopen");

    // Every acknowledged message is in the store.
    let (status, body) =
        node.get("/store/v3/messages?contentTopics=%2Ffull-disk%2F1%2Ft%2Fproto&pageSize=100&includeData=false").await;
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(acked), "{body}");
    node.stop().await;
}
