//! Queue messages as Lambda hands them to a function (`SqsEvent`), read from a test's queue.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};

/// A received message as Lambda's record of it: id, receipt handle, body and attributes.
pub fn record_of(m: &Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id().map(str::to_owned);
    record.receipt_handle = m.receipt_handle().map(str::to_owned);
    record.body = m.body().map(str::to_owned);
    record.attributes = m
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    record
}

/// A hand-made record: `id` and `body`, nothing else.
pub fn record(id: &str, body: impl Into<String>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(id.to_owned());
    record.body = Some(body.into());
    record
}

/// The event of these records.
pub fn event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// One receive of up to ten messages on `url` (with every system attribute), as records; the
/// messages stay on the queue, in flight.
pub async fn receive_once(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<SqsMessage> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("receiving from {url}: {e:?}"))
        .messages()
        .iter()
        .map(record_of)
        .collect()
}

/// Receives until nothing is visible on `url`, as records; the messages stay on the queue, in
/// flight.
pub async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<SqsMessage> {
    let mut records = Vec::new();
    loop {
        let page = receive_once(sqs, url).await;
        if page.is_empty() {
            return records;
        }
        records.extend(page);
    }
}
