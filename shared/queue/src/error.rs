use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use thiserror::Error;

/// A queue could not take a message. Always retryable from the caller's point of view (the
/// queue is missing, throttled or unreachable); the caller must not report success.
#[derive(Debug, Error)]
pub enum QueueError {
    #[error("SQS unavailable: {0}")]
    Unavailable(String),
    #[error("job could not be encoded: {0}")]
    Encode(String),
}

impl QueueError {
    pub(crate) fn sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        QueueError::Unavailable(DisplayErrorContext(err).to_string())
    }
}
