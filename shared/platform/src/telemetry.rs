//! Structured logs: one JSON object per line on stdout, which Lambda ships to CloudWatch.

use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Installs the JSON log subscriber, with the filter of `RUST_LOG` ([`filter`]). Fields of the
/// enclosing spans (business, message id, outcome) are written with every event. Calling it
/// twice is harmless (the second call does nothing), which keeps tests simple.
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let _ = tracing::subscriber::set_global_default(subscriber(
        filter(rust_log.as_deref()),
        std::io::stdout,
    ));
}

/// The filter for a `RUST_LOG` value (the template sets it from the `LogLevel` parameter;
/// `INFO` and `info` both work): `info` when unset or unreadable.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// The subscriber [`init`] installs, writing to `writer`: a test that captures it sees exactly
/// the lines the functions ship.
///
/// Whatever the filter, the AWS crates' TRACE events are dropped: at TRACE the SDK writes every
/// DynamoDB response whole, and a business's profile item holds its event-signing secret.
pub fn subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .finish()
        .with(filter_fn(|meta| {
            !(*meta.level() == Level::TRACE && meta.target().starts_with("aws_"))
        }))
}
