//! The campaign fan-out queue (standard SQS, issue 15): start jobs and chunk jobs for
//! `functions/campaign`. Bodies are JSON the store's `CampaignJob` defines; every job is
//! idempotent, so at-least-once delivery (and a timer firing twice) is harmless.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::QueueError;

/// Build once per process; cheap to clone.
#[derive(Debug, Clone)]
pub struct CampaignQueue {
    client: Client,
    url: String,
}

impl CampaignQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Puts every body on the queue, ten to a `SendMessageBatch`. An error means some may not
    /// be queued: the caller fails retryably and queues them all again (jobs are idempotent).
    pub async fn enqueue_all(&self, bodies: &[String]) -> Result<(), QueueError> {
        for part in bodies.chunks(10) {
            let entries = part
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError::Encode(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let answer = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(QueueError::sdk)?;
            if let Some(failed) = answer.failed().first() {
                return Err(QueueError::Unavailable(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}
