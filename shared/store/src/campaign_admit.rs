//! Admitting a chunk of a campaign's recipients: the single send's rules and writes, batched.
//!
//! Each recipient is decided by `Conversation::decide_send` on a consistent read of its
//! conversation, and written with exactly the items a single send writes (`Store::send_items`:
//! the conversation's conditional write, the message's `Put`, the suppression check of a new
//! number). Many recipients of *different* conversations share one `TransactWriteItems` (up to
//! [`MAX_TRANSACT_ITEMS`]) with two more items:
//! - the chunk's `Update`, moving each member's slot from absent to its outcome
//!   (`attribute_not_exists(s{i})`), and marking the chunk finished with its last slot;
//! - the campaign's `Update`, conditioned on `running` (a pause or cancel stops the next write)
//!   and `ADD`ing the members' outcomes to the counts, and 1 to `chunks_done` when the chunk
//!   finishes.
//!
//! For a business with caps (on the recipients' billing category, on campaign recipients), the
//! transaction also holds each cap's counter, adding the batch's admitted members under the
//! cap's condition; members are admitted in slot order while every cap they count against has
//! room (`session_rules::caps::admit_in_order`, on the counters read when the chunk starts),
//! the others refused `quota_exceeded`. A counter some other writer moved meanwhile cancels the
//! batch, and says its count (`ALL_OLD`): the next round decides on it.
//!
//! A recipient whose message may wait for the user's reply ([`Candidate::Hold`]) is decided as
//! a single send with `wait_for_session` is (`Conversation::decide_hold`): sent now as above when
//! a session admits it, else **held** with exactly a single hold's items (`Messages::hold_items`:
//! the conversation naming it, conditioned on its exact state and on room for another, and the
//! held item, with the campaign on it), its slot `held`, counted `count_held` and `held_open`
//! (what a completion waits for) in the same transaction. Each later move of a held message
//! counts on the campaign in the write that moves it (`held`).
//!
//! So a recipient is counted exactly when its slot settles, and its message (whose id is derived
//! from campaign and position) exists exactly then: a redelivered chunk finds the slot taken and
//! sends nobody twice. One failed condition cancels the whole transaction; the cancellation
//! reasons (`ALL_OLD`) say which member's and why, and the next round retries the others:
//! a newer conversation is decided again, a taken slot is dropped, a suppressed new number is
//! refused as opted out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use session_rules::campaign::{CampaignRecipient, CampaignState};
use session_rules::caps::{self, Cap, CapSubject, Caps};
use session_rules::hold::{MAX_HELD_PER_CONVERSATION, check_until};
use session_rules::{Billing, Conversation, HoldDecision, PhoneNumber, Refusal, Timestamp};

use crate::attrs::{self, Item, b, n, s};
use crate::campaigns::{
    BILLING_COUNT_PREFIX, CHUNKS_DONE, COUNT_PREFIX, CampaignId, HELD_OPEN, STATE, slot_attr,
};
use crate::suppression::{self, Guard};
use crate::usage::UsageMove;
use crate::{BusinessId, NewHold, NewSend, Store, StoreError, conversation, keys};

/// DynamoDB's limit of items in one `TransactWriteItems`.
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// Rounds of writing before a chunk gives up with [`StoreError::Contended`] (its job is retried).
const MAX_ROUNDS: usize = 32;
const CHUNK_FINISHED: &str = "chunk_finished";

/// One chunk item as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub recipients: Vec<CampaignRecipient>,
    /// Settled slots and their outcome (`queued`, `refused:{code}`).
    pub settled: BTreeMap<usize, String>,
    pub finished: bool,
}

/// Where a chunk is.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRef<'a> {
    pub business: &'a BusinessId,
    pub campaign: &'a CampaignId,
    pub chunk: u32,
}

/// What the content rules made of one pending recipient (the caller applies them, as `send`
/// does for a single message): a send for the session rules to decide, or a refusal code.
#[derive(Debug, Clone)]
pub enum Candidate<'a> {
    Send {
        slot: usize,
        send: NewSend<'a>,
    },
    /// A session message that waits for the user's reply (`wait_for_session`): sent now when a
    /// session admits it, else held as a single send's hold is (its campaign named on it).
    Hold {
        slot: usize,
        hold: NewHold<'a>,
    },
    Refused {
        slot: usize,
        code: &'static str,
    },
}

impl<'a> Candidate<'a> {
    pub fn slot(&self) -> usize {
        match self {
            Candidate::Send { slot, .. }
            | Candidate::Hold { slot, .. }
            | Candidate::Refused { slot, .. } => *slot,
        }
    }

    /// The send it stands for (a hold's message as it would go now).
    fn send(&self) -> Option<&NewSend<'a>> {
        match self {
            Candidate::Send { send, .. } => Some(send),
            Candidate::Hold { hold, .. } => Some(&hold.send),
            Candidate::Refused { .. } => None,
        }
    }
}

/// What admitting a chunk did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admitted {
    pub queued: usize,
    /// Held for the user's reply (`wait_for_session`).
    pub held: usize,
    pub refused: BTreeMap<String, usize>,
    /// Slots some earlier delivery of the job had already settled.
    pub already: usize,
    /// The campaign is no longer running (paused, cancelled): the rest waits.
    pub halted: bool,
    /// Every slot of the chunk is settled now (by this call or before).
    pub finished: bool,
    /// `TransactWriteItems` calls made, committed or cancelled.
    pub transactions: usize,
}

/// What admission would make of one candidate ([`Campaigns::preview_candidates`](crate::Campaigns::preview_candidates)).
#[derive(Debug, Clone, PartialEq)]
pub enum Previewed {
    /// Sent now; the conversation after it.
    Queued(Conversation),
    /// Held for the user's reply.
    Held,
    Refused(&'static str),
}

/// What a chunk's admission knows of its recipients, as the rounds learn it.
struct Known {
    /// Conversations by E.164 (`None`: there is none).
    states: HashMap<String, Option<Conversation>>,
    /// Numbers whose contact is being erased.
    erasing: HashSet<String>,
    /// How many messages each conversation holds.
    held: HashMap<String, usize>,
    /// The business's suppression key (`None`: none yet).
    key: Option<Vec<u8>>,
    limits: Option<ChunkCaps>,
}

impl Known {
    /// A conversation as a failed condition returned it.
    fn saw_conversation(
        &mut self,
        to: &PhoneNumber,
        item: Option<&Item>,
    ) -> Result<(), StoreError> {
        let e164 = to.as_e164().to_owned();
        self.held
            .insert(e164.clone(), crate::held::held_of(item).len());
        match conversation::from_item(item) {
            Ok(real) => {
                self.states.insert(e164, real);
                Ok(())
            }
            // The erasure began meanwhile: refused on the next round.
            Err(StoreError::Erasing) => {
                self.erasing.insert(e164);
                Ok(())
            }
            Err(other) => Err(other),
        }
    }
}

/// A cancelled batch's error.
type CancelledBatch = aws_sdk_dynamodb::error::SdkError<
    TransactWriteItemsError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

/// One round's decisions (no I/O): every pending member decided on what is known of its
/// conversation, then the caps applied in slot order, while every cap a member counts against
/// has room.
fn plan_round(
    pending: &[Candidate<'_>],
    known: &Known,
    limits: &session_rules::Limits,
) -> Vec<Member> {
    let mut members: Vec<Member> = pending
        .iter()
        .map(|c| {
            let e164 = send_to(c);
            Member {
                slot: c.slot(),
                outcome: decide(
                    c,
                    known.states.get(e164).copied().flatten(),
                    known.held.get(e164).copied().unwrap_or(0),
                    known.erasing.contains(e164),
                    limits,
                ),
            }
        })
        .collect();
    if let Some(caps) = &known.limits {
        let needs: Vec<Vec<usize>> = members
            .iter()
            .zip(pending)
            .map(|(m, c)| match (&m.outcome, c.send()) {
                (Outcome::Queued { .. }, Some(send)) => caps.needs(send),
                _ => Vec::new(),
            })
            .collect();
        let mut room = caps.room.clone();
        let fits = caps::admit_in_order(&mut room, &needs);
        for (m, fits) in members.iter_mut().zip(fits) {
            if !fits {
                m.outcome = Outcome::Refused(QUOTA_REFUSAL);
            }
        }
    }
    members
}

/// What a transaction item is for, to read its cancellation reason.
#[derive(Debug, Clone, Copy)]
enum Role {
    Campaign,
    Chunk,
    Conversation(usize),
    Message(usize),
    Guard(usize),
    NoKey,
    /// The counter of the chunk's cap at this index.
    Cap(usize),
    /// The day's usage shard (no condition: only ever cancelled by a conflict).
    Usage,
}

/// One batch's transaction items, what each is for, and what it adds to each cap's counter.
type Batch = (Vec<TransactWriteItem>, Vec<Role>, Vec<u64>);

/// The refusal code of a recipient over one of the business's caps.
pub const QUOTA_REFUSAL: &str = "quota_exceeded";

/// The caps a chunk counts against, and the room each has left as far as this chunk knows.
struct ChunkCaps {
    caps: Vec<Cap>,
    room: Vec<u64>,
    now: Timestamp,
}

impl ChunkCaps {
    /// The indexes of the caps one admitted send counts against.
    fn needs(&self, send: &NewSend<'_>) -> Vec<usize> {
        caps::recipient_needs(&self.caps, send.billing)
    }
}

/// A member of one transaction: its slot and outcome.
struct Member {
    slot: usize,
    outcome: Outcome,
}

#[derive(Clone)]
enum Outcome {
    Queued {
        expected: Option<Conversation>,
        after: Conversation,
    },
    /// Held for the user's reply, the conversation named on as `expected` (exactly).
    Held {
        expected: Option<Conversation>,
    },
    Refused(&'static str),
}

impl Outcome {
    fn stored(&self) -> String {
        match self {
            Outcome::Queued { .. } => "queued".into(),
            Outcome::Held { .. } => "held".into(),
            Outcome::Refused(code) => format!("refused:{code}"),
        }
    }

    fn count_name(&self) -> String {
        match self {
            Outcome::Queued { .. } => format!("{COUNT_PREFIX}queued"),
            Outcome::Held { .. } => format!("{COUNT_PREFIX}held"),
            Outcome::Refused(code) => format!("{COUNT_PREFIX}refused_{code}"),
        }
    }

    /// The conversation the write is conditioned on, when it writes one.
    fn writes_conversation(&self) -> Option<Option<&Conversation>> {
        match self {
            Outcome::Queued { expected, .. } | Outcome::Held { expected } => {
                Some(expected.as_ref())
            }
            Outcome::Refused(_) => None,
        }
    }
}

/// One pending member decided on what is known of its conversation (no I/O): `state` its
/// conversation, `held` how many messages it holds already, `erasing` whether its contact is
/// being erased.
fn decide(
    candidate: &Candidate<'_>,
    state: Option<Conversation>,
    held: usize,
    erasing: bool,
    limits: &session_rules::Limits,
) -> Outcome {
    let refused = |refusal: Refusal| Outcome::Refused(refusal.code());
    match candidate {
        Candidate::Refused { code, .. } => Outcome::Refused(code),
        // A contact under erasure: refused, so the rest of the chunk goes on (its tombstone
        // refuses any write on its state until the erasure completes).
        _ if erasing => Outcome::Refused(ERASING_REFUSAL),
        Candidate::Send { send, .. } => {
            match state
                .unwrap_or_default()
                .decide_send(send.class, send.now, limits)
            {
                Ok(after) => Outcome::Queued {
                    expected: state,
                    after,
                },
                Err(refusal) => refused(refusal),
            }
        }
        Candidate::Hold { hold, .. } => {
            if let Err(refusal) = check_until(hold.until, hold.send.now) {
                return refused(refusal);
            }
            match state.unwrap_or_default().decide_hold(hold.send.now, limits) {
                Err(refusal) => refused(refusal),
                Ok(HoldDecision::SendNow(after)) => Outcome::Queued {
                    expected: state,
                    after,
                },
                Ok(HoldDecision::Hold) if held >= MAX_HELD_PER_CONVERSATION => {
                    refused(Refusal::TooManyHeld(MAX_HELD_PER_CONVERSATION))
                }
                Ok(HoldDecision::Hold) => Outcome::Held { expected: state },
            }
        }
    }
}

fn parse_chunk(item: &Item) -> Result<Chunk, StoreError> {
    let list = attrs::get_s(item, "recipients_json")?;
    let recipients: Vec<CampaignRecipient> = serde_json::from_str(list)
        .map_err(|e| StoreError::malformed("campaign chunk", e.to_string()))?;
    let settled = settled_slots(item, recipients.len());
    Ok(Chunk {
        finished: attrs::get_bool(item, CHUNK_FINISHED)?,
        recipients,
        settled,
    })
}

fn settled_slots(item: &Item, len: usize) -> BTreeMap<usize, String> {
    (0..len)
        .filter_map(|slot| match item.get(&slot_attr(slot)) {
            Some(AttributeValue::S(v)) => Some((slot, v.clone())),
            _ => None,
        })
        .collect()
}

impl crate::Campaigns<'_> {
    /// A chunk of a campaign (strongly consistent).
    pub async fn get_chunk(&self, at: ChunkRef<'_>) -> Result<Option<Chunk>, StoreError> {
        self.get_consistent(
            keys::business(at.business),
            keys::campaign_chunk(at.campaign, at.chunk),
            None,
        )
        .await?
        .as_ref()
        .map(parse_chunk)
        .transpose()
    }

    /// What admission would make of each of `candidates` now, writing nothing (a campaign's
    /// dry run): the same decision ([`decide`]) on a consistent read of the conversations, and
    /// a new number's suppression, as [`Messages::preview_sends`](crate::Messages::preview_sends).
    pub async fn preview_candidates(
        &self,
        business: &BusinessId,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<Previewed>, StoreError> {
        let phones: Vec<&PhoneNumber> = candidates
            .iter()
            .filter_map(|c| c.send().map(|send| send.to))
            .collect();
        let (states, erasing, held) = self.conversations_of(business, &phones).await?;
        let key = self.messages().suppression_key_now(business).await?;
        let mut out = Vec::with_capacity(candidates.len());
        for c in candidates {
            let e164 = send_to(c);
            let state = states.get(e164).copied().flatten();
            let outcome = decide(
                c,
                state,
                held.get(e164).copied().unwrap_or(0),
                erasing.contains(e164),
                &self.limits,
            );
            let suppressed = match (&outcome, c.send(), &key) {
                (
                    Outcome::Queued { expected: None, .. } | Outcome::Held { expected: None },
                    Some(send),
                    Some(key),
                ) => {
                    self.messages()
                        .is_suppressed_with(business, key, send.to)
                        .await?
                }
                _ => false,
            };
            out.push(match outcome {
                _ if suppressed => {
                    Previewed::Refused(session_rules::Refusal::RecipientOptedOut.code())
                }
                Outcome::Queued { after, .. } => Previewed::Queued(after),
                Outcome::Held { .. } => Previewed::Held,
                Outcome::Refused(code) => Previewed::Refused(code),
            });
        }
        Ok(out)
    }

    /// Admits or refuses `candidates` (pending slots of the chunk at `at`, whose slots number
    /// `size` in all, `settled` of them before), counting against no caps. See the module
    /// documentation.
    pub async fn admit_chunk(
        &self,
        at: ChunkRef<'_>,
        size: usize,
        settled: &BTreeSet<usize>,
        candidates: Vec<Candidate<'_>>,
    ) -> Result<Admitted, StoreError> {
        self.admit_chunk_within(at, size, settled, candidates, &Caps::default())
            .await
    }

    /// [`Campaigns::admit_chunk`](crate::Campaigns::admit_chunk) counted against the business's `caps`, in the admitting writes.
    pub async fn admit_chunk_within(
        &self,
        at: ChunkRef<'_>,
        size: usize,
        settled: &BTreeSet<usize>,
        candidates: Vec<Candidate<'_>>,
        caps: &Caps,
    ) -> Result<Admitted, StoreError> {
        let mut report = Admitted::default();
        let mut settled = settled.clone();
        let mut pending: Vec<Candidate<'_>> = candidates
            .into_iter()
            .filter(|c| !settled.contains(&c.slot()))
            .collect();
        let mut known = self.know(at.business, &pending, caps).await?;
        let mut transient = 0u32;
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let members = plan_round(&pending, &known, &self.limits);
            let Some((err, roles)) = self
                .write_round(
                    at,
                    size,
                    &members,
                    &pending,
                    &mut known,
                    &mut settled,
                    &mut report,
                )
                .await?
            else {
                pending.retain(|c| !settled.contains(&c.slot()));
                continue;
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                err.as_service_error()
            else {
                return Err(StoreError::sdk(err));
            };
            let failed: Vec<(Role, Option<&Item>)> = roles
                .iter()
                .zip(c.cancellation_reasons())
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(role, r)| (*role, r.item()))
                .collect();
            if failed.is_empty() {
                // A conflicting transaction or throttling: try again shortly, a few times.
                transient += 1;
                if transient > 5 {
                    return Err(StoreError::sdk(err));
                }
                tokio::time::sleep(Duration::from_millis(20 << transient)).await;
            } else if self
                .learn(
                    at,
                    size,
                    &failed,
                    &mut pending,
                    &mut known,
                    &mut settled,
                    &mut report,
                )
                .await?
            {
                report.halted = true;
                return Ok(report);
            }
            pending.retain(|c| !settled.contains(&c.slot()));
        }
        if !pending.is_empty() {
            return Err(StoreError::Contended);
        }
        if settled.len() == size {
            report.finished = true;
        }
        Ok(report)
    }

    /// What admission starts from: the pending recipients' conversations, read consistently
    /// (a refusal must rest on the real state), the suppression key and the caps' room.
    async fn know(
        &self,
        business: &BusinessId,
        pending: &[Candidate<'_>],
        caps: &Caps,
    ) -> Result<Known, StoreError> {
        let phones: Vec<&PhoneNumber> = pending
            .iter()
            .filter_map(|c| c.send().map(|send| send.to))
            .collect();
        let (states, erasing, held) = self.conversations_of(business, &phones).await?;
        Ok(Known {
            states,
            erasing,
            held,
            key: self.suppression_key(business).await?,
            limits: self.chunk_caps(business, pending, caps).await?,
        })
    }

    /// Writes one round's members, a transaction per group, until one is cancelled: that
    /// one's error and the roles of its items (`None`: every group committed).
    #[allow(clippy::too_many_arguments)]
    async fn write_round(
        &self,
        at: ChunkRef<'_>,
        size: usize,
        members: &[Member],
        pending: &[Candidate<'_>],
        known: &mut Known,
        settled: &mut BTreeSet<usize>,
        report: &mut Admitted,
    ) -> Result<Option<(CancelledBatch, Vec<Role>)>, StoreError> {
        let groups = group(
            members,
            known.key.is_some(),
            known.limits.as_ref().map_or(0, |l| l.caps.len()),
        );
        let round_total = settled.len() + members.len();
        for (g, range) in groups.iter().enumerate() {
            let finishing = g + 1 == groups.len() && round_total == size;
            let batch = &members[range.clone()];
            let (items, roles, adds) = self.batch_items(
                at,
                batch,
                pending,
                &known.key,
                finishing,
                known.limits.as_ref(),
            )?;
            report.transactions += 1;
            if let Err(err) = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                return Ok(Some((err, roles)));
            }
            if let Some(limits) = &mut known.limits {
                for (room, added) in limits.room.iter_mut().zip(&adds) {
                    *room = room.saturating_sub(*added);
                }
            }
            for m in batch {
                settled.insert(m.slot);
                match &m.outcome {
                    Outcome::Queued { .. } => report.queued += 1,
                    Outcome::Held { .. } => report.held += 1,
                    Outcome::Refused(code) => {
                        *report.refused.entry((*code).to_owned()).or_default() += 1
                    }
                }
            }
            report.finished |= finishing;
        }
        Ok(None)
    }

    /// What a cancelled batch's failed conditions teach the next round (`failed`: each item's
    /// role and the item it failed on); `true` when the campaign is no longer running.
    #[allow(clippy::too_many_arguments)]
    async fn learn(
        &self,
        at: ChunkRef<'_>,
        size: usize,
        failed: &[(Role, Option<&Item>)],
        pending: &mut [Candidate<'_>],
        known: &mut Known,
        settled: &mut BTreeSet<usize>,
        report: &mut Admitted,
    ) -> Result<bool, StoreError> {
        let mut refused_now: HashMap<usize, &'static str> = HashMap::new();
        for (role, item) in failed {
            match role {
                Role::Campaign => return Ok(true),
                Role::Chunk => {
                    // Another delivery settled some of these slots: they are done.
                    let taken = item.map(|i| settled_slots(i, size)).unwrap_or_default();
                    let before = settled.len();
                    settled.extend(taken.keys().copied());
                    report.already += settled.len() - before;
                    if item.is_some_and(|i| matches!(attrs::get_bool(i, CHUNK_FINISHED), Ok(true)))
                    {
                        report.finished = true;
                    }
                }
                Role::Conversation(i) => {
                    if let Some(send) = pending.get(*i).and_then(Candidate::send) {
                        known.saw_conversation(send.to, *item)?;
                    }
                }
                Role::Message(i) => {
                    // Its message exists, so an earlier delivery admitted it (with its slot).
                    // (Counted once: the chunk's own failure may have named the slot.)
                    if let Some(c) = pending.get(*i)
                        && settled.insert(c.slot())
                    {
                        report.already += 1;
                    }
                }
                Role::Guard(i) => {
                    refused_now.insert(*i, "recipient_opted_out");
                }
                Role::NoKey => {
                    self.forget_suppression_key(at.business);
                    known.key = self.suppression_key(at.business).await?;
                }
                Role::Usage => {}
                Role::Cap(c) => {
                    // Another writer counted meanwhile: decide again on its count.
                    if let Some(limits) = &mut known.limits
                        && let Some(cap) = limits.caps.get(*c)
                    {
                        let count = crate::caps::count_of(*item)?;
                        limits.room[*c] = caps::room(count, cap.limit);
                    }
                }
            }
        }
        // A suppressed new number is refused, unless its conversation appeared meanwhile
        // (then it is decided again on that).
        for (i, code) in refused_now {
            let conversation_failed = failed
                .iter()
                .any(|(r, _)| matches!(r, Role::Conversation(j) if *j == i));
            if !conversation_failed && let Some(c) = pending.get_mut(i) {
                *c = Candidate::Refused {
                    slot: c.slot(),
                    code,
                };
            }
        }
        Ok(false)
    }

    /// The caps the chunk's sends count against and their room now; `None` without any.
    async fn chunk_caps(
        &self,
        business: &BusinessId,
        pending: &[Candidate<'_>],
        caps: &Caps,
    ) -> Result<Option<ChunkCaps>, StoreError> {
        let sends: Vec<&NewSend<'_>> = pending.iter().filter_map(Candidate::send).collect();
        let Some(now) = sends.first().map(|s| s.now) else {
            return Ok(None);
        };
        let relevant: Vec<Cap> = caps
            .all()
            .into_iter()
            .filter(|c| match c.subject {
                CapSubject::CampaignRecipients => true,
                CapSubject::Category(category) => sends.iter().any(|s| s.billing == category),
            })
            .collect();
        if relevant.is_empty() {
            return Ok(None);
        }
        let room = self
            .businesses()
            .cap_counts(business, &relevant, now)
            .await?
            .iter()
            .map(|c| caps::room(c.count, c.cap.limit))
            .collect();
        Ok(Some(ChunkCaps {
            caps: relevant,
            room,
            now,
        }))
    }

    /// The transaction of one group of members; `pending` is indexed like the members. Also
    /// what it adds to each cap's counter.
    fn batch_items(
        &self,
        at: ChunkRef<'_>,
        batch: &[Member],
        pending: &[Candidate<'_>],
        key: &Option<Vec<u8>>,
        finishing: bool,
        limits: Option<&ChunkCaps>,
    ) -> Result<Batch, StoreError> {
        let counts = batch_counts(batch, pending);
        let mut items = vec![
            TransactWriteItem::builder()
                .update(self.campaign_admission(at, &counts, finishing)?)
                .build(),
            TransactWriteItem::builder()
                .update(self.chunk_settles(at, batch, finishing)?)
                .build(),
        ];
        let mut roles = vec![Role::Campaign, Role::Chunk];
        self.member_items(at, batch, pending, key, &mut items, &mut roles)?;
        // The day's usage (`usage`): what this batch admits, on one shard (a transaction may
        // touch an item once), that of its first admitted message.
        if let Some((first, now, usage)) = batch_usage(batch, pending)
            && let Some(update) = self.usage_update(at.business, first.as_str(), now, &usage)?
        {
            items.push(TransactWriteItem::builder().update(update).build());
            roles.push(Role::Usage);
        }
        // The caps' counters: what this batch admits of each.
        let mut adds = Vec::new();
        if let Some(limits) = limits {
            adds = batch_cap_adds(batch, pending, limits);
            for (c, cap) in limits.caps.iter().enumerate() {
                if adds[c] == 0 {
                    continue;
                }
                // Never over the limit: members were admitted within the room.
                let update =
                    crate::caps::counter_update(self, at.business, cap, adds[c], limits.now)?
                        .ok_or(StoreError::Contended)?;
                items.push(TransactWriteItem::builder().update(update).build());
                roles.push(Role::Cap(c));
            }
        }
        Ok((items, roles, adds))
    }

    /// The campaign's update for a batch: conditioned on its still running; the batch's
    /// `counts`, one more chunk done when it finishes one, and the held ones open.
    fn campaign_admission(
        &self,
        at: ChunkRef<'_>,
        counts: &BTreeMap<String, usize>,
        finishing: bool,
    ) -> Result<Update, StoreError> {
        let mut names = HashMap::from([("#st".to_owned(), STATE.to_owned())]);
        let mut values =
            HashMap::from([(":running".to_owned(), s(CampaignState::Running.as_str()))]);
        let mut adds = Vec::new();
        for (i, (name, count)) in counts.iter().enumerate() {
            names.insert(format!("#c{i}"), name.clone());
            values.insert(format!(":c{i}"), n(*count));
            adds.push(format!("#c{i} :c{i}"));
        }
        if finishing {
            values.insert(":one".into(), n(1));
            adds.push(format!("{CHUNKS_DONE} :one"));
        }
        // The held ones are open until each moves (`held`): a completion waits for them.
        if let Some(held) = counts.get(&format!("{COUNT_PREFIX}held")) {
            values.insert(":held".into(), n(*held));
            adds.push(format!("{HELD_OPEN} :held"));
        }
        Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(at.business)))
            .key(keys::SK, s(keys::campaign(at.campaign)))
            .condition_expression("#st = :running")
            .update_expression(format!("ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(StoreError::build)
    }

    /// The chunk's update: each member's slot from absent to its outcome, and finished with
    /// its last.
    fn chunk_settles(
        &self,
        at: ChunkRef<'_>,
        batch: &[Member],
        finishing: bool,
    ) -> Result<Update, StoreError> {
        let mut values = HashMap::new();
        let mut sets = Vec::new();
        let mut conditions = vec!["attribute_exists(pk)".to_owned()];
        for m in batch {
            let attr = slot_attr(m.slot);
            values.insert(format!(":{attr}"), s(m.outcome.stored()));
            sets.push(format!("{attr} = :{attr}"));
            conditions.push(format!("attribute_not_exists({attr})"));
        }
        if finishing {
            values.insert(":yes".into(), b(true));
            sets.push(format!("{CHUNK_FINISHED} = :yes"));
            conditions.push(format!("attribute_not_exists({CHUNK_FINISHED})"));
        }
        Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(at.business)))
            .key(keys::SK, s(keys::campaign_chunk(at.campaign, at.chunk)))
            .condition_expression(conditions.join(" AND "))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::build)
    }

    /// Each queued or held member's items (a single send's, or a single hold's with the
    /// campaign on it) and a new number's suppression check.
    fn member_items(
        &self,
        at: ChunkRef<'_>,
        batch: &[Member],
        pending: &[Candidate<'_>],
        key: &Option<Vec<u8>>,
        items: &mut Vec<TransactWriteItem>,
        roles: &mut Vec<Role>,
    ) -> Result<(), StoreError> {
        let mut no_key_checked = false;
        for m in batch {
            let Some(expected) = m.outcome.writes_conversation() else {
                continue;
            };
            let Some(i) = pending.iter().position(|c| c.slot() == m.slot) else {
                continue;
            };
            let Some(send) = pending[i].send() else {
                continue;
            };
            match (&m.outcome, &pending[i]) {
                (Outcome::Queued { after, .. }, _) => {
                    let extra = [
                        ("campaign_id", s(at.campaign.as_str())),
                        ("campaign_chunk", n(at.chunk)),
                    ];
                    items.extend(self.send_items(send, expected, after, &extra)?);
                }
                (Outcome::Held { .. }, Candidate::Hold { hold, .. }) => {
                    items.extend(
                        self.messages()
                            .hold_items(hold, expected, Some(at.campaign))?,
                    );
                }
                _ => continue,
            }
            roles.extend([Role::Conversation(i), Role::Message(i)]);
            if expected.is_some() {
                continue;
            }
            let (guard, role) = match key {
                Some(key) => (Guard::Hash(suppression::hash(key, send.to)), Role::Guard(i)),
                // One check of the key's absence covers every new number of the batch (a
                // transaction may touch an item once).
                None if !no_key_checked => (Guard::NoKey, Role::NoKey),
                None => continue,
            };
            no_key_checked |= key.is_none();
            items.push(
                TransactWriteItem::builder()
                    .condition_check(self.suppression_check(at.business, &guard)?)
                    .build(),
            );
            roles.push(role);
        }
        Ok(())
    }
}

/// The send a queued member stands for.
fn queued<'p, 'a>(
    m: &'p Member,
    pending: &'p [Candidate<'a>],
) -> Option<(&'p NewSend<'a>, &'p Conversation)> {
    let Outcome::Queued { after, .. } = &m.outcome else {
        return None;
    };
    let send = pending
        .iter()
        .find(|c| c.slot() == m.slot)
        .and_then(Candidate::send)?;
    Some((send, after))
}

/// What a batch adds to the campaign's counts (no I/O): each member under its outcome, and the
/// queued ones by billing category too, in the write that admits them.
fn batch_counts(batch: &[Member], pending: &[Candidate<'_>]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in batch {
        *counts.entry(m.outcome.count_name()).or_default() += 1;
        if let Some((send, after)) = queued(m, pending) {
            let billing = Billing::of_send(send.billing, after);
            let name = format!(
                "{COUNT_PREFIX}{BILLING_COUNT_PREFIX}{}",
                billing.category.as_str()
            );
            *counts.entry(name).or_default() += 1;
        }
    }
    counts
}

/// What a batch adds to the day's usage (no I/O), with the id of its first queued message
/// (whose shard it goes on) and the time; `None` when it queues nobody.
fn batch_usage(
    batch: &[Member],
    pending: &[Candidate<'_>],
) -> Option<(crate::MessageId, Timestamp, UsageMove)> {
    let mut usage = UsageMove::default();
    let mut first = None;
    for (send, after) in batch.iter().filter_map(|m| queued(m, pending)) {
        first.get_or_insert_with(|| (send.message_id.clone(), send.now));
        usage.add(session_rules::usage::CAMPAIGN_RECIPIENTS.to_owned(), 1);
        for (name, v) in session_rules::usage::accepted_message(
            Billing::of_send(send.billing, after),
            send.to.country(),
        ) {
            usage.add(name, v);
        }
    }
    first.map(|(id, now)| (id, now, usage))
}

/// What a batch adds to each of the chunk's caps (no I/O): one per queued member on each cap it
/// counts against; held ones count when they go.
fn batch_cap_adds(batch: &[Member], pending: &[Candidate<'_>], limits: &ChunkCaps) -> Vec<u64> {
    let mut adds = vec![0u64; limits.caps.len()];
    for (send, _) in batch.iter().filter_map(|m| queued(m, pending)) {
        for c in limits.needs(send) {
            adds[c] += 1;
        }
    }
    adds
}

impl Store {
    /// Conversations of `phones` by E.164, consistently, 100 keys a `BatchGetItem`; and the
    /// numbers whose conversation carries an erasure's tombstone.
    pub(crate) async fn conversations_of(
        &self,
        business: &BusinessId,
        phones: &[&PhoneNumber],
    ) -> Result<ConversationsOf, StoreError> {
        let mut erasing = HashSet::new();
        let mut held = HashMap::new();
        let pk = keys::business(business);
        let mut states: HashMap<String, Option<Conversation>> = phones
            .iter()
            .map(|p| (p.as_e164().to_owned(), None))
            .collect();
        for part in phones.chunks(100) {
            let mut wanted: Vec<HashMap<String, AttributeValue>> = part
                .iter()
                .map(|p| {
                    HashMap::from([
                        (keys::PK.to_owned(), s(&pk)),
                        (keys::SK.to_owned(), s(keys::conversation(p))),
                    ])
                })
                .collect();
            for attempt in 0..8u32 {
                if wanted.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(true)
                    .build()
                    .map_err(StoreError::build)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                for item in out
                    .responses
                    .as_ref()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let sk = attrs::get_s(item, keys::SK)?;
                    if let Some(e164) = sk.strip_prefix(keys::CONVERSATION_PREFIX) {
                        held.insert(e164.to_owned(), crate::held::held_of(Some(item)).len());
                        match conversation::from_item(Some(item)) {
                            Ok(state) => {
                                states.insert(e164.to_owned(), state);
                            }
                            Err(StoreError::Erasing) => {
                                erasing.insert(e164.to_owned());
                            }
                            Err(other) => return Err(other),
                        }
                    }
                }
                wanted = out
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !wanted.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
            }
            if !wanted.is_empty() {
                return Err(StoreError::Unavailable(
                    "BatchGetItem kept returning unprocessed keys".into(),
                ));
            }
        }
        Ok((states, erasing, held))
    }
}

/// Conversations by E.164, the numbers under erasure, and how many messages each conversation
/// holds.
pub(crate) type ConversationsOf = (
    HashMap<String, Option<Conversation>>,
    HashSet<String>,
    HashMap<String, usize>,
);

/// The refusal code of a recipient whose contact is being erased.
pub const ERASING_REFUSAL: &str = "erasing";

fn send_to<'a>(candidate: &'a Candidate<'_>) -> &'a str {
    candidate.send().map_or("", |send| send.to.as_e164())
}

/// Groups of consecutive members that fit one transaction each: two items for the campaign and
/// the chunk, then two per queued member and one for each new number's suppression check (and
/// one shared check while the business has no suppression key).
fn group(members: &[Member], has_key: bool, caps: usize) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    // The campaign, the chunk, room for one shared key check, the usage shard and the caps'
    // counters.
    let first = 2 + 1 + 1 + caps;
    let mut used = first;
    for (i, m) in members.iter().enumerate() {
        let cost = match &m.outcome {
            Outcome::Queued { expected: None, .. } | Outcome::Held { expected: None }
                if has_key =>
            {
                3
            }
            Outcome::Queued { .. } | Outcome::Held { .. } => 2,
            Outcome::Refused(_) => 0,
        };
        if used + cost > MAX_TRANSACT_ITEMS {
            groups.push(start..i);
            start = i;
            used = first;
        }
        used += cost;
    }
    if start < members.len() || groups.is_empty() {
        groups.push(start..members.len());
    }
    groups
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use session_rules::{BillingCategory, Limits, SendClass};

    use super::*;
    use crate::{MessageId, NewHold};

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn hold<'a>(business: &'a BusinessId, to: &'a PhoneNumber, slot: usize) -> Candidate<'a> {
        Candidate::Hold {
            slot,
            hold: NewHold {
                send: NewSend {
                    business,
                    message_id: MessageId::generate(),
                    to,
                    class: SendClass::Session,
                    kind: "session",
                    billing: BillingCategory::Session,
                    payload: "{}",
                    service_id: None,
                    idempotency: None,
                    failover: None,
                    now: NOW,
                },
                until: NOW.plus(Duration::from_secs(3600)),
                fallback: None,
            },
        }
    }

    #[test]
    fn a_hold_is_sent_in_a_session_held_without_one_and_refused_when_it_cannot_wait() {
        let business = BusinessId::parse("acme").unwrap();
        let to = PhoneNumber::parse("+447911123456").unwrap();
        let limits = Limits::default();
        let c = hold(&business, &to, 0);
        let open = Conversation::default().user_message(NOW, &limits);
        assert!(matches!(
            decide(&c, Some(open), 0, false, &limits),
            Outcome::Queued { .. }
        ));
        assert!(matches!(
            decide(&c, None, 0, false, &limits),
            Outcome::Held { expected: None }
        ));
        assert!(matches!(
            decide(&c, None, MAX_HELD_PER_CONVERSATION, false, &limits),
            Outcome::Refused("too_many_held")
        ));
        assert!(matches!(
            decide(
                &c,
                Some(Conversation::default().opt_out()),
                0,
                false,
                &limits
            ),
            Outcome::Refused("recipient_opted_out")
        ));
        assert!(matches!(
            decide(&c, None, 0, true, &limits),
            Outcome::Refused(ERASING_REFUSAL)
        ));
        // `until` already past at its turn: refused as a single send's would be.
        let Candidate::Hold { mut hold, .. } = c else {
            unreachable!()
        };
        hold.until = NOW;
        let late = Candidate::Hold { slot: 0, hold };
        assert!(matches!(
            decide(&late, None, 0, false, &limits),
            Outcome::Refused("hold_until_invalid")
        ));
    }

    #[test]
    fn a_batch_counts_each_outcome_and_opens_what_it_holds() {
        let business = BusinessId::parse("acme").unwrap();
        let phones: Vec<PhoneNumber> = (0..3)
            .map(|i| PhoneNumber::parse(&format!("+44791112345{i}")).unwrap())
            .collect();
        let pending: Vec<Candidate<'_>> = phones
            .iter()
            .enumerate()
            .map(|(slot, to)| hold(&business, to, slot))
            .collect();
        let limits = Limits::default();
        let open = Conversation::default().user_message(NOW, &limits);
        let known = Known {
            states: HashMap::from([(phones[0].as_e164().to_owned(), Some(open))]),
            erasing: HashSet::new(),
            held: HashMap::from([(phones[2].as_e164().to_owned(), MAX_HELD_PER_CONVERSATION)]),
            key: None,
            limits: None,
        };
        let members = plan_round(&pending, &known, &limits);
        let stored: Vec<String> = members.iter().map(|m| m.outcome.stored()).collect();
        assert_eq!(stored, ["queued", "held", "refused:too_many_held"]);
        let counts = batch_counts(&members, &pending);
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [
                ("count_billing_session".to_owned(), 1),
                ("count_held".to_owned(), 1),
                ("count_queued".to_owned(), 1),
                ("count_refused_too_many_held".to_owned(), 1),
            ]
        );
        // Only what is queued counts in the day's usage; a held one counts when it goes.
        let (_, _, usage) = batch_usage(&members, &pending).expect("one queued");
        let mut expected = UsageMove::default();
        expected.add(session_rules::usage::CAMPAIGN_RECIPIENTS.to_owned(), 1);
        for (name, v) in session_rules::usage::accepted_message(
            Billing::of_send(
                BillingCategory::Session,
                &open.decide_send(SendClass::Session, NOW, &limits).unwrap(),
            ),
            phones[0].country(),
        ) {
            expected.add(name, v);
        }
        assert_eq!(usage, expected);
        // A held member costs its transaction what a queued one does.
        assert_eq!(
            group(&members, true, 0),
            vec![std::ops::Range { start: 0, end: 3 }]
        );
    }
}
