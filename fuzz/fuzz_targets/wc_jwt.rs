//! Fuzzes `heliograph_fuzz_targets::wc_jwt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::wc_jwt(data));
