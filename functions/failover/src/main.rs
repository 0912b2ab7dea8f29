//! The failover queue consumer as a Lambda function: wiring only (see the library).

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vbm_platform::telemetry::init();
    // Built once per container: SDK clients and configuration.
    let app: &'static failover::App = Box::leak(Box::new(failover::App::from_env().await?));
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(app.handle_batch(event.payload).await)
    }))
    .await
}
