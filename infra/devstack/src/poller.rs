//! What Lambda's SQS event source mapping does: poll a queue, hand batches to the
//! function, delete what succeeded, leave the reported failures to come back after a pause
//! (and to the dead-letter queue after the queue's maxReceiveCount).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

/// A queue-triggered function: the same `handle_batch` the Lambda binary runs.
pub type BatchHandler =
    Arc<dyn Fn(SqsEvent) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + Send>> + Send + Sync>;

/// How long a failed message stays invisible before it is tried again, locally (in AWS the
/// queue's visibility timeout, minutes, or the function's own back-off).
const RETRY_AFTER: i32 = 2;

/// How long a received message stays invisible while the function handles it: longer than any
/// local run of a batch, much shorter than the template's 180 s, so that a message whose delete
/// was lost (an emulator outage) comes back in seconds, as it would in minutes in AWS.
const IN_FLIGHT: i32 = 30;

/// How long one receive waits for a message (a long poll, as Lambda's pollers make). The
/// serialized emulator answers it with short polls outside its lock, repeated only when this
/// queue gets a message or one of its messages becomes visible again, so an idle poller costs it
/// one call per wait instead of ten a second (`infra/moto/serial_moto.py`).
const LONG_POLL_SECONDS: i32 = 2;

/// The timeouts of a long poll: the functions' own (`vbm_platform::aws::timeouts`) end a call
/// after 1.5 s, shorter than the wait.
fn long_poll_timeouts() -> aws_sdk_sqs::config::timeout::TimeoutConfig {
    let wait = Duration::from_secs(LONG_POLL_SECONDS.unsigned_abs().into());
    aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(wait + Duration::from_secs(3))
        .operation_timeout(wait + Duration::from_secs(6))
        .build()
}

/// How often the poller tries to bring a failed message back after [`RETRY_AFTER`], and the
/// pause between two tries: together longer than any emulator outage of the fault runs.
const OVERRIDE_ATTEMPTS: u32 = 30;
const OVERRIDE_PAUSE: Duration = Duration::from_millis(500);

/// Sets a failed message's visibility timeout to [`RETRY_AFTER`], retried through an emulator
/// outage. The function has already set its own back-off (`notify`: 30 s, 2 min, 8 min, 32 min
/// by receive count); if this override were lost, that back-off would stand, and a message
/// failed a few times would stay invisible far longer than a local run waits to settle (the
/// fault run counted six such events as lost).
async fn retry_soon(name: &str, client: &Client, queue_url: &str, handle: &str) {
    for attempt in 1..=OVERRIDE_ATTEMPTS {
        let result = client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(handle)
            .visibility_timeout(RETRY_AFTER)
            .send()
            .await;
        match result {
            Ok(_) => return,
            // The emulator answered: the handle is stale or the message gone; nothing to retry.
            Err(err) if err.as_service_error().is_some() => return,
            Err(err) if attempt == OVERRIDE_ATTEMPTS => {
                tracing::warn!(poller = name, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "could not bring a failed message back; the function's back-off stands");
            }
            Err(_) => tokio::time::sleep(OVERRIDE_PAUSE).await,
        }
    }
}

pub async fn run(name: &'static str, client: Client, queue_url: String, handler: BatchHandler) {
    loop {
        let received = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(LONG_POLL_SECONDS)
            .visibility_timeout(IN_FLIGHT)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .customize()
            .config_override(
                aws_sdk_sqs::config::Builder::default().timeout_config(long_poll_timeouts()),
            )
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(err) => {
                tracing::warn!(poller = name, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<SqsMessage> = messages
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
                record.aws_region = Some("us-east-1".into());
                record
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let answer = handler(event).await;
        let failed: Vec<&str> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let mut done = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let (Some(id), Some(handle)) = (m.message_id.as_deref(), m.receipt_handle.as_deref())
            else {
                continue;
            };
            if failed.contains(&id) {
                retry_soon(name, &client, &queue_url, handle).await;
            } else if let Ok(entry) = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(handle)
                .build()
            {
                done.push(entry);
            }
        }
        if !done.is_empty()
            && let Err(err) = client
                .delete_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(done))
                .send()
                .await
        {
            tracing::warn!(poller = name, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "delete failed; messages will come back");
        }
    }
}
