//! The AWS SDK configuration.

/// Region, credentials and endpoint from the environment, as Lambda (or the local stack, through
/// `AWS_ENDPOINT_URL`) provides them. Call once per process and build every client from it.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// The store as every function builds it: `VBM_TABLE`, the session limits and `RETENTION_DAYS`
/// from `config`, a DynamoDB client from `sdk`.
pub fn store(
    config: &crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> Result<vbm_store::Store, crate::config::ConfigError> {
    Ok(vbm_store::Store::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table()?,
        config.limits()?,
        config.retention()?,
    ))
}
