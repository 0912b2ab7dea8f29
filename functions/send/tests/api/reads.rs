//! The reads around a send, erasure, tenant isolation, and the adjustable clock.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use session_rules::{Language, Template, TemplateCategory, TemplateId};
use vbm_platform::clock::OffsetClock;
use vbm_store::{BusinessId, NewBusiness};

use crate::common::*;

#[tokio::test]
async fn a_sent_message_can_be_read_back() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let sent = h.send(&session_text(UK), None).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.body["status"], "accepted");
    let session = &sent.body["session"];
    assert_eq!(
        (
            &session["state"],
            &session["messages_sent"],
            &session["messages_left"],
            &session["consecutive"],
            &session["consecutive_left"],
            &session["can_send_session"],
        ),
        (
            &json!("active"),
            &json!(1),
            &json!(59),
            &json!(1),
            &json!(4),
            &json!(true)
        )
    );
    assert_rfc3339_millis(&session["started_at"]);
    assert_rfc3339_millis(&session["expires_at"]);

    let id = sent.message_id();
    let r = h.authed("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message_id"], id.as_str());
    assert_eq!(r.body["to"], UK);
    assert_eq!(r.body["type"], "session");
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(r.body["viber_message_token"], json!(null));
    assert_eq!(r.body["failure"], json!(null));
    let history = r.body["status_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["status"], "accepted");
    assert_rfc3339_millis(&history[0]["at"]);
    assert_eq!(history[0]["at"], r.body["created_at"]);
}

/// Every message is accepted with its billing category, in the answer, the stored item and
/// `GET /v1/messages/{id}`: a transactional template, an OTP template, promotional content,
/// and session messages, of which only the session's first business reply is billable
/// (an image included: session text, images and files are billed at the session rate).
#[tokio::test]
async fn every_message_is_accepted_with_its_billing_category() {
    let h = Harness::new().await;
    for (id, text) in [
        ("order_ready", "Order {{order}} is ready"),
        ("login_code", "Your code is {{pin}}"),
    ] {
        let template = Template::parse(
            TemplateId::parse(id).unwrap(),
            Language::parse("en").unwrap(),
            TemplateCategory::Transactional,
            true,
            text,
        )
        .unwrap();
        h.store()
            .templates()
            .put_template(&h.business.id, &template)
            .await
            .unwrap();
    }
    let other = "+447911123499";
    h.open_session(UK).await;
    let cases = [
        (
            json!({"to": other, "type": "template", "template": {"id": "order_ready", "params": {"order": "42"}}}),
            "transactional_template",
            true,
        ),
        (
            json!({"to": other, "type": "template", "template": {"id": "login_code", "params": {"pin": "4711"}}}),
            "otp",
            true,
        ),
        (
            json!({"to": other, "type": "promotional", "text": "Spring sale"}),
            "promotional",
            true,
        ),
        (session_text(UK), "session", true),
        (session_text(UK), "session", false),
        (
            json!({"to": UK, "type": "session", "image_url": "https://cdn.example/p.png"}),
            "session",
            false,
        ),
        // A template inside the open session is billed as a template.
        (
            json!({"to": UK, "type": "template", "template": {"id": "login_code", "params": {"pin": "1"}}}),
            "otp",
            true,
        ),
    ];
    for (i, (body, category, billable)) in cases.iter().enumerate() {
        let sent = h.send(body, None).await;
        assert_eq!(sent.status, 202, "{i}: {}", sent.body);
        let expected = json!({"category": category, "billable": billable});
        assert_eq!(sent.body["billing"], expected, "{i}: the answer");
        let id = sent.message_id();
        let read = h.authed("GET", &format!("/v1/messages/{id}"), None).await;
        assert_eq!(read.status, 200, "{}", read.body);
        assert_eq!(read.body["billing"], expected, "{i}: the message view");
        let item = h
            .dynamodb
            .get_item()
            .table_name(&h.env.table)
            .key("pk", AttributeValue::S(format!("BIZ#{}", h.business.id)))
            .key("sk", AttributeValue::S(format!("MSG#{id}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert_eq!(
            item.get("billing_category"),
            Some(&AttributeValue::S((*category).into())),
            "{i}: the stored item"
        );
        assert_eq!(item.get("billable"), Some(&AttributeValue::Bool(*billable)));
    }
    // A retry with the same key answers with the billing of the first time.
    let keyed = json!({"to": UK, "type": "session", "text": "once"});
    let first = h.send(&keyed, Some("bill-1")).await;
    let again = h.send(&keyed, Some("bill-1")).await;
    assert_eq!(
        first.body["billing"],
        json!({"category": "session", "billable": false})
    );
    assert_eq!(again.body["billing"], first.body["billing"]);
}

#[tokio::test]
async fn sessions_by_phone_with_plus_or_percent_2b() {
    let h = Harness::new().await;
    let none = h.session(UK).await;
    assert_eq!(
        none,
        json!({
            "state": "none", "started_at": null, "expires_at": null, "messages_sent": 0,
            "messages_left": 0, "consecutive": 0, "consecutive_left": 0,
            "can_send_session": false, "opted_out": false
        })
    );
    h.open_session(UK).await;
    for path in ["/v1/sessions/%2B447911123456", "/v1/sessions/+447911123456"] {
        let r = h.authed("GET", path, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["state"], "active");
        assert_eq!(r.body["messages_left"], 60);
        assert_eq!(r.body["consecutive_left"], 5);
        assert_eq!(r.body["can_send_session"], true);
    }
    for bad in ["447911123456", "%2B1234", "%ZZ", "hello"] {
        let r = h.authed("GET", &format!("/v1/sessions/{bad}"), None).await;
        r.expect_error(422, "invalid_phone");
        assert_eq!(r.body["error"]["field"], "phone");
    }
}

#[tokio::test]
async fn templates_are_listed_with_their_parameters() {
    let h = Harness::new().await;
    let empty = h.authed("GET", "/v1/templates", None).await;
    assert_eq!(
        (empty.status, &empty.body),
        (200, &json!({"templates": []}))
    );
    for (id, lang, category, approved, text) in [
        (
            "order_ready",
            "uk",
            TemplateCategory::Transactional,
            true,
            "Замовлення {{order}} готове, {{name}}",
        ),
        (
            "spring_sale",
            "en",
            TemplateCategory::Promotional,
            false,
            "Sale until {{date}}",
        ),
    ] {
        let t = Template::parse(
            TemplateId::parse(id).unwrap(),
            Language::parse(lang).unwrap(),
            category,
            approved,
            text,
        )
        .unwrap();
        // A legacy promotional template (stored before they were refused) reaches all devices.
        let t = if id == "order_ready" {
            t.with_reach(session_rules::TemplateReach::Smartphones)
        } else {
            t
        };
        h.store()
            .templates()
            .put_template(&h.business.id, &t)
            .await
            .unwrap();
    }
    let r = h.authed("GET", "/v1/templates", None).await;
    assert_eq!(
        r.body,
        json!({"templates": [
            // Registered by an operator: no name or creation time; approved ones go under
            // their own id, which is Viber's.
            {"id": "order_ready", "name": null, "lang": "uk", "category": "transactional",
             "reach": "smartphones", "state": "approved", "status": "approved",
             "text": "Замовлення {{order}} готове, {{name}}", "params": ["order", "name"],
             "origin": "operator", "viber_template_id": "order_ready",
             "rejection_reason": null, "created_at": null},
            {"id": "spring_sale", "name": null, "lang": "en", "category": "promotional",
             "reach": "all_devices", "state": "pending_review", "status": "pending",
             "text": "Sale until {{date}}", "params": ["date"],
             "origin": "operator", "viber_template_id": null,
             "rejection_reason": null, "created_at": null}
        ]})
    );
}

#[tokio::test]
async fn erasing_a_contact_forgets_messages_and_session() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let sent = h.send(&session_text(UK), Some("erase-me")).await;
    assert_eq!(sent.status, 202);
    let other = "+447911000009";
    h.open_session(other).await;

    let r = h
        .authed("DELETE", "/v1/contacts/%2B447911123456", None)
        .await;
    assert_eq!((r.status, &r.body), (204, &json!(null)));
    h.authed("GET", &format!("/v1/messages/{}", sent.message_id()), None)
        .await
        .expect_error(404, "not_found");
    assert_eq!(h.session(UK).await["state"], "none");
    assert_eq!(h.count_items("IDEM#").await, 0);
    // Other users are untouched; erasing again is fine.
    assert_eq!(h.session(other).await["state"], "active");
    let again = h.authed("DELETE", "/v1/contacts/+447911123456", None).await;
    assert_eq!(again.status, 204);
    h.authed("DELETE", "/v1/contacts/12", None)
        .await
        .expect_error(422, "invalid_phone");
}

#[tokio::test]
async fn businesses_see_only_their_own() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let sent = h.send(&session_text(UK), None).await;
    assert_eq!(sent.status, 202);
    let (_, key_b) = h
        .store()
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("other-shop").unwrap(),
            service_id: 3003,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let auth_b = format!("Bearer {}", key_b.expose());
    let as_b = |method: &'static str, path: String| {
        let auth = auth_b.clone();
        let h = &h;
        async move {
            h.call(method, &path, None, &[("authorization", &auth)])
                .await
        }
    };
    as_b("GET", format!("/v1/messages/{}", sent.message_id()))
        .await
        .expect_error(404, "not_found");
    let session = as_b("GET", "/v1/sessions/%2B447911123456".into()).await;
    assert_eq!(session.body["state"], "none");
    // B's erasure of the same phone leaves A's data alone.
    assert_eq!(
        as_b("DELETE", "/v1/contacts/%2B447911123456".into())
            .await
            .status,
        204
    );
    assert_eq!(h.session(UK).await["messages_sent"], 1);
    // B cannot send session messages on A's session.
    send_with(&h.app, key_b.expose(), &session_text(UK), None)
        .await
        .expect_error(409, "no_session");
}

#[tokio::test]
async fn moving_the_clock_a_day_forward_expires_the_session() {
    let clock = Arc::new(OffsetClock::new());
    let h = Harness::with_clock(clock.clone()).await;
    h.open_session(UK).await;
    assert_eq!(h.send(&session_text(UK), None).await.status, 202);
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(h.session(UK).await["state"], "expired");
    h.send(&session_text(UK), None)
        .await
        .expect_error(409, "session_expired");
    // The user writes again: a new session, counters at zero.
    h.open_session(UK).await;
    let r = h.send(&session_text(UK), None).await;
    assert_eq!(r.body["session"]["messages_sent"], 1, "{}", r.body);
}

/// Every item of the table, as text: to look for a phone number anywhere.
async fn table_text(h: &Harness) -> Vec<String> {
    let out = h
        .dynamodb
        .scan()
        .table_name(&h.env.table)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items().iter().map(|item| format!("{item:?}")).collect()
}

/// an opt-out survives erasure, as a keyed hash and nothing else; the user writing
/// again ends it, as a user message always does.
#[tokio::test]
async fn an_opt_out_survives_erasure() {
    let h = Harness::new().await;
    // Free-form transactional content is sent here: the business has opted in to it.
    h.allow_legacy_transactional().await;
    let transactional = json!({"to": UK, "type": "transactional", "text": "Your code is 1234"});
    assert_eq!(h.send(&transactional, None).await.status, 202);
    h.store()
        .conversations()
        .set_opted_out(&h.business.id, &phone(UK), true, h.now())
        .await
        .unwrap();
    h.send(&transactional, None)
        .await
        .expect_error(409, "recipient_opted_out");

    let r = h
        .authed("DELETE", "/v1/contacts/%2B447911123456", None)
        .await;
    assert_eq!(r.status, 204);
    h.send(&transactional, None)
        .await
        .expect_error(409, "recipient_opted_out");
    h.send(&transactional, Some("after-erasure"))
        .await
        .expect_error(409, "recipient_opted_out");
    // What is kept says nothing about the number but that it opted out.
    let digits = UK.trim_start_matches('+');
    let items = table_text(&h).await;
    assert!(
        items.iter().all(|item| !item.contains(digits)),
        "{items:#?}"
    );
    assert_eq!(h.count_items("SUPPRESS#").await, 1);
    assert_eq!(h.count_items("MSG#").await, 0);

    // The user writes again: a new conversation, the opt-out ends.
    h.open_session(UK).await;
    assert_eq!(h.send(&transactional, None).await.status, 202);
    // Erased while not opted out: the suppression record goes too.
    let r = h
        .authed("DELETE", "/v1/contacts/%2B447911123456", None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(h.count_items("SUPPRESS#").await, 0);
    assert_eq!(h.send(&transactional, None).await.status, 202);
}

/// a message the contact index does not list yet (DynamoDB's index is eventually
/// consistent; here the index attributes are removed, as if not propagated) is erased too,
/// with its idempotency record and Viber token item.
#[tokio::test]
async fn erasure_does_not_depend_on_the_index() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let sent = h.send(&session_text(UK), Some("lagging")).await;
    assert_eq!(sent.status, 202);
    let id = vbm_store::MessageId::parse(&sent.message_id()).unwrap();
    // dispatch has handed it to Viber: the message names its token, the token item exists.
    let message = h
        .store()
        .messages()
        .get_message(&h.business.id, &id, h.now())
        .await
        .unwrap()
        .unwrap();
    let sent_to_viber = vbm_store::Sent {
        token: Some("5550001"),
        session_id: None,
        at: h.now(),
    };
    h.store()
        .messages()
        .mark_sent(&message, &phone(UK), sent_to_viber)
        .await
        .unwrap();
    let business = format!("BIZ#{}", h.business.id);
    let items = [
        (business.clone(), format!("MSG#{id}")),
        (business, "IDEM#lagging".to_owned()),
        ("TOKEN#5550001".to_owned(), "TOKEN".to_owned()),
    ];
    for (pk, sk) in &items {
        h.dynamodb
            .update_item()
            .table_name(&h.env.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .condition_expression("attribute_exists(pk)")
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .send()
            .await
            .unwrap();
    }
    let r = h
        .authed("DELETE", "/v1/contacts/%2B447911123456", None)
        .await;
    assert_eq!(r.status, 204);
    for (pk, sk) in &items {
        let left = h
            .dynamodb
            .get_item()
            .table_name(&h.env.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert!(left.item.is_none(), "{sk} survived: {:?}", left.item);
    }
}

/// With real concurrency: session sends race the erasure of their conversation.
/// Whatever each send was answered, once the erasure has answered and the sends are done no
/// message and no state of the erased conversation remains (a session message needs the
/// erased session: nothing can be sent without a new start).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_racing_an_erasure_leave_nothing_behind() {
    let h = Harness::new().await;
    let digits = UK.trim_start_matches('+');
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..6u64 {
        h.open_session(UK).await;
        // One certainly before the erasure, then the race.
        assert_eq!(h.send(&session_text(UK), None).await.status, 202);
        let mut sends = Vec::new();
        for i in 0..4u64 {
            let (app, key) = (h.app.clone(), h.key.clone());
            let body = json!({"to": UK, "type": "session", "text": format!("round {round} #{i}")});
            sends.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(3 * ((i + round) % 4))).await;
                send_with(&app, &key, &body, None).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(2 * (round % 3))).await;
        let erased = h
            .authed("DELETE", "/v1/contacts/%2B447911123456", None)
            .await;
        assert_eq!(erased.status, 204, "{}", erased.body);
        for send in sends {
            let r = send.await.unwrap();
            assert!(
                [202, 409, 503].contains(&r.status),
                "{}: {}",
                r.status,
                r.body
            );
            *answered.entry(r.status).or_default() += 1;
        }
        let items = table_text(&h).await;
        assert!(
            items.iter().all(|item| !item.contains(digits)),
            "round {round}: {items:#?}"
        );
        assert_eq!(h.session(UK).await["state"], "none");
    }
    // What the racing sends were answered (accepted before the tombstone, refused after it).
    eprintln!("racing sends answered: {answered:?}");
}
