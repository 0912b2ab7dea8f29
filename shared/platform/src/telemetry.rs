//! Structured logs: one JSON object per line on stdout, which Lambda ships to CloudWatch.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber. The filter comes from `RUST_LOG` (the template sets it from
/// the `LogLevel` parameter; `INFO` and `info` both work), `info` when unset or unreadable.
/// Fields of the enclosing spans (business, message id, outcome) are written with every event.
/// Calling it twice is harmless (the second call does nothing), which keeps tests simple.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .try_init();
}
