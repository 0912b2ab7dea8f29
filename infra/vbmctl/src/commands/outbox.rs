//! `vbmctl outbox redrive`: the stream batches the outbox's event source mapping gave up on, read
//! again from the stream and queued through `relay`'s own code.

use relay::Holds;
use relay::reader::redrive;
use vbm_queue::{CampaignQueue, FailoverQueue, OutboundQueue};

use super::redrive::redrive_failures;
use super::{Context, sdk_config};
use crate::cli::OutboxCommand;
use crate::error::Failure;

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
    redrive_failures(&sqs, &failure_queue_url, async |batch| {
        redrive(&streams, &relay, batch).await
    })
    .await
}
