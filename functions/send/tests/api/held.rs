//! `wait_for_session`: a session message that waits for the user's reply instead of being
//! refused `no_session`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vbm_platform::clock::OffsetClock;

use crate::common::{Harness, phone, session_text};

const TO: &str = "+447911123456";
const OTP: &str = "0aac888f-2ee2-4112-9659-1755a951966a";

fn waiting(to: &str, until: &str, fallback: bool) -> Value {
    let mut body = session_text(to);
    body["wait_for_session"] = json!({"until": until});
    if fallback {
        body["wait_for_session"]["fallback"] =
            json!({"template": {"id": OTP, "params": {"pin": "4711"}}});
    }
    body
}

fn rfc3339(h: &Harness, ahead: Duration) -> String {
    vbm_platform::time::rfc3339(h.now().plus(ahead))
}

#[tokio::test]
async fn without_a_session_it_is_held_counted_in_nothing_and_not_queued() {
    let h = Harness::new().await;
    let until = rfc3339(&h, Duration::from_secs(3600));
    let reply = h.send(&waiting(TO, &until, true), Some("k1")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["status"], "held");
    assert_eq!(reply.body["hold"]["state"], "held");
    assert_eq!(reply.body["hold"]["fallback"], true);
    assert_eq!(reply.body["session"]["state"], "none");
    let id = reply.message_id();
    assert_eq!(h.count_items("MSG#").await, 0, "no message for the outbox");
    assert!(h.drain_queue().await.is_empty(), "nothing queued to Viber");

    // A retry answers as the first time.
    let again = h.send(&waiting(TO, &until, true), Some("k1")).await;
    assert_eq!((again.status, again.message_id()), (202, id.clone()));
    assert_eq!(again.body["status"], "held");
    assert_eq!(h.count_items("HELD#").await, 1);

    let view = h.authed("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["status"], "held");
    assert_eq!(
        view.body["hold"]["until"].as_str().unwrap()[..19],
        until[..19]
    );

    // The user writes: it goes, as the session message it is.
    h.store()
        .conversations()
        .record_inbound(
            &h.business.id,
            &phone(TO),
            "u1",
            &Default::default(),
            h.now(),
            h.now(),
        )
        .await
        .unwrap();
    h.store()
        .messages()
        .release_held(&h.business.id, &phone(TO), h.now())
        .await
        .unwrap();
    assert_eq!(h.drain_queue().await, vec![id.clone()]);
    let view = h.authed("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(view.body["status"], "accepted");
    assert_eq!(view.body["hold"]["state"], "released");
}

#[tokio::test]
async fn with_an_open_session_it_goes_at_once() {
    let h = Harness::new().await;
    h.open_session(TO).await;
    let until = rfc3339(&h, Duration::from_secs(3600));
    let reply = h.send(&waiting(TO, &until, false), None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["status"], "accepted");
    assert_eq!(reply.body["hold"], Value::Null);
    assert_eq!(h.drain_queue().await.len(), 1);
}

#[tokio::test]
async fn a_deadline_it_may_not_wait_for_is_refused_and_stores_nothing() {
    let h = Harness::new().await;
    let before = (h.count_items("HELD#").await, h.count_items("MSG#").await);
    for (until, status, code) in [
        (rfc3339(&h, Duration::ZERO), 422, "hold_until_invalid"),
        (
            vbm_platform::time::rfc3339(h.now().minus(Duration::from_secs(60))),
            422,
            "hold_until_invalid",
        ),
        (
            rfc3339(&h, Duration::from_secs(31 * 86_400)),
            422,
            "hold_until_invalid",
        ),
        ("tomorrow".to_owned(), 422, "validation_failed"),
    ] {
        let reply = h.send(&waiting(TO, &until, false), None).await;
        reply.expect_error(status, code);
    }
    // Only a session message waits; the fallback is checked as the template send it is.
    let mut template = json!({"to": TO, "type": "template",
                              "template": {"id": OTP, "params": {"pin": "1"}}});
    template["wait_for_session"] = json!({"until": rfc3339(&h, Duration::from_secs(60))});
    h.send(&template, None)
        .await
        .expect_error(422, "validation_failed");
    let mut bad_fallback = waiting(TO, &rfc3339(&h, Duration::from_secs(60)), false);
    bad_fallback["wait_for_session"]["fallback"] = json!({"template": {"id": OTP, "params": {}}});
    h.send(&bad_fallback, None)
        .await
        .expect_error(422, "template_params_invalid");
    let mut unknown = waiting(TO, &rfc3339(&h, Duration::from_secs(60)), false);
    unknown["wait_for_session"]["when"] = json!("soon");
    h.send(&unknown, None)
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        (h.count_items("HELD#").await, h.count_items("MSG#").await),
        before
    );
}

/// A retry with the same `Idempotency-Key` after `until` passed is the same request: answered
/// as the first time (held, or sent at once), not refused for a deadline in the past.
#[tokio::test]
async fn a_retry_after_until_passed_gets_the_first_answer() {
    let clock = Arc::new(OffsetClock::new());
    let h = Harness::with_clock(clock.clone()).await;
    let until = rfc3339(&h, Duration::from_secs(60));
    let held = h.send(&waiting(TO, &until, true), Some("late-1")).await;
    assert_eq!(held.status, 202, "{}", held.body);
    assert_eq!(held.body["status"], "held");
    let other = "+447911123457";
    h.open_session(other).await;
    let sent = h.send(&waiting(other, &until, false), Some("late-2")).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.body["status"], "accepted");

    clock.advance(Duration::from_secs(120));
    let again = h.send(&waiting(TO, &until, true), Some("late-1")).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(
        (again.body["status"].as_str(), again.message_id()),
        (Some("held"), held.message_id())
    );
    let again = h.send(&waiting(other, &until, false), Some("late-2")).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(
        (again.body["status"].as_str(), again.message_id()),
        (Some("accepted"), sent.message_id())
    );
    assert_eq!(h.count_items("HELD#").await, 1);
    // A new request with that deadline is refused.
    h.send(&waiting(TO, &until, true), Some("late-3"))
        .await
        .expect_error(422, "hold_until_invalid");
}
