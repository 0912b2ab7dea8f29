//! The crate's integration tests, one binary (each `tests/*.rs` file would link the
//! whole dependency tree again).

mod caps;
mod cli;
mod docs;
mod events;
mod outbox;
mod profiles;
mod usage;
