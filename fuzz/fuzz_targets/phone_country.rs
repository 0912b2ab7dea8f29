#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vbm_fuzz_checks::phone_country::check(data));
