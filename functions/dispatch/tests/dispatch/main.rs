//! The crate's integration tests, one binary (each `tests/*.rs` file would link the
//! whole dependency tree again).

mod api_token;
mod common;
mod holds;
mod pace;
mod to_viber;
