//! Business events end to end: the delivery log (`GET /v1/events`), its replay
//! (`POST /v1/events/replay`) and their isolation between businesses, through the local stack.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_rules::Limits;
use vbm_e2e::{Stack, eventually};
use vbm_store::{BusinessId, NewBusiness, Retention, Store};

const WAIT: Duration = Duration::from_secs(60);

/// The log entries of `type` (newest first), once `ready` holds for the first of them.
async fn logged(stack: &Stack, query: &str, ready: impl Fn(&Value) -> bool) -> Vec<Value> {
    eventually(&format!("the log to show {query}"), WAIT, || async {
        let page = stack.get(&format!("/v1/events?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let events = page.body["events"].as_array().cloned().unwrap_or_default();
        (events.first().is_some_and(&ready)).then_some(events)
    })
    .await
}

/// What the sink received for one event id: `(webhook_id, signature_valid)` per delivery.
async fn deliveries(stack: &Stack, event_id: &str) -> Vec<(String, bool)> {
    stack
        .events()
        .await
        .into_iter()
        .filter(|e| e["event"]["event_id"] == event_id)
        .map(|e| {
            (
                e["webhook_id"].as_str().unwrap_or_default().to_owned(),
                e["signature_valid"] == true,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_then_delivered_event_is_logged_with_both_attempts_and_replays_with_its_id() {
    let stack = Stack::start().await;
    // The business's endpoint fails the next delivery; notify's retry gets through.
    let armed = stack
        .post("/_sandbox/business/demo/fail_next", json!({"count": 1}))
        .await;
    assert_eq!(armed.status, StatusCode::OK, "{armed:?}");
    stack.user_writes("+447911123411", "Hello").await;

    let events = logged(&stack, "type=message.inbound", |e| {
        e["state"] == "delivered"
    })
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let entry = &events[0];
    let id = entry["event_id"].as_str().unwrap().to_owned();
    assert_eq!(entry["event"]["event_id"], id.as_str());
    assert_eq!(entry["event"]["data"]["text"], "Hello");
    assert_eq!(entry["attempt_count"], 2, "{entry}");
    let attempts = entry["attempts"].as_array().unwrap();
    let statuses: Vec<&Value> = attempts.iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(200)], "{entry}");
    assert!(
        attempts
            .iter()
            .all(|a| a["latency_ms"].is_u64() && a["at"].is_string())
    );
    assert!(attempts[0]["at"].as_str() <= attempts[1]["at"].as_str());
    assert_eq!(entry["last_attempt"], attempts[1]);
    assert_eq!(entry["attempts_dropped"], 0);

    // The filters: by state, by time (the event's own), by a type it is not.
    let delivered = stack.get("/v1/events?state=delivered").await.body;
    assert!(
        delivered["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_id"] == id.as_str())
    );
    // (The user's message also opened a session: its `session.opened` shares the time and may
    // still be pending, so each filter is tried with the type.)
    for query in [
        "type=message.inbound&state=failed",
        "type=message.inbound&state=pending",
        "type=contact.opted_out",
        "type=message.inbound&to=2000-01-01T00:00:00Z",
        "type=message.inbound&from=2286-01-01T00:00:00Z",
    ] {
        let page = stack.get(&format!("/v1/events?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {page:?}");
        assert_eq!(page.body["events"], json!([]), "{query}");
    }
    let created = entry["created_at"].as_str().unwrap();
    let exact = stack
        .get(&format!(
            "/v1/events?type=message.inbound&from={created}&to={created}"
        ))
        .await
        .body;
    assert_eq!(exact["events"][0]["event_id"], id.as_str(), "{exact}");

    // Delivered once for real (the failed attempt was recorded by the sink as a refusal).
    assert_eq!(deliveries(&stack, &id).await.len(), 1);
    let replay = stack
        .post("/v1/events/replay", json!({"event_ids": [id]}))
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{replay:?}");
    assert_eq!(replay.body["queued"], 1);
    assert_eq!(replay.body["event_ids"], json!([id]));
    let again = eventually("the replayed delivery", WAIT, || async {
        let got = deliveries(&stack, &id).await;
        (got.len() == 2).then_some(got)
    })
    .await;
    assert_eq!(
        again[1],
        (id.clone(), true),
        "same webhook-id, valid signature"
    );
    let entry = logged(&stack, "type=message.inbound", |e| e["attempt_count"] == 3).await;
    assert_eq!(entry[0]["state"], "delivered");

    // only_failed: nothing failed, nothing queued; a time range finds the event.
    let none = stack
        .post(
            "/v1/events/replay",
            json!({"event_ids": [id], "only_failed": true}),
        )
        .await;
    assert_eq!(none.body["queued"], 0, "{none:?}");
    let range = stack
        .post(
            "/v1/events/replay",
            json!({"from": created, "to": created, "only_failed": true}),
        )
        .await;
    assert_eq!(
        (range.status, &range.body["queued"]),
        (StatusCode::ACCEPTED, &json!(0)),
        "{range:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_and_replay_refuse_what_they_cannot_do_and_change_nothing() {
    let stack = Stack::start().await;
    for (query, code, field) in [
        ("limit=0", "validation_failed", Some("limit")),
        ("limit=101", "validation_failed", Some("limit")),
        ("state=lost", "validation_failed", Some("state")),
        ("type=session.nope", "validation_failed", Some("type")),
        ("from=yesterday", "validation_failed", Some("from")),
        ("to=2026-02-30T00:00:00Z", "validation_failed", Some("to")),
        ("colour=red", "validation_failed", Some("colour")),
        ("limit=1&limit=2", "validation_failed", Some("limit")),
        ("cursor=BIZ%23other", "invalid_cursor", None),
    ] {
        let answer = stack.get(&format!("/v1/events?{query}")).await;
        assert_eq!(answer.code(), code, "{query}: {answer:?}");
        assert_eq!(
            answer.body["error"]["field"].as_str(),
            field,
            "{query}: {answer:?}"
        );
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("evt_{i:032x}")).collect();
    let answer = stack
        .post("/v1/events/replay", json!({"event_ids": too_many}))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::BAD_REQUEST, "replay_too_large")
    );
    assert_eq!(answer.body["error"]["max"], 100);
    for body in [
        json!({}),
        json!({"event_ids": []}),
        json!({"event_ids": ["evt_1"]}),
        json!({"from": "2026-01-01T00:00:00Z"}),
        json!({"event_ids": null, "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}),
        json!({"event_ids": [format!("evt_{:032x}", 1)], "from": "2026-01-01T00:00:00Z"}),
        json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "only": true}),
    ] {
        let answer = stack.post("/v1/events/replay", body.clone()).await;
        assert_eq!(answer.code(), "validation_failed", "{body}: {answer:?}");
    }
    let unknown = format!("evt_{:032x}", 7);
    let answer = stack
        .post("/v1/events/replay", json!({"event_ids": [unknown]}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(
        (&answer.body["queued"], &answer.body["unknown"]),
        (&json!(0), &json!([unknown]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_business_never_sees_or_replays_anothers_events() {
    let stack = Stack::start().await;
    let store = Store::new(
        stack.env.dynamodb().await,
        &stack.env.table,
        Limits::default(),
        Retention::default(),
    );
    let (_, other_key) = store
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("other").unwrap(),
            service_id: 5050,
            callback_url: Some(format!("{}/_sandbox/business/other/events", stack.base)),
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let base = stack.base.clone();
    let key = other_key.expose().to_owned();
    let as_other = |path: String| {
        let (base, key) = (base.clone(), key.clone());
        async move {
            let response = reqwest::Client::new()
                .get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    // Three events for demo, so that its pages of one have cursors.
    for phone in ["+447911123421", "+447911123422", "+447911123423"] {
        stack.user_writes(phone, "hi").await;
    }
    let demo = eventually("demo's three events", WAIT, || async {
        let events = stack.get("/v1/events?type=message.inbound").await.body["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (events.len() == 3).then_some(events)
    })
    .await;
    let first = stack.get("/v1/events?type=message.inbound&limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(first.body["events"][0]["event_id"], demo[0]["event_id"]);
    let second = stack
        .get(&format!(
            "/v1/events?type=message.inbound&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(second.body["events"][0]["event_id"], demo[1]["event_id"]);

    // The other business: an empty log, with or without demo's cursor.
    let (status, page) = as_other("/v1/events".into()).await;
    assert_eq!((status, &page["events"]), (StatusCode::OK, &json!([])));
    let (_, page) = as_other(format!("/v1/events?cursor={cursor}")).await;
    assert_eq!(page["events"], json!([]), "{page}");
    // Its replay of demo's ids finds nothing and queues nothing.
    let ids: Vec<Value> = demo.iter().map(|e| e["event_id"].clone()).collect();
    let replay = reqwest::Client::new()
        .post(format!("{}/v1/events/replay", stack.base))
        .bearer_auth(other_key.expose())
        .json(&json!({"event_ids": ids}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["queued"], 0, "{replay}");
    assert_eq!(replay["unknown"].as_array().unwrap().len(), 3);
    let range = reqwest::Client::new()
        .post(format!("{}/v1/events/replay", stack.base))
        .bearer_auth(other_key.expose())
        .json(&json!({"from": "2000-01-01T00:00:00Z", "to": "2286-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let range: Value = range.json().await.unwrap();
    assert_eq!(range["queued"], 0, "{range}");
}
