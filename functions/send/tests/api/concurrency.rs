//! Real concurrency: many tokio tasks on a multi-thread runtime through one `App` per test.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::json;

use crate::common::*;

async fn burst(h: &Harness, n: usize, to: &str) -> Vec<Reply> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = h.app.clone();
        let key = h.key.clone();
        let body = json!({"to": to, "type": "session", "text": format!("message {i}")});
        tasks.push(tokio::spawn(async move {
            send_with(&app, &key, &body, None).await
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

fn accepted_ids(replies: &[Reply]) -> BTreeSet<String> {
    replies
        .iter()
        .filter(|r| r.status == 202)
        .map(Reply::message_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_session_sends_get_exactly_five_through() {
    let h = Harness::new().await;
    h.open_session(UK).await;

    // Warm this container's API-key cache, so the count below is the send path's own.
    assert_eq!(h.authed("GET", "/v1/templates", None).await.status, 200);
    let calls_before = h.calls.snapshot();
    let started = Instant::now();
    let replies = burst(&h, 200, UK).await;
    let elapsed = started.elapsed();
    let calls = h.calls.snapshot();
    let [tx, gets, other, attempts] = [0, 1, 2, 3].map(|i| calls[i] - calls_before[i]);

    let accepted = accepted_ids(&replies);
    assert_eq!(accepted.len(), 5, "accepted: {accepted:?}");
    for r in replies.iter().filter(|r| r.status != 202) {
        r.expect_error(409, "session_locked");
    }
    let session = h.session(UK).await;
    assert_eq!(
        (
            &session["state"],
            &session["messages_sent"],
            &session["consecutive"]
        ),
        (&json!("locked"), &json!(5), &json!(5))
    );
    assert_eq!(h.count_items("MSG#").await, 5);
    let queued: BTreeSet<String> = h.drain_queue().await.into_iter().collect();
    assert_eq!(queued, accepted);
    eprintln!(
        "200 concurrent sends to one session: {elapsed:.2?} wall; DynamoDB: {tx} TransactWriteItems, \
         {gets} GetItem, {other} other, {attempts} HTTP attempts; SQS: 5 SendMessage"
    );
    // Each request: at most one read, then one write per state change it saw (5 wins).
    assert!(tx <= 200 * 6, "{tx} transactions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_lets_exactly_sixty_through_across_user_replies() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let started = Instant::now();
    let mut accepted = BTreeSet::new();
    for round in 0..12 {
        let replies = burst(&h, 20, UK).await;
        let ids = accepted_ids(&replies);
        assert_eq!(ids.len(), 5, "round {round}");
        accepted.extend(ids);
        if round < 11 {
            h.open_session(UK).await; // the user replies: unlocks, same session
        }
    }
    assert_eq!(accepted.len(), 60);
    // The 60th ended the session: whatever comes next is over the limit.
    let replies = burst(&h, 20, UK).await;
    for r in &replies {
        r.expect_error(409, "session_limit_reached");
    }
    let session = h.session(UK).await;
    assert_eq!(
        (
            &session["state"],
            &session["messages_sent"],
            &session["messages_left"]
        ),
        (&json!("expired"), &json!(60), &json!(0))
    );
    let queued: BTreeSet<String> = h.drain_queue().await.into_iter().collect();
    assert_eq!(queued, accepted);
    assert_eq!(h.count_items("MSG#").await, 60);
    eprintln!("12 bursts of 20 + 20 refused: {:.2?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_retries_with_one_key_make_one_message() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let body = session_text(UK);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = h.app.clone();
        let key = h.key.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            send_with(&app, &key, &body, Some("order-42")).await
        }));
    }
    let mut ids = BTreeSet::new();
    let mut sessions = BTreeSet::new();
    for task in tasks {
        let r = task.await.unwrap();
        assert_eq!(r.status, 202, "{}", r.body);
        ids.insert(r.message_id());
        sessions.insert(r.body["session"].to_string());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    // Every answer is the first one, session snapshot included.
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let id = ids.into_iter().next().unwrap();
    assert_eq!(h.session(UK).await["messages_sent"], 1);
    assert_eq!(h.count_items("MSG#").await, 1);

    // The same JSON with its keys in another order is the same request.
    let reordered = r#"{"text": "Your order is ready", "type": "session", "to": "+447911123456"}"#;
    let auth = format!("Bearer {}", h.key);
    let r = h
        .call(
            "POST",
            "/v1/messages",
            Some(reordered),
            &[("authorization", &auth), ("idempotency-key", "order-42")],
        )
        .await;
    assert_eq!((r.status, r.message_id()), (202, id.clone()));

    // The same key with another body is refused, and counts nothing.
    let before = h.footprint(UK).await;
    let other = json!({"to": UK, "type": "session", "text": "Something else"});
    h.send(&other, Some("order-42"))
        .await
        .expect_error(422, "idempotency_key_reused");
    assert_eq!(h.footprint(UK).await, before);
    // One job, however many retries (FIFO de-duplication by message id).
    assert_eq!(h.drain_queue().await, vec![id]);
}

/// "Same body" is the same request once parsed and normalised: numbers by value,
/// the recipient by the number it names; a real difference is still `idempotency_key_reused`.
#[tokio::test]
async fn the_same_request_spelt_differently_is_a_replay() {
    let h = Harness::new().await;
    // Free-form transactional content is sent here: the business has opted in to it.
    h.allow_legacy_transactional().await;
    let auth = format!("Bearer {}", h.key);
    let post = |body: String| {
        let auth = auth.clone();
        let h = &h;
        async move {
            h.call(
                "POST",
                "/v1/messages",
                Some(&body),
                &[("authorization", &auth), ("idempotency-key", "ttl-1")],
            )
            .await
        }
    };
    let body = |to: &str, ttl: &str| {
        format!(r#"{{"to":"{to}","type":"transactional","text":"Your code","ttl_seconds":{ttl}}}"#)
    };
    let first = post(body(UK, "3600")).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let id = first.message_id();
    for (to, ttl) in [
        (UK, "3600.0"),
        (UK, "36e2"),
        (UK, "3.6E3"),
        // The trunk prefix 0 after the country code: the same number.
        ("+4407911123456", "3600"),
    ] {
        let r = post(body(to, ttl)).await;
        assert_eq!((r.status, r.message_id()), (202, id.clone()), "{to} {ttl}");
    }
    let before = h.footprint(UK).await;
    post(body(UK, "3601"))
        .await
        .expect_error(422, "idempotency_key_reused");
    assert_eq!(h.footprint(UK).await, before);
    assert_eq!(h.count_items("MSG#").await, 1);
}
