//! The session lifecycle consumer as a Lambda function: wiring only (see the library). Two
//! event sources invoke it: the table's stream and the session timers queue; each invocation's
//! records say which.

// The layout of the handler's future (the stream and timer paths, each through the store, the
// events queue and the scheduler) nests deeper than the default 128 queries.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vbm_platform::telemetry::init();
    let app: &'static lifecycle::App = Box::leak(Box::new(lifecycle::App::from_env().await?));
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let source = event.payload["Records"][0]["eventSource"]
            .as_str()
            .or_else(|| event.payload["Records"][0]["EventSource"].as_str())
            .unwrap_or_default()
            .to_owned();
        let answer = if source == "aws:sqs" {
            serde_json::to_value(
                app.handle_timers(serde_json::from_value(event.payload)?)
                    .await,
            )?
        } else {
            serde_json::to_value(
                app.handle_stream(serde_json::from_value(event.payload)?)
                    .await,
            )?
        };
        Ok::<_, Error>(answer)
    }))
    .await
}
