//! Fuzzes `heliograph_fuzz_targets::peer_exchange`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heliograph_fuzz_targets::peer_exchange(data));
