//! Campaigns: one message for many recipients, in the one table.
//!
//! | item        | pk               | sk                          |
//! |-------------|------------------|-----------------------------|
//! | campaign    | `BIZ#{business}` | `CAMPAIGN#{campaign}`       |
//! | chunk       | `BIZ#{business}` | `CCHUNK#{campaign}#{n:05}`  |
//! | create key  | `BIZ#{business}` | `CIDEM#{Idempotency-Key}`   |
//! | count shard | `BIZ#{business}` | `CCOUNT#{campaign}#{shard}` (`campaign_counts`) |
//!
//! A campaign whose list was uploaded to S3 starts `preparing`, with no chunks: the fan-out
//! writes them from the object (`campaign_upload`), then makes it `scheduled` or `rejected`.
//!
//! The campaign item holds the state, the message (a send request without `to`, JSON), the
//! schedule and the counts by outcome (`count_queued`, `count_refused_{code}`: top-level numbers,
//! as DynamoDB's `ADD` wants). Recipients are stored [`CHUNK_SIZE`] to a chunk item: their list
//! (JSON) and one slot attribute per recipient (`s{i}`, absent while pending, then `queued` or
//! `refused:{code}`). A slot moves from absent to settled only in the transaction that admits or
//! refuses its recipient and adds to the counts (`campaign_admit`), so a recipient is counted
//! once and sent at most once whatever is redelivered.
//!
//! What a campaign's states, controls, windows and recipients are is decided in
//! `session_rules::campaign`; this module stores them.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use session_rules::Timestamp;
use session_rules::campaign::{
    self, CHUNK_SIZE, CampaignRecipient, CampaignState, Control, Transition, Window, chunk_count,
};
use sha2::{Digest, Sha256};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::conditional;
use crate::creation_key::{self, Earlier};
use crate::{BusinessId, IdempotencyKey, MessageId, Store, StoreError, keys};

crate::ids::ulid_id!(
    /// A campaign id: a ULID, like message ids.
    CampaignId
);

impl CampaignId {
    /// The message id of recipient `index` (0-based, in list order): derived, never drawn, so
    /// a redelivered chunk names the same message again and its `attribute_not_exists` put
    /// cannot make a second one. The campaign's time, then 80 bits of SHA-256(campaign, index).
    pub fn message_id(&self, index: usize) -> MessageId {
        let millis = ulid::Ulid::from_string(&self.0)
            .map(|u| u.timestamp_ms())
            .unwrap_or_default();
        let digest = Sha256::digest(format!("{}\n{index}", self.0));
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        let id = ulid::Ulid::from_parts(millis, u128::from_be_bytes(random));
        MessageId::parse(&id.to_string()).unwrap_or_else(MessageId::generate)
    }
}

/// A campaign to record: already validated by the API.
#[derive(Debug, Clone)]
pub struct NewCampaign<'a> {
    pub business: &'a BusinessId,
    pub id: CampaignId,
    pub name: Option<&'a str>,
    /// The message: a send request without `to` (JSON object).
    pub message: &'a str,
    /// Normalised (E.164) numbers with their parameters, in list order.
    pub recipients: &'a [CampaignRecipient],
    pub send_at: Option<Timestamp>,
    pub window: Option<Window>,
    /// The key and a hash of the canonical request body.
    pub idempotency: Option<(&'a IdempotencyKey, &'a str)>,
    pub now: Timestamp,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: CampaignId,
    pub business: BusinessId,
    pub name: Option<String>,
    pub state: CampaignState,
    pub message: String,
    pub recipients: u64,
    pub chunks: u32,
    pub chunks_done: u32,
    /// Settled recipients by outcome: `queued`, `refused_{code}`; and the queued ones by billing
    /// category, `billing_{category}` ([`Campaign::billing_counts`]).
    pub counts: BTreeMap<String, u64>,
    /// The queued ones by the status they stand at now (`sent`, `delivered`, `seen`, `expired`,
    /// `failed_{reason}`; `campaign_counts`), zeros left out; the rest are still `accepted`.
    pub statuses: BTreeMap<String, u64>,
    pub created_at: Timestamp,
    pub send_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub window: Option<Window>,
    /// Where the list came from when it was uploaded, and how far its preparation got.
    pub upload: Option<crate::campaign_upload::CampaignUpload>,
}

impl Campaign {
    /// Recipients admitted or refused so far.
    pub fn settled(&self) -> u64 {
        // The billing counts split `queued` again, and the held ones' moves split `held`: not
        // recipients of their own.
        self.counts
            .iter()
            .filter(|(name, _)| {
                !name.starts_with(BILLING_COUNT_PREFIX) && !name.starts_with(HELD_MOVE_PREFIX)
            })
            .map(|(_, count)| count)
            .sum()
    }

    /// What became of the recipients whose message was held (`wait_for_session`): `held` (all
    /// of them), and `held_released`, `held_fallback`, `held_expired`,
    /// `held_dropped_{reason}` as each moved.
    pub fn held_counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .iter()
            .filter(|(name, _)| *name == "held" || name.starts_with(HELD_MOVE_PREFIX))
            .map(|(name, count)| (name.clone(), *count))
            .collect()
    }

    /// Recipients whose message is still held: `held` minus the moves.
    pub fn still_held(&self) -> u64 {
        let held = self.counts.get("held").copied().unwrap_or(0);
        let moved: u64 = self
            .counts
            .iter()
            .filter(|(name, _)| name.starts_with(HELD_MOVE_PREFIX))
            .map(|(_, count)| count)
            .sum();
        held.saturating_sub(moved)
    }

    /// The admitted messages by billing category (`transactional_template`, `otp`,
    /// `promotional`), counted at admission; they add up to `queued`.
    pub fn billing_counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .iter()
            .filter_map(|(name, count)| {
                name.strip_prefix(BILLING_COUNT_PREFIX)
                    .map(|category| (category.to_owned(), *count))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(Campaign),
    /// The same key and body were recorded before: that campaign.
    Replayed(Campaign),
    /// The same key came with a different body.
    KeyReused,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ControlOutcome {
    Changed(Campaign),
    /// The campaign already was in the state asked for: nothing was written.
    Already(Campaign),
    /// The campaign is in a state the action does not apply to (e.g. resuming a completed one).
    Conflict(Campaign),
    NotFound,
}

/// Rounds of a control's read-decide-write before it gives up with [`StoreError::Contended`]
/// (each lost round means another writer changed the state: a handful of controls at once).
const CONTROL_ROUNDS: usize = 16;

/// What `action` does to the campaign as it was read ([`campaign::control_target`]).
fn control_target(action: Control, current: &Campaign) -> Transition {
    campaign::control_target(action, current.state, current.started_at.is_some())
}

pub(crate) const STATE: &str = "campaign_state";
pub(crate) const CHUNKS_DONE: &str = "chunks_done";
pub(crate) const COUNT_PREFIX: &str = "count_";
/// Among the counts, the admitted messages by billing category (`count_billing_otp`).
pub(crate) const BILLING_COUNT_PREFIX: &str = "billing_";
/// Among the counts, what became of held recipients (`count_held_released`, ...).
pub(crate) const HELD_MOVE_PREFIX: &str = "held_";
/// The campaign's recipients still held: `ADD`ed at admission, less one at each move, so a
/// completion can be conditioned on it (the counts alone are many attributes).
pub(crate) const HELD_OPEN: &str = "held_open";

/// A chunk item: `part` are recipients `chunk * CHUNK_SIZE ..` of the campaign.
pub(crate) fn chunk_item(
    pk: &str,
    id: &CampaignId,
    chunk: u32,
    part: &[CampaignRecipient],
    expires: i64,
) -> Result<Item, StoreError> {
    let list = serde_json::to_string(part)
        .map_err(|e| StoreError::malformed("campaign recipients", e.to_string()))?;
    Ok(Item::from([
        (keys::PK.to_owned(), s(pk)),
        (keys::SK.to_owned(), s(keys::campaign_chunk(id, chunk))),
        ("recipients_json".to_owned(), s(list)),
        ("recipients_count".to_owned(), n(part.len())),
        (keys::EXPIRES_AT.to_owned(), n(expires)),
    ]))
}

/// A chunk's slot attribute for recipient `slot` (0-based within the chunk).
pub(crate) fn slot_attr(slot: usize) -> String {
    format!("s{slot}")
}

/// How many tries a `BatchWriteItem` gets for the items DynamoDB hands back unprocessed.
const BATCH_ATTEMPTS: u32 = 8;

pub(crate) fn parse_campaign(item: &Item) -> Result<Campaign, StoreError> {
    let id = attrs::get_s(item, "campaign_id")?;
    let state = attrs::get_s(item, STATE)?;
    let mut counts = BTreeMap::new();
    for (name, value) in item {
        if let (Some(outcome), AttributeValue::N(v)) = (name.strip_prefix(COUNT_PREFIX), value) {
            let count: u64 = v
                .parse()
                .map_err(|_| StoreError::malformed(id, format!("{name} is not a count")))?;
            counts.insert(outcome.to_owned(), count);
        }
    }
    let at = |name: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(attrs::opt_n::<i64>(item, name)?.map(Timestamp::from_millis))
    };
    let window = match (
        attrs::opt_n::<u32>(item, "window_start")?,
        attrs::opt_n::<u32>(item, "window_end")?,
    ) {
        (Some(start_minute), Some(end_minute)) => Some(Window {
            start_minute,
            end_minute,
        }),
        _ => None,
    };
    Ok(Campaign {
        id: CampaignId::parse(id).ok_or_else(|| StoreError::malformed(id, "bad campaign id"))?,
        business: BusinessId::parse(attrs::get_s(item, "business_id")?)
            .map_err(|e| StoreError::malformed(id, e))?,
        name: attrs::opt_s(item, "campaign_name")?.map(str::to_owned),
        state: CampaignState::parse(state)
            .ok_or_else(|| StoreError::malformed(id, format!("unknown state {state}")))?,
        message: attrs::get_s(item, "message_json")?.to_owned(),
        recipients: attrs::get_n(item, "recipients_total")?,
        chunks: attrs::get_n(item, "chunks_total")?,
        chunks_done: attrs::opt_n(item, CHUNKS_DONE)?.unwrap_or(0),
        counts,
        statuses: BTreeMap::new(),
        created_at: Timestamp::from_millis(attrs::get_n(item, "created_at")?),
        send_at: at("send_at")?,
        started_at: at("started_at")?,
        finished_at: at("finished_at")?,
        window,
        upload: crate::campaign_upload::parse_upload(item)?,
    })
}

impl crate::Campaigns<'_> {
    /// Records a campaign and its recipients; nothing starts here (the caller queues the start
    /// job or sets its timer). The chunks are written first and the campaign item last, in one
    /// transaction with the key's record: a campaign exists only whole. Chunks of a write that
    /// lost a race for its key are left to their TTL, never referenced.
    pub async fn create_campaign(
        &self,
        new: &NewCampaign<'_>,
    ) -> Result<CreateOutcome, StoreError> {
        self.create(new, None).await
    }

    /// Records a campaign whose recipients are in an uploaded list (`new.recipients` is
    /// ignored): `preparing`, no chunks yet, the object's key and format kept for the fan-out.
    pub async fn create_campaign_from_upload(
        &self,
        new: &NewCampaign<'_>,
        upload: &crate::campaign_upload::NewUpload<'_>,
    ) -> Result<CreateOutcome, StoreError> {
        self.create(new, Some(upload)).await
    }

    async fn create(
        &self,
        new: &NewCampaign<'_>,
        upload: Option<&crate::campaign_upload::NewUpload<'_>>,
    ) -> Result<CreateOutcome, StoreError> {
        let recipients = if upload.is_some() {
            &[][..]
        } else {
            new.recipients
        };
        if let Some((key, hash)) = new.idempotency
            && let Some(earlier) = creation_key::CAMPAIGN
                .earlier(self, new.business, key, new.now)
                .await?
        {
            return self.replay(new.business, earlier, hash).await;
        }
        let pk = keys::business(new.business);
        let starts = new.send_at.unwrap_or(new.now).max(new.now);
        let expires = starts.plus(self.retention.messages).as_secs();
        let chunks = chunk_count(recipients.len());
        let mut writes = Vec::with_capacity(chunks as usize);
        for (index, part) in recipients.chunks(CHUNK_SIZE).enumerate() {
            let put = PutRequest::builder()
                .set_item(Some(chunk_item(&pk, &new.id, index as u32, part, expires)?))
                .build()
                .map_err(StoreError::build)?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        for batch in writes.chunks(25) {
            self.batch_write(batch.to_vec()).await?;
        }

        let mut campaign = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(&pk))
            .item(keys::SK, s(keys::campaign(&new.id)))
            .item("campaign_id", s(new.id.as_str()))
            .item("business_id", s(new.business.as_str()))
            .item(
                STATE,
                s(match upload {
                    Some(_) => CampaignState::Preparing.as_str(),
                    None => CampaignState::Scheduled.as_str(),
                }),
            )
            .item("message_json", s(new.message))
            .item("recipients_total", n(recipients.len()))
            .item("chunks_total", n(chunks))
            .item(CHUNKS_DONE, n(0))
            .item("created_at", n(new.now.as_millis()))
            .item(keys::EXPIRES_AT, n(expires))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(name) = new.name {
            campaign = campaign.item("campaign_name", s(name));
        }
        if let Some(upload) = upload {
            for (name, value) in crate::campaign_upload::upload_attrs(upload) {
                campaign = campaign.item(name, value);
            }
        }
        if let Some(at) = new.send_at {
            campaign = campaign.item("send_at", n(at.as_millis()));
        }
        if let Some(w) = new.window {
            campaign = campaign
                .item("window_start", n(w.start_minute))
                .item("window_end", n(w.end_minute));
        }
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(campaign.build().map_err(StoreError::build)?)
                .build(),
        );
        if let Some((key, hash)) = new.idempotency {
            let record = creation_key::CAMPAIGN.record(
                self,
                new.business,
                key,
                (new.id.as_str(), hash),
                new.now,
            )?;
            request = request.transact_items(TransactWriteItem::builder().put(record).build());
        }
        match request.send().await {
            Ok(_) => {}
            Err(err) => {
                let lost_race = match err.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .get(1)
                        .filter(|r| r.code() == Some("ConditionalCheckFailed"))
                        .and_then(|r| r.item())
                        .map(|item| creation_key::CAMPAIGN.earlier_from(item)),
                    _ => None,
                };
                return match (lost_race, new.idempotency) {
                    (Some(earlier), Some((_, hash))) => {
                        self.replay(new.business, earlier?, hash).await
                    }
                    _ => Err(StoreError::sdk(err)),
                };
            }
        }
        // Nothing of it has been admitted yet: no status to count.
        let created = self
            .get_campaign_item(new.business, &new.id)
            .await?
            .ok_or_else(|| StoreError::Conflict("the campaign just written is not there".into()))?;
        Ok(CreateOutcome::Created(created))
    }

    async fn replay(
        &self,
        business: &BusinessId,
        earlier: Earlier,
        hash: &str,
    ) -> Result<CreateOutcome, StoreError> {
        if earlier.request_hash != hash {
            return Ok(CreateOutcome::KeyReused);
        }
        let id = CampaignId::parse(&earlier.id)
            .ok_or_else(|| StoreError::malformed(&earlier.id, "bad campaign id"))?;
        match self.get_campaign(business, &id).await? {
            Some(c) => Ok(CreateOutcome::Replayed(c)),
            None => Err(StoreError::Conflict(format!(
                "campaign {id} of an idempotency record is gone"
            ))),
        }
    }

    /// `BatchWriteItem`, retrying what comes back unprocessed.
    async fn batch_write(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for attempt in 0..BATCH_ATTEMPTS {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(StoreError::sdk)?;
            requests = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        Err(StoreError::Unavailable(
            "BatchWriteItem kept returning unprocessed items".into(),
        ))
    }

    /// A campaign of `business` (strongly consistent), with its messages' status counts.
    pub async fn get_campaign(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> Result<Option<Campaign>, StoreError> {
        // The statuses first: every message they count was admitted before, so the campaign
        // read after counts it in `queued` too.
        let statuses = self.statuses(business, id).await?;
        let campaign = self.get_campaign_item(business, id).await?;
        Ok(campaign.map(|c| Campaign { statuses, ..c }))
    }

    /// The campaign item alone (strongly consistent), `statuses` left empty: what the fan-out
    /// needs, without the count shards' `Query`.
    pub async fn get_campaign_item(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> Result<Option<Campaign>, StoreError> {
        self.get_consistent(keys::business(business), keys::campaign(id), None)
            .await?
            .as_ref()
            .map(parse_campaign)
            .transpose()
    }

    /// The status counts as a view shows them: a negative sum (a bug: the moves never make
    /// one) is reported and shown as nothing.
    async fn statuses(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let counts = self.campaign_status_counts(business, id).await?;
        Ok(counts
            .into_iter()
            .filter_map(|(name, v)| match u64::try_from(v) {
                Ok(v) => Some((name, v)),
                Err(_) => {
                    tracing::error!(campaign = %id, count = %name, value = v, "negative campaign count");
                    None
                }
            })
            .collect())
    }

    /// `campaign` with its statuses read (`campaign_counts`).
    async fn with_statuses(&self, campaign: Campaign) -> Result<Campaign, StoreError> {
        let statuses = self.statuses(&campaign.business, &campaign.id).await?;
        Ok(Campaign {
            statuses,
            ..campaign
        })
    }

    /// The business's campaigns, newest first, `limit` at most, after `after` (a campaign id
    /// from the previous page). Also returns whether there may be more.
    pub async fn list_campaigns(
        &self,
        business: &BusinessId,
        limit: u32,
        after: Option<&CampaignId>,
    ) -> Result<(Vec<Campaign>, bool), StoreError> {
        let pk = keys::business(business);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(keys::CAMPAIGN_PREFIX))
            .scan_index_forward(false)
            .limit(limit as i32);
        if let Some(after) = after {
            query = query
                .exclusive_start_key(keys::PK, s(&pk))
                .exclusive_start_key(keys::SK, s(keys::campaign(after)));
        }
        let out = query.send().await.map_err(StoreError::sdk)?;
        let more = out.last_evaluated_key().is_some_and(|k| !k.is_empty());
        let mut campaigns = Vec::with_capacity(out.items().len());
        for item in out.items() {
            campaigns.push(self.with_statuses(parse_campaign(item)?).await?);
        }
        Ok((campaigns, more))
    }

    /// Pause (scheduled or running), resume (paused: back to running if it had started, else
    /// scheduled) or cancel (anything not finished), as one conditional update on the state it
    /// was read in. A lost condition (another control, the fan-out completing it) is read again
    /// and the action decided afresh on the state it meets, so a cancel racing a pause still
    /// cancels; the state asked for already is [`ControlOutcome::Already`]; a conflict is only a
    /// transition that cannot be made from there.
    pub async fn control_campaign(
        &self,
        business: &BusinessId,
        id: &CampaignId,
        action: Control,
        now: Timestamp,
    ) -> Result<ControlOutcome, StoreError> {
        let Some(mut current) = self.get_campaign_item(business, id).await? else {
            return Ok(ControlOutcome::NotFound);
        };
        for _ in 0..CONTROL_ROUNDS {
            let to = match control_target(action, &current) {
                Transition::To(to) => to,
                Transition::Already => {
                    return Ok(ControlOutcome::Already(self.with_statuses(current).await?));
                }
                Transition::Impossible => {
                    return Ok(ControlOutcome::Conflict(self.with_statuses(current).await?));
                }
            };
            let mut update = self
                .campaign_update(business, id)
                .condition_expression(format!("{STATE} = :from"))
                .expression_attribute_values(":from", s(current.state.as_str()))
                .expression_attribute_values(":to", s(to.as_str()))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            update = if to == CampaignState::Cancelled {
                update
                    .update_expression(format!("SET {STATE} = :to, finished_at = :now"))
                    .expression_attribute_values(":now", n(now.as_millis()))
            } else {
                update.update_expression(format!("SET {STATE} = :to"))
            };
            match update.send().await {
                Ok(out) => {
                    return Ok(ControlOutcome::Changed(
                        self.with_statuses(campaign_answered(&out)?).await?,
                    ));
                }
                Err(err) => match err.into_service_error() {
                    // Changed meanwhile: decide again on what it is now (the item it failed on).
                    UpdateItemError::ConditionalCheckFailedException(failed) => {
                        match failed.item() {
                            Some(item) => current = parse_campaign(item)?,
                            None => return Ok(ControlOutcome::NotFound),
                        }
                    }
                    other => {
                        return Err(StoreError::Unavailable(
                            aws_sdk_dynamodb::error::DisplayErrorContext(&other).to_string(),
                        ));
                    }
                },
            }
        }
        Err(StoreError::Contended)
    }

    /// A start job: a scheduled campaign becomes running (`started_at` set the first time);
    /// a running one stays so (a start redelivered, or a resume). `None` when it is paused,
    /// cancelled, completed or gone: the job has nothing to do.
    pub async fn start_campaign(
        &self,
        business: &BusinessId,
        id: &CampaignId,
        now: Timestamp,
    ) -> Result<Option<Campaign>, StoreError> {
        let out = self
            .campaign_update(business, id)
            .condition_expression(format!("{STATE} IN (:scheduled, :running)"))
            .update_expression(format!(
                "SET {STATE} = :running, started_at = if_not_exists(started_at, :now)"
            ))
            .expression_attribute_values(":scheduled", s(CampaignState::Scheduled.as_str()))
            .expression_attribute_values(":running", s(CampaignState::Running.as_str()))
            .expression_attribute_values(":now", n(now.as_millis()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        conditional(out)?
            .map(|out| campaign_answered(&out))
            .transpose()
    }

    /// After a chunk finished or a held recipient's message moved: the campaign becomes
    /// `completed` when every chunk has finished and no recipient is still held, and is
    /// returned while its `campaign.completed` event is still to be announced (so a job retried
    /// after completing but before the event was queued queues it again).
    pub async fn complete_campaign(
        &self,
        business: &BusinessId,
        id: &CampaignId,
        now: Timestamp,
    ) -> Result<Option<Campaign>, StoreError> {
        let out = self
            .campaign_update(business, id)
            .condition_expression(format!(
                "{CHUNKS_DONE} >= chunks_total \
                 AND (attribute_not_exists({HELD_OPEN}) OR {HELD_OPEN} <= :zero) \
                 AND ({STATE} = :running OR \
                 ({STATE} = :completed AND attribute_not_exists(announced_at)))"
            ))
            .expression_attribute_values(":zero", n(0))
            .update_expression(format!(
                "SET {STATE} = :completed, finished_at = if_not_exists(finished_at, :now)"
            ))
            .expression_attribute_values(":running", s(CampaignState::Running.as_str()))
            .expression_attribute_values(":completed", s(CampaignState::Completed.as_str()))
            .expression_attribute_values(":now", n(now.as_millis()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(out)? {
            Some(out) => Ok(Some(self.with_statuses(campaign_answered(&out)?).await?)),
            None => Ok(None),
        }
    }

    /// The `campaign.completed` event is queued: [`Campaigns::complete_campaign`](crate::Campaigns::complete_campaign) returns it no more.
    pub async fn campaign_announced(
        &self,
        business: &BusinessId,
        id: &CampaignId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.campaign_update(business, id)
            .update_expression("SET announced_at = if_not_exists(announced_at, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now.as_millis()))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }
}

impl Store {
    /// An `UpdateItem` of the campaign item, for the caller's condition and expression.
    pub(crate) fn campaign_update(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> UpdateItemFluentBuilder {
        self.update_business_item(business, keys::campaign(id))
    }
}

/// The campaign an update answered (`ReturnValues: ALL_NEW`).
pub(crate) fn campaign_answered(out: &UpdateItemOutput) -> Result<Campaign, StoreError> {
    parse_campaign(out.attributes().unwrap_or(&Item::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_derived_per_recipient() {
        let c = CampaignId::generate();
        assert_eq!(c.message_id(7), c.message_id(7));
        assert_ne!(c.message_id(7), c.message_id(8));
        assert_ne!(c.message_id(7), CampaignId::generate().message_id(7));
        assert_eq!(c.message_id(0).as_str().len(), 26);
    }
}
