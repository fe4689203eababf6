//! Fuzzes `heliograph_fuzz_targets::bridge_token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::bridge_token(data));
