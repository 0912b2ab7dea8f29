//! The business API through `App::handle`, in process, against the emulator (one fresh table and
//! queue set per test). Run with `make test` or `infra/scripts/with-moto.sh cargo test -p send`.

mod caps;
mod common;
mod concurrency;
mod dry_run;
mod errors;
mod held;
mod held_campaigns;
mod inputs;
mod interactive;
mod openapi;
mod reads;
mod security;
mod services;
mod sms_policy;
mod templates;
mod usage;
