//! The node's layering, checked: every module of `src/` may import only
//! modules of layers below its own (ARCHITECTURE.md draws them). The test reads
//! the sources, collects each `crate::<module>` path (in `use` items and inline
//! paths, comments skipped) and fails naming the file and the import that
//! points up or sideways. `lib.rs` and `main.rs` wire the layers and are free.
//!
//! The same holds inside the bridge, whose files are layered too
//! ([`BRIDGE_LAYERS`]), so per-connection state, method routers and the
//! connection pump cannot import each other in a circle again. There every
//! `crate::bridge::…` and `super::…` path is resolved to the file it names
//! (`super::` inside a `#[cfg(test)] mod tests` is the file itself); a
//! `mod.rs` reaches its own children by plain relative paths, which are not
//! checked (a module always sits above the files it declares).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The node's top-level modules, lowest layer first. A module may import
/// modules of strictly lower layers only; modules sharing a layer are
/// independent of each other. `waku` is the `heliograph-waku` crate re-exported.
const LAYERS: &[&[&str]] = &[
    &["waku"],
    &["identity", "metrics", "rate_limit", "http_server", "access", "logging", "process_metrics", "turn"],
    &["config"],
    &["p2p", "metrics_server"],
    &["store"],
    &["publish"],
    &["light"],
    &["bridge"],
    &["rest"],
];

/// Imports still pointing up that a later step of issue 17 removes; each one
/// listed is a known debt, and any import not listed fails the test.
const KNOWN_DEBT: &[(&str, &str)] = &[];

/// Files of `src/bridge/`, lowest first (same rule as [`LAYERS`]), named by
/// their path under `src/bridge/` without `.rs`; a directory's `mod.rs` is
/// named by the directory. `src/bridge/mod.rs` wires the bridge and is free.
const BRIDGE_LAYERS: &[&[&str]] = &[
    // the journal file under seen_jti and token_journal
    &["journal_file"],
    // leaves: JSON-RPC framing, metrics, client IPs, the seen-jti file, WC wire pieces
    &["jsonrpc", "metrics", "client_ip", "seen_jti", "token_journal", "walletconnect/auth", "walletconnect/message"],
    // bridge access tokens (single-use ids kept by seen_jti)
    &["tokens"],
    // the sans-IO WalletConnect mailbox
    &["walletconnect/mailbox"],
    // the hub's parts: topic caps, the registry of connections and their send queues
    &["topics", "hub/registry"],
    &["hub/waku_subs", "hub/wc_mailbox"],
    // the hub: the one lock over its parts
    &["hub"],
    // per-connection state; the fan-out task feeding the hub
    &["session", "fanout"],
    // the methods
    &["waku_methods", "turn_methods", "walletconnect/methods"],
    // dispatch of one request to the methods
    &["router"],
    // the connection pump
    &["pump"],
    // the listener; `walletconnect/mod.rs` only declares its files
    &["server", "walletconnect"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc comments included) and string literals' contents.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The segments of the path (or the paths, through `{…}` groups) starting at `code`.
fn paths_at(code: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut rest = code;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut items = Vec::new();
            let mut start = 0;
            for (at, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[start..at]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[start..at]);
                        start = at + 1;
                    }
                    _ => {}
                }
            }
            let items = items.into_iter().map(str::trim).filter(|item| !item.is_empty());
            return items
                .flat_map(|item| paths_at(item).into_iter().map(|tail| [segs.clone(), tail].concat()))
                .collect();
        }
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '*')).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        segs.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    vec![segs]
}

/// Every path in `code` that starts with `crate::` or `super::`, as segments.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for prefix in ["crate::", "super::"] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            found.extend(paths_at(&code[at..]));
        }
    }
    found
}

/// The top-level modules named by `crate::` paths in `code`.
fn imported(code: &str) -> BTreeSet<String> {
    paths(code).into_iter().filter(|p| p[0] == "crate" && p.len() > 1).map(|p| p[1].clone()).collect()
}

fn layer_of(layers: &[&[&str]], module: &str) -> Option<usize> {
    layers.iter().position(|layer| layer.contains(&module))
}

/// Checks `(file, importer, imported)` triples against `layers`; returns the violations.
fn violations(layers: &[&[&str]], edges: &[(String, String, String)], debt: &[(&str, &str)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, from, to) in edges {
        if from == to || debt.contains(&(from.as_str(), to.as_str())) {
            continue;
        }
        let (Some(a), Some(b)) = (layer_of(layers, from), layer_of(layers, to)) else {
            bad.push(format!("{file}: `{from}` or `{to}` is in no declared layer"));
            continue;
        };
        if b >= a {
            bad.push(format!("{file}: `{from}` (layer {a}) imports `{to}` (layer {b}), which is not below it"));
        }
    }
    bad
}

/// `(file, importer module, imported module)` for every top-level module import in `src/`.
fn node_edges() -> Vec<(String, String, String)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let module = rel.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
        let code = code_only(&fs::read_to_string(&path).expect("read"));
        for to in imported(&code) {
            edges.push((rel.clone(), module.clone(), to));
        }
    }
    edges
}

/// The unit of the bridge file at `rel` (its path under `src/bridge/`): the path
/// without `.rs`, a `mod.rs` named by its directory.
fn bridge_unit(rel: &str) -> String {
    let unit = rel.trim_end_matches(".rs");
    unit.strip_suffix("/mod").unwrap_or(unit).to_owned()
}

/// The bridge file a path inside the bridge names (its segments below `bridge`):
/// the longest prefix of it that is a file or a directory of `root`; `mod` for
/// `src/bridge/mod.rs` itself.
fn bridge_target(root: &Path, segs: &[String]) -> String {
    let mut dir = root.to_owned();
    let mut unit: Vec<&str> = Vec::new();
    for seg in segs {
        if dir.join(format!("{seg}.rs")).is_file() {
            unit.push(seg);
            break;
        }
        if !dir.join(seg).is_dir() {
            break;
        }
        dir = dir.join(seg);
        unit.push(seg);
    }
    if unit.is_empty() { "mod".to_owned() } else { unit.join("/") }
}

/// The bridge files that the bridge file at `rel` (under `root`) imports, from its code.
fn bridge_imports(root: &Path, rel: &str, code: &str) -> BTreeSet<String> {
    let module: Vec<String> = bridge_unit(rel).split('/').map(str::to_owned).collect();
    // `super::` in the file's test module starts from the file itself.
    let tests = code
        .match_indices("#[cfg(test)]")
        .map(|(at, _)| at)
        .find(|&at| code[at + "#[cfg(test)]".len()..].trim_start().starts_with("mod tests"));
    let (body, test_code) = code.split_at(tests.unwrap_or(code.len()));
    let mut found = BTreeSet::new();
    for (part, inner) in [(body, module.clone()), (test_code, [module, vec!["tests".to_owned()]].concat())] {
        for path in paths(part) {
            let below_bridge = if path[0] == "crate" {
                if path.get(1).is_none_or(|s| s != "bridge") {
                    continue;
                }
                path[2..].to_vec()
            } else {
                let ups = path.iter().take_while(|s| *s == "super").count();
                if ups > inner.len() {
                    continue; // above the bridge: the node's layering covers it
                }
                [inner[..inner.len() - ups].to_vec(), path[ups..].to_vec()].concat()
            };
            if below_bridge.first().is_some_and(|s| s == "tests") {
                continue;
            }
            found.insert(bridge_target(root, &below_bridge));
        }
    }
    found
}

/// `(file, importer file, imported file)` for every import between files of `src/bridge/`.
fn bridge_edges() -> Vec<(String, String, String)> {
    let root = src().join("bridge");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).expect("under bridge").to_string_lossy().replace('\\', "/");
        if rel == "mod.rs" {
            continue;
        }
        let code = code_only(&fs::read_to_string(&path).expect("read"));
        let unit = bridge_unit(&rel);
        for to in bridge_imports(&root, &rel, &code) {
            edges.push((format!("bridge/{rel}"), unit.clone(), to));
        }
    }
    edges
}

/// Every file of `src/bridge/` but its `mod.rs`, as units.
fn bridge_units() -> BTreeSet<String> {
    let root = src().join("bridge");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .iter()
        .map(|p| p.strip_prefix(&root).expect("under bridge").to_string_lossy().replace('\\', "/"))
        .filter(|rel| rel != "mod.rs")
        .map(|rel| bridge_unit(&rel))
        .collect()
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let bad = violations(LAYERS, &node_edges(), KNOWN_DEBT);
    assert!(bad.is_empty(), "layering broken (see ARCHITECTURE.md):\n{}", bad.join("\n"));
}

#[test]
fn bridge_files_import_only_lower_bridge_files() {
    let listed: BTreeSet<String> = BRIDGE_LAYERS.iter().flat_map(|l| l.iter().map(|u| (*u).to_owned())).collect();
    assert_eq!(listed, bridge_units(), "BRIDGE_LAYERS must name every file of src/bridge/, and only those");
    let edges = bridge_edges();
    assert!(edges.len() > 20, "the bridge's imports were not found: {edges:?}");
    let bad = violations(BRIDGE_LAYERS, &edges, &[]);
    assert!(bad.is_empty(), "bridge layering broken (see ARCHITECTURE.md):\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_an_upward_import() {
    let code =
        code_only("use crate::{p2p::NetworkHandle, waku::json};\n// use crate::rest::x;\nlet s = \"crate::bridge\";");
    assert_eq!(imported(&code), BTreeSet::from(["p2p".to_owned(), "waku".to_owned()]));
    let edges = [("config.rs".to_owned(), "config".to_owned(), "p2p".to_owned())];
    assert_eq!(violations(LAYERS, &edges, &[]).len(), 1, "config importing p2p must fail");
    let down = [("p2p/x.rs".to_owned(), "p2p".to_owned(), "config".to_owned())];
    assert!(violations(LAYERS, &down, &[]).is_empty());
    let sideways = [("store/x.rs".to_owned(), "identity".to_owned(), "metrics".to_owned())];
    assert_eq!(violations(LAYERS, &sideways, &[]).len(), 1, "modules of one layer are independent");
}

#[test]
fn the_bridge_check_names_files_and_catches_an_upward_import() {
    let root = src().join("bridge");
    let set = |units: &[&str]| units.iter().map(|u| (*u).to_owned()).collect::<BTreeSet<_>>();
    let methods = code_only(
        "use super::mailbox::MAX_TTL;\nuse super::super::jsonrpc;\n\
         use crate::bridge::{session::Session, hub::registry::{self, ConnHandle}};\nuse crate::config::Config;\n\
         #[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::message::publisher_key;\n}\n",
    );
    assert_eq!(
        bridge_imports(&root, "walletconnect/methods.rs", &methods),
        set(&[
            "hub/registry",
            "jsonrpc",
            "session",
            "walletconnect/mailbox",
            "walletconnect/message",
            "walletconnect/methods"
        ]),
    );
    let edge = |from: &str, code: &str| -> Vec<(String, String, String)> {
        let file = format!("{from}.rs");
        let to = bridge_imports(&root, &file, &code_only(code));
        to.into_iter().map(|to| (format!("bridge/{file}"), from.to_owned(), to)).collect()
    };
    assert_eq!(violations(BRIDGE_LAYERS, &edge("session", "use super::router::Reply;"), &[]).len(), 1);
    assert_eq!(violations(BRIDGE_LAYERS, &edge("hub/registry", "super::super::pump::pump(x);"), &[]).len(), 1);
    assert!(violations(BRIDGE_LAYERS, &edge("pump", "use super::router::{self, close};"), &[]).is_empty());
    // An item of `bridge/mod.rs` is named through its file, which is in no layer.
    assert_eq!(violations(BRIDGE_LAYERS, &edge("pump", "use super::BridgeMetrics;"), &[]).len(), 1);
}
