//! The Viber status callback as a Lambda function: wiring only (see the library).

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vbm_platform::telemetry::init();
    // Built once per container; with neither a callback secret nor CIDRs this fails and the
    // function does not start.
    let app: &'static status::App = Box::leak(Box::new(status::App::from_env().await?));
    run(service_fn(move |request| async move {
        Ok::<_, std::convert::Infallible>(app.handle(request).await)
    }))
    .await
}
