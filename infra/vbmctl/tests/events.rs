//! `vbmctl events redrive` against the emulator (issue 17): events on the events dead-letter
//! queue go back to the events queue unchanged (same event id, so the same `webhook-id`); a
//! body that is not an event stays and is reported.

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
