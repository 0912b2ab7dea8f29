use thiserror::Error;

#[derive(Debug, Error)]
pub enum TimerError {
    /// A caller's mistake (a name Scheduler would refuse, a queue URL that is not one): not
    /// worth retrying.
    #[error("invalid timer: {0}")]
    Invalid(String),
    /// Scheduler or SQS refused or could not be reached: retry (the queue's redelivery).
    #[error("timers unavailable: {0}")]
    Unavailable(String),
}

impl TimerError {
    pub fn retryable(&self) -> bool {
        matches!(self, TimerError::Unavailable(_))
    }

    pub(crate) fn sdk<E, R>(err: aws_sdk_scheduler::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        TimerError::Unavailable(aws_sdk_scheduler::error::DisplayErrorContext(err).to_string())
    }

    pub(crate) fn sqs<E, R>(err: aws_sdk_sqs::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        TimerError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(err).to_string())
    }
}
