//! Status callbacks that arrive before `dispatch` has recorded their token, kept until it has.
//!
//! They are kept on the `TOKEN` item itself, one attribute per status (`pending_delivered`,
//! `pending_seen`, `pending_expired`: Viber's time, epoch ms). `dispatch`'s `mark_sent` writes
//! that item with an `Update`, so what is kept survives it.
//!
//! The race between the two is closed by one item and two orders:
//! - `status` keeps a callback with one `UpdateItem` conditioned on `message_id` being absent:
//!   the check and the write are one atomic step on the item ([`Messages::keep_pending_status`](crate::Messages::keep_pending_status));
//! - `dispatch` writes the token first, then reads the item back consistently
//!   ([`Messages::pending_statuses`](crate::Messages::pending_statuses)).
//!
//! DynamoDB orders writes to one item, so either the keep lands before `mark_sent` (and
//! dispatch's read after it sees it) or after (and its condition fails, handing `status` the
//! message to apply the callback to itself). No third order exists: a callback is never left
//! pending with its token known.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use session_rules::{MessageStatus, Timestamp};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::conditional;
use crate::message_status::token_ref;
use crate::{StoreError, TokenRef, keys};

/// The attribute prefix of a kept status on a `TOKEN` item.
const PENDING_PREFIX: &str = "pending_";
/// The service id a kept status named (`claimed_{status}`), so that the status is applied only
/// to a message of that service id's business (#14: never to another tenant's).
const CLAIMED_PREFIX: &str = "claimed_";

/// One status callback kept for a token not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingStatus {
    pub status: MessageStatus,
    /// Viber's time for it.
    pub at: Timestamp,
}

/// What [`Messages::keep_pending_status`](crate::Messages::keep_pending_status) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Kept: `dispatch` applies it when it records the token.
    Pending,
    /// The token was recorded in the meantime: nothing was kept, apply it to this message now.
    Known(TokenRef),
    /// The token is recorded but past its retention: nothing to apply it to.
    Gone,
}

fn attribute(status: MessageStatus) -> String {
    format!("{PENDING_PREFIX}{}", status.as_str())
}

fn claim_attribute(status: MessageStatus) -> String {
    format!("{CLAIMED_PREFIX}{}", status.as_str())
}

impl crate::Messages<'_> {
    /// Keeps a status for a token `dispatch` has not recorded (yet), unless it has been
    /// recorded since the caller looked. A repeat of the same status keeps the first one's time.
    /// Kept as long as messages are, in case the token only turns up on a late retry.
    pub async fn keep_pending_status(
        &self,
        token: &str,
        pending: PendingStatus,
        now: Timestamp,
    ) -> Result<Kept, StoreError> {
        self.keep_pending_status_for(token, pending, None, now)
            .await
    }

    /// [`Messages::keep_pending_status`](crate::Messages::keep_pending_status) for a callback that named the service id `claimed`: when
    /// the token is recorded, the status applies only if its message is that service's.
    pub async fn keep_pending_status_for(
        &self,
        token: &str,
        pending: PendingStatus,
        claimed: Option<u64>,
        now: Timestamp,
    ) -> Result<Kept, StoreError> {
        let expires = now.plus(self.retention.messages).as_secs();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::token(token)))
            .key(keys::SK, s(keys::TOKEN))
            .condition_expression("attribute_not_exists(message_id)")
            .expression_attribute_names("#p", attribute(pending.status))
            .expression_attribute_names("#x", keys::EXPIRES_AT)
            .expression_attribute_values(":at", n(pending.at.as_millis()))
            .expression_attribute_values(":x", n(expires))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match claimed {
            None => update
                .update_expression("SET #p = if_not_exists(#p, :at), #x = if_not_exists(#x, :x)"),
            Some(service_id) => update
                .update_expression(
                    "SET #p = if_not_exists(#p, :at), #x = if_not_exists(#x, :x), \
                     #c = if_not_exists(#c, :c)",
                )
                .expression_attribute_names("#c", claim_attribute(pending.status))
                .expression_attribute_values(":c", n(service_id)),
        };
        let kept = update.send().await;
        match kept {
            Ok(_) => Ok(Kept::Pending),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => match failed.item() {
                    Some(item) if attrs::is_expired(item, now.as_secs()) => Ok(Kept::Gone),
                    Some(item) => Ok(Kept::Known(token_ref(item, token)?)),
                    None => Err(StoreError::malformed(
                        keys::token(token),
                        "condition failed without an item",
                    )),
                },
                other => Err(StoreError::Unavailable(
                    aws_sdk_dynamodb::error::DisplayErrorContext(&other).to_string(),
                )),
            },
        }
    }

    /// The statuses kept for `token`, oldest first (Viber's time, then the status order).
    /// Strongly consistent: `dispatch` reads right after writing the token.
    pub async fn pending_statuses(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Vec<PendingStatus>, StoreError> {
        Ok(self
            .pending_statuses_claimed(token, now)
            .await?
            .into_iter()
            .map(|(pending, _)| pending)
            .collect())
    }

    /// [`Messages::pending_statuses`](crate::Messages::pending_statuses), each with the service id its callback named.
    pub async fn pending_statuses_claimed(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Vec<(PendingStatus, Option<u64>)>, StoreError> {
        let Some(item) = self
            .get_consistent(keys::token(token), keys::TOKEN.into(), Some(now))
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut kept = pending_in(&item, token)?;
        kept.sort_by_key(|p| (p.at, p.status.rank()));
        kept.into_iter()
            .map(|pending| {
                let claimed = attrs::opt_n(&item, &claim_attribute(pending.status))?;
                Ok((pending, claimed))
            })
            .collect()
    }

    /// Drops a kept status once it has been applied (and its event queued). Absent already (a
    /// concurrent reconciliation, or erasure): nothing to do.
    pub async fn forget_pending_status(
        &self,
        token: &str,
        status: MessageStatus,
    ) -> Result<(), StoreError> {
        let removed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::token(token)))
            .key(keys::SK, s(keys::TOKEN))
            // Without it, an UpdateItem on a missing item would create one.
            .condition_expression("attribute_exists(pk)")
            .update_expression("REMOVE #p, #c")
            .expression_attribute_names("#p", attribute(status))
            .expression_attribute_names("#c", claim_attribute(status))
            .send()
            .await;
        // Gone already (erased or expired): nothing left to remove.
        conditional(removed)?;
        Ok(())
    }
}

fn pending_in(item: &Item, token: &str) -> Result<Vec<PendingStatus>, StoreError> {
    let mut kept = Vec::new();
    for name in item.keys() {
        let Some(status) = name.strip_prefix(PENDING_PREFIX) else {
            continue;
        };
        let status = MessageStatus::parse(status).ok_or_else(|| {
            StoreError::malformed(keys::token(token), format!("unknown pending {name}"))
        })?;
        let at: i64 = attrs::get_n(item, name)?;
        kept.push(PendingStatus {
            status,
            at: Timestamp::from_millis(at),
        });
    }
    Ok(kept)
}
