//! The business API as a Lambda function: wiring only (see the library for the handlers).

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vbm_platform::telemetry::init();
    // Built once per container: SDK clients, configuration, the API-key cache.
    let app: &'static send::App = Box::leak(Box::new(send::App::from_env().await?));
    run(service_fn(move |request| async move {
        Ok::<_, std::convert::Infallible>(app.handle(request).await)
    }))
    .await
}
