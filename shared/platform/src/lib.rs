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
//! - [`time`]: timestamps on the wire (RFC 3339).
//!
//! It knows no adapter: the store, the queues and Viber's client are built by each function's
//! wiring from the settings read here, and the HTTP face (the error object, JSON bodies) is the
//! `vbm-http` crate.

pub mod aws;
pub mod clock;
pub mod config;
pub mod metrics;
pub mod telemetry;
pub mod time;
pub mod warm;
