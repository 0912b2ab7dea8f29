//! `bench-load`: the local server (`target/release/vbm-dev`, its own process) under load on the
//! emulator: peak memory over N sends, then many clients over many conversations, every answer
//! judged by an independent model of the rules. Publishes `memory` and `load`.
//!
//! Run under `infra/scripts/with-moto.sh`, after `cargo build --release -p vbm-dev -p vbm-bench`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use vbm_bench::in_process::Error;
use vbm_bench::judge::Tally;
use vbm_bench::report::Section;
use vbm_bench::server_process::{SANDBOX_KEEP, Server, Usage, run_interruptible};
use vbm_bench::stats::{median, percentile};
use vbm_bench::workload::{self, Mix, Plan, Target};

#[derive(Parser)]
#[command(about = "Memory and load figures of the local server on the emulator")]
struct Args {
    /// Sends of the memory run (transactional and template, never refused).
    #[arg(long, default_value_t = 10_000)]
    sends: u64,
    /// Requests of the load run (the conversational mix).
    #[arg(long, default_value_t = 3_000)]
    requests: u64,
    /// Concurrent clients, in both runs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Conversations (phone numbers of the demo business), in each run.
    #[arg(long, default_value_t = 1_000)]
    conversations: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run_interruptible(run(&args)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failures) => {
            eprintln!("bench-load: {failures} failures (see the notes above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

async fn run(args: &Args) -> Result<u64, Error> {
    let server = Server::start().await?;
    let target = Target::new(&server.base_url, &server.api_key)?;
    let idle = server.usage()?;
    eprintln!(
        "bench-load: server pid {} on {}; idle RSS {} MiB",
        server.pid(),
        server.base_url,
        mib(idle.rss_kib)
    );

    // Memory: N sends that always go through, to 1,000 numbers.
    let sampler = server.sampler(Duration::from_millis(500));
    let started = Instant::now();
    let sends = workload::run(
        target.clone(),
        Plan {
            clients: args.clients,
            conversations: args.conversations,
            requests: args.sends,
            rate: None,
            until: None,
            mix: Mix::sends_only(),
            first_number: 0,
            seed: args.seed,
        },
    )
    .await;
    let sends_elapsed = started.elapsed();
    let after_sends = server.usage()?;
    let memory_samples = sampler.samples();
    drop(sampler);

    // Load: the conversational mix over fresh numbers.
    let before_load = server.usage()?;
    let started = Instant::now();
    let load = workload::run(
        target,
        Plan {
            clients: args.clients,
            conversations: args.conversations,
            requests: args.requests,
            rate: None,
            until: None,
            mix: Mix::conversational(),
            first_number: args.conversations,
            seed: args.seed.wrapping_mul(7919),
        },
    )
    .await;
    let load_elapsed = started.elapsed();
    let after_load = server.usage()?;
    let server_errors = server.errors.load(std::sync::atomic::Ordering::Relaxed) as u64;

    memory_section(
        args,
        &idle,
        &after_sends,
        &after_load,
        &memory_samples,
        &sends,
        sends_elapsed,
    )
    .publish()?;
    load_section(
        args,
        &load,
        load_elapsed,
        &before_load,
        &after_load,
        server_errors,
    )
    .publish()?;
    Ok(sends.failures() + load.failures() + server_errors)
}

fn memory_section(
    args: &Args,
    idle: &Usage,
    after_sends: &Usage,
    after_load: &Usage,
    samples: &[(Duration, Usage)],
    sends: &Tally,
    elapsed: Duration,
) -> Section {
    let max_sampled = samples.iter().map(|(_, u)| u.rss_kib).max().unwrap_or(0);
    let mut section = Section::new(
        "memory",
        "Memory of the local server",
        format!(
            "`bench-load`: `target/release/vbm-dev` as its own process (every function, the \
             queue pollers, the Viber sandbox and the business sink), on a free port against a \
             fresh table and queues on the serialized emulator. {} sends (transactional and \
             template, half each) from {} concurrent clients to {} numbers; resident memory \
             from `/proc/<pid>/status` (`VmRSS`, sampled every 0.5 s; `VmHWM`, the kernel's \
             peak). The sandbox and the sink keep their newest {SANDBOX_KEEP} log entries \
             (`VBM_SANDBOX_KEEP`; in `make dev` they keep everything).",
            args.sends, args.clients, args.conversations
        ),
    )
    .header(["when", "RSS MiB", "peak RSS (VmHWM) MiB", "server CPU s"]);
    for (when, u) in [
        ("started, idle".to_string(), idle),
        (format!("after {} sends", args.sends), after_sends),
        (
            format!("after the load run ({} more requests)", args.requests),
            after_load,
        ),
    ] {
        section.row([
            when,
            mib(u.rss_kib),
            mib(u.peak_rss_kib),
            format!("{:.1}", u.cpu.as_secs_f64()),
        ]);
    }
    section.note(format!(
        "**peak RSS over the {} sends: {} MiB** (target ≤ 32 MB); highest sample {} MiB",
        args.sends,
        mib(after_sends.peak_rss_kib),
        mib(max_sampled)
    ));
    section.note(format!(
        "the sends took {:.1} s ({:.0}/s, the emulator's pace); answers: {}; failures: {}",
        elapsed.as_secs_f64(),
        sends.requests as f64 / elapsed.as_secs_f64().max(1e-9),
        codes(sends),
        sends.failures()
    ));
    section
}

fn codes(tally: &Tally) -> String {
    tally
        .codes
        .iter()
        .map(|(code, n)| format!("{code} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_section(
    args: &Args,
    load: &Tally,
    elapsed: Duration,
    before: &Usage,
    after: &Usage,
    server_errors: u64,
) -> Section {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut section = Section::new(
        "load",
        "Load",
        format!(
            "`bench-load`: the same server, {} concurrent clients over {} fresh conversations, \
             {} requests as fast as the answers come: session messages 48 %, transactional 12 %, \
             templates 10 %, promotional 8 %, users writing through the Viber sandbox (which \
             posts the signed inbound callback) 17 %, unsubscribe callbacks 2 %, session reads \
             3 % (four times in five a session message to a user who never wrote becomes that \
             user writing first, and a promotion to someone never contacted a template). Each conversation's requests are sequential (a client takes a conversation no \
             other client holds), so an independent model of the rules (`vbm_bench::model`, \
             written from the rules as README.md states them, not `session-rules`) knows what each answer must be: a \
             **violation** is a send accepted that the rules forbid (more than 5 session \
             messages since the user's last message, more than 60 in a session, a session \
             message without an open session, anything after an opt-out, a first message that \
             is promotional). `dispatch`, the status callbacks and `notify` run meanwhile in \
             the server.",
            args.clients, args.conversations, args.requests
        ),
    )
    .header(["requests", "count", "p50 ms", "p99 ms", "max ms"]);
    let all = load.all_latencies();
    section.row([
        "all".to_string(),
        all.len().to_string(),
        fmt(median(&all)),
        fmt(percentile(&all, 99.0)),
        fmt(percentile(&all, 100.0)),
    ]);
    for (kind, latencies) in &load.latency {
        section.row([
            kind.name().to_string(),
            latencies.len().to_string(),
            fmt(median(latencies)),
            fmt(percentile(latencies, 99.0)),
            fmt(percentile(latencies, 100.0)),
        ]);
    }
    let cpu = (after.cpu - before.cpu).as_secs_f64();
    section.note(format!(
        "**throughput {:.1} requests/s** ({} requests in {:.1} s); the serialized emulator is the \
         bottleneck: the server used {:.1} s of CPU in that time ({:.0} % of one core, {:.2} ms \
         per request, the asynchronous dispatch, callbacks and notify included)",
        load.requests as f64 / secs,
        load.requests,
        secs,
        cpu,
        100.0 * cpu / secs,
        1000.0 * cpu / (load.requests.max(1) as f64)
    ));
    section.note(format!("answers: {}", codes(load)));
    section.note(format!(
        "**rule violations: {}**; refusals the rules do not explain: {}; session counters or \
         opt-out differing from the model: {}; errors (5xx, transport, unexpected): {}; \
         session locks explained by the sandbox's own 5-in-a-row answer (Viber 21) to a \
         message dispatched after the user's reply: {}; ERROR lines in the server's log: {}",
        load.violations,
        load.unexpected_refusals,
        load.state_mismatches,
        load.errors,
        load.viber_locks,
        server_errors
    ));
    for example in &load.examples {
        section.note(format!("problem: {example}"));
    }
    section
}
