//! Binary sizes: the stripped release binary of each function (this machine's architecture) and,
//! where `make package` has run, the arm64 `bootstrap` and its zip. Publishes section `size`.

use std::path::Path;
use std::process::ExitCode;

use vbm_bench::report::Section;

const FUNCTIONS: [&str; 9] = [
    "send",
    "inbound",
    "status",
    "dispatch",
    "notify",
    "relay",
    "failover",
    "lifecycle",
    "campaign",
];
/// The target for a stripped binary.
const TARGET_BYTES: u64 = 6_000_000;

fn main() -> ExitCode {
    let arch = std::env::consts::ARCH;
    let mut section = Section::new(
        "size",
        "Size",
        format!(
            "Stripped release binaries (`[profile.release]` in Cargo.toml) built by `make bench` \
             for this machine ({arch}); the arm64 columns come from `make package` (cargo-lambda, \
             the files Lambda runs) when it has run. MB = 10^6 bytes. Target: ≤ 6 MB."
        ),
    )
    .header([
        "function".to_string(),
        format!("{arch} binary"),
        "arm64 bootstrap".to_string(),
        "arm64 zip".to_string(),
        "≤ 6 MB".to_string(),
    ]);
    let mut missing = false;
    for function in FUNCTIONS {
        let native = size(&Path::new("target/release").join(function));
        let lambda = Path::new("target/lambda").join(function);
        let bootstrap = size(&lambda.join("bootstrap"));
        let zip = size(&lambda.join("bootstrap.zip"));
        missing |= native.is_none();
        let largest = native.into_iter().chain(bootstrap).max();
        section.row([
            function.to_string(),
            mb(native),
            mb(bootstrap),
            mb(zip),
            match largest {
                Some(bytes) if bytes <= TARGET_BYTES => "yes".to_string(),
                Some(_) => "no".to_string(),
                None => "–".to_string(),
            },
        ]);
    }
    if missing {
        eprintln!("bench-size: build the release binaries first (`make bench` does)");
        return ExitCode::FAILURE;
    }
    match section.publish() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-size: writing the report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "–".to_string(),
        |b| format!("{:.2} MB", b as f64 / 1_000_000.0),
    )
}
