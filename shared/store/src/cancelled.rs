//! A cancelled transaction's answer, read once: which of its items failed their condition and
//! what those items held (`ReturnValuesOnConditionCheckFailure: ALL_OLD`). Every conditional
//! transaction of the store decides its outcome from this.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::CancellationReason;

use crate::StoreError;
use crate::attrs::Item;

/// The error of a single-item write, whose condition can fail.
pub(crate) trait ConditionalWrite {
    fn condition_failed(&self) -> bool;
}

impl ConditionalWrite for UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// A conditional write's answer: `Some` written, `None` when its condition failed (what it
/// guards against was there), any other error the table's trouble (retryable).
pub(crate) fn conditional<T, E, R>(
    answer: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: ConditionalWrite + ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(err) if err.as_service_error().is_some_and(E::condition_failed) => Ok(None),
        Err(err) => Err(StoreError::sdk(err)),
    }
}

/// The reasons of a `TransactionCanceledException`, one per item of the request, in order.
pub(crate) struct Cancelled<'a> {
    reasons: &'a [CancellationReason],
}

impl<'a> Cancelled<'a> {
    /// `None` for any error that is not a cancelled transaction (throttling, the network).
    pub(crate) fn of<R>(err: &'a SdkError<TransactWriteItemsError, R>) -> Option<Self> {
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(Self {
                reasons: cancelled.cancellation_reasons(),
            }),
            _ => None,
        }
    }

    /// Item `index` failed its condition.
    pub(crate) fn failed(&self, index: usize) -> bool {
        self.code(index) == Some("ConditionalCheckFailed")
    }

    /// Some item failed its condition (else the cancellation was for another reason: a
    /// conflicting transaction or throttling, retryable).
    pub(crate) fn any_failed(&self) -> bool {
        (0..self.reasons.len()).any(|i| self.failed(i))
    }

    /// Cancelled only because another transaction held some of its items (real DynamoDB
    /// lets no two change one item at once): the same request may simply go again.
    pub(crate) fn conflict_only(&self) -> bool {
        !self.any_failed()
            && (0..self.reasons.len()).any(|i| self.code(i) == Some("TransactionConflict"))
    }

    /// The indexes of the items that failed their condition, in order.
    pub(crate) fn failed_indexes(&self) -> Vec<usize> {
        (0..self.reasons.len())
            .filter(|&i| self.failed(i))
            .collect()
    }

    /// Item `index`'s cancellation code (`ConditionalCheckFailed`, `TransactionConflict`, `None`).
    pub(crate) fn code(&self, index: usize) -> Option<&'a str> {
        self.reasons.get(index).and_then(|r| r.code())
    }

    /// What item `index` held when its condition failed (when the request asked for it).
    pub(crate) fn item(&self, index: usize) -> Option<&'a Item> {
        self.reasons.get(index).and_then(|r| r.item())
    }
}

/// Which items of a cancelled transaction failed their condition; empty for any other error.
pub(crate) fn cancelled_indexes<R>(err: &SdkError<TransactWriteItemsError, R>) -> Vec<usize> {
    Cancelled::of(err).map_or_else(Vec::new, |c| c.failed_indexes())
}
