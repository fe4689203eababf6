//! A node on cluster 1 (The Waku Network) without RLN validation says so at
//! startup; a node on a private cluster does not.

mod common;

use common::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_1_without_rln_warns_and_other_clusters_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let twn = TestNode::tcp(&dir.path().join("twn"), &[]).await;
    let log = twn.log();
    assert!(log.contains("WARN") && log.contains("The Waku Network") && log.contains("RLN"), "{log}");
    let private = TestNode::tcp(&dir.path().join("private"), &["--cluster-id", "42"]).await;
    assert!(!private.log().contains("RLN"), "{}", private.log());
}
