use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
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
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Unavailable(describe(&err))
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

/// An SDK error in words: DynamoDB's error code and message for a service error
/// (`ResourceNotFoundException: Requested resource not found`), the cause chain otherwise
/// (`dispatch failure: io error: connection refused`). Never the Debug dump of the error, whose
/// headers and nested structs only drown what went wrong.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(_) = err {
        return match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            (None, Some(message)) => format!("unknown service error: {message}"),
            (None, None) => "unknown service error".to_owned(),
        };
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their cause's words: say each once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::error::ResourceNotFoundException;

    use super::*;

    #[test]
    fn service_errors_are_their_code_and_message() {
        let err: SdkError<GetItemError, ()> = SdkError::service_error(
            GetItemError::ResourceNotFoundException(
                // As the SDK deserializes DynamoDB's answer: the code and message in the metadata.
                ResourceNotFoundException::builder()
                    .message("Requested resource not found")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceNotFoundException")
                            .message("Requested resource not found")
                            .build(),
                    )
                    .build(),
            ),
            (),
        );
        let text = StoreError::sdk(err).to_string();
        assert_eq!(
            text,
            "DynamoDB unavailable: ResourceNotFoundException: Requested resource not found"
        );
    }

    #[test]
    fn other_errors_are_their_cause_chain_without_debug() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err: SdkError<GetItemError, ()> = SdkError::timeout_error(io);
        let text = describe(&err);
        assert_eq!(text, "request has timed out: connection refused");
        assert!(
            !text.contains('{') && !text.contains("TimeoutError"),
            "{text}"
        );
    }
}
