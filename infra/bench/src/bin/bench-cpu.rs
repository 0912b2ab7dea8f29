//! Criterion's figures for the pure send path (`cargo bench -p session-rules` must have run):
//! reads `target/criterion/*/new/{benchmark,estimates}.json` and publishes section `cpu`.

use std::path::Path;
use std::process::ExitCode;

use vbm_bench::report::Section;

fn main() -> ExitCode {
    let root = Path::new("target/criterion");
    let mut rows = match vbm_bench::criterion::read_all(root) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("bench-cpu: {e} (run `cargo bench -p session-rules` first)");
            return ExitCode::FAILURE;
        }
    };
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let mut section = Section::new(
        "cpu",
        "CPU: the pure send path (criterion)",
        "`cargo bench -p session-rules` (criterion, release profile): median of criterion's \
         samples with its 95% confidence interval. Target: send decision ≤ 2 µs.",
    )
    .header(["benchmark", "median", "95% CI"]);
    for row in &rows {
        section.row([
            row.id.clone(),
            format_ns(row.median_ns),
            format!("{} – {}", format_ns(row.low_ns), format_ns(row.high_ns)),
        ]);
    }
    match section.publish() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-cpu: writing the report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else {
        format!("{:.2} µs", ns / 1_000.0)
    }
}
