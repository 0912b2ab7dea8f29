//! Every error code the API produces, through the handler; every refusal stores, counts and
//! queues nothing.

use std::time::Duration;

use serde_json::{Value, json};
use session_rules::{Conversation, Language, Session, Template, TemplateCategory, TemplateId};
use vbm_store::{ApiKey, BusinessId, NewBusiness};

use crate::common::*;

const RU: &str = "+79123456789";
const KZ: &str = "+77011234567";

#[tokio::test]
async fn requests_without_a_good_key_are_unauthorized() {
    let h = Harness::new().await;
    let unknown = format!("Bearer {}", ApiKey::generate().expose());
    let wrong_scheme = format!("Basic {}", h.key);
    for headers in [
        vec![],
        vec![("authorization", "Bearer not-a-key")],
        vec![("authorization", unknown.as_str())],
        vec![("authorization", wrong_scheme.as_str())],
    ] {
        for (method, path) in [("GET", "/v1/templates"), ("POST", "/v1/messages")] {
            let r = h.call(method, path, Some("{}"), &headers).await;
            r.expect_error(401, "unauthorized");
            assert_eq!(r.headers["www-authenticate"], "Bearer");
        }
    }
    // The right key works.
    assert_eq!(h.authed("GET", "/v1/templates", None).await.status, 200);
}

#[tokio::test]
async fn an_ip_allowlist_refuses_other_addresses() {
    let h = Harness::new().await;
    let (_, key) = h
        .store()
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("locked-down").unwrap(),
            service_id: 2002,
            callback_url: None,
            allow_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
        })
        .await
        .unwrap();
    let auth = format!("Bearer {}", key.expose());
    let headers = [("authorization", auth.as_str())];
    let outside = call(
        &h.app,
        request("GET", "/v1/templates", None, &headers, "203.0.113.9"),
    )
    .await;
    outside.expect_error(403, "ip_not_allowed");
    let inside = call(
        &h.app,
        request("GET", "/v1/templates", None, &headers, "10.20.30.40"),
    )
    .await;
    assert_eq!(inside.status, 200, "{}", inside.body);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let h = Harness::new().await;
    for path in ["/", "/v1/message", "/v1/messages/a/b", "/v2/templates"] {
        h.authed("GET", path, None)
            .await
            .expect_error(404, "not_found");
    }
    let r = h.authed("GET", "/v1/messages", None).await;
    r.expect_error(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "POST");
    let r = h.authed("PUT", "/v1/contacts/%2B447911123456", None).await;
    r.expect_error(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "DELETE");
    // Unknown, malformed and never-issued message ids look the same.
    for id in ["01JD0Z6Q9T3M8V4K2X7B5N1C0A", "nope"] {
        h.authed("GET", &format!("/v1/messages/{id}"), None)
            .await
            .expect_error(404, "not_found");
    }
}

#[tokio::test]
async fn malformed_requests_store_nothing() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let before = h.footprint(UK).await;
    let post = |body: String| {
        let h = &h;
        async move { h.authed("POST", "/v1/messages", Some(&body)).await }
    };

    post("{".into()).await.expect_error(400, "invalid_json");
    post("".into()).await.expect_error(400, "invalid_json");
    let big = format!(
        r#"{{"to":"{UK}","type":"session","text":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    post(big).await.expect_error(413, "payload_too_large");

    let field = |r: &Reply| r.body["error"]["field"].as_str().unwrap_or("").to_owned();
    let r =
        post(json!({"to": UK, "type": "session", "text": "hi", "colour": "red"}).to_string()).await;
    r.expect_error(422, "validation_failed");
    assert_eq!(field(&r), "colour");
    let r = post(json!({"to": UK, "type": "session", "text": 5}).to_string()).await;
    r.expect_error(422, "validation_failed");
    assert_eq!(field(&r), "text");
    let r = post(json!({"type": "session", "text": "hi"}).to_string()).await;
    r.expect_error(422, "validation_failed");
    assert_eq!(field(&r), "to");
    let r = post(json!({"to": UK, "type": "sms", "text": "hi"}).to_string()).await;
    r.expect_error(422, "validation_failed");
    assert_eq!(field(&r), "type");
    let r = post(
        json!({"to": UK, "type": "session", "text": "hi", "image_url": "https://example.com/a.png"})
            .to_string(),
    )
    .await;
    r.expect_error(422, "validation_failed");
    let r = post(json!({"to": UK, "type": "session", "text": "x".repeat(1001)}).to_string()).await;
    r.expect_error(422, "validation_failed");
    assert_eq!(field(&r), "text");
    let r = post(json!({"to": UK, "type": "session", "text": "hi", "ttl_seconds": 5}).to_string())
        .await;
    assert_eq!(field(&r), "ttl_seconds");

    let r = post(json!({"to": "12345", "type": "session", "text": "hi"}).to_string()).await;
    r.expect_error(422, "invalid_phone");
    assert_eq!(field(&r), "to");

    // What the API fuzzing found the document refuses and the parser took: the fields as a JSON
    // array (serde's positional struct form), null for an optional field, spaces around `to`.
    let positional = json!([
        UK, "session", "hi", null, null, null, null, null, null, null
    ]);
    post(positional.to_string())
        .await
        .expect_error(422, "validation_failed");
    for optional in ["image_url", "ttl_seconds", "tracking_data"] {
        let r =
            post(json!({"to": UK, "type": "session", "text": "hi", optional: null}).to_string())
                .await;
        r.expect_error(422, "validation_failed");
        assert_eq!(field(&r), optional);
    }
    let r =
        post(json!({"to": format!(" {UK}"), "type": "session", "text": "hi"}).to_string()).await;
    r.expect_error(422, "invalid_phone");

    let auth = format!("Bearer {}", h.key);
    let r = h
        .call(
            "POST",
            "/v1/messages",
            Some(&session_text(UK).to_string()),
            &[("authorization", &auth), ("idempotency-key", "has space")],
        )
        .await;
    r.expect_error(422, "validation_failed");
    assert_eq!(field(&r), "Idempotency-Key");

    h.assert_untouched(UK, &before).await;
}

#[tokio::test]
async fn session_rules_refuse_and_count_nothing() {
    let h = Harness::new().await;
    // Free-form transactional content is sent here: the business has opted in to it.
    h.allow_legacy_transactional().await;
    let biz = h.business.id.clone();
    let fresh = "+447911000001";
    let expired = "+447911000002";
    let full = "+447911000003";
    let blocked = "+447911000004";

    // no_session: the user never wrote.
    let before = h.footprint(fresh).await;
    h.send(&session_text(fresh), None)
        .await
        .expect_error(409, "no_session");
    // first_message_promotional.
    h.send(
        &json!({"to": fresh, "type": "promotional", "text": "Sale!"}),
        Some("promo-1"),
    )
    .await
    .expect_error(409, "first_message_promotional");
    h.assert_untouched(fresh, &before).await;

    // session_expired: started 25 h ago.
    let now = h.now();
    let stale = Conversation {
        session: Some(Session {
            started_at: now.minus(Duration::from_secs(25 * 3600)),
            messages_sent: 3,
            consecutive: 1,
        }),
        opted_out: false,
        contacted: true,
    };
    h.store()
        .conversations()
        .put_conversation(&biz, &phone(expired), &stale, now)
        .await
        .unwrap();
    let before = h.footprint(expired).await;
    assert_eq!(before.0["state"], "expired");
    h.send(&session_text(expired), None)
        .await
        .expect_error(409, "session_expired");
    h.assert_untouched(expired, &before).await;

    // session_limit_reached: 60 sent in an open session.
    let spent = Conversation {
        session: Some(Session {
            started_at: now,
            messages_sent: 60,
            consecutive: 0,
        }),
        opted_out: false,
        contacted: true,
    };
    h.store()
        .conversations()
        .put_conversation(&biz, &phone(full), &spent, now)
        .await
        .unwrap();
    let before = h.footprint(full).await;
    h.send(&session_text(full), Some("k-full"))
        .await
        .expect_error(409, "session_limit_reached");
    h.assert_untouched(full, &before).await;

    // session_locked: five in a row, the sixth waits for the user.
    h.open_session(UK).await;
    for _ in 0..5 {
        assert_eq!(h.send(&session_text(UK), None).await.status, 202);
    }
    assert_eq!(h.drain_queue().await.len(), 5);
    let before = h.footprint(UK).await;
    h.send(&session_text(UK), None)
        .await
        .expect_error(409, "session_locked");
    h.assert_untouched(UK, &before).await;

    // recipient_opted_out: blocked users get nothing, of any kind.
    h.open_session(blocked).await;
    h.store()
        .conversations()
        .change_conversation(&biz, &phone(blocked), now, |c| c.opt_out())
        .await
        .unwrap();
    let before = h.footprint(blocked).await;
    assert_eq!(before.0["opted_out"], true);
    for body in [
        session_text(blocked),
        json!({"to": blocked, "type": "transactional", "text": "Your code is 1234"}),
        json!({"to": blocked, "type": "promotional", "text": "Sale!"}),
    ] {
        h.send(&body, None)
            .await
            .expect_error(409, "recipient_opted_out");
    }
    h.assert_untouched(blocked, &before).await;
}

/// Since 2026-07-01 Viber takes transactional messages only as approved templates: free-form
/// transactional text and files are `template_required` (saying how to get a template) and
/// change nothing, unless the operator opted the business in.
#[tokio::test]
async fn transactional_without_a_template_is_refused_unless_the_business_opted_in() {
    let h = Harness::new().await;
    let file = json!({"url": "https://cdn.example/invoice.pdf", "name": "invoice.pdf"});
    let free_form = [
        json!({"to": UK, "type": "transactional", "text": "Your order shipped"}),
        json!({"to": UK, "type": "transactional", "text": "Shipped", "url": "https://shop.example/o/42"}),
        json!({"to": UK, "type": "transactional", "file": file}),
    ];
    let before = h.env.footprint().await;
    for body in &free_form {
        let reply = h.send(body, Some("legacy-1")).await;
        reply.expect_error(422, "template_required");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("vbmctl template put") && message.contains("docs/api.md"),
            "{message}"
        );
    }
    assert_eq!(
        h.env.footprint().await,
        before,
        "a refused send changed state"
    );

    // The operator's opt-in (a fresh container: the warm one remembers the business).
    let opted = h
        .store()
        .businesses()
        .set_legacy_transactional(&h.business.id, true)
        .await
        .unwrap();
    assert!(opted.legacy_transactional);
    let app = h.cold_app();
    for (i, body) in free_form.iter().enumerate() {
        let reply = send_with(&app, &h.key, body, None).await;
        assert_eq!(reply.status, 202, "{i}: {}", reply.body);
    }
    assert_eq!(h.drain_queue().await.len(), 3);
    // And off again.
    assert!(
        !h.store()
            .businesses()
            .set_legacy_transactional(&h.business.id, false)
            .await
            .unwrap()
            .legacy_transactional
    );
    send_with(&h.cold_app(), &h.key, &free_form[0], None)
        .await
        .expect_error(422, "template_required");
}

async fn put_template(h: &Harness, id: &str, lang: &str, approved: bool, text: &str) {
    let template = Template::parse(
        TemplateId::parse(id).unwrap(),
        Language::parse(lang).unwrap(),
        TemplateCategory::Transactional,
        approved,
        text,
    )
    .unwrap();
    h.store()
        .templates()
        .put_template(&h.business.id, &template)
        .await
        .unwrap();
}

fn template_send(to: &str, id: &str, params: Value) -> Value {
    json!({"to": to, "type": "template", "template": {"id": id, "params": params}})
}

#[tokio::test]
async fn template_and_regulation_refusals() {
    let h = Harness::new().await;
    // Free-form transactional content is sent here: the business has opted in to it.
    h.allow_legacy_transactional().await;
    put_template(&h, "code_ru", "ru", true, "Ваш код {{code}}").await;
    put_template(&h, "code_en", "en", true, "Your code is {{code}}").await;
    put_template(&h, "draft", "ru", false, "Черновик {{code}}").await;

    let before = h.footprint(RU).await;
    // Russia (+7 912): transactional text must be a template in Russian or Ukrainian.
    h.send(
        &json!({"to": RU, "type": "transactional", "text": "Your code is 1234"}),
        None,
    )
    .await
    .expect_error(422, "template_required");
    h.send(&template_send(RU, "code_en", json!({"code": "1234"})), None)
        .await
        .expect_error(422, "template_required");
    h.send(&template_send(RU, "missing", json!({"code": "1234"})), None)
        .await
        .expect_error(422, "template_not_found");
    h.send(&template_send(RU, "draft", json!({"code": "1234"})), None)
        .await
        .expect_error(422, "template_not_approved");
    for params in [
        json!({}),
        json!({"code": "1234", "extra": "x"}),
        json!({"code": "https://evil.example"}),
        json!({"code": "x".repeat(126)}),
        // empty, invisible only, more than one line.
        json!({"code": ""}),
        json!({"code": "\u{200B}\u{2060}"}),
        json!({"code": "12\n34"}),
    ] {
        h.send(&template_send(RU, "code_ru", params), None)
            .await
            .expect_error(422, "template_params_invalid");
    }
    h.assert_untouched(RU, &before).await;

    // What is allowed goes: the Russian template to Russia, plain text to Kazakhstan (+7 701).
    let ok = h
        .send(&template_send(RU, "code_ru", json!({"code": "1234"})), None)
        .await;
    assert_eq!(ok.status, 202, "{}", ok.body);
    assert_eq!(ok.body["session"]["state"], "none");
    let kz = h
        .send(
            &json!({"to": KZ, "type": "transactional", "text": "Your code is 1234"}),
            None,
        )
        .await;
    assert_eq!(kz.status, 202, "{}", kz.body);
    assert_eq!(h.drain_queue().await.len(), 2);
}

/// Templates come from the container's cache once approved (a warm template send reads none),
/// but a missing or unapproved one is never remembered: approving it works at once.
#[tokio::test]
async fn approved_templates_are_cached_and_refusals_are_not() {
    let h = Harness::new().await;
    put_template(&h, "draft", "en", false, "Your code is {{code}}").await;
    let draft = template_send(UK, "draft", json!({"code": "1234"}));
    let send = || h.send(&draft, None);
    send().await.expect_error(422, "template_not_approved");
    h.send(&template_send(UK, "later", json!({"code": "1"})), None)
        .await
        .expect_error(422, "template_not_found");

    put_template(&h, "draft", "en", true, "Your code is {{code}}").await;
    put_template(&h, "later", "en", true, "Your code is {{code}}").await;
    assert_eq!(send().await.status, 202);
    let later = h
        .send(&template_send(UK, "later", json!({"code": "1"})), None)
        .await;
    assert_eq!(later.status, 202, "{}", later.body);

    let [_, reads_before, ..] = h.calls.snapshot();
    assert_eq!(send().await.status, 202);
    let [_, reads_after, ..] = h.calls.snapshot();
    assert_eq!(
        reads_after - reads_before,
        0,
        "a warm template send read an item"
    );
}

#[tokio::test]
async fn a_queue_outage_does_not_touch_a_send_and_the_stream_delivers_it_once_the_queue_is_back() {
    // A send is one DynamoDB transaction: with the outbound queue gone, it is still accepted
    // once, counted once, and a retry with its key is a replay. The stream keeps the message
    // until `relay` can queue it: a relay whose queue refuses does not take the message's record,
    // and the stream hands the same record over again when the queue works.
    let h = Harness::new().await;
    h.open_session(UK).await;
    let first = h.send(&session_text(UK), Some("retry-me")).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.body["session"]["messages_sent"], 1);
    let again = h.send(&session_text(UK), Some("retry-me")).await;
    assert_eq!(
        (again.status, again.message_id()),
        (202, first.message_id())
    );

    let broken = relay::App::new(vbm_queue::OutboundQueue::new(
        h.sqs.clone(),
        format!("{}/123456789012/no-such-queue.fifo", h.env.endpoint),
    ));
    h.stream.lock().await.drain(&broken).await.unwrap();
    assert_eq!(
        drain(&h.sqs, &h.env.outbound_queue_url).await,
        Vec::<String>::new()
    );

    assert_eq!(h.session(UK).await["messages_sent"], 1);
    assert_eq!(h.count_items("MSG#").await, 1);
    assert_eq!(h.drain_queue().await, vec![first.message_id()]);
}
