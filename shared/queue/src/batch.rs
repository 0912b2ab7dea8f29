//! Consuming a batch (`dispatch`, `notify`): a failed record's visibility timeout grows with each
//! receive ([`Backoff`], one schedule per queue), so an outage downstream is retried a few times
//! at growing intervals instead of every visibility timeout, before the queue's redrive policy
//! moves it to the dead-letter queue (`MaxReceiveCount`); the batch answer lists exactly the
//! failed records ([`batch_response`]).

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use aws_sdk_sqs::error::DisplayErrorContext;

/// A back-off schedule: `first` after the first failed receive, four times longer with each
/// further one, never more than `longest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub longest: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, longest: Duration) -> Self {
        Self { first, longest }
    }

    /// The visibility timeout after the `receive_count`-th failed receive:
    /// first × 4^(n−1), at most `longest`.
    pub fn after(&self, receive_count: u32) -> Duration {
        let exponent = receive_count.saturating_sub(1).min(8);
        self.first
            .saturating_mul(4u32.pow(exponent))
            .min(self.longest)
    }
}

/// How many times SQS has handed this record out (1 on the first delivery).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// What a record's handling came to, for its span's `outcome` field: the outcome an `Ok`
/// names, `retry` for an error (the record goes back to the queue).
pub fn outcome<E>(result: &Result<&'static str, E>) -> &'static str {
    match result {
        Ok(outcome) => outcome,
        Err(_) => "retry",
    }
}

/// Hands a batch's failed records back to their queue, each later than the last time.
#[derive(Debug, Clone)]
pub struct Retries {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    schedule: Backoff,
}

impl Retries {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>, schedule: Backoff) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
            schedule,
        }
    }

    /// Backs `record` off and gives its id, for [`batch_response`].
    pub async fn fail(&self, record: &SqsMessage) -> String {
        self.back_off(record).await;
        record.message_id.clone().unwrap_or_default()
    }

    /// Sets the record's visibility timeout to its backoff. Best effort: when it fails, the
    /// queue's own visibility timeout applies, which is a slower retry, not a lost one.
    async fn back_off(&self, record: &SqsMessage) {
        let Some(handle) = record.receipt_handle.as_deref() else {
            return;
        };
        let delay = self.schedule.after(receive_count(record));
        let result = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %DisplayErrorContext(error), "could not back off the record");
        }
    }
}

/// The batch answer: exactly the records with these ids are retried.
pub fn batch_response(failed: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_fourfold_then_stays_at_its_ceiling() {
        let schedule = Backoff::new(Duration::from_secs(10), Duration::from_secs(1000));
        let secs: Vec<u64> = (0..=5).map(|n| schedule.after(n).as_secs()).collect();
        assert_eq!(secs, [10, 10, 40, 160, 640, 1000]);
        assert_eq!(schedule.after(u32::MAX), schedule.longest);
    }

    #[test]
    fn the_receive_count_is_one_when_sqs_does_not_say() {
        let mut record = SqsMessage::default();
        assert_eq!(receive_count(&record), 1);
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        assert_eq!(receive_count(&record), 3);
    }

    #[test]
    fn an_error_is_recorded_as_a_retry() {
        assert_eq!(outcome::<()>(&Ok("sent")), "sent");
        assert_eq!(outcome(&Err("the table is down")), "retry");
    }

    #[test]
    fn the_batch_answer_lists_the_failed_ids() {
        let response = batch_response(["a".to_owned(), "b".to_owned()]);
        let ids: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(batch_response([]).batch_item_failures.is_empty());
    }
}
