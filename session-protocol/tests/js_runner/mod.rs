//! Runs a script of `tests/js` against the pinned `@walletconnect` packages
//! (installed by `tests/js/install.sh` = `npm ci` when missing), on the Node.js
//! that `tests/js/package.json` pins (the npm `node` package), not the system's
//! (Debian 12 ships Node 18).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

fn tool_present(name: &str) -> bool {
    Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Whether `node` and `npm` are installed; prints why the test is skipped if not.
pub fn node_available() -> bool {
    let present = tool_present("node") && tool_present("npm");
    if !present {
        println!("SKIPPED: node and npm are needed to cross-check with @walletconnect/utils");
    }
    present
}

/// Installs the pinned packages of `tests/js` when missing; returns the folder.
pub fn ensure_installed() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let installed = ["@walletconnect/utils", "@walletconnect/sign-client", "node"]
        .iter()
        .all(|p| dir.join("node_modules").join(p).join("package.json").exists());
    if !installed {
        let status = Command::new("sh").arg(dir.join("install.sh")).status().expect("run install.sh");
        assert!(status.success(), "npm ci in tests/js failed");
    }
    dir
}

/// A command running the pinned Node.js of `tests/js` (call `ensure_installed` first).
pub fn node_command(dir: &Path) -> Command {
    let mut command = Command::new(dir.join("node_modules/.bin/node"));
    command.current_dir(dir);
    command
}

/// Runs `script` with `input` on stdin and parses its JSON stdout.
#[allow(dead_code)] // Not every test file that includes this module runs scripts this way.
pub fn run(script: &str, input: &Value) -> Value {
    let dir = ensure_installed();
    let mut child =
        node_command(&dir).arg(script).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn node");
    child.stdin.take().expect("stdin piped").write_all(input.to_string().as_bytes()).expect("write to node");
    let out = child.wait_with_output().expect("wait for node");
    assert!(out.status.success(), "{script} failed");
    serde_json::from_slice(&out.stdout).expect("script prints JSON")
}
