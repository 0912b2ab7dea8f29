//! Recording a user message: one `TransactWriteItems`, de-duplicated by Viber's message token.
//!
//! The transaction holds two items:
//! 1. an `Update` of the conversation pinned to the exact state it was computed from
//!    (`expect_exactly`), setting `Conversation::user_message`: a new session when none is open,
//!    else the open one unlocked (consecutive back to 0, anchor unchanged); the opt-out ends;
//! 2. a `Put` of the inbound item (`BIZ#{business}` / `INBOUND#{token}`,
//!    `attribute_not_exists(pk)`), which also keeps what the write decided (the conversation
//!    before and after, when it was received) so a redelivery can be answered exactly as the
//!    first delivery was.
//!
//! Both carry `ReturnValuesOnConditionCheckFailure = ALL_OLD`. A failed inbound condition is a
//! redelivered callback: nothing changes and the first recording comes back
//! ([`InboundOutcome::Duplicate`]). A failed conversation condition means another writer got
//! there first: the loop retries from the real state the cancellation reasons carry, with no
//! extra read.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use session_rules::{Conversation, PhoneNumber, Timestamp};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::Cancelled;
use crate::conversation::{self, Expr};
use crate::usage::UsageMove;
use crate::{BusinessId, StoreError, keys};

/// Optimistic rounds before [`StoreError::Contended`] (as for sends).
const MAX_ATTEMPTS: usize = 64;

/// What the user sent (all optional: a sticker carries none of it and still counts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundContent {
    pub text: Option<String>,
    pub media: Option<String>,
    pub file_name: Option<String>,
    /// The business's tracking data of the message being answered, when Viber echoes it.
    pub tracking_data: Option<String>,
    /// What else the message carried, a JSON object's text (`viber::InboundContent::extra`).
    pub extra: Option<String>,
}

/// A user message as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    pub message_token: String,
    pub phone: PhoneNumber,
    pub content: InboundContent,
    /// When the user sent it (Viber's `time`).
    pub sent_at: Timestamp,
    /// When we recorded it.
    pub received_at: Timestamp,
    /// The conversation just before and just after this message.
    pub before: Conversation,
    pub after: Conversation,
    /// The conversation holds messages waiting for the user's reply
    /// ([`Messages::release_held`](crate::Messages::release_held) releases them); `false` means
    /// the write found none (it is conditioned on that). A redelivery says `true`: whether
    /// the first delivery's release finished is not known without a read.
    pub holds_messages: bool,
}

impl InboundRecord {
    /// Whether this message ended an opt-out (the business hears `contact.opted_in`).
    pub fn cleared_opt_out(&self) -> bool {
        self.before.opted_out && !self.after.opted_out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Recorded now.
    New(InboundRecord),
    /// This token was recorded before (Viber redelivered the callback): nothing changed; this is
    /// the first recording, so events built from it are the same as the first time.
    Duplicate(InboundRecord),
}

impl InboundOutcome {
    pub fn record(&self) -> &InboundRecord {
        match self {
            InboundOutcome::New(r) | InboundOutcome::Duplicate(r) => r,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, InboundOutcome::Duplicate(_))
    }
}

enum Attempt {
    Written,
    /// Boxed: a record is far larger than the other variants.
    Duplicate(Box<InboundRecord>),
    /// The conversation was not as expected: here is how it is, and whether it holds messages.
    Stale(Option<Conversation>, bool),
    /// Another transaction held the item; try again.
    Conflict,
}

/// The session anchor for a message the user sent at `at`, received at `now`: Viber's time (so
/// the session ends when Viber ends it), never in our future, and never before the current
/// session's start (a late-delivered message does not move an anchor back).
pub(crate) fn anchor(at: Timestamp, now: Timestamp, current: Option<&Conversation>) -> Timestamp {
    let at = at.min(now);
    match current.and_then(|c| c.session) {
        Some(session) => at.max(session.started_at),
        None => at,
    }
}

fn conversation_from(item: &Item, name: &str) -> Result<Conversation, StoreError> {
    match item.get(name) {
        Some(AttributeValue::M(m)) => Ok(conversation::from_item(Some(m))?.unwrap_or_default()),
        _ => Err(StoreError::malformed("inbound", format!("{name} missing"))),
    }
}

fn record_from_item(item: &Item) -> Result<InboundRecord, StoreError> {
    let phone = attrs::get_s(item, "phone")?;
    let opt = |name: &str| -> Result<Option<String>, StoreError> {
        Ok(attrs::opt_s(item, name)?.map(str::to_owned))
    };
    Ok(InboundRecord {
        message_token: attrs::get_s(item, "message_token")?.to_owned(),
        phone: PhoneNumber::parse(phone)
            .map_err(|e| StoreError::malformed("inbound", e.to_string()))?,
        content: InboundContent {
            text: opt("text")?,
            media: opt("media")?,
            file_name: opt("file_name")?,
            tracking_data: opt("tracking_data")?,
            extra: opt("extra")?,
        },
        sent_at: Timestamp::from_millis(attrs::get_n(item, "sent_at")?),
        received_at: Timestamp::from_millis(attrs::get_n(item, "received_at")?),
        before: conversation_from(item, "before")?,
        after: conversation_from(item, "after")?,
        holds_messages: true,
    })
}

impl crate::Conversations<'_> {
    /// Records a user message and what it does to the conversation, atomically and once per
    /// `message_token`. See the module documentation.
    pub async fn record_inbound(
        &self,
        business: &BusinessId,
        phone: &PhoneNumber,
        message_token: &str,
        content: &InboundContent,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<InboundOutcome, StoreError> {
        self.record_user_message_on(business, phone, message_token, content, at, now, true)
            .await
    }

    /// [`Conversations::record_inbound`](crate::Conversations::record_inbound), with `opens_session` false for a user message on a service
    /// where writing opens no session (a two-way reply while `VIBER_TWO_WAY_SESSIONS` is
    /// `closed`): recorded and de-duplicated the same way, the opt-out ends, no session moves.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_user_message_on(
        &self,
        business: &BusinessId,
        phone: &PhoneNumber,
        message_token: &str,
        content: &InboundContent,
        at: Timestamp,
        now: Timestamp,
        opens_session: bool,
    ) -> Result<InboundOutcome, StoreError> {
        // The container's hint says nothing of held messages: it is taken as "none", which
        // the write's condition checks (a hold in between costs one cancelled write).
        let (mut state, mut holds) = match self.conversations.get(business, phone) {
            Some(hint) => (hint, false),
            None => {
                let (state, held) = self.conversation_and_held(business, phone).await?;
                (state, !held.is_empty())
            }
        };
        for attempt in 0..MAX_ATTEMPTS {
            let before = state.unwrap_or_default();
            let after = if opens_session {
                before.user_message(anchor(at, now, state.as_ref()), &self.limits)
            } else {
                before.user_reply_without_session()
            };
            let record = InboundRecord {
                message_token: message_token.to_owned(),
                phone: phone.clone(),
                content: content.clone(),
                sent_at: at,
                received_at: now,
                before,
                after,
                holds_messages: holds,
            };
            match self
                .try_inbound_write(business, state.as_ref(), &record)
                .await?
            {
                Attempt::Written => {
                    self.conversations.put(business, phone, Some(after));
                    return Ok(InboundOutcome::New(record));
                }
                Attempt::Duplicate(first) => return Ok(InboundOutcome::Duplicate(*first)),
                Attempt::Stale(real, held) => {
                    self.conversations.put(business, phone, real);
                    state = real;
                    holds = held;
                }
                Attempt::Conflict => {
                    // Real DynamoDB cancels a transaction that meets another one on the same
                    // item; back off a little and retry from the stored state.
                    let pause = Duration::from_millis(5 * (attempt as u64 % 8 + 1));
                    // Jittered: the two writers that met must not meet again.
                    tokio::time::sleep(pause.mul_f64(0.5 + rand::random::<f64>())).await;
                    (state, holds) = {
                        let (state, held) = self.conversation_and_held(business, phone).await?;
                        (state, !held.is_empty())
                    };
                }
            }
        }
        Err(StoreError::Contended)
    }

    async fn try_inbound_write(
        &self,
        business: &BusinessId,
        expected: Option<&Conversation>,
        record: &InboundRecord,
    ) -> Result<Attempt, StoreError> {
        let business_pk = keys::business(business);
        let phone = &record.phone;
        let contact = keys::contact(business, phone);

        let mut e = Expr::default();
        let mut exact = conversation::expect_exactly(expected, &mut e);
        if expected.is_some() && !record.holds_messages {
            // Nothing held, as this write believes: checked, so no release is ever missed.
            exact = format!("({exact}) AND attribute_not_exists({})", crate::held::HELD);
        }
        let set = conversation::set_user_message(
            business,
            phone,
            &record.after,
            record.received_at,
            &mut e,
        );
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(&business_pk))
            .key(keys::SK, s(keys::conversation(phone)))
            .condition_expression(exact)
            .update_expression(set)
            .set_expression_attribute_values(Some(e.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::build)?;

        let sk = keys::inbound(&record.message_token);
        let mut item = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(&business_pk))
            .item(keys::SK, s(&sk))
            .item(keys::GSI1PK, s(&contact))
            .item(keys::GSI1SK, s(&sk))
            .item("business_id", s(business.as_str()))
            .item("message_token", s(&record.message_token))
            .item("phone", s(phone.as_e164()))
            .item("sent_at", n(record.sent_at.as_millis()))
            .item("received_at", n(record.received_at.as_millis()))
            .item("before", conversation::as_map(&record.before))
            .item("after", conversation::as_map(&record.after))
            .item(
                keys::EXPIRES_AT,
                n(record.received_at.plus(self.retention.messages).as_secs()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let content = &record.content;
        for (name, value) in [
            ("text", &content.text),
            ("media", &content.media),
            ("file_name", &content.file_name),
            ("tracking_data", &content.tracking_data),
            ("extra", &content.extra),
        ] {
            if let Some(value) = value {
                item = item.item(name, s(value));
            }
        }

        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(item.build().map_err(StoreError::build)?)
                    .build(),
            );
        // A new session opened by this message counts on the day's usage shard (`usage`),
        // once: a redelivered callback is cancelled by the user message's own condition.
        let opened = record.after.session.map(|s| s.started_at)
            != record.before.session.map(|s| s.started_at)
            && record.after.session.is_some();
        if opened
            && let Some(usage) = self.usage_update(
                business,
                &record.message_token,
                record.received_at,
                &UsageMove::of([(session_rules::usage::SESSIONS_OPENED.to_owned(), 1)]),
            )?
        {
            request = request.transact_items(TransactWriteItem::builder().update(usage).build());
        }
        let result = request.send().await;
        let err = match result {
            Ok(_) => return Ok(Attempt::Written),
            Err(err) => err,
        };
        let Some(cancelled) = Cancelled::of(&err) else {
            return Err(StoreError::sdk(err));
        };
        // The duplicate check first: a redelivery changes nothing, whatever the conversation is.
        if cancelled.failed(1) {
            return match cancelled.item(1) {
                Some(first) => Ok(Attempt::Duplicate(Box::new(record_from_item(first)?))),
                None => Err(StoreError::malformed(sk, "duplicate without its item")),
            };
        }
        if cancelled.failed(0) {
            let item = cancelled.item(0);
            return Ok(Attempt::Stale(
                conversation::from_item(item)?,
                !crate::held::held_of(item).is_empty(),
            ));
        }
        if (0..3).any(|i| cancelled.code(i) == Some("TransactionConflict")) {
            return Ok(Attempt::Conflict);
        }
        Err(StoreError::sdk(err))
    }
}

#[cfg(test)]
mod tests {
    use session_rules::Session;

    use super::*;

    const T: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn with_session(started_ms: i64) -> Conversation {
        Conversation {
            session: Some(Session {
                started_at: Timestamp::from_millis(started_ms),
                messages_sent: 3,
                consecutive: 2,
            }),
            ..Conversation::default()
        }
    }

    #[test]
    fn the_anchor_is_vibers_time_within_bounds() {
        let at = Timestamp::from_millis(T.as_millis() - 2_000);
        assert_eq!(anchor(at, T, None), at);
        // Never in our future (clock skew at Viber).
        assert_eq!(anchor(T.plus(Duration::from_secs(60)), T, None), T);
        // Never before the current session's start (a late-delivered message).
        let started = T.as_millis() - 1_000;
        assert_eq!(
            anchor(at, T, Some(&with_session(started))),
            Timestamp::from_millis(started)
        );
        assert_eq!(
            anchor(T, T, Some(&with_session(started))),
            T,
            "a later time is kept"
        );
    }
}
