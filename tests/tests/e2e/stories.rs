//! The stories a business lives, end to end through HTTP: the local stack with the real
//! handlers, the queue pollers, the Viber sandbox and the business-callback sink.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use vbm_e2e::{Stack, eventually};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_contact_session_lock_unlock_and_statuses() {
    let stack = Stack::start().await;
    let ann = "+447911123401";

    // No session yet: only a template (or transactional) can open the conversation.
    assert_eq!(stack.session_text(ann, "hi").await.code(), "no_session");
    let promo = stack
        .send(json!({"to": ann, "type": "promotional", "text": "Sale!"}))
        .await;
    assert_eq!(promo.code(), "first_message_promotional");
    let first = stack.template(ann, "welcome", json!({"name": "Ann"})).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    let first_id = first.body["message_id"].as_str().unwrap().to_owned();

    // Viber gets it, answers, and posts delivered then seen; the business hears of each.
    let seen = eventually("the template to be seen", WAIT, || async {
        let m = stack.message(&first_id).await;
        (m["status"] == "seen").then_some(m)
    })
    .await;
    let history: Vec<&str> = seen["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["accepted", "sent", "delivered", "seen"]);
    assert!(seen["viber_message_token"].is_string());
    let sent = stack.viber_sent().await;
    assert_eq!(
        sent[0]["type"], 1702,
        "a template reaches all devices by default"
    );
    assert_eq!(sent[0]["dest"], "447911123401");
    let statuses = eventually("three status events", WAIT, || async {
        let events = stack.events().await;
        let statuses: Vec<_> = events
            .iter()
            .filter(|e| e["event"]["type"] == "message.status")
            .cloned()
            .collect();
        (statuses.len() >= 3).then_some(events)
    })
    .await;
    assert!(
        statuses.iter().all(|e| e["signature_valid"] == true),
        "{statuses:?}"
    );

    // The user replies: a session opens; five session messages go, the sixth is locked.
    stack.user_writes(ann, "Hello!").await;
    let inbound = eventually("the inbound event", WAIT, || async {
        stack
            .events()
            .await
            .into_iter()
            .find(|e| e["event"]["type"] == "message.inbound")
    })
    .await;
    assert_eq!(inbound["signature_valid"], true);
    assert_eq!(stack.session(ann).await["state"], "active");
    for i in 1..=5 {
        let answer = stack.session_text(ann, &format!("message {i}")).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{i}: {answer:?}");
        assert_eq!(answer.body["session"]["consecutive"], i);
    }
    assert_eq!(
        stack.session_text(ann, "sixth").await.code(),
        "session_locked"
    );
    assert_eq!(stack.session(ann).await["state"], "locked");

    // A reply unlocks; the anchor does not move.
    let started = stack.session(ann).await["started_at"].clone();
    stack.user_writes(ann, "ok").await;
    let unlocked = stack.session(ann).await;
    assert_eq!(unlocked["state"], "active");
    assert_eq!(unlocked["started_at"], started);
    assert_eq!(
        stack.session_text(ann, "thanks").await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_then_limit_then_a_day_later_expired_but_templates_go() {
    let stack = Stack::start().await;
    let bob = "+447911123402";
    stack.user_writes(bob, "hi").await;
    let mut accepted = 0;
    for burst in 0..12 {
        if burst > 0 {
            // A reply between bursts unlocks (the 5-in-a-row rule) but does not reset the 60.
            stack.user_writes(bob, "more").await;
        }
        for _ in 0..5 {
            let answer = stack.session_text(bob, "news").await;
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
            accepted += 1;
        }
    }
    assert_eq!(accepted, 60);
    assert_eq!(
        stack.session_text(bob, "61st").await.code(),
        "session_limit_reached"
    );

    // A new user message after the limit starts a new session.
    stack.user_writes(bob, "again").await;
    let session = stack.session(bob).await;
    assert_eq!(
        (session["state"].as_str(), session["messages_sent"].as_u64()),
        (Some("active"), Some(0))
    );

    // A day later the session has expired; templates still go.
    stack.advance_clock(24 * 3600).await;
    assert_eq!(
        stack.session_text(bob, "late").await.code(),
        "session_expired"
    );
    assert_eq!(stack.session(bob).await["state"], "expired");
    let template = stack.template(bob, "welcome", json!({"name": "Bob"})).await;
    assert_eq!(template.status, StatusCode::ACCEPTED, "{template:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocked_users_regulation_and_erasure() {
    let stack = Stack::start().await;

    // A number Viber says blocked us (sandbox: ends in 0008): failed, then opted out.
    let blocked = "+447911120008";
    let id = stack
        .template(blocked, "welcome", json!({"name": "Cy"}))
        .await
        .body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = eventually("the blocked send to fail", WAIT, || async {
        let m = stack.message(&id).await;
        (m["status"] == "failed").then_some(m)
    })
    .await;
    assert_eq!(failed["failure"]["code"], 8);
    assert_eq!(stack.session(blocked).await["opted_out"], true);
    assert_eq!(
        stack
            .template(blocked, "welcome", json!({"name": "Cy"}))
            .await
            .code(),
        "recipient_opted_out"
    );
    let opted_out = eventually("the opt-out event", WAIT, || async {
        stack
            .events()
            .await
            .into_iter()
            .find(|e| e["event"]["type"] == "contact.opted_out")
    })
    .await;
    assert_eq!(opted_out["signature_valid"], true);
    // Writing again clears it.
    stack.user_writes(blocked, "sorry, unblocked").await;
    assert_eq!(stack.session(blocked).await["opted_out"], false);

    // Russia: transactional only as an approved Russian/Ukrainian template; Kazakhstan on +7 is free.
    let ru = "+79123456789";
    assert_eq!(
        stack
            .send(json!({"to": ru, "type": "transactional", "text": "Code 1234"}))
            .await
            .code(),
        "template_required"
    );
    assert_eq!(
        stack
            .template(ru, "welcome", json!({"name": "Ivan"}))
            .await
            .code(),
        "template_required"
    );
    assert_eq!(
        stack
            .template(ru, "code_ru", json!({"code": "1234"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack
            .send(json!({"to": "+380501234567", "type": "transactional", "text": "Code"}))
            .await
            .code(),
        "template_required"
    );
    assert_eq!(
        stack
            .send(json!({"to": "+375291234567", "type": "transactional", "text": "Code"}))
            .await
            .code(),
        "template_required"
    );
    // Kazakhstan: an English template goes (free-form transactional text is template_required
    // everywhere unless the business opted in).
    assert_eq!(
        stack
            .template("+77011234567", "welcome", json!({"name": "Aigerim"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack
            .send(json!({"to": "+77011234567", "type": "transactional", "text": "Code 1234"}))
            .await
            .code(),
        "template_required"
    );

    // Erasure: everything about the user goes.
    let dora = "+447911123403";
    stack.user_writes(dora, "hi").await;
    let id = stack.session_text(dora, "hello Dora").await.body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        stack
            .delete(&format!("/v1/contacts/{}", dora.replace('+', "%2B")))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        stack.get(&format!("/v1/messages/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(stack.session(dora).await["state"], "none");
}
