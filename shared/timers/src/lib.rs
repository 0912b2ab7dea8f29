//! Timers: "put this body on this SQS queue at this time", for what must happen later without a
//! loop that polls (a campaign's start, a session about to expire, a failover deadline).
//!
//! In AWS a timer is an EventBridge Scheduler one-time schedule (`at(...)`, UTC,
//! `ActionAfterCompletion: DELETE`) in the stack's schedule group, whose target is the queue;
//! Scheduler assumes `TimersRole` to send. Locally nothing fires schedules, so the devstack does
//! it from its movable clock ([`dev::Firing`], feature `dev`).
//!
//! A timer fires at least once (Scheduler retries, and may deliver twice): the queue's consumer
//! must be idempotent, and should check that what the timer was for still holds.

mod error;
mod target;
mod timer;

#[cfg(feature = "dev")]
pub mod dev;

pub use error::TimerError;
pub use target::Target;
pub use timer::{Set, Timer, TimerName, Timers};
