//! One poll of a queue, handed over as Lambda's SQS event source would: the messages as an
//! [`SqsEvent`], kept invisible long enough not to come back during a test.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;

/// Up to ten visible messages of `queue_url` (none: an empty event).
pub async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> SqsEvent {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(600)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receiving from the test queue");
    let mut event = SqsEvent::default();
    event.records = out
        .messages()
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.attributes = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record
        })
        .collect();
    event
}
