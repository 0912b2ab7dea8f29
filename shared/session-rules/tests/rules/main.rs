//! The crate's integration tests, one binary (each `tests/*.rs` file would link the
//! whole dependency tree again).

mod campaign;
mod dry_run;
mod failover;
mod interactive;
mod model;
mod phone_metadata;
mod phone_reference;
mod services;
