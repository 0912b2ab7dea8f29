//! The crate's integration tests, one binary (each `tests/*.rs` file would link the
//! whole dependency tree again).

mod callback_auth;
mod campaigns;
mod docs;
mod events;
mod failover;
mod faults;
mod interactive;
mod quarantine;
mod services;
mod session_events;
mod stories;
mod templates;
