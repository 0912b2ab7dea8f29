//! What the fuzz targets check, as ordinary code.
//!
//! Each module has one `check(&[u8])` that feeds arbitrary bytes through one untrusted-input
//! path and panics when an invariant breaks (a panic inside the code under test counts too).
//! `fuzz/fuzz_targets/<name>.rs` hands libFuzzer's inputs to it; `tests/replay.rs` replays every
//! file of `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` through it in `cargo test`, so a
//! crash once found stays fixed without a fuzzer installed.

pub mod phone_country;
pub mod send_request;
pub mod template_render;
pub mod viber_callback;

/// One target's body: panics when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target, by the name used for its fuzz binary and corpus folders.
pub const TARGETS: [(&str, Check); 4] = [
    ("send_request", send_request::check),
    ("viber_callback", viber_callback::check),
    ("template_render", template_render::check),
    ("phone_country", phone_country::check),
];

/// Regions whose transactional traffic must be templated, written out here rather than taken
/// from `session_rules::regulation` so the checks do not trust the code they check.
const REGULATED: [&str; 3] = ["RU", "UA", "BY"];
