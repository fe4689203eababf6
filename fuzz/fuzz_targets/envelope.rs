//! Fuzzes `heliograph_fuzz_targets::envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::envelope(data));
