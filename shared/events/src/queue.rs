//! The events queue (standard SQS): producers put events, `notify` delivers them.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use vbm_queue::QueueError;

use crate::Event;

/// Build once per process.
#[derive(Debug, Clone)]
pub struct EventsQueue {
    client: Client,
    url: String,
}

impl EventsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues one event. An error means it is not queued: the caller must fail retryably.
    pub async fn publish(&self, event: &Event) -> Result<(), QueueError> {
        let body = serde_json::to_string(event).map_err(|e| QueueError::Encode(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Queues several events, ten per `SendMessageBatch`. An error means some may not be
    /// queued: the caller fails retryably, and a retry queues again those that were (an
    /// event's id is its `webhook-id`: the business de-duplicates on it).
    pub async fn publish_all(&self, events: &[Event]) -> Result<(), QueueError> {
        for chunk in events.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, event) in chunk.iter().enumerate() {
                let body =
                    serde_json::to_string(event).map_err(|e| QueueError::Encode(e.to_string()))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError::Encode(e.to_string()))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
            if let Some(failed) = out.failed().first() {
                return Err(QueueError::Unavailable(format!(
                    "{} of {} events refused: {}",
                    out.failed().len(),
                    chunk.len(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        Ok(())
    }

    /// Parses an event as `notify` receives it from the queue.
    pub fn parse(body: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(body)
    }
}
