//! `GET /v1/events` (the delivery log) and `POST /v1/events/replay`.
//!
//! The log is what `notify` recorded after each attempt to post an event to the business
//! (`vbm_store::event_log`): the event as sent, its state (`delivered`, `pending`: another
//! attempt will follow, `failed`: the last attempt failed and the event was dead-lettered) and
//! its attempts. A replay queues logged events again on the events queue, as they were first
//! queued: `notify` delivers them with the same `webhook-id`, signed anew. An event has at most
//! one pending redelivery (`vbm_store::redelivery`: a replay of an event already queued and not
//! settled lists it in `already_queued`), and a business makes at most [`REPLAYS_PER_MINUTE`]
//! replay calls a minute (`429 rate_limited`): replays cannot multiply deliveries.

use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use session_rules::Timestamp;
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_http::{Answer, ApiError, json_response, read_json_value};
use vbm_platform::time::{self, parse_rfc3339};
use vbm_store::event_log::{MAX_PAGE, is_event_id};
use vbm_store::{
    Allowance, Attempt, Business, BusinessId, DeliveryState, EventCursor, EventQuery, LoggedEvent,
    StoreError, Use,
};

use crate::App;

/// A page of the log when `limit` is not given.
pub const DEFAULT_PAGE: usize = 50;

/// The most events one replay queues: a larger one is `400 replay_too_large` and queues nothing.
pub const MAX_REPLAY: usize = 100;

/// Pages a replay by time range may read to find its events: a range that holds more than this
/// many pages of events (before the `only_failed` filter) is too large to replay at once.
const MAX_REPLAY_SCAN_PAGES: usize = 20;

/// Replay calls a business may make per minute (each queues at most [`MAX_REPLAY`] events):
/// past it, `429 rate_limited` with `Retry-After` until the next minute.
pub const REPLAYS_PER_MINUTE: u32 = 10;

const PARAMS: [&str; 6] = ["type", "state", "from", "to", "limit", "cursor"];

/// `GET /v1/events`.
#[derive(Debug, Serialize)]
pub struct EventList {
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: Timestamp,
    pub state: &'static str,
    /// Every attempt made (including those no longer listed).
    pub attempt_count: u32,
    /// The first attempts, in order (at most 25; `attempts_dropped` counts the rest).
    pub attempts: Vec<AttemptView>,
    pub attempts_dropped: u32,
    pub last_attempt: Option<AttemptView>,
    /// The event exactly as delivered (the body the signature covers).
    pub event: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    #[serde(serialize_with = "time::serialize")]
    pub at: Timestamp,
    /// The business's HTTP status; `null` when it did not answer (`error` says why).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        Self {
            at: a.at,
            status: a.status,
            error: a.error.clone(),
            latency_ms: a.latency_ms,
        }
    }
}

impl From<&LoggedEvent> for EventView {
    fn from(e: &LoggedEvent) -> Self {
        Self {
            event_id: e.event_id.clone(),
            kind: e.event_type.clone(),
            created_at: e.created_at,
            state: e.state.as_str(),
            attempt_count: e.attempt_count,
            attempts: e.attempts.iter().map(AttemptView::from).collect(),
            attempts_dropped: e.attempts_dropped,
            last_attempt: e.last_attempt.as_ref().map(AttemptView::from),
            event: serde_json::from_str(&e.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation_failed(Some(field), message)
}

fn parse_time(field: &str, raw: &str) -> Result<Timestamp, ApiError> {
    parse_rfc3339(raw).ok_or_else(|| {
        invalid(
            field,
            "expected an RFC 3339 UTC time such as 2026-11-21T13:34:24.123Z",
        )
    })
}

fn parse_kind(field: &str, raw: &str) -> Result<String, ApiError> {
    EventKind::ALL
        .into_iter()
        .find(|k| k.as_str() == raw)
        .map(|k| k.as_str().to_owned())
        .ok_or_else(|| {
            invalid(
                field,
                "not an event type (see the webhooks of openapi.yaml)",
            )
        })
}

/// The query of `GET /v1/events`; every parameter at most once, unknown ones refused.
fn parse_query(request: &Request) -> Result<EventQuery, ApiError> {
    let params = request.query_string_parameters();
    for (name, _) in params.iter() {
        if !PARAMS.contains(&name) {
            return Err(invalid(
                name,
                format!("unknown parameter; expected one of {}", PARAMS.join(", ")),
            ));
        }
    }
    let one = |name: &str| -> Result<Option<&str>, ApiError> {
        match params.all(name).as_deref() {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some(value)),
            Some(_) => Err(invalid(name, "given more than once")),
        }
    };
    let state = one("state")?
        .map(|raw| {
            DeliveryState::parse(raw)
                .ok_or_else(|| invalid("state", "expected delivered, failed or pending"))
        })
        .transpose()?;
    let limit = match one("limit")? {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| invalid("limit", format!("expected 1 to {MAX_PAGE}")))?,
    };
    let cursor = one("cursor")?
        .map(|raw| {
            EventCursor::from_wire(raw).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "the cursor is not one this API gave (pass `next_cursor` as it is)",
                )
            })
        })
        .transpose()?;
    let from = one("from")?
        .map(|raw| parse_time("from", raw))
        .transpose()?;
    let to = one("to")?.map(|raw| parse_time("to", raw)).transpose()?;
    let query = EventQuery {
        event_type: one("type")?
            .map(|raw| parse_kind("type", raw))
            .transpose()?,
        state,
        from,
        to,
        limit,
        cursor,
    };
    if !query.cursor_in_range() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "the cursor lies outside `from`..`to`: pass `next_cursor` with the same query",
        ));
    }
    Ok(query)
}

/// `GET /v1/events`: the business's events, newest first.
pub async fn list(app: &App, business: &Business, request: &Request) -> Answer {
    let query = parse_query(request)?;
    let (events, next) = app
        .store()
        .events()
        .list_events(&business.id, &query, app.clock().now())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &EventList {
            events: events.iter().map(EventView::from).collect(),
            next_cursor: next.map(|c| c.to_wire()),
        },
    ))
}

/// `POST /v1/events/replay`: by ids, or every event of a time range; optionally only the
/// `failed` ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    event_ids: Option<Vec<String>>,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    only_failed: bool,
}

#[derive(Debug, Serialize)]
struct ReplayAnswer {
    /// How many events were queued again.
    queued: usize,
    /// Their ids, newest first: each is delivered again with this `webhook-id`.
    event_ids: Vec<String>,
    /// Events a replay queued already and `notify` has not settled yet: not queued again.
    already_queued: Vec<String>,
    /// Ids asked for that the log does not hold (never sent, or past the retention period).
    unknown: Vec<String>,
}

/// [`REPLAYS_PER_MINUTE`] per business, counted atomically across containers.
const REPLAY_ALLOWANCE: Allowance = Allowance {
    what: "replay",
    limit: REPLAYS_PER_MINUTE,
    window: std::time::Duration::from_secs(60),
};

/// `429 rate_limited` with `Retry-After`: the next window.
pub fn rate_limited(retry_after: std::time::Duration, message: impl Into<String>) -> ApiError {
    let seconds = u32::try_from(retry_after.as_secs().max(1)).unwrap_or(u32::MAX);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).with_retry_after(seconds)
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "replay_too_large", message)
        .with_detail("max", MAX_REPLAY)
}

pub async fn replay(app: &App, business: &Business, request: &Request) -> Answer {
    let body = replay_request(&read_json_value(request.body())?)?;
    let now = app.clock().now();
    let queue = app
        .events()
        .ok_or_else(|| ApiError::unavailable("the events queue is not configured"))?;
    if let Use::Refused { retry_after } = app
        .store()
        .allowances()
        .take_allowance(&business.id, &REPLAY_ALLOWANCE, now)
        .await?
    {
        return Err(rate_limited(
            retry_after,
            format!("at most {REPLAYS_PER_MINUTE} replays a minute; retry after the minute"),
        ));
    }
    let (events, unknown) = match Selection::of(&body)? {
        Selection::Ids(ids) => by_ids(app, business, ids, now).await?,
        Selection::Range(from, to) => (
            by_range(app, business, from, to, body.only_failed, now).await?,
            Vec::new(),
        ),
    };
    let parsed = replayable(&events, body.only_failed, &business.id);
    // One pending redelivery per event: claim each (one conditional write), queue the claimed.
    let event_log = app.store().events();
    let claims = futures_util::future::join_all(
        parsed
            .iter()
            .map(|e| event_log.claim_redelivery(&business.id, &e.event_id, now)),
    )
    .await;
    let Claims {
        claimed,
        already_queued,
        failure,
    } = Claims::sort(parsed, claims);
    let claimed = publish_claimed(app, queue, business, claimed, failure, now).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &ReplayAnswer {
            queued: claimed.len(),
            event_ids: claimed.into_iter().map(|e| e.event_id).collect(),
            already_queued,
            unknown,
        },
    ))
}

/// A replay's body: a JSON object, no field `null` (`{"event_ids": null, "from": .., "to": ..}`
/// is refused, not read as a time range).
fn replay_request(value: &Value) -> Result<ReplayRequest, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::validation_failed(
            None,
            "the request body must be a JSON object",
        ));
    };
    if let Some((name, _)) = object.iter().find(|(_, v)| v.is_null()) {
        return Err(ApiError::validation_failed(Some(name), "must not be null"));
    }
    vbm_http::from_value(value)
}

/// Which events a replay asks for: by ids, or a time range; never both.
#[derive(Debug, PartialEq)]
enum Selection<'a> {
    Ids(&'a [String]),
    Range(Timestamp, Timestamp),
}

impl<'a> Selection<'a> {
    fn of(body: &'a ReplayRequest) -> Result<Self, ApiError> {
        match (&body.event_ids, &body.from, &body.to) {
            (Some(ids), None, None) => Ok(Selection::Ids(ids)),
            (None, Some(from), Some(to)) => Ok(Selection::Range(
                parse_time("from", from)?,
                parse_time("to", to)?,
            )),
            (None, None, _) => Err(ApiError::validation_failed(
                Some("from"),
                "give `event_ids`, or both `from` and `to`",
            )),
            (None, Some(_), None) => Err(ApiError::validation_failed(
                Some("to"),
                "give `event_ids`, or both `from` and `to`",
            )),
            (Some(_), _, _) => Err(ApiError::validation_failed(
                Some("event_ids"),
                "give `event_ids` or a time range, not both",
            )),
        }
    }
}

/// The logged events a replay queues again: only the `failed` ones when asked, as they were
/// queued, and only the business's own.
fn replayable(events: &[LoggedEvent], only_failed: bool, business: &BusinessId) -> Vec<Event> {
    events
        .iter()
        .filter(|e| !only_failed || e.state == DeliveryState::Failed)
        .filter_map(|e| EventsQueue::parse(&e.body).ok())
        .filter(|e| e.business_id == business.as_str())
        .collect()
}

/// The events' claims of their one pending redelivery, sorted.
struct Claims {
    /// Claimed here: to be queued.
    claimed: Vec<Event>,
    /// A replay queued it already and `notify` has not settled it.
    already_queued: Vec<String>,
    /// A claim that could not be written: nothing is queued, the claims are given back.
    failure: Option<StoreError>,
}

impl Claims {
    fn sort(events: Vec<Event>, claims: Vec<Result<bool, StoreError>>) -> Self {
        let mut sorted = Claims {
            claimed: Vec::new(),
            already_queued: Vec::new(),
            failure: None,
        };
        for (event, claim) in events.into_iter().zip(claims) {
            match claim {
                Ok(true) => sorted.claimed.push(event),
                Ok(false) => sorted.already_queued.push(event.event_id),
                Err(e) => sorted.failure = Some(e),
            }
        }
        sorted
    }
}

/// Queues the claimed events; when a claim failed or the queue refused, gives every claim back
/// (so a retry queues them) and answers the error.
async fn publish_claimed(
    app: &App,
    queue: &EventsQueue,
    business: &Business,
    claimed: Vec<Event>,
    failure: Option<StoreError>,
    now: Timestamp,
) -> Result<Vec<Event>, ApiError> {
    let published = match failure {
        None => queue
            .publish_all(&claimed)
            .await
            .map_err(|e| ApiError::unavailable(format!("the events queue refused: {e}"))),
        Some(e) => Err(ApiError::from(e)),
    };
    let Err(error) = published else {
        return Ok(claimed);
    };
    // Nothing (or not all) was queued: give the claims back so a retry queues them.
    for event in &claimed {
        if let Err(e) = app
            .store()
            .events()
            .release_redelivery(&business.id, &event.event_id, now)
            .await
        {
            tracing::warn!(error = %e, "releasing a redelivery claim; it lapses by itself");
        }
    }
    Err(error)
}

async fn by_ids(
    app: &App,
    business: &Business,
    ids: &[String],
    now: Timestamp,
) -> Result<(Vec<LoggedEvent>, Vec<String>), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::validation_failed(
            Some("event_ids"),
            "at least one event id",
        ));
    }
    if ids.len() > MAX_REPLAY {
        return Err(too_large(format!(
            "{} event ids; at most {MAX_REPLAY} per replay",
            ids.len()
        )));
    }
    if let Some(bad) = ids.iter().find(|id| !is_event_id(id)) {
        return Err(ApiError::validation_failed(
            Some("event_ids"),
            format!("{bad:?} is not an event id (evt_ and 32 hex digits)"),
        ));
    }
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    let found = app
        .store()
        .events()
        .logged_events(&business.id, &unique, now)
        .await?;
    let unknown = unique
        .into_iter()
        .filter(|id| !found.iter().any(|e| &e.event_id == id))
        .collect();
    Ok((found, unknown))
}

async fn by_range(
    app: &App,
    business: &Business,
    from: Timestamp,
    to: Timestamp,
    only_failed: bool,
    now: Timestamp,
) -> Result<Vec<LoggedEvent>, ApiError> {
    let mut query = EventQuery {
        from: Some(from),
        to: Some(to),
        state: only_failed.then_some(DeliveryState::Failed),
        limit: MAX_PAGE,
        ..EventQuery::default()
    };
    let mut out = Vec::new();
    for _ in 0..MAX_REPLAY_SCAN_PAGES {
        let (page, next) = app
            .store()
            .events()
            .list_events(&business.id, &query, now)
            .await?;
        out.extend(page);
        if out.len() > MAX_REPLAY {
            return Err(too_large(format!(
                "the range holds more than {MAX_REPLAY} events to replay: narrow it"
            )));
        }
        match next {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(out),
        }
    }
    Err(too_large(
        "the range holds too many events to search at once: narrow it".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(error: &ApiError) -> Option<&str> {
        error.details.as_ref()?.get("field")?.as_str()
    }

    #[test]
    fn a_replay_body_is_an_object_without_nulls() {
        let refused = replay_request(&json!([])).unwrap_err();
        assert_eq!((refused.code, field(&refused)), ("validation_failed", None));
        let refused =
            replay_request(&json!({"event_ids": null, "from": "x", "to": "y"})).unwrap_err();
        assert_eq!(
            (refused.code, field(&refused)),
            ("validation_failed", Some("event_ids"))
        );
        assert!(replay_request(&json!({"event_ids": [], "extra": 1})).is_err());
        let body = replay_request(&json!({"event_ids": ["a"], "only_failed": true})).unwrap();
        assert_eq!(body.event_ids, Some(vec!["a".to_owned()]));
        assert!(body.only_failed);
    }

    fn selection(body: Value) -> Result<Option<Vec<String>>, Option<String>> {
        let body = replay_request(&body).unwrap();
        match Selection::of(&body) {
            Ok(Selection::Ids(ids)) => Ok(Some(ids.to_vec())),
            Ok(Selection::Range(..)) => Ok(None),
            Err(e) => Err(field(&e).map(str::to_owned)),
        }
    }

    #[test]
    fn a_replay_names_ids_or_a_whole_range_never_both() {
        let from = "2026-12-01T00:00:00Z";
        let to = "2026-12-02T00:00:00Z";
        assert_eq!(
            selection(json!({"event_ids": ["a"]})),
            Ok(Some(vec!["a".into()]))
        );
        assert_eq!(selection(json!({"from": from, "to": to})), Ok(None));
        assert_eq!(selection(json!({})), Err(Some("from".into())));
        assert_eq!(selection(json!({"to": to})), Err(Some("from".into())));
        assert_eq!(selection(json!({"from": from})), Err(Some("to".into())));
        assert_eq!(
            selection(json!({"event_ids": ["a"], "to": to})),
            Err(Some("event_ids".into()))
        );
        assert_eq!(
            selection(json!({"from": "yesterday", "to": to})),
            Err(Some("from".into()))
        );
        let body = replay_request(&json!({"from": from, "to": to})).unwrap();
        assert_eq!(
            Selection::of(&body).unwrap(),
            Selection::Range(parse_rfc3339(from).unwrap(), parse_rfc3339(to).unwrap())
        );
    }

    fn logged(business: &str, subject: &str, state: DeliveryState) -> LoggedEvent {
        let event = Event::new(
            EventKind::MessageStatus,
            business,
            subject,
            Timestamp::from_millis(0),
            json!({}),
        );
        LoggedEvent {
            event_id: event.event_id.clone(),
            event_type: "message.status".into(),
            created_at: Timestamp::from_millis(0),
            body: serde_json::to_string(&event).unwrap(),
            state,
            attempts: Vec::new(),
            attempt_count: 1,
            attempts_dropped: 0,
            last_attempt: None,
        }
    }

    #[test]
    fn only_the_businesss_own_events_and_when_asked_only_the_failed_are_replayed() {
        let acme = BusinessId::parse("acme").unwrap();
        let mut garbled = logged("acme", "c", DeliveryState::Failed);
        garbled.body = "{".into();
        let events = [
            logged("acme", "a", DeliveryState::Delivered),
            logged("acme", "b", DeliveryState::Failed),
            logged("other", "b", DeliveryState::Failed),
            garbled,
        ];
        let ids = |only_failed| -> Vec<String> {
            replayable(&events, only_failed, &acme)
                .into_iter()
                .map(|e| e.event_id)
                .collect()
        };
        assert_eq!(
            ids(false),
            [events[0].event_id.clone(), events[1].event_id.clone()]
        );
        assert_eq!(ids(true), [events[1].event_id.clone()]);
    }

    #[test]
    fn claims_sort_into_queued_already_queued_and_a_failure() {
        let event = |subject| {
            Event::new(
                EventKind::MessageStatus,
                "acme",
                subject,
                Timestamp::from_millis(0),
                json!({}),
            )
        };
        let (a, b, c) = (event("a"), event("b"), event("c"));
        let sorted = Claims::sort(
            vec![a.clone(), b.clone(), c],
            vec![Ok(true), Ok(false), Err(StoreError::Contended)],
        );
        assert_eq!(sorted.claimed, [a]);
        assert_eq!(sorted.already_queued, [b.event_id]);
        assert!(matches!(sorted.failure, Some(StoreError::Contended)));
        let clean = Claims::sort(vec![event("d")], vec![Ok(true)]);
        assert!(clean.failure.is_none());
    }
}
