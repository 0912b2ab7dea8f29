//! What the first AWS SDK call of a process costs, phase by phase, each run in a fresh process
//! against the emulator: loading the SDK configuration (credentials, region and endpoint from
//! the environment), building a DynamoDB client, the first `ListTables`, then a second one on
//! the same client (every cache warm). For scale, the same request twice as a bare HTTP/1 POST
//! with hyper: the emulator's own time.
//! Publishes section `sdk`.
//!
//!   infra/scripts/with-moto.sh target/release/bench-sdk [--runs 15]

use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Parser;
use vbm_bench::report::Section;
use vbm_bench::stats;

#[derive(Parser)]
#[command(about = "The first AWS SDK call of a process, phase by phase")]
struct Args {
    /// Fresh processes to measure.
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Internal: measure once in this process and print the phases.
    #[arg(long, hide = true)]
    child: bool,
}

const PHASES: [&str; 6] = [
    "SDK configuration (`vbm_platform::aws::sdk_config`)",
    "DynamoDB client built (its HTTPS client, TLS roots)",
    "first ListTables (SDK)",
    "second ListTables (SDK, same client)",
    "first bare POST (hyper, new connection)",
    "second bare POST (hyper, new connection)",
];

fn main() -> ExitCode {
    let args = Args::parse();
    if args.child {
        return match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(child()))
        {
            Ok(phases) => {
                let line: Vec<String> = phases.iter().map(|d| d.as_nanos().to_string()).collect();
                println!("{}", line.join(" "));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bench-sdk: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match parent(args.runs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-sdk: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn child() -> Result<Vec<std::time::Duration>, String> {
    let mut phases = Vec::new();
    let started = Instant::now();
    let sdk = vbm_platform::aws::sdk_config().await;
    phases.push(started.elapsed());

    let started = Instant::now();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    phases.push(started.elapsed());

    for _ in 0..2 {
        let started = Instant::now();
        client
            .list_tables()
            .limit(1)
            .send()
            .await
            .map_err(|e| format!("ListTables: {e:?}"))?;
        phases.push(started.elapsed());
    }

    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| "no AWS_ENDPOINT_URL")?;
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or("AWS_ENDPOINT_URL is not http://")?
        .trim_end_matches('/')
        .to_owned();
    for _ in 0..2 {
        let started = Instant::now();
        bare_list_tables(&authority).await?;
        phases.push(started.elapsed());
    }
    Ok(phases)
}

/// ListTables as the SDK sends it, unsigned (the emulator does not check), on a new connection:
/// the emulator closes each after its answer, as the SDK's calls to it find too.
async fn bare_list_tables(authority: &str) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::post("/")
        .header("host", authority)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.ListTables")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(http_body_util::Full::new(hyper::body::Bytes::from_static(
            b"{\"Limit\":1}",
        )))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("bare ListTables: HTTP {status}"))
    }
}

fn parent(runs: usize) -> Result<(), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    for run in 0..runs {
        let out = Command::new(&me)
            .arg("--child")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let values: Vec<f64> = text
            .split_whitespace()
            .filter_map(|v| v.parse::<u128>().ok())
            .map(|ns| ns as f64 / 1e6)
            .collect();
        if values.len() != PHASES.len() {
            return Err(format!("child printed {text:?}"));
        }
        for (phase, value) in samples.iter_mut().zip(values) {
            phase.push(value);
        }
        eprintln!("bench-sdk: run {}/{runs}", run + 1);
    }
    let mut section = Section::new(
        "sdk",
        "The first AWS SDK call",
        format!(
            "`bench-sdk`: {runs} fresh processes (release build, multi-threaded tokio runtime as \
             the functions use), each timing in order: the SDK configuration as every function \
             loads it (`vbm_platform::aws::sdk_config`: credentials, region, endpoint from the \
             environment), a DynamoDB client, a first and a second `ListTables` on it, then the \
             same request twice as a bare HTTP/1 POST with hyper, each on a new connection \
             (the emulator closes them). Against the serialized emulator (plain HTTP, \
             127.0.0.1), so the bare POSTs are the emulator's own time plus a local connect."
        ),
    )
    .header(["phase", "median ms", "p90 ms", "min ms"]);
    for (name, values) in PHASES.iter().zip(&samples) {
        let (median, p90, min) = (
            stats::percentile(values, 50.0).unwrap_or(f64::NAN),
            stats::percentile(values, 90.0).unwrap_or(f64::NAN),
            values.iter().copied().fold(f64::INFINITY, f64::min),
        );
        section.row([
            (*name).to_owned(),
            format!("{median:.2}"),
            format!("{p90:.2}"),
            format!("{min:.2}"),
        ]);
    }
    section
        .publish()
        .map(|path| eprintln!("bench-sdk: wrote {}", path.display()))
        .map_err(|e| format!("writing the report: {e}"))
}
