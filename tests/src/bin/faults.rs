//! `make faults`: the long fault-injection run. Starts the local stack on a fresh table and
//! queues (under `infra/scripts/with-moto.sh`), runs `Plan::long` (or `--rounds N --phones N
//! --outage-seconds S`), prints the figures and exits 1 if an invariant does not hold.

use std::process::ExitCode;
use std::time::Duration;

use vbm_e2e::Stack;
use vbm_e2e::faults::{self, Plan};

fn plan_from_args() -> Result<Plan, String> {
    let mut plan = Plan::long();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        let count = usize::try_from(number).map_err(|_| format!("{flag}: too large"))?;
        match flag.as_str() {
            "--rounds" => plan.rounds = count,
            "--phones" => plan.phones = count,
            "--outage-seconds" => plan.outage = Duration::from_secs(number),
            _ => {
                return Err(format!(
                    "unknown flag {flag} (--rounds, --phones, --outage-seconds)"
                ));
            }
        }
    }
    Ok(plan)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let plan = match plan_from_args() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("faults: {e}");
            return ExitCode::from(2);
        }
    };
    println!("faults: {plan:?}");
    let started = std::time::Instant::now();
    let stack = Stack::start_with(faults::options()).await;
    let figures = faults::run(&stack, &plan).await;
    println!("{figures}");
    println!(
        "faults: run and audit took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let violations = figures.violations();
    if violations.is_empty() {
        println!("faults: every invariant holds");
        ExitCode::SUCCESS
    } else {
        println!("faults: VIOLATED: {}", violations.join("; "));
        ExitCode::FAILURE
    }
}
