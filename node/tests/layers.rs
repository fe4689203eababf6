//! The node's layering, checked: every module of `src/` may import only
//! modules of layers below its own (ARCHITECTURE.md draws them). The test reads
//! the sources, collects each `crate::<module>` path (in `use` items and inline
//! paths, comments skipped) and fails naming the file and the import that
//! points up or sideways. `lib.rs` and `main.rs` wire the layers and are free.
//!
//! The same holds inside the bridge, whose files are layered too
//! ([`BRIDGE_LAYERS`]), so per-connection state, method routers and the
//! connection pump cannot import each other in a circle again.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The node's top-level modules, lowest layer first. A module may import
/// modules of strictly lower layers only; modules sharing a layer are
/// independent of each other. `waku` is the `heliograph-waku` crate re-exported.
const LAYERS: &[&[&str]] = &[
    &["waku"],
    &["identity", "metrics", "rate_limit", "http_server", "access"],
    &["config"],
    &["p2p"],
    &["store"],
    &["publish"],
    &["light"],
    &["bridge"],
    &["rest"],
];

/// Imports still pointing up that a later step of issue 17 removes; each one
/// listed is a known debt, and any import not listed fails the test.
const KNOWN_DEBT: &[(&str, &str)] = &[];

/// Files of `src/bridge/`, lowest first (same rule as [`LAYERS`]).
const BRIDGE_LAYERS: &[&[&str]] = &[];

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

/// Every module named by a path starting at `prefix` (`crate::` or `super::`),
/// including the members of a `prefix{a::x, b}` group.
fn imported(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
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
        for to in imported(&code, "crate::") {
            edges.push((rel.clone(), module.clone(), to));
        }
    }
    edges
}

/// `(file, importer file, imported file)` inside `src/bridge/`, by first path segment.
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
        let unit = rel.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
        let code = code_only(&fs::read_to_string(&path).expect("read"));
        let mut targets = imported(&code, "crate::bridge::");
        if !rel.contains('/') {
            // `super::x` from a file directly in bridge/ names a sibling.
            targets.extend(imported(&code, "super::").into_iter().filter(|t| t != "tests"));
        } else {
            targets.extend(imported(&code, "super::super::"));
        }
        for to in targets {
            edges.push((format!("bridge/{rel}"), unit.clone(), to));
        }
    }
    edges
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let bad = violations(LAYERS, &node_edges(), KNOWN_DEBT);
    assert!(bad.is_empty(), "layering broken (see ARCHITECTURE.md):\n{}", bad.join("\n"));
}

#[test]
fn bridge_files_import_only_lower_bridge_files() {
    if BRIDGE_LAYERS.is_empty() {
        return;
    }
    let bad = violations(BRIDGE_LAYERS, &bridge_edges(), &[]);
    assert!(bad.is_empty(), "bridge layering broken (see ARCHITECTURE.md):\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_an_upward_import() {
    let code =
        code_only("use crate::{p2p::NetworkHandle, waku::json};\n// use crate::rest::x;\nlet s = \"crate::bridge\";");
    assert_eq!(imported(&code, "crate::"), BTreeSet::from(["p2p".to_owned(), "waku".to_owned()]));
    let edges = [("config.rs".to_owned(), "config".to_owned(), "p2p".to_owned())];
    assert_eq!(violations(LAYERS, &edges, &[]).len(), 1, "config importing p2p must fail");
    let down = [("p2p/x.rs".to_owned(), "p2p".to_owned(), "config".to_owned())];
    assert!(violations(LAYERS, &down, &[]).is_empty());
    let sideways = [("store/x.rs".to_owned(), "identity".to_owned(), "metrics".to_owned())];
    assert_eq!(violations(LAYERS, &sideways, &[]).len(), 1, "modules of one layer are independent");
}
