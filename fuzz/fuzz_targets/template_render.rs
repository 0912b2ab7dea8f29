#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vbm_fuzz_checks::template_render::check(data));
