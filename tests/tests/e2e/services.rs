//! A business with two Viber services, end to end: the local stack with the real handlers, the
//! queue pollers and the Viber sandbox playing both services (it refuses, with 4, a message type
//! a service's kind does not carry). Its notifications go on the one-way id, its support chat on
//! the session id; a user message on the one-way id is kept aside; a business without a session
//! service cannot send session messages; two businesses never share an id.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_rules::{
    Language, Limits, Service, ServiceKind, Services, Template, TemplateCategory, TemplateId,
};
use vbm_e2e::{Answer, Stack, eventually};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_store::{BusinessId, NewBusiness, QuarantineReason, Retention, Store, StoreError};

const WAIT: Duration = Duration::from_secs(60);
const ONE_WAY: u64 = 6001;
const SESSION: u64 = 6002;

/// A call to the API with another business's key.
async fn api(
    stack: &Stack,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.base))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, body }
}

async fn send(stack: &Stack, key: &str, body: Value) -> Answer {
    api(
        stack,
        key,
        reqwest::Method::POST,
        "/v1/messages",
        Some(body),
    )
    .await
}

async fn message(stack: &Stack, key: &str, id: &str) -> Value {
    api(
        stack,
        key,
        reqwest::Method::GET,
        &format!("/v1/messages/{id}"),
        None,
    )
    .await
    .body
}

fn new_business(id: &str) -> NewBusiness {
    NewBusiness {
        id: BusinessId::parse(id).unwrap(),
        service_id: 0,
        callback_url: None,
        allow_cidrs: vec![],
    }
}

/// What Viber received for `dest`, in order.
async fn sent_to(stack: &Stack, dest: &str) -> Vec<Value> {
    stack
        .viber_sent()
        .await
        .into_iter()
        .filter(|r| r["dest"] == dest)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_business_with_a_one_way_and_a_session_service() {
    let stack = Stack::start().await;
    let store = Store::new(
        stack.env.dynamodb().await,
        &stack.env.table,
        Limits::default(),
        Retention::default(),
    );
    // The operator's set-up (vbmctl's store code): one business, two services; Viber knows
    // what each id was ordered as.
    let services = Services::new(vec![
        Service {
            id: ONE_WAY,
            kind: ServiceKind::OneWay,
        },
        Service {
            id: SESSION,
            kind: ServiceKind::Session,
        },
    ])
    .unwrap();
    let (shop, key) = store
        .businesses()
        .create_business_with_services(&new_business("shop"), &services)
        .await
        .unwrap();
    let key = key.expose().to_owned();
    for (id, kind) in [(ONE_WAY, "one_way"), (SESSION, "session")] {
        let answer = stack
            .post(
                "/_sandbox/viber/services",
                json!({"service_id": id, "kind": kind}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    let template = Template::parse(
        TemplateId::parse("order_ready").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Order {{order}} is ready",
    )
    .unwrap();
    store
        .templates()
        .put_template(&shop.id, &template)
        .await
        .unwrap();
    let ann = "+447911123470";
    let dest = "447911123470";

    // A template goes on the one-way id, and is delivered (the sandbox would refuse it with 4
    // on the session id).
    let sent = send(
        &stack,
        &key,
        json!({"to": ann, "type": "template", "template": {"id": "order_ready", "params": {"order": "42"}}}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    let template_id = sent.body["message_id"].as_str().unwrap().to_owned();
    let seen = eventually("the template to be seen", WAIT, || async {
        let m = message(&stack, &key, &template_id).await;
        (m["status"] == "seen").then_some(m)
    })
    .await;
    assert!(seen["failure"].is_null(), "{seen}");
    assert_eq!(seen["service_id"], ONE_WAY, "{seen}");
    let viber = sent_to(&stack, dest).await;
    assert_eq!(viber.len(), 1, "{viber:?}");
    assert_eq!(viber[0]["service_id"], ONE_WAY);
    assert_eq!(viber[0]["type"], 1702);

    // Before the user writes, no session message; the user writes on the session id, and one goes
    // there.
    let early = send(
        &stack,
        &key,
        json!({"to": ann, "type": "session", "text": "Hello?"}),
    )
    .await;
    assert_eq!(early.code(), "no_session", "{early:?}");
    let wrote = stack
        .post(
            "/_sandbox/viber/user_message",
            json!({"service_id": SESSION, "phone_number": ann, "text": "Where is my order?"}),
        )
        .await;
    assert_eq!(wrote.body["inbound_status"], 200, "{wrote:?}");
    let reply = send(
        &stack,
        &key,
        json!({"to": ann, "type": "session", "text": "On its way"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    assert_eq!(reply.body["session"]["state"], "active", "{reply:?}");
    let reply_id = reply.body["message_id"].as_str().unwrap().to_owned();
    let seen = eventually("the session message to be seen", WAIT, || async {
        let m = message(&stack, &key, &reply_id).await;
        (m["status"] == "seen").then_some(m)
    })
    .await;
    assert_eq!(seen["service_id"], SESSION, "{seen}");
    // Named onto the one-way id, a session message is refused, nothing stored; named onto the
    // one-way id, a template goes there (as it would unnamed: this business has no two-way).
    let named = send(
        &stack,
        &key,
        json!({"to": ann, "type": "session", "text": "Still there?", "service": "one_way"}),
    )
    .await;
    assert_eq!(named.code(), "no_service_for_message", "{named:?}");
    assert_eq!(
        named.body["error"]["missing"],
        json!(["session", "two_way"])
    );
    let named = send(
        &stack,
        &key,
        json!({"to": ann, "type": "template", "service": "two_way",
               "template": {"id": "order_ready", "params": {"order": "43"}}}),
    )
    .await;
    assert_eq!(named.code(), "no_service_for_message", "{named:?}");
    assert_eq!(named.body["error"]["missing"], json!(["two_way"]));
    let viber = sent_to(&stack, dest).await;
    assert_eq!(viber.len(), 2, "{viber:?}");
    assert_eq!(viber[1]["service_id"], SESSION);
    assert_eq!(viber[1]["type"], 306);

    // A user message on the one-way id is kept aside, with its reason; the session is untouched.
    let stray = "+447911123471";
    let wrote = stack
        .post(
            "/_sandbox/viber/user_message",
            json!({"service_id": ONE_WAY, "phone_number": stray, "text": "Can I reply here?"}),
        )
        .await;
    assert_eq!(wrote.body["inbound_status"], 200, "{wrote:?}");
    let kept = store
        .quarantine()
        .quarantined(SystemClock.now())
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].reason, QuarantineReason::OneWayService);
    let session = api(
        &stack,
        &key,
        reqwest::Method::GET,
        &format!("/v1/sessions/{}", stray.replace('+', "%2B")),
        None,
    )
    .await;
    assert_eq!(session.body["state"], "none", "{session:?}");

    // A business with only a one-way service: session sends are refused before anything is
    // stored, naming what is missing.
    let (_, alerts_key) = store
        .businesses()
        .create_business_with_services(
            &new_business("alerts"),
            &Services::single(6003, ServiceKind::OneWay),
        )
        .await
        .unwrap();
    let refused = send(
        &stack,
        alerts_key.expose(),
        json!({"to": ann, "type": "session", "text": "Hi"}),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    assert_eq!(refused.code(), "no_service_for_message");
    assert_eq!(
        refused.body["error"]["missing"],
        json!(["session", "two_way"])
    );

    // Two businesses never share an id: neither a new business nor another's new service gets one.
    match store
        .businesses()
        .create_business_with_services(
            &new_business("copycat"),
            &Services::single(SESSION, ServiceKind::Session),
        )
        .await
    {
        Err(StoreError::Conflict(message)) => assert!(message.contains("6002"), "{message}"),
        other => panic!("{other:?}"),
    }
    let alerts = BusinessId::parse("alerts").unwrap();
    match store
        .businesses()
        .add_service(
            &alerts,
            Service {
                id: SESSION,
                kind: ServiceKind::Session,
            },
        )
        .await
    {
        Err(StoreError::Conflict(message)) => assert!(message.contains("6002"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.businesses().service_owner(SESSION).await.unwrap(),
        Some((shop.id.clone(), ServiceKind::Session))
    );
}
