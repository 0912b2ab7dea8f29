//! A business's Viber services at the API: each message is recorded with the service id of
//! its kind, and a send none of the business's services can carry is refused before anything
//! is stored (`422 no_service_for_message`, naming the kinds that would carry it).

use serde_json::{Value, json};
use session_rules::{Language, Service, ServiceKind, Template, TemplateCategory, TemplateId};
use vbm_store::MessageId;

use crate::common::*;

const UK: &str = "+447911123456";

/// The harness's business with exactly these services (its own 1001, two-way, removed). Before
/// the first API call: the app caches the business.
async fn with_services(h: &Harness, services: &[(u64, ServiceKind)]) {
    for (id, kind) in services {
        h.store()
            .add_service(
                &h.business.id,
                Service {
                    id: *id,
                    kind: *kind,
                },
            )
            .await
            .unwrap();
    }
    h.store()
        .remove_service(&h.business.id, 1001)
        .await
        .unwrap();
    let template = Template::parse(
        TemplateId::parse("welcome").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Welcome, {{name}}",
    )
    .unwrap();
    h.store()
        .put_template(&h.business.id, &template)
        .await
        .unwrap();
}

fn template_send() -> Value {
    json!({"to": UK, "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}})
}

async fn service_of(h: &Harness, reply: &Reply) -> Option<u64> {
    let id = MessageId::parse(&reply.message_id()).unwrap();
    h.store()
        .get_message(&h.business.id, &id, h.now())
        .await
        .unwrap()
        .unwrap()
        .service_id
}

#[tokio::test]
async fn each_message_goes_on_the_service_of_its_kind() {
    let h = Harness::new().await;
    with_services(
        &h,
        &[(3001, ServiceKind::OneWay), (3002, ServiceKind::Session)],
    )
    .await;
    let template = h.send(&template_send(), None).await;
    assert_eq!(template.status, 202, "{}", template.body);
    assert_eq!(service_of(&h, &template).await, Some(3001));
    h.open_session(UK).await;
    let session = h.send(&session_text(UK), None).await;
    assert_eq!(session.status, 202, "{}", session.body);
    assert_eq!(service_of(&h, &session).await, Some(3002));
}

#[tokio::test]
async fn a_session_send_without_a_session_service_is_refused_and_stores_nothing() {
    let h = Harness::new().await;
    with_services(&h, &[(3001, ServiceKind::OneWay)]).await;
    h.open_session(UK).await;
    let before = h.footprint(UK).await;
    let refused = h.send(&session_text(UK), Some("k-1")).await;
    refused.expect_error(422, "no_service_for_message");
    assert_eq!(
        refused.body["error"]["missing"],
        json!(["session", "two_way"])
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("session or two_way"), "{message}");
    h.assert_untouched(UK, &before).await;
    // What the one-way service carries still goes.
    let template = h.send(&template_send(), None).await;
    assert_eq!(template.status, 202, "{}", template.body);
}

#[tokio::test]
async fn a_template_without_a_one_way_or_two_way_service_is_refused() {
    let h = Harness::new().await;
    with_services(&h, &[(3002, ServiceKind::Session)]).await;
    let before = h.footprint(UK).await;
    let refused = h.send(&template_send(), None).await;
    refused.expect_error(422, "no_service_for_message");
    assert_eq!(
        refused.body["error"]["missing"],
        json!(["two_way", "one_way"])
    );
    h.assert_untouched(UK, &before).await;
    let promotional = json!({"to": UK, "type": "promotional", "text": "Sale"});
    h.send(&promotional, None)
        .await
        .expect_error(422, "no_service_for_message");
}

/// A business with its single, default-kind service id (two-way) sends everything on it, as
/// before services had kinds: the harness's own business, unchanged.
#[tokio::test]
async fn a_single_two_way_service_carries_templates_and_sessions() {
    let h = Harness::new().await;
    let template = h.send(&template_send_unknown_is_fine(), None).await;
    // No template registered: refused for that, not for the service.
    template.expect_error(422, "template_not_found");
    h.open_session(UK).await;
    let session = h.send(&session_text(UK), None).await;
    assert_eq!(session.status, 202, "{}", session.body);
    assert_eq!(service_of(&h, &session).await, Some(1001));
}

fn template_send_unknown_is_fine() -> Value {
    json!({"to": UK, "type": "template", "template": {"id": "nope", "params": {}}})
}
