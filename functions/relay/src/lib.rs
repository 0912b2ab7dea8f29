//! `relay`: the transactional outbox. A send is one DynamoDB transaction (conversation, message,
//! idempotency record); when it commits, the message is accepted. The table's stream carries the
//! new message item here, and this function puts its job on the outbound FIFO queue for
//! `dispatch` (docs/architecture.md, "The outbox").
//!
//! One batch of stream records ([`App::handle_batch`]), in stream order:
//! 1. only the `INSERT` of a message item (`sk` = `MSG#…`) becomes an [`OutboundJob`]; every
//!    other record (conversation updates, status changes, deletions) is passed over. In AWS the
//!    event source mapping's filter already keeps those away, so this is the second line;
//! 2. the jobs go to the queue in the records' order, ten to a `SendMessageBatch`: group = the
//!    conversation, de-duplication id = the message id, so a record handed over twice is queued
//!    once, and one conversation's messages keep the order of their transactions;
//! 3. if the queue refuses or is unreachable, the answer names the first record not known to be
//!    queued (`batchItemFailures`): Lambda keeps everything before it as done and retries from it,
//!    bisecting and finally sending the batch's position to the on-failure destination, whose
//!    alarm and `vbmctl outbox redrive` bring it back.
//!
//! A message item that lacks what a job needs cannot be dispatched by anyone; it is logged and
//! counted (`RelaySkipped`), never retried forever in front of the messages behind it.

#[cfg(feature = "reader")]
pub mod reader;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_dynamo::AttributeValue;
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_queue::{OutboundJob, OutboundQueue};

/// What one container keeps: the outbound queue client.
pub struct App {
    outbound: OutboundQueue,
}

/// What a stream record means to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A newly accepted message: its job.
    Accepted(OutboundJob),
    /// Not the creation of a message: nothing to queue.
    Other,
    /// A message item without what a job needs (`why`).
    Malformed(&'static str),
}

/// The prefix of a message item's sort key (`vbm_store::keys::message`).
const MESSAGE_SK_PREFIX: &str = "MSG#";

/// Reads one stream record.
pub fn entry(record: &EventRecord) -> Entry {
    if record.event_name != "INSERT" {
        return Entry::Other;
    }
    let change = &record.change;
    match string(&change.keys, "sk") {
        Some(sk) if sk.starts_with(MESSAGE_SK_PREFIX) => {}
        _ => return Entry::Other,
    }
    let image = &change.new_image;
    let Some(business) = string(image, "business_id") else {
        return Entry::Malformed("no business_id in the new image");
    };
    let Some(message) = string(image, "message_id") else {
        return Entry::Malformed("no message_id in the new image");
    };
    let Some(to) = string(image, "to") else {
        return Entry::Malformed("no recipient in the new image");
    };
    Entry::Accepted(OutboundJob::new(business, message, to))
}

fn string<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) if !value.is_empty() => Some(value),
        _ => None,
    }
}

impl App {
    pub fn new(outbound: OutboundQueue) -> Self {
        Self { outbound }
    }

    /// Reads `OUTBOUND_QUEUE_URL` and builds the SQS client once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env();
        let url = config.outbound_queue_url()?;
        let sdk = vbm_platform::aws::sdk_config().await;
        Ok(Self::new(OutboundQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            url,
        )))
    }

    /// Handles one batch; a failure names the first record to be retried (and so every record
    /// after it).
    pub async fn handle_batch(&self, event: Event) -> DynamoDbEventResponse {
        let mut jobs = Vec::new();
        // For each job, the sequence number of its record.
        let mut positions = Vec::new();
        for record in &event.records {
            match entry(record) {
                Entry::Accepted(job) => {
                    positions.push(record.change.sequence_number.clone());
                    jobs.push(job);
                }
                Entry::Other => {}
                Entry::Malformed(why) => {
                    tracing::error!(
                        sequence_number = record.change.sequence_number.as_deref(),
                        why,
                        "a message record that no job can be made of"
                    );
                    metrics::relay_skipped();
                }
            }
        }
        let mut response = DynamoDbEventResponse::default();
        if jobs.is_empty() {
            return response;
        }
        match self.outbound.enqueue_all(&jobs).await {
            Ok(()) => {
                tracing::info!(queued = jobs.len(), "relayed");
                metrics::relayed(jobs.len());
            }
            Err((first, error)) => {
                tracing::error!(
                    error = %error,
                    queued = first,
                    left = jobs.len() - first,
                    "outbound queue unavailable; the stream retries from the first job not queued"
                );
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = positions[first].clone();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_name: &str, sk: &str, image: &[(&str, &str)]) -> EventRecord {
        let mut record = EventRecord::default();
        record.event_name = event_name.to_owned();
        let mut keys = std::collections::HashMap::new();
        keys.insert("pk".to_owned(), AttributeValue::S("BIZ#acme".to_owned()));
        keys.insert("sk".to_owned(), AttributeValue::S(sk.to_owned()));
        record.change.keys = keys.into();
        let image: std::collections::HashMap<String, AttributeValue> = image
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect();
        record.change.new_image = image.into();
        record
    }

    const FULL: &[(&str, &str)] = &[
        ("business_id", "acme"),
        ("message_id", "01JD0Z6Q9T3M8V4K2X7B5N1C0A"),
        ("to", "+447911123456"),
    ];

    #[test]
    fn the_insert_of_a_message_is_its_job() {
        let got = entry(&record("INSERT", "MSG#01JD0Z6Q9T3M8V4K2X7B5N1C0A", FULL));
        assert_eq!(
            got,
            Entry::Accepted(OutboundJob::new(
                "acme",
                "01JD0Z6Q9T3M8V4K2X7B5N1C0A",
                "+447911123456"
            ))
        );
    }

    #[test]
    fn changes_of_messages_and_other_items_are_not_jobs() {
        assert_eq!(entry(&record("MODIFY", "MSG#x", FULL)), Entry::Other);
        assert_eq!(entry(&record("REMOVE", "MSG#x", FULL)), Entry::Other);
        assert_eq!(
            entry(&record("INSERT", "CONV#+447911123456", FULL)),
            Entry::Other
        );
        assert_eq!(entry(&record("INSERT", "IDEM#k", FULL)), Entry::Other);
    }

    #[test]
    fn a_message_without_its_names_is_malformed() {
        for missing in ["business_id", "message_id", "to"] {
            let image: Vec<_> = FULL
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert!(matches!(
                entry(&record("INSERT", "MSG#x", &image)),
                Entry::Malformed(_)
            ));
        }
    }
}
