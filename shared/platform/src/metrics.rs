//! Business metrics in CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per data
//! point. Lambda ships stdout to CloudWatch Logs, and CloudWatch Logs turns every line that
//! follows the EMF specification into metric data: no CloudWatch API call, no SDK client, no
//! extra latency on the request path.
//!
//! One call, one line:
//!
//! ```json
//! {"_aws":{"Timestamp":1763731200000,"CloudWatchMetrics":[{"Namespace":"VBM",
//!   "Dimensions":[["Reason"]],"Metrics":[{"Name":"SendRefused","Unit":"Count"}]}]},
//!   "Reason":"session_locked","SendRefused":1}
//! ```
//!
//! (on one line). The names and dimensions are the ones the template's dashboard searches for;
//! the helpers ([`send_accepted`], [`send_refused`], [`dispatch_viber_status`],
//! [`dispatch_no_answer`], [`callback_lag`], [`events_delivered`], [`events_retried`],
//! [`callback_quarantined`], [`callback_status_unknown`], [`viber_misconfigured`]) are the
//! way to emit them, and a test checks `template.yaml` against what they write. [`count`] and
//! [`value`] are the general form.
//!
//! A line is formatted straight into the locked stdout (no intermediate `String`), so lines from
//! concurrent tasks never interleave with each other or with the JSON logs. A failed write is
//! ignored: a metric is never worth a failed request (and `println!` would panic, which with
//! `panic = "abort"` ends the container).
//!
//! The namespace is `VBM_METRICS_NAMESPACE` (the template's `MetricsNamespace`, default `VBM`),
//! and every metric carries a `Stack` dimension, `VBM_STACK` (the stack name), so two stacks in
//! one account never add up into one series. The template keeps Lambda's own log-level filter
//! open (`ApplicationLogLevel: TRACE`, the functions filter through `RUST_LOG`): Lambda gives a
//! line without a `"level"` key the level INFO, and would drop these lines at WARN or ERROR.
//!
//! Every distinct dimension value is a separate custom metric (billed monthly), so dimension
//! values must come from small fixed sets: error codes, Viber status codes. Never a business id,
//! a phone number or a message id.
//!
//! Some metrics are also written per [`ServiceKind`](dimension::SERVICE_KIND) (the kind of Viber
//! service a message went on: `one_way`, `two_way`, `session`), as a second dimension set of the
//! same line: the series without it (what the dashboard and alarms read) stays as it was, and
//! the per-kind one is beside it. The kind, not the service id: a service id is one business's,
//! as unbounded as a business id (it is in the log lines instead).

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace when `VBM_METRICS_NAMESPACE` is unset (the template's default).
pub const NAMESPACE: &str = "VBM";

/// `VBM_METRICS_NAMESPACE`: the namespace of every metric (the template's `MetricsNamespace`).
pub const NAMESPACE_VARIABLE: &str = "VBM_METRICS_NAMESPACE";

/// `VBM_STACK`: the value of the `Stack` dimension every metric carries (the stack name).
pub const STACK_VARIABLE: &str = "VBM_STACK";

/// Metric names, as the dashboard in `template.yaml` searches for them.
pub mod name {
    /// `POST /v1/messages` accepted a new message (replays are not counted again).
    pub const SEND_ACCEPTED: &str = "SendAccepted";
    /// `POST /v1/messages` refused, by [`Reason`](super::dimension::REASON) (the error code).
    pub const SEND_REFUSED: &str = "SendRefused";
    /// One dispatch attempt, by [`ViberStatus`](super::dimension::VIBER_STATUS).
    pub const DISPATCH_OUTCOME: &str = "DispatchOutcome";
    /// From the time Viber stamped on a callback to the time we received it.
    pub const CALLBACK_LAG_MS: &str = "CallbackLagMs";
    /// Business events the business's callback URL accepted.
    pub const EVENTS_DELIVERED: &str = "EventsDelivered";
    /// Business events whose delivery failed and was left to the queue to retry.
    pub const EVENTS_RETRIED: &str = "EventsRetried";
    /// Accepted messages `relay` carried from the table's stream to the outbound queue.
    pub const RELAYED: &str = "Relayed";
    /// Message records on the stream that no job could be made of (logged with their position).
    pub const RELAY_SKIPPED: &str = "RelaySkipped";
    /// An authenticated Viber callback kept in the quarantine (no dimension, so one alarm
    /// watches every reason; the reason is in the log line).
    pub const CALLBACK_QUARANTINED: &str = "CallbackQuarantined";
    /// A status callback with a `message_status` code no source documents.
    pub const CALLBACK_STATUS_UNKNOWN: &str = "CallbackStatusUnknown";
    /// Viber refused a send in a way only an operator can fix (2 bad service id, 11/HTTP 401
    /// unauthorized IP, 14 billing, 43 service blocked).
    pub const VIBER_MISCONFIGURED: &str = "ViberMisconfigured";
    /// SMS failover, by [`Trigger`](super::dimension::TRIGGER) and
    /// [`Outcome`](super::dimension::OUTCOME).
    pub const FAILOVER: &str = "Failover";
}

/// Dimension names.
pub mod dimension {
    /// The API error code of a refused send (`session_locked`, `invalid_phone`, ...).
    pub const REASON: &str = "Reason";
    /// The stack that emitted the metric (`VBM_STACK`); on every metric when set.
    pub const STACK: &str = "Stack";
    /// Viber's `status` answer to `send_message` (`"0"`, `"8"`, `"21"`, ...), or why there was
    /// none (`"timeout"`, `"network"`, `"http_5xx"`, ...).
    pub const VIBER_STATUS: &str = "ViberStatus";
    /// What started an SMS failover: `not_viber_user`, `no_suitable_device`, `expired`,
    /// `deadline`, or `receipt` for a delivery receipt.
    pub const TRIGGER: &str = "Trigger";
    /// What became of it: `sent`, `retried`, `failed`, `delivered` (receipts), or why none was
    /// sent (`opted_out`, `after_delivered`, `trigger_off`, `no_failover`, `gone`).
    pub const OUTCOME: &str = "Outcome";
    /// The kind of Viber service a message went on: `one_way`, `two_way` or `session`. In a
    /// second dimension set beside the metric's own (see the module's documentation).
    pub const SERVICE_KIND: &str = "ServiceKind";
}

/// CloudWatch units used here (a subset of CloudWatch's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    Bytes,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

/// CloudWatch limits: metric names up to 255 characters, dimension values up to 1024, at most 30
/// dimensions per metric.
const MAX_NAME: usize = 255;
const MAX_DIMENSION_VALUE: usize = 1024;
const MAX_DIMENSIONS: usize = 30;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Where the metrics of this process go: the namespace and the `Stack` dimension's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    namespace: String,
    stack: Option<String>,
}

impl Scope {
    /// From the two variables' values: an unset, empty or invalid namespace (CloudWatch allows
    /// 1-255 of `A-Za-z0-9._/#:-`, and not only dots) is [`NAMESPACE`]; an empty stack is none.
    pub fn new(namespace: Option<&str>, stack: Option<&str>) -> Self {
        let namespace = namespace
            .map(str::trim)
            .filter(|ns| {
                !ns.is_empty()
                    && ns.len() <= MAX_NAME
                    && ns.chars().any(|c| c != '.')
                    && ns
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._/#:-".contains(c))
            })
            .unwrap_or(NAMESPACE);
        let stack = stack
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| dimension_value(s).to_owned());
        Self {
            namespace: namespace.to_owned(),
            stack,
        }
    }

    /// [`NAMESPACE_VARIABLE`] and [`STACK_VARIABLE`] of this process.
    pub fn from_env() -> Self {
        let read = |name| std::env::var(name).ok();
        Self::new(
            read(NAMESPACE_VARIABLE).as_deref(),
            read(STACK_VARIABLE).as_deref(),
        )
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn stack(&self) -> Option<&str> {
        self.stack.as_deref()
    }
}

/// The process's scope, read from the environment at the first metric.
fn scope() -> &'static Scope {
    static SCOPE: std::sync::OnceLock<Scope> = std::sync::OnceLock::new();
    #[cfg(test)]
    return SCOPE.get_or_init(|| Scope::new(None, Some(tests::STACK)));
    #[cfg(not(test))]
    SCOPE.get_or_init(Scope::from_env)
}

/// Turns emission on or off for the whole process (on by default). For a local run where the
/// EMF lines would only clutter the console; a deployment leaves it on.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

// ------------------------------------------------------------------ the metrics of vbm

/// `POST /v1/messages` accepted a new message.
pub fn send_accepted() {
    count(name::SEND_ACCEPTED, &[]);
}

/// `POST /v1/messages` accepted a new message on a service of `service_kind` (`one_way`,
/// `two_way`, `session`): counted as [`send_accepted`] and per kind.
pub fn send_accepted_on(service_kind: &str) {
    count_by(
        name::SEND_ACCEPTED,
        &[],
        &[(dimension::SERVICE_KIND, service_kind)],
    );
}

/// `POST /v1/messages` refused; `reason` is the API error code (`ApiError::code`).
pub fn send_refused(reason: &str) {
    count(name::SEND_REFUSED, &[(dimension::REASON, reason)]);
}

/// Viber answered `send_message` with `status` (0 is success).
pub fn dispatch_viber_status(status: i64) {
    dispatch_viber_status_on(status, None);
}

/// [`dispatch_viber_status`], also per the kind of service the message went on, when known.
pub fn dispatch_viber_status_on(status: i64, service_kind: Option<&str>) {
    let mut text = StackStr::new();
    // An i64 is at most 20 characters: this cannot fail.
    let _ = write!(text, "{status}");
    dispatch_outcome(text.as_str(), service_kind);
}

/// A dispatch attempt got no Viber status; `why` is one of a small fixed set: `"timeout"`,
/// `"network"`, `"http_429"`, `"http_4xx"`, `"http_5xx"`, `"invalid_answer"`.
pub fn dispatch_no_answer(why: &str) {
    dispatch_outcome(why, None);
}

/// [`dispatch_no_answer`], also per the kind of service the message went on, when known.
pub fn dispatch_no_answer_on(why: &str, service_kind: Option<&str>) {
    dispatch_outcome(why, service_kind);
}

fn dispatch_outcome(viber_status: &str, service_kind: Option<&str>) {
    let dimensions = [(dimension::VIBER_STATUS, viber_status)];
    match service_kind {
        Some(kind) => count_by(
            name::DISPATCH_OUTCOME,
            &dimensions,
            &[(dimension::SERVICE_KIND, kind)],
        ),
        None => count(name::DISPATCH_OUTCOME, &dimensions),
    }
}

/// A Viber callback arrived `lag_ms` after the time Viber stamped on it. Negative lags (clocks
/// apart) count as 0.
pub fn callback_lag(lag_ms: i64) {
    value(
        name::CALLBACK_LAG_MS,
        lag_ms.max(0) as f64,
        Unit::Milliseconds,
        &[],
    );
}

/// `n` business events were accepted by their callback URLs (nothing is written for 0).
pub fn events_delivered(n: u32) {
    if n > 0 {
        value(name::EVENTS_DELIVERED, f64::from(n), Unit::Count, &[]);
    }
}

/// `n` business event deliveries failed and were left on the queue for a retry (nothing is
/// written for 0).
pub fn events_retried(n: u32) {
    if n > 0 {
        value(name::EVENTS_RETRIED, f64::from(n), Unit::Count, &[]);
    }
}

/// `relay` queued `n` accepted messages (nothing is written for 0).
pub fn relayed(n: usize) {
    if n > 0 {
        value(name::RELAYED, n as f64, Unit::Count, &[]);
    }
}

/// `relay` met a message record it could make no job of.
pub fn relay_skipped() {
    count(name::RELAY_SKIPPED, &[]);
}

/// An authenticated Viber callback was kept in the quarantine.
pub fn callback_quarantined() {
    count(name::CALLBACK_QUARANTINED, &[]);
}

/// A status callback carried a `message_status` code we do not know.
pub fn callback_status_unknown() {
    count(name::CALLBACK_STATUS_UNKNOWN, &[]);
}

/// Viber refused a send because the deployment is misconfigured (alarmed).
pub fn viber_misconfigured() {
    count(name::VIBER_MISCONFIGURED, &[]);
}

/// One SMS failover step: `trigger` and `outcome` from the small fixed sets of
/// [`dimension::TRIGGER`] and [`dimension::OUTCOME`].
pub fn failover(trigger: &str, outcome: &str) {
    count(
        name::FAILOVER,
        &[(dimension::TRIGGER, trigger), (dimension::OUTCOME, outcome)],
    );
}

// ------------------------------------------------------------------ the general form

/// Adds 1 to the metric `name` with these dimensions (`(name, value)` pairs).
pub fn count(name: &str, dimensions: &[(&str, &str)]) {
    value(name, 1.0, Unit::Count, dimensions);
}

/// [`count`], also with the dimensions `by` added (a second dimension set on the same line).
pub fn count_by(name: &str, dimensions: &[(&str, &str)], by: &[(&str, &str)]) {
    value_by(name, 1.0, Unit::Count, dimensions, by);
}

/// One data point of the metric `name`. A non-finite value, or a malformed name or dimension
/// (a bug in the caller), writes nothing.
pub fn value(name: &str, value: f64, unit: Unit, dimensions: &[(&str, &str)]) {
    value_by(name, value, unit, dimensions, &[]);
}

/// [`value`] in two series: with `dimensions`, and with `dimensions` and `by` (one line, two
/// dimension sets; `by` empty: one).
pub fn value_by(
    name: &str,
    value: f64,
    unit: Unit,
    dimensions: &[(&str, &str)],
    by: &[(&str, &str)],
) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(line) = Line::new(scope(), now_millis(), name, value, unit, dimensions, by) else {
        return;
    };
    #[cfg(test)]
    if tests::capture(&line) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One EMF document, formatted on demand.
struct Line<'a> {
    scope: &'a Scope,
    timestamp_ms: u64,
    name: &'a str,
    value: f64,
    unit: Unit,
    dimensions: &'a [(&'a str, &'a str)],
    /// Added to `dimensions` in a second dimension set (none when empty).
    by: &'a [(&'a str, &'a str)],
}

impl<'a> Line<'a> {
    fn new(
        scope: &'a Scope,
        timestamp_ms: u64,
        name: &'a str,
        value: f64,
        unit: Unit,
        dimensions: &'a [(&'a str, &'a str)],
        by: &'a [(&'a str, &'a str)],
    ) -> Option<Self> {
        let key_ok =
            |k: &str| !k.is_empty() && k.len() <= MAX_NAME && k != "_aws" && k != dimension::STACK;
        let all: Vec<&(&str, &str)> = dimensions.iter().chain(by).collect();
        let valid = value.is_finite()
            && key_ok(name)
            && all.len() < MAX_DIMENSIONS
            && all.iter().enumerate().all(|(i, (k, _))| {
                // Dimension keys and the metric name share the root object: no duplicates.
                key_ok(k) && *k != name && all[..i].iter().all(|(other, _)| other != k)
            });
        if !valid {
            // A bad name or dimension key is a bug in the caller; a non-finite value is data.
            debug_assert!(
                !value.is_finite(),
                "malformed metric {name:?} {dimensions:?}"
            );
            tracing::warn!(metric = name, "malformed metric not emitted");
            return None;
        }
        Some(Self {
            scope,
            timestamp_ms,
            name,
            value,
            unit,
            dimensions,
            by,
        })
    }
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":[["#,
            self.timestamp_ms,
            Json(self.scope.namespace())
        )?;
        let stack = self.scope.stack().map(|s| (dimension::STACK, s));
        let dimensions = || stack.iter().chain(self.dimensions);
        let keys = |f: &mut fmt::Formatter<'_>, set: &mut dyn Iterator<Item = &(&str, &str)>| {
            for (i, (key, _)) in set.enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                write!(f, "{}", Json(key))?;
            }
            Ok::<(), fmt::Error>(())
        };
        keys(f, &mut dimensions())?;
        if !self.by.is_empty() {
            f.write_str("],[")?;
            keys(f, &mut dimensions().chain(self.by))?;
        }
        write!(
            f,
            r#"]],"Metrics":[{{"Name":{},"Unit":"{}"}}]}}]}}"#,
            Json(self.name),
            self.unit.as_str()
        )?;
        for (key, value) in dimensions().chain(self.by) {
            write!(f, ",{}:{}", Json(key), Json(dimension_value(value)))?;
        }
        // `f64`'s Display never uses exponents or NaN here (finite checked): a JSON number.
        write!(f, ",{}:{}}}", Json(self.name), self.value)
    }
}

/// CloudWatch needs 1 to 1024 characters.
fn dimension_value(value: &str) -> &str {
    if value.is_empty() {
        return "none";
    }
    match value.char_indices().nth(MAX_DIMENSION_VALUE) {
        Some((cut, _)) => &value[..cut],
        None => value,
    }
}

/// A JSON string literal, escaped as it is written.
struct Json<'a>(&'a str);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        let mut rest = self.0;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or(' ');
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "\\u{:04x}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)?;
        f.write_char('"')
    }
}

/// A short string on the stack (formatting an integer without allocating).
struct StackStr {
    buf: [u8; 24],
    len: usize,
}

impl StackStr {
    fn new() -> Self {
        Self {
            buf: [0; 24],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::*;

    /// The `Stack` dimension's value in tests (the scope a Lambda gets from `VBM_STACK`).
    pub(super) const STACK: &str = "test-stack";

    thread_local! {
        static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    /// In tests, a thread that called [`captured`] gets the lines instead of stdout.
    pub(super) fn capture(line: &Line<'_>) -> bool {
        CAPTURED.with(|c| match c.borrow_mut().as_mut() {
            Some(lines) => {
                lines.push(line.to_string());
                true
            }
            None => false,
        })
    }

    /// Serializes the tests that capture, because [`set_enabled`] is process-wide.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The lines `f` emits on this thread, parsed.
    fn captured(f: impl FnOnce()) -> Vec<Value> {
        let _serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
        f();
        let lines = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
        lines
            .iter()
            .map(|line| {
                assert!(!line.contains('\n'), "one line: {line}");
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
            })
            .collect()
    }

    fn one(f: impl FnOnce()) -> Value {
        let mut lines = captured(f);
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines.remove(0)
    }

    /// Checks `doc` against the EMF specification: the `_aws` metadata with an integer
    /// timestamp, one directive whose dimension keys and metric names are root members with
    /// string and numeric values, the first dimension `Stack`. Returns (metric name, the other
    /// dimension keys, unit, value).
    fn parse_emf(doc: &Value) -> (String, Vec<String>, String, f64) {
        let root = doc.as_object().expect("root is an object");
        let aws = root["_aws"].as_object().expect("_aws object");
        assert_eq!(
            aws.len(),
            2,
            "_aws has Timestamp and CloudWatchMetrics only"
        );
        let ts = aws["Timestamp"].as_u64().expect("integer Timestamp (ms)");
        assert!(ts > 1_704_067_200_000, "Timestamp in milliseconds: {ts}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert_eq!(directives.len(), 1);
        let d = directives[0].as_object().expect("directive object");
        assert_eq!(d.len(), 3, "Namespace, Dimensions, Metrics: {d:?}");
        assert_eq!(d["Namespace"], NAMESPACE);
        let sets = d["Dimensions"].as_array().expect("DimensionSet array");
        // One set, or two: the second the first with more dimensions (a per-kind rollup).
        assert!(matches!(sets.len(), 1 | 2), "{sets:?}");
        if let [first, second] = &sets[..] {
            let (first, second) = (first.as_array().unwrap(), second.as_array().unwrap());
            assert!(
                second.len() > first.len() && second.starts_with(first),
                "{sets:?}"
            );
            for k in &second[first.len()..] {
                let k = k.as_str().expect("dimension key");
                assert!(root[k].is_string(), "dimension target {k} is a root string");
            }
        }
        let keys: Vec<String> = sets[0]
            .as_array()
            .expect("a DimensionSet")
            .iter()
            .map(|k| k.as_str().expect("dimension key").to_owned())
            .collect();
        for k in &keys {
            assert!(root[k].is_string(), "dimension target {k} is a root string");
        }
        assert_eq!(keys.first().map(String::as_str), Some("Stack"), "{keys:?}");
        assert_eq!(root["Stack"], STACK);
        let metrics = d["Metrics"].as_array().expect("MetricDefinitions");
        assert_eq!(metrics.len(), 1);
        let name = metrics[0]["Name"].as_str().expect("Name").to_owned();
        let unit = metrics[0]["Unit"].as_str().expect("Unit").to_owned();
        let value = root[&name]
            .as_f64()
            .expect("metric target is a root number");
        let all_keys = sets.last().and_then(Value::as_array).map_or(0, Vec::len);
        assert_eq!(root.len(), 2 + all_keys, "no other members: {root:?}");
        (name, keys[1..].to_vec(), unit, value)
    }

    #[test]
    fn a_refused_send_is_an_emf_document() {
        let doc = one(|| send_refused("session_locked"));
        assert_eq!(
            parse_emf(&doc),
            (
                "SendRefused".into(),
                vec!["Reason".into()],
                "Count".into(),
                1.0
            )
        );
        assert_eq!(doc["Reason"], "session_locked");
        // Field by field, as CloudWatch Logs reads it.
        let ts = doc["_aws"]["Timestamp"].clone();
        assert_eq!(
            doc,
            json!({
                "_aws": {"Timestamp": ts, "CloudWatchMetrics": [{
                    "Namespace": "VBM",
                    "Dimensions": [["Stack", "Reason"]],
                    "Metrics": [{"Name": "SendRefused", "Unit": "Count"}],
                }]},
                "Stack": "test-stack",
                "Reason": "session_locked",
                "SendRefused": 1,
            })
        );
    }

    #[test]
    fn sends_and_dispatch_outcomes_are_also_counted_per_service_kind() {
        let doc = one(|| send_accepted_on("session"));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack"], ["Stack", "ServiceKind"]])
        );
        assert_eq!(
            parse_emf(&doc),
            ("SendAccepted".into(), vec![], "Count".into(), 1.0)
        );
        assert_eq!(doc["ServiceKind"], "session");
        let doc = one(|| dispatch_viber_status_on(0, Some("one_way")));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([
                ["Stack", "ViberStatus"],
                ["Stack", "ViberStatus", "ServiceKind"]
            ])
        );
        assert_eq!(doc["ViberStatus"], "0");
        assert_eq!(doc["ServiceKind"], "one_way");
        parse_emf(&doc);
        // Unknown kind: the metric's own series only, as before.
        let doc = one(|| dispatch_no_answer_on("timeout", None));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack", "ViberStatus"]])
        );
        assert!(doc.get("ServiceKind").is_none());
    }

    #[test]
    fn metrics_without_dimensions_have_the_stack_only() {
        let doc = one(send_accepted);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack"]])
        );
        assert_eq!(
            parse_emf(&doc),
            ("SendAccepted".into(), vec![], "Count".into(), 1.0)
        );
    }

    fn line_in(scope: &Scope, dimensions: &[(&str, &str)]) -> Value {
        let line = Line::new(scope, 1, "M", 1.0, Unit::Count, dimensions, &[]).expect("valid");
        serde_json::from_str(&line.to_string()).unwrap()
    }

    #[test]
    fn the_namespace_and_stack_come_from_the_scope() {
        let prod = Scope::new(Some("Shop/Messaging"), Some("vbm-prod"));
        let doc = line_in(&prod, &[("Reason", "x")]);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Shop/Messaging");
        assert_eq!(directive["Dimensions"], json!([["Stack", "Reason"]]));
        assert_eq!(
            (&doc["Stack"], &doc["Reason"]),
            (&json!("vbm-prod"), &json!("x"))
        );
        // Without a stack (a local run), no Stack dimension.
        let local = Scope::new(None, Some(" "));
        let doc = line_in(&local, &[]);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "VBM");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert!(doc.get("Stack").is_none());
        for bad in ["", "   ", "..", "a b", "ns\"", &"n".repeat(256)] {
            assert_eq!(Scope::new(Some(bad), None).namespace(), "VBM", "{bad:?}");
        }
        assert_eq!(
            Scope::new(Some("AWS-like.ns_1:#/"), None).namespace(),
            "AWS-like.ns_1:#/"
        );
    }

    /// A caller's own `Stack` dimension would collide with the scope's: a bug, caught in tests.
    #[test]
    #[should_panic(expected = "malformed metric")]
    fn stack_is_a_reserved_dimension_key() {
        let scope = Scope::new(None, Some("s"));
        let _ = Line::new(&scope, 1, "M", 1.0, Unit::Count, &[("Stack", "x")], &[]);
    }

    #[test]
    fn the_timestamp_is_now_in_milliseconds() {
        let before = now_millis();
        let doc = one(send_accepted);
        let after = now_millis();
        let ts = doc["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(before <= ts && ts <= after, "{before} <= {ts} <= {after}");
    }

    #[test]
    fn dispatch_outcomes_carry_viber_status_codes_as_strings() {
        let doc = one(|| dispatch_viber_status(8));
        assert_eq!(
            parse_emf(&doc),
            (
                "DispatchOutcome".into(),
                vec!["ViberStatus".into()],
                "Count".into(),
                1.0
            )
        );
        assert_eq!(doc["ViberStatus"], "8");
        assert_eq!(one(|| dispatch_viber_status(0))["ViberStatus"], "0");
        assert_eq!(
            one(|| dispatch_viber_status(i64::MIN))["ViberStatus"],
            i64::MIN.to_string()
        );
        assert_eq!(
            one(|| dispatch_no_answer("timeout"))["ViberStatus"],
            "timeout"
        );
    }

    #[test]
    fn callback_lag_is_in_milliseconds_and_never_negative() {
        let doc = one(|| callback_lag(1234));
        assert_eq!(
            parse_emf(&doc),
            (
                "CallbackLagMs".into(),
                vec![],
                "Milliseconds".into(),
                1234.0
            )
        );
        assert_eq!(one(|| callback_lag(-50))["CallbackLagMs"], 0.0);
    }

    #[test]
    fn events_are_counted_in_batches_and_zero_writes_nothing() {
        let doc = one(|| events_delivered(7));
        assert_eq!(
            parse_emf(&doc),
            ("EventsDelivered".into(), vec![], "Count".into(), 7.0)
        );
        assert_eq!(one(|| events_retried(2))["EventsRetried"], 2);
        assert!(
            captured(|| {
                events_delivered(0);
                events_retried(0);
            })
            .is_empty()
        );
    }

    #[test]
    fn callbacks_kept_aside_are_counted_without_dimensions() {
        assert_eq!(
            parse_emf(&one(callback_quarantined)),
            ("CallbackQuarantined".into(), vec![], "Count".into(), 1.0)
        );
        assert_eq!(
            parse_emf(&one(callback_status_unknown)),
            ("CallbackStatusUnknown".into(), vec![], "Count".into(), 1.0)
        );
        assert_eq!(
            parse_emf(&one(viber_misconfigured)),
            ("ViberMisconfigured".into(), vec![], "Count".into(), 1.0)
        );
    }

    #[test]
    fn general_form_with_several_dimensions_and_fractions() {
        let doc = one(|| value("Custom", 2.5, Unit::Seconds, &[("A", "x"), ("B", "y")]));
        assert_eq!(
            parse_emf(&doc),
            (
                "Custom".into(),
                vec!["A".into(), "B".into()],
                "Seconds".into(),
                2.5
            )
        );
        assert_eq!(
            (doc["A"].as_str(), doc["B"].as_str()),
            (Some("x"), Some("y"))
        );
    }

    #[test]
    fn strings_are_escaped() {
        let nasty = "a\"b\\c\nd\u{1}é";
        let doc = one(|| send_refused(nasty));
        assert_eq!(doc["Reason"], nasty);
    }

    #[test]
    fn dimension_values_are_kept_within_cloudwatch_limits() {
        assert_eq!(one(|| send_refused(""))["Reason"], "none");
        let long = "é".repeat(2000);
        let doc = one(|| send_refused(&long));
        assert_eq!(doc["Reason"].as_str().unwrap().chars().count(), 1024);
    }

    #[test]
    fn non_finite_values_write_nothing() {
        assert!(captured(|| value("X", f64::NAN, Unit::None, &[])).is_empty());
        assert!(captured(|| value("X", f64::INFINITY, Unit::None, &[])).is_empty());
    }

    #[test]
    fn large_and_negative_values_stay_json_numbers() {
        assert_eq!(one(|| value("X", 1e21, Unit::None, &[]))["X"], 1e21);
        assert_eq!(one(|| value("X", -0.125, Unit::None, &[]))["X"], -0.125);
    }

    #[test]
    fn disabled_writes_nothing() {
        let lines = captured(|| {
            set_enabled(false);
            send_accepted();
            set_enabled(true);
        });
        assert!(lines.is_empty());
        assert_eq!(captured(send_accepted).len(), 1);
    }

    /// Every helper, as the functions call them.
    fn all_helpers() {
        send_accepted();
        send_refused("no_session");
        dispatch_viber_status(0);
        dispatch_no_answer("timeout");
        callback_lag(10);
        events_delivered(1);
        events_retried(1);
        callback_quarantined();
        callback_status_unknown();
        viber_misconfigured();
        failover("expired", "sent");
    }

    /// The dashboard's SEARCH expressions, as (schema, metric name): schema is
    /// `{${MetricsNamespace},Stack,Key,...}` (exactly those dimensions), and each search is
    /// narrowed to this stack (`Stack="${AWS::StackName}"`).
    fn dashboard_searches() -> BTreeSet<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let template = std::fs::read_to_string(path).expect("template.yaml");
        let start = template.find("DashboardBody:").expect("a dashboard");
        let body = &template[start..];
        let mut searches = BTreeSet::new();
        for expr in body.split("SEARCH('").skip(1) {
            let expr = &expr[..expr.find('\'').expect("closing quote")];
            // In the YAML the JSON string escapes its quotes: MetricName=\"X\".
            let expr = expr.replace("\\\"", "\"");
            let (schema, metric) = expr
                .split_once(" MetricName=")
                .unwrap_or_else(|| panic!("MetricName in {expr}"));
            let metric = metric
                .strip_suffix(r#" Stack="${AWS::StackName}""#)
                .unwrap_or_else(|| panic!("not narrowed to the stack: {expr}"));
            searches.insert((schema.to_owned(), metric.trim_matches('"').to_owned()));
        }
        searches
    }

    #[test]
    fn the_dashboard_shows_exactly_these_metrics_and_dimensions() {
        let emitted: BTreeSet<(String, String)> = captured(all_helpers)
            .iter()
            .map(|doc| {
                let (metric, keys, _, _) = parse_emf(doc);
                let schema = std::iter::once("${MetricsNamespace}".to_owned())
                    .chain(std::iter::once("Stack".to_owned()))
                    .chain(keys)
                    .collect::<Vec<_>>()
                    .join(",");
                (format!("{{{schema}}}"), metric)
            })
            .collect();
        assert_eq!(emitted, dashboard_searches());
    }
}
