//! `bench-soak` (`make soak`): the local server at a steady request rate for a long time; its
//! memory must stop growing after a warm-up and nothing may fail. Publishes `soak`; exits
//! non-zero on any error, rule violation or unexplained answer, or when resident memory grew by
//! more than the tolerance after the warm-up.
//!
//! Run under `infra/scripts/with-moto.sh`, after `cargo build --release -p vbm-dev -p vbm-bench`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use vbm_bench::in_process::Error;
use vbm_bench::report::Section;
use vbm_bench::server_process::{Server, Usage, run_interruptible};
use vbm_bench::stats::{median, percentile};
use vbm_bench::workload::{self, Mix, Plan, Target};

#[derive(Parser)]
#[command(about = "The local server at a steady load: memory growth and errors")]
struct Args {
    /// How long to run.
    #[arg(long, env = "SOAK_SECONDS", default_value_t = 600)]
    seconds: u64,
    /// Requests per second (the conversational mix), below what the emulator serves on a
    /// shared 2-core machine (each accepted send costs it some 20 calls, with dispatch, the
    /// status callbacks and notify).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Few enough that every one has been used (and cached everywhere) within the warm-up.
    #[arg(long, default_value_t = 200)]
    conversations: usize,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 5)]
    sample_every: u64,
    /// Seconds of warm-up before growth is measured (default: half the run, at most 300: the
    /// caches, connection pools, allocator arenas and the test doubles' bounded logs fill in the
    /// first few minutes; a leak keeps growing after that).
    #[arg(long)]
    warmup: Option<u64>,
    /// Allowed growth of resident memory from the end of the warm-up to the end, in MiB.
    #[arg(long, default_value_t = 2.0)]
    tolerance_mib: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run_interruptible(run(&args)) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in problems {
                eprintln!("bench-soak: FAILED: {problem}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench-soak: {e}");
            ExitCode::FAILURE
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// RSS at the sample nearest `at`.
fn rss_near(samples: &[(Duration, Usage)], at: Duration) -> Option<u64> {
    samples
        .iter()
        .min_by_key(|(t, _)| t.abs_diff(at))
        .map(|(_, u)| u.rss_kib)
}

async fn run(args: &Args) -> Result<Vec<String>, Error> {
    let mut server = Server::start().await?;
    let target = Target::new(&server.base_url, &server.api_key)?;
    let duration = Duration::from_secs(args.seconds);
    let warmup = Duration::from_secs(args.warmup.unwrap_or((args.seconds / 2).min(300)));
    eprintln!(
        "bench-soak: server pid {} on {}; {} s at {} requests/s",
        server.pid(),
        server.base_url,
        args.seconds,
        args.rate
    );
    let sampler = server.sampler(Duration::from_secs(args.sample_every.max(1)));
    let started_usage = server.usage()?;
    let started = Instant::now();
    let tally = workload::run(
        target,
        Plan {
            clients: args.clients,
            conversations: args.conversations,
            requests: (args.rate * args.seconds as f64).ceil() as u64,
            rate: Some(args.rate),
            until: Some(started + duration),
            mix: Mix::conversational(),
            first_number: 0,
            seed: args.seed,
        },
    )
    .await;
    let elapsed = started.elapsed();
    let end = server.usage()?;
    let samples = sampler.samples();
    drop(sampler);
    let alive = server.alive();
    let server_errors = server.errors.load(std::sync::atomic::Ordering::Relaxed) as u64;

    let after_warmup: Vec<&(Duration, Usage)> =
        samples.iter().filter(|(t, _)| *t >= warmup).collect();
    let first = rss_near(&samples, warmup).unwrap_or(started_usage.rss_kib);
    let last = samples.last().map_or(end.rss_kib, |(_, u)| u.rss_kib);
    let max = after_warmup
        .iter()
        .map(|(_, u)| u.rss_kib)
        .max()
        .unwrap_or(end.rss_kib);
    let growth = mib(last) - mib(first);
    let latencies = tally.all_latencies();
    let cpu = (end.cpu - started_usage.cpu).as_secs_f64();

    let mut section = Section::new(
        "soak",
        "Soak",
        format!(
            "`make soak` (`bench-soak`): `target/release/vbm-dev` as its own process against the \
             serialized emulator, the conversational mix of the load run (sessions, templates, \
             users writing, unsubscribes, reads; every answer judged by the independent rules \
             model) at a steady {} requests/s from {} clients over {} conversations, for {} s; \
             resident memory (`VmRSS`) sampled every {} s; growth is measured from the end of a \
             {} s warm-up.",
            args.rate,
            args.clients,
            args.conversations,
            args.seconds,
            args.sample_every,
            warmup.as_secs()
        ),
    )
    .header(["minute", "RSS MiB"]);
    let mut minute = Duration::ZERO;
    while minute <= elapsed {
        if let Some(rss) = rss_near(&samples, minute) {
            section.row([
                format!("{}", minute.as_secs() / 60),
                format!("{:.1}", mib(rss)),
            ]);
        }
        minute += Duration::from_secs(60);
    }
    section.note(format!(
        "**RSS after warm-up {:.1} MiB, at the end {:.1} MiB, highest {:.1} MiB: growth {:+.1} \
         MiB** (tolerance {:.1} MiB); peak since start (VmHWM) {:.1} MiB",
        mib(first),
        mib(last),
        mib(max),
        growth,
        args.tolerance_mib,
        mib(end.peak_rss_kib)
    ));
    section.note(format!(
        "{} requests in {:.0} s ({:.1}/s); p50 {} ms, p99 {} ms, max {} ms; server CPU {:.1} s \
         ({:.1} % of one core)",
        tally.requests,
        elapsed.as_secs_f64(),
        tally.requests as f64 / elapsed.as_secs_f64().max(1e-9),
        median(&latencies).map_or("-".into(), |v| format!("{v:.1}")),
        percentile(&latencies, 99.0).map_or("-".into(), |v| format!("{v:.1}")),
        percentile(&latencies, 100.0).map_or("-".into(), |v| format!("{v:.1}")),
        cpu,
        100.0 * cpu / elapsed.as_secs_f64().max(1e-9)
    ));
    section.note(format!(
        "answers: {}",
        tally
            .codes
            .iter()
            .map(|(code, n)| format!("{code} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    section.note(format!(
        "**errors (5xx, transport, unexpected answers): {}; rule violations: {}**; refusals the \
         rules do not explain: {}; state mismatches: {}; Viber-21 locks: {}; ERROR lines in the \
         server's log: {}; server still running: {}",
        tally.errors,
        tally.violations,
        tally.unexpected_refusals,
        tally.state_mismatches,
        tally.viber_locks,
        server_errors,
        if alive { "yes" } else { "no" }
    ));
    for example in &tally.examples {
        section.note(format!("problem: {example}"));
    }
    section.publish()?;

    let mut problems = Vec::new();
    if tally.failures() > 0 {
        problems.push(format!(
            "{} failed answers (errors {}, violations {}, unexplained refusals {}, state \
             mismatches {})",
            tally.failures(),
            tally.errors,
            tally.violations,
            tally.unexpected_refusals,
            tally.state_mismatches
        ));
    }
    if server_errors > 0 {
        problems.push(format!("{server_errors} ERROR lines in the server's log"));
    }
    if !alive {
        problems.push("the server is no longer running".into());
    }
    if growth > args.tolerance_mib {
        problems.push(format!(
            "resident memory grew {growth:.1} MiB after the warm-up (tolerance {:.1} MiB)",
            args.tolerance_mib
        ));
    }
    if after_warmup.len() < 2 {
        problems.push("too few memory samples after the warm-up to judge growth".into());
    }
    Ok(problems)
}
