//! The AWS SDK configuration.
//!
//! Built from the environment Lambda sets, without `aws-config`: its default chain (profile
//! files, SSO, web identity, ECS and IMDS providers, with the STS client they need) finds what
//! a function has in its first step, environment variables, and the rest was ~0.5 MB of every
//! binary and 2 ms of each cold start. The admin CLI (`vbmctl`), which runs on people's
//! machines, keeps the full chain.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sqs::config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::sdk_config::{RetryConfig, TimeoutConfig};

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

/// The retries every client gets: standard mode, [`MAX_ATTEMPTS`].
pub fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Region, credentials and endpoint from the environment, as Lambda (or the local stack, through
/// `AWS_ENDPOINT_URL`) provides them, with [`timeouts`] and [`retries`]. Call once per process and build every client from it.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_from(|name| std::env::var(name).ok())
}

/// [`sdk_config`] reading its variables through `var`: `AWS_REGION` (else
/// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_ENDPOINT_URL`. Without credentials every call fails (as a retryable error), and says so.
pub fn sdk_config_from(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        // The SDK's own client (hyper 1, rustls, the system's roots), on ring: the service
        // crates are built without `default-https-client`, whose aws-lc-rs was ~1 MB a binary.
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .retry_config(retries())
        .timeout_config(timeouts());
    builder.set_region(
        var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .map(Region::new),
    );
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => {
            builder.set_credentials_provider(Some(SharedCredentialsProvider::new(
                Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "Environment"),
            )));
        }
        _ => tracing::error!(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: every AWS call will fail"
        ),
    }
    builder.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        sdk_config_from(|name| vars.get(name).cloned())
    }

    #[tokio::test]
    async fn lambdas_variables_become_region_credentials_and_endpoint() {
        let sdk = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:4566"));
        let credentials = sdk
            .credentials_provider()
            .expect("a credentials provider")
            .provide_credentials()
            .await
            .expect("credentials");
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
        assert!(sdk.behavior_version().is_some());
    }

    #[test]
    fn every_call_has_a_connect_an_attempt_and_an_operation_timeout_and_three_attempts() {
        let sdk = config(&[("AWS_REGION", "us-east-1")]);
        let t = sdk.timeout_config().expect("timeouts");
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(
            sdk.retry_config().map(|r| r.max_attempts()),
            Some(MAX_ATTEMPTS)
        );
        // The retries fit in the operation, and the operation in a 10 s function with room
        // for a send's read-back of a lost answer (6 s).
        assert!(ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
        assert!(OPERATION_TIMEOUT < Duration::from_secs(4));
    }

    #[test]
    fn the_default_region_stands_in_and_empty_values_count_as_unset() {
        let sdk = config(&[
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_ENDPOINT_URL", ""),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert!(sdk.credentials_provider().is_none());
        assert_eq!(sdk.endpoint_url(), None);
    }
}
