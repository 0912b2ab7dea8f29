//! Conversation items: the session counters, opt-out and first contact of one business × user,
//! and the conditions that make changes to them atomic.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use session_rules::{Conversation, Limits, PhoneNumber, SendClass, Session, Timestamp};

use crate::attrs::{self, Item, b, n, s};
use crate::{BusinessId, Store, StoreError, keys};

/// Set on the conversation item while its contact is being erased (`erase` module): no write
/// may build on that state any more, and readers are told to come back.
pub(crate) const ERASING: &str = "erasing";

// The conversation's attributes (read back from the table's stream too: `crate::stream`).
pub(crate) const OPTED_OUT: &str = "opted_out";
pub(crate) const CONTACTED: &str = "contacted";
pub(crate) const SESSION_STARTED_AT: &str = "session_started_at";
pub(crate) const MESSAGES_SENT: &str = "messages_sent";
pub(crate) const CONSECUTIVE: &str = "consecutive";
pub(crate) const UPDATED_AT: &str = "updated_at";

pub(crate) fn from_item(item: Option<&Item>) -> Result<Option<Conversation>, StoreError> {
    let Some(item) = item else { return Ok(None) };
    if item.contains_key(ERASING) {
        return Err(StoreError::Erasing);
    }
    let session = match attrs::opt_n::<i64>(item, SESSION_STARTED_AT)? {
        Some(started) => Some(Session {
            started_at: Timestamp::from_millis(started),
            messages_sent: attrs::get_n(item, MESSAGES_SENT)?,
            consecutive: attrs::get_n(item, CONSECUTIVE)?,
        }),
        None => None,
    };
    Ok(Some(Conversation {
        session,
        opted_out: attrs::get_bool(item, OPTED_OUT)?,
        contacted: attrs::get_bool(item, CONTACTED)?,
    }))
}

/// A conversation as one map attribute (kept inside idempotency and inbound records, so a
/// replay answers with the state right after the original write); read back with [`from_item`].
pub(crate) fn as_map(c: &Conversation) -> AttributeValue {
    let mut m: HashMap<String, AttributeValue> = HashMap::from([
        (OPTED_OUT.into(), b(c.opted_out)),
        (CONTACTED.into(), b(c.contacted)),
    ]);
    if let Some(session) = &c.session {
        m.insert(SESSION_STARTED_AT.into(), n(session.started_at.as_millis()));
        m.insert(MESSAGES_SENT.into(), n(session.messages_sent));
        m.insert(CONSECUTIVE.into(), n(session.consecutive));
    }
    AttributeValue::M(m)
}

/// Expression parts: `#name`-free, values under a prefix so several can share one request.
#[derive(Debug, Default)]
pub(crate) struct Expr {
    pub values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn value(&mut self, name: &str, v: AttributeValue) -> String {
        let key = format!(":{name}");
        self.values.insert(key.clone(), v);
        key
    }
}

/// The condition that the item is exactly `expected` (`None`: no item). Pinning the state the
/// decision was made on is what lets the answer carry an exact session snapshot.
pub(crate) fn expect_exactly(expected: Option<&Conversation>, e: &mut Expr) -> String {
    let Some(c) = expected else {
        return "attribute_not_exists(pk)".into();
    };
    let oo = e.value("e_oo", b(c.opted_out));
    let ct = e.value("e_ct", b(c.contacted));
    let session = match &c.session {
        Some(s) => {
            let st = e.value("e_st", n(s.started_at.as_millis()));
            let ms = e.value("e_ms", n(s.messages_sent));
            let cs = e.value("e_cs", n(s.consecutive));
            format!("session_started_at = {st} AND messages_sent = {ms} AND consecutive = {cs}")
        }
        None => "attribute_not_exists(session_started_at)".into(),
    };
    format!(
        "attribute_exists(pk) AND attribute_not_exists({ERASING}) AND opted_out = {oo} \
         AND contacted = {ct} AND {session}"
    )
}

/// The rules of `session-rules` for a send of `class` at `now`, as a DynamoDB condition, built
/// from the same [`Limits`]. Kept in step with `Conversation::decide_send` by a property test
/// against the emulator.
pub(crate) fn send_allowed(
    class: SendClass,
    now: Timestamp,
    limits: &Limits,
    e: &mut Expr,
) -> String {
    let no = e.value("r_false", b(false));
    match class {
        SendClass::Session => {
            // Open iff now < started_at + duration, i.e. started_at > now - duration.
            let cutoff = e.value(
                "r_cutoff",
                n(now.minus(limits.session_duration).as_millis()),
            );
            let max = e.value("r_max", n(limits.max_session_messages));
            let row = e.value("r_row", n(limits.max_consecutive));
            format!(
                "attribute_exists(pk) AND opted_out = {no} AND session_started_at > {cutoff} \
                 AND messages_sent < {max} AND consecutive < {row}"
            )
        }
        SendClass::Informative => format!("attribute_not_exists(pk) OR opted_out = {no}"),
        SendClass::Promotional => {
            let yes = e.value("r_true", b(true));
            format!("attribute_exists(pk) AND opted_out = {no} AND contacted = {yes}")
        }
    }
}

/// When the user last wrote (our clock, ms): set with every user message, so that a late
/// Viber 21 can tell whether the user wrote after the send it answers was admitted.
pub(crate) const LAST_USER_MESSAGE_AT: &str = "last_user_message_at";

/// [`set_all`] for a user message received at `now`: also [`LAST_USER_MESSAGE_AT`].
pub(crate) fn set_user_message(
    business: &BusinessId,
    to: &PhoneNumber,
    after: &Conversation,
    now: Timestamp,
    e: &mut Expr,
) -> String {
    let at = e.value("a_lum", n(now.as_millis()));
    set_with(
        business,
        to,
        after,
        now,
        vec![format!("{LAST_USER_MESSAGE_AT} = {at}")],
        e,
    )
}

/// `SET` for every attribute of `after` (the item may not exist yet).
pub(crate) fn set_all(
    business: &BusinessId,
    to: &PhoneNumber,
    after: &Conversation,
    now: Timestamp,
    e: &mut Expr,
) -> String {
    set_with(business, to, after, now, Vec::new(), e)
}

fn set_with(
    business: &BusinessId,
    to: &PhoneNumber,
    after: &Conversation,
    now: Timestamp,
    extra: Vec<String>,
    e: &mut Expr,
) -> String {
    let mut sets = extra;
    sets.extend([
        format!("phone = {}", e.value("a_phone", s(to.as_e164()))),
        format!(
            "gsi1pk = {}",
            e.value("a_gsi", s(keys::contact(business, to)))
        ),
        format!("gsi1sk = {}", e.value("a_gsisk", s(keys::conversation(to)))),
        format!("opted_out = {}", e.value("a_oo", b(after.opted_out))),
        format!("contacted = {}", e.value("a_ct", b(after.contacted))),
        format!("updated_at = {}", e.value("a_now", n(now.as_millis()))),
    ]);
    let mut text = String::new();
    if let Some(session) = &after.session {
        sets.push(format!(
            "session_started_at = {}",
            e.value("a_st", n(session.started_at.as_millis()))
        ));
        sets.push(format!(
            "messages_sent = {}",
            e.value("a_ms", n(session.messages_sent))
        ));
        sets.push(format!(
            "consecutive = {}",
            e.value("a_cs", n(session.consecutive))
        ));
    } else {
        text.push_str(" REMOVE session_started_at, messages_sent, consecutive");
    }
    format!("SET {}{text}", sets.join(", "))
}

/// The item [`set_all`] makes of a conversation that does not exist yet, whole: a send to a
/// new number `Put`s it under the same condition. The emulator evaluates a `Put` many times
/// faster than an `Update` (it validates an update expression's syntax tree over and over),
/// and the item is the same (`tests::a_new_item_has_what_set_all_sets`).
pub(crate) fn new_item(
    business: &BusinessId,
    to: &PhoneNumber,
    after: &Conversation,
    now: Timestamp,
) -> Item {
    let mut item = Item::from([
        (keys::PK.to_owned(), s(keys::business(business))),
        (keys::SK.to_owned(), s(keys::conversation(to))),
        ("phone".to_owned(), s(to.as_e164())),
        (keys::GSI1PK.to_owned(), s(keys::contact(business, to))),
        (keys::GSI1SK.to_owned(), s(keys::conversation(to))),
        (OPTED_OUT.to_owned(), b(after.opted_out)),
        (CONTACTED.to_owned(), b(after.contacted)),
        (UPDATED_AT.to_owned(), n(now.as_millis())),
    ]);
    if let Some(session) = &after.session {
        item.insert(SESSION_STARTED_AT.into(), n(session.started_at.as_millis()));
        item.insert(MESSAGES_SENT.into(), n(session.messages_sent));
        item.insert(CONSECUTIVE.into(), n(session.consecutive));
    }
    item
}

/// Last known state of recently used conversations in this container. Only a hint: a stale
/// entry costs one failed conditional write (which returns the real state), never correctness.
#[derive(Debug, Default)]
pub(crate) struct Cache(Mutex<HashMap<String, Option<Conversation>>>);

const CACHE_CAPACITY: usize = 10_000;

impl Cache {
    fn key(business: &BusinessId, to: &PhoneNumber) -> String {
        keys::contact(business, to)
    }

    pub fn get(&self, business: &BusinessId, to: &PhoneNumber) -> Option<Option<Conversation>> {
        self.0.lock().ok()?.get(&Self::key(business, to)).copied()
    }

    pub fn put(&self, business: &BusinessId, to: &PhoneNumber, state: Option<Conversation>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CACHE_CAPACITY {
                map.clear();
            }
            map.insert(Self::key(business, to), state);
        }
    }

    pub fn forget(&self, business: &BusinessId, to: &PhoneNumber) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&Self::key(business, to));
        }
    }
}

impl crate::Conversations<'_> {
    /// The conversation as stored now (strongly consistent); `None` when there is none.
    pub async fn get_conversation(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<Option<Conversation>, StoreError> {
        let item = self
            .get_consistent(keys::business(business), keys::conversation(to), None)
            .await?;
        let state = from_item(item.as_ref())?;
        self.conversations.put(business, to, state);
        Ok(state)
    }

    /// Writes a conversation as given, whatever was there (tests and the admin tool use it to
    /// set up states; the functions never do).
    pub async fn put_conversation(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        state: &Conversation,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut e = Expr::default();
        let update = set_all(business, to, state, now, &mut e);
        self.update_business_item(business, keys::conversation(to))
            .update_expression(update)
            .set_expression_attribute_values(Some(e.values))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        self.conversations.forget(business, to);
        Ok(())
    }
}

impl crate::Conversations<'_> {
    /// The user wrote at `now`: starts a session or unlocks the open one, and ends an opt-out;
    /// returns the conversation after. Atomic against racing user messages and sends: the write
    /// pins the state it was computed from, and a lost race retries from the real state.
    pub async fn record_user_message(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        now: Timestamp,
    ) -> Result<Conversation, StoreError> {
        self.cas_conversation(
            business,
            to,
            now,
            |c| c.user_message(now, &self.limits),
            true,
        )
        .await
    }

    /// Applies `change` to the conversation with a compare-and-set loop; returns the state
    /// after. Used for everything except sends (which also write the message in the same
    /// transaction).
    pub async fn change_conversation(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        now: Timestamp,
        change: impl Fn(&Conversation) -> Conversation,
    ) -> Result<Conversation, StoreError> {
        self.cas_conversation(business, to, now, change, false)
            .await
    }

    /// [`Conversations::change_conversation`](crate::Conversations::change_conversation); `user_message` also records when the user wrote.
    async fn cas_conversation(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        now: Timestamp,
        change: impl Fn(&Conversation) -> Conversation,
        user_message: bool,
    ) -> Result<Conversation, StoreError> {
        let mut state = self.get_conversation(business, to).await?;
        for _ in 0..64 {
            let after = change(&state.unwrap_or_default());
            let mut e = Expr::default();
            let exact = expect_exactly(state.as_ref(), &mut e);
            let set = if user_message {
                set_user_message(business, to, &after, now, &mut e)
            } else {
                set_all(business, to, &after, now, &mut e)
            };
            match self
                .conversation_cas(business, to, after, exact, set, e.values)
                .await?
            {
                Cas::Written => return Ok(after),
                Cas::Refused(item) => state = from_item(item.as_ref())?,
            }
        }
        Err(StoreError::Contended)
    }
}

/// What one compare-and-set of the conversation item came to.
pub(crate) enum Cas {
    /// Written; the cache holds the state written.
    Written,
    /// Its condition failed: the item as it stands, when there is one.
    Refused(Option<Item>),
}

impl Store {
    /// One compare-and-set of the conversation item: `update` (with `values`) under
    /// `condition`, and `after` cached once written. The loops that read again on a refusal
    /// are the callers'.
    pub(crate) async fn conversation_cas(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        after: Conversation,
        condition: String,
        update: String,
        values: HashMap<String, AttributeValue>,
    ) -> Result<Cas, StoreError> {
        let result = self
            .update_business_item(business, keys::conversation(to))
            .condition_expression(condition)
            .update_expression(update)
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => {
                self.conversations.put(business, to, Some(after));
                Ok(Cas::Written)
            }
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Ok(Cas::Refused(failed.item))
                }
                other => Err(StoreError::Unavailable(
                    DisplayErrorContext(&other).to_string(),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_item_has_what_set_all_sets() {
        let business = BusinessId::parse("acme").unwrap();
        let to = PhoneNumber::parse("+447911123456").unwrap();
        let now = Timestamp::from_millis(1_800_000_000_000);
        let limits = Limits::default();
        let fresh = Conversation::default();
        let states = [
            fresh,
            fresh.user_message(now, &limits),
            fresh
                .decide_send(SendClass::Informative, now, &limits)
                .unwrap(),
        ];
        for after in states {
            let mut e = Expr::default();
            let set = set_all(&business, &to, &after, now, &mut e);
            let sets = set
                .split(" REMOVE ")
                .next()
                .unwrap()
                .trim_start_matches("SET ");
            let mut from_update: HashMap<String, AttributeValue> = sets
                .split(", ")
                .map(|part| {
                    let (name, value) = part.split_once(" = ").unwrap();
                    (name.to_owned(), e.values[value].clone())
                })
                .collect();
            from_update.insert(keys::PK.into(), s(keys::business(&business)));
            from_update.insert(keys::SK.into(), s(keys::conversation(&to)));
            assert_eq!(
                new_item(&business, &to, &after, now),
                from_update,
                "{after:?}"
            );
        }
    }
}
