//! Structured logs: one JSON object per line on stdout, which Lambda ships to CloudWatch.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

/// The name of the span `lambda_runtime` opens around every invocation, with the fields
/// [`REQUEST_ID`] and [`TRACE_ID`] (`lambda_runtime::layers::trace::request_span`).
pub const INVOCATION_SPAN: &str = "Lambda runtime invoke";
/// Lambda's request id: a top-level member of every line written inside an invocation.
pub const REQUEST_ID: &str = "requestId";
/// The X-Ray trace header of the invocation (`Root=1-...;Parent=...;Sampled=...`): a top-level
/// member of every line written inside a traced invocation.
pub const TRACE_ID: &str = "xrayTraceId";

/// Installs the JSON log subscriber, with the filter of `RUST_LOG` ([`filter`]). Every line
/// carries the fields of all its enclosing spans (business, message id, outcome) and, inside an
/// invocation, Lambda's request id and X-Ray trace id at the top. Calling it twice is harmless
/// (the second call does nothing), which keeps tests simple.
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
/// `filter` decides which events and spans are written, except that the invocation span is
/// always kept (at WARN its INFO level would otherwise take the request id off every line).
/// Whatever the filter, the AWS crates' TRACE events are dropped: at TRACE the SDK writes every
/// DynamoDB response whole, and a business's profile item holds its event-signing secret.
pub fn subscriber<W>(filter: Targets, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        // `filter` decides; the builder's own default would stop at INFO.
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .with_ansi(false)
        .fmt_fields(JsonFields::new())
        .event_format(LambdaJson)
        .finish()
        .with(filter_fn(move |meta| {
            is_invocation_span(meta) || filter.would_enable(meta.target(), meta.level())
        }))
        .with(filter_fn(|meta| {
            !(*meta.level() == Level::TRACE && meta.target().starts_with("aws_"))
        }))
}

fn is_invocation_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.name() == INVOCATION_SPAN && meta.target().starts_with("lambda_runtime")
}

/// One JSON object per event:
///
/// ```json
/// {"timestamp":"...","level":"INFO","target":"send","requestId":"...","xrayTraceId":"...",
///  "fields":{"message":"answered",...},"span":{"route":"/v1/messages",...},
///  "spans":["Lambda runtime invoke","request"]}
/// ```
///
/// `span` holds the fields of every enclosing span, the innermost winning a repeated name, and
/// the innermost span's `name` (tracing-subscriber's own JSON format prints only the innermost
/// span's fields).
struct LambdaJson;

impl<S, N> FormatEvent<S, N> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));

        let mut span_fields = Map::new();
        let mut names = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                names.push(Value::String(span.name().to_owned()));
                // As tracing-subscriber's own format: `span.name` is the innermost span's.
                span_fields.insert("name".into(), Value::String(span.name().to_owned()));
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                // JsonFields keeps a span's fields as the text of one JSON object.
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields.as_str()) {
                    span_fields.extend(map);
                }
            }
        }
        for key in [REQUEST_ID, TRACE_ID] {
            if let Some(value) = span_fields.remove(key) {
                line.insert(key.into(), value);
            }
        }

        let mut fields = FieldsToJson(Map::new());
        event.record(&mut fields);
        line.insert("fields".into(), Value::Object(fields.0));
        if !span_fields.is_empty() {
            line.insert("span".into(), Value::Object(span_fields));
        }
        if !names.is_empty() {
            line.insert("spans".into(), Value::Array(names));
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values (numbers and booleans stay JSON numbers and booleans).
struct FieldsToJson(Map<String, Value>);

impl Visit for FieldsToJson {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().into(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
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

    /// The lines written while `f` runs, parsed.
    fn logged_as_json(rust_log: &str, f: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(filter(Some(rust_log)), move || writer.clone());
        tracing::subscriber::with_default(subscriber, f);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// What `lambda_runtime` does around an invocation: its own span, from its own code.
    fn in_invocation(request_id: &str, trace_id: Option<&str>, f: impl FnOnce()) {
        let mut context = lambda_http::Context::default();
        context.request_id = request_id.to_owned();
        context.xray_trace_id = trace_id.map(str::to_owned);
        let span = lambda_http::lambda_runtime::layers::trace::request_span(&context);
        span.in_scope(f);
    }

    const TRACE: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    /// A handler's nested spans and events, as `send` and the queue consumers write them.
    fn a_request() {
        tracing::info!(target: "send", "outside any span");
        in_invocation("8476a536-e9f4-11e8-9739-2dfe598c3fcd", Some(TRACE), || {
            let request = tracing::info_span!(target: "send", "request", route = "/v1/messages", business = tracing::field::Empty);
            request.in_scope(|| {
                tracing::Span::current().record("business", "shop");
                let inner =
                    tracing::info_span!(target: "vbm_store", "send_transaction", attempt = 1);
                inner.in_scope(|| {
                    tracing::warn!(target: "vbm_store", retry = true, "transaction cancelled");
                    tracing::info!(target: "vbm_store", "written");
                });
                tracing::info!(target: "send", elapsed_us = 12_u64, "answered");
            });
        });
    }

    #[test]
    fn every_line_of_an_invocation_carries_the_request_and_trace_ids() {
        let lines = logged_as_json("info", a_request);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].get(REQUEST_ID).is_none(), "{}", lines[0]);
        for line in &lines[1..] {
            assert_eq!(
                line[REQUEST_ID], "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                "{line}"
            );
            assert_eq!(line[TRACE_ID], TRACE, "{line}");
            // Every enclosing span's fields, not only the innermost's.
            assert_eq!(line["span"]["route"], "/v1/messages", "{line}");
            assert_eq!(line["span"]["business"], "shop", "{line}");
            assert_eq!(line["spans"][0], INVOCATION_SPAN, "{line}");
        }
        assert_eq!(lines[1]["span"]["name"], "send_transaction");
        assert_eq!(lines[3]["span"]["name"], "request");
        let cancelled = &lines[1];
        assert_eq!(cancelled["level"], "WARN");
        assert_eq!(cancelled["target"], "vbm_store");
        assert_eq!(cancelled["fields"]["message"], "transaction cancelled");
        assert_eq!(cancelled["fields"]["retry"], true);
        assert_eq!(cancelled["span"]["attempt"], 1);
        assert_eq!(lines[3]["fields"]["elapsed_us"], 12);
        assert!(lines[3]["span"].get("attempt").is_none(), "{}", lines[3]);
    }

    #[test]
    fn at_warn_the_lines_left_still_carry_the_ids() {
        let lines = logged_as_json("warn", a_request);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["fields"]["message"], "transaction cancelled");
        assert_eq!(lines[0][REQUEST_ID], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(lines[0][TRACE_ID], TRACE);
    }

    #[test]
    fn an_untraced_invocation_has_the_request_id_only() {
        let lines = logged_as_json("info", || {
            in_invocation(
                "req-1",
                None,
                || tracing::error!(target: "notify", "failed"),
            );
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0][REQUEST_ID], "req-1");
        assert!(lines[0].get(TRACE_ID).is_none());
        assert_eq!(lines[0]["level"], "ERROR");
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
