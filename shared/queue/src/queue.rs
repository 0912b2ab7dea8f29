//! One SQS queue: its client and URL, and the two ways every typed queue sends (one message;
//! many, ten to a `SendMessageBatch`). The typed queues (`OutboundQueue`, `CampaignQueue`,
//! `FailoverQueue`, `vbm_events::EventsQueue`) only say what a body is and which attributes it
//! carries (message group, deduplication id, delay).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::types::builders::SendMessageBatchRequestEntryBuilder;

use crate::QueueError;

/// SQS's most entries in one `SendMessageBatch`.
const BATCH: usize = 10;

/// Cheap to clone; build once per process.
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one message; `with` adds what this queue's messages carry besides the body.
    pub async fn send(
        &self,
        body: String,
        with: impl FnOnce(SendMessageFluentBuilder) -> SendMessageFluentBuilder,
    ) -> Result<(), QueueError> {
        let request = self.client.send_message().queue_url(&self.url);
        with(request.message_body(body))
            .send()
            .await
            .map_err(QueueError::sdk)?;
        Ok(())
    }

    /// The batch entry of the `index`-th message of a [`Queue::send_all`] (its id is the
    /// index), for the caller to add attributes to.
    pub fn entry(index: usize, body: String) -> SendMessageBatchRequestEntryBuilder {
        SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(body)
    }

    /// Sends the entries in their order, ten to a `SendMessageBatch`, one call after the other
    /// (so SQS keeps a message group's order). On a failure the answer is the index of the
    /// first entry that may not be queued: every one before it is.
    pub async fn send_all(
        &self,
        entries: Vec<SendMessageBatchRequestEntryBuilder>,
    ) -> Result<(), (usize, QueueError)> {
        let mut entries = entries.into_iter().enumerate().peekable();
        while entries.peek().is_some() {
            let mut batch = Vec::with_capacity(BATCH);
            let mut first = None;
            for (index, entry) in entries.by_ref().take(BATCH) {
                first.get_or_insert(index);
                let entry = entry
                    .build()
                    .map_err(|e| (index, QueueError::Encode(e.to_string())))?;
                batch.push(entry);
            }
            let first = first.unwrap_or_default();
            let answer = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(|e| (first, QueueError::sdk(e)))?;
            let failed = answer
                .failed()
                .iter()
                .filter_map(|f| f.id().parse::<usize>().ok().map(|index| (index, f)))
                .min_by_key(|(index, _)| *index);
            if let Some((index, f)) = failed {
                let reason = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                return Err((index, QueueError::Unavailable(reason)));
            }
            if let Some(f) = answer.failed().first() {
                // An id we did not give: say so rather than count it queued.
                return Err((first, QueueError::Unavailable(f.code().to_owned())));
            }
        }
        Ok(())
    }
}

/// A JSON body, or the error that says it could not be encoded.
pub fn json_body(value: &impl serde::Serialize) -> Result<String, QueueError> {
    serde_json::to_string(value).map_err(|e| QueueError::Encode(e.to_string()))
}
