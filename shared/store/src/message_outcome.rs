//! What `dispatch` records once Viber has answered: a message goes `accepted → sent` or
//! `accepted → failed`, exactly once.
//!
//! Both writes are conditional on `status = accepted`: a redelivered queue message, or two
//! containers racing on the same job, find the condition false and learn that the message was
//! already handled ([`Marked::AlreadyHandled`]), so nothing is recorded (or given back) twice.
//!
//! - [`Messages::mark_sent`](crate::Messages::mark_sent): one `TransactWriteItems` of the message (`SET status, status_rank,
//!   history = list_append(…), viber_message_token, viber_session_id`) and the `TOKEN` item that
//!   lets `status` find the message from Viber's `message_token` (an `Update`, so attributes a
//!   reconciling `status` may have put there survive).
//! - [`Messages::mark_failed`](crate::Messages::mark_failed): the message (`SET status, status_rank, failure_code,
//!   failure_reason, history = list_append(…)`), and for a refused session message, in the same
//!   transaction, its place in the session counters given back. Tying the give-back to the
//!   status change is what makes it happen once however often the job is delivered.
//! - A campaign's message also adds itself to its campaign's `sent` or
//!   `failed_{reason}` count (`campaign_counts`) in the same transaction: counted once, like
//!   the move.
//! - Every message also moves its status on the day's usage shard (`usage`), last in the
//!   same transaction.
//! - [`Conversations::lock_for_wait`](crate::Conversations::lock_for_wait): Viber's 21 locks the session, but only if the user has not
//!   written since the message was admitted (a condition on `last_user_message_at`, which
//!   every user message sets): a late 21 must not re-lock a session the user just unlocked.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use session_rules::{MessageStatus, PhoneNumber, StatusEvent, Timestamp};

use crate::attrs::{self, n, s};
use crate::campaign_counts::{self, CountMove};
use crate::conversation::{self, Cas, Expr};
use crate::message::history_value;
use crate::usage::{UsageMove, send_retrying};
use crate::{BusinessId, Failure, MessageRecord, StoreError, keys};

/// What a `mark_*` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The message moved out of `accepted` now.
    Recorded,
    /// It was not `accepted` any more (handled before, or erased): nothing was written.
    AlreadyHandled,
}

/// Viber's answer to a send that went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent<'a> {
    /// Viber's `message_token`; `None` only when Viber said "already sent" (12) without one, in
    /// which case no `TOKEN` item can be written and status callbacks will not find the message.
    pub token: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub at: Timestamp,
}

/// How the give-back of a session slot is tried, in order: both counters while the user has
/// not replied since (consecutive > 0), the total alone once they have.
const RELEASES: [(&str, &str); 2] = [
    (
        "SET messages_sent = messages_sent - :one, consecutive = consecutive - :one",
        "session_started_at = :st AND messages_sent > :zero AND consecutive > :zero",
    ),
    (
        "SET messages_sent = messages_sent - :one",
        "session_started_at = :st AND messages_sent > :zero",
    ),
];

/// The message's move from exactly `accepted` to `status` at `at` (status, rank, history):
/// what `sent` and every `failed` share; the caller adds its own attributes and the `SET`.
fn from_accepted(
    table: &str,
    message: &MessageRecord,
    status: MessageStatus,
    at: Timestamp,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    Update::builder()
        .table_name(table)
        .key(keys::PK, s(keys::business(&message.business)))
        .key(keys::SK, s(keys::message(&message.id)))
        .condition_expression("#st = :accepted")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":accepted", s(MessageStatus::Accepted.as_str()))
        .expression_attribute_values(":status", s(status.as_str()))
        .expression_attribute_values(":rank", n(status.rank()))
        .expression_attribute_values(":event", event(status, at))
}

impl crate::Messages<'_> {
    /// `accepted → sent`, with the `TOKEN` item when Viber gave a token. See the module docs.
    pub async fn mark_sent(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        sent: Sent<'_>,
    ) -> Result<Marked, StoreError> {
        let status = MessageStatus::Sent;
        let mut set = String::from(
            "SET #st = :status, status_rank = :rank, history = list_append(history, :event)",
        );
        let mut update = from_accepted(&self.table, message, status, sent.at);
        if let Some(token) = sent.token {
            set.push_str(", viber_message_token = :token");
            update = update.expression_attribute_values(":token", s(token));
        }
        if let Some(session_id) = sent.session_id {
            set.push_str(", viber_session_id = :session");
            update = update.expression_attribute_values(":session", s(session_id));
        }
        let update = update
            .update_expression(set)
            .build()
            .map_err(StoreError::build)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(token) = sent.token {
            let expires = message.created_at.plus(self.retention.messages).as_secs();
            let token_item = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::token(token)))
                .key(keys::SK, s(keys::TOKEN))
                .update_expression(
                    "SET business_id = :b, message_id = :m, phone = :p, \
                     gsi1pk = :g, gsi1sk = :gs, expires_at = :x",
                )
                .expression_attribute_values(":b", s(message.business.as_str()))
                .expression_attribute_values(":m", s(message.id.as_str()))
                .expression_attribute_values(":p", s(to.as_e164()))
                .expression_attribute_values(":g", s(keys::contact(&message.business, to)))
                .expression_attribute_values(":gs", s(keys::token(token)))
                .expression_attribute_values(":x", n(expires));
            // The message's billing, for the status callbacks' events (they read only this item).
            let token_item = match message.billing {
                Some(billing) => token_item
                    .update_expression(
                        "SET business_id = :b, message_id = :m, phone = :p, \
                         gsi1pk = :g, gsi1sk = :gs, expires_at = :x, \
                         billing_category = :bc, billable = :bb",
                    )
                    .expression_attribute_values(":bc", s(billing.category.as_str()))
                    .expression_attribute_values(
                        ":bb",
                        aws_sdk_dynamodb::types::AttributeValue::Bool(billing.billable),
                    ),
                None => token_item,
            }
            .build()
            .map_err(StoreError::build)?;
            request =
                request.transact_items(TransactWriteItem::builder().update(token_item).build());
        }
        if let Some(count) = self.campaign_move(message, None, MessageStatus::Sent)? {
            request = request.transact_items(TransactWriteItem::builder().update(count).build());
        }
        if let Some(usage) = self.usage_move(message, None, MessageStatus::Sent, sent.at)? {
            request = request.transact_items(TransactWriteItem::builder().update(usage).build());
        }
        match send_retrying(request).await {
            Ok(_) => Ok(Marked::Recorded),
            Err(err) => match cancelled_by(&err) {
                Some(reasons) if reasons.first().copied() == Some(true) => {
                    Ok(Marked::AlreadyHandled)
                }
                _ => Err(StoreError::sdk(err)),
            },
        }
    }

    /// `accepted → failed` with Viber's code and name (or our own reason). With
    /// `release_session_slot`, the session this message counted in (`session_started_at`) gets
    /// its place back in the same transaction, if it is still the current session.
    pub async fn mark_failed(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        failure: &Failure,
        at: Timestamp,
        release_session_slot: bool,
    ) -> Result<Marked, StoreError> {
        self.mark_unsent(
            message,
            to,
            failure,
            at,
            release_session_slot,
            MessageStatus::Failed,
        )
        .await
    }

    /// `accepted → cancelled`: a campaign message its campaign's cancel stopped before it was
    /// sent, with `failure.reason` saying why; its session slot given back (it never reached
    /// the user) and its campaign count moved to `cancelled`, in one transaction, once.
    pub async fn mark_cancelled(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        reason: &str,
        at: Timestamp,
    ) -> Result<Marked, StoreError> {
        let failure = Failure {
            code: None,
            reason: reason.to_owned(),
        };
        self.mark_unsent(message, to, &failure, at, true, MessageStatus::Cancelled)
            .await
    }

    async fn mark_unsent(
        &self,
        message: &MessageRecord,
        to: &PhoneNumber,
        failure: &Failure,
        at: Timestamp,
        release_session_slot: bool,
        status: MessageStatus,
    ) -> Result<Marked, StoreError> {
        let release = message.session_started_at.filter(|_| release_session_slot);
        let attempts: &[Option<(&str, &str)>] = match release {
            Some(_) => &[Some(RELEASES[0]), Some(RELEASES[1]), None],
            None => &[None],
        };
        for attempt in attempts {
            let failed = self.failed_update(message, failure, at, status)?;
            let mut request = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(failed).build());
            if let (Some((update, condition)), Some(started)) = (attempt, release) {
                let slot = Update::builder()
                    .table_name(&self.table)
                    .key(keys::PK, s(keys::business(&message.business)))
                    .key(keys::SK, s(keys::conversation(to)))
                    .update_expression(*update)
                    .condition_expression(*condition)
                    .expression_attribute_values(":st", n(started.as_millis()))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":zero", n(0))
                    .build()
                    .map_err(StoreError::build)?;
                request = request.transact_items(TransactWriteItem::builder().update(slot).build());
            }
            // Last: the cancellation reasons of the message (0) and the slot (1) keep their place.
            if let Some(count) = self.campaign_move(message, Some(&failure.reason), status)? {
                request =
                    request.transact_items(TransactWriteItem::builder().update(count).build());
            }
            if let Some(usage) = self.usage_move(message, Some(&failure.reason), status, at)? {
                request =
                    request.transact_items(TransactWriteItem::builder().update(usage).build());
            }
            match send_retrying(request).await {
                Ok(_) => {
                    if attempt.is_some() {
                        self.conversations.forget(&message.business, to);
                    }
                    return Ok(Marked::Recorded);
                }
                Err(err) => match cancelled_by(&err) {
                    Some(reasons) if reasons.first().copied() == Some(true) => {
                        return Ok(Marked::AlreadyHandled);
                    }
                    // The conversation is not as this give-back needs: try the next one (the
                    // last attempt records the failure alone: the session has moved on).
                    Some(reasons) if reasons.get(1).copied() == Some(true) => continue,
                    _ => return Err(StoreError::sdk(err)),
                },
            }
        }
        Err(StoreError::Contended)
    }

    /// A campaign message's move out of `accepted`, for its count shard; `None` for a single
    /// send (it writes no counter).
    fn campaign_move(
        &self,
        message: &MessageRecord,
        failure_reason: Option<&str>,
        to: MessageStatus,
    ) -> Result<Option<Update>, StoreError> {
        let Some(campaign) = &message.campaign else {
            return Ok(None);
        };
        let Some(to) = campaign_counts::counter(to, failure_reason) else {
            return Ok(None);
        };
        self.count_update(&CountMove {
            business: &message.business,
            campaign,
            message: &message.id,
            from: None,
            to,
            expires_at: message.created_at.plus(self.retention.messages).as_secs(),
        })
        .map(Some)
    }

    /// A message's move out of `accepted`, for the day's usage shard (every message counts).
    fn usage_move(
        &self,
        message: &MessageRecord,
        failure_reason: Option<&str>,
        to: MessageStatus,
        at: Timestamp,
    ) -> Result<Option<Update>, StoreError> {
        let Some(to) = campaign_counts::counter(to, failure_reason) else {
            return Ok(None);
        };
        self.usage_update(
            &message.business,
            message.id.as_str(),
            at,
            &UsageMove::status(None, &to),
        )
    }

    fn failed_update(
        &self,
        message: &MessageRecord,
        failure: &Failure,
        at: Timestamp,
        status: MessageStatus,
    ) -> Result<Update, StoreError> {
        let mut set = String::from(
            "SET #st = :status, status_rank = :rank, failure_reason = :reason, \
             history = list_append(history, :event)",
        );
        let mut update = from_accepted(&self.table, message, status, at)
            .expression_attribute_values(":reason", s(&failure.reason));
        if let Some(code) = failure.code {
            set.push_str(", failure_code = :code");
            update = update.expression_attribute_values(":code", n(code));
        }
        update
            .update_expression(set)
            .build()
            .map_err(StoreError::build)
    }
}

impl crate::Conversations<'_> {
    /// Viber answered 21 ("wait for the user's response") to a message admitted at
    /// `admitted_at`: lock the session ([`Conversation::lock`]) unless a user message came in
    /// at or after that time. Returns whether it locked. Compare-and-set on the exact state,
    /// so a user message racing this write either lands first (and the lock is not applied) or
    /// after (and unlocks). Both times are this service's clock, so a skew of a few ms between
    /// containers can only err toward not locking; Viber then answers 21 again.
    pub async fn lock_for_wait(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        admitted_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.get_conversation(business, to).await?;
        for _ in 0..64 {
            let after = state.unwrap_or_default().lock(&self.limits);
            let mut e = Expr::default();
            let exact = conversation::expect_exactly(state.as_ref(), &mut e);
            let set = conversation::set_all(business, to, &after, now, &mut e);
            e.values.insert(":w_adm".into(), n(admitted_at.as_millis()));
            let condition = format!(
                "({exact}) AND (attribute_not_exists({lum}) OR {lum} < :w_adm)",
                lum = conversation::LAST_USER_MESSAGE_AT
            );
            match self
                .conversation_cas(business, to, after, condition, set, e.values)
                .await?
            {
                Cas::Written => return Ok(true),
                Cas::Refused(item) => {
                    let wrote = match &item {
                        Some(item) => {
                            attrs::opt_n::<i64>(item, conversation::LAST_USER_MESSAGE_AT)?
                        }
                        None => None,
                    };
                    if wrote.is_some_and(|at| at >= admitted_at.as_millis()) {
                        self.conversations.forget(business, to);
                        return Ok(false);
                    }
                    state = conversation::from_item(item.as_ref())?;
                }
            }
        }
        Err(StoreError::Contended)
    }
}

fn event(status: MessageStatus, at: Timestamp) -> AttributeValue {
    history_value(&[StatusEvent { status, at }])
}

/// For a transaction cancelled by conditions: which items' conditions failed, in order.
/// `None` for any other error (throttling, a conflicting transaction, the network).
fn cancelled_by<R>(
    err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<bool>> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return None;
    };
    let reasons: Vec<bool> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code() == Some("ConditionalCheckFailed"))
        .collect();
    reasons.iter().any(|failed| *failed).then_some(reasons)
}
