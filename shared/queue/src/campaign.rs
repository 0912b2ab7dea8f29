//! The campaign fan-out queue (standard SQS): start, prepare and chunk jobs for
//! `functions/campaign`. Bodies are JSON [`CampaignJob`]s; every job is idempotent, so
//! at-least-once delivery (and a timer firing twice) is harmless.

use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use crate::{Queue, QueueError};

/// What the fan-out queue carries (JSON, `kind`-tagged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CampaignJob {
    /// Move a scheduled campaign to running and queue a job for each of its chunks.
    Start { business: String, campaign: String },
    /// Check and write the next part of a `preparing` campaign's uploaded list (from the
    /// cursor on its item), then queue the next part or settle the campaign.
    Prepare { business: String, campaign: String },
    /// Admit the pending recipients of one chunk.
    Chunk {
        business: String,
        campaign: String,
        chunk: u32,
    },
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_on_the_wire() {
        let job = CampaignJob::Chunk {
            business: "acme".into(),
            campaign: "01J".into(),
            chunk: 3,
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"chunk","business":"acme","campaign":"01J","chunk":3}"#
        );
        assert_eq!(serde_json::from_str::<CampaignJob>(&text).unwrap(), job);
    }
}
