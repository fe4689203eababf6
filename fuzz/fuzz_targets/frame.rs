//! Fuzzes `heliograph_fuzz_targets::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::frame(data));
