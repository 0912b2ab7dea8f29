//! Session lifecycle events end to end: what a business building its own inbox hears
//! of a session's life, through the local stack, the movable clock firing the timed ones.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use vbm_e2e::{Stack, eventually};

const WAIT: Duration = Duration::from_secs(90);

/// The session events the business received about `phone`, in arrival order.
async fn session_events(stack: &Stack, phone: &str) -> Vec<Value> {
    stack
        .events()
        .await
        .into_iter()
        .filter(|e| {
            e["event"]["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("session."))
                && e["event"]["data"]["phone"] == phone
        })
        .collect()
}

/// Waits for the `n`-th session event about `phone` and returns them all.
async fn wait_for(stack: &Stack, phone: &str, kind: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{kind} for {phone}"), WAIT, || async {
        let events = session_events(stack, phone).await;
        (events.iter().filter(|e| e["event"]["type"] == kind).count() >= n).then_some(events)
    })
    .await
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"]["type"] == kind)
        .map(|e| &e["event"])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opened_locked_unlocked_then_expiring_and_closed_by_the_clock() {
    let stack = Stack::start().await;
    let ann = "+447911123431";
    stack.user_writes(ann, "Hello").await;
    let events = wait_for(&stack, ann, "session.opened", 1).await;
    let opened = of(&events, "session.opened")[0];
    let session = stack.session(ann).await;
    assert_eq!(opened["data"]["session"]["state"], "active");
    assert_eq!(
        opened["data"]["session"]["started_at"],
        session["started_at"]
    );
    assert_eq!(
        opened["data"]["session"]["expires_at"],
        session["expires_at"]
    );
    assert_eq!(opened["data"]["session"]["messages_left"], 60);

    for i in 1..=5 {
        let answer = stack.session_text(ann, &format!("news {i}")).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    }
    let events = wait_for(&stack, ann, "session.locked", 1).await;
    let locked = of(&events, "session.locked")[0];
    assert_eq!(locked["data"]["session"]["state"], "locked");
    assert_eq!(locked["data"]["session"]["consecutive"], 5);
    assert_eq!(locked["data"]["session"]["can_send_session"], false);

    stack.user_writes(ann, "ok").await;
    let events = wait_for(&stack, ann, "session.unlocked", 1).await;
    let unlocked = of(&events, "session.unlocked")[0];
    assert_eq!(unlocked["data"]["session"]["state"], "active");
    assert_eq!(unlocked["data"]["session"]["consecutive"], 0);

    // 23 h 45 min later (a little past): the first timer fires, the session still open.
    stack.advance_clock(24 * 3600 - 15 * 60 + 5).await;
    let events = wait_for(&stack, ann, "session.expiring", 1).await;
    let expiring = of(&events, "session.expiring")[0];
    assert_eq!(expiring["data"]["reason"], "time");
    assert_eq!(expiring["data"]["session"]["state"], "active");
    assert_eq!(
        expiring["data"]["session"]["expires_at"],
        session["expires_at"]
    );
    assert!(of(&events, "session.closed").is_empty());

    // Its end: closed, expired.
    stack.advance_clock(15 * 60).await;
    let events = wait_for(&stack, ann, "session.closed", 1).await;
    let closed = of(&events, "session.closed")[0];
    assert_eq!(closed["data"]["reason"], "expired");
    assert_eq!(closed["data"]["session"]["state"], "expired");
    assert_eq!(closed["created_at"], session["expires_at"]);
    assert_eq!(stack.session(ann).await["state"], "expired");

    // Each once, in the order they happened, each signed.
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "session.opened",
            "session.locked",
            "session.unlocked",
            "session.expiring",
            "session.closed"
        ]
    );
    assert!(events.iter().all(|e| e["signature_valid"] == true));
    // And in the delivery log, delivered.
    let log = stack.get("/v1/events?type=session.closed").await;
    assert_eq!(log.body["events"][0]["state"], "delivered", "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_messages_warn_then_the_limit_closes_and_a_new_session_opens() {
    let stack = Stack::start().await;
    let bob = "+447911123432";
    stack.user_writes(bob, "hi").await;
    for burst in 0..12 {
        if burst > 0 {
            stack.user_writes(bob, "more").await;
        }
        for _ in 0..5 {
            let answer = stack.session_text(bob, "news").await;
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        }
    }
    let events = wait_for(&stack, bob, "session.closed", 1).await;
    let expiring = of(&events, "session.expiring");
    assert_eq!(expiring.len(), 1, "{events:?}");
    assert_eq!(expiring[0]["data"]["reason"], "messages");
    assert_eq!(expiring[0]["data"]["session"]["messages_left"], 5);
    let closed = of(&events, "session.closed")[0];
    assert_eq!(closed["data"]["reason"], "limit_reached");
    assert_eq!(closed["data"]["session"]["messages_left"], 0);
    assert_eq!(closed["data"]["session"]["state"], "expired");

    // The user writes again: a new session, and nothing more about the old one, even when its
    // timers fire a day later.
    stack.user_writes(bob, "again").await;
    let events = wait_for(&stack, bob, "session.opened", 2).await;
    let opened = of(&events, "session.opened");
    assert_ne!(
        opened[0]["data"]["session"]["started_at"],
        opened[1]["data"]["session"]["started_at"]
    );
    stack.advance_clock(24 * 3600 + 60).await;
    let events = wait_for(&stack, bob, "session.closed", 2).await;
    let closed = of(&events, "session.closed");
    assert_eq!(closed.len(), 2, "{events:?}");
    // The second is the new session's own end.
    assert_eq!(
        closed[1]["data"]["session"]["started_at"],
        opened[1]["data"]["session"]["started_at"]
    );
    assert_eq!(closed[1]["data"]["reason"], "expired");
    assert_eq!(of(&events, "session.locked").len(), 12, "one lock a burst");
    assert_eq!(of(&events, "session.unlocked").len(), 11);
}
