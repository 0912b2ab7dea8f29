//! `vbmctl events redrive`: the business events `notify` gave up on (the events
//! dead-letter queue, its alarm) moved back to the events queue, each as it was, so `notify`
//! delivers it again with the same `webhook-id`. A body that is not an event is left on the
//! dead-letter queue and reported: moving it back would only dead-letter it again.

use serde::Serialize;
use vbm_events::EventsQueue;

use super::redrive::{infra, receive, redrive_failures};
use super::{Context, json, sdk_config};
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

pub async fn run(ctx: &Context, command: EventsCommand) -> Result<String, Failure> {
    let (dead_letter_queue_url, events_queue_url) = match command {
        EventsCommand::Redrive {
            dead_letter_queue_url,
            events_queue_url,
        } => (dead_letter_queue_url, events_queue_url),
        EventsCommand::LifecycleRedrive {
            failure_queue_url,
            events_queue_url,
            session_timers_queue_url,
            timers_group,
            timers_role_arn,
        } => {
            return lifecycle_redrive(
                ctx,
                &failure_queue_url,
                events_queue_url,
                &session_timers_queue_url,
                timers_group,
                timers_role_arn,
            )
            .await;
        }
    };
    let config = sdk_config().await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = EventsQueue::new(sqs.clone(), events_queue_url);
    let mut done = Redriven::default();
    loop {
        let received = receive(&sqs, &dead_letter_queue_url).await?;
        if received.is_empty() {
            return json(done);
        }
        let mut batch = Vec::new();
        let mut handles = Vec::new();
        for message in &received {
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

/// `vbmctl events lifecycle-redrive`: `vbmctl outbox redrive`'s way, through `lifecycle`'s code.
async fn lifecycle_redrive(
    ctx: &Context,
    failure_queue_url: &str,
    events_queue_url: String,
    session_timers_queue_url: &str,
    timers_group: String,
    timers_role_arn: String,
) -> Result<String, Failure> {
    use relay::reader::redrive_with;
    let settings = vbm_platform::config::Config::from_env();
    let bad = |e: vbm_platform::config::ConfigError| Failure::input(e.to_string());
    let limits = settings.limits().map_err(bad)?;
    let expiring = lifecycle::transitions::Expiring {
        before: settings.session_expiring_before().map_err(bad)?,
        messages_left: settings.session_expiring_messages_left().map_err(bad)?,
    };
    let config = sdk_config().await?;
    let region = config.region().map(ToString::to_string).unwrap_or_default();
    let target = vbm_timers::Target::queue(session_timers_queue_url, &region)
        .map_err(|e| Failure::input(e.to_string()))?;
    vbm_platform::metrics::set_enabled(false);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let store = vbm_store::Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        &ctx.table,
        limits,
        vbm_store::Retention::default(),
    );
    let app = lifecycle::App::new(
        store,
        EventsQueue::new(sqs.clone(), events_queue_url),
        vbm_timers::Timers::new(
            aws_sdk_scheduler::Client::new(&config),
            sqs.clone(),
            timers_group,
            timers_role_arn,
        ),
        target,
        std::sync::Arc::new(vbm_platform::clock::SystemClock),
        expiring,
    );
    redrive_failures(&sqs, failure_queue_url, async |batch| {
        redrive_with(&streams, |e| app.handle_stream(e), batch).await
    })
    .await
}
