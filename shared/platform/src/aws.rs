//! The AWS SDK configuration.

/// Region, credentials and endpoint from the environment, as Lambda (or the local stack, through
/// `AWS_ENDPOINT_URL`) provides them. Call once per process and build every client from it.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
