//! `POST /v1/campaigns` with a session message that waits for each user's reply: checked as a
//! single send's `wait_for_session` (same codes, nothing stored on an error), and its dry run
//! counting the recipients it would hold.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vbm_platform::clock::{Clock, OffsetClock};

use crate::common::*;
use crate::dry_run::{campaign_app, query, templates};

fn session_message(until: &str) -> Value {
    json!({
        "type": "session",
        "text": "Your parcel is at the door",
        "wait_for_session": {
            "until": until,
            "fallback": {"template": {"id": "welcome", "params": {"name": "Ann"}}},
        },
    })
}

#[tokio::test]
async fn a_session_campaign_waits_for_each_reply_and_is_checked_as_a_single_hold() {
    let h = Harness::new().await;
    let clock: Arc<dyn Clock> = Arc::new(OffsetClock::new());
    let app = campaign_app(&h, clock.clone()).await;
    templates(&h).await;
    let until = vbm_platform::time::rfc3339(clock.now().plus(Duration::from_secs(7200)));
    let auth = format!("Bearer {}", h.key);
    let post = |body: Value, dry: bool| {
        let text = body.to_string();
        let auth = auth.clone();
        let app = &app;
        async move {
            let post = request(
                "POST",
                "/v1/campaigns",
                Some(&text),
                &[("authorization", &auth)],
                CALLER_IP,
            );
            let post = if dry {
                query(post, &[("dry_run", "true")])
            } else {
                post
            };
            call(app, post).await
        }
    };
    h.open_session("+447911000003").await;
    let recipients = json!([{"to": "+447911000001"}, {"to": "+447911000003"}]);

    // Each error as a single send's, and nothing stored.
    let footprint = h.env.footprint().await;
    let cases = [
        (
            json!({"type": "session", "text": "hi", "wait_for_session": {"until": "2020-01-01T00:00:00Z"}}),
            422,
            "hold_until_invalid",
        ),
        (
            json!({"type": "session", "text": "hi", "wait_for_session": {"until": "soon"}}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "session", "text": "hi", "wait_for_session": {"until": until, "colour": 1}}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "promotional", "text": "Sale", "wait_for_session": {"until": until}}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "session", "text": "hi"}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "session", "text": "hi", "wait_for_session": {"until": until, "fallback": {"template": {"id": "nope"}}}}),
            422,
            "template_not_found",
        ),
    ];
    for (message, status, code) in cases {
        post(json!({"message": message, "recipients": recipients}), false)
            .await
            .expect_error(status, code);
    }
    assert_eq!(h.env.footprint().await, footprint, "nothing stored");

    // The dry run: the number in a session would get it now, the other would be held.
    let dry = post(
        json!({"message": session_message(&until), "recipients": recipients}),
        true,
    )
    .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["outcomes"]["accepted"], 1, "{}", dry.body);
    assert_eq!(dry.body["outcomes"]["held"], 1, "{}", dry.body);
    assert_eq!(
        h.env.footprint().await,
        footprint,
        "the dry run stores nothing"
    );

    let created = post(
        json!({"message": session_message(&until), "recipients": recipients}),
        false,
    )
    .await;
    assert_eq!(created.status, 202, "{}", created.body);
    assert_eq!(created.body["state"], "scheduled");
    assert_eq!(created.body["counts"]["pending"], 2);
}
