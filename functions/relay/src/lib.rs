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
//! **Holds lifted.** Work held back while its business was disabled or its campaign paused is
//! parked in the table (`vbm_store::Hold`). The change that lifts the hold comes down the same
//! stream: a business profile losing `disabled` (`vbmctl business enable`), a campaign item
//! leaving `paused` (resumed, or cancelled: its parked messages must become `cancelled`). For
//! those records ([`Entry::Released`]) the hold's parked jobs are read (consistently, so every
//! park committed before the lift is there), queued again on the queue each came from (an
//! outbound job in its FIFO group, with a de-duplication id of its own: SQS would drop a repeat
//! of the first one within five minutes), then deleted. A failure is retried from that record,
//! as a queue failure is; a job queued twice is harmless (each worker checks its work again).
//!
//! A message item that lacks what a job needs cannot be dispatched by anyone; it is logged and
//! counted (`RelaySkipped`), never retried forever in front of the messages behind it.

#[cfg(feature = "reader")]
pub mod reader;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_queue::{CampaignQueue, FailoverJob, FailoverQueue, OutboundJob, OutboundQueue};
use vbm_store::stream::{self, Inserted};
use vbm_store::{BusinessId, Hold, ParkedQueue, Store};

/// What one container keeps: the outbound queue client, and what lifting a hold needs.
pub struct App {
    outbound: OutboundQueue,
    holds: Option<Holds>,
}

/// The table and the other queues parked jobs go back to.
pub struct Holds {
    pub store: Store,
    pub campaign: Option<CampaignQueue>,
    pub failover: Option<FailoverQueue>,
}

/// A hold lifted on a business's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub business: BusinessId,
    pub hold: Hold,
}

/// What a stream record means to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A newly accepted message: its job.
    Accepted(OutboundJob),
    /// A hold was lifted: its parked jobs go back to their queues.
    Released(Release),
    /// Not the creation of a message: nothing to queue.
    Other,
    /// A message item without what a job needs (`why`).
    Malformed(&'static str),
}

/// Reads one stream record.
pub fn entry(record: &EventRecord) -> Entry {
    let change = &record.change;
    match record.event_name.as_str() {
        "MODIFY" => stream::lifted_hold(&change.keys, &change.old_image, &change.new_image)
            .map_or(Entry::Other, |(business, hold)| {
                Entry::Released(Release { business, hold })
            }),
        "INSERT" => match stream::inserted(&change.keys, &change.new_image) {
            Inserted::Message {
                business,
                message,
                to,
            } => Entry::Accepted(OutboundJob::new(&business, &message, &to)),
            Inserted::MalformedMessage(why) => Entry::Malformed(why),
            Inserted::Other => Entry::Other,
        },
        _ => Entry::Other,
    }
}

impl App {
    pub fn new(outbound: OutboundQueue) -> Self {
        Self {
            outbound,
            holds: None,
        }
    }

    /// Lifts holds: parked jobs are read from `holds.store` and queued again.
    pub fn with_holds(mut self, holds: Holds) -> Self {
        self.holds = Some(holds);
        self
    }

    /// Reads `OUTBOUND_QUEUE_URL`, `VBM_TABLE`, `CAMPAIGN_QUEUE_URL` and `FAILOVER_QUEUE_URL`,
    /// and builds the clients once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env();
        let url = config.outbound_queue_url()?;
        let sdk = vbm_platform::aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let store = Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        Ok(
            Self::new(OutboundQueue::new(sqs.clone(), url)).with_holds(Holds {
                store,
                campaign: Some(CampaignQueue::new(
                    sqs.clone(),
                    config.campaign_queue_url()?,
                )),
                failover: Some(FailoverQueue::new(sqs, config.failover_queue_url()?)),
            }),
        )
    }

    /// Handles one batch; a failure names the first record to be retried (and so every record
    /// after it). Message jobs go in runs, a lifted hold between two runs after the first.
    pub async fn handle_batch(&self, event: Event) -> DynamoDbEventResponse {
        let mut jobs = Vec::new();
        // For each job, the sequence number of its record.
        let mut positions = Vec::new();
        let mut response = DynamoDbEventResponse::default();
        let fail = |response: &mut DynamoDbEventResponse, position: &Option<String>| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = position.clone();
            response.batch_item_failures.push(failure);
        };
        for record in &event.records {
            match entry(record) {
                Entry::Accepted(job) => {
                    positions.push(record.change.sequence_number.clone());
                    jobs.push(job);
                }
                Entry::Released(release) => {
                    if let Err(first) = self.relay(&jobs).await {
                        fail(&mut response, &positions[first]);
                        return response;
                    }
                    jobs.clear();
                    positions.clear();
                    if let Err(error) = self.release(&release).await {
                        tracing::error!(
                            %error,
                            business = %release.business,
                            hold = ?release.hold,
                            "parked work could not be queued again; the stream retries"
                        );
                        fail(&mut response, &record.change.sequence_number);
                        return response;
                    }
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
        if let Err(first) = self.relay(&jobs).await {
            fail(&mut response, &positions[first]);
        }
        response
    }

    /// Queues `jobs`; on a failure, the index of the first that may not be queued.
    async fn relay(&self, jobs: &[OutboundJob]) -> Result<(), usize> {
        if jobs.is_empty() {
            return Ok(());
        }
        match self.outbound.enqueue_all(jobs).await {
            Ok(()) => {
                tracing::info!(queued = jobs.len(), "relayed");
                metrics::relayed(jobs.len());
                Ok(())
            }
            Err((first, error)) => {
                tracing::error!(
                    error = %error,
                    queued = first,
                    left = jobs.len() - first,
                    "outbound queue unavailable; the stream retries from the first job not queued"
                );
                Err(first)
            }
        }
    }

    /// Queues the jobs parked under a lifted hold again, then deletes their parked items.
    /// Returns how many went back.
    pub async fn release(&self, release: &Release) -> Result<usize, String> {
        // A relay built for the outbox alone (its own tests, `vbmctl outbox redrive`) leaves
        // the parked work where it is: in the table, for the next lift of the same hold.
        let Some(holds) = &self.holds else {
            tracing::warn!(business = %release.business, hold = ?release.hold, "a hold was lifted; this relay does not queue parked work");
            return Ok(0);
        };
        let parked = holds
            .store
            .parking()
            .parked(&release.business, &release.hold)
            .await
            .map_err(|e| e.to_string())?;
        if parked.is_empty() {
            return Ok(0);
        }
        let mut outbound = Vec::new();
        let mut campaign = Vec::new();
        for (_, job) in &parked {
            match job.queue {
                ParkedQueue::Outbound => {
                    let body: OutboundJob = match serde_json::from_str(&job.body) {
                        Ok(body) => body,
                        Err(e) => {
                            tracing::error!(work = %job.work, error = %e, "a parked outbound job that is not one");
                            continue;
                        }
                    };
                    let dedup = format!("{}-p{}", body.message_id, job.parked_at.as_millis());
                    outbound.push((body, dedup));
                }
                ParkedQueue::Campaign => campaign.push(job.body.clone()),
                ParkedQueue::Failover => {
                    let queue = holds
                        .failover
                        .as_ref()
                        .ok_or("a parked failover job, and no failover queue")?;
                    match serde_json::from_str::<FailoverJob>(&job.body) {
                        Ok(body) => queue
                            .enqueue(&body, std::time::Duration::ZERO)
                            .await
                            .map_err(|e| e.to_string())?,
                        Err(e) => {
                            tracing::error!(work = %job.work, error = %e, "a parked failover job that is not one")
                        }
                    }
                }
            }
        }
        self.outbound
            .enqueue_again(&outbound)
            .await
            .map_err(|e| e.to_string())?;
        if !campaign.is_empty() {
            holds
                .campaign
                .as_ref()
                .ok_or("a parked campaign job, and no campaign queue")?
                .enqueue_all(&campaign)
                .await
                .map_err(|e| e.to_string())?;
        }
        let read: Vec<_> = parked
            .iter()
            .map(|(sk, job)| (sk.clone(), job.parked_at))
            .collect();
        holds
            .store
            .parking()
            .unpark(&release.business, &read)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(business = %release.business, hold = ?release.hold, jobs = read.len(), "parked work queued again");
        Ok(read.len())
    }
}

#[cfg(test)]
mod tests {
    use serde_dynamo::AttributeValue;
    use vbm_store::CampaignId;

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

    fn modify(
        sk: &str,
        old: &[(&str, AttributeValue)],
        new: &[(&str, AttributeValue)],
    ) -> EventRecord {
        let mut record = record("MODIFY", sk, &[]);
        let image = |pairs: &[(&str, AttributeValue)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>()
                .into()
        };
        record.change.old_image = image(old);
        record.change.new_image = image(new);
        record
    }

    #[test]
    fn a_business_enabled_or_a_campaign_leaving_paused_releases_its_hold() {
        let yes = AttributeValue::Bool(true);
        let state = |s: &str| AttributeValue::S(s.to_owned());
        let business = BusinessId::parse("acme").unwrap();
        assert_eq!(
            entry(&modify("PROFILE", &[("disabled", yes.clone())], &[])),
            Entry::Released(Release {
                business: business.clone(),
                hold: Hold::Business
            })
        );
        // Disabled (or still disabled), or another change of the profile: nothing.
        assert_eq!(
            entry(&modify("PROFILE", &[], &[("disabled", yes.clone())])),
            Entry::Other
        );
        assert_eq!(
            entry(&modify(
                "PROFILE",
                &[("disabled", yes.clone())],
                &[("disabled", yes)]
            )),
            Entry::Other
        );
        let campaign = CampaignId::generate();
        let sk = vbm_store::keys::campaign(&campaign);
        for to in ["running", "scheduled", "cancelled"] {
            assert_eq!(
                entry(&modify(
                    &sk,
                    &[("campaign_state", state("paused"))],
                    &[("campaign_state", state(to))]
                )),
                Entry::Released(Release {
                    business: business.clone(),
                    hold: Hold::Campaign(campaign.clone())
                }),
                "{to}"
            );
        }
        assert_eq!(
            entry(&modify(
                &sk,
                &[("campaign_state", state("running"))],
                &[("campaign_state", state("paused"))]
            )),
            Entry::Other
        );
        assert_eq!(
            entry(&modify(
                "CCHUNK#x#00001",
                &[("campaign_state", state("paused"))],
                &[]
            )),
            Entry::Other
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
