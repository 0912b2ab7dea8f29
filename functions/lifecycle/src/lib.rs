//! `lifecycle`: the session events a business building its own inbox needs when they
//! happen, not when its next send is refused: `session.opened`, `session.locked` (the fifth
//! consecutive message), `session.unlocked` (the user replied), `session.expiring` (a set time
//! before the end, and when few messages are left) and `session.closed` (expired or limit
//! reached), each with the session snapshot of `GET /v1/sessions/{phone}`.
//!
//! They are derived from committed state only, never from a best-effort call after a write:
//! - **the table's stream** (`NEW_AND_OLD_IMAGES`; this function's own event source mapping,
//!   filtered to conversation items' `INSERT`/`MODIFY`): each record's old and new conversation
//!   images give the transitions ([`transitions::between`], pure). When a session opens, two
//!   timers are set for it (`vbm_timers`, deterministic names: a repeat is `AlreadySet`);
//! - **the timers** (`SessionTimersQueue`): the conversation is read again and the event goes
//!   out only if the session is still the same one (same `started_at`) and still in that state.
//!
//! Every event's id is derived from the conversation, the session's anchor and the transition,
//! so a redelivered record or a timer fired twice makes the same event. Before queueing, the
//! delivery log is asked whether the event is already there; after queueing, it is logged
//! (`pending`). A function that dies between the two queues it again on the retry (the same id:
//! at least once, never lost); a redelivery after that queues nothing.
//!
//! The same stream and timers carry the messages that wait for the user's reply ([`held`]):
//! a held message's deadline timer, `message.held`, `message.released`, and the drop of
//! what an opted-out user's conversation holds.
//!
//! Failures: a stream record whose events or timers could not be queued is reported
//! (`batchItemFailures`) and retried from there, as `relay`'s; a timer record is retried by its
//! queue and dead-lettered after `MaxReceiveCount` (alarmed).

pub mod held;
pub mod transitions;

use std::sync::Arc;

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_rules::{PhoneNumber, Timestamp};
use sha2::{Digest, Sha256};
use thiserror::Error;
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_queue::batch_response;
use vbm_store::{BusinessId, QueuedRecord, Store, StoreError};
use vbm_timers::{Target, Timer, TimerError, Timers};

use crate::transitions::{Expiring, Found, Transition, Why};
use vbm_store::stream::{self, ConversationImage as Image};

/// The function could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Timer(#[from] TimerError),
    #[error("no AWS region configured")]
    Region,
}

/// Why a record is retried.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("not a session timer: {0}")]
    Poison(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("events queue: {0}")]
    Queue(String),
    #[error(transparent)]
    Timer(#[from] TimerError),
    #[error("the timer fired before the session's end")]
    Early,
}

/// Which of a session's two timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    Expiring,
    Closed,
}

/// What a session timer carries to `SessionTimersQueue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerBody {
    pub business_id: String,
    pub phone: String,
    /// The session's `started_at`, epoch ms: which session the timer is for.
    pub anchor: i64,
    pub kind: TimerKind,
}

/// A session timer's name: stable per business, user, session and kind, so setting it again is
/// `AlreadySet` (Scheduler's names are `[0-9A-Za-z_.-]{1,64}`).
pub fn timer_name(
    business: &BusinessId,
    phone: &PhoneNumber,
    anchor: Timestamp,
    kind: TimerKind,
) -> String {
    let digest = Sha256::digest(format!(
        "{}\n{}\n{}",
        business.as_str(),
        phone.as_e164(),
        anchor.as_millis()
    ));
    let kind = match kind {
        TimerKind::Expiring => "expiring",
        TimerKind::Closed => "closed",
    };
    format!("session-{}-{kind}", hex::encode(&digest[..16]))
}

/// The event for a transition: its id from the business, the user, the session's anchor and
/// the transition only.
pub fn event(
    business: &BusinessId,
    phone: &PhoneNumber,
    found: &Found,
    limits: &session_rules::Limits,
) -> Event {
    let kind = match found.transition {
        Transition::Opened => EventKind::SessionOpened,
        Transition::Locked { .. } => EventKind::SessionLocked,
        Transition::Unlocked { .. } => EventKind::SessionUnlocked,
        Transition::Expiring(_) => EventKind::SessionExpiring,
        Transition::Closed(_) => EventKind::SessionClosed,
    };
    let mut data = json!({
        "phone": phone.as_e164(),
        "session": vbm_events::SessionView::of(&found.conversation, found.at, limits),
    });
    if let Some(reason) = found.transition.reason() {
        data["reason"] = Value::from(reason);
    }
    Event::new(
        kind,
        business.as_str(),
        &format!(
            "{}/{}/{}",
            phone.as_e164(),
            found.anchor.as_millis(),
            found.transition.subject()
        ),
        found.at,
        data,
    )
}

/// What one container keeps.
pub struct App {
    store: Store,
    events: EventsQueue,
    timers: Timers,
    target: Target,
    clock: Arc<dyn Clock>,
    expiring: Expiring,
}

impl App {
    pub fn new(
        store: Store,
        events: EventsQueue,
        timers: Timers,
        target: Target,
        clock: Arc<dyn Clock>,
        expiring: Expiring,
    ) -> Self {
        Self {
            store,
            events,
            timers,
            target,
            clock,
            expiring,
        }
    }

    /// Reads `VBM_TABLE`, the session limits, `EVENTS_QUEUE_URL`, `SESSION_TIMERS_QUEUE_URL`,
    /// `TIMERS_GROUP`, `TIMERS_ROLE_ARN` and `SESSION_EXPIRING_*`, and builds the clients once.
    pub async fn from_env() -> Result<Self, StartError> {
        let config = Config::from_env();
        let sdk = vbm_platform::aws::sdk_config().await;
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let region = sdk.region().ok_or(StartError::Region)?.to_string();
        let target = Target::queue(&config.session_timers_queue_url()?, &region)?;
        let timers = Timers::new(
            aws_sdk_scheduler::Client::new(&sdk),
            sqs.clone(),
            config.timers_group()?,
            config.timers_role_arn()?,
        );
        Ok(Self::new(
            store,
            EventsQueue::new(sqs, config.events_queue_url()?),
            timers,
            target,
            Arc::new(SystemClock),
            Expiring {
                before: config.session_expiring_before()?,
                messages_left: config.session_expiring_messages_left()?,
            },
        ))
    }

    /// One batch of the table's stream, in order; a failure names the first record to retry
    /// (and so every record after it).
    pub async fn handle_stream(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            if let Err(error) = self.stream_record(record).await {
                tracing::error!(
                    %error,
                    sequence_number = record.change.sequence_number.as_deref(),
                    "session events not queued; the stream retries from this record"
                );
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                break;
            }
        }
        response
    }

    async fn stream_record(
        &self,
        record: &aws_lambda_events::dynamodb::EventRecord,
    ) -> Result<(), RecordError> {
        if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
            return Ok(());
        }
        if let Some(new) = stream::held(&record.change.keys, &record.change.new_image) {
            return self.held_record(record, &new).await;
        }
        let Some((business, phone)) = stream::conversation_keys(&record.change.keys) else {
            return Ok(());
        };
        let old = match stream::conversation(&record.change.old_image) {
            Image::Erasing => return Ok(()),
            Image::Absent => None,
            Image::Conversation(c, _) => Some(c),
        };
        let (new, written) = match stream::conversation(&record.change.new_image) {
            Image::Conversation(c, at) => (c, at),
            Image::Absent | Image::Erasing => return Ok(()),
        };
        let at = written.unwrap_or_else(|| {
            Timestamp::from_millis(
                record
                    .change
                    .approximate_creation_date_time
                    .timestamp_millis(),
            )
        });
        let limits = self.store.limits();
        let found = transitions::between(old.as_ref(), &new, at, limits, &self.expiring);
        for f in &found {
            self.emit(&business, &phone, f).await?;
            if f.transition == Transition::Opened {
                self.set_timers(&business, &phone, f.anchor).await?;
            }
        }
        // The user opted out: what the conversation holds for their reply can never go.
        if new.opted_out
            && !old.is_some_and(|o| o.opted_out)
            && stream::holds(&record.change.new_image)
        {
            self.store
                .messages()
                .drop_held(
                    &business,
                    &phone,
                    session_rules::Refusal::RecipientOptedOut,
                    self.clock.now(),
                )
                .await?;
        }
        Ok(())
    }

    /// A held message's record: its creation sets its deadline timer; each step is told.
    async fn held_record(
        &self,
        record: &aws_lambda_events::dynamodb::EventRecord,
        new: &stream::HeldImage,
    ) -> Result<(), RecordError> {
        let old = stream::held(&record.change.keys, &record.change.old_image);
        let at = Timestamp::from_millis(
            record
                .change
                .approximate_creation_date_time
                .timestamp_millis(),
        );
        let Ok(phone) = PhoneNumber::parse(&new.to) else {
            return Ok(());
        };
        if old.is_none() && new.state == session_rules::HeldState::Held {
            let body = serde_json::to_string(&held::HeldTimerBody {
                business_id: new.business.as_str().to_owned(),
                held_message_id: new.id.as_str().to_owned(),
            })
            .map_err(|e| RecordError::Poison(e.to_string()))?;
            let name = held::timer_name(&new.business, &new.id);
            self.timers
                .set(
                    &Timer {
                        name: &name,
                        at: new.until,
                        target: &self.target,
                        body: &body,
                    },
                    self.clock.now(),
                )
                .await?;
        }
        for event in held::events(old.as_ref(), new, at) {
            self.publish_once(&new.business, &phone, &event, at).await?;
        }
        // A campaign's held recipient moved: the campaign may be complete now (its chunks all
        // finished and nobody else held). A redelivered record completes nothing twice; the
        // event is queued again (same id) until it is recorded as announced.
        if let Some(campaign) = &new.campaign
            && new.state != session_rules::HeldState::Held
        {
            self.complete_campaign(&new.business, campaign).await?;
        }
        Ok(())
    }

    /// The campaign becomes `completed` if it is done; its `campaign.completed` event follows,
    /// as the fan-out queues it.
    async fn complete_campaign(
        &self,
        business: &BusinessId,
        campaign: &vbm_store::CampaignId,
    ) -> Result<(), RecordError> {
        let now = self.clock.now();
        let Some(done) = self
            .store
            .campaigns()
            .complete_campaign(business, campaign, now)
            .await?
        else {
            return Ok(());
        };
        let event = vbm_outbound::campaign_view::completed_event(&done, now)
            .map_err(|e| RecordError::Poison(e.to_string()))?;
        self.events
            .publish(&event)
            .await
            .map_err(|e| RecordError::Queue(e.to_string()))?;
        self.store
            .campaigns()
            .campaign_announced(&done.business, &done.id, now)
            .await?;
        Ok(())
    }

    /// Queues the event of `found` unless the log already holds it, then logs it.
    async fn emit(
        &self,
        business: &BusinessId,
        phone: &PhoneNumber,
        found: &Found,
    ) -> Result<(), RecordError> {
        let event = event(business, phone, found, self.store.limits());
        self.publish_once(business, phone, &event, found.at).await
    }

    /// Queues `event` unless the log already holds it, then logs it.
    async fn publish_once(
        &self,
        business: &BusinessId,
        phone: &PhoneNumber,
        event: &Event,
        at: Timestamp,
    ) -> Result<(), RecordError> {
        if self
            .store
            .events()
            .event_logged(business, &event.event_id)
            .await?
        {
            tracing::info!(event_id = %event.event_id, "session event already queued");
            return Ok(());
        }
        self.events
            .publish(event)
            .await
            .map_err(|e| RecordError::Queue(e.to_string()))?;
        let body = serde_json::to_string(event).map_err(|e| RecordError::Queue(e.to_string()))?;
        self.store
            .events()
            .log_queued(
                &QueuedRecord {
                    business,
                    event_id: &event.event_id,
                    event_type: event.kind.as_str(),
                    created_at: at,
                    body: &body,
                    contact: Some(phone),
                },
                self.clock.now(),
            )
            .await?;
        tracing::info!(event_id = %event.event_id, event_type = event.kind.as_str(), "session event queued");
        Ok(())
    }

    async fn set_timers(
        &self,
        business: &BusinessId,
        phone: &PhoneNumber,
        anchor: Timestamp,
    ) -> Result<(), RecordError> {
        let limits = self.store.limits();
        let end = anchor.plus(limits.session_duration);
        let mut timers = vec![(TimerKind::Closed, end)];
        if !self.expiring.before.is_zero() && self.expiring.before < limits.session_duration {
            timers.push((TimerKind::Expiring, end.minus(self.expiring.before)));
        }
        for (kind, at) in timers {
            let body = serde_json::to_string(&TimerBody {
                business_id: business.as_str().to_owned(),
                phone: phone.as_e164().to_owned(),
                anchor: anchor.as_millis(),
                kind,
            })
            .map_err(|e| RecordError::Poison(e.to_string()))?;
            let name = timer_name(business, phone, anchor, kind);
            self.timers
                .set(
                    &Timer {
                        name: &name,
                        at,
                        target: &self.target,
                        body: &body,
                    },
                    self.clock.now(),
                )
                .await?;
        }
        Ok(())
    }

    /// One batch of fired session timers, concurrently; the answer lists the records to retry.
    pub async fn handle_timers(&self, event: SqsEvent) -> SqsBatchResponse {
        let results =
            futures_util::future::join_all(event.records.iter().map(|record| async move {
                match self.timer_record(record).await {
                    Ok(outcome) => {
                        tracing::info!(outcome, "session timer handled");
                        None
                    }
                    Err(error) => {
                        tracing::warn!(%error, "session timer retried");
                        record.message_id.clone()
                    }
                }
            }))
            .await;
        batch_response(results.into_iter().flatten())
    }

    /// Emits the timer's event if its session is still the same one and still in that state.
    pub async fn timer_record(&self, record: &SqsMessage) -> Result<&'static str, RecordError> {
        let text = record.body.as_deref().unwrap_or_default();
        if let Ok(held) = serde_json::from_str::<held::HeldTimerBody>(text) {
            return self.held_deadline(&held).await;
        }
        let body: TimerBody =
            serde_json::from_str(text).map_err(|e| RecordError::Poison(e.to_string()))?;
        let business = BusinessId::parse(&body.business_id).map_err(RecordError::Poison)?;
        let phone =
            PhoneNumber::parse(&body.phone).map_err(|e| RecordError::Poison(e.to_string()))?;
        let anchor = Timestamp::from_millis(body.anchor);
        let conversation = match self
            .store
            .conversations()
            .get_conversation(&business, &phone)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) | Err(StoreError::Erasing) => return Ok("no_conversation"),
            Err(e) => return Err(e.into()),
        };
        let limits = self.store.limits();
        let Some(session) = conversation.session.filter(|s| s.started_at == anchor) else {
            // Another session replaced it: the stream told its end when that one opened.
            return Ok("session_replaced");
        };
        if session.messages_sent >= limits.max_session_messages {
            // Its messages ended it, and `session.closed` said so then.
            return Ok("closed_by_limit");
        }
        let end = session.expires_at(limits);
        let now = self.clock.now();
        let found = match body.kind {
            TimerKind::Expiring if now >= end => return Ok("already_ended"),
            TimerKind::Expiring => Found {
                transition: Transition::Expiring(Why::Time),
                anchor,
                conversation,
                at: end.minus(self.expiring.before),
            },
            TimerKind::Closed if now < end => return Err(RecordError::Early),
            TimerKind::Closed => Found {
                transition: Transition::Closed(Why::Time),
                anchor,
                conversation,
                at: end,
            },
        };
        self.emit(&business, &phone, &found).await?;
        Ok("emitted")
    }

    /// A held message's deadline: settled once (`Messages::settle_held`); its event follows from
    /// the stream. Fired early (never by Scheduler; a clock moved back): retried.
    async fn held_deadline(&self, body: &held::HeldTimerBody) -> Result<&'static str, RecordError> {
        let business = BusinessId::parse(&body.business_id).map_err(RecordError::Poison)?;
        let id = vbm_store::MessageId::parse(&body.held_message_id)
            .ok_or_else(|| RecordError::Poison(format!("message id {}", body.held_message_id)))?;
        let now = self.clock.now();
        let Some(held) = self.store.messages().get_held(&business, &id, now).await? else {
            return Ok("held_message_gone");
        };
        if held.state == session_rules::HeldState::Held && now < held.until {
            return Err(RecordError::Early);
        }
        match self.store.messages().settle_held(&business, &id, now).await {
            Ok(Some(settled)) if settled.moved_now => Ok(settled.state.as_str()),
            Ok(_) => Ok("already_settled"),
            Err(StoreError::Erasing) => Ok("erasing"),
            Err(e) => Err(e.into()),
        }
    }
}
