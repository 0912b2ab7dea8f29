//! The events queue (standard SQS): producers put events, `notify` delivers them.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
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

    /// Parses an event as `notify` receives it from the queue.
    pub fn parse(body: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(body)
    }
}
