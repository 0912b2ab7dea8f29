//! What the redrive commands share: reading a queue of failures a batch at a time, and the
//! loop that redrives a stream's failure records (`vbmctl outbox redrive`, `vbmctl events
//! lifecycle-redrive`) through a function's own code.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::Message;
use relay::reader::{FailedBatch, StreamError};
use serde::Serialize;

use super::json;
use crate::error::Failure;

/// A failed AWS call, named by what it was doing.
pub(super) fn infra(what: &str, e: impl std::error::Error) -> Failure {
    Failure::Infra(format!("{what}: {}", DisplayErrorContext(e)))
}

/// The next messages of `queue_url` (at most 10), hidden for longer than one round of a
/// redrive loop: a message left on the queue is not seen again by this run. Empty: the queue
/// is drained.
pub(super) async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<Message>, Failure> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(60)
        .send()
        .await
        .map_err(|e| infra(&format!("reading {queue_url}"), e))?;
    Ok(received.messages.unwrap_or_default())
}

#[derive(Debug, Default, Serialize)]
struct BatchesRedriven {
    /// Failure records handled and deleted.
    batches: usize,
    /// Stream records handed to the function's code again.
    records: usize,
    /// Failure records left on the queue, with why.
    left: Vec<String>,
}

/// Redrives every failure record of `failure_queue_url` with `redrive` (which reads the batch
/// from the stream again and hands it over, answering how many records it handed), deleting
/// each one done; a record that is not a batch failure, or whose redrive failed, is left and
/// reported.
pub(super) async fn redrive_failures(
    sqs: &aws_sdk_sqs::Client,
    failure_queue_url: &str,
    redrive: impl AsyncFn(&FailedBatch) -> Result<usize, StreamError>,
) -> Result<String, Failure> {
    let mut done = BatchesRedriven::default();
    loop {
        let received = receive(sqs, failure_queue_url).await?;
        if received.is_empty() {
            return json(done);
        }
        for message in &received {
            let id = message.message_id().unwrap_or_default();
            let outcome = match FailedBatch::parse(message.body().unwrap_or_default()) {
                Ok(batch) => redrive(&batch).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(records) => {
                    done.batches += 1;
                    done.records += records;
                    if let Some(handle) = message.receipt_handle() {
                        sqs.delete_message()
                            .queue_url(failure_queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .map_err(|e| infra("deleting a redriven record", e))?;
                    }
                }
                // Left invisible for the visibility timeout, so this run does not loop on it.
                Err(error) => done.left.push(format!("{id}: {error}")),
            }
        }
    }
}
