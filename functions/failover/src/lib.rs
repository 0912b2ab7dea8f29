//! `failover`: the failover queue's consumer. When Viber cannot deliver a message
//! that carries a failover, the SMS goes instead, at most once.
//!
//! Two kinds of record come on the queue:
//! - **jobs** ([`FailoverJob`]) from the triggers: `dispatch` on Viber's 9 and 10 (and, delayed
//!   by the deadline, after `sent`), `status` on `expired`. For one job ([`App::handle_record`]):
//!   1. the message is loaded; gone, no failover, or this trigger off for it → done;
//!   2. not claimed yet: the business's SMS policy ([`SmsPolicy::check`]: destination, sender
//!      id, billed parts; the operator may have changed it since the send) and the claim
//!      ([`Messages::claim_failover`], one transaction: not delivered, not claimed, the user not
//!      opted out, the day's and month's SMS under the business's caps). Lost to a delivery or
//!      an opt-out → done, no SMS; refused by the policy or a cap → recorded `refused` with
//!      its reason ([`Messages::refuse_failover`]), its event queued, no SMS;
//!   3. claimed: this caller takes the next attempt ([`Messages::begin_failover_attempt`], a
//!      conditional write with a lease) and only then calls End User Messaging
//!      ([`sms::SmsSender`]); its answer is recorded (`sent` with the SMS id, back to `claimed`
//!      for a retry with back-off, or `failed` after [`App`]'s last attempt or a final refusal);
//!   4. another caller's attempt in flight → retried later; its lease run out without a record
//!      → `failed` (`outcome_unknown`), never sent again (no idempotency token: at most once);
//!   5. `sent`, `delivered`, `failed`, `refused`: the `message.failover` events again (same ids).
//! - **delivery receipts** ([`receipt::Receipt`]) from End User Messaging's event destination:
//!   `TEXT_DELIVERED` → `failover_delivered`, a final failure → `failover_failed`.
//!
//! A job of a business the operator disabled is parked (`vbm_store::Hold`), no SMS sent:
//! `relay` queues it again when the business is enabled.
//!
//! Every step is counted (`Failover` by `Trigger` and `Outcome`) and its `message.failover`
//! event queued. A record that fails is backed off ([`SCHEDULE`]) until the redrive policy
//! dead-letters it (alarmed).

pub mod events;
pub mod receipt;
pub mod sms;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use session_rules::failover::{FailoverState, Trigger};
use session_rules::sms::SmsAllowance;
use session_rules::sms::SmsPolicy;
use session_rules::{PhoneNumber, Timestamp};
use thiserror::Error;
use tracing::{Instrument, field};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_queue::batch::{self, receive_count};
use vbm_queue::{Backoff, FailoverJob, QueueError, Retries, batch_response};
use vbm_store::{
    AttemptEnd, BusinessCache, BusinessId, Claim, Hold, MessageId, MessageRecord, Parked,
    ParkedQueue, Store, StoreError,
};

use crate::receipt::{Receipt, Verdict};
use crate::sms::{Sms, SmsError, SmsSender};

/// Back-off of a failed record: 10 s, 40 s, 160 s, then 5 minutes.
pub const SCHEDULE: Backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));

/// How long an attempt is its caller's: longer than one provider call and its record (the
/// function's timeout, 30 s, is shorter), so a live attempt is never abandoned.
pub const LEASE: Duration = Duration::from_secs(60);

/// How long a container keeps a business (whether it is disabled, its SMS policy): an
/// operator's change (`vbmctl business disable`, `vbmctl business sms`) applies within this.
pub const BUSINESS_TTL: Duration = Duration::from_secs(30);

/// The function could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Why a record goes back to the queue.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("not a failover job or receipt: {0}")]
    Poison(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("SMS provider: {0}")]
    Provider(String),
    #[error("another attempt of this failover is in flight")]
    InFlight,
    #[error("a receipt for an SMS not recorded yet")]
    ReceiptEarly,
}

/// What one container keeps.
pub struct App {
    store: Store,
    sms: SmsSender,
    events: EventsQueue,
    retries: Retries,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
    businesses: BusinessCache,
}

impl App {
    pub fn new(
        store: Store,
        sms: SmsSender,
        events: EventsQueue,
        retries: Retries,
        clock: Arc<dyn Clock>,
        max_attempts: u32,
    ) -> Self {
        Self {
            store,
            sms,
            events,
            retries,
            clock,
            max_attempts: max_attempts.max(1),
            businesses: BusinessCache::new(BUSINESS_TTL),
        }
    }

    /// Reads `VBM_TABLE`, `FAILOVER_QUEUE_URL`, `EVENTS_QUEUE_URL`, `SMS_CONFIGURATION_SET`,
    /// `SMS_ORIGINATION_IDENTITY`, `SMS_MAX_ATTEMPTS` and
    /// `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2` (the local stand-in), and builds the clients.
    pub async fn from_env() -> Result<Self, StartError> {
        Self::from_config(&Config::from_env(), Arc::new(SystemClock)).await
    }

    pub async fn from_config(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let sdk = vbm_platform::aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        let queue_url = config.failover_queue_url()?;
        let sms = SmsSender::new(
            &sdk,
            config.sms_endpoint_url()?.as_deref(),
            config.sms_configuration_set()?,
            config.sms_origination_identity()?,
        );
        Ok(Self::new(
            store,
            sms,
            EventsQueue::new(sqs.clone(), config.events_queue_url()?),
            Retries::new(sqs, queue_url, SCHEDULE),
            clock,
            config.sms_max_attempts()?,
        ))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one batch, its records concurrently; the answer lists exactly the ones to retry.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let failed = futures_util::future::join_all(event.records.iter().map(|record| async {
            match self.handle_record(record).await {
                Ok(_) => None,
                Err(_) => Some(self.retries.fail(record).await),
            }
        }))
        .await;
        batch_response(failed.into_iter().flatten())
    }

    /// One record in its own span; `Ok` names the outcome, `Err` hands it back to the queue.
    pub async fn handle_record(&self, record: &SqsMessage) -> Result<&'static str, RecordError> {
        let span = tracing::info_span!(
            "failover",
            sqs_message_id = record.message_id.as_deref().unwrap_or_default(),
            receive_count = receive_count(record),
            business = field::Empty,
            message_id = field::Empty,
            trigger = field::Empty,
            outcome = field::Empty,
        );
        async {
            let result = self
                .handle_body(record.body.as_deref().unwrap_or_default())
                .await;
            tracing::Span::current().record("outcome", batch::outcome(&result));
            match &result {
                Ok(_) => tracing::info!("failover handled"),
                Err(error) => tracing::warn!(%error, "will retry"),
            }
            result
        }
        .instrument(span)
        .await
    }

    /// One record's body: a failover job or an SMS delivery receipt.
    pub async fn handle_body(&self, body: &str) -> Result<&'static str, RecordError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| RecordError::Poison(e.to_string()))?;
        if Receipt::is_receipt(&value) {
            let receipt: Receipt =
                serde_json::from_value(value).map_err(|e| RecordError::Poison(e.to_string()))?;
            return self.receipt(&receipt).await;
        }
        let job: FailoverJob =
            serde_json::from_value(value).map_err(|e| RecordError::Poison(e.to_string()))?;
        self.job(&job).await
    }

    async fn job(&self, job: &FailoverJob) -> Result<&'static str, RecordError> {
        let (business, id) = ids(&job.business_id, &job.message_id)?;
        let trigger = Trigger::parse(&job.trigger)
            .ok_or_else(|| RecordError::Poison(format!("unknown trigger {:?}", job.trigger)))?;
        tracing::Span::current().record("trigger", trigger.as_str());
        let now = self.clock.now();
        if self.park_if_disabled(&business, job, now).await? {
            return Ok("parked");
        }
        let Some(message) = self
            .store
            .messages()
            .get_message(&business, &id, now)
            .await?
        else {
            return Ok("gone");
        };
        let Some(failover) = &message.failover else {
            return Ok("no_failover");
        };
        if failover.state.is_none() {
            if !failover.spec.triggers.allows(trigger) {
                metrics::failover(trigger.as_str(), "trigger_off");
                return Ok("trigger_off");
            }
            let to = phone(&message)?;
            let policy = self.sms_policy(&business).await?;
            let sms = &failover.spec.sms;
            let length = match policy.check(&to, &sms.text, sms.sender_id.as_deref()) {
                Ok(length) => length,
                Err(refusal) => {
                    return self
                        .refuse(&business, &id, trigger, "refused", refusal.reason(), now)
                        .await;
                }
            };
            let allowance = SmsAllowance::of(&policy, length.parts);
            let skipped = match self
                .store
                .messages()
                .claim_failover(&business, &id, &to, trigger, &allowance, now)
                .await?
            {
                Claim::Claimed | Claim::Taken => None,
                Claim::Delivered => Some("after_delivered"),
                Claim::OptedOut => Some("opted_out"),
                Claim::NoFailover => Some("no_failover"),
                Claim::Gone => Some("gone"),
                Claim::Capped(period) => {
                    return self
                        .refuse(&business, &id, trigger, "capped", period.cap_reason(), now)
                        .await;
                }
            };
            if let Some(outcome) = skipped {
                metrics::failover(trigger.as_str(), outcome);
                return Ok(outcome);
            }
        }
        self.advance(&business, &id, trigger, now).await
    }

    /// The business's SMS policy, from this container's memory (at most [`BUSINESS_TTL`] old);
    /// the default for a business that is not stored.
    async fn sms_policy(&self, business: &BusinessId) -> Result<SmsPolicy, RecordError> {
        Ok(self
            .businesses
            .get(&self.store, business)
            .await?
            .map(|b| b.sms)
            .unwrap_or_default())
    }

    /// Records a failover the policy or a cap refuses (counted as `outcome`, `refused` or
    /// `capped`), and its event. A failover that moved meanwhile (claimed, refused, or the
    /// message delivered) goes on from where it stands.
    async fn refuse(
        &self,
        business: &BusinessId,
        id: &MessageId,
        trigger: Trigger,
        outcome: &'static str,
        reason: &str,
        now: Timestamp,
    ) -> Result<&'static str, RecordError> {
        if !self
            .store
            .messages()
            .refuse_failover(business, id, trigger, reason, now)
            .await?
        {
            return self.advance(business, id, trigger, now).await;
        }
        tracing::warn!(reason, "the SMS policy refused the failover");
        metrics::failover(trigger.as_str(), outcome);
        self.publish(business, id).await?;
        Ok("failover_refused")
    }

    /// A job of a disabled business is parked, no SMS sent, until the business is enabled
    /// (`relay` queues it again); `false` when the business is enabled (or was, by the time
    /// the park's condition was checked) and the job goes on.
    async fn park_if_disabled(
        &self,
        business: &BusinessId,
        job: &FailoverJob,
        now: Timestamp,
    ) -> Result<bool, RecordError> {
        if !self.businesses.is_disabled(&self.store, business).await? {
            return Ok(false);
        }
        let parked = Parked {
            work: format!("{}.failover.{}", job.message_id, job.trigger),
            queue: ParkedQueue::Failover,
            body: serde_json::to_string(job).map_err(|e| RecordError::Poison(e.to_string()))?,
            group: None,
            parked_at: now,
        };
        Ok(self
            .store
            .parking()
            .park(business, &Hold::Business, &parked)
            .await?)
    }

    /// Moves a claimed failover on from where the record says it stands.
    async fn advance(
        &self,
        business: &BusinessId,
        id: &MessageId,
        job_trigger: Trigger,
        now: Timestamp,
    ) -> Result<&'static str, RecordError> {
        let Some(message) = self.store.messages().get_message(business, id, now).await? else {
            return Ok("gone");
        };
        let Some(failover) = &message.failover else {
            return Ok("no_failover");
        };
        let trigger = failover.trigger.unwrap_or(job_trigger).as_str();
        match failover.state {
            None => Ok("not_claimed"),
            Some(FailoverState::Claimed) => {
                if !self
                    .store
                    .messages()
                    .begin_failover_attempt(business, id, failover.attempts, LEASE, now)
                    .await?
                {
                    // Another delivery of a job took this attempt: see its outcome later.
                    return Err(RecordError::InFlight);
                }
                let attempt = failover.attempts + 1;
                let to = phone(&message)?;
                let answer = self
                    .sms
                    .send(&Sms {
                        to: to.as_e164(),
                        text: &failover.spec.sms.text,
                        origination: failover.spec.sms.sender_id.as_deref(),
                        business_id: business.as_str(),
                        message_id: id.as_str(),
                    })
                    .await;
                let (end, outcome) = match &answer {
                    Ok(sms_id) => (AttemptEnd::Sent(sms_id), "sent"),
                    Err(SmsError::Retry(reason)) if attempt < self.max_attempts => {
                        (AttemptEnd::Retry(reason), "retried")
                    }
                    Err(SmsError::Retry(reason) | SmsError::Refused(reason)) => {
                        (AttemptEnd::Failed(reason), "failed")
                    }
                    Err(SmsError::Unknown(_)) => (AttemptEnd::Failed("outcome_unknown"), "failed"),
                };
                if let Err(error) = &answer {
                    tracing::warn!(attempt, ?error, "SMS provider did not take the SMS");
                }
                let recorded = self
                    .store
                    .messages()
                    .end_failover_attempt(business, id, attempt, end, self.clock.now())
                    .await?;
                if !recorded {
                    tracing::warn!(attempt, "the attempt was abandoned meanwhile");
                    return Ok("abandoned");
                }
                metrics::failover(trigger, outcome);
                if outcome == "retried" {
                    return Err(RecordError::Provider(format!("attempt {attempt} refused")));
                }
                self.publish(business, id).await?;
                Ok(if outcome == "sent" {
                    "failover_sent"
                } else {
                    "failover_failed"
                })
            }
            Some(FailoverState::Sending) => {
                let expired = failover.lease_until.is_none_or(|until| until < now);
                if !expired {
                    return Err(RecordError::InFlight);
                }
                if self
                    .store
                    .messages()
                    .abandon_failover_attempt(business, id, failover.attempts, now)
                    .await?
                {
                    metrics::failover(trigger, "failed");
                }
                self.publish(business, id).await?;
                Ok("failover_failed")
            }
            Some(
                FailoverState::Sent
                | FailoverState::Delivered
                | FailoverState::Failed
                | FailoverState::Refused,
            ) => {
                self.publish_from(&message).await?;
                Ok("already_handled")
            }
        }
    }

    async fn receipt(&self, receipt: &Receipt) -> Result<&'static str, RecordError> {
        let (business, id) = ids(&receipt.context.business_id, &receipt.context.message_id)?;
        tracing::Span::current().record("trigger", "receipt");
        let failure = match receipt.verdict() {
            Verdict::Progress => return Ok("receipt_progress"),
            Verdict::Delivered => None,
            Verdict::Failed(reason) => Some(reason),
        };
        let now = self.clock.now();
        let at = receipt.event_timestamp.map_or(now, Timestamp::from_millis);
        if self
            .store
            .messages()
            .record_failover_receipt(&business, &id, &receipt.message_id, failure.as_deref(), at)
            .await?
        {
            metrics::failover(
                "receipt",
                if failure.is_none() {
                    "delivered"
                } else {
                    "failed"
                },
            );
            self.publish(&business, &id).await?;
            return Ok("receipt_recorded");
        }
        let Some(message) = self
            .store
            .messages()
            .get_message(&business, &id, now)
            .await?
        else {
            return Ok("gone");
        };
        match message.failover.as_ref().and_then(|f| f.state) {
            // The provider's answer is not on record yet: come back for it.
            Some(FailoverState::Sending) => Err(RecordError::ReceiptEarly),
            _ => {
                self.publish_from(&message).await?;
                Ok("receipt_repeated")
            }
        }
    }

    /// The event of the step just recorded (the message's last failover step). A redelivery
    /// that finds the step recorded publishes them all again ([`App::publish_from`]).
    async fn publish(&self, business: &BusinessId, id: &MessageId) -> Result<(), RecordError> {
        if let Some(message) = self
            .store
            .messages()
            .get_message(business, id, self.clock.now())
            .await?
            && let Some(event) = events::events(&message).pop()
        {
            self.events.publish(&event).await?;
        }
        Ok(())
    }

    /// Every failover event of the message (ids from the message and step: repeats are
    /// de-duplicated by the business).
    async fn publish_from(&self, message: &MessageRecord) -> Result<(), RecordError> {
        for event in events::events(message) {
            self.events.publish(&event).await?;
        }
        Ok(())
    }
}

fn ids(business: &str, message: &str) -> Result<(BusinessId, MessageId), RecordError> {
    let business = BusinessId::parse(business).map_err(RecordError::Poison)?;
    let id = MessageId::parse(message)
        .ok_or_else(|| RecordError::Poison(format!("bad message id {message:?}")))?;
    let span = tracing::Span::current();
    span.record("business", business.as_str());
    span.record("message_id", id.as_str());
    Ok((business, id))
}

fn phone(message: &MessageRecord) -> Result<PhoneNumber, RecordError> {
    PhoneNumber::parse(&message.to).map_err(|e| {
        RecordError::Store(StoreError::Malformed {
            key: vbm_store::keys::message(&message.id),
            reason: format!("to: {e}"),
        })
    })
}
