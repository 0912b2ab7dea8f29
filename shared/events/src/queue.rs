//! The events queue (standard SQS): producers put events, `notify` delivers them.

use aws_sdk_sqs::Client;
use vbm_queue::{Queue, QueueError, json_body};

use crate::Event;

/// Build once per process.
#[derive(Debug, Clone)]
pub struct EventsQueue {
    queue: Queue,
}

impl EventsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            queue: Queue::new(client, url),
        }
    }

    pub fn url(&self) -> &str {
        self.queue.url()
    }

    /// Queues one event. An error means it is not queued: the caller must fail retryably.
    pub async fn publish(&self, event: &Event) -> Result<(), QueueError> {
        self.queue.send(json_body(event)?, |m| m).await
    }

    /// Queues several events, ten per `SendMessageBatch`. An error means some may not be
    /// queued: the caller fails retryably, and a retry queues again those that were (an
    /// event's id is its `webhook-id`: the business de-duplicates on it).
    pub async fn publish_all(&self, events: &[Event]) -> Result<(), QueueError> {
        let mut entries = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            entries.push(Queue::entry(i, json_body(event)?));
        }
        self.queue.send_all(entries).await.map_err(|(_, e)| e)
    }

    /// Parses an event as `notify` receives it from the queue.
    pub fn parse(body: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(body)
    }
}
