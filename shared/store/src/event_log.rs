//! The delivery log: every event `notify` posts to a business, with its delivery attempts.
//!
//! | item  | pk               | sk                 | events_pk (index `events`) | events_sk                  |
//! |-------|------------------|--------------------|----------------------------|----------------------------|
//! | event | `BIZ#{business}` | `EVENT#{event_id}` | `BIZ#{business}`           | `{created_at ms, 13 digits}#{event_id}` |
//!
//! Keyed by the event id so that `notify` records an attempt and a replay finds an event
//! without a read; the `events` index orders a business's events by the event's own time for
//! `GET /v1/events`. Attributes: `event_type`, `body` (the event JSON as first queued, which a
//! replay queues again, so the redelivery carries the same `webhook-id`), `state`, `attempts`
//! (the first [`MAX_ATTEMPTS`], then only counted in `attempts_dropped`), `attempt_count`,
//! `last_attempt`, `gsi1pk` (the contact, so an erasure deletes the contact's events too) and
//! `expires_at` (TTL: the messages' retention, from the last attempt).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use session_rules::{PhoneNumber, Timestamp};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::conditional;
use crate::{BusinessId, StoreError, keys};

/// The index ordering a business's events by time.
pub const EVENTS_INDEX: &str = "events";
const EVENTS_PK: &str = "events_pk";
const EVENTS_SK: &str = "events_sk";

/// Attempts kept whole per event; later ones are counted (`attempts_dropped`) and the last is
/// always in `last_attempt`. A business down for days, then replayed, cannot grow an item
/// without limit.
pub const MAX_ATTEMPTS: usize = 25;

/// The most events one page of [`Events::list_events`](crate::Events::list_events) holds.
pub const MAX_PAGE: usize = 100;

/// Queries one page may cost when filters skip most events: a page can come back short (with a
/// cursor) rather than read a month of events in one request.
const MAX_QUERIES_PER_PAGE: usize = 5;

/// Where an event's delivery stands, after its last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Queued and not delivered yet: no attempt so far, or the last one failed and `notify`
    /// will try again.
    Pending,
    /// The business answered 2xx.
    Delivered,
    /// The last attempt failed and it was the last one: the event went to the dead-letter
    /// queue; `POST /v1/events/replay` sends it again.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One POST to the business's callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Timestamp,
    /// The HTTP status the business answered; `None` when no answer came (`error` says why).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
}

/// What `notify` records after one attempt: the event as it was queued, the attempt and the
/// state it leaves the event in.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub event: QueuedRecord<'a>,
    pub attempt: Attempt,
    pub state: DeliveryState,
}

/// An event a producer queued, for the log before any attempt ([`Events::log_queued`](crate::Events::log_queued)).
#[derive(Debug, Clone)]
pub struct QueuedRecord<'a> {
    pub business: &'a BusinessId,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub created_at: Timestamp,
    pub body: &'a str,
    pub contact: Option<&'a PhoneNumber>,
}

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub event_id: String,
    pub event_type: String,
    pub created_at: Timestamp,
    pub body: String,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    pub attempt_count: u32,
    pub attempts_dropped: u32,
    pub last_attempt: Option<Attempt>,
}

/// What `GET /v1/events` asks for. Times are inclusive bounds on `created_at`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<String>,
    pub state: Option<DeliveryState>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
    pub cursor: Option<EventCursor>,
}

/// Where the next page starts: the last event of the previous page (newest first). Opaque to
/// the business; it never names the business, so a cursor cannot reach another's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    /// The index key of the last event returned (`{13 digits}#evt_{32 hex}`).
    index_sk: String,
}

impl EventCursor {
    /// The cursor on the wire: 13 digits then 32 hex digits (the index key without its
    /// separators), so that every string of that shape is a cursor.
    pub fn to_wire(&self) -> String {
        self.index_sk.replacen("#evt_", "", 1)
    }

    /// A cursor from its wire form; `None` unless it has exactly that shape.
    pub fn from_wire(text: &str) -> Option<Self> {
        let ok = text.len() == 45
            && text.bytes().take(13).all(|b| b.is_ascii_digit())
            && text
                .bytes()
                .skip(13)
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Self {
            index_sk: format!("{}#evt_{}", &text[..13], &text[13..]),
        })
    }

    fn from_index_sk(key: &str) -> Option<Self> {
        let (millis, id) = key.split_once('#')?;
        Self::from_wire(&format!("{millis}{}", id.strip_prefix("evt_")?))
    }

    fn event_id(&self) -> &str {
        self.index_sk.split_once('#').map_or("", |(_, id)| id)
    }

    /// The time of the event the cursor stands on (its first 13 digits).
    pub fn created_at(&self) -> Timestamp {
        let millis = self.index_sk.get(..13).and_then(|d| d.parse().ok());
        Timestamp::from_millis(millis.unwrap_or(0))
    }
}

impl EventQuery {
    /// Whether the cursor (if any) lies inside `from`..=`to`. A query starting outside its own
    /// key range is a validation error in DynamoDB (a 5xx to the business): a forged cursor is
    /// refused before any query instead.
    pub fn cursor_in_range(&self) -> bool {
        self.cursor.as_ref().is_none_or(|c| {
            let t = c.created_at();
            self.from.is_none_or(|from| from <= t) && self.to.is_none_or(|to| t <= to)
        })
    }
}

/// `evt_` and 32 lowercase hex digits, as `vbm_events::Event::new` makes them.
pub fn is_event_id(id: &str) -> bool {
    id.strip_prefix("evt_").is_some_and(|hex| {
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The latest time the index's 13 digits hold (2286-11-20): later bounds are cut to it.
const LATEST_MILLIS: i64 = 9_999_999_999_999;

fn index_sk(created_at: Timestamp, event_id: &str) -> String {
    format!(
        "{:013}#{event_id}",
        created_at.as_millis().clamp(0, LATEST_MILLIS)
    )
}

fn attempt_value(a: &Attempt) -> AttributeValue {
    let mut m = HashMap::from([
        ("at".to_owned(), n(a.at.as_millis())),
        ("latency_ms".to_owned(), n(a.latency_ms)),
    ]);
    if let Some(status) = a.status {
        m.insert("status".into(), n(status));
    }
    if let Some(error) = &a.error {
        m.insert("error".into(), s(error.as_str()));
    }
    AttributeValue::M(m)
}

fn attempt_from(value: &AttributeValue, sk: &str) -> Result<Attempt, StoreError> {
    let AttributeValue::M(m) = value else {
        return Err(StoreError::malformed(sk, "an attempt that is not a map"));
    };
    Ok(Attempt {
        at: Timestamp::from_millis(attrs::get_n(m, "at")?),
        status: attrs::opt_n(m, "status")?,
        error: attrs::opt_s(m, "error")?.map(str::to_owned),
        latency_ms: attrs::get_n(m, "latency_ms")?,
    })
}

fn from_item(item: &Item) -> Result<LoggedEvent, StoreError> {
    let sk = attrs::get_s(item, keys::SK)?;
    let state = attrs::get_s(item, "state")?;
    let attempts = match item.get("attempts") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|a| attempt_from(a, sk))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(LoggedEvent {
        event_id: sk.trim_start_matches(keys::EVENT_PREFIX).to_owned(),
        event_type: attrs::get_s(item, "event_type")?.to_owned(),
        created_at: Timestamp::from_millis(attrs::get_n(item, "created_at")?),
        body: attrs::get_s(item, "body")?.to_owned(),
        state: DeliveryState::parse(state)
            .ok_or_else(|| StoreError::malformed(sk, format!("unknown state {state}")))?,
        attempts,
        attempt_count: attrs::opt_n(item, "attempt_count")?.unwrap_or(0),
        attempts_dropped: attrs::opt_n(item, "attempts_dropped")?.unwrap_or(0),
        last_attempt: item
            .get("last_attempt")
            .map(|a| attempt_from(a, sk))
            .transpose()?,
    })
}

impl crate::Events<'_> {
    /// Records one delivery attempt: creates the event's log entry on its first attempt, appends
    /// the attempt (while fewer than [`MAX_ATTEMPTS`] are kept, else counts it) and sets the
    /// state. One conditional update, a second only past the bound.
    pub async fn record_attempt(
        &self,
        attempt_record: &AttemptRecord<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let record = &attempt_record.event;
        // An attempt that settles the event (delivered, or failed for good) ends any pending
        // redelivery: a later replay may queue it again (`redelivery`).
        let settles = attempt_record.state != DeliveryState::Pending;
        let remove = if settles {
            format!(" REMOVE {}", crate::redelivery::REDELIVERY_AT)
        } else {
            String::new()
        };
        let pk = keys::business(record.business);
        let sk = keys::event(record.event_id);
        let expires = now.plus(self.retention.messages).as_secs();
        let attempt = attempt_value(&attempt_record.attempt);
        let mut values = HashMap::from([
            (":state".to_owned(), s(attempt_record.state.as_str())),
            (":last".to_owned(), attempt.clone()),
            (":exp".to_owned(), n(expires)),
            (":one".to_owned(), n(1)),
        ]);
        let mut sets = vec![
            "#state = :state".to_owned(),
            "last_attempt = :last".to_owned(),
            "expires_at = :exp".to_owned(),
        ];
        let mut first = values.clone();
        first.extend([
            (":type".to_owned(), s(record.event_type)),
            (":body".to_owned(), s(record.body)),
            (":created".to_owned(), n(record.created_at.as_millis())),
            (":epk".to_owned(), s(pk.clone())),
            (
                ":esk".to_owned(),
                s(index_sk(record.created_at, record.event_id)),
            ),
            (":list".to_owned(), AttributeValue::L(vec![attempt])),
            (":empty".to_owned(), AttributeValue::L(Vec::new())),
            (":max".to_owned(), n(MAX_ATTEMPTS)),
        ]);
        let mut first_sets = sets.clone();
        first_sets.extend(
            [
                "event_type = if_not_exists(event_type, :type)",
                "body = if_not_exists(body, :body)",
                "created_at = if_not_exists(created_at, :created)",
                "events_pk = :epk",
                "events_sk = if_not_exists(events_sk, :esk)",
                "attempts = list_append(if_not_exists(attempts, :empty), :list)",
            ]
            .map(str::to_owned),
        );
        if let Some(phone) = record.contact {
            first.insert(":gpk".into(), s(keys::contact(record.business, phone)));
            first.insert(":gsk".into(), s(sk.clone()));
            first_sets.push("gsi1pk = :gpk".into());
            first_sets.push("gsi1sk = :gsk".into());
        }
        let appended = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk.clone()))
            .key(keys::SK, s(sk.clone()))
            .update_expression(format!(
                "SET {} ADD attempt_count :one{remove}",
                first_sets.join(", ")
            ))
            .condition_expression("attribute_not_exists(attempts) OR size(attempts) < :max")
            .expression_attribute_names("#state", "state")
            .set_expression_attribute_values(Some(first))
            .send()
            .await;
        if conditional(appended)?.is_some() {
            return Ok(());
        }
        // Past the bound: the entry exists with its first attempts; only count this one.
        sets.push("attempts_dropped = if_not_exists(attempts_dropped, :zero) + :one".into());
        values.insert(":zero".into(), n(0));
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(format!(
                "SET {} ADD attempt_count :one{remove}",
                sets.join(", ")
            ))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Whether the log holds `event_id` (queued or attempted): a producer that logs what it
    /// queues ([`Events::log_queued`](crate::Events::log_queued)) asks this first, so a redelivered input queues nothing
    /// twice.
    pub async fn event_logged(
        &self,
        business: &BusinessId,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .get_consistent(keys::business(business), keys::event(event_id), None)
            .await?
            .is_some())
    }

    /// Logs an event as queued (`pending`, no attempt yet), after it was queued: a crash in
    /// between queues it again on the redelivered input (the same id), never loses it. An entry
    /// already there (`notify` was faster) is left as it is.
    pub async fn log_queued(
        &self,
        record: &QueuedRecord<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let pk = keys::business(record.business);
        let sk = keys::event(record.event_id);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(pk.clone()))
            .item(keys::SK, s(sk.clone()))
            .item("state", s(DeliveryState::Pending.as_str()))
            .item("event_type", s(record.event_type))
            .item("body", s(record.body))
            .item("created_at", n(record.created_at.as_millis()))
            .item("attempt_count", n(0))
            .item(EVENTS_PK, s(pk))
            .item(EVENTS_SK, s(index_sk(record.created_at, record.event_id)))
            .item(
                keys::EXPIRES_AT,
                n(now.plus(self.retention.messages).as_secs()),
            )
            .condition_expression("attribute_not_exists(pk)");
        if let Some(phone) = record.contact {
            put = put
                .item(keys::GSI1PK, s(keys::contact(record.business, phone)))
                .item(keys::GSI1SK, s(sk));
        }
        // Logged already (a producer's retry): the first stays.
        conditional(put.send().await)?;
        Ok(())
    }

    /// One page of a business's events, newest first, and the cursor of the next page (`None`
    /// at the end). The index is eventually consistent: an attempt recorded a moment ago may
    /// show on the next read.
    pub async fn list_events(
        &self,
        business: &BusinessId,
        query: &EventQuery,
        now: Timestamp,
    ) -> Result<(Vec<LoggedEvent>, Option<EventCursor>), StoreError> {
        let pk = keys::business(business);
        let limit = query.limit.clamp(1, MAX_PAGE);
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from > to
        {
            return Ok((Vec::new(), None));
        }
        // The API refuses such a cursor (`invalid_cursor`); nothing lies there in any case.
        if !query.cursor_in_range() {
            return Ok((Vec::new(), None));
        }
        let from = index_sk(query.from.unwrap_or(Timestamp::from_millis(0)), "");
        // `~` sorts after every event id, so `to` is inclusive.
        let to = format!(
            "{}~",
            index_sk(
                query
                    .to
                    .unwrap_or(Timestamp::from_millis(9_999_999_999_999)),
                ""
            )
        );
        let mut filters = Vec::new();
        let mut values = HashMap::from([
            (":pk".to_owned(), s(pk.clone())),
            (":from".to_owned(), s(from)),
            (":to".to_owned(), s(to)),
        ]);
        let mut names = HashMap::new();
        if let Some(kind) = &query.event_type {
            filters.push("event_type = :type");
            values.insert(":type".into(), s(kind.as_str()));
        }
        if let Some(state) = query.state {
            filters.push("#state = :state");
            names.insert("#state".to_owned(), "state".to_owned());
            values.insert(":state".into(), s(state.as_str()));
        }
        let mut start = query.cursor.as_ref().map(|c| {
            HashMap::from([
                (keys::PK.to_owned(), s(pk.clone())),
                (keys::SK.to_owned(), s(keys::event(c.event_id()))),
                (EVENTS_PK.to_owned(), s(pk.clone())),
                (EVENTS_SK.to_owned(), s(c.index_sk.as_str())),
            ])
        });
        let mut out = Vec::new();
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(EVENTS_INDEX)
                .key_condition_expression("events_pk = :pk AND events_sk BETWEEN :from AND :to")
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                // Never more than what is still missing: every item returned is kept, so the
                // next page starts right after the last one returned.
                .limit(i32::try_from(limit - out.len()).unwrap_or(1))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in page.items() {
                if !attrs::is_expired(item, now.as_secs()) {
                    out.push(from_item(item)?);
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() || out.len() >= limit {
                break;
            }
        }
        let cursor = start
            .as_ref()
            .and_then(|key| attrs::opt_s(key, EVENTS_SK).ok().flatten())
            .and_then(EventCursor::from_index_sk);
        Ok((out, cursor))
    }

    /// The logged events among `ids` (unknown ids are left out), strongly consistent.
    pub async fn logged_events(
        &self,
        business: &BusinessId,
        ids: &[String],
        now: Timestamp,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let pk = keys::business(business);
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        (keys::PK.to_owned(), s(pk.clone())),
                        (keys::SK.to_owned(), s(keys::event(id))),
                    ])
                })
                .collect();
            // BatchGetItem may answer part and hand back the rest: ask again for those.
            for _ in 0..10 {
                if pending.is_empty() {
                    break;
                }
                let keys_and = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys_and)
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                if let Some(items) = answer.responses().and_then(|r| r.get(&self.table)) {
                    for item in items {
                        if !attrs::is_expired(item, now.as_secs()) {
                            out.push(from_item(item)?);
                        }
                    }
                }
                pending = answer
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "the table kept refusing part of a batch read".into(),
                ));
            }
        }
        out.sort_by(|a, b| (b.created_at, &b.event_id).cmp(&(a.created_at, &a.event_id)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_shapes() {
        let id = "evt_0123456789abcdef0123456789abcdef";
        let key = index_sk(Timestamp::from_millis(1_800_000_000_000), id);
        let cursor = EventCursor::from_index_sk(&key).unwrap();
        assert_eq!(cursor.event_id(), id);
        assert_eq!(
            cursor.to_wire(),
            "18000000000000123456789abcdef0123456789abcdef"
        );
        assert_eq!(EventCursor::from_wire(&cursor.to_wire()), Some(cursor));
        for bad in [
            "",
            "1800000000000",
            "1800000000000#evt_0123456789abcdef0123456789abcdef",
            "18000000000000123456789ABCDEF0123456789abcdef",
            "18000000000000123456789abcdef0123456789abcde",
            "18000000000000123456789abcdef0123456789abcdef0",
            "1800000000x000123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(EventCursor::from_wire(bad), None, "{bad}");
        }
    }

    #[test]
    fn index_keys_sort_by_time() {
        let a = index_sk(Timestamp::from_millis(999), "evt_b");
        let b = index_sk(Timestamp::from_millis(1000), "evt_a");
        assert!(a < b);
        assert!(index_sk(Timestamp::from_millis(1000), "") < b);
        assert!(format!("{}~", index_sk(Timestamp::from_millis(1000), "")) > b);
    }

    #[test]
    fn states_round_trip() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("done"), None);
    }
}
