//! The campaign fan-out queue (standard SQS): start jobs and chunk jobs for
//! `functions/campaign`. Bodies are JSON the store's `CampaignJob` defines; every job is
//! idempotent, so at-least-once delivery (and a timer firing twice) is harmless.

use aws_sdk_sqs::Client;

use crate::{Queue, QueueError};

/// Build once per process; cheap to clone.
#[derive(Debug, Clone)]
pub struct CampaignQueue {
    queue: Queue,
}

impl CampaignQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            queue: Queue::new(client, url),
        }
    }

    pub fn url(&self) -> &str {
        self.queue.url()
    }

    /// Puts every body on the queue, ten to a `SendMessageBatch`. An error means some may not
    /// be queued: the caller fails retryably and queues them all again (jobs are idempotent).
    pub async fn enqueue_all(&self, bodies: &[String]) -> Result<(), QueueError> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| Queue::entry(i, body.clone()))
            .collect();
        self.queue.send_all(entries).await.map_err(|(_, e)| e)
    }
}
