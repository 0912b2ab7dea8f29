//! SMS failover: what a message carries for it, and the conditional writes that make
//! "send an SMS instead" happen at most once.
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
use serde::{Deserialize, Serialize};
use session_rules::{MessageStatus, PhoneNumber, Timestamp};

use crate::attrs::{self, Item, b, n, s};
use crate::cancelled::{Cancelled, conditional};
use crate::sms::{SmsAllowance, SmsPeriod, claim_counter, refusal_counter};
use crate::{BusinessId, MessageId, StoreError, keys};

/// Longest SMS text: 10 parts of 160 GSM characters (End User Messaging splits longer texts;
/// each part is billed).
pub const MAX_SMS_TEXT: usize = 1600;

/// What a send's `failover` says (or a business's default): the SMS to send instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverSms {
    pub text: String,
    /// The origination identity (alphanumeric sender id or E.164 number); `None` lets the
    /// deployment's default (`SMS_ORIGINATION_IDENTITY`) or AWS choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

/// Why a `failover` value is refused: a stable error code and a message for the business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverInvalid {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

impl FailoverInvalid {
    fn new(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
        }
    }
}

/// A checked SMS text: 1 to [`MAX_SMS_TEXT`] characters, not only spaces, no control
/// characters but line breaks.
pub fn check_sms_text(text: &str) -> Result<(), FailoverInvalid> {
    let invalid = |m: &str| FailoverInvalid::new("failover_text_invalid", "failover.sms.text", m);
    if text.trim().is_empty() {
        return Err(invalid("the SMS text must not be empty"));
    }
    if text.chars().count() > MAX_SMS_TEXT {
        return Err(invalid("the SMS text is longer than 1600 characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(invalid("the SMS text must not hold control characters"));
    }
    Ok(())
}

/// A checked sender id: an alphanumeric sender id or short code (1 to 11 letters and digits)
/// or an E.164 number (`+` and 8 to 15 digits). What a country accepts is End User Messaging's
/// to say (its refusal fails the failover, with its reason).
pub fn check_sender_id(id: &str) -> Result<(), FailoverInvalid> {
    let alphanumeric =
        (1..=11).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric());
    let number = id
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()));
    if alphanumeric || number {
        Ok(())
    } else {
        Err(FailoverInvalid::new(
            "failover_sender_id_invalid",
            "failover.sms.sender_id",
            "sender_id: 1 to 11 letters and digits, or an E.164 number",
        ))
    }
}

/// The `failover` member of a send: `{"sms": {"text": "…", "sender_id": "…"}}`, both members
/// optional (a template's or the business's default fills what is missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailoverRequest {
    pub text: Option<String>,
    pub sender_id: Option<String>,
}

impl FailoverRequest {
    pub fn parse(value: &serde_json::Value) -> Result<Self, FailoverInvalid> {
        let shape = |m: &str| FailoverInvalid::new("failover_invalid", "failover", m);
        let object = value
            .as_object()
            .ok_or_else(|| shape("failover must be an object: {\"sms\": {\"text\": …}}"))?;
        if object.keys().any(|k| k != "sms") {
            return Err(shape("failover has one member, sms"));
        }
        let sms = object
            .get("sms")
            .and_then(|v| v.as_object())
            .ok_or_else(|| shape("failover.sms must be an object"))?;
        if sms.keys().any(|k| k != "text" && k != "sender_id") {
            return Err(shape("failover.sms has the members text and sender_id"));
        }
        let string = |name: &str, code: &'static str, field: &'static str| match sms.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(FailoverInvalid::new(
                code,
                field,
                format!("failover.sms.{name} must be a string"),
            )),
        };
        let text = string("text", "failover_text_invalid", "failover.sms.text")?;
        let sender_id = string(
            "sender_id",
            "failover_sender_id_invalid",
            "failover.sms.sender_id",
        )?;
        if let Some(text) = &text {
            check_sms_text(text)?;
        }
        if let Some(id) = &sender_id {
            check_sender_id(id)?;
        }
        Ok(Self { text, sender_id })
    }
}

/// What may start a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// Viber answered 9 `SRVC_NOT_VIBER_USER`.
    NotViberUser,
    /// Viber answered 10 `SRVC_NO_SUITABLE_DEVICE`.
    NoSuitableDevice,
    /// The status callback said `expired` before any `delivered`.
    Expired,
    /// No `delivered` within the deadline after `sent`.
    Deadline,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::NotViberUser,
        Trigger::NoSuitableDevice,
        Trigger::Expired,
        Trigger::Deadline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::NotViberUser => "not_viber_user",
            Trigger::NoSuitableDevice => "no_suitable_device",
            Trigger::Expired => "expired",
            Trigger::Deadline => "deadline",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == input)
    }

    /// The trigger of a Viber `send_message` status, for 9 and 10.
    pub fn of_viber_status(code: i64) -> Option<Self> {
        match code {
            9 => Some(Trigger::NotViberUser),
            10 => Some(Trigger::NoSuitableDevice),
            _ => None,
        }
    }
}

/// Which triggers start a failover. Defaults: 9, 10 and `expired` do; the deadline is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Triggers {
    pub not_viber_user: bool,
    pub no_suitable_device: bool,
    pub expired: bool,
    /// Seconds after `sent` without `delivered`; `None` is off. At most
    /// [`MAX_DEADLINE_SECONDS`].
    pub deadline_seconds: Option<u32>,
}

/// The longest deadline: SQS's longest message delay (the deadline is a delayed job).
pub const MAX_DEADLINE_SECONDS: u32 = 900;

impl Default for Triggers {
    fn default() -> Self {
        Self {
            not_viber_user: true,
            no_suitable_device: true,
            expired: true,
            deadline_seconds: None,
        }
    }
}

impl Triggers {
    pub fn allows(&self, trigger: Trigger) -> bool {
        match trigger {
            Trigger::NotViberUser => self.not_viber_user,
            Trigger::NoSuitableDevice => self.no_suitable_device,
            Trigger::Expired => self.expired,
            Trigger::Deadline => self.deadline_seconds.is_some(),
        }
    }
}

/// A business's failover default (`vbmctl business failover`): what a send without its own
/// `failover` gets, and the triggers every failover of the business uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailoverPolicy {
    /// Every send fails over, with `text` when the send and its template give none.
    pub always: bool,
    pub text: Option<String>,
    pub sender_id: Option<String>,
    pub triggers: Triggers,
    /// A template's SMS text by template id, with the template's `{{placeholders}}`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub template_texts: std::collections::BTreeMap<String, String>,
}

/// What a message fails over with, fixed when it was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverSpec {
    pub sms: FailoverSms,
    pub triggers: Triggers,
}

impl FailoverSpec {
    /// The failover of a send: its own `failover` (or, when the business's default says
    /// always, an empty one) completed from the template's SMS text, then the business's
    /// default. `Ok(None)`: no failover. `Err`: a failover without any text.
    pub fn resolve(
        request: Option<&FailoverRequest>,
        template_text: Option<String>,
        policy: Option<&FailoverPolicy>,
    ) -> Result<Option<Self>, FailoverInvalid> {
        let empty = FailoverRequest::default();
        let request = match (request, policy) {
            (Some(request), _) => request,
            (None, Some(policy)) if policy.always => &empty,
            _ => return Ok(None),
        };
        let text = request
            .text
            .clone()
            .or(template_text)
            .or_else(|| policy.and_then(|p| p.text.clone()))
            .ok_or_else(|| {
                FailoverInvalid::new(
                    "failover_text_missing",
                    "failover.sms.text",
                    "failover.sms.text is required: neither the template nor the business \
                     default gives an SMS text",
                )
            })?;
        check_sms_text(&text)?;
        Ok(Some(Self {
            sms: FailoverSms {
                text,
                sender_id: request
                    .sender_id
                    .clone()
                    .or_else(|| policy.and_then(|p| p.sender_id.clone())),
            },
            triggers: policy.map(|p| p.triggers).unwrap_or_default(),
        }))
    }

    pub(crate) fn to_attr(&self) -> AttributeValue {
        s(serde_json::to_string(self).unwrap_or_default())
    }
}

/// Where a message's failover stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverState {
    Claimed,
    Sending,
    Sent,
    Delivered,
    Failed,
    /// The business's SMS policy or a cap refused it: never sent.
    Refused,
}

impl FailoverState {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverState::Claimed => "claimed",
            FailoverState::Sending => "sending",
            FailoverState::Sent => "sent",
            FailoverState::Delivered => "delivered",
            FailoverState::Failed => "failed",
            FailoverState::Refused => "refused",
        }
    }

    fn parse(input: &str) -> Option<Self> {
        [
            FailoverState::Claimed,
            FailoverState::Sending,
            FailoverState::Sent,
            FailoverState::Delivered,
            FailoverState::Failed,
            FailoverState::Refused,
        ]
        .into_iter()
        .find(|s| s.as_str() == input)
    }
}

/// A failover step in a message's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverStep {
    Triggered,
    Sent,
    Delivered,
    Failed,
    Refused,
}

impl FailoverStep {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverStep::Triggered => "failover_triggered",
            FailoverStep::Sent => "failover_sent",
            FailoverStep::Delivered => "failover_delivered",
            FailoverStep::Failed => "failover_failed",
            FailoverStep::Refused => "failover_refused",
        }
    }

    pub(crate) fn parse(input: &str) -> Option<Self> {
        [
            FailoverStep::Triggered,
            FailoverStep::Sent,
            FailoverStep::Delivered,
            FailoverStep::Failed,
            FailoverStep::Refused,
        ]
        .into_iter()
        .find(|s| s.as_str() == input)
    }
}

/// A message's failover: what it was accepted with, and how far it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRecord {
    pub spec: FailoverSpec,
    /// `None` until a trigger claimed it.
    pub state: Option<FailoverState>,
    pub trigger: Option<Trigger>,
    /// Provider calls begun.
    pub attempts: u32,
    /// Until when the current `sending` attempt is its caller's.
    pub lease_until: Option<Timestamp>,
    /// End User Messaging's `MessageId` once sent.
    pub sms_message_id: Option<String>,
    /// Why the last attempt, or the SMS, failed.
    pub reason: Option<String>,
    /// When the state was last moved.
    pub at: Option<Timestamp>,
}

impl FailoverRecord {
    /// Whether `trigger` may start this failover: not claimed yet, and the trigger on for it.
    /// The claim decides for good; this only spares queueing jobs that cannot claim.
    pub fn fires(&self, trigger: Trigger) -> bool {
        self.state.is_none() && self.spec.triggers.allows(trigger)
    }
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
        let result = self
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
            )
            .send()
            .await;
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
        let item = self
            .get_consistent(keys::business(business), keys::PROFILE.into(), None)
            .await?;
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
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::PROFILE))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_parses_or_says_which_code() {
        let ok = FailoverRequest::parse(&json!({"sms": {"text": "Hi", "sender_id": "Acme"}}));
        assert_eq!(
            ok,
            Ok(FailoverRequest {
                text: Some("Hi".into()),
                sender_id: Some("Acme".into())
            })
        );
        let code = |v: serde_json::Value| FailoverRequest::parse(&v).unwrap_err().code;
        assert_eq!(code(json!("sms")), "failover_invalid");
        assert_eq!(
            code(json!({"sms": {"text": "x"}, "whatsapp": {}})),
            "failover_invalid"
        );
        assert_eq!(code(json!({"sms": {"body": "x"}})), "failover_invalid");
        assert_eq!(code(json!({"sms": {"text": " "}})), "failover_text_invalid");
        assert_eq!(code(json!({"sms": {"text": 5}})), "failover_text_invalid");
        assert_eq!(
            code(json!({"sms": {"text": "x".repeat(1601)}})),
            "failover_text_invalid"
        );
        for bad in ["", "TwelveLetter", "+12", "Ac me", "+4477009001234567"] {
            assert_eq!(
                code(json!({"sms": {"text": "x", "sender_id": bad}})),
                "failover_sender_id_invalid",
                "{bad}"
            );
        }
        for good in ["+447700900123", "Acme", "12345"] {
            assert!(FailoverRequest::parse(&json!({"sms": {"sender_id": good}})).is_ok());
        }
    }

    #[test]
    fn the_send_then_the_template_then_the_business_give_the_text() {
        let policy = FailoverPolicy {
            always: false,
            text: Some("default".into()),
            sender_id: Some("Acme".into()),
            triggers: Triggers {
                deadline_seconds: Some(60),
                ..Triggers::default()
            },
            template_texts: Default::default(),
        };
        let own = FailoverRequest {
            text: Some("own".into()),
            sender_id: None,
        };
        let spec = FailoverSpec::resolve(Some(&own), Some("tpl".into()), Some(&policy))
            .unwrap()
            .unwrap();
        assert_eq!(spec.sms.text, "own");
        assert_eq!(spec.sms.sender_id.as_deref(), Some("Acme"));
        assert_eq!(spec.triggers.deadline_seconds, Some(60));
        let empty = FailoverRequest::default();
        let text = |t, p| {
            FailoverSpec::resolve(Some(&empty), t, p)
                .map(|s| s.map(|s| s.sms.text))
                .map_err(|e| e.code)
        };
        assert_eq!(
            text(Some("tpl".into()), Some(&policy)),
            Ok(Some("tpl".into()))
        );
        assert_eq!(text(None, Some(&policy)), Ok(Some("default".into())));
        assert_eq!(text(None, None), Err("failover_text_missing"));
        // Without its own failover, a send fails over only when the default says always.
        assert_eq!(FailoverSpec::resolve(None, None, Some(&policy)), Ok(None));
        let always = FailoverPolicy {
            always: true,
            ..policy
        };
        assert!(
            FailoverSpec::resolve(None, None, Some(&always))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn default_triggers_are_9_10_and_expired() {
        let t = Triggers::default();
        assert!(t.allows(Trigger::NotViberUser) && t.allows(Trigger::NoSuitableDevice));
        assert!(t.allows(Trigger::Expired) && !t.allows(Trigger::Deadline));
        for trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(trigger.as_str()), Some(trigger));
        }
        assert_eq!(Trigger::of_viber_status(9), Some(Trigger::NotViberUser));
        assert_eq!(
            Trigger::of_viber_status(10),
            Some(Trigger::NoSuitableDevice)
        );
        assert_eq!(Trigger::of_viber_status(8), None);
    }
}
