//! Work held back while its business is disabled or its campaign paused: parked in the table,
//! not sent, not lost, and queued again when the hold is lifted.
//!
//! | item   | pk               | sk                                    |
//! |--------|------------------|---------------------------------------|
//! | parked | `BIZ#{business}` | `PARKED#BUSINESS#{work}`              |
//! | parked | `BIZ#{business}` | `PARKED#CAMPAIGN#{campaign}#{work}`   |
//!
//! A worker that finds its hold (`dispatch` a disabled business or a paused campaign; the
//! campaign fan-out and the SMS failover a disabled business) parks the job it was given, the
//! body as it came and the queue it came from, and answers its queue "done": a job left to
//! retry would reach the dead-letter queue after `maxReceiveCount`. The park is one transaction
//! with a `ConditionCheck` that the hold still stands (the profile's `disabled`, the campaign's
//! `paused`), so it cannot land after the hold was lifted: a worker whose check fails finds the
//! hold gone and goes on. Lifting a hold is a change of the profile or the campaign item, which
//! the table's stream carries to `relay`; `relay` reads the hold's parked items (consistently:
//! every park committed before the lift is there) and queues each again, then deletes it.
//!
//! Parked items name their work (a message id, a campaign job), never a phone number or text,
//! and expire with the messages' retention.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use session_rules::Timestamp;
use session_rules::campaign::CampaignState;

use crate::attrs::{self, Item, n, s};
use crate::campaigns::{CampaignId, STATE};
use crate::cancelled::conditional;
use crate::{BusinessId, StoreError, keys};

/// What holds work back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The operator disabled the business (`vbmctl business disable`).
    Business,
    /// The business paused this campaign.
    Campaign(CampaignId),
}

impl Hold {
    fn prefix(&self) -> String {
        match self {
            Hold::Business => keys::parked_by_business(),
            Hold::Campaign(id) => keys::parked_by_campaign(id),
        }
    }
}

/// The queue a parked job goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkedQueue {
    /// `dispatch`'s outbound FIFO queue (the job's FIFO group kept).
    Outbound,
    /// The campaign fan-out queue.
    Campaign,
    /// The SMS failover queue.
    Failover,
}

impl ParkedQueue {
    pub fn as_str(self) -> &'static str {
        match self {
            ParkedQueue::Outbound => "outbound",
            ParkedQueue::Campaign => "campaign",
            ParkedQueue::Failover => "failover",
        }
    }

    fn parse(input: &str) -> Option<Self> {
        [
            ParkedQueue::Outbound,
            ParkedQueue::Campaign,
            ParkedQueue::Failover,
        ]
        .into_iter()
        .find(|q| q.as_str() == input)
    }
}

/// One parked job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    /// What it is (a message id, `{campaign}.chunk.{n}`): one parked item per work, however
    /// often its job is parked.
    pub work: String,
    pub queue: ParkedQueue,
    /// The queue message's body, as it came.
    pub body: String,
    /// The FIFO message group (outbound jobs).
    pub group: Option<String>,
    /// When it was parked: part of the de-duplication id of its return to a FIFO queue, which
    /// must differ from the first one's (SQS drops a repeat within five minutes).
    pub parked_at: Timestamp,
}

impl crate::Parking<'_> {
    /// Parks `job` under `hold`, if the hold still stands: `Ok(false)` when it was lifted
    /// meanwhile (the caller goes on with the work). See the module documentation.
    pub async fn park(
        &self,
        business: &BusinessId,
        hold: &Hold,
        job: &Parked,
    ) -> Result<bool, StoreError> {
        let pk = keys::business(business);
        let mut put = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(&pk))
            .item(keys::SK, s(format!("{}{}", hold.prefix(), job.work)))
            .item("parked_queue", s(job.queue.as_str()))
            .item("parked_body", s(&job.body))
            .item("parked_at", n(job.parked_at.as_millis()))
            .item(
                keys::EXPIRES_AT,
                n(job.parked_at.plus(self.retention.messages).as_secs()),
            );
        if let Some(group) = &job.group {
            put = put.item("parked_group", s(group));
        }
        let check = match hold {
            Hold::Business => ConditionCheck::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&pk))
                .key(keys::SK, s(keys::PROFILE))
                .condition_expression("disabled = :yes")
                .expression_attribute_values(":yes", AttributeValue::Bool(true)),
            Hold::Campaign(id) => ConditionCheck::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&pk))
                .key(keys::SK, s(keys::campaign(id)))
                .condition_expression(format!("{STATE} = :paused"))
                .expression_attribute_values(":paused", s(CampaignState::Paused.as_str())),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(StoreError::build)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(check.build().map_err(StoreError::build)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons()
                        .get(1)
                        .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(false)
                }
                _ => Err(StoreError::sdk(err)),
            },
        }
    }

    /// Every job parked under `hold`, oldest work first (strongly consistent: a park committed
    /// before the hold was lifted is there). Each comes with its sort key, for
    /// [`Parking::unpark`](crate::Parking::unpark).
    pub async fn parked(
        &self,
        business: &BusinessId,
        hold: &Hold,
    ) -> Result<Vec<(String, Parked)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::business(business)))
            .expression_attribute_values(":prefix", s(hold.prefix()));
        let prefix = hold.prefix();
        attrs::query_all(query)
            .await?
            .iter()
            .map(|item| parse(item, &prefix))
            .collect()
    }

    /// Deletes parked items whose jobs were queued again: each only as it was read (its
    /// `parked_at`), so a job parked anew meanwhile (its hold back, its work met it again)
    /// stays parked for the next lift.
    pub async fn unpark(
        &self,
        business: &BusinessId,
        read: &[(String, Timestamp)],
    ) -> Result<(), StoreError> {
        for (sk, parked_at) in read {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(keys::PK, s(keys::business(business)))
                .key(keys::SK, s(sk))
                .condition_expression("parked_at = :at")
                .expression_attribute_values(":at", n(parked_at.as_millis()))
                .send()
                .await;
            conditional(deleted)?;
        }
        Ok(())
    }
}

impl crate::Campaigns<'_> {
    /// A campaign's state alone (strongly consistent, one attribute): what `dispatch` checks
    /// before sending a campaign's message.
    pub async fn campaign_state(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> Result<Option<CampaignState>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::campaign(id)))
            .consistent_read(true)
            .projection_expression(STATE)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let state = attrs::get_s(item, STATE)?;
        CampaignState::parse(state)
            .map(Some)
            .ok_or_else(|| StoreError::malformed(id.as_str(), format!("unknown state {state}")))
    }
}

fn parse(item: &Item, prefix: &str) -> Result<(String, Parked), StoreError> {
    let sk = attrs::get_s(item, keys::SK)?;
    let queue = attrs::get_s(item, "parked_queue")?;
    Ok((
        sk.to_owned(),
        Parked {
            work: sk.strip_prefix(prefix).unwrap_or(sk).to_owned(),
            queue: ParkedQueue::parse(queue)
                .ok_or_else(|| StoreError::malformed(sk, format!("unknown queue {queue}")))?,
            body: attrs::get_s(item, "parked_body")?.to_owned(),
            group: attrs::opt_s(item, "parked_group")?.map(str::to_owned),
            parked_at: Timestamp::from_millis(attrs::get_n(item, "parked_at")?),
        },
    ))
}
