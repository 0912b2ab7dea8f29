//! What Viber's status callbacks change: a message's status (forward only, every callback kept)
//! and a user's opt-out.
//!
//! A status is one conditional `UpdateItem` on the message: `status_rank < :rank` moves it
//! (`SET status, status_rank, history = list_append(history, :event)`). When the condition
//! fails the callback is late or repeated: it is appended to the history alone, so the history
//! holds every callback in the order the writes happened, and the status never moves back.
//!
//! **Replays and size.** Every applied callback also goes into `status_keys`, a string set of
//! `status@time` (Viber's time, ms), in the same write. The late-or-repeated append is
//! conditioned on its key not being there yet, so an identical callback delivered again
//! changes nothing, however often and however concurrently it comes. And on the history
//! being shorter than [`MAX_HISTORY`]: past that, a callback is only counted in
//! `history_dropped`. Moves are never refused (there are at most as many as statuses), so the
//! item stays a few kilobytes whatever Viber sends, far from DynamoDB's 400 KB.
//!
//! **Counted moves.** Every message is counted by status on the day's usage shard (`usage`),
//! and a campaign's message also on its campaign's count shard (`campaign_counts`): a move is
//! a transaction of the message, conditioned on its exact prior status, and the shards'
//! `-1`/`+1`. The first try guesses the prior status (`sent` before `delivered`, `delivered`
//! before `seen`) and excludes campaign messages (`attribute_not_exists(campaign_id)`); a
//! wrong guess is cancelled and its `ALL_OLD` gives the real status (and the campaign) for
//! the next try. A move lost to a concurrent one is tried again from the new status, so two
//! callbacks of one message at once move it, and count it, once.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use session_rules::{MessageStatus, PhoneNumber, StatusEvent, Timestamp};

use crate::attrs::{self, Item, n, s};
use crate::campaign_counts::{self, CountMove};
use crate::cancelled::conditional;
use crate::message::{campaign_of, history_value, unknown_history_value};
use crate::usage::UsageMove;
use crate::{BusinessId, CampaignId, MessageId, StoreError, keys};

/// The message a Viber `message_token` belongs to (the `TOKEN` item `dispatch` writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    pub business: BusinessId,
    pub message_id: MessageId,
    pub phone: PhoneNumber,
    /// The message's billing, copied onto the token when it was sent (`None` on older tokens).
    pub billing: Option<session_rules::Billing>,
}

/// Most entries a message's history keeps for callbacks that did not move its status (late,
/// or the same status at other times); later ones are counted in `history_dropped`.
pub const MAX_HISTORY: usize = 100;

/// What a status callback did to its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The status moved to the callback's status.
    pub moved: bool,
    /// The message's status after this callback.
    pub current: MessageStatus,
    /// Nothing was written: this very callback (status and time) was applied before.
    pub replay: bool,
}

impl StatusChange {
    /// Whether the callback's `message.status` event is queued: when the status moved, and
    /// again when it already stood there (a redelivery, perhaps after a crash before the event
    /// was queued; the id is the same). A late one that stays behind publishes nothing.
    pub fn publishes(&self, status: MessageStatus) -> bool {
        self.moved || self.current == status
    }
}

/// The message a recorded `TOKEN` item points to.
pub(crate) fn token_ref(item: &Item, token: &str) -> Result<TokenRef, StoreError> {
    let key = keys::token(token);
    let business = attrs::get_s(item, "business_id")?;
    let message_id = attrs::get_s(item, "message_id")?;
    let phone = attrs::get_s(item, "phone")?;
    Ok(TokenRef {
        business: BusinessId::parse(business).map_err(|e| StoreError::malformed(&key, e))?,
        message_id: MessageId::parse(message_id)
            .ok_or_else(|| StoreError::malformed(&key, "bad message id"))?,
        phone: PhoneNumber::parse(phone).map_err(|e| StoreError::malformed(&key, e.to_string()))?,
        billing: crate::message::billing_of(item)?,
    })
}

/// What a failed status condition found.
enum Stays {
    Gone,
    Replay(MessageStatus),
    New(MessageStatus),
}

/// The move of a status: the new status and rank, the callback in the history and its key.
const MOVE: &str = "SET #status = :status, status_rank = :rank, \
                    history = list_append(history, :event) ADD status_keys :keys";

/// Rounds of a campaign message's counted move (each one lost to another move of the same
/// message, of which there are at most four).
const MAX_COUNTED_ROUNDS: usize = 8;

/// Where a campaign message behind a callback's status stands, for its counted move.
struct Prior {
    business: BusinessId,
    /// `None`: a single send (and the move is conditioned on the message having no campaign).
    campaign: Option<CampaignId>,
    status: MessageStatus,
    failure_reason: Option<String>,
    /// The counter the callback's status counts in.
    to: String,
    expires_at: i64,
}

/// The item a failed `UpdateItem` condition returned (`ALL_OLD`); `None` when there is none.
fn condition_item(err: UpdateItemError) -> Result<Option<Item>, StoreError> {
    match err {
        UpdateItemError::ConditionalCheckFailedException(failed) => Ok(failed.item),
        other => Err(StoreError::Unavailable(
            aws_sdk_dynamodb::error::DisplayErrorContext(&other).to_string(),
        )),
    }
}

/// The status a message item stands at.
fn current_status(item: &Item, message_id: &MessageId) -> Result<MessageStatus, StoreError> {
    let current = attrs::get_s(item, "status")?;
    MessageStatus::parse(current).ok_or_else(|| {
        StoreError::malformed(
            keys::message(message_id),
            format!("unknown status {current}"),
        )
    })
}

/// A message that `status` moves forward, as its item stands: what its counted move needs.
fn prior_of(
    item: Option<&Item>,
    message_id: &MessageId,
    status: MessageStatus,
) -> Result<Option<Prior>, StoreError> {
    let Some(item) = item else { return Ok(None) };
    let campaign = campaign_of(item)?;
    let current = current_status(item, message_id)?;
    let Some(to) = campaign_counts::counter(status, None) else {
        return Ok(None);
    };
    if !current.moves_to(status) {
        return Ok(None);
    }
    let business = attrs::get_s(item, "business_id")?;
    Ok(Some(Prior {
        business: BusinessId::parse(business)
            .map_err(|e| StoreError::malformed(keys::message(message_id), e))?,
        campaign,
        status: current,
        failure_reason: attrs::opt_s(item, "failure_reason")?.map(str::to_owned),
        to,
        expires_at: attrs::get_n(item, keys::EXPIRES_AT)?,
    }))
}

/// The status a message most likely stands at when `status` comes (a delivery after the send,
/// a view after the delivery): the first try of a move is conditioned on it, and a wrong
/// guess costs one cancelled transaction whose `ALL_OLD` tells the real one.
fn likely_prior(status: MessageStatus) -> MessageStatus {
    match status {
        MessageStatus::Seen => MessageStatus::Delivered,
        MessageStatus::Sent | MessageStatus::Accepted => MessageStatus::Accepted,
        _ => MessageStatus::Sent,
    }
}

/// A callback's identity in `status_keys`: its status and Viber's time.
fn status_key(status: MessageStatus, at: Timestamp) -> String {
    format!("{}@{}", status.as_str(), at.as_millis())
}

impl crate::Messages<'_> {
    /// The message behind a Viber message token; `None` when `dispatch` has not recorded it
    /// (yet: the item may hold only statuses kept for it), or it is past its retention.
    /// Strongly consistent: a status right after the send should find the token `dispatch`
    /// just wrote.
    pub async fn message_by_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<TokenRef>, StoreError> {
        match self
            .get_consistent(keys::token(token), keys::TOKEN.into(), Some(now))
            .await?
        {
            Some(item) if item.contains_key("message_id") => Ok(Some(token_ref(&item, token)?)),
            _ => Ok(None),
        }
    }

    /// Applies one status callback to a message: forward only in the order README.md states (`accepted < sent < {failed, expired} < delivered < seen`), every
    /// distinct callback appended to the history in arrival order (up to [`MAX_HISTORY`]), a
    /// replay of one already applied changing nothing. `None` when the message is not stored
    /// (erased, or past its retention).
    pub async fn apply_status(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        status: MessageStatus,
        at: Timestamp,
    ) -> Result<Option<StatusChange>, StoreError> {
        let event = history_value(&[StatusEvent { status, at }]);
        let key = status_key(status, at);
        // Every move is counted (`usage`, and a campaign's `campaign_counts`), so it is a
        // transaction on the exact prior status: first the likely one, for a single send.
        let moved = match campaign_counts::counter(status, None) {
            Some(to) => {
                let guess = Prior {
                    business: business.clone(),
                    campaign: None,
                    status: likely_prior(status),
                    failure_reason: None,
                    to,
                    expires_at: 0,
                };
                self.move_counted(message_id, status, at, &event, &key, guess)
                    .await?
            }
            // `accepted` is where a message starts: nothing moves to it.
            None => {
                let item = self
                    .get_consistent(keys::business(business), keys::message(message_id), None)
                    .await?;
                Some(self.stays_item(item.as_ref(), message_id, &key)?)
            }
        };
        let current = match moved {
            None => {
                return Ok(Some(StatusChange {
                    moved: true,
                    current: status,
                    replay: false,
                }));
            }
            Some(Stays::Gone) => return Ok(None),
            Some(Stays::Replay(current)) => {
                return Ok(Some(StatusChange {
                    moved: false,
                    current,
                    replay: true,
                }));
            }
            Some(Stays::New(current)) => current,
        };
        // Late or repeated at another time: kept in the history, the status stays.
        let appended = self
            .update_business_item(business, keys::message(message_id))
            .condition_expression(
                "attribute_exists(pk) AND NOT contains(status_keys, :key) \
                 AND size(history) < :max",
            )
            .update_expression("SET history = list_append(history, :event) ADD status_keys :keys")
            .expression_attribute_values(":event", event)
            .expression_attribute_values(":key", s(&key))
            .expression_attribute_values(":keys", AttributeValue::Ss(vec![key.clone()]))
            .expression_attribute_values(":max", n(MAX_HISTORY))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let change = |replay| {
            Ok(Some(StatusChange {
                moved: false,
                current,
                replay,
            }))
        };
        match appended {
            Ok(_) => change(false),
            Err(err) => match self.stays(err.into_service_error(), message_id, &key)? {
                Stays::Gone => Ok(None),
                Stays::Replay(_) => change(true),
                Stays::New(_) => {
                    // The history is full: count the callback, keep nothing of it.
                    tracing::warn!(message_id = %message_id, "status history full; callback counted only");
                    if self.count_dropped(business, message_id).await? {
                        change(false)
                    } else {
                        Ok(None)
                    }
                }
            },
        }
    }

    /// A message's move from exactly `prior` to `status`, in one transaction with the day's
    /// usage shard's `-1`/`+1` (`usage`) and, for a campaign's message, its count shard's
    /// (`campaign_counts`). When the message stands elsewhere the transaction is cancelled and
    /// tried again from where it is now, until it moves or stays (`Some`: at or past
    /// `status`, this callback a replay or new, or gone).
    async fn move_counted(
        &self,
        message_id: &MessageId,
        status: MessageStatus,
        at: Timestamp,
        event: &AttributeValue,
        key: &str,
        mut prior: Prior,
    ) -> Result<Option<Stays>, StoreError> {
        let mut conflicts = 0u32;
        for _ in 0..MAX_COUNTED_ROUNDS {
            let message = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::business(&prior.business)))
                .key(keys::SK, s(keys::message(message_id)))
                .condition_expression(match prior.campaign {
                    Some(_) => "attribute_exists(pk) AND #status = :prev",
                    // A campaign's message moves with its count: learnt from `ALL_OLD`.
                    None => {
                        "attribute_exists(pk) AND #status = :prev \
                         AND attribute_not_exists(campaign_id)"
                    }
                })
                .update_expression(MOVE)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":prev", s(prior.status.as_str()))
                .expression_attribute_values(":status", s(status.as_str()))
                .expression_attribute_values(":rank", n(status.rank()))
                .expression_attribute_values(":event", event.clone())
                .expression_attribute_values(":keys", AttributeValue::Ss(vec![key.to_owned()]))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(StoreError::build)?;
            let from = campaign_counts::counter(prior.status, prior.failure_reason.as_deref());
            let mut request = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(message).build());
            if let Some(campaign) = &prior.campaign {
                let count = self.count_update(&CountMove {
                    business: &prior.business,
                    campaign,
                    message: message_id,
                    from: from.clone(),
                    to: prior.to.clone(),
                    expires_at: prior.expires_at,
                })?;
                request =
                    request.transact_items(TransactWriteItem::builder().update(count).build());
            }
            if let Some(usage) = self.usage_update(
                &prior.business,
                message_id.as_str(),
                at,
                &UsageMove::status(from.as_deref(), &prior.to),
            )? {
                request =
                    request.transact_items(TransactWriteItem::builder().update(usage).build());
            }
            let result = request.send().await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            else {
                return Err(StoreError::sdk(err));
            };
            match cancelled.cancellation_reasons().first() {
                Some(r) if r.code() == Some("ConditionalCheckFailed") => {
                    match prior_of(r.item(), message_id, status)? {
                        Some(now) => prior = now,
                        None => return self.stays_item(r.item(), message_id, key).map(Some),
                    }
                }
                _ => {
                    // A conflicting transaction on the shard (DynamoDB) or throttling.
                    conflicts += 1;
                    if conflicts > 5 {
                        return Err(StoreError::sdk(err));
                    }
                    tokio::time::sleep(Duration::from_millis(10 << conflicts)).await;
                }
            }
        }
        Err(StoreError::Contended)
    }

    /// Why a status write's condition failed, from the item it returned: the message is gone,
    /// this callback was applied before, or it is new to a message that stays where it is.
    fn stays(
        &self,
        err: UpdateItemError,
        message_id: &MessageId,
        key: &str,
    ) -> Result<Stays, StoreError> {
        let item = condition_item(err)?;
        self.stays_item(item.as_ref(), message_id, key)
    }

    fn stays_item(
        &self,
        item: Option<&Item>,
        message_id: &MessageId,
        key: &str,
    ) -> Result<Stays, StoreError> {
        let Some(item) = item else {
            return Ok(Stays::Gone);
        };
        let current = current_status(item, message_id)?;
        let seen = matches!(item.get("status_keys"), Some(AttributeValue::Ss(keys)) if keys.iter().any(|k| k == key));
        Ok(if seen {
            Stays::Replay(current)
        } else {
            Stays::New(current)
        })
    }

    /// Keeps a status code we do not know in the message's history, as it came; the status
    /// does not move. Bounded like every other callback: past [`MAX_HISTORY`] entries it is only
    /// counted in `history_dropped`. `false` when the message is not stored (erased, or past its
    /// retention).
    pub async fn note_unknown_status(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        code: i64,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let appended = self
            .update_stored_message(
                business,
                message_id,
                "attribute_exists(pk) AND size(history) < :max",
                "SET history = list_append(history, :event)",
                [
                    (":event", unknown_history_value(code, at)),
                    (":max", n(MAX_HISTORY)),
                ],
            )
            .await?;
        // Not appended: the message is gone, or its history is full.
        Ok(appended || self.count_dropped(business, message_id).await?)
    }

    /// Counts a callback the full history keeps nothing of; `false` when the message is gone.
    async fn count_dropped(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
    ) -> Result<bool, StoreError> {
        self.update_stored_message(
            business,
            message_id,
            "attribute_exists(pk)",
            "ADD history_dropped :one",
            [(":one", n(1))],
        )
        .await
    }

    /// One update of a message item under `condition`; `false` when the condition failed.
    /// (Also the failover steps' update, `failover.rs`.)
    pub(crate) async fn update_stored_message<'a>(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        condition: &str,
        update: &str,
        values: impl IntoIterator<Item = (&'a str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .update_business_item(business, keys::message(message_id))
            .condition_expression(condition)
            .update_expression(update);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        Ok(conditional(request.send().await)?.is_some())
    }
}

impl crate::Conversations<'_> {
    /// Marks the user opted out (Viber `unsubscribe`, or `SRVC_USER_BLOCKED` on a send) or back
    /// in (`subscribe`); returns whether that changed anything.
    pub async fn set_opted_out(
        &self,
        business: &BusinessId,
        phone: &PhoneNumber,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = std::sync::atomic::AtomicBool::new(false);
        self.change_conversation(business, phone, now, |c| {
            // Evaluated per attempt: the last one, on the state actually written over, decides.
            changed.store(
                c.opted_out != opted_out,
                std::sync::atomic::Ordering::Relaxed,
            );
            if opted_out { c.opt_out() } else { c.opt_in() }
        })
        .await?;
        Ok(changed.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_items_status_is_read_and_an_unknown_one_is_malformed() {
        let id = MessageId::generate();
        let item = Item::from([("status".to_owned(), attrs::s("delivered"))]);
        assert_eq!(
            current_status(&item, &id).unwrap(),
            MessageStatus::Delivered
        );
        let odd = Item::from([("status".to_owned(), attrs::s("teleported"))]);
        let error = current_status(&odd, &id).unwrap_err().to_string();
        assert!(error.contains("unknown status teleported"), "{error}");
        assert!(current_status(&Item::new(), &id).is_err());
    }
}
