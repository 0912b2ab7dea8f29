//! Messages that wait for the user's reply (`wait_for_session`): kept, counted in nothing, sent
//! to nobody until the user writes or their deadline passes. The decisions are
//! `session_rules::hold`'s; this module carries them out.
//!
//! Items:
//! - the **held message** (`BIZ#{business}` / `HELD#{message_id}`, `gsi1pk` the contact): the
//!   session message as a send would record it, its deadline (`until`), its fallback template
//!   when it has one, and its state (`held_state`: `held`, then once `released`, `fallback`,
//!   `expired` or `dropped`). It is not a `MSG#` item, so the outbox never sees it;
//! - the **conversation** names its held messages (`held`, a string set of message ids): a
//!   user message with nothing held reads and writes exactly what it did before (its write is
//!   conditioned on `held` being absent, so a container's stale idea of it costs one
//!   cancelled write, never a missed release).
//!
//! Every move out of `held` is one `TransactWriteItems` conditioned on `held_state = held`:
//! a release or the deadline's send is the direct send's own items (`Store::send_items`: the
//! conversation's update on the session rules and its exact prior state, the `MSG#{id}` put)
//! plus that update of the held item, and the counters of the business's caps on what goes
//! (read from its profile once per release or deadline, as `caps` counts a direct send): one
//! over a cap moves to `dropped` with reason `quota_exceeded` instead, nothing sent. Of a release, a second release (two user messages at
//! once, a redelivered callback) and the deadline, exactly one moves each message; the others
//! find it moved. A campaign's held message (`campaign_id` on it) also moves its campaign's
//! counts in that transaction (`count_held_{released,fallback,expired}`,
//! `count_held_dropped_{reason}`, one fewer `held_open`); what goes is conditioned there on the
//! campaign's not being cancelled, so once a cancel has answered none of its held messages goes:
//! the next move drops it `campaign_cancelled`. The id in the conversation's `held` set is removed afterwards (a separate
//! write: an id left behind by a crash only costs the next user message one read).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use session_rules::caps::{Cap, Caps};
use session_rules::hold::{MAX_HELD_PER_CONVERSATION, check_until, waits_for_user};
use session_rules::{
    AtDeadline, Billing, BillingCategory, Conversation, HeldState, HoldDecision, PhoneNumber,
    Refusal, Release, SendClass, Timestamp,
};

use crate::attrs::{self, Item, b, n, s};
use crate::campaigns::{BILLING_COUNT_PREFIX, COUNT_PREFIX, HELD_OPEN, STATE};
use crate::cancelled::Cancelled;
use crate::conversation::{self, Expr};
use crate::send::{IdempotencyKey, NewSend, SendOutcome};
use crate::{BusinessId, CampaignId, MessageId, QUOTA_REFUSAL, Store, StoreError, keys};
use session_rules::campaign::CampaignState;

/// The conversation item's set of held message ids.
pub(crate) const HELD: &str = "held";
/// On a held item a campaign's chunk made: the campaign.
pub(crate) const CAMPAIGN_ID: &str = "campaign_id";
/// Optimistic rounds, as for sends.
const MAX_ATTEMPTS: usize = 64;

/// What a held message sends at its deadline instead (a template, admitted at acceptance).
#[derive(Debug, Clone, PartialEq)]
pub struct HeldFallback {
    pub kind: String,
    pub class: SendClass,
    pub billing: BillingCategory,
    pub payload: String,
    pub service_id: Option<u64>,
}

/// A session message asked to wait until `until`.
#[derive(Debug, Clone)]
pub struct NewHold<'a> {
    /// The session message, as it would be sent now.
    pub send: NewSend<'a>,
    pub until: Timestamp,
    pub fallback: Option<HeldFallback>,
}

/// What [`Messages::record_hold`](crate::Messages::record_hold) did.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    /// Kept, waiting; `conversation` as it is (unchanged by the hold).
    Held { conversation: Conversation },
    /// A session admitted it: sent as any session message (the send's own outcome).
    Sent(SendOutcome),
    /// The same key and body were held before: answer as then.
    ReplayedHeld {
        message_id: MessageId,
        conversation: Conversation,
        accepted_at: Timestamp,
    },
}

/// What a hold would do ([`Messages::preview_hold`](crate::Messages::preview_hold)): the conversation it meets, and the outcome
/// [`Messages::record_hold`](crate::Messages::record_hold) would have on it.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldPreview {
    /// The conversation now (the default when there is none).
    pub before: Conversation,
    pub outcome: HoldOutcome,
}

/// A held message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldMessage {
    pub id: MessageId,
    pub business: BusinessId,
    pub to: PhoneNumber,
    pub kind: String,
    pub billing: BillingCategory,
    pub payload: String,
    pub service_id: Option<u64>,
    pub created_at: Timestamp,
    pub until: Timestamp,
    pub state: HeldState,
    /// When it left `held`.
    pub settled_at: Option<Timestamp>,
    /// Why it was dropped (a refusal's code).
    pub reason: Option<String>,
    pub fallback: Option<HeldFallback>,
    /// The campaign whose chunk held it, if one did.
    pub campaign: Option<CampaignId>,
}

/// The hold a sent message came through (on its `MSG#` item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRecord {
    pub held_at: Timestamp,
    pub until: Timestamp,
    /// `Released` or `Fallback`.
    pub outcome: HeldState,
}

/// What a release or a deadline did to one held message.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub id: MessageId,
    pub state: HeldState,
    /// Whether this call moved it (`false`: another one had already).
    pub moved_now: bool,
}

/// The held ids a conversation item names, in acceptance order (ULIDs sort by time).
pub(crate) fn held_of(item: Option<&Item>) -> Vec<MessageId> {
    let ids: BTreeSet<String> = item
        .and_then(|i| attrs::opt_str_list(i, HELD).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    ids.iter().filter_map(|id| MessageId::parse(id)).collect()
}

fn class_of(name: &str) -> Option<SendClass> {
    match name {
        "session" => Some(SendClass::Session),
        "informative" => Some(SendClass::Informative),
        "promotional" => Some(SendClass::Promotional),
        _ => None,
    }
}

fn class_name(class: SendClass) -> &'static str {
    match class {
        SendClass::Session => "session",
        SendClass::Informative => "informative",
        SendClass::Promotional => "promotional",
    }
}

fn held_from_item(item: &Item) -> Result<HeldMessage, StoreError> {
    let id = attrs::get_s(item, "message_id")?;
    let malformed = |why: &str| StoreError::malformed(id, why.to_owned());
    let category = |name: &str| -> Result<BillingCategory, StoreError> {
        BillingCategory::parse(attrs::get_s(item, name)?).ok_or_else(|| malformed(name))
    };
    let fallback = match attrs::opt_s(item, "fallback_payload")? {
        Some(payload) => Some(HeldFallback {
            kind: attrs::get_s(item, "fallback_kind")?.to_owned(),
            class: class_of(attrs::get_s(item, "fallback_class")?)
                .ok_or_else(|| malformed("fallback_class"))?,
            billing: category("fallback_billing")?,
            payload: payload.to_owned(),
            service_id: attrs::opt_n(item, "fallback_service_id")?,
        }),
        None => None,
    };
    Ok(HeldMessage {
        id: MessageId::parse(id).ok_or_else(|| malformed("bad message id"))?,
        business: BusinessId::parse(attrs::get_s(item, "business_id")?)
            .map_err(|e| StoreError::malformed(id, e))?,
        to: PhoneNumber::parse(attrs::get_s(item, "to")?)
            .map_err(|e| StoreError::malformed(id, e.to_string()))?,
        kind: attrs::get_s(item, "kind")?.to_owned(),
        billing: category("billing_category")?,
        payload: attrs::get_s(item, "payload")?.to_owned(),
        service_id: attrs::opt_n(item, "service_id")?,
        created_at: Timestamp::from_millis(attrs::get_n(item, "created_at")?),
        until: Timestamp::from_millis(attrs::get_n(item, "until")?),
        state: HeldState::parse(attrs::get_s(item, "held_state")?)
            .ok_or_else(|| malformed("held_state"))?,
        settled_at: attrs::opt_n::<i64>(item, "settled_at")?.map(Timestamp::from_millis),
        reason: attrs::opt_s(item, "reason")?.map(str::to_owned),
        fallback,
        campaign: attrs::opt_s(item, CAMPAIGN_ID)?.and_then(CampaignId::parse),
    })
}

/// The hold a message item came through, if it did.
pub(crate) fn hold_record_of(item: &Item) -> Result<Option<HoldRecord>, StoreError> {
    let Some(until) = attrs::opt_n::<i64>(item, "held_until")? else {
        return Ok(None);
    };
    let outcome = attrs::get_s(item, "hold_outcome")?;
    Ok(Some(HoldRecord {
        held_at: Timestamp::from_millis(attrs::get_n(item, "held_at")?),
        until: Timestamp::from_millis(until),
        outcome: HeldState::parse(outcome)
            .ok_or_else(|| StoreError::malformed("hold_outcome", outcome.to_owned()))?,
    }))
}

/// An earlier idempotency record, as [`Messages::record_hold`](crate::Messages::record_hold) reads it.
struct EarlierHold {
    request_hash: String,
    message_id: MessageId,
    held: bool,
    after: Conversation,
    accepted_at: Timestamp,
}

impl Store {
    /// The conversation and its held ids, read consistently.
    pub(crate) async fn conversation_and_held(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<(Option<Conversation>, Vec<MessageId>), StoreError> {
        let item = self
            .get_consistent(keys::business(business), keys::conversation(to), None)
            .await?;
        let state = conversation::from_item(item.as_ref())?;
        self.conversations.put(business, to, state);
        Ok((state, held_of(item.as_ref())))
    }
}

impl crate::Messages<'_> {
    /// A session message that may wait for the user's reply: sent now when a session admits it
    /// (exactly [`Messages::record_send`](crate::Messages::record_send)), else held (one transaction: the conversation names it,
    /// conditioned on the exact state the decision was made on, and the held item is put).
    /// `caps`: the business's caps on the message's category, counted when it is sent now (as
    /// [`Messages::record_send_within`](crate::Messages::record_send_within)).
    pub async fn record_hold(
        &self,
        hold: &NewHold<'_>,
        caps: &[session_rules::caps::Cap],
    ) -> Result<HoldOutcome, StoreError> {
        let send = &hold.send;
        if let Some((key, hash)) = send.idempotency
            && let Some(earlier) = self.earlier_hold(send.business, key, send.now).await?
        {
            return Ok(self.replay_hold(earlier, hash));
        }
        // After the replay: a retry of an accepted request answers as then, even once its
        // `until` has passed.
        if let Err(refusal) = check_until(hold.until, send.now) {
            return Ok(HoldOutcome::Sent(SendOutcome::Refused(refusal)));
        }
        for _ in 0..MAX_ATTEMPTS {
            let (state, held) = self.conversation_and_held(send.business, send.to).await?;
            let before = state.unwrap_or_default();
            match before.decide_hold(send.now, &self.limits) {
                Err(refusal) => return Ok(HoldOutcome::Sent(SendOutcome::Refused(refusal))),
                Ok(HoldDecision::SendNow(_)) => {
                    match self.record_send_within(send, caps).await? {
                        // The session closed in between: hold after all.
                        SendOutcome::Refused(r) if waits_for_user(&r) => continue,
                        outcome => return Ok(HoldOutcome::Sent(outcome)),
                    }
                }
                Ok(HoldDecision::Hold) if held.len() >= MAX_HELD_PER_CONVERSATION => {
                    return Ok(HoldOutcome::Sent(SendOutcome::Refused(
                        Refusal::TooManyHeld(MAX_HELD_PER_CONVERSATION),
                    )));
                }
                Ok(HoldDecision::Hold) => {}
            }
            match self.try_hold_write(hold, state.as_ref()).await? {
                HoldWrite::Written => {
                    return Ok(HoldOutcome::Held {
                        conversation: before,
                    });
                }
                HoldWrite::Suppressed => {
                    return Ok(HoldOutcome::Sent(SendOutcome::Refused(
                        Refusal::RecipientOptedOut,
                    )));
                }
                HoldWrite::Earlier(earlier) => {
                    let hash = send.idempotency.map(|(_, h)| h).unwrap_or_default();
                    return Ok(self.replay_hold(*earlier, hash));
                }
                HoldWrite::Again => {}
            }
        }
        Err(StoreError::Contended)
    }

    /// What [`Messages::record_hold`](crate::Messages::record_hold) would do now, writing nothing (the dry run): the same
    /// decision in the same order (an earlier answer for the key, `until`, the session rules,
    /// the conversation's room for another held message, the suppression of an erased
    /// opted-out number), on a consistent read of the conversation; a message a session admits
    /// now is [`Messages::preview_send_within`](crate::Messages::preview_send_within)'s.
    pub async fn preview_hold(
        &self,
        hold: &NewHold<'_>,
        caps: &[Cap],
    ) -> Result<HoldPreview, StoreError> {
        let send = &hold.send;
        let item = self
            .get_consistent(
                keys::business(send.business),
                keys::conversation(send.to),
                None,
            )
            .await?;
        let state = conversation::from_item(item.as_ref())?;
        let before = state.unwrap_or_default();
        let preview = |outcome| HoldPreview { before, outcome };
        if let Some((key, hash)) = send.idempotency
            && let Some(earlier) = self.earlier_hold(send.business, key, send.now).await?
        {
            return Ok(preview(self.replay_hold(earlier, hash)));
        }
        if let Err(refusal) = check_until(hold.until, send.now) {
            return Ok(preview(HoldOutcome::Sent(SendOutcome::Refused(refusal))));
        }
        let refused = |refusal| HoldOutcome::Sent(SendOutcome::Refused(refusal));
        let outcome = match before.decide_hold(send.now, &self.limits) {
            Err(refusal) => refused(refusal),
            Ok(HoldDecision::SendNow(_)) => {
                HoldOutcome::Sent(self.preview_send_within(send, caps).await?.outcome)
            }
            Ok(HoldDecision::Hold) if held_of(item.as_ref()).len() >= MAX_HELD_PER_CONVERSATION => {
                refused(Refusal::TooManyHeld(MAX_HELD_PER_CONVERSATION))
            }
            Ok(HoldDecision::Hold)
                if state.is_none() && self.is_suppressed(send.business, send.to).await? =>
            {
                refused(Refusal::RecipientOptedOut)
            }
            Ok(HoldDecision::Hold) => HoldOutcome::Held {
                conversation: before,
            },
        };
        Ok(preview(outcome))
    }

    fn replay_hold(&self, earlier: EarlierHold, hash: &str) -> HoldOutcome {
        if earlier.request_hash != hash {
            return HoldOutcome::Sent(SendOutcome::KeyReused);
        }
        if earlier.held {
            HoldOutcome::ReplayedHeld {
                message_id: earlier.message_id,
                conversation: earlier.after,
                accepted_at: earlier.accepted_at,
            }
        } else {
            HoldOutcome::Sent(SendOutcome::Replayed {
                message_id: earlier.message_id,
                after: earlier.after,
                accepted_at: earlier.accepted_at,
            })
        }
    }

    async fn earlier_hold(
        &self,
        business: &BusinessId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<EarlierHold>, StoreError> {
        let item = self
            .get_consistent(
                keys::business(business),
                keys::idempotency(key.as_str()),
                Some(now),
            )
            .await?;
        item.as_ref().map(earlier_hold_from).transpose()
    }

    /// The two items that hold a message (no I/O: what to write, decided from the inputs):
    /// the conversation naming it (made when there is none; else conditioned on the exact state
    /// `expected` and on room for another held message) and the held item, `campaign` on it
    /// when a campaign's chunk holds it.
    pub(crate) fn hold_items(
        &self,
        hold: &NewHold<'_>,
        expected: Option<&Conversation>,
        campaign: Option<&CampaignId>,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let send = &hold.send;
        let business_pk = keys::business(send.business);
        let id_set = AttributeValue::Ss(vec![send.message_id.as_str().to_owned()]);

        let mut e = Expr::default();
        let exact = conversation::expect_exactly(expected, &mut e);
        let mut values = e.values;
        let conversation_write = match expected {
            // A number without a conversation: the item is made, naming the held message.
            None => {
                let mut item = conversation::new_item(
                    send.business,
                    send.to,
                    &Conversation::default(),
                    send.now,
                );
                item.insert(HELD.into(), id_set);
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression(exact)
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .build()
                            .map_err(StoreError::build)?,
                    )
                    .build()
            }
            Some(_) => {
                values.insert(":h_id".into(), id_set);
                values.insert(":h_max".into(), n(MAX_HELD_PER_CONVERSATION));
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .key(keys::PK, s(&business_pk))
                            .key(keys::SK, s(keys::conversation(send.to)))
                            .condition_expression(format!(
                                "({exact}) AND (attribute_not_exists({HELD}) OR size({HELD}) < :h_max)"
                            ))
                            .update_expression(format!("ADD {HELD} :h_id"))
                            .set_expression_attribute_values(Some(values))
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .build()
                            .map_err(StoreError::build)?,
                    )
                    .build()
            }
        };
        let held = self.held_put(hold, campaign)?;
        Ok([
            conversation_write,
            TransactWriteItem::builder().put(held).build(),
        ])
    }

    /// The held item's `Put` (only if it is new).
    fn held_put(
        &self,
        hold: &NewHold<'_>,
        campaign: Option<&CampaignId>,
    ) -> Result<Put, StoreError> {
        let send = &hold.send;
        let sk = keys::held(&send.message_id);
        let mut held = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(keys::business(send.business)))
            .item(keys::SK, s(&sk))
            .item(keys::GSI1PK, s(keys::contact(send.business, send.to)))
            .item(keys::GSI1SK, s(&sk))
            .item("message_id", s(send.message_id.as_str()))
            .item("business_id", s(send.business.as_str()))
            .item("to", s(send.to.as_e164()))
            .item("kind", s(send.kind))
            .item("billing_category", s(send.billing.as_str()))
            .item("payload", s(send.payload))
            .item("held_state", s(HeldState::Held.as_str()))
            .item("created_at", n(send.now.as_millis()))
            .item("until", n(hold.until.as_millis()))
            .item(
                keys::EXPIRES_AT,
                n(hold.until.plus(self.retention.messages).as_secs()),
            )
            .condition_expression("attribute_not_exists(pk)");
        if let Some(service_id) = send.service_id {
            held = held.item("service_id", n(service_id));
        }
        if let Some(campaign) = campaign {
            held = held.item(CAMPAIGN_ID, s(campaign.as_str()));
        }
        if let Some(f) = &hold.fallback {
            held = held
                .item("fallback_kind", s(&f.kind))
                .item("fallback_class", s(class_name(f.class)))
                .item("fallback_billing", s(f.billing.as_str()))
                .item("fallback_payload", s(&f.payload));
            if let Some(service_id) = f.service_id {
                held = held.item("fallback_service_id", n(service_id));
            }
        }
        held.build().map_err(StoreError::build)
    }

    async fn try_hold_write(
        &self,
        hold: &NewHold<'_>,
        expected: Option<&Conversation>,
    ) -> Result<HoldWrite, StoreError> {
        let send = &hold.send;
        let mut items = Vec::from(self.hold_items(hold, expected, None)?);
        if let Some((key, hash)) = send.idempotency {
            let before = expected.copied().unwrap_or_default();
            let record = self
                .send_key_record(send, key, hash, &before)
                .item("held", b(true))
                .build()
                .map_err(StoreError::build)?;
            items.push(TransactWriteItem::builder().put(record).build());
        }
        // A number without a conversation item may have opted out and been erased: as a send.
        let guard = match expected {
            None => Some(self.suppression_guard(send.business, send.to).await?),
            Some(_) => None,
        };
        if let Some(guard) = &guard {
            items.push(
                TransactWriteItem::builder()
                    .condition_check(self.suppression_check(send.business, guard)?)
                    .build(),
            );
        }
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(HoldWrite::Written),
            Err(err) => err,
        };
        let Some(cancelled) = Cancelled::of(&err) else {
            return Err(StoreError::sdk(err));
        };
        if cancelled.failed(1) {
            // The id is new with the request: only this very write (its answer lost) made it.
            return Ok(HoldWrite::Written);
        }
        if send.idempotency.is_some()
            && cancelled.failed(2)
            && let Some(item) = cancelled.item(2)
        {
            return Ok(HoldWrite::Earlier(Box::new(earlier_hold_from(item)?)));
        }
        if cancelled.failed(0) {
            return Ok(HoldWrite::Again);
        }
        let guard_index = 2 + usize::from(send.idempotency.is_some());
        if let Some(guard) = &guard
            && cancelled.failed(guard_index)
        {
            return Ok(match guard {
                crate::suppression::Guard::Hash(_) => HoldWrite::Suppressed,
                crate::suppression::Guard::NoKey => {
                    self.forget_suppression_key(send.business);
                    HoldWrite::Again
                }
            });
        }
        // A conflicting transaction: try again.
        Ok(HoldWrite::Again)
    }

    /// A held message by id, as stored (`None`: none, or past its retention).
    pub async fn get_held(
        &self,
        business: &BusinessId,
        id: &MessageId,
        now: Timestamp,
    ) -> Result<Option<HeldMessage>, StoreError> {
        self.get_consistent(keys::business(business), keys::held(id), Some(now))
            .await?
            .as_ref()
            .map(held_from_item)
            .transpose()
    }

    /// The held messages the conversation names, read consistently, in acceptance order.
    async fn held_messages(
        &self,
        business: &BusinessId,
        ids: &[MessageId],
    ) -> Result<Vec<HeldMessage>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let mut request = KeysAndAttributes::builder().consistent_read(true);
            for id in chunk {
                request = request.keys(
                    [
                        (keys::PK.to_owned(), s(keys::business(business))),
                        (keys::SK.to_owned(), s(keys::held(id))),
                    ]
                    .into(),
                );
            }
            let mut pending = Some(request.build().map_err(StoreError::build)?);
            while let Some(request) = pending.take() {
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                if let Some(items) = answer.responses().and_then(|r| r.get(&self.table)) {
                    for item in items {
                        out.push(held_from_item(item)?);
                    }
                }
                pending = answer
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .cloned();
            }
        }
        out.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        Ok(out)
    }

    /// The user has written: the conversation's held messages are released in acceptance
    /// order, each admitted by the session rules and the direct send's own write, until the
    /// session admits no more (those stay held for the next reply or their deadline). Safe to
    /// call any number of times, concurrently: each message moves once. Returns what moved
    /// or was found moved.
    pub async fn release_held(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        now: Timestamp,
    ) -> Result<Vec<Settled>, StoreError> {
        let (mut state, ids) = self.conversation_and_held(business, to).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The business's caps as they are now: a release counts against them as a direct
        // send does, in the same write.
        let caps = self.businesses().caps(business).await?.unwrap_or_default();
        let mut settled = Vec::new();
        let found = self.held_messages(business, &ids).await?;
        // Named but not kept (past retention): forgotten with the settled ones.
        let mut gone: Vec<MessageId> = ids
            .iter()
            .filter(|id| !found.iter().any(|h| h.id == **id))
            .cloned()
            .collect();
        'messages: for held in found {
            if held.state != HeldState::Held {
                settled.push(Settled {
                    id: held.id.clone(),
                    state: held.state,
                    moved_now: false,
                });
                continue;
            }
            let mut learned = Learned::default();
            for _ in 0..MAX_ATTEMPTS {
                let before = state.unwrap_or_default();
                let (next, after) = match before.decide_release(now, &self.limits) {
                    // Later ones wait behind it: acceptance order.
                    Release::StayHeld(_) => break 'messages,
                    Release::Drop(refusal) => (Next::Dropped(refusal.code()), None),
                    Release::Send(after) => learned.going(Next::Released, after),
                };
                match self
                    .settle_write(
                        &held,
                        state.as_ref(),
                        &next,
                        after.as_ref(),
                        &caps,
                        &learned,
                        now,
                    )
                    .await?
                {
                    SettleWrite::Moved => {
                        if let Some(after) = after {
                            state = Some(after);
                            self.conversations.put(business, to, state);
                        }
                        settled.push(Settled {
                            id: held.id.clone(),
                            state: next.state(),
                            moved_now: true,
                        });
                        continue 'messages;
                    }
                    SettleWrite::AlreadyMoved(was) => {
                        settled.push(Settled {
                            id: held.id.clone(),
                            state: was,
                            moved_now: false,
                        });
                        // Another writer moved it, and may have moved the conversation.
                        state = self.conversations().get_conversation(business, to).await?;
                        continue 'messages;
                    }
                    SettleWrite::Stale(real) => state = real,
                    SettleWrite::Refused(why) => learned.learn(why),
                }
            }
            return Err(StoreError::Contended);
        }
        gone.extend(settled.iter().map(|s| s.id.clone()));
        self.forget_held(business, to, &gone).await?;
        Ok(settled)
    }

    /// The deadline of held message `id` has come: it goes after all if a session admits it
    /// (the user wrote, the release has not happened), else its fallback, else it expires.
    /// `None` when no such message is kept (erased). Safe to call twice and concurrently
    /// with a release: the first mover wins, the answer says what it did.
    pub async fn settle_held(
        &self,
        business: &BusinessId,
        id: &MessageId,
        now: Timestamp,
    ) -> Result<Option<Settled>, StoreError> {
        let Some(held) = self.get_held(business, id, now).await? else {
            return Ok(None);
        };
        if held.state != HeldState::Held {
            return Ok(Some(Settled {
                id: held.id,
                state: held.state,
                moved_now: false,
            }));
        }
        let mut state = self
            .conversations()
            .get_conversation(business, &held.to)
            .await?;
        // What goes at the deadline counts against the caps, as a release does.
        let caps = self.businesses().caps(business).await?.unwrap_or_default();
        let mut learned = Learned::default();
        for _ in 0..MAX_ATTEMPTS {
            let before = state.unwrap_or_default();
            let fallback = held.fallback.as_ref().map(|f| f.class);
            let (next, after) = match before.decide_at_deadline(now, &self.limits, fallback) {
                AtDeadline::Send(after) => learned.going(Next::Released, after),
                AtDeadline::Fallback(after) => learned.going(Next::Fallback, after),
                AtDeadline::Expire => (Next::Expired, None),
                AtDeadline::Drop(refusal) => (Next::Dropped(refusal.code()), None),
            };
            match self
                .settle_write(
                    &held,
                    state.as_ref(),
                    &next,
                    after.as_ref(),
                    &caps,
                    &learned,
                    now,
                )
                .await?
            {
                SettleWrite::Moved => {
                    if after.is_some() {
                        self.conversations.put(business, &held.to, after);
                    }
                    self.forget_held(business, &held.to, std::slice::from_ref(&held.id))
                        .await?;
                    return Ok(Some(Settled {
                        id: held.id,
                        state: next.state(),
                        moved_now: true,
                    }));
                }
                SettleWrite::AlreadyMoved(was) => {
                    return Ok(Some(Settled {
                        id: held.id,
                        state: was,
                        moved_now: false,
                    }));
                }
                SettleWrite::Stale(real) => state = real,
                SettleWrite::Refused(why) => learned.learn(why),
            }
        }
        Err(StoreError::Contended)
    }

    /// Drops the conversation's held messages with `reason` (the user opted out: they can
    /// never go). Each moves once, as a release's.
    pub async fn drop_held(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        reason: Refusal,
        now: Timestamp,
    ) -> Result<Vec<Settled>, StoreError> {
        let (state, ids) = self.conversation_and_held(business, to).await?;
        let mut settled = Vec::new();
        for held in self.held_messages(business, &ids).await? {
            if held.state != HeldState::Held {
                continue;
            }
            let next = Next::Dropped(reason.code());
            let mut learned = Learned::default();
            let mut answer = None;
            for _ in 0..MAX_ATTEMPTS {
                match self
                    .settle_write(
                        &held,
                        state.as_ref(),
                        &next,
                        None,
                        &Caps::default(),
                        &learned,
                        now,
                    )
                    .await?
                {
                    SettleWrite::Moved => answer = Some((next.state(), true)),
                    SettleWrite::AlreadyMoved(was) => answer = Some((was, false)),
                    SettleWrite::Refused(why) => {
                        learned.learn(why);
                        continue;
                    }
                    // Only a conflicting transaction (a drop writes no conversation): again.
                    SettleWrite::Stale(_) => continue,
                }
                break;
            }
            let Some((state_now, moved_now)) = answer else {
                continue;
            };
            settled.push(Settled {
                id: held.id,
                state: state_now,
                moved_now,
            });
        }
        self.forget_held(business, to, &ids).await?;
        Ok(settled)
    }

    /// Erasure deletes the contact's held messages; those a campaign's chunk held leave its
    /// count as they go: each still held is deleted in one transaction with its campaign's
    /// update (`held_dropped_erased`, one fewer open), so the campaign can still complete. One
    /// moved meanwhile was counted by that move; the erasure's sweep deletes it as it is.
    pub(crate) async fn erase_campaign_holds(
        &self,
        business: &BusinessId,
        ids: &[MessageId],
    ) -> Result<(), StoreError> {
        for held in self.held_messages(business, ids).await? {
            let Some(campaign) = &held.campaign else {
                continue;
            };
            if held.state != HeldState::Held {
                continue;
            }
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::business(business)))
                .key(keys::SK, s(keys::held(&held.id)))
                .condition_expression("held_state = :held")
                .expression_attribute_values(":held", s(HeldState::Held.as_str()))
                .build()
                .map_err(StoreError::build)?;
            let count =
                self.campaign_settle_update(&held, campaign, &Next::Dropped(ERASED_REFUSAL), None)?;
            let answer = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(TransactWriteItem::builder().update(count).build())
                .send()
                .await;
            if let Err(err) = answer
                && Cancelled::of(&err).is_none()
            {
                return Err(StoreError::sdk(err));
            }
        }
        Ok(())
    }

    /// Removes settled ids from the conversation's `held` set (only if the item is still
    /// there: an erased conversation is not made again).
    async fn forget_held(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        ids: &[MessageId],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::conversation(to)))
            .update_expression(format!("DELETE {HELD} :ids"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(
                ":ids",
                AttributeValue::Ss(ids.iter().map(|id| id.as_str().to_owned()).collect()),
            )
            .send()
            .await;
        crate::cancelled::conditional(answer)?;
        Ok(())
    }

    /// The campaign item's update for one move of its held message: the move's count, one
    /// fewer `held_open`, and for what goes its billing category; conditioned on the campaign
    /// existing and, for what goes, on its not being cancelled.
    fn campaign_settle_update(
        &self,
        held: &HeldMessage,
        campaign: &CampaignId,
        next: &Next,
        billing: Option<BillingCategory>,
    ) -> Result<Update, StoreError> {
        let count = held_count_name(next.state(), next.reason());
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(&held.business)))
            .key(keys::SK, s(keys::campaign(campaign)))
            .expression_attribute_names("#moved", format!("{COUNT_PREFIX}{count}"))
            .expression_attribute_names("#open", HELD_OPEN)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":minus", n(-1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut adds = "#moved :one, #open :minus".to_owned();
        if let Some(billing) = billing {
            update = update
                .expression_attribute_names(
                    "#bill",
                    format!("{COUNT_PREFIX}{BILLING_COUNT_PREFIX}{}", billing.as_str()),
                )
                .expression_attribute_names("#st", STATE)
                .expression_attribute_values(":cancelled", s(CampaignState::Cancelled.as_str()))
                .condition_expression("attribute_exists(pk) AND #st <> :cancelled");
            adds.push_str(", #bill :one");
        } else {
            update = update.condition_expression("attribute_exists(pk)");
        }
        update
            .update_expression(format!("ADD {adds}"))
            .build()
            .map_err(StoreError::build)
    }

    /// One move of a held message out of `held`: the items of [`Messages::settle_items`](crate::Messages::settle_items)
    /// in one transaction, its cancellation read by [`read_settle_cancel`].
    #[allow(clippy::too_many_arguments)]
    async fn settle_write(
        &self,
        held: &HeldMessage,
        expected: Option<&Conversation>,
        next: &Next,
        after: Option<&Conversation>,
        caps: &Caps,
        learned: &Learned,
        now: Timestamp,
    ) -> Result<SettleWrite, StoreError> {
        let Some((items, roles)) = self
            .settle_items(held, expected, next, after, caps, learned, now)
            .await?
        else {
            return Ok(SettleWrite::Refused(Why::OverCap));
        };
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(SettleWrite::Moved),
            Err(err) => err,
        };
        let Some(cancelled) = Cancelled::of(&err) else {
            return Err(StoreError::sdk(err));
        };
        let failed: Vec<bool> = (0..roles.len()).map(|i| cancelled.failed(i)).collect();
        Ok(match read_settle_cancel(&roles, &failed) {
            Reading::AlreadyMoved(i) => SettleWrite::AlreadyMoved(state_in(cancelled.item(i))),
            Reading::MovedBefore => SettleWrite::Moved,
            Reading::Campaign(i) => SettleWrite::Refused(campaign_refusal(cancelled.item(i))),
            Reading::Stale(i) => SettleWrite::Stale(conversation::from_item(cancelled.item(i))?),
            Reading::Suppressed => {
                // An erased opt-out: the conversation reads as none, the next decision drops it.
                self.forget_suppression_key(&held.business);
                SettleWrite::Stale(Some(Conversation::default().opt_out()))
            }
            Reading::OverCap => SettleWrite::Refused(Why::OverCap),
            // A conflicting transaction (a busy counter): read again and retry.
            Reading::Conflict => SettleWrite::Stale(
                self.conversations()
                    .get_conversation(&held.business, &held.to)
                    .await?,
            ),
        })
    }

    /// What one move writes, and what each item is for: with a message to send (`after`: the
    /// conversation after it), the direct send's items, the held item's update, a new number's
    /// suppression check, the counters of the business's `caps` on what goes and the day's
    /// usage; without, the held item's update alone; then the campaign's counts when a
    /// campaign held it. `None` when a cap on what goes is full.
    #[allow(clippy::too_many_arguments)]
    async fn settle_items(
        &self,
        held: &HeldMessage,
        expected: Option<&Conversation>,
        next: &Next,
        after: Option<&Conversation>,
        caps: &Caps,
        learned: &Learned,
        now: Timestamp,
    ) -> Result<Option<(Vec<TransactWriteItem>, Vec<SettleRole>)>, StoreError> {
        let mut items = Vec::new();
        let mut roles = Vec::new();
        let held_item = TransactWriteItem::builder()
            .update(self.held_move(held, next, now)?)
            .build();
        let going = after.map(|after| (going(held, next, now), after));
        match &going {
            None => {
                items.push(held_item);
                roles.push(SettleRole::Held);
            }
            Some((send, after)) => {
                let mut extra = vec![
                    ("held_at", n(held.created_at.as_millis())),
                    ("held_until", n(held.until.as_millis())),
                    ("hold_outcome", s(next.state().as_str())),
                ];
                // A campaign's message as any of its admitted ones: its statuses count on the
                // campaign, and `dispatch` stops it if the campaign is paused or cancelled.
                if let Some(campaign) = &held.campaign {
                    extra.push((CAMPAIGN_ID, s(campaign.as_str())));
                }
                let sent = self.send_items(send, expected, after, &extra)?;
                roles.extend([SettleRole::Conversation, SettleRole::Message]);
                roles.resize(sent.len(), SettleRole::Other);
                items.extend(sent);
                items.push(held_item);
                roles.push(SettleRole::Held);
                if expected.is_none() {
                    let guard = self.suppression_guard(&held.business, &held.to).await?;
                    items.push(
                        TransactWriteItem::builder()
                            .condition_check(self.suppression_check(&held.business, &guard)?)
                            .build(),
                    );
                    roles.push(SettleRole::Guard);
                }
                // The caps' counters come last, as in a direct send.
                for cap in &caps.for_send(send.billing) {
                    let Some(update) =
                        crate::caps::counter_update(self, &held.business, cap, 1, now)?
                    else {
                        return Ok(None);
                    };
                    items.push(TransactWriteItem::builder().update(update).build());
                    roles.push(SettleRole::Cap);
                }
                // After them: the message accepted now, on the day's usage shard, as a direct send.
                let accepted = session_rules::usage::accepted_message(
                    Billing::of_send(send.billing, after),
                    held.to.country(),
                );
                if let Some(usage) = self.usage_update(
                    &held.business,
                    held.id.as_str(),
                    now,
                    &crate::usage::UsageMove::of(accepted),
                )? {
                    items.push(TransactWriteItem::builder().update(usage).build());
                    roles.push(SettleRole::Other);
                }
            }
        }
        // The campaign's counts move with the held item (and what goes needs it not cancelled).
        if let Some(campaign) = held.campaign.as_ref().filter(|_| !learned.campaign_gone) {
            let billing = going
                .as_ref()
                .map(|(send, after)| Billing::of_send(send.billing, after).category);
            let update = self.campaign_settle_update(held, campaign, next, billing)?;
            items.push(TransactWriteItem::builder().update(update).build());
            roles.push(SettleRole::Campaign);
        }
        Ok(Some((items, roles)))
    }

    /// The held item's move to `next`, conditioned on its still being held.
    fn held_move(
        &self,
        held: &HeldMessage,
        next: &Next,
        now: Timestamp,
    ) -> Result<Update, StoreError> {
        let mut e = Expr::default();
        let mut sets = vec![
            format!(
                "held_state = {}",
                value(&mut e, "h_new", s(next.state().as_str()))
            ),
            format!("settled_at = {}", value(&mut e, "h_at", n(now.as_millis()))),
        ];
        if let Some(reason) = next.reason() {
            sets.push(format!("reason = {}", value(&mut e, "h_why", s(reason))));
        }
        let was = value(&mut e, "h_was", s(HeldState::Held.as_str()));
        Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(&held.business)))
            .key(keys::SK, s(keys::held(&held.id)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(format!("held_state = {was}"))
            .set_expression_attribute_values(Some(e.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::build)
    }
}

/// What goes when a held message moves to `next` with a message to send: the held session
/// message, or its fallback template (under the same id; no SMS failover).
fn going<'a>(held: &'a HeldMessage, next: &Next, now: Timestamp) -> NewSend<'a> {
    let (class, kind, billing, payload, service_id) = match (next, &held.fallback) {
        (Next::Fallback, Some(f)) => (
            f.class,
            f.kind.as_str(),
            f.billing,
            f.payload.as_str(),
            f.service_id,
        ),
        _ => (
            SendClass::Session,
            held.kind.as_str(),
            held.billing,
            held.payload.as_str(),
            held.service_id,
        ),
    };
    NewSend {
        business: &held.business,
        message_id: held.id.clone(),
        to: &held.to,
        class,
        kind,
        billing,
        payload,
        service_id,
        idempotency: None,
        failover: None,
        now,
    }
}

/// What an item of a settle's transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettleRole {
    Conversation,
    Message,
    Held,
    Guard,
    Cap,
    Campaign,
    /// The usage shard (no condition: only a conflict cancels it).
    Other,
}

/// What a settle's cancelled transaction means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The held item had moved (the item at this index says to what).
    AlreadyMoved(usize),
    /// The message exists and the held item did not move: only this very write (its answer
    /// lost, the SDK sent it again) put it.
    MovedBefore,
    /// The campaign (item at this index) is cancelled or gone.
    Campaign(usize),
    /// The conversation (item at this index) is not as expected.
    Stale(usize),
    /// A new number's suppression check failed.
    Suppressed,
    OverCap,
    /// No condition failed: a conflicting transaction.
    Conflict,
}

/// Reads a settle's cancellation (no I/O): `failed[i]` whether item `i`'s condition failed.
/// The held item first (whoever moved it decided), then a message this write already put,
/// the campaign's cancel, the conversation, the suppression check, the caps.
fn read_settle_cancel(roles: &[SettleRole], failed: &[bool]) -> Reading {
    let at = |role: SettleRole| roles.iter().zip(failed).position(|(r, f)| *r == role && *f);
    if let Some(i) = at(SettleRole::Held) {
        Reading::AlreadyMoved(i)
    } else if at(SettleRole::Message).is_some() {
        Reading::MovedBefore
    } else if let Some(i) = at(SettleRole::Campaign) {
        Reading::Campaign(i)
    } else if let Some(i) = at(SettleRole::Conversation) {
        Reading::Stale(i)
    } else if at(SettleRole::Guard).is_some() {
        Reading::Suppressed
    } else if at(SettleRole::Cap).is_some() {
        Reading::OverCap
    } else {
        Reading::Conflict
    }
}

enum HoldWrite {
    Written,
    Suppressed,
    Earlier(Box<EarlierHold>),
    Again,
}

/// Where a settle moves a held message.
enum Next {
    Released,
    Fallback,
    Expired,
    /// With the reason's code.
    Dropped(&'static str),
}

impl Next {
    fn reason(&self) -> Option<&'static str> {
        match self {
            Next::Dropped(reason) => Some(reason),
            _ => None,
        }
    }

    fn state(&self) -> HeldState {
        match self {
            Next::Released => HeldState::Released,
            Next::Fallback => HeldState::Fallback,
            Next::Expired => HeldState::Expired,
            Next::Dropped(_) => HeldState::Dropped,
        }
    }
}

enum SettleWrite {
    Moved,
    AlreadyMoved(HeldState),
    /// The conversation is not as expected: here it is.
    Stale(Option<Conversation>),
    /// Nothing moved, for this reason: the next round decides knowing it.
    Refused(Why),
}

/// Why a settle's write moved nothing, other than a stale conversation.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// A cap on what would go is full.
    OverCap,
    /// The held message's campaign was cancelled: it may not go.
    CampaignCancelled,
    /// The campaign item is gone (erased, past retention): nothing to count on.
    CampaignGone,
}

/// The reason a campaign's held message counts as dropped when its contact was erased.
pub const ERASED_REFUSAL: &str = "erased";

/// The reason a campaign's held message is dropped when its campaign was cancelled.
pub const CAMPAIGN_CANCELLED: &str = "campaign_cancelled";

/// What the earlier rounds of one held message's move learned; one place for the release's,
/// the deadline's and the opt-out's handling of a full cap and a cancelled campaign.
#[derive(Debug, Default)]
struct Learned {
    over_cap: bool,
    campaign_cancelled: bool,
    campaign_gone: bool,
}

impl Learned {
    fn learn(&mut self, why: Why) {
        match why {
            Why::OverCap => self.over_cap = true,
            Why::CampaignCancelled => self.campaign_cancelled = true,
            Why::CampaignGone => self.campaign_gone = true,
        }
    }

    /// A message the session rules let go (`next`, leaving the conversation `after`), unless a
    /// cancelled campaign or a full cap stops it: then it is dropped with that reason, nothing
    /// sent (the user's reply does not cure either, so it does not wait for the next one).
    fn going(&self, next: Next, after: Conversation) -> (Next, Option<Conversation>) {
        if self.campaign_cancelled {
            (Next::Dropped(CAMPAIGN_CANCELLED), None)
        } else if self.over_cap {
            (Next::Dropped(QUOTA_REFUSAL), None)
        } else {
            (next, Some(after))
        }
    }
}

/// The campaign update's failed condition, read from the item it failed on.
fn campaign_refusal(item: Option<&Item>) -> Why {
    match item {
        None => Why::CampaignGone,
        Some(_) => Why::CampaignCancelled,
    }
}

/// The campaign count a held message's move adds to: `held_released`, `held_fallback`,
/// `held_expired`, `held_dropped_{reason}` (under the campaign's count prefix).
pub(crate) fn held_count_name(next_state: HeldState, reason: Option<&str>) -> String {
    match (next_state, reason) {
        (HeldState::Dropped, Some(reason)) => format!("held_dropped_{reason}"),
        (state, _) => format!("held_{}", state.as_str()),
    }
}

fn value(e: &mut Expr, name: &str, v: AttributeValue) -> String {
    let key = format!(":{name}");
    e.values.insert(key.clone(), v);
    key
}

fn state_in(item: Option<&Item>) -> HeldState {
    item.and_then(|i| attrs::opt_s(i, "held_state").ok().flatten())
        .and_then(HeldState::parse)
        // Gone entirely (erased): nothing will move it again.
        .unwrap_or(HeldState::Dropped)
}

fn earlier_hold_from(item: &Item) -> Result<EarlierHold, StoreError> {
    let id = attrs::get_s(item, "message_id")?;
    let after = match item.get("after") {
        Some(AttributeValue::M(m)) => conversation::from_item(Some(m))?.unwrap_or_default(),
        _ => Conversation::default(),
    };
    Ok(EarlierHold {
        request_hash: attrs::get_s(item, "request_hash")?.to_owned(),
        message_id: MessageId::parse(id)
            .ok_or_else(|| StoreError::malformed(id, "bad message id"))?,
        held: attrs::get_bool(item, "held")?,
        after,
        accepted_at: Timestamp::from_millis(attrs::get_n(item, "accepted_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: [SettleRole; 7] = [
        SettleRole::Conversation,
        SettleRole::Message,
        SettleRole::Held,
        SettleRole::Guard,
        SettleRole::Cap,
        SettleRole::Other,
        SettleRole::Campaign,
    ];

    fn failing(which: &[usize]) -> Vec<bool> {
        (0..SEND.len()).map(|i| which.contains(&i)).collect()
    }

    #[test]
    fn a_cancelled_settle_is_read_held_item_first_then_what_this_write_put_then_the_campaign() {
        assert_eq!(
            read_settle_cancel(&SEND, &failing(&[2, 6, 0])),
            Reading::AlreadyMoved(2)
        );
        assert_eq!(
            read_settle_cancel(&SEND, &failing(&[1, 0])),
            Reading::MovedBefore
        );
        // A cancelled campaign decides before a stale conversation: the next round drops it.
        assert_eq!(
            read_settle_cancel(&SEND, &failing(&[0, 6])),
            Reading::Campaign(6)
        );
        assert_eq!(
            read_settle_cancel(&SEND, &failing(&[0, 4])),
            Reading::Stale(0)
        );
        assert_eq!(
            read_settle_cancel(&SEND, &failing(&[3])),
            Reading::Suppressed
        );
        assert_eq!(read_settle_cancel(&SEND, &failing(&[4])), Reading::OverCap);
        assert_eq!(read_settle_cancel(&SEND, &failing(&[])), Reading::Conflict);
        // Without a message to send: the held item, then the campaign.
        let drop = [SettleRole::Held, SettleRole::Campaign];
        assert_eq!(
            read_settle_cancel(&drop, &[false, true]),
            Reading::Campaign(1)
        );
    }

    #[test]
    fn what_goes_is_dropped_when_its_campaign_was_cancelled_or_a_cap_is_full() {
        let after = Conversation::default();
        let mut learned = Learned::default();
        assert!(matches!(
            learned.going(Next::Released, after),
            (Next::Released, Some(_))
        ));
        learned.learn(Why::OverCap);
        assert!(matches!(
            learned.going(Next::Fallback, after),
            (Next::Dropped(QUOTA_REFUSAL), None)
        ));
        // The cancel wins over the cap: it is why nothing of the campaign goes.
        learned.learn(Why::CampaignCancelled);
        assert!(matches!(
            learned.going(Next::Released, after),
            (Next::Dropped(CAMPAIGN_CANCELLED), None)
        ));
        learned.learn(Why::CampaignGone);
        assert!(learned.campaign_gone);
    }

    #[test]
    fn each_move_counts_under_its_own_name() {
        assert_eq!(held_count_name(HeldState::Released, None), "held_released");
        assert_eq!(held_count_name(HeldState::Fallback, None), "held_fallback");
        assert_eq!(held_count_name(HeldState::Expired, None), "held_expired");
        assert_eq!(
            held_count_name(HeldState::Dropped, Some(CAMPAIGN_CANCELLED)),
            "held_dropped_campaign_cancelled"
        );
    }
}
