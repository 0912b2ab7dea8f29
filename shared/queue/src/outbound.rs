//! The outbound FIFO queue: accepted messages waiting for `dispatch`.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Queue, QueueError, json_body};

/// One accepted message to send. The body only names it: `dispatch` loads the message (and its
/// current status) from the store, so a job never carries stale or personal data.
///
/// ```json
/// {"business_id": "acme", "message_id": "01JD0Z6Q9T3M8V4K2X7B5N1C0A", "conversation": "3f1c…"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundJob {
    pub business_id: String,
    pub message_id: String,
    /// The FIFO message group: a pseudonym of business × phone number (hex SHA-256, 32 chars),
    /// so one user's messages go out in order without the phone number appearing in SQS.
    pub conversation: String,
}

impl OutboundJob {
    /// A job for `message_id` of `business_id` to `to_e164`.
    pub fn new(business_id: &str, message_id: &str, to_e164: &str) -> Self {
        Self {
            business_id: business_id.to_owned(),
            message_id: message_id.to_owned(),
            conversation: conversation_group(business_id, to_e164),
        }
    }
}

/// The message group of one conversation.
pub fn conversation_group(business_id: &str, to_e164: &str) -> String {
    let digest = Sha256::digest(format!("{business_id}#{to_e164}").as_bytes());
    hex::encode(&digest[..16])
}

/// The outbound FIFO queue. Cheap to clone; build once per process.
#[derive(Debug, Clone)]
pub struct OutboundQueue {
    queue: Queue,
}

impl OutboundQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            queue: Queue::new(client, url),
        }
    }

    pub fn url(&self) -> &str {
        self.queue.url()
    }

    /// Puts `job` on the queue: group = the conversation, deduplication id = the message id.
    pub async fn enqueue(&self, job: &OutboundJob) -> Result<(), QueueError> {
        let body = json_body(job)?;
        let group = |m: SendMessageFluentBuilder| {
            m.message_group_id(&job.conversation)
                .message_deduplication_id(&job.message_id)
        };
        self.queue.send(body, group).await
    }

    /// Puts `jobs` on the queue in their order, ten to a `SendMessageBatch` (SQS keeps the order
    /// of one message group within a batch and across calls made one after the other). On a
    /// failure the answer is the index of the first job that may not be queued: every job before
    /// it is, and the caller retries from it (jobs after it that did go are de-duplicated by
    /// their message id).
    pub async fn enqueue_all(&self, jobs: &[OutboundJob]) -> Result<(), (usize, QueueError)> {
        let mut entries = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let body = json_body(job).map_err(|e| (i, e))?;
            entries.push(
                Queue::entry(i, body)
                    .message_group_id(&job.conversation)
                    .message_deduplication_id(&job.message_id),
            );
        }
        self.queue.send_all(entries).await
    }

    /// Puts jobs that were parked back on the queue, in their order, each in its group with its
    /// own de-duplication id (the first one's would be dropped within SQS's five minutes).
    pub async fn enqueue_again(&self, jobs: &[(OutboundJob, String)]) -> Result<(), QueueError> {
        let mut entries = Vec::with_capacity(jobs.len());
        for (i, (job, dedup)) in jobs.iter().enumerate() {
            entries.push(
                Queue::entry(i, json_body(job)?)
                    .message_group_id(&job.conversation)
                    .message_deduplication_id(dedup),
            );
        }
        if entries.is_empty() {
            return Ok(());
        }
        self.queue.send_all(entries).await.map_err(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_small_json_and_groups_are_per_conversation() {
        let job = OutboundJob::new("acme", "01JD0Z6Q9T3M8V4K2X7B5N1C0A", "+380501234567");
        let json = serde_json::to_string(&job).unwrap();
        assert!(!json.contains("380501234567"));
        assert_eq!(serde_json::from_str::<OutboundJob>(&json).unwrap(), job);
        assert_eq!(job.conversation.len(), 32);
        assert_eq!(
            job.conversation,
            OutboundJob::new("acme", "other", "+380501234567").conversation
        );
        assert_ne!(
            job.conversation,
            OutboundJob::new("acme", "x", "+380501234568").conversation
        );
        assert_ne!(
            job.conversation,
            OutboundJob::new("acme2", "x", "+380501234567").conversation
        );
    }
}
