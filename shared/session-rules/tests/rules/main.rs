//! The crate's integration tests, one binary (each `tests/*.rs` file would link the
//! whole dependency tree again).

mod interactive;
mod dry_run;
mod model;
mod phone_metadata;
mod phone_reference;
mod services;
