//! The table's stream consumer as a Lambda function: wiring only (see the library).

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vbm_platform::telemetry::init();
    // Built once per container: the SQS client and the queue's URL.
    let app: &'static relay::App = Box::leak(Box::new(relay::App::from_env().await?));
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(app.handle_batch(event.payload).await)
    }))
    .await
}
