//! Templates a business creates through the API: the content rules (each refusal its own code,
//! nothing stored), the life of one template from `pending_review` to a send and its deletion,
//! another business's template as unknown as a made-up id, Viber's predefined OTP
//! templates sent without registration, and a retried creation under an `Idempotency-Key`
//! answering the one template.

use std::collections::HashMap;

use lambda_http::RequestExt;
use serde_json::{Value, json};
use session_rules::{Moderated, Moderation, TemplateId};
use vbm_store::{BusinessId, NewBusiness};

use crate::common::{CALLER_IP, Harness, Reply, call, request};

const TO: &str = "+447911123456";
const BASIC_OTP: &str = "0aac888f-2ee2-4112-9659-1755a951966a";

async fn create(h: &Harness, body: &Value) -> Reply {
    h.authed("POST", "/v1/templates", Some(&body.to_string()))
        .await
}

async fn create_keyed(h: &Harness, body: &str, key: &str) -> Reply {
    let auth = format!("Bearer {}", h.key);
    h.call(
        "POST",
        "/v1/templates",
        Some(body),
        &[("authorization", &auth), ("idempotency-key", key)],
    )
    .await
}

fn order_shipped() -> Value {
    json!({"name": "Order shipped", "lang": "en", "category": "transactional",
           "text": "Hi {{name}}, order {{order_id}} is on its way."})
}

async fn list(h: &Harness, state: Option<&str>) -> Reply {
    let auth = format!("Bearer {}", h.key);
    let query: HashMap<String, String> = state
        .map(|s| [("state".to_owned(), s.to_owned())].into())
        .unwrap_or_default();
    let request = request(
        "GET",
        "/v1/templates",
        None,
        &[("authorization", &auth)],
        CALLER_IP,
    )
    .with_query_string_parameters(query);
    call(&h.app, request).await
}

fn ids(list: &Reply) -> Vec<String> {
    list.body["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Viber's answer, stored as `vbmctl template approve` stores it (the event is the CLI's and
/// the end-to-end tests' concern).
async fn approve(h: &Harness, id: &str, viber_id: &str) {
    let id = TemplateId::parse(id).unwrap();
    let current = h
        .store()
        .templates()
        .get_template_consistent(&h.business.id, &id)
        .await
        .unwrap()
        .unwrap();
    let Ok(Moderated::Changed(approved)) = current.moderate(&Moderation::Approve {
        viber_id: Some(TemplateId::parse(viber_id).unwrap()),
    }) else {
        panic!("approves")
    };
    assert!(
        h.store()
            .templates()
            .set_template_state(&h.business.id, &current, &approved, h.now())
            .await
            .unwrap()
    );
}

fn send_with(id: &str) -> Value {
    json!({"to": TO, "type": "template",
           "template": {"id": id, "params": {"name": "Ann", "order_id": "42"}}})
}

#[tokio::test]
async fn a_template_from_submission_to_a_send_and_its_deletion() {
    let h = Harness::new().await;
    let created = create(&h, &order_shipped()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let t = &created.body;
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26, "a ULID");
    assert_eq!(t["state"], "pending_review");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["name"], "Order shipped");
    assert_eq!(t["origin"], "api");
    assert_eq!(t["params"], json!(["name", "order_id"]));
    assert_eq!(t["viber_template_id"], Value::Null);
    let read = h.authed("GET", &format!("/v1/templates/{id}"), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(&read.body, t);

    // Pending: refused with its own code, saying why.
    let refused = h.send(&send_with(&id), None).await;
    refused.expect_error(422, "template_not_approved");
    assert_eq!(refused.body["error"]["template_state"], "pending_review");
    assert_eq!(ids(&list(&h, Some("pending_review")).await), [id.as_str()]);
    assert!(ids(&list(&h, Some("approved")).await).is_empty());

    approve(&h, &id, "9d2f6a3c-1b2e-4c5d-8e9f-0a1b2c3d4e5f").await;
    let read = h.authed("GET", &format!("/v1/templates/{id}"), None).await;
    assert_eq!(read.body["state"], "approved");
    assert_eq!(
        read.body["viber_template_id"],
        "9d2f6a3c-1b2e-4c5d-8e9f-0a1b2c3d4e5f"
    );
    let sent = h.send(&send_with(&id), None).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(
        sent.body["billing"],
        json!({"category": "transactional_template", "billable": true})
    );
    // A language other than the template's is refused; its own is fine.
    let mut wrong_lang = send_with(&id);
    wrong_lang["template"]["lang"] = json!("de");
    let refused = h.send(&wrong_lang, None).await;
    refused.expect_error(422, "validation_failed");
    assert_eq!(refused.body["error"]["field"], "template.lang");

    let deleted = h
        .authed("DELETE", &format!("/v1/templates/{id}"), None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["state"], "deleted");
    let again = h
        .authed("DELETE", &format!("/v1/templates/{id}"), None)
        .await;
    assert_eq!((again.status, &again.body), (200, &deleted.body));
    let refused = h.send(&send_with(&id), None).await;
    refused.expect_error(422, "template_not_approved");
    assert_eq!(refused.body["error"]["template_state"], "deleted");
    assert!(
        ids(&list(&h, None).await).is_empty(),
        "deleted ones only on request"
    );
    assert_eq!(ids(&list(&h, Some("deleted")).await), [id.as_str()]);
    list(&h, Some("gone"))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        h.store()
            .templates()
            .template_count(&h.business.id)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_retried_creation_answers_the_same_template_counted_once() {
    let h = Harness::new().await;
    let first = create_keyed(&h, &order_shipped().to_string(), "tpl-1").await;
    assert_eq!(first.status, 201, "{}", first.body);
    // The same body, its fields in another order and spaced: the same request.
    let reordered = r#"{ "text": "Hi {{name}}, order {{order_id}} is on its way.",
        "category": "transactional", "lang": "en", "name": "Order shipped" }"#;
    let retry = create_keyed(&h, reordered, "tpl-1").await;
    assert_eq!((retry.status, &retry.body), (201, &first.body));
    assert_eq!(
        h.store()
            .templates()
            .template_count(&h.business.id)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ids(&list(&h, None).await),
        [first.body["id"].as_str().unwrap()]
    );

    // The same key with another body changes nothing.
    let mut other = order_shipped();
    other["text"] = json!("Hi {{name}}, order {{order_id}} was delivered.");
    let reused = create_keyed(&h, &other.to_string(), "tpl-1").await;
    reused.expect_error(422, "idempotency_key_reused");
    assert_eq!(
        reused.body["error"]["message"],
        "this Idempotency-Key was already used with a different request body"
    );
    assert_eq!(
        h.store()
            .templates()
            .template_count(&h.business.id)
            .await
            .unwrap(),
        1
    );

    // Without a key, each creation is its own template.
    assert_eq!(create(&h, &order_shipped()).await.status, 201);
    assert_eq!(
        h.store()
            .templates()
            .template_count(&h.business.id)
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn each_content_rule_is_its_own_refusal_and_stores_nothing() {
    let h = Harness::new().await;
    let with = |field: &str, value: Value| {
        let mut body = order_shipped();
        body[field] = value;
        body
    };
    for (body, code) in [
        (
            with("text", json!("Hi {{name")),
            "template_placeholder_invalid",
        ),
        (
            with("text", json!("Hi {{first-name}}")),
            "template_placeholder_invalid",
        ),
        (
            with("text", json!("{{name}} {{order_id}}")),
            "template_placeholders_only",
        ),
        (with("category", json!("otp")), "template_pin_required"),
        (
            with("text", json!("Your code is {{pin}}")),
            "template_pin_reserved",
        ),
        (
            with("text", json!("a".repeat(1001))),
            "template_text_too_long",
        ),
        (with("category", json!("promotional")), "validation_failed"),
        (with("lang", json!("english")), "validation_failed"),
        (with("reach", json!("tablets")), "validation_failed"),
        (with("name", json!("")), "validation_failed"),
        (with("approved", json!(true)), "validation_failed"),
    ] {
        let refused = create(&h, &body).await;
        refused.expect_error(422, code);
    }
    create(&h, &json!([1]))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(h.count_items("TEMPLATE#").await, 0);
    assert_eq!(
        h.store()
            .templates()
            .template_count(&h.business.id)
            .await
            .unwrap(),
        0
    );
    let otp = create(
        &h,
        &json!({"name": "Login", "lang": "uk", "category": "otp", "reach": "smartphones",
                "text": "Ваш код {{pin}}"}),
    )
    .await;
    assert_eq!(otp.status, 201, "{}", otp.body);
    assert_eq!(otp.body["reach"], "smartphones");
    assert_eq!(otp.body["category"], "otp");
}

#[tokio::test]
async fn another_business_s_template_is_not_found() {
    let h = Harness::new().await;
    let created = create(&h, &order_shipped()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (_, other_key) = h
        .store()
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("globex").unwrap(),
            service_id: 2002,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let auth = format!("Bearer {}", other_key.expose());
    for method in ["GET", "DELETE"] {
        let r = call(
            &h.app,
            request(
                method,
                &format!("/v1/templates/{id}"),
                None,
                &[("authorization", &auth)],
                CALLER_IP,
            ),
        )
        .await;
        r.expect_error(404, "not_found");
    }
    // Approved for its own business, still unknown to another.
    approve(&h, &id, "9d2f6a3c-1b2e-4c5d-8e9f-0a1b2c3d4e5f").await;
    crate::common::send_with(&h.app, other_key.expose(), &send_with(&id), None)
        .await
        .expect_error(422, "template_not_found");
    for unknown in ["01JD0Z6Q9T3M8V4K2X7B5N1C0A", "not%20an%20id"] {
        h.authed("GET", &format!("/v1/templates/{unknown}"), None)
            .await
            .expect_error(404, "not_found");
    }
    // Still there, untouched, for its own business.
    let read = h.authed("GET", &format!("/v1/templates/{id}"), None).await;
    assert_eq!(read.body["state"], "approved");
}

#[tokio::test]
async fn viber_s_predefined_otp_templates_go_without_registration() {
    let h = Harness::new().await;
    let otp = |params: Value, lang: Option<&str>| {
        let mut body = json!({"to": TO, "type": "template",
                              "template": {"id": BASIC_OTP, "params": params}});
        if let Some(lang) = lang {
            body["template"]["lang"] = json!(lang);
        }
        body
    };
    let sent = h.send(&otp(json!({"pin": "4711"}), None), None).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(
        sent.body["billing"],
        json!({"category": "otp", "billable": true})
    );
    let sent = h.send(&otp(json!({"pin": "4711"}), Some("br")), None).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let before = h.count_items("MSG#").await;
    let refused = h.send(&otp(json!({}), None), None).await;
    refused.expect_error(422, "template_params_invalid");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pin")
    );
    h.send(&otp(json!({"pin": "1", "name": "Ann"}), None), None)
        .await
        .expect_error(422, "template_params_invalid");
    let refused = h.send(&otp(json!({"pin": "1"}), Some("ja")), None).await;
    refused.expect_error(422, "validation_failed");
    assert_eq!(refused.body["error"]["field"], "template.lang");
    // One with more parameters needs each of them.
    let platform = json!({"to": TO, "type": "template", "template": {
        "id": "c33cccaf-735f-4d62-8383-a76bf4999e2d", "params": {"pin": "1"}}});
    let refused = h.send(&platform, None).await;
    refused.expect_error(422, "template_params_invalid");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("businessPlatformName")
    );
    assert_eq!(
        h.count_items("MSG#").await,
        before,
        "refusals store nothing"
    );
}
