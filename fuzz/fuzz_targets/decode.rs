#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agent::fuzz::decode_frames(data));
