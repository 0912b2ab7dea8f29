//! Structured logs: one JSON object per line on stdout, which Lambda ships to CloudWatch.

use tracing::level_filters::LevelFilter;
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{Targets, filter_fn};
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
/// `INFO` and `info` both work): `info` when unset or unreadable. Levels per target
/// (`warn,send=debug`), without `EnvFilter`'s span and field matching: that brings a regex
/// engine into every binary.
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// The subscriber [`init`] installs, writing to `writer`: a test that captures it sees exactly
/// the lines the functions ship.
///
/// Whatever the filter, the AWS crates' TRACE events are dropped: at TRACE the SDK writes every
/// DynamoDB response whole, and a business's profile item holds its event-signing secret.
pub fn subscriber<W>(filter: Targets, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        // `filter` decides; the builder's own default would stop at INFO.
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .with_ansi(false)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .finish()
        .with(filter)
        .with(filter_fn(|meta| {
            !(*meta.level() == Level::TRACE && meta.target().starts_with("aws_"))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_logged(rust_log: &str) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(filter(Some(rust_log)), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "send", "debug line");
            tracing::info!(target: "vbm_store", "info line");
            tracing::trace!(target: "aws_sdk_dynamodb", "secret trace line");
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_subscriber_writes_what_the_filter_lets_through() {
        let debug = lines_logged("debug");
        assert!(
            debug.contains("debug line") && debug.contains("info line"),
            "{debug}"
        );
        let info = lines_logged("info");
        assert!(
            !info.contains("debug line") && info.contains("info line"),
            "{info}"
        );
        let per_target = lines_logged("warn,send=debug");
        assert!(per_target.contains("debug line"), "{per_target}");
        assert!(!per_target.contains("info line"), "{per_target}");
        assert!(!lines_logged("trace").contains("secret trace line"));
    }

    #[test]
    fn rust_log_sets_levels_per_target() {
        let info = filter(Some("INFO"));
        assert!(info.would_enable("send", &Level::INFO));
        assert!(!info.would_enable("send", &Level::DEBUG));
        let mixed = filter(Some("warn,send=debug"));
        assert!(mixed.would_enable("send::auth", &Level::DEBUG));
        assert!(!mixed.would_enable("vbm_store", &Level::INFO));
        assert!(mixed.would_enable("vbm_store", &Level::WARN));
        for unset_or_bad in [None, Some("send=loud")] {
            let fallback = filter(unset_or_bad);
            assert_eq!(
                fallback.default_level(),
                Some(LevelFilter::INFO),
                "{unset_or_bad:?}"
            );
        }
    }
}
