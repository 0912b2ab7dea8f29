//! The crate's integration tests, one binary (each `tests/*.rs` file would link the
//! whole dependency tree again).

mod agreement;
mod campaign_counts;
mod campaigns;
mod caps;
mod common;
mod concurrency;
mod failover;
mod held;
mod held_campaigns;
mod history_bound;
mod lost_answer;
mod pace;
mod pending;
mod profile_settings;
mod services;
mod templates;
mod usage;
mod warm_up;
