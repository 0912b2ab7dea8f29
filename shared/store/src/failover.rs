//! SMS failover: the conditional writes that make "send an SMS instead" happen at most once.
//! What a failover is (request, spec, policy, triggers, states, steps) is decided in
//! `session_rules::failover`; this module stores it.
//!
//! A message accepted with a failover keeps its [`FailoverSpec`] (`failover`, JSON: the SMS text,
//! sender id and the triggers in force when it was sent). Its progress lives in `fo_*` attributes
//! of the same item, a small state machine where every step is one conditional `UpdateItem` (the
//! first one a transaction with the opt-out check):
//!
//! ```text
//! (none) --refuse--> refused
//! (none) --claim--> claimed --begin attempt--> sending --provider answered--> sent --receipt--> delivered
//!                     ^                            |                            \--receipt--> failed
//!                     \----provider refused--------/--last attempt / outcome unknown--> failed
//! ```
//!
//! - **claim** ([`Messages::claim_failover`](crate::Messages::claim_failover)): the decision "failover now?". Conditioned on the
//!   message having a failover, none claimed yet, and its status below `delivered`; and, in the
//!   same transaction, on the user not being opted out. So a late `delivered` racing the
//!   deadline, or the `expired` callback racing it, claims at most once, and never after a
//!   delivery: DynamoDB serializes the claim with `apply_status`'s own conditional write.
//!   The same transaction counts the SMS on the business's day and month counters, each
//!   conditioned on its cap (see the `sms` module): a claim over a cap changes nothing and
//!   comes back [`Claim::Capped`].
//! - **refuse** ([`Messages::refuse_failover`](crate::Messages::refuse_failover)): a failover the business's SMS policy or a cap
//!   refuses is `refused` with its reason (`failover_refused` in the history, once), never
//!   sent; counted on the day and month counters in the same transaction.
//! - **begin attempt**: `claimed` with exactly the attempt count seen → `sending`, count + 1, a
//!   lease. Only the writer that moved it calls the provider.
//! - the provider's answer moves `sending` (that attempt) to `sent` (with its message id), back
//!   to `claimed` (a refusal worth retrying), or to `failed` (the last attempt).
//! - **a `sending` whose lease ran out** had its caller die between the provider call and the
//!   record (or never learn the answer). SendTextMessage has no idempotency token, so sending
//!   again could send twice; we choose at most once: it becomes `failed` with reason
//!   `outcome_unknown` ([`Messages::abandon_failover_attempt`](crate::Messages::abandon_failover_attempt)).
//!
//! Each of `failover_triggered`, `failover_sent`, `failover_delivered`, `failover_failed` is
//! appended to the message's history by the step that makes it, at most once each: the history
//! grows by at most three failover entries, like status moves, never by a redelivery.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use session_rules::failover::{
    FailoverPolicy, FailoverRecord, FailoverSpec, FailoverState, FailoverStep, Trigger,
};
use session_rules::sms::{SmsAllowance, SmsPeriod};
use session_rules::{MessageStatus, PhoneNumber, Timestamp};

use crate::attrs::{self, Item, b, n, s};
use crate::cancelled::{Cancelled, conditional};
use crate::sms::{claim_counter, refusal_counter};
use crate::usage::{UsageMove, send_retrying};
use crate::{BusinessId, MessageId, StoreError, keys};

/// A message's `failover` attribute: its spec as JSON.
pub(crate) fn spec_attr(spec: &FailoverSpec) -> AttributeValue {
    s(serde_json::to_string(spec).unwrap_or_default())
}

pub(crate) fn record_from_item(item: &Item) -> Result<Option<FailoverRecord>, StoreError> {
    let Some(spec) = attrs::opt_s(item, "failover")? else {
        return Ok(None);
    };
    let malformed = |what: String| StoreError::malformed("failover", what);
    let spec: FailoverSpec = serde_json::from_str(spec).map_err(|e| malformed(e.to_string()))?;
    let state = attrs::opt_s(item, "fo_state")?
        .map(|v| FailoverState::parse(v).ok_or_else(|| malformed(format!("fo_state {v}"))))
        .transpose()?;
    let trigger = attrs::opt_s(item, "fo_trigger")?
        .map(|v| Trigger::parse(v).ok_or_else(|| malformed(format!("fo_trigger {v}"))))
        .transpose()?;
    Ok(Some(FailoverRecord {
        spec,
        state,
        trigger,
        attempts: attrs::opt_n(item, "fo_attempts")?.unwrap_or(0),
        lease_until: attrs::opt_n::<i64>(item, "fo_lease")?.map(Timestamp::from_millis),
        sms_message_id: attrs::opt_s(item, "fo_sms_id")?.map(str::to_owned),
        reason: attrs::opt_s(item, "fo_reason")?.map(str::to_owned),
        at: attrs::opt_n::<i64>(item, "fo_at")?.map(Timestamp::from_millis),
    }))
}

fn step_value(step: FailoverStep, at: Timestamp) -> AttributeValue {
    AttributeValue::L(vec![AttributeValue::M(
        [
            ("status".to_string(), s(step.as_str())),
            ("at".to_string(), n(at.as_millis())),
        ]
        .into(),
    )])
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This trigger claimed the failover: send the SMS.
    Claimed,
    /// Already claimed (by this trigger on an earlier delivery, or by another).
    Taken,
    /// Viber delivered the message: no SMS.
    Delivered,
    /// The user is opted out: no SMS.
    OptedOut,
    /// The message has no failover.
    NoFailover,
    /// The message is not stored (erased, or past its retention).
    Gone,
    /// The business reached its SMS cap for the day or the month: nothing was claimed.
    Capped(SmsPeriod),
}

/// How one SMS attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd<'a> {
    /// The provider took it, with its message id.
    Sent(&'a str),
    /// The provider refused; another attempt may follow.
    Retry(&'a str),
    /// The provider refused for the last time, or for good.
    Failed(&'a str),
}

impl crate::Messages<'_> {
    /// The decision "failover now?" for `trigger`: one transaction, the message's conditional
    /// update (failover present, not claimed, not delivered), a check that the user is not
    /// opted out, and the business's day and month SMS counters moved under their caps. See
    /// the module documentation.
    pub async fn claim_failover(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        to: &PhoneNumber,
        trigger: Trigger,
        allowance: &SmsAllowance,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let pk = keys::business(business);
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(&pk))
            .key(keys::SK, s(keys::message(message_id)))
            .condition_expression(
                "attribute_exists(pk) AND attribute_exists(failover) \
                 AND attribute_not_exists(fo_state) AND status_rank < :delivered",
            )
            .update_expression(
                "SET fo_state = :claimed, fo_trigger = :trigger, fo_attempts = :zero, \
                 fo_at = :now, history = list_append(history, :entry)",
            )
            .expression_attribute_values(":delivered", n(MessageStatus::Delivered.rank()))
            .expression_attribute_values(":claimed", s(FailoverState::Claimed.as_str()))
            .expression_attribute_values(":trigger", s(trigger.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":entry", step_value(FailoverStep::Triggered, now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::build)?;
        let opted_in = ConditionCheck::builder()
            .table_name(&self.table)
            .key(keys::PK, s(&pk))
            .key(keys::SK, s(keys::conversation(to)))
            .condition_expression("attribute_not_exists(pk) OR opted_out = :no")
            .expression_attribute_values(":no", b(false))
            .build()
            .map_err(StoreError::build)?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(opted_in)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(claim_counter(
                        self,
                        business,
                        SmsPeriod::Day,
                        allowance,
                        now,
                    )?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(claim_counter(
                        self,
                        business,
                        SmsPeriod::Month,
                        allowance,
                        now,
                    )?)
                    .build(),
            );
        // The day's usage shard (`usage`): one SMS failover and its parts, counted by the
        // claim that counts them against the SMS caps.
        let usage = UsageMove::of(session_rules::usage::sms_failover(
            allowance.parts,
            to.country(),
        ));
        let result = match self.usage_update(business, message_id.as_str(), now, &usage)? {
            Some(update) => {
                send_retrying(
                    request.transact_items(TransactWriteItem::builder().update(update).build()),
                )
                .await
            }
            None => send_retrying(request).await,
        };
        let err = match result {
            Ok(_) => return Ok(Claim::Claimed),
            Err(err) => err,
        };
        let Some(cancelled) = Cancelled::of(&err) else {
            return Err(StoreError::sdk(err));
        };
        if cancelled.failed(0) {
            let Some(item) = cancelled.item(0) else {
                return Ok(Claim::Gone);
            };
            if !item.contains_key("failover") {
                return Ok(Claim::NoFailover);
            }
            if item.contains_key("fo_state") {
                return Ok(Claim::Taken);
            }
            return Ok(Claim::Delivered);
        }
        if cancelled.failed(1) {
            return Ok(Claim::OptedOut);
        }
        if cancelled.failed(2) {
            return Ok(Claim::Capped(SmsPeriod::Day));
        }
        if cancelled.failed(3) {
            return Ok(Claim::Capped(SmsPeriod::Month));
        }
        // Cancelled for another reason (a conflicting transaction, throttling): retryable.
        Err(StoreError::sdk(err))
    }

    /// Records that the failover will not be sent, for `reason` (the SMS policy's or a cap's):
    /// `refused`, a `failover_refused` history entry, and one more `refused` on the business's
    /// day and month counters, in one transaction. `false` when it changed nothing: the failover was
    /// claimed or refused meanwhile, or the message delivered or gone.
    pub async fn refuse_failover(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        trigger: Trigger,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::message(message_id)))
            .condition_expression(
                "attribute_exists(pk) AND attribute_exists(failover) \
                 AND attribute_not_exists(fo_state) AND status_rank < :delivered",
            )
            .update_expression(
                "SET fo_state = :refused, fo_trigger = :trigger, fo_reason = :reason, \
                 fo_attempts = :zero, fo_at = :now, history = list_append(history, :entry)",
            )
            .expression_attribute_values(":trigger", s(trigger.as_str()))
            .expression_attribute_values(":delivered", n(MessageStatus::Delivered.rank()))
            .expression_attribute_values(":refused", s(FailoverState::Refused.as_str()))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":entry", step_value(FailoverStep::Refused, now))
            .build()
            .map_err(StoreError::build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(
                TransactWriteItem::builder()
                    .update(refusal_counter(self, business, SmsPeriod::Day, now)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(refusal_counter(self, business, SmsPeriod::Month, now)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match Cancelled::of(&err) {
                Some(cancelled) if cancelled.failed(0) => Ok(false),
                _ => Err(StoreError::sdk(err)),
            },
        }
    }

    /// Takes attempt `seen + 1` of a claimed failover: `true` when this caller may call the
    /// provider (until `now + lease`), `false` when someone else moved it first.
    pub async fn begin_failover_attempt(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        seen: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.update_failover(
            business,
            message_id,
            "fo_state = :claimed AND fo_attempts = :seen",
            "SET fo_state = :sending, fo_attempts = :next, fo_lease = :until, fo_at = :now",
            vec![
                (":claimed", s(FailoverState::Claimed.as_str())),
                (":sending", s(FailoverState::Sending.as_str())),
                (":seen", n(seen)),
                (":next", n(seen + 1)),
                (
                    ":until",
                    n(now.as_millis() + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)),
                ),
                (":now", n(now.as_millis())),
            ],
        )
        .await
    }

    /// Records how attempt `attempt` ended; `false` when that attempt is no longer the current
    /// one (it was abandoned as `outcome_unknown` meanwhile).
    pub async fn end_failover_attempt(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        attempt: u32,
        end: AttemptEnd<'_>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut values = vec![
            (":sending", s(FailoverState::Sending.as_str())),
            (":attempt", n(attempt)),
            (":now", n(now.as_millis())),
        ];
        let update = match end {
            AttemptEnd::Sent(id) => {
                values.push((":state", s(FailoverState::Sent.as_str())));
                values.push((":id", s(id)));
                values.push((":entry", step_value(FailoverStep::Sent, now)));
                // An earlier attempt's refusal is no longer why anything failed.
                "SET fo_state = :state, fo_sms_id = :id, fo_at = :now, \
                 history = list_append(history, :entry) REMOVE fo_lease, fo_reason"
            }
            AttemptEnd::Retry(reason) => {
                values.push((":state", s(FailoverState::Claimed.as_str())));
                values.push((":reason", s(reason)));
                "SET fo_state = :state, fo_reason = :reason, fo_at = :now REMOVE fo_lease"
            }
            AttemptEnd::Failed(reason) => {
                values.push((":state", s(FailoverState::Failed.as_str())));
                values.push((":reason", s(reason)));
                values.push((":entry", step_value(FailoverStep::Failed, now)));
                "SET fo_state = :state, fo_reason = :reason, fo_at = :now, \
                 history = list_append(history, :entry) REMOVE fo_lease"
            }
        };
        self.update_failover(
            business,
            message_id,
            "fo_state = :sending AND fo_attempts = :attempt",
            update,
            values,
        )
        .await
    }

    /// An attempt whose lease ran out without a record: its caller died, or never learnt the
    /// provider's answer. Marked `failed` (`outcome_unknown`), never tried again: the SMS may
    /// have gone, and at most one SMS is the rule.
    pub async fn abandon_failover_attempt(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        attempt: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.update_failover(
            business,
            message_id,
            "fo_state = :sending AND fo_attempts = :attempt AND fo_lease < :now",
            "SET fo_state = :failed, fo_reason = :reason, fo_at = :now, \
             history = list_append(history, :entry) REMOVE fo_lease",
            vec![
                (":sending", s(FailoverState::Sending.as_str())),
                (":failed", s(FailoverState::Failed.as_str())),
                (":attempt", n(attempt)),
                (":now", n(now.as_millis())),
                (":reason", s("outcome_unknown")),
                (":entry", step_value(FailoverStep::Failed, now)),
            ],
        )
        .await
    }

    /// An SMS delivery receipt for `sms_message_id`: `sent` → `delivered` (or `failed` with
    /// `reason`). `false` when the failover is not at `sent` with that SMS (a repeated
    /// receipt, or one for another SMS): nothing changes.
    pub async fn record_failover_receipt(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        sms_message_id: &str,
        failure: Option<&str>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let (state, step) = match failure {
            None => (FailoverState::Delivered, FailoverStep::Delivered),
            Some(_) => (FailoverState::Failed, FailoverStep::Failed),
        };
        let mut values = vec![
            (":sent", s(FailoverState::Sent.as_str())),
            (":id", s(sms_message_id)),
            (":state", s(state.as_str())),
            (":now", n(at.as_millis())),
            (":entry", step_value(step, at)),
        ];
        let update = match failure {
            None => "SET fo_state = :state, fo_at = :now, history = list_append(history, :entry)",
            Some(reason) => {
                values.push((":reason", s(reason)));
                "SET fo_state = :state, fo_reason = :reason, fo_at = :now, \
                 history = list_append(history, :entry)"
            }
        };
        self.update_failover(
            business,
            message_id,
            "fo_state = :sent AND fo_sms_id = :id",
            update,
            values,
        )
        .await
    }
}

impl crate::Businesses<'_> {
    /// A business's failover default; `None` when it has none (or the business is unknown).
    pub async fn failover_policy(
        &self,
        business: &BusinessId,
    ) -> Result<Option<FailoverPolicy>, StoreError> {
        let item = self.profile(business).await?;
        item.as_ref()
            .map(policy_from_item)
            .transpose()
            .map(Option::flatten)
    }

    /// Sets (or with `None` removes) a business's failover default; `false` when the business
    /// does not exist.
    pub async fn set_failover_policy(
        &self,
        business: &BusinessId,
        policy: Option<&FailoverPolicy>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .update_business_item(business, keys::PROFILE)
            .condition_expression("attribute_exists(pk)");
        request = match policy {
            Some(policy) => request
                .update_expression("SET failover_policy = :policy")
                .expression_attribute_values(
                    ":policy",
                    s(serde_json::to_string(policy).unwrap_or_default()),
                ),
            None => request.update_expression("REMOVE failover_policy"),
        };
        Ok(conditional(request.send().await)?.is_some())
    }
}

impl crate::Messages<'_> {
    async fn update_failover(
        &self,
        business: &BusinessId,
        message_id: &MessageId,
        condition: &str,
        update: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        self.update_stored_message(
            business,
            message_id,
            &format!("attribute_exists(pk) AND {condition}"),
            update,
            values,
        )
        .await
    }
}

/// The business item's `failover_policy`.
pub(crate) fn policy_from_item(item: &Item) -> Result<Option<FailoverPolicy>, StoreError> {
    attrs::opt_s(item, "failover_policy")?
        .map(|json| {
            serde_json::from_str(json)
                .map_err(|e| StoreError::malformed("failover_policy", e.to_string()))
        })
        .transpose()
}
