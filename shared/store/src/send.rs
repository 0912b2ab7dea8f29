//! Recording a send: one `TransactWriteItems`, no read before it on the warm path.
//!
//! The transaction holds three items:
//! 1. an `Update` of the conversation whose condition is the rules for this kind of message
//!    (built from the same [`Limits`](session_rules::Limits) as `session-rules`) *and* the exact
//!    state the decision was made on, setting the state `Conversation::decide_send` returned
//!    (for a number without a conversation, a `Put` of the whole item under that condition);
//! 2. a `Put` of the message (`attribute_not_exists`);
//! 3. a `Put` of the idempotency record when the business sent an `Idempotency-Key`;
//! 4. for a business with caps on the message's billing category, an `Update` of each cap's
//!    counter, conditioned on staying within the cap (the `caps` module): a send over a cap is
//!    refused by the very write that would count it, and a cancelled write counts nothing;
//! 5. the `Update` of the day's usage shard (the `usage` module): the message accepted in its
//!    billing category, and billable when it is, counted once whatever retries.
//!
//! Each carries `ReturnValuesOnConditionCheckFailure = ALL_OLD`, so when the transaction is
//! cancelled the cancellation reasons hold the real conversation and the earlier idempotency
//! record: the precise refusal (or the replayed answer) comes from them without another read.
//! The state the decision starts from is the container's last known one (a hint; a stale hint
//! costs one cancelled write and is corrected from `ALL_OLD`), or one consistent read when this
//! container has not seen the conversation yet.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use session_rules::caps::{self, Cap};
use session_rules::{
    Billing, BillingCategory, Conversation, MessageStatus, PhoneNumber, Refusal, SendClass,
    StatusTrack, Timestamp,
};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::Cancelled;
use crate::conversation::{self, Expr};
use crate::message::history_value;
use crate::usage::UsageMove;
use crate::{BusinessId, MessageId, Store, StoreError, keys, suppression};

/// How long a send whose transaction got no answer (an outage cut the connection, every SDK
/// attempt failed) keeps reading whether its message is there before it gives up with a 503. The
/// answer can be lost after DynamoDB committed: the message is then accepted, and the table's
/// stream takes it to Viber whatever the business is told, so telling it "accepted" matters. Well
/// inside the function's 10 s with the SDK's own attempts before.
const LANDED_PATIENCE: Duration = Duration::from_secs(6);
const LANDED_FIRST_PAUSE: Duration = Duration::from_millis(100);
const LANDED_LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// The message item's billing category and whether it is billable (written at acceptance).
pub(crate) const BILLING_CATEGORY: &str = "billing_category";
pub(crate) const BILLABLE: &str = "billable";

/// Optimistic rounds before giving up with [`StoreError::Contended`]. Each round either succeeds,
/// refuses, or learns the newer state some other writer made: under 200 concurrent senders to
/// one conversation the session locks after five wins, and everyone else is refused.
const MAX_ATTEMPTS: usize = 64;

/// The business's `Idempotency-Key`: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(input: &str) -> Option<Self> {
        ((1..=255).contains(&input.len()) && input.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .then(|| Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A send the rules have admitted on content; the store decides on the conversation.
#[derive(Debug, Clone)]
pub struct NewSend<'a> {
    pub business: &'a BusinessId,
    pub message_id: MessageId,
    pub to: &'a PhoneNumber,
    pub class: SendClass,
    /// `session`, `transactional`, `promotional` or `template`.
    pub kind: &'a str,
    /// What the rules bill it as (`Admission::billing`); whether a session message is billable
    /// is decided in the write, from the state it is written on.
    pub billing: BillingCategory,
    /// What `dispatch` needs (JSON).
    pub payload: &'a str,
    /// The Viber service id it goes out on (`Services::route`); `None`: the business's first.
    pub service_id: Option<u64>,
    /// The key and a hash of the canonical request body.
    pub idempotency: Option<(&'a IdempotencyKey, &'a str)>,
    /// SMS failover: kept on the message item as `failover`.
    pub failover: Option<&'a session_rules::failover::FailoverSpec>,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Recorded; `after` is the conversation right after this send.
    Accepted { after: Conversation },
    /// The same key and body were accepted before: answer as then.
    Replayed {
        message_id: MessageId,
        after: Conversation,
        accepted_at: Timestamp,
    },
    /// The rules say no; nothing was written.
    Refused(Refusal),
    /// The same key came with a different body.
    KeyReused,
    /// Over one of the business's caps (`quota_exceeded`); nothing was written or counted.
    OverCap(Cap),
}

/// What a send would do ([`Messages::preview_send`](crate::Messages::preview_send)): the conversation it meets, and the outcome
/// [`Messages::record_send`](crate::Messages::record_send) would have on it.
#[derive(Debug, Clone, PartialEq)]
pub struct SendPreview {
    /// The conversation now (the default when there is none).
    pub before: Conversation,
    pub outcome: SendOutcome,
}

/// What a cancelled send transaction tells.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResult {
    Written,
    /// A number without a conversation item is suppressed: it opted out, then was erased.
    Suppressed,
    /// The business's suppression key appeared meanwhile: decide again with it.
    KeyMade,
    /// A cap's counter refused: over that cap.
    OverCap(Cap),
    /// Another transaction held one of the items (a busy cap counter): try again.
    Conflict,
    Cancelled {
        /// `Some(state)` when the conversation condition failed (`Some(None)`: no item).
        conversation: Option<Option<Conversation>>,
        /// The earlier idempotency record when its condition failed.
        earlier: Option<Earlier>,
    },
}

#[doc(hidden)]
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    request_hash: String,
    message_id: MessageId,
    after: Conversation,
    accepted_at: Timestamp,
}

impl Earlier {
    fn outcome(self, request_hash: &str) -> SendOutcome {
        if self.request_hash == request_hash {
            SendOutcome::Replayed {
                message_id: self.message_id,
                after: self.after,
                accepted_at: self.accepted_at,
            }
        } else {
            SendOutcome::KeyReused
        }
    }
}

fn earlier_from_item(item: &Item) -> Result<Earlier, StoreError> {
    let id = attrs::get_s(item, "message_id")?;
    let after = match item.get("after") {
        Some(AttributeValue::M(m)) => conversation::from_item(Some(m))?.unwrap_or_default(),
        _ => Conversation::default(),
    };
    Ok(Earlier {
        request_hash: attrs::get_s(item, "request_hash")?.to_owned(),
        message_id: MessageId::parse(id)
            .ok_or_else(|| StoreError::malformed(id, "bad message id"))?,
        after,
        accepted_at: Timestamp::from_millis(attrs::get_n(item, "accepted_at")?),
    })
}

impl crate::Messages<'_> {
    /// Decides and records a send atomically, counting nothing against caps. See the module
    /// documentation.
    pub async fn record_send(&self, send: &NewSend<'_>) -> Result<SendOutcome, StoreError> {
        self.record_send_within(send, &[]).await
    }

    /// [`Messages::record_send`](crate::Messages::record_send) counted against `caps` (the business's caps on the send's billing
    /// category, `Caps::for_send`), in the same transaction.
    pub async fn record_send_within(
        &self,
        send: &NewSend<'_>,
        caps: &[Cap],
    ) -> Result<SendOutcome, StoreError> {
        // A cap the send alone is over (a cap of 0) refuses it without a write, after the rules.
        let closed = caps.iter().find(|c| !caps::admits(0, 1, c.limit)).copied();
        let mut conflicts = 0u32;
        let (mut state, mut fresh) = match self.conversations.get(send.business, send.to) {
            Some(hint) => (hint, false),
            None => (
                self.conversations()
                    .get_conversation(send.business, send.to)
                    .await?,
                true,
            ),
        };
        for _ in 0..MAX_ATTEMPTS {
            let after =
                match state
                    .unwrap_or_default()
                    .decide_send(send.class, send.now, &self.limits)
                {
                    Ok(after) => after,
                    // A refusal must rest on the real state, not on this container's hint.
                    Err(_) if !fresh => {
                        state = self
                            .conversations()
                            .get_conversation(send.business, send.to)
                            .await?;
                        fresh = true;
                        continue;
                    }
                    Err(refusal) => {
                        // A retry of a send that was accepted (and may have used the last slot)
                        // answers as the first time did.
                        if let Some((key, hash)) = send.idempotency
                            && let Some(earlier) =
                                self.earlier(send.business, key, send.now).await?
                        {
                            return Ok(earlier.outcome(hash));
                        }
                        return Ok(SendOutcome::Refused(refusal));
                    }
                };
            if let Some(cap) = closed {
                if let Some((key, hash)) = send.idempotency
                    && let Some(earlier) = self.earlier(send.business, key, send.now).await?
                {
                    return Ok(earlier.outcome(hash));
                }
                return Ok(SendOutcome::OverCap(cap));
            }
            let written = match self
                .try_send_write_within(send, state.as_ref(), &after, caps)
                .await
            {
                Ok(written) => written,
                Err(StoreError::Unavailable(why)) => self.landed(send, why).await?,
                Err(error) => return Err(error),
            };
            match written {
                WriteResult::Written => {
                    self.conversations.put(send.business, send.to, Some(after));
                    return Ok(SendOutcome::Accepted { after });
                }
                WriteResult::Suppressed => {
                    return Ok(SendOutcome::Refused(Refusal::RecipientOptedOut));
                }
                WriteResult::KeyMade => {
                    self.forget_suppression_key(send.business);
                }
                WriteResult::OverCap(cap) => return Ok(SendOutcome::OverCap(cap)),
                WriteResult::Conflict => {
                    // A capped business's sends share its counter: back off a little, jittered.
                    conflicts += 1;
                    let spread: u64 = 5 << conflicts.min(6);
                    let pause = 5 + rand::random_range(0..spread);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                WriteResult::Cancelled {
                    earlier: Some(earlier),
                    ..
                } => {
                    let hash = send.idempotency.map(|(_, h)| h).unwrap_or_default();
                    return Ok(earlier.outcome(hash));
                }
                WriteResult::Cancelled {
                    conversation: Some(real),
                    ..
                } => {
                    self.conversations.put(send.business, send.to, real);
                    state = real;
                    fresh = true;
                }
                WriteResult::Cancelled { .. } => {
                    return Err(StoreError::Conflict(format!(
                        "message id {} already exists",
                        send.message_id
                    )));
                }
            }
        }
        Err(StoreError::Contended)
    }

    /// What [`Messages::record_send`](crate::Messages::record_send) would decide for `send` now, writing nothing: the dry run.
    ///
    /// The same decision on the real state: one consistent read of the conversation (what a
    /// send makes when its container has not seen the conversation), the idempotency record
    /// when the send has a key (a real send's transaction checks it), and for a number without
    /// a conversation its suppression (a real send's transaction checks that too). The
    /// container's caches are left as they are, and nothing is written or counted.
    pub async fn preview_send(&self, send: &NewSend<'_>) -> Result<SendPreview, StoreError> {
        self.preview_send_within(send, &[]).await
    }

    /// [`Messages::preview_send`](crate::Messages::preview_send) with the business's `caps` on the send's category: an admitted
    /// send over one of them is [`SendOutcome::OverCap`], as the real send's write refuses it
    /// (one consistent read of each cap's counter).
    pub async fn preview_send_within(
        &self,
        send: &NewSend<'_>,
        caps: &[Cap],
    ) -> Result<SendPreview, StoreError> {
        let state = self
            .get_consistent(
                keys::business(send.business),
                keys::conversation(send.to),
                None,
            )
            .await
            .and_then(|item| conversation::from_item(item.as_ref()))?;
        let before = state.unwrap_or_default();
        // An accepted key answers as then, whatever the rules say now (as `record_send`: its
        // transaction's key condition, or the look-up after a refusal).
        if let Some((key, hash)) = send.idempotency
            && let Some(earlier) = self.earlier(send.business, key, send.now).await?
        {
            return Ok(SendPreview {
                before,
                outcome: earlier.outcome(hash),
            });
        }
        // The rules' own preview: `decide_send`, as `record_send` decides.
        let rules = before.preview_send(send.class, send.billing, send.now, &self.limits);
        let suppressed = rules.decision.is_ok()
            && state.is_none()
            && self.is_suppressed(send.business, send.to).await?;
        let over = match (&rules.decision, suppressed) {
            (Ok(()), false) if !caps.is_empty() => self
                .businesses()
                .cap_counts(send.business, caps, send.now)
                .await?
                .into_iter()
                .find(|c| !caps::admits(c.count, 1, c.cap.limit))
                .map(|c| c.cap),
            _ => None,
        };
        let outcome = match rules.decision {
            Err(refusal) => SendOutcome::Refused(refusal),
            Ok(()) if suppressed => SendOutcome::Refused(Refusal::RecipientOptedOut),
            Ok(()) => match over {
                Some(cap) => SendOutcome::OverCap(cap),
                None => SendOutcome::Accepted {
                    after: rules.conversation_after,
                },
            },
        };
        Ok(SendPreview { before, outcome })
    }

    /// [`Messages::preview_send`](crate::Messages::preview_send) for many recipients of different conversations at once (a
    /// campaign's dry run): their conversations in consistent batch reads, as a campaign's
    /// fan-out reads them, then each decided by the rules, a number without a conversation
    /// checked for suppression, a contact under erasure refused `erasing` as the fan-out
    /// refuses it. No idempotency record is looked at (a campaign's recipients have none).
    /// Each outcome is the conversation after the send, or the refusal's code.
    pub async fn preview_sends(
        &self,
        business: &BusinessId,
        sends: &[NewSend<'_>],
    ) -> Result<Vec<Result<Conversation, &'static str>>, StoreError> {
        let phones: Vec<&PhoneNumber> = sends.iter().map(|s| s.to).collect();
        let (states, erasing, _) = self.conversations_of(business, &phones).await?;
        let key = self.suppression_key_now(business).await?;
        let mut out = Vec::with_capacity(sends.len());
        for send in sends {
            let e164 = send.to.as_e164();
            if erasing.contains(e164) {
                out.push(Err(crate::campaign_admit::ERASING_REFUSAL));
                continue;
            }
            let state = states.get(e164).copied().flatten();
            let rules = state.unwrap_or_default().preview_send(
                send.class,
                send.billing,
                send.now,
                &self.limits,
            );
            let suppressed = match (&rules.decision, state, &key) {
                (Ok(()), None, Some(key)) => {
                    self.is_suppressed_with(business, key, send.to).await?
                }
                _ => false,
            };
            out.push(match rules.decision {
                Err(refusal) => Err(refusal.code()),
                Ok(()) if suppressed => Err(Refusal::RecipientOptedOut.code()),
                Ok(()) => Ok(rules.conversation_after),
            });
        }
        Ok(out)
    }

    /// Whether a number without a conversation item opted out before it was erased (the
    /// `suppression` module), read consistently.
    pub(crate) async fn is_suppressed(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<bool, StoreError> {
        match self.suppression_key_now(business).await? {
            Some(key) => self.is_suppressed_with(business, &key, to).await,
            None => Ok(false),
        }
    }

    /// The business's suppression key: the container's when it knows one (a key never changes
    /// once made), else read (a "no key" the container remembers may be stale).
    pub(crate) async fn suppression_key_now(
        &self,
        business: &BusinessId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(key) = self.suppression_keys_known(business) {
            return Ok(Some(key));
        }
        self.get_consistent(keys::business(business), keys::SUPPRESSION_KEY.into(), None)
            .await?
            .as_ref()
            .map(suppression::key_of)
            .transpose()
    }

    pub(crate) async fn is_suppressed_with(
        &self,
        business: &BusinessId,
        key: &[u8],
        to: &PhoneNumber,
    ) -> Result<bool, StoreError> {
        Ok(self
            .get_consistent(
                keys::business(business),
                keys::suppression(&suppression::hash(key, to)),
                None,
            )
            .await?
            .is_some())
    }

    /// After a send transaction got no answer: whether it committed, read back (consistently)
    /// for up to [`LANDED_PATIENCE`] while the table stays unreachable. The message id is new
    /// with this request, so its item exists only if this very transaction committed, with
    /// exactly the state it set. `Err` (a 503) when it did not, or when it cannot be told.
    async fn landed(&self, send: &NewSend<'_>, why: String) -> Result<WriteResult, StoreError> {
        let started = Instant::now();
        let mut pause = LANDED_FIRST_PAUSE;
        loop {
            let read = self
                .get_consistent(
                    keys::business(send.business),
                    keys::message(&send.message_id),
                    None,
                )
                .await;
            match read {
                Ok(Some(_)) => {
                    tracing::warn!(error = %why, "the send transaction's answer was lost; it committed");
                    return Ok(WriteResult::Written);
                }
                Ok(None) => return Err(StoreError::Unavailable(why)),
                Err(_) if started.elapsed() + pause < LANDED_PATIENCE => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LANDED_LONGEST_PAUSE);
                }
                Err(_) => return Err(StoreError::Unavailable(why)),
            }
        }
    }

    /// The idempotency record for `key`, unless absent or past its retention.
    async fn earlier(
        &self,
        business: &BusinessId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<Earlier>, StoreError> {
        self.get_consistent(
            keys::business(business),
            keys::idempotency(key.as_str()),
            Some(now),
        )
        .await?
        .as_ref()
        .map(earlier_from_item)
        .transpose()
    }
}

impl Store {
    /// The items of one send's transaction, in this order: the conversation's write (the rules
    /// and the exact prior state: an `Update`, or for a number without one a `Put`), the message's `Put` (with `extra` attributes), and the
    /// idempotency record's `Put` when the send has a key. The suppression check of a number
    /// without a conversation is the caller's: a campaign's batch shares one per transaction.
    /// The single send ([`Messages::try_send_write`](crate::Messages::try_send_write)) and a campaign's batch
    /// (`campaigns::admit`) both build their writes here, so a recipient is admitted by exactly
    /// the conditions a single send is.
    pub(crate) fn send_items(
        &self,
        send: &NewSend<'_>,
        expected: Option<&Conversation>,
        after: &Conversation,
        extra: &[(&str, AttributeValue)],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let business_pk = keys::business(send.business);
        let contact = keys::contact(send.business, send.to);

        let mut e = Expr::default();
        let exact = conversation::expect_exactly(expected, &mut e);
        let rules = conversation::send_allowed(send.class, send.now, &self.limits, &mut e);
        let condition = format!("({exact}) AND ({rules})");
        // A new number's conversation is put whole (the same item and condition as the update;
        // `conversation::new_item`), a known one updated on its exact state.
        let conversation_write = match expected {
            None => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(conversation::new_item(
                            send.business,
                            send.to,
                            after,
                            send.now,
                        )))
                        .condition_expression(condition)
                        .set_expression_attribute_values(Some(e.values))
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .map_err(StoreError::build)?,
                )
                .build(),
            Some(_) => {
                let set = conversation::set_all(send.business, send.to, after, send.now, &mut e);
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .key(keys::PK, s(&business_pk))
                            .key(keys::SK, s(keys::conversation(send.to)))
                            .condition_expression(condition)
                            .update_expression(set)
                            .set_expression_attribute_values(Some(e.values))
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .build()
                            .map_err(StoreError::build)?,
                    )
                    .build()
            }
        };

        let expires = send.now.plus(self.retention.messages).as_secs();
        let mut message = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(&business_pk))
            .item(keys::SK, s(keys::message(&send.message_id)))
            .item(keys::GSI1PK, s(&contact))
            .item(keys::GSI1SK, s(keys::message(&send.message_id)))
            .item("message_id", s(send.message_id.as_str()))
            .item("business_id", s(send.business.as_str()))
            .item("to", s(send.to.as_e164()))
            .item("kind", s(send.kind))
            .item("class", s(class_name(send.class)))
            // Decided once, on the state this transaction's condition holds exactly.
            .item(
                BILLING_CATEGORY,
                s(Billing::of_send(send.billing, after).category.as_str()),
            )
            .item(
                BILLABLE,
                AttributeValue::Bool(Billing::of_send(send.billing, after).billable),
            )
            .item("payload", s(send.payload))
            .item("status", s(MessageStatus::Accepted.as_str()))
            .item("status_rank", n(MessageStatus::Accepted.rank()))
            .item(
                "history",
                history_value(&StatusTrack::accepted(send.now).history),
            )
            .item("created_at", n(send.now.as_millis()))
            .item(keys::EXPIRES_AT, n(expires))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(service_id) = send.service_id {
            message = message.item("service_id", n(service_id));
        }
        if send.class == SendClass::Session
            && let Some(session) = &after.session
        {
            message = message.item("session_started_at", n(session.started_at.as_millis()));
        }
        if let Some((key, _)) = send.idempotency {
            message = message.item("idempotency_key", s(key.as_str()));
        }
        if let Some(failover) = send.failover {
            message = message.item("failover", crate::failover::spec_attr(failover));
        }
        for (name, value) in extra {
            message = message.item(*name, value.clone());
        }

        let mut items = vec![
            conversation_write,
            TransactWriteItem::builder()
                .put(message.build().map_err(StoreError::build)?)
                .build(),
        ];
        if let Some((key, hash)) = send.idempotency {
            let record = self
                .send_key_record(send, key, hash, after)
                .build()
                .map_err(StoreError::build)?;
            items.push(TransactWriteItem::builder().put(record).build());
        }
        Ok(items)
    }
    /// A send's `Idempotency-Key` record (`IDEM#{key}`), unbuilt: written in the send's own
    /// transaction unless a live one is there (whose item the cancellation then returns).
    /// `after`: the conversation the send leaves, which a replay answers with.
    pub(crate) fn send_key_record(
        &self,
        send: &NewSend<'_>,
        key: &IdempotencyKey,
        hash: &str,
        after: &Conversation,
    ) -> PutBuilder {
        Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(keys::business(send.business)))
            .item(keys::SK, s(keys::idempotency(key.as_str())))
            .item(keys::GSI1PK, s(keys::contact(send.business, send.to)))
            .item(keys::GSI1SK, s(keys::idempotency(key.as_str())))
            .item("message_id", s(send.message_id.as_str()))
            .item("request_hash", s(hash))
            .item("accepted_at", n(send.now.as_millis()))
            .item("after", conversation::as_map(after))
            .item(
                keys::EXPIRES_AT,
                n(send.now.plus(self.retention.idempotency).as_secs()),
            )
            // TTL deletion lags: an expired record counts as absent.
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(send.now.as_secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }
}

impl crate::Messages<'_> {
    /// The send transaction itself, expecting the conversation to be exactly `expected` and
    /// setting it to `after`. Public for the agreement tests; [`Messages::record_send`](crate::Messages::record_send) is the API.
    #[doc(hidden)]
    pub async fn try_send_write(
        &self,
        send: &NewSend<'_>,
        expected: Option<&Conversation>,
        after: &Conversation,
    ) -> Result<WriteResult, StoreError> {
        self.try_send_write_within(send, expected, after, &[]).await
    }

    async fn try_send_write_within(
        &self,
        send: &NewSend<'_>,
        expected: Option<&Conversation>,
        after: &Conversation,
        caps: &[Cap],
    ) -> Result<WriteResult, StoreError> {
        let items = self.send_items(send, expected, after, &[])?;
        let mut request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items));
        // A number without a conversation item may have opted out and been erased (the
        // `suppression` module); the check is the transaction's last item.
        let guard = match expected {
            None => Some(self.suppression_guard(send.business, send.to).await?),
            Some(_) => None,
        };
        if let Some(guard) = &guard {
            let check = self.suppression_check(send.business, guard)?;
            request =
                request.transact_items(TransactWriteItem::builder().condition_check(check).build());
        }
        let guard_index = 2 + usize::from(send.idempotency.is_some());
        // The caps' counters come last.
        let caps_start = guard_index + usize::from(guard.is_some());
        for cap in caps {
            let Some(update) = crate::caps::counter_update(self, send.business, cap, 1, send.now)?
            else {
                return Ok(WriteResult::OverCap(*cap));
            };
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
        }
        // Last: the day's usage (`usage`), counted by this very write.
        let billing = Billing::of_send(send.billing, after);
        if let Some(update) = self.usage_update(
            send.business,
            send.message_id.as_str(),
            send.now,
            &UsageMove::of(session_rules::usage::accepted_message(
                billing,
                send.to.country(),
            )),
        )? {
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
        }

        let err = match request.send().await {
            Ok(_) => return Ok(WriteResult::Written),
            Err(err) => err,
        };
        let Some(cancelled) = Cancelled::of(&err) else {
            return Err(StoreError::sdk(err));
        };
        let failed = |i: usize| cancelled.failed(i);
        if !cancelled.any_failed() {
            // A capped business's sends share its counter, and every send a usage shard.
            if cancelled.conflict_only() {
                return Ok(WriteResult::Conflict);
            }
            // Cancelled for another reason (a conflicting transaction, throttling): retryable.
            return Err(StoreError::sdk(err));
        }
        if failed(1) {
            // The message id is new with every request, so the message can only exist because
            // this very write landed and its answer was lost (a cut connection), and the SDK
            // sent it again: it is written, with exactly `after` (found by fault injection).
            return Ok(WriteResult::Written);
        }
        // The conversation or an earlier idempotency record decides first, when they failed.
        let decided_elsewhere = failed(0) || (send.idempotency.is_some() && failed(2));
        if !decided_elsewhere
            && let Some(guard) = &guard
            && failed(guard_index)
        {
            return Ok(match guard {
                suppression::Guard::Hash(_) => WriteResult::Suppressed,
                suppression::Guard::NoKey => WriteResult::KeyMade,
            });
        }
        if !decided_elsewhere && let Some(i) = (0..caps.len()).find(|i| failed(caps_start + i)) {
            return Ok(WriteResult::OverCap(caps[i]));
        }
        let conversation = if failed(0) {
            Some(conversation::from_item(cancelled.item(0))?)
        } else {
            None
        };
        let earlier = if failed(2) {
            cancelled.item(2).map(earlier_from_item).transpose()?
        } else {
            None
        };
        Ok(WriteResult::Cancelled {
            conversation,
            earlier,
        })
    }
}

fn class_name(class: SendClass) -> &'static str {
    match class {
        SendClass::Session => "session",
        SendClass::Informative => "informative",
        SendClass::Promotional => "promotional",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_printable_ascii() {
        assert!(IdempotencyKey::parse("order-42/attempt#1").is_some());
        assert!(IdempotencyKey::parse("").is_none());
        assert!(IdempotencyKey::parse("has space").is_none());
        assert!(IdempotencyKey::parse("ключ").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_none());
    }
}
