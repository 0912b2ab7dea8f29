//! `vbmctl outbox redrive`: the stream batches the outbox's event source mapping gave up on, read
//! again from the stream and queued through `relay`'s own code.

use relay::Holds;
use relay::reader::{FailedBatch, redrive};
use serde::Serialize;
use vbm_queue::{CampaignQueue, FailoverQueue, OutboundQueue};

use super::{Context, json, sdk_config};
use crate::cli::OutboxCommand;
use crate::error::Failure;

#[derive(Debug, Default, Serialize)]
struct Redriven {
    /// Failure records handled and deleted.
    batches: usize,
    /// Stream records handed to `relay` again.
    records: usize,
    /// Failure records left on the queue, with why.
    left: Vec<String>,
}

pub async fn run(ctx: &Context, command: OutboxCommand) -> Result<String, Failure> {
    let OutboxCommand::Redrive {
        failure_queue_url,
        outbound_queue_url,
        campaign_queue_url,
        failover_queue_url,
    } = command;
    // relay's EMF metric lines would mix with the JSON on stdout (and belong to the function).
    vbm_platform::metrics::set_enabled(false);
    let config = sdk_config().await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    // A range may hold the lift of a hold (a business enabled, a campaign resumed): its
    // parked work goes back to its queues as `relay` sends it.
    let relay =
        relay::App::new(OutboundQueue::new(sqs.clone(), outbound_queue_url)).with_holds(Holds {
            store: ctx.store().await?,
            campaign: campaign_queue_url.map(|u| CampaignQueue::new(sqs.clone(), u)),
            failover: failover_queue_url.map(|u| FailoverQueue::new(sqs.clone(), u)),
        });
    let mut done = Redriven::default();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&failure_queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .map_err(|e| {
                Failure::Infra(format!(
                    "reading {failure_queue_url}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        if received.messages().is_empty() {
            return json(done);
        }
        for message in received.messages() {
            let id = message.message_id().unwrap_or_default();
            let outcome = match FailedBatch::parse(message.body().unwrap_or_default()) {
                Ok(batch) => redrive(&streams, &relay, &batch).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(records) => {
                    done.batches += 1;
                    done.records += records;
                    if let Some(handle) = message.receipt_handle() {
                        sqs.delete_message()
                            .queue_url(&failure_queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .map_err(|e| {
                                Failure::Infra(format!(
                                    "deleting a redriven record: {}",
                                    aws_sdk_sqs::error::DisplayErrorContext(e)
                                ))
                            })?;
                    }
                }
                Err(error) => {
                    done.left.push(format!("{id}: {error}"));
                    // Left invisible for the visibility timeout, so this run does not loop on it.
                }
            }
        }
    }
}
