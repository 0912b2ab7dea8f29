//! The quarantine end to end: the local stack with the real handlers and the Viber sandbox
//! posting callbacks over HTTP. What authenticates but cannot be used is answered 200 and kept
//! whole; `vbmctl quarantine replay`'s code (the handlers' own `replay`) records it once the
//! cause is fixed; an unknown status code shows in the message's history and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use session_rules::Limits;
use vbm_callbacks::Replay;
use vbm_e2e::{Stack, eventually};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_store::{BusinessId, NewBusiness, QuarantineReason, Retention, Store};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unusable_callbacks_are_quarantined_and_replayed_and_unknown_codes_kept() {
    let stack = Stack::start().await;
    let store = Store::new(
        stack.env.dynamodb().await,
        &stack.env.table,
        Limits::default(),
        Retention::default(),
    );

    // A user writes to a service id no business has yet; and a status Viber garbled.
    let stranger = "+447911123480";
    let answer = stack
        .post(
            "/_sandbox/viber/user_message",
            json!({"service_id": 4040, "phone_number": stranger, "text": "Anyone there?"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["inbound_status"], 200, "{answer:?}");
    let garbled = json!({"message_token": "two words", "message_status": 0});
    let answer = stack
        .post(
            "/_sandbox/viber/callback",
            json!({"path": "/viber/status", "body": garbled}),
        )
        .await;
    assert_eq!(answer.body["status"], 200, "{answer:?}");

    let kept = store
        .quarantine()
        .quarantined(SystemClock.now())
        .await
        .unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let inbound_entry = kept
        .iter()
        .find(|q| q.route == "POST /viber/inbound")
        .expect("the user message kept");
    assert_eq!(inbound_entry.reason, QuarantineReason::UnknownService);
    let body: serde_json::Value = serde_json::from_slice(&inbound_entry.body).unwrap();
    assert_eq!(body["message"]["text"], "Anyone there?", "kept whole");
    let status_entry = kept
        .iter()
        .find(|q| q.route == "POST /viber/status")
        .expect("the status kept");
    assert_eq!(status_entry.reason, QuarantineReason::Unparseable);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&status_entry.body).unwrap(),
        garbled
    );

    // The operator creates the business for service id 4040 and replays (vbmctl's code).
    let (late, key) = store
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("late").unwrap(),
            service_id: 4040,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let events = EventsQueue::new(stack.env.sqs().await, &stack.env.events_queue_url);
    let replayer = inbound::App::for_replay(
        Store::new(
            stack.env.dynamodb().await,
            &stack.env.table,
            Limits::default(),
            Retention::default(),
        ),
        events,
        Arc::new(SystemClock),
    );
    assert_eq!(
        replayer.replay(inbound_entry).await.unwrap(),
        Replay::Used("recorded")
    );
    // Through the API, as the new business sees it: the user's message opened a session.
    let session = reqwest::Client::new()
        .get(format!(
            "{}/v1/sessions/{}",
            stack.base,
            stranger.replace('+', "%2B")
        ))
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), StatusCode::OK);
    let session: serde_json::Value = session.json().await.unwrap();
    assert_eq!(session["state"], "active", "{session}");
    let left = store
        .quarantine()
        .quarantined(SystemClock.now())
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, status_entry.id);
    assert_eq!(late.service_id(), 4040);

    // An unknown status code on a real message: 200, in its history as it came, no move.
    let ann = "+447911123481";
    let sent = stack.template(ann, "welcome", json!({"name": "Ann"})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    let id = sent.body["message_id"].as_str().unwrap().to_owned();
    let seen = eventually("the template to be seen", WAIT, || async {
        let m = stack.message(&id).await;
        (m["status"] == "seen").then_some(m)
    })
    .await;
    let token = seen["viber_message_token"].as_str().unwrap().to_owned();
    let answer = stack
        .post(
            "/_sandbox/viber/callback",
            json!({"path": "/viber/status", "body": {
                "message_token": token, "message_status": 9, "message_time": 1_800_000_000_000i64,
                "service_id": 1000, "phone_number": ann.trim_start_matches('+'),
            }}),
        )
        .await;
    assert_eq!(answer.body["status"], 200, "{answer:?}");
    let m = stack.message(&id).await;
    assert_eq!(m["status"], "seen");
    let history: Vec<(String, serde_json::Value)> = m["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["viber_status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        history.last(),
        Some(&("unknown".to_owned(), json!(9))),
        "{history:?}"
    );
    assert_eq!(
        history[..4]
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>(),
        ["accepted", "sent", "delivered", "seen"]
    );
}
