//! Fault injection: a burst of sends and user messages while Viber answers 503, late
//! or garbage, the business endpoint fails or answers late and the emulator goes away; then, once
//! everything has settled, an audit from the outside and from the table and queues.
//!
//! [`traffic`] makes the burst and the faults, [`audit`] checks what came of it, [`figures`]
//! holds and prints the counts. `tests/tests/e2e/faults.rs` runs [`Plan::quick`] in `make test`;
//! `make faults` runs [`Plan::long`] (`src/bin/faults.rs`).

pub mod audit;
pub mod figures;
pub mod traffic;

use std::time::{Duration, Instant};

use crate::Stack;

pub use figures::Figures;

/// How much traffic and how many faults.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rounds: usize,
    /// Users with an open session (each writes once before the first round).
    pub phones: usize,
    /// Per user and round.
    pub session_sends: usize,
    pub template_sends: usize,
    /// How long the emulator is away in each round.
    pub outage: Duration,
    /// Viber answers 503 to this many calls at the start of each round.
    pub viber_503s: u32,
    /// The business endpoint answers 500 to this many deliveries at the start of each round.
    pub sink_errors: u32,
    /// How long to wait for everything to settle after the last round.
    pub settle_within: Duration,
}

impl Plan {
    /// `make test`: one round, well under a minute of traffic and settling.
    pub fn quick() -> Self {
        Self {
            rounds: 1,
            phones: 6,
            session_sends: 6,
            template_sends: 2,
            outage: Duration::from_secs(3),
            viber_503s: 4,
            sink_errors: 6,
            settle_within: Duration::from_secs(120),
        }
    }

    /// `make faults`: more users, several rounds, an outage in each.
    pub fn long() -> Self {
        Self {
            rounds: 5,
            phones: 16,
            session_sends: 6,
            template_sends: 2,
            outage: Duration::from_secs(5),
            viber_503s: 8,
            sink_errors: 12,
            settle_within: Duration::from_secs(300),
        }
    }
}

/// The local timeouts the scenario runs with: short, so that a late answer costs a second or two.
pub fn options() -> vbm_dev::Options {
    vbm_dev::Options {
        viber_timeout: Duration::from_secs(2),
        callback_timeout: Duration::from_secs(2),
        ..vbm_dev::Options::default()
    }
}

/// Runs the plan against a started stack and audits the result.
pub async fn run(stack: &Stack, plan: &Plan) -> Figures {
    let started = Instant::now();
    let log = traffic::run(stack, plan).await;
    let traffic = started.elapsed();
    audit::settle(stack, plan.settle_within).await;
    let settled = started.elapsed();
    let figures = audit::audit(stack, &log).await;
    eprintln!(
        "faults: traffic {:.1} s, settled after {:.1} s, audited after {:.1} s",
        traffic.as_secs_f64(),
        settled.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    figures
}
