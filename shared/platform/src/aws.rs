//! The AWS SDK configuration.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// Opening a TCP + TLS connection to DynamoDB or SQS: a healthy one takes tens of milliseconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt of a call, from sending the request to the last byte of the answer. Our calls
/// are single items, a transaction of three, or one queue message: a healthy attempt is well
/// under 100 ms.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// A whole call, the SDK's own retries included (standard mode, with jittered backoff): a
/// stalled DynamoDB or SQS gives an error after this, and `send` answers `503 unavailable`
/// well inside the HTTP functions' 10 s timeout instead of API Gateway's own 5xx.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts of one call (the SDK's standard retry mode: exponential backoff with full jitter).
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts every client gets ([`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`],
/// [`OPERATION_TIMEOUT`]).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// `loader` with the project's timeouts and retries: what [`sdk_config`] loads, for a caller
/// that sets something else too (an endpoint, a region).
pub fn configure(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    loader
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

/// Region, credentials and endpoint from the environment, as Lambda (or the local stack, through
/// `AWS_ENDPOINT_URL`) provides them, with [`timeouts`]. Call once per process and build every
/// client from it.
pub async fn sdk_config() -> aws_config::SdkConfig {
    configure(aws_config::defaults(aws_config::BehaviorVersion::latest()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_a_connect_an_attempt_and_an_operation_timeout() {
        let t = timeouts();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        // The retries fit in the operation, and the operation in a 10 s function with room
        // for the undo `send` does after a failed queue call.
        assert!(ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
        assert!(OPERATION_TIMEOUT * 2 < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn the_loaded_config_has_them() {
        let sdk = configure(aws_config::defaults(aws_config::BehaviorVersion::latest()))
            .region(aws_config::Region::new("us-east-1"))
            .no_credentials()
            .load()
            .await;
        let t = sdk.timeout_config().expect("timeouts");
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(
            sdk.retry_config().map(|r| r.max_attempts()),
            Some(MAX_ATTEMPTS)
        );
    }
}
