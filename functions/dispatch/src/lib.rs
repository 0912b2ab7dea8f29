//! `dispatch`: the outbound FIFO queue's consumer (docs/architecture.md). For every queued job it loads the
//! message, sends it to Viber once, records what Viber answered and queues the business events.
//!
//! One record, step by step ([`App::handle_record`]):
//! 1. the body is an [`OutboundJob`]; anything else is a failure (after `MaxReceiveCount`
//!    receives it lands in the dead-letter queue, where an alarm sees it);
//! 2. the message is loaded; gone (erased, past retention) → nothing to send;
//! 3. not `accepted` any more → handled on an earlier delivery: nothing is sent again, and its
//!    events are queued again (same ids) in case that delivery died before queueing them;
//! 4. a disabled business's message, or a paused campaign's, is parked (`vbm_store::Hold`): not
//!    sent, answered done to the queue, and queued again by `relay` when the hold is lifted; a
//!    cancelled campaign's message becomes `cancelled` and is never sent. The campaign's state
//!    is read once per batch (consistently), so a cancel stops sending within one batch;
//! 5. the Viber request is rebuilt from the stored payload ([`request`]) and sent;
//! 6. the answer ([`outcome`]) is counted in CloudWatch and recorded: `sent` with the `TOKEN`
//!    item, or `failed` with the conversation changes it implies (opt-out on 8; lock on 21,
//!    unless the user wrote since the message was admitted; the session slot given back);
//! 7. the events are queued ([`events`]);
//! 8. status callbacks that came before the token was recorded, kept by `status`, are applied
//!    ([`pending`]). A redelivered job whose message is already `sent` does this again, in case
//!    the delivery before died first.
//!
//! A record that fails (Viber unreachable or briefly refusing, the table or a queue unavailable)
//! is listed in the batch answer and its visibility timeout is backed off ([`retry`]). The
//! records of one conversation (FIFO message group) are handled in order, and after a failure
//! the group's later records in the batch are failed too without being tried, so a retry never
//! overtakes the message before it. Groups are handled concurrently.

pub mod events;
pub mod failover;
pub mod outcome;
// Viber's pace.
pub mod pace;
pub mod pending;
pub mod plan;
pub mod request;
pub mod retry;
mod viber_source;

pub use viber_source::ViberSource;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use session_rules::campaign::CampaignState;
use session_rules::{MessageStatus, OutboundMessage, PhoneNumber, Timestamp, predefined};
use thiserror::Error;
use tracing::{Instrument, field};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_platform::warm::Warmup;
use vbm_queue::batch::{self, receive_count};
use vbm_queue::{OutboundJob, QueueError, Retries, batch_response};
use vbm_store::{
    BusinessCache, BusinessId, CampaignId, Failure, Marked, MessageId, MessageRecord, Parked,
    ParkedQueue, Sent, Store, StoreError,
};
use viber::ClientBuildError;

use crate::events::Recorded;
use crate::outcome::Outcome;
use crate::plan::{ConversationChange, Write};
use crate::request::{Sender, Unsendable};

/// How long a business (its service id, whether it is disabled) is trusted from memory: a
/// `vbmctl business disable` stops sending within this.
const BUSINESS_TTL: Duration = Duration::from_secs(30);

/// The `failure.reason` of a campaign message stopped by its campaign's cancel.
pub const CAMPAIGN_CANCELLED: &str = "campaign_cancelled";

/// What to do with an accepted message before it is sent.
enum Go {
    Send,
    /// Its campaign was cancelled: `cancelled`, never sent.
    Cancel,
    /// Parked under a hold (disabled business, paused campaign): done for now.
    Parked,
}

/// The campaign states one batch has read: each campaign once per batch (consistently), so a
/// cancel answered before a batch begins stops every message of that batch.
#[derive(Default)]
struct BatchReads {
    campaigns: tokio::sync::Mutex<HashMap<String, Option<CampaignState>>>,
}

impl BatchReads {
    async fn campaign_state(
        &self,
        store: &Store,
        business: &BusinessId,
        campaign: &CampaignId,
        fresh: bool,
    ) -> Result<Option<CampaignState>, StoreError> {
        let mut known = self.campaigns.lock().await;
        if !fresh && let Some(state) = known.get(campaign.as_str()) {
            return Ok(*state);
        }
        let state = store.campaigns().campaign_state(business, campaign).await?;
        known.insert(campaign.as_str().to_owned(), state);
        Ok(state)
    }
}

/// How long what Viber answered is tried to be recorded before the record goes back to the
/// queue: callbacks that come before the token is on record are only kept, not applied, and a
/// redelivery can be minutes away when the queue is as unreachable as the table.
const RECORD_PATIENCE: Duration = Duration::from_secs(8);

/// The job in a record's body: its business and message ids, each recorded in the span as soon
/// as it is read; anything else is poison.
fn read_job(body: &str) -> Result<(OutboundJob, BusinessId, MessageId), RecordError> {
    let job: OutboundJob =
        serde_json::from_str(body).map_err(|e| RecordError::Poison(e.to_string()))?;
    let business = BusinessId::parse(&job.business_id).map_err(RecordError::Poison)?;
    let span = tracing::Span::current();
    span.record("business", business.as_str());
    let id = MessageId::parse(&job.message_id)
        .ok_or_else(|| RecordError::Poison(format!("bad message id {:?}", job.message_id)))?;
    span.record("message_id", id.as_str());
    Ok((job, business, id))
}

/// The function could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Viber(#[from] ClientBuildError),
    #[error("VIBER_API_TOKEN_SECRET_ID: {0}")]
    Secret(#[from] vbm_secrets::SecretError),
}

/// Why a record is handed back to the queue.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("not an outbound job: {0}")]
    Poison(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Viber: {0}")]
    Viber(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("an earlier message of this conversation failed in this batch")]
    AfterFailure,
    /// The business's pace is booked further ahead than a send may wait.
    #[error("the business's Viber pace is booked past {}s ahead", pace::HORIZON.as_secs())]
    Paced,
}

/// What one container keeps: clients, configuration, the business cache.
pub struct App {
    store: Store,
    viber: ViberSource,
    events: EventsQueue,
    retries: Retries,
    clock: Arc<dyn Clock>,
    businesses: BusinessCache,
    rates: pace::Rates,
    /// SMS failover: where failover jobs go; `None` when not deployed.
    failover: Option<vbm_queue::FailoverQueue>,
}

impl App {
    pub fn new(
        store: Store,
        viber: impl Into<ViberSource>,
        events: EventsQueue,
        sqs: aws_sdk_sqs::Client,
        outbound_url: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            viber: viber.into(),
            events,
            retries: Retries::new(sqs, outbound_url, retry::SCHEDULE),
            clock,
            businesses: BusinessCache::new(BUSINESS_TTL),
            rates: pace::Rates::default(),
            failover: None,
        }
    }

    /// Queues SMS failover jobs on `queue`.
    pub fn with_failover(mut self, queue: vbm_queue::FailoverQueue) -> Self {
        self.failover = Some(queue);
        self
    }

    /// Reads `VBM_TABLE`, `OUTBOUND_QUEUE_URL`, `EVENTS_QUEUE_URL`, `VIBER_API_URL`,
    /// `VIBER_TIMEOUT_SECONDS`, the session limits and `RETENTION_DAYS`, builds the clients
    /// once, and reads the API token from `VIBER_API_TOKEN_SECRET_ID` when set
    /// ([`ViberSource`]).
    pub async fn from_env() -> Result<Self, StartError> {
        let config = Config::from_env();
        let sdk = vbm_platform::aws::sdk_config().await;
        let viber = ViberSource::from_config(&config, &sdk).await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        let events_url = config.events_queue_url()?;
        Warmup::new()
            .step("dynamodb", store.warm_up())
            .queue(&sqs, &events_url)
            .phone_numbers()
            .run_if_enabled(&config)
            .await?;
        let events = EventsQueue::new(sqs.clone(), events_url);
        let failover = vbm_queue::FailoverQueue::new(sqs.clone(), config.failover_queue_url()?);
        Ok(Self::new(
            store,
            viber,
            events,
            sqs.clone(),
            config.outbound_queue_url()?,
            Arc::new(SystemClock),
        )
        .with_failover(failover))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one batch; the answer lists exactly the records to retry.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        // FIFO message groups, in the order their first record appears; a record without a
        // group (not from a FIFO queue) is a group of its own.
        let mut groups: Vec<Vec<&SqsMessage>> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for record in &event.records {
            match record.attributes.get("MessageGroupId") {
                Some(group) => match index.get(group.as_str()) {
                    Some(&i) => groups[i].push(record),
                    None => {
                        index.insert(group, groups.len());
                        groups.push(vec![record]);
                    }
                },
                None => groups.push(vec![record]),
            }
        }
        let reads = BatchReads::default();
        let reads = &reads;
        let failed = futures_util::future::join_all(groups.into_iter().map(|group| async move {
            let mut failed = Vec::new();
            for record in group {
                let result = if failed.is_empty() {
                    self.handle_in(record, reads).await
                } else {
                    Err(RecordError::AfterFailure)
                };
                if result.is_err() {
                    failed.push(self.retries.fail(record).await);
                }
            }
            failed
        }))
        .await;
        batch_response(failed.into_iter().flatten())
    }

    /// Handles one record in its own span (queue message id, business, message id, outcome).
    /// `Ok` names the outcome; `Err` means the record goes back to the queue.
    pub async fn handle_record(&self, record: &SqsMessage) -> Result<&'static str, RecordError> {
        self.handle_in(record, &BatchReads::default()).await
    }

    async fn handle_in(
        &self,
        record: &SqsMessage,
        reads: &BatchReads,
    ) -> Result<&'static str, RecordError> {
        let span = tracing::info_span!(
            "dispatch",
            sqs_message_id = record.message_id.as_deref().unwrap_or_default(),
            receive_count = receive_count(record),
            business = field::Empty,
            message_id = field::Empty,
            outcome = field::Empty,
        );
        async {
            let result = self.dispatch(record, reads).await;
            tracing::Span::current().record("outcome", batch::outcome(&result));
            match &result {
                Ok(_) => tracing::info!("dispatched"),
                Err(error @ RecordError::AfterFailure) => tracing::info!(%error, "not tried"),
                Err(error @ RecordError::Paced) => tracing::info!(%error, "paced: will retry"),
                Err(error @ RecordError::Viber(_)) => tracing::warn!(%error, "will retry"),
                Err(error) => tracing::error!(%error, "will retry"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        record: &SqsMessage,
        reads: &BatchReads,
    ) -> Result<&'static str, RecordError> {
        let body = record.body.as_deref().unwrap_or_default();
        let (job, business, id) = read_job(body)?;
        let now = self.clock.now();
        let Some(message) = self
            .store
            .messages()
            .get_message(&business, &id, now)
            .await?
        else {
            return Ok("gone");
        };
        if message.track.current != MessageStatus::Accepted {
            // Sent (or failed) on an earlier delivery: never again. Its events may not have
            // been queued before that delivery died; the same ids make a repeat harmless.
            self.publish_recorded(&message, now).await?;
            return Ok("already_handled");
        }
        let to = PhoneNumber::parse(&message.to).map_err(|e| StoreError::Malformed {
            key: vbm_store::keys::message(&id),
            reason: format!("to: {e}"),
        })?;
        let parked = Parked {
            work: id.as_str().to_owned(),
            queue: ParkedQueue::Outbound,
            body: body.to_owned(),
            group: Some(job.conversation.clone()),
            parked_at: now,
        };
        match self.go(&message, &parked, reads).await? {
            Go::Send => {}
            Go::Parked => return Ok("parked"),
            Go::Cancel => return self.record_cancelled(&message, &to, now).await,
        }
        let viber_request = match self.viber_request(&message, now).await? {
            Ok(request) => request,
            Err(Unsendable(reason)) => {
                let failure = Failure { code: None, reason };
                tracing::warn!(reason = %failure.reason, "message cannot be sent");
                return self
                    .record_failure(&message, &to, &failure, now, true, "unsendable")
                    .await;
            }
        };
        let (outcome, sent_at) = self.send(&business, &message, &viber_request, now).await?;
        self.record(&message, &to, outcome, sent_at).await
    }

    /// Waits for this send's slot on Viber's pace (per service id), sends once and counts the
    /// answer; what Viber answered is recorded at the time it was sent (returned with it).
    async fn send(
        &self,
        business: &BusinessId,
        message: &MessageRecord,
        viber_request: &viber::SendMessage,
        now: Timestamp,
    ) -> Result<(Outcome, Timestamp), RecordError> {
        let owner = self.businesses.get(&self.store, business).await?;
        let (service, service_kind) = plan::pacing(
            owner.as_ref().map(|o| &o.services),
            viber_request.service_id,
        );
        if !pace::wait_for_slot(&self.store, &self.rates, business, service, now).await? {
            return Err(RecordError::Paced);
        }
        let now = self.clock.now();
        let answer = self.viber.current().await.send_message(viber_request).await;
        outcome::count(&answer, service_kind);
        Ok((Outcome::from_answer(answer, request::is_otp(message)), now))
    }

    /// Carries out what the send's outcome writes ([`plan::Write`]); `Ok` names the outcome.
    async fn record(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        outcome: Outcome,
        now: Timestamp,
    ) -> Result<&'static str, RecordError> {
        let name = outcome.name();
        match Write::of(outcome) {
            Write::Sent {
                token,
                session_id,
                tokenless_earlier,
            } => {
                if tokenless_earlier {
                    tracing::warn!(
                        "Viber says an earlier attempt was sent but gave no token: \
                         recorded as sent without one; its status callbacks cannot be matched"
                    );
                }
                let sent = Sent {
                    token: token.as_deref(),
                    session_id: session_id.as_deref(),
                    at: now,
                };
                self.record_sent(message, to, sent, name).await
            }
            Write::Failed {
                failure,
                conversation,
                release_session_slot,
                misconfigured,
            } => {
                if let Some(change) = conversation {
                    self.change_conversation(message, to, change, now).await?;
                }
                if misconfigured {
                    // Every message fails the same way until an operator fixes the deployment.
                    metrics::viber_misconfigured();
                    tracing::error!(
                        code = ?failure.code,
                        reason = %failure.reason,
                        "Viber says this deployment is misconfigured (service id, source IP, billing or blocked service)"
                    );
                }
                self.record_failure(message, to, &failure, now, release_session_slot, name)
                    .await
            }
            Write::Retry(reason) => Err(RecordError::Viber(reason)),
        }
    }

    /// `sent` with its token, then the events, the failover's deadline job and the statuses
    /// kept for the token.
    async fn record_sent(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        sent: Sent<'_>,
        name: &'static str,
    ) -> Result<&'static str, RecordError> {
        let messages = self.store.messages();
        let marked = vbm_queue::patience::patiently(RECORD_PATIENCE, || {
            messages.mark_sent(message, to, sent)
        })
        .await?;
        if marked == Marked::AlreadyHandled {
            return self.republish(message, sent.at).await;
        }
        let now = sent.at;
        self.publish(&Recorded {
            message,
            status: MessageStatus::Sent,
            at: now,
            token: sent.token,
            failure: None,
        })
        .await?;
        self.queue_failover(message, MessageStatus::Sent, now, None, now)
            .await?;
        if let Some(token) = sent.token {
            let applied =
                pending::reconcile(&self.store, &self.events, message, token, now).await?;
            self.failover_after_pending(message, applied, now).await?;
        }
        Ok(name)
    }

    /// What a refusal changes in the conversation, before the message's `failed`.
    async fn change_conversation(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        change: ConversationChange,
        now: Timestamp,
    ) -> Result<(), RecordError> {
        match change {
            ConversationChange::OptOut => {
                let conversations = self.store.conversations();
                vbm_queue::patience::patiently(RECORD_PATIENCE, || {
                    conversations.change_conversation(&message.business, to, now, |c| c.opt_out())
                })
                .await?;
            }
            ConversationChange::LockForWait => {
                // Not if the user wrote after this message was admitted: that unlocked it.
                let conversations = self.store.conversations();
                let locked = vbm_queue::patience::patiently(RECORD_PATIENCE, || {
                    conversations.lock_for_wait(&message.business, to, message.created_at, now)
                })
                .await?;
                tracing::info!(locked, "Viber asked to wait for the user");
            }
        }
        Ok(())
    }

    /// Whether the message may go now: its campaign cancelled, or a hold (the business disabled,
    /// the campaign paused) under which it is parked. A park whose hold was lifted meanwhile
    /// (its condition failed) decides again on fresh reads, past every cache.
    async fn go(
        &self,
        message: &MessageRecord,
        parked: &Parked,
        reads: &BatchReads,
    ) -> Result<Go, RecordError> {
        for attempt in 0..3 {
            let fresh = attempt > 0;
            let campaign = match &message.campaign {
                Some(c) => Some((
                    c,
                    reads
                        .campaign_state(&self.store, &message.business, c, fresh)
                        .await?,
                )),
                None => None,
            };
            if let Some((_, Some(CampaignState::Cancelled))) = campaign {
                return Ok(Go::Cancel);
            }
            let business = if fresh {
                self.store
                    .businesses()
                    .get_business(&message.business)
                    .await?
            } else {
                self.businesses.get(&self.store, &message.business).await?
            };
            let Some(hold) = plan::hold(campaign, business.is_some_and(|b| b.disabled)) else {
                return Ok(Go::Send);
            };
            if self
                .store
                .parking()
                .park(&message.business, &hold, parked)
                .await?
            {
                tracing::info!(?hold, "parked until the hold is lifted");
                return Ok(Go::Parked);
            }
        }
        Err(StoreError::Contended.into())
    }

    /// `cancelled` (its campaign was cancelled before it went), then its `message.status` event.
    async fn record_cancelled(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        now: Timestamp,
    ) -> Result<&'static str, RecordError> {
        let messages = self.store.messages();
        let marked = vbm_queue::patience::patiently(RECORD_PATIENCE, || {
            messages.mark_cancelled(message, to, CAMPAIGN_CANCELLED, now)
        })
        .await?;
        match marked {
            Marked::Recorded => {
                let failure = Failure {
                    code: None,
                    reason: CAMPAIGN_CANCELLED.to_owned(),
                };
                self.publish(&Recorded {
                    message,
                    status: MessageStatus::Cancelled,
                    at: now,
                    token: None,
                    failure: Some(&failure),
                })
                .await?;
                Ok("cancelled")
            }
            Marked::AlreadyHandled => self.republish(message, now).await,
        }
    }

    /// The business's service id and (for templates) the template, then Viber's body.
    async fn viber_request(
        &self,
        message: &MessageRecord,
        now: Timestamp,
    ) -> Result<Result<viber::SendMessage, Unsendable>, RecordError> {
        let limits = self.store.limits();
        let request = match request::parse(message, limits) {
            Ok(request) => request,
            Err(unsendable) => return Ok(Err(unsendable)),
        };
        let Some(business) = self.businesses.get(&self.store, &message.business).await? else {
            return Ok(Err(Unsendable("business_not_found".into())));
        };
        let template = match &request.message {
            // Viber's predefined OTP templates, in the language the send asked for.
            OutboundMessage::Template { id, lang, .. } if predefined::find(id).is_some() => {
                match predefined::find(id).map(|p| p.template(lang.as_ref())) {
                    Some(Err(refusal)) => return Ok(Err(Unsendable(refusal.code().to_owned()))),
                    Some(Ok(template)) => Some(template),
                    None => None,
                }
            }
            OutboundMessage::Template { id, .. } => {
                self.store
                    .templates()
                    .get_template(&message.business, id)
                    .await?
            }
            _ => None,
        };
        let sender = Sender {
            // The service the message was routed to when it was accepted.
            service_id: message.service_id.unwrap_or_else(|| business.service_id()),
            template: template.as_ref(),
        };
        Ok(request::build(message, &request, &sender, limits, now))
    }

    /// `failed`, the slot given back when asked (session messages only), then the events.
    async fn record_failure(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        failure: &Failure,
        now: Timestamp,
        release_session_slot: bool,
        name: &'static str,
    ) -> Result<&'static str, RecordError> {
        let messages = self.store.messages();
        let marked = vbm_queue::patience::patiently(RECORD_PATIENCE, || {
            messages.mark_failed(message, to, failure, now, release_session_slot)
        })
        .await?;
        match marked {
            Marked::Recorded => {
                self.publish(&Recorded {
                    message,
                    status: MessageStatus::Failed,
                    at: now,
                    token: None,
                    failure: Some(failure),
                })
                .await?;
                self.queue_failover(message, MessageStatus::Failed, now, Some(failure), now)
                    .await?;
                Ok(name)
            }
            Marked::AlreadyHandled => self.republish(message, now).await,
        }
    }

    /// The message was recorded by someone else: another delivery of the job, or an earlier
    /// attempt of this write whose answer was lost. Its events are queued again from the record
    /// (same ids), since whoever recorded it may have died before queueing them.
    async fn republish(
        &self,
        message: &MessageRecord,
        now: Timestamp,
    ) -> Result<&'static str, RecordError> {
        let stored = self
            .store
            .messages()
            .get_message(&message.business, &message.id, now)
            .await?;
        if let Some(stored) = &stored {
            self.publish_recorded(stored, now).await?;
        }
        Ok("already_handled")
    }

    /// For a message recorded on an earlier delivery: its events again, and the statuses kept
    /// for its token, which that delivery may have died before applying.
    async fn publish_recorded(
        &self,
        message: &MessageRecord,
        now: Timestamp,
    ) -> Result<(), RecordError> {
        if let Some(recorded) = events::recorded(message) {
            self.publish(&recorded).await?;
            // The delivery that recorded it may have died before queueing its failover job.
            self.queue_failover(message, recorded.status, recorded.at, recorded.failure, now)
                .await?;
        }
        if let Some(token) = &message.viber_message_token {
            let applied =
                pending::reconcile(&self.store, &self.events, message, token, now).await?;
            self.failover_after_pending(message, applied, now).await?;
        }
        Ok(())
    }

    /// SMS failover: an `expired` kept before the token was known, applied here,
    /// starts the failover as it would have in `status`.
    async fn failover_after_pending(
        &self,
        message: &MessageRecord,
        applied: usize,
        now: Timestamp,
    ) -> Result<(), RecordError> {
        let trigger = session_rules::failover::Trigger::Expired;
        let fires = message.failover.as_ref().is_some_and(|f| f.fires(trigger));
        let (Some(queue), true, true) = (&self.failover, fires, applied > 0) else {
            return Ok(());
        };
        let Some(stored) = self
            .store
            .messages()
            .get_message(&message.business, &message.id, now)
            .await?
        else {
            return Ok(());
        };
        if stored.track.current == MessageStatus::Expired
            && stored.failover.as_ref().is_some_and(|f| f.fires(trigger))
        {
            let job = vbm_queue::FailoverJob {
                business_id: message.business.as_str().to_owned(),
                message_id: message.id.as_str().to_owned(),
                trigger: trigger.as_str().to_owned(),
            };
            queue.enqueue(&job, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// SMS failover: the job for what was recorded, if the message asks for one.
    async fn queue_failover(
        &self,
        message: &MessageRecord,
        status: MessageStatus,
        at: Timestamp,
        failure: Option<&Failure>,
        now: Timestamp,
    ) -> Result<(), RecordError> {
        let job = failover::job(message, status, at, failure, now);
        failover::queue(self.failover.as_ref(), job).await?;
        Ok(())
    }

    async fn publish(&self, recorded: &Recorded<'_>) -> Result<(), RecordError> {
        for event in events::events(recorded) {
            self.events.publish(&event).await?;
        }
        Ok(())
    }
}
