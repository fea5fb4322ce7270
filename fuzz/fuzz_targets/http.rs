#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agent::fuzz::http_connection(data));
