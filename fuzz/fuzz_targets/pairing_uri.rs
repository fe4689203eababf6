//! Fuzzes `heliograph_fuzz_targets::pairing_uri`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::pairing_uri(data));
