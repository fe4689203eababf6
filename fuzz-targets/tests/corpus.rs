//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/*`) through the
//! same target function the fuzzer runs, on stable: a decoder change that panics
//! on a known input fails `cargo test --workspace`.

use std::path::Path;

use heliograph_fuzz_targets::TARGETS;

#[test]
fn every_target_replays_its_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "corpus {name} is empty");
        for input in inputs {
            let data = std::fs::read(&input).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panicked", input.display());
        }
    }
}
