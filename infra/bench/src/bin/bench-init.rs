//! Cold starts (init time) and first events of the five release binaries, interleaved with a
//! `curl` floor and a Python + boto3 reference. Publishes section `init`.
//!
//!   cargo build --release -p send -p inbound -p status -p dispatch -p notify
//!   infra/scripts/with-moto.sh cargo run --release -p vbm-bench --bin bench-init [-- --runs 20]
//!       [--baseline-dir DIR]   (another build's five binaries, as extra rows of the same rounds)

use std::process::ExitCode;

use clap::Parser;
use vbm_bench::init::summary::{Spread, row};
use vbm_bench::init::world::World;
use vbm_bench::init::{Bench, CURL, FUNCTIONS, PYTHON, baseline_label, label, repo_root};
use vbm_bench::report::Section;

#[derive(Parser)]
#[command(about = "Cold-start time of each function against the curl floor and a Python reference")]
struct Args {
    /// Cold starts of each program.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Where the five function binaries are (default: target/release).
    #[arg(long)]
    bin_dir: Option<std::path::PathBuf>,
    /// Another build of the five functions (e.g. a copy of the previous commit's), measured in
    /// the same interleaved rounds as extra "(baseline)" rows.
    #[arg(long)]
    baseline_dir: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match bench(args.runs, args.bin_dir, args.baseline_dir).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-init: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(
    runs: usize,
    bin_dir: Option<std::path::PathBuf>,
    baseline_dir: Option<std::path::PathBuf>,
) -> Result<(), String> {
    // EMF metric lines of the in-process store calls would only clutter the output.
    vbm_platform::metrics::set_enabled(false);
    let root = repo_root();
    let release = bin_dir.unwrap_or_else(|| root.join("target/release"));
    for dir in std::iter::once(&release).chain(baseline_dir.as_ref()) {
        for function in FUNCTIONS {
            if !dir.join(function).is_file() {
                return Err(format!(
                    "{} is missing: cargo build --release -p {function}",
                    dir.join(function).display()
                ));
            }
        }
    }
    let python = root.join(".venv/bin/python");
    if !python.is_file() {
        return Err("no .venv: run infra/scripts/python-env.sh".into());
    }
    let world = World::new().await?;
    let mut bench = Bench::new(world, release, python);
    if let Some(dir) = baseline_dir {
        bench = bench.with_baseline(dir);
    }
    for round in 0..runs {
        bench.round(round).await?;
        eprintln!("bench-init: round {}/{runs}", round + 1);
    }
    publish(&bench, runs)
}

fn publish(bench: &Bench, runs: usize) -> Result<(), String> {
    let samples = bench.samples();
    let spread = |name: &str| samples.get(name).and_then(|s| Spread::of(&s.init));
    let (curl, python) = (spread(CURL), spread(PYTHON));
    let mut section = Section::new(
        "init",
        "Cold start (init) and first event",
        format!(
            "`bench-init`: each program spawned {runs} times, interleaved, with the environment \
             Lambda sets, against a local stand-in for the Lambda Runtime API and the emulator \
             (plain HTTP, 127.0.0.1). *Init* is spawn to the first `GET \
             /2018-06-01/runtime/invocation/next`; *first event* is the event handed out to \
             the response posted, and every first event must succeed (202 for send, 200 for \
             the callbacks, a batch without failures for the queue consumers). Floor: `curl` \
             making the same first poll. Reference: a Python handler importing boto3 and \
             building a DynamoDB and an SQS client, whose first event makes the calls send's \
             first event makes (four reads and a transaction of three items: \
             `infra/bench/python/reference_handler.py`). *vs curl* = our init median / curl's; \
             *Python / ours* = the reference's init median / ours. Warm-up: `{}` \
             (`vbm_platform::warm`).",
            vbm_bench::init::WARM_VARIABLE
        ),
    )
    .header([
        "program",
        "init median",
        "init p90",
        "first event median",
        "first event p90",
        "init + first event median",
        "init + first event p90",
        "init vs curl",
        "Python / ours",
    ]);
    let empty = Default::default();
    section.row(row(CURL, samples.get(CURL).unwrap_or(&empty), curl, None));
    section.row(row(
        PYTHON,
        samples.get(PYTHON).unwrap_or(&empty),
        curl,
        None,
    ));
    for function in FUNCTIONS {
        for warm in [false, true] {
            for name in [label(function, warm), baseline_label(function, warm)] {
                if let Some(s) = samples.get(&name) {
                    section.row(row(&name, s, curl, python));
                }
            }
        }
    }
    let cold = |name: &str| {
        let spread = Spread::of(&samples.get(name)?.cold_request)?;
        Some(spread.median)
    };
    for warm in [true, false] {
        section.note(targets(warm, &cold));
    }
    section.note(format!(
        "Machine: {} logical CPUs, shared with other builds while measuring; figures are \
         this machine's, not Lambda's.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    section
        .publish()
        .map(|path| eprintln!("bench-init: wrote {}", path.display()))
        .map_err(|e| format!("writing the report: {e}"))
}

/// The targets, as ratios of init + first event medians: each HTTP or queue function
/// within 2× notify's, and at least 10× faster than the Python reference.
fn targets(warm: bool, cold: &dyn Fn(&str) -> Option<f64>) -> String {
    let met = |ok: bool| if ok { "met" } else { "not met" };
    let (notify, python) = (cold(&label("notify", warm)), cold(PYTHON));
    let parts: Vec<String> = ["send", "inbound", "status", "dispatch"]
        .into_iter()
        .filter_map(|function| {
            let (ours, notify, python) = (cold(&label(function, warm))?, notify?, python?);
            let (vs_notify, vs_python) = (ours / notify, python / ours);
            Some(format!(
                "{function} {vs_notify:.2}× notify ({}), {vs_python:.1}× faster than Python ({})",
                met(vs_notify <= 2.0),
                met(vs_python >= 10.0)
            ))
        })
        .collect();
    format!(
        "Targets, init + first event medians, warm-up {}: {}.",
        if warm {
            "on (as template.yaml ships)"
        } else {
            "off"
        },
        if parts.is_empty() {
            "not measured".to_string()
        } else {
            parts.join("; ")
        }
    )
}
