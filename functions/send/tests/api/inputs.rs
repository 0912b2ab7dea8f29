//! Hostile inputs on the campaign, upload and event routes: a `send_at` that once panicked,
//! duplicate keys inside `params`, forged event cursors, replay amplification and upload slots.

use std::sync::Arc;
use std::time::Duration;

use send::App;
use serde_json::{Value, json};
use session_rules::{Language, Limits, Template, TemplateCategory, TemplateId, Timestamp};
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_store::{
    Attempt, AttemptRecord, BusinessId, DeliveryState, QueuedRecord, Retention, Store,
};
use vbm_timers::{Target, Timers};

use lambda_http::RequestExt;

use crate::common::*;

/// The whole API (campaigns, uploads, replay) over the harness's table, on `clock`.
pub async fn full_app(h: &Harness, clock: Arc<dyn Clock>) -> Arc<App> {
    let sdk = h.env.sdk_config().await;
    let timers = vbm_outbound::CampaignTimers::new(
        Timers::new(
            aws_sdk_scheduler::Client::new(&sdk),
            h.sqs.clone(),
            h.env.timers_group.clone(),
            "arn:aws:iam::123456789012:role/timers",
        ),
        Target::queue(&h.env.campaign_queue_url, "us-east-1").unwrap(),
    );
    let store = Store::new(
        h.dynamodb.clone(),
        &h.env.table,
        Limits::default(),
        Retention::default(),
    );
    Arc::new(
        App::new(store, clock)
            .with_events(EventsQueue::new(h.sqs.clone(), &h.env.events_queue_url))
            .with_uploads(vbm_uploads::Presigner::from_sdk(
                &sdk,
                h.env.uploads_bucket.clone(),
            ))
            .with_campaigns(timers),
    )
}

/// Moves `clock` to one second into a window of `window` (windows start at multiples of it
/// since the epoch), so a burst of calls falls in one window however slow the emulator is.
fn align(clock: &OffsetClock, window: Duration) {
    let window_ms = window.as_millis() as i64;
    let into = clock.now().as_millis().rem_euclid(window_ms);
    clock.advance(Duration::from_millis((window_ms - into + 1000) as u64));
}

pub async fn authed(app: &App, key: &str, method: &str, path: &str, body: Option<&str>) -> Reply {
    let auth = format!("Bearer {key}");
    call(
        app,
        request(method, path, body, &[("authorization", &auth)], CALLER_IP),
    )
    .await
}

async fn approved_template(h: &Harness) {
    h.store()
        .templates()
        .put_template(
            &h.business.id,
            &Template::parse(
                TemplateId::parse("welcome").unwrap(),
                Language::parse("en").unwrap(),
                TemplateCategory::Transactional,
                true,
                "Hello {{name}}",
            )
            .unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_send_at_with_a_multibyte_character_is_refused_not_a_panic() {
    let h = Harness::new().await;
    let app = full_app(&h, Arc::new(OffsetClock::new())).await;
    approved_template(&h).await;
    let before = h.env.footprint().await;
    for send_at in [
        "2026-12-01T09:00:00é0000",
        "2026-12-01T09:00:00+0é:00",
        "2026-12-01T09:00:0é+0000",
        "2026-12-01T09:00:00.é",
        "２０２６-12-01T09:00:00Z",
    ] {
        let body = json!({
            "message": {"type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}},
            "recipients": [{"to": UK}],
            "send_at": send_at,
        })
        .to_string();
        let r = authed(&app, &h.key, "POST", "/v1/campaigns", Some(&body)).await;
        r.expect_error(422, "validation_failed");
        assert_eq!(r.body["error"]["field"], "send_at", "{send_at}: {}", r.body);
    }
    assert_eq!(h.env.footprint().await, before, "nothing stored");
}

#[tokio::test]
async fn a_bad_window_is_refused_naming_its_bound_and_nothing_is_stored() {
    let h = Harness::new().await;
    let app = full_app(&h, Arc::new(OffsetClock::new())).await;
    approved_template(&h).await;
    let before = h.env.footprint().await;
    for (start, end, field) in [
        ("25:00", "06:00", "window.start"),
        ("9:00", "10:00", "window.start"),
        ("09:60", "10:00", "window.start"),
        ("09:00", "+9:00", "window.end"),
        ("09:00", "24:01", "window.end"),
        ("09:00", "09:00", "window"),
    ] {
        let body = json!({
            "message": {"type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}},
            "recipients": [{"to": UK}],
            "window": {"start": start, "end": end},
        })
        .to_string();
        let r = authed(&app, &h.key, "POST", "/v1/campaigns", Some(&body)).await;
        r.expect_error(422, "validation_failed");
        assert_eq!(r.body["error"]["field"], field, "{start}-{end}: {}", r.body);
    }
    assert_eq!(h.env.footprint().await, before, "nothing stored");
}

#[tokio::test]
async fn duplicate_keys_inside_params_are_refused() {
    let h = Harness::new().await;
    let app = full_app(&h, Arc::new(OffsetClock::new())).await;
    approved_template(&h).await;
    h.open_session(UK).await;
    let before = h.env.footprint().await;
    let campaign = format!(
        r#"{{"message":{{"type":"template","template":{{"id":"welcome","params":{{"name":"Ann","name":"Bob"}}}}}},"recipients":[{{"to":"{UK}"}}]}}"#
    );
    let inline = format!(
        r#"{{"message":{{"type":"template","template":{{"id":"welcome"}}}},"recipients":[{{"to":"{UK}","params":{{"name":"Ann","\u006eame":"Bob"}}}}]}}"#
    );
    for body in [campaign, inline] {
        let r = authed(&app, &h.key, "POST", "/v1/campaigns", Some(&body)).await;
        r.expect_error(400, "invalid_json");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("name"),
            "{}",
            r.body
        );
    }
    let send = format!(
        r#"{{"to":"{UK}","type":"template","template":{{"id":"welcome","params":{{"name":"Ann","name":"Bob"}}}}}}"#
    );
    let r = authed(&app, &h.key, "POST", "/v1/messages", Some(&send)).await;
    r.expect_error(400, "invalid_json");
    assert_eq!(h.env.footprint().await, before, "nothing stored");
}

/// Logs `count` events for the harness's business, one a second from `start`.
async fn log_events(h: &Harness, start: Timestamp, count: u64) -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..count {
        let at = Timestamp::from_millis(start.as_millis() + i as i64 * 1000);
        let event = Event::new(
            EventKind::MessageStatus,
            h.business.id.as_str(),
            &format!("msg-{i}"),
            at,
            json!({"message_id": format!("msg-{i}"), "status": "delivered"}),
        );
        let body = serde_json::to_string(&event).unwrap();
        h.store()
            .events()
            .log_queued(
                &QueuedRecord {
                    business: &h.business.id,
                    event_id: &event.event_id,
                    event_type: event.kind.as_str(),
                    created_at: at,
                    body: &body,
                    contact: None,
                },
                h.now(),
            )
            .await
            .unwrap();
        events.push(event);
    }
    events
}

/// What `notify` records after it delivered `event`.
async fn delivered(h: &Harness, event: &Event) {
    let body = serde_json::to_string(event).unwrap();
    h.store()
        .events()
        .record_attempt(
            &AttemptRecord {
                event: QueuedRecord {
                    business: &h.business.id,
                    event_id: &event.event_id,
                    event_type: event.kind.as_str(),
                    created_at: vbm_platform::time::parse_rfc3339(&event.created_at).unwrap(),
                    body: &body,
                    contact: None,
                },
                attempt: Attempt {
                    at: h.now(),
                    status: Some(200),
                    error: None,
                    latency_ms: 3,
                },
                state: DeliveryState::Delivered,
            },
            h.now(),
        )
        .await
        .unwrap();
}

/// `GET /v1/events` with these query parameters, as API Gateway hands them over.
async fn list_events(h: &Harness, params: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {}", h.key);
    let query: std::collections::HashMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = request(
        "GET",
        "/v1/events",
        None,
        &[("authorization", &auth)],
        CALLER_IP,
    )
    .with_query_string_parameters(query);
    call(&h.app, request).await
}

#[tokio::test]
async fn a_cursor_outside_the_range_is_refused_before_any_query() {
    let h = Harness::new().await;
    let start = Timestamp::from_millis(h.now().as_millis() - 60_000);
    log_events(&h, start, 3).await;
    let (from, to) = (
        start.rfc3339(),
        start.plus(Duration::from_secs(10)).rfc3339(),
    );
    let hex = "0123456789abcdef0123456789abcdef";
    let inside = format!("{:013}{hex}", start.as_millis() + 1000);
    let r = list_events(&h, &[("from", &from), ("to", &to), ("cursor", &inside)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let calls = h.calls.snapshot();
    for cursor in [
        format!("{:013}{hex}", start.as_millis() + 3_600_000),
        format!("{:013}{hex}", start.as_millis() - 1),
        format!("{:013}{hex}", 0),
        format!("9999999999999{hex}"),
    ] {
        let r = list_events(&h, &[("from", &from), ("to", &to), ("cursor", &cursor)]).await;
        r.expect_error(400, "invalid_cursor");
        // Only `to`, or only `from`: the same bound.
        if cursor.starts_with('9') {
            let r = list_events(&h, &[("to", &to), ("cursor", &cursor)]).await;
            r.expect_error(400, "invalid_cursor");
        } else if cursor.starts_with('0') {
            let r = list_events(&h, &[("from", &from), ("cursor", &cursor)]).await;
            r.expect_error(400, "invalid_cursor");
        }
    }
    // Refused before any query: authentication is cached, so no DynamoDB call at all.
    assert_eq!(
        h.calls.snapshot()[1..],
        calls[1..],
        "no read for a refused cursor"
    );
}

async fn queued_events(h: &Harness) -> Vec<String> {
    vbm_testkit::drain(&h.sqs, &h.env.events_queue_url)
        .await
        .into_iter()
        .map(|m| {
            let v: Value = serde_json::from_str(&m.body).unwrap();
            v["event_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_event_has_at_most_one_pending_redelivery() {
    let h = Harness::new().await;
    let clock = Arc::new(OffsetClock::new());
    let app = full_app(&h, clock.clone()).await;
    let events = log_events(&h, Timestamp::from_millis(h.now().as_millis() - 60_000), 2).await;
    for e in &events {
        delivered(&h, e).await;
    }
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let body = json!({"event_ids": [ids[0], ids[0], ids[1]]}).to_string();

    // The same replay five times: queued once, then answered as already queued.
    let first = authed(&app, &h.key, "POST", "/v1/events/replay", Some(&body)).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.body["queued"], 2, "{}", first.body);
    assert_eq!(first.body["already_queued"], json!([]));
    for _ in 0..4 {
        let again = authed(&app, &h.key, "POST", "/v1/events/replay", Some(&body)).await;
        assert_eq!(again.status, 202, "{}", again.body);
        assert_eq!(again.body["queued"], 0, "{}", again.body);
        assert_eq!(again.body["event_ids"], json!([]));
        let mut already: Vec<String> =
            serde_json::from_value(again.body["already_queued"].clone()).unwrap();
        already.sort();
        let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(already, expected);
    }
    let mut queued = queued_events(&h).await;
    queued.sort();
    let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(queued, expected, "each event queued once");

    // Delivered again: a new replay may queue it once more.
    delivered(&h, &events[0]).await;
    let one = json!({"event_ids": [ids[0]]}).to_string();
    let r = authed(&app, &h.key, "POST", "/v1/events/replay", Some(&one)).await;
    assert_eq!(r.body["queued"], 1, "{}", r.body);
    assert_eq!(queued_events(&h).await, vec![ids[0].to_owned()]);

    // Eight concurrent replays of the other (delivered again): exactly one queues it.
    delivered(&h, &events[1]).await;
    // A new minute: the replay allowance is not what this part tests.
    align(&clock, Duration::from_secs(60));
    let two = json!({"event_ids": [ids[1]]}).to_string();
    let answers = futures_util::future::join_all((0..8).map(|_| {
        let (app, key, two) = (app.clone(), h.key.clone(), two.clone());
        tokio::spawn(
            async move { authed(&app, &key, "POST", "/v1/events/replay", Some(&two)).await },
        )
    }))
    .await;
    let queued: u64 = answers
        .iter()
        .map(|a| {
            let a = a.as_ref().unwrap();
            assert_eq!(a.status, 202, "{}", a.body);
            a.body["queued"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(queued, 1);
    assert_eq!(queued_events(&h).await, vec![ids[1].to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_calls_are_rate_limited_per_business() {
    let h = Harness::new().await;
    let clock = Arc::new(OffsetClock::new());
    let app = full_app(&h, clock.clone()).await;
    let events = log_events(&h, Timestamp::from_millis(h.now().as_millis() - 60_000), 1).await;
    let body = json!({"event_ids": [events[0].event_id]}).to_string();
    let limit = send::routes::events::REPLAYS_PER_MINUTE as usize;
    align(&clock, Duration::from_secs(60));
    // Twice the limit at once: exactly the limit is served.
    let answers = futures_util::future::join_all((0..2 * limit).map(|_| {
        let (app, key, body) = (app.clone(), h.key.clone(), body.clone());
        tokio::spawn(
            async move { authed(&app, &key, "POST", "/v1/events/replay", Some(&body)).await },
        )
    }))
    .await;
    let answers: Vec<Reply> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers.iter().filter(|a| a.status == 202).count(), limit);
    for refused in answers.iter().filter(|a| a.status != 202) {
        refused.expect_error(429, "rate_limited");
        let wait: u64 = refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    // Another business is not held back by this one's calls.
    let (_, other_key) = h
        .store()
        .businesses()
        .create_business(&vbm_store::NewBusiness {
            id: BusinessId::parse("other").unwrap(),
            service_id: 1002,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let r = authed(
        &app,
        other_key.expose(),
        "POST",
        "/v1/events/replay",
        Some(&body),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    // The next minute serves again.
    clock.advance(Duration::from_secs(61));
    let r = authed(&app, &h.key, "POST", "/v1/events/replay", Some(&body)).await;
    assert_eq!(r.status, 202, "{}", r.body);
}

#[tokio::test]
async fn an_upload_slot_binds_the_length_and_type_of_the_list() {
    let h = Harness::new().await;
    let app = full_app(&h, Arc::new(OffsetClock::new())).await;
    let r = authed(
        &app,
        &h.key,
        "POST",
        "/v1/campaigns/uploads",
        Some(r#"{"format":"csv","bytes":61}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["headers"],
        json!({"content-length": "61", "content-type": "text/csv"})
    );
    let url = r.body["url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
        "{url}"
    );
    for (body, field) in [
        (r#"{"format":"csv","bytes":0}"#, "bytes"),
        (r#"{"format":"csv","bytes":268435457}"#, "bytes"),
        (r#"{"format":"xml","bytes":10}"#, "format"),
        (r#"{"format":"csv"}"#, "bytes"),
        (r#"{"bytes":10}"#, "format"),
        (r#"{"format":"csv","bytes":-1}"#, "bytes"),
    ] {
        let r = authed(&app, &h.key, "POST", "/v1/campaigns/uploads", Some(body)).await;
        r.expect_error(422, "validation_failed");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    // No body: the length and type are not optional any more.
    let r = authed(&app, &h.key, "POST", "/v1/campaigns/uploads", None).await;
    r.expect_error(400, "invalid_json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_business_has_a_bounded_number_of_upload_slots() {
    let h = Harness::new().await;
    let clock = Arc::new(OffsetClock::new());
    let app = full_app(&h, clock.clone()).await;
    let limit = vbm_uploads::MAX_OPEN_SLOTS as usize;
    align(&clock, vbm_uploads::PUT_EXPIRY);
    let body = r#"{"format":"jsonl","bytes":100}"#;
    let answers = futures_util::future::join_all((0..limit + 5).map(|_| {
        let (app, key) = (app.clone(), h.key.clone());
        tokio::spawn(async move {
            authed(&app, &key, "POST", "/v1/campaigns/uploads", Some(body)).await
        })
    }))
    .await;
    let answers: Vec<Reply> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), limit);
    for refused in answers.iter().filter(|a| a.status != 201) {
        refused.expect_error(429, "too_many_uploads");
        assert!(refused.headers.contains_key("retry-after"));
    }
    // Once the slots' URLs have expired, new slots are handed out.
    clock.advance(vbm_uploads::PUT_EXPIRY + Duration::from_secs(1));
    let r = authed(&app, &h.key, "POST", "/v1/campaigns/uploads", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
