//! A template's life end to end: the business submits it, a send with it is refused while it
//! is pending, the operator relays Viber's approval (`vbmctl template approve acme <id>
//! --viber-id <Viber's id>` in docs/api.md, `vbmctl template reject` for a rejection: the same
//! code, `vbm_callbacks::moderation`, on the demo business here) and the business hears
//! `template.approved`, signed; the send goes to Viber
//! under Viber's template id; once deleted, it is refused again. And Viber's predefined OTP
//! template goes without registration, its missing pin refused before Viber.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_rules::{Limits, Moderation, TemplateId};
use vbm_callbacks::moderation;
use vbm_e2e::{Stack, eventually};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_store::{BusinessId, Retention, Store};

const WAIT: Duration = Duration::from_secs(60);
const VIBER_ID: &str = "5b1e4a7c-2d3f-4e5a-9b8c-7d6e5f4a3b2c";
const BASIC_OTP: &str = "0aac888f-2ee2-4112-9659-1755a951966a";

/// What Viber was sent for the message to `dest`, once it was.
async fn sent_to(stack: &Stack, dest: &str) -> Value {
    eventually("the message to reach Viber", WAIT, || async {
        stack
            .viber_sent()
            .await
            .into_iter()
            .find(|m| m["dest"] == dest)
    })
    .await
}

/// The business's event of `kind` about template `id`, once delivered.
async fn template_event(stack: &Stack, kind: &str, id: &str) -> Value {
    eventually(kind, WAIT, || async {
        stack
            .events()
            .await
            .into_iter()
            .find(|e| e["event"]["type"] == kind && e["event"]["data"]["template_id"] == id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_template_from_submission_to_approval_a_send_and_deletion() {
    let stack = Stack::start().await;
    let operator = Store::new(
        stack.env.dynamodb().await,
        &stack.env.table,
        Limits::default(),
        Retention::default(),
    );
    let events = EventsQueue::new(stack.env.sqs().await, &stack.env.events_queue_url);
    let demo = BusinessId::parse("demo").unwrap();

    let created = stack
        .post(
            "/v1/templates",
            json!({"name": "Order shipped", "lang": "en", "category": "transactional",
                   "text": "Hi {{name}}, order {{order_id}} is on its way."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["state"], "pending_review");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let ann = "+447911123601";
    let send = json!({"to": ann, "type": "template",
                      "template": {"id": id, "params": {"name": "Ann", "order_id": "42"}}});

    let pending = stack.send(send.clone()).await;
    assert_eq!(pending.code(), "template_not_approved", "{pending:?}");
    assert_eq!(pending.body["error"]["template_state"], "pending_review");

    // The operator relays Viber's approval.
    let approved = moderation::moderate(
        &operator,
        &events,
        &demo,
        &TemplateId::parse(&id).unwrap(),
        &Moderation::Approve {
            viber_id: Some(TemplateId::parse(VIBER_ID).unwrap()),
        },
        SystemClock.now(),
    )
    .await
    .unwrap();
    assert!(approved.is_approved());
    let event = template_event(&stack, "template.approved", &id).await;
    assert_eq!(event["signature_valid"], true, "{event}");
    assert_eq!(event["event"]["data"]["viber_template_id"], VIBER_ID);
    let read = stack.get(&format!("/v1/templates/{id}")).await;
    assert_eq!(read.body["state"], "approved");

    let accepted = stack.send(send.clone()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{accepted:?}");
    assert_eq!(
        accepted.body["billing"]["category"],
        "transactional_template"
    );
    let viber = sent_to(&stack, "447911123601").await;
    assert_eq!(
        viber["templateId"], VIBER_ID,
        "Viber's id, not ours: {viber}"
    );
    assert_eq!(viber["templateLang"], "en");
    assert_eq!(viber["type"], 1702);
    assert_eq!(
        viber["templateParams"],
        json!({"name": "Ann", "order_id": "42"})
    );

    let deleted = stack.delete(&format!("/v1/templates/{id}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{deleted:?}");
    assert_eq!(deleted.body["state"], "deleted");
    let refused = stack.send(send).await;
    assert_eq!(refused.code(), "template_not_approved", "{refused:?}");
    assert_eq!(refused.body["error"]["template_state"], "deleted");

    // Another one, declined by Viber: the business hears why.
    let second = stack
        .post(
            "/v1/templates",
            json!({"name": "Login", "lang": "en", "category": "otp", "text": "Code: {{pin}}"}),
        )
        .await;
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    moderation::moderate(
        &operator,
        &events,
        &demo,
        &TemplateId::parse(&second_id).unwrap(),
        &Moderation::reject("too short to be understood").unwrap(),
        SystemClock.now(),
    )
    .await
    .unwrap();
    let event = template_event(&stack, "template.rejected", &second_id).await;
    assert_eq!(event["signature_valid"], true);
    assert_eq!(
        event["event"]["data"]["reason"],
        "too short to be understood"
    );
    let listed = stack.get("/v1/templates?state=rejected").await;
    assert_eq!(listed.body["templates"][0]["id"], second_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_predefined_otp_goes_and_its_missing_pin_is_refused() {
    let stack = Stack::start().await;
    let bob = "+447911123602";
    let otp = |params: Value| {
        json!({"to": bob, "type": "template",
               "template": {"id": BASIC_OTP, "lang": "uk", "params": params}})
    };
    let refused = stack.send(otp(json!({}))).await;
    assert_eq!(refused.code(), "template_params_invalid", "{refused:?}");
    let accepted = stack.send(otp(json!({"pin": "4711"}))).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{accepted:?}");
    assert_eq!(accepted.body["billing"]["category"], "otp");
    let viber = sent_to(&stack, "447911123602").await;
    assert_eq!(viber["templateId"], BASIC_OTP);
    assert_eq!(viber["templateLang"], "uk");
    assert_eq!(viber["templateParams"], json!({"pin": "4711"}));
    assert_eq!(viber["label"], "transaction");
    let id = accepted.body["message_id"].as_str().unwrap().to_owned();
    eventually("the OTP to be delivered", WAIT, || async {
        let m = stack.message(&id).await;
        (m["status"] == "delivered" || m["status"] == "seen").then_some(())
    })
    .await;
    assert_eq!(
        stack.viber_sent().await.len(),
        1,
        "the refused one never reached Viber"
    );
}
