//! What every function shares: the wiring around the domain, written once.
//!
//! - [`config`]: typed settings from the environment; each function asks only for what it uses,
//!   and a malformed value is an error naming its variable, never a silent default.
//! - [`clock`]: the [`Clock`](clock::Clock) port (`session-rules` never reads time itself), the
//!   system clock, and an adjustable one for the local stack.
//! - [`telemetry`]: structured JSON logs (tracing) for CloudWatch.
//! - [`metrics`]: business metrics as CloudWatch Embedded Metric Format lines on stdout.
//! - [`aws`]: the SDK configuration, loaded once per process.
//! - [`warm`]: opening the AWS connections and loading lazy data during init
//!   (`VBM_WARM_ON_INIT`), so the first event pays no TLS handshake.
//! - [`http`]: the error object of the business API and the plumbing every HTTP function
//!   shares (body limits, JSON reading, source IP, timestamps on the wire).

pub mod aws;
pub mod clock;
pub mod config;
pub mod http;
pub mod metrics;
pub mod telemetry;
pub mod time;
pub mod warm;
