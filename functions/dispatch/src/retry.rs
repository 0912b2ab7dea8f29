//! Backing off a failed record: its visibility timeout grows with each receive, so a Viber
//! outage is retried at 20 s, 80 s, 5 min and 15 min instead of every 3 minutes, before the
//! queue's redrive policy moves it to the dead-letter queue (`MaxReceiveCount`).

use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use aws_sdk_sqs::error::DisplayErrorContext;

const FIRST: Duration = Duration::from_secs(20);
const LONGEST: Duration = Duration::from_secs(15 * 60);

/// The visibility timeout after the `receive_count`-th failed receive: 20 s × 4^(n−1), at most
/// 15 minutes.
pub fn backoff(receive_count: u32) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(8);
    FIRST.saturating_mul(4u32.pow(exponent)).min(LONGEST)
}

/// How many times SQS has handed this record out (1 on the first delivery).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Sets the record's visibility timeout to its backoff. Best effort: when it fails, the queue's
/// own visibility timeout applies, which is a slower retry, not a lost one.
pub async fn back_off(sqs: &aws_sdk_sqs::Client, queue_url: &str, record: &SqsMessage) {
    let Some(handle) = record.receipt_handle.as_deref() else {
        return;
    };
    let delay = backoff(receive_count(record));
    let result = sqs
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(handle)
        .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
        .send()
        .await;
    if let Err(error) = result {
        tracing::warn!(error = %DisplayErrorContext(error), "could not back off the record");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stays_at_its_ceiling() {
        let secs: Vec<u64> = (0..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [20, 20, 80, 320, 900, 900, 900, 900]);
        assert_eq!(backoff(u32::MAX), LONGEST);
    }
}
