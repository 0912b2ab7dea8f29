//! `vbmctl events redrive` against the emulator: events on the events dead-letter
//! queue go back to the events queue unchanged (same event id, so the same `webhook-id`); a
//! body that is not an event stays and is reported. `vbmctl events lifecycle-redrive`: a stream
//! range the lifecycle function's mapping gave up on is read again and its session events
//! queued, once however often it is redriven.

use std::process::Command;

use serde_json::{Value, json};
use session_rules::Timestamp;
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_testkit::TestEnv;

#[tokio::test]
async fn dead_lettered_events_go_back_unchanged_and_the_rest_stays() {
    let env = TestEnv::fresh();
    let sqs = env.sqs().await;
    let dlq = EventsQueue::new(sqs.clone(), &env.events_dlq_url);
    // Twelve: more than one receive of ten.
    let events: Vec<Event> = (0..12)
        .map(|i| {
            Event::new(
                EventKind::MessageStatus,
                "acme",
                &format!("m{i}/delivered"),
                Timestamp::from_millis(1_800_000_000_000),
                json!({"message_id": format!("m{i}"), "status": "delivered"}),
            )
        })
        .collect();
    dlq.publish_all(&events).await.unwrap();
    sqs.send_message()
        .queue_url(&env.events_dlq_url)
        .message_body("not an event")
        .send()
        .await
        .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_vbmctl"))
        .args(["events", "redrive"])
        .env("EVENTS_DLQ_URL", &env.events_dlq_url)
        .env("EVENTS_QUEUE_URL", &env.events_queue_url)
        .output()
        .expect("vbmctl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["moved"], 12, "{summary}");
    assert_eq!(
        summary["left"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );

    let mut queued: Vec<Event> = vbm_testkit::drain(&sqs, &env.events_queue_url)
        .await
        .iter()
        .map(|m| EventsQueue::parse(&m.body).unwrap())
        .collect();
    queued.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let mut expected = events.clone();
    expected.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(queued, expected, "each event as it was, once");
}

#[tokio::test]
async fn a_failed_stream_range_gives_its_session_events_once() {
    use session_rules::{Conversation, Limits, PhoneNumber};
    use vbm_store::{BusinessId, Retention, Store};
    let env = TestEnv::fresh();
    let sqs = env.sqs().await;
    let store = Store::new(
        env.dynamodb().await,
        &env.table,
        Limits::default(),
        Retention::default(),
    );
    let business = BusinessId::parse("acme").unwrap();
    let phone = PhoneNumber::parse("+447911123456").unwrap();
    // T0 is ahead of the real clock: the session is open when the tool runs.
    let t0 = Timestamp::from_millis(1_800_000_000_000);
    let open = Conversation::default().user_message(t0, &Limits::default());
    store
        .conversations()
        .put_conversation(&business, &phone, &open, t0)
        .await
        .unwrap();

    // The stream's whole range so far, as the failure record Lambda writes names it.
    let failure = env.stream_failure_record().await;
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_vbmctl"))
            .args(["events", "lifecycle-redrive"])
            .env("VBM_TABLE", &env.table)
            .env(
                "LIFECYCLE_FAILURE_QUEUE_URL",
                &env.lifecycle_failure_queue_url,
            )
            .env("EVENTS_QUEUE_URL", &env.events_queue_url)
            .env("SESSION_TIMERS_QUEUE_URL", &env.session_timers_queue_url)
            .env("TIMERS_GROUP", &env.timers_group)
            .env("TIMERS_ROLE_ARN", "arn:aws:iam::123456789012:role/timers")
            .output()
            .expect("vbmctl runs")
    };
    // Recorded twice (Lambda may), redriven in two runs: one event.
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&env.lifecycle_failure_queue_url)
            .message_body(failure.to_string())
            .send()
            .await
            .unwrap();
        let out = run();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["batches"], 1, "{summary}");
    }
    let queued: Vec<Event> = vbm_testkit::drain(&sqs, &env.events_queue_url)
        .await
        .iter()
        .map(|m| EventsQueue::parse(&m.body).unwrap())
        .collect();
    let kinds: Vec<&str> = queued.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["session.opened"], "{queued:?}");
    assert_eq!(queued[0].data["phone"], "+447911123456");
}
