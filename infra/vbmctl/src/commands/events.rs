//! `vbmctl events redrive` (issue 17): the business events `notify` gave up on (the events
//! dead-letter queue, its alarm) moved back to the events queue, each as it was, so `notify`
//! delivers it again with the same `webhook-id`. A body that is not an event is left on the
//! dead-letter queue and reported: moving it back would only dead-letter it again.

use aws_sdk_sqs::error::DisplayErrorContext;
use serde::Serialize;
use vbm_events::EventsQueue;

use super::{json, sdk_config};
use crate::cli::EventsCommand;
use crate::error::Failure;

#[derive(Debug, Default, Serialize)]
struct Redriven {
    /// Events moved back to the events queue (and deleted from the dead-letter queue).
    moved: usize,
    /// Their ids: each is delivered again with this `webhook-id`.
    event_ids: Vec<String>,
    /// Messages left on the dead-letter queue, with why.
    left: Vec<String>,
}

fn infra(what: &str, e: impl std::error::Error) -> Failure {
    Failure::Infra(format!("{what}: {}", DisplayErrorContext(e)))
}

pub async fn run(command: EventsCommand) -> Result<String, Failure> {
    let EventsCommand::Redrive {
        dead_letter_queue_url,
        events_queue_url,
    } = command;
    let config = sdk_config().await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = EventsQueue::new(sqs.clone(), events_queue_url);
    let mut done = Redriven::default();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&dead_letter_queue_url)
            .max_number_of_messages(10)
            // Longer than one round of this loop: a message left (not an event) is not seen
            // again by this run.
            .visibility_timeout(60)
            .send()
            .await
            .map_err(|e| infra(&format!("reading {dead_letter_queue_url}"), e))?;
        if received.messages().is_empty() {
            return json(done);
        }
        let mut batch = Vec::new();
        let mut handles = Vec::new();
        for message in received.messages() {
            let body = message.body().unwrap_or_default();
            match EventsQueue::parse(body) {
                Ok(event) => {
                    batch.push(event);
                    handles.push(message.receipt_handle().unwrap_or_default().to_owned());
                }
                Err(error) => done.left.push(format!(
                    "{}: not an event ({error})",
                    message.message_id().unwrap_or_default()
                )),
            }
        }
        // Queued before deleted: a run cut in between queues an event twice (same webhook-id,
        // which the business de-duplicates on), never loses one.
        events
            .publish_all(&batch)
            .await
            .map_err(|e| Failure::Infra(format!("queueing to the events queue: {e}")))?;
        for (event, handle) in batch.into_iter().zip(handles) {
            sqs.delete_message()
                .queue_url(&dead_letter_queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| infra("deleting a redriven event", e))?;
            done.moved += 1;
            done.event_ids.push(event.event_id);
        }
    }
}
