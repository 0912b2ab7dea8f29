//! A business's Viber services at the API: each message is recorded with the service id of
//! its kind, and a send none of the business's services can carry is refused before anything
//! is stored (`422 no_service_for_message`, naming the kinds that would carry it).

use serde_json::{Value, json};
use session_rules::{Language, Service, ServiceKind, Template, TemplateCategory, TemplateId};
use vbm_platform::clock::OffsetClock;
use vbm_store::MessageId;

use crate::common::*;

const UK: &str = "+447911123456";

/// The harness's business with exactly these services (its own 1001, two-way, removed). Before
/// the first API call: the app caches the business.
async fn with_services(h: &Harness, services: &[(u64, ServiceKind)]) {
    add_services(h, services).await;
    h.store()
        .businesses()
        .remove_service(&h.business.id, 1001)
        .await
        .unwrap();
}

/// The harness's business with these services beside its own 1001 (two-way), and the
/// `welcome` template. Before the first API call.
async fn add_services(h: &Harness, services: &[(u64, ServiceKind)]) {
    for (id, kind) in services {
        h.store()
            .businesses()
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
    let template = Template::parse(
        TemplateId::parse("welcome").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Welcome, {{name}}",
    )
    .unwrap();
    h.store()
        .templates()
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
        .messages()
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

fn named(mut body: Value, service: &str) -> Value {
    body["service"] = json!(service);
    body
}

/// A send that names its service kind goes on that service, even where the default would
/// choose another, and the message view shows the id it went on.
#[tokio::test]
async fn a_send_that_names_its_service_kind_goes_on_it() {
    let h = Harness::new().await;
    add_services(
        &h,
        &[(3001, ServiceKind::OneWay), (3002, ServiceKind::Session)],
    )
    .await;
    // The default for a template is two-way; named, one-way.
    let default = h.send(&template_send(), None).await;
    assert_eq!(default.status, 202, "{}", default.body);
    assert_eq!(service_of(&h, &default).await, Some(1001));
    let one_way = h.send(&named(template_send(), "one_way"), None).await;
    assert_eq!(one_way.status, 202, "{}", one_way.body);
    assert_eq!(service_of(&h, &one_way).await, Some(3001));
    let view = h
        .authed(
            "GET",
            &format!("/v1/messages/{}", one_way.message_id()),
            None,
        )
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["service_id"], json!(3001));
    // A session message named onto the two-way service (replies there open sessions here).
    h.open_session(UK).await;
    let session = h.send(&named(session_text(UK), "two_way"), None).await;
    assert_eq!(session.status, 202, "{}", session.body);
    assert_eq!(service_of(&h, &session).await, Some(1001));
}

/// Naming a kind the business lacks, or one that cannot carry the message, is refused before
/// anything is stored; the error names what is missing.
#[tokio::test]
async fn a_named_kind_the_business_lacks_or_that_cannot_carry_the_message_is_refused() {
    let h = Harness::new().await;
    with_services(
        &h,
        &[(3001, ServiceKind::OneWay), (3002, ServiceKind::Session)],
    )
    .await;
    h.open_session(UK).await;
    let before = h.footprint(UK).await;
    let lacking = h
        .send(&named(template_send(), "two_way"), Some("k-lacking"))
        .await;
    lacking.expect_error(422, "no_service_for_message");
    assert_eq!(lacking.body["error"]["missing"], json!(["two_way"]));
    let message = lacking.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no two_way service"), "{message}");

    let session_on_one_way = h
        .send(&named(session_text(UK), "one_way"), Some("k-one-way"))
        .await;
    session_on_one_way.expect_error(422, "no_service_for_message");
    assert_eq!(
        session_on_one_way.body["error"]["missing"],
        json!(["session", "two_way"])
    );
    let message = session_on_one_way.body["error"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("a one_way service cannot carry this message"),
        "{message}"
    );
    let template_on_session = h.send(&named(template_send(), "session"), None).await;
    template_on_session.expect_error(422, "no_service_for_message");
    assert_eq!(
        template_on_session.body["error"]["missing"],
        json!(["two_way", "one_way"])
    );
    h.assert_untouched(UK, &before).await;

    // Not a kind at all: the field is named.
    let typo = h.send(&named(template_send(), "oneway"), None).await;
    typo.expect_error(422, "validation_failed");
    assert_eq!(typo.body["error"]["field"], "service");
    h.assert_untouched(UK, &before).await;
}

/// A campaign chooses its service like a single send: the kind its message names must be the
/// business's and carry a campaign's messages, or the campaign is refused and nothing stored.
#[tokio::test]
async fn a_campaign_names_its_service_kind_like_a_single_send() {
    let h = Harness::new().await;
    with_services(&h, &[(3001, ServiceKind::OneWay)]).await;
    let app = crate::inputs::full_app(&h, std::sync::Arc::new(OffsetClock::new())).await;
    let campaign = |service: &str| {
        json!({
            "message": {"type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}},
                        "service": service},
            "recipients": [{"to": UK}],
        })
        .to_string()
    };
    let before = h.env.footprint().await;
    for (service, missing) in [
        ("two_way", json!(["two_way"])),
        ("session", json!(["two_way", "one_way"])),
    ] {
        let refused = crate::inputs::authed(
            &app,
            &h.key,
            "POST",
            "/v1/campaigns",
            Some(&campaign(service)),
        )
        .await;
        refused.expect_error(422, "no_service_for_message");
        assert_eq!(refused.body["error"]["missing"], missing, "{service}");
    }
    assert_eq!(h.env.footprint().await, before, "nothing stored");
    let accepted = crate::inputs::authed(
        &app,
        &h.key,
        "POST",
        "/v1/campaigns",
        Some(&campaign("one_way")),
    )
    .await;
    assert!(accepted.status < 300, "{}", accepted.body);
}
