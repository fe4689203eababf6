//! Fuzzes `heliograph_fuzz_targets::filter_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::filter_request(data));
