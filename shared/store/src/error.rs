use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use thiserror::Error;

/// What can go wrong below the rules. Every variant is an infrastructure problem the caller
/// should answer with a retryable error (503 or a queue retry), never a silent drop.
#[derive(Debug, Error)]
pub enum StoreError {
    /// DynamoDB could not be reached or refused the call (throttling, 5xx, network).
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// Too many concurrent writers changed the same item while we tried; retrying later works.
    #[error("the conversation changed too often while writing; try again")]
    Contended,
    /// An item that should have a known shape did not (a bug or a hand-edited table).
    #[error("malformed item {key}: {reason}")]
    Malformed { key: String, reason: String },
    /// The contact is being erased right now: nothing may build on its state; retry shortly.
    #[error("this contact is being erased; retry shortly")]
    Erasing,
    /// A write that the store expected to succeed was refused by a condition (e.g. an id that
    /// already exists).
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    pub(crate) fn sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Unavailable(DisplayErrorContext(err).to_string())
    }

    pub(crate) fn build(err: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(format!("request could not be built: {err}"))
    }

    pub(crate) fn malformed(key: impl Into<String>, reason: impl Into<String>) -> Self {
        StoreError::Malformed {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
