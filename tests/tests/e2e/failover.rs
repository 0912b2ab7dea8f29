//! SMS failover, end to end through the local stack: the Viber sandbox answers 9 for
//! numbers ending in 0009 and calls back `expired` for 0002; the SMS stand-in records what End
//! User Messaging would have sent and posts its delivery receipt. Every check goes through HTTP
//! (and, to set a business's default, the store as `vbmctl` would).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vbm_e2e::{Stack, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn with_sms(mut body: Value, text: &str) -> Value {
    body["failover"] = json!({"sms": {"text": text, "sender_id": "Demo"}});
    body
}

async fn sms_sent(stack: &Stack) -> Vec<Value> {
    stack
        .get("/_sandbox/sms/sent")
        .await
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn template(to: &str) -> Value {
    json!({"to": to, "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}})
}

/// The message once its failover reached `state`.
async fn failover_at(stack: &Stack, id: &str, state: &str) -> Value {
    eventually(&format!("failover {state}"), WAIT, || async {
        let message = stack.message(id).await;
        (message["failover"]["state"] == state).then_some(message)
    })
    .await
}

#[tokio::test]
async fn not_a_viber_user_gets_the_sms_and_the_business_hears_of_it() {
    let stack = Stack::start().await;
    let to = "+447911120009";
    let answer = stack.send(with_sms(template(to), "Welcome, Ann!")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    let id = answer.body["message_id"].as_str().unwrap().to_owned();
    let message = failover_at(&stack, &id, "delivered").await;
    assert_eq!(message["status"], "failed");
    assert_eq!(message["failure"]["code"], 9);
    assert_eq!(message["failover"]["trigger"], "not_viber_user");
    assert_eq!(message["delivered_via"], "sms");
    let statuses: Vec<&str> = message["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "failed",
            "failover_triggered",
            "failover_sent",
            "failover_delivered"
        ]
    );
    let sent = sms_sent(&stack).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["to"], to);
    assert_eq!(sent[0]["text"], "Welcome, Ann!");
    assert_eq!(sent[0]["origination_identity"], "Demo");
    assert_eq!(sent[0]["context"]["message_id"], id.as_str());
    // Signed events, one per step.
    let events = eventually("the failover events", WAIT, || async {
        let events: Vec<Value> = stack
            .events()
            .await
            .into_iter()
            .filter(|e| e["event"]["type"] == "message.failover")
            .collect();
        (events.len() >= 2).then_some(events)
    })
    .await;
    for event in &events {
        assert_eq!(event["signature_valid"], true);
        assert_eq!(event["event"]["data"]["message_id"], id.as_str());
        assert_eq!(event["event"]["data"]["channel"], "sms");
    }
}

#[tokio::test]
async fn no_suitable_device_fails_over_too() {
    let stack = Stack::start().await;
    // The sandbox answers numbers ending in 77NN with status NN: 10, no suitable device.
    let answer = stack
        .send(with_sms(template("+447911127710"), "Welcome, Ann!"))
        .await;
    let id = answer.body["message_id"].as_str().unwrap().to_owned();
    let message = failover_at(&stack, &id, "delivered").await;
    assert_eq!(message["failure"]["code"], 10);
    assert_eq!(message["failover"]["trigger"], "no_suitable_device");
    assert_eq!(sms_sent(&stack).await.len(), 1);
}

#[tokio::test]
async fn an_expired_message_fails_over_and_one_without_failover_does_not() {
    let stack = Stack::start().await;
    let with = stack
        .send(with_sms(template("+447911120002"), "Welcome, Ann!"))
        .await;
    assert_eq!(with.status, StatusCode::ACCEPTED, "{with:?}");
    let id = with.body["message_id"].as_str().unwrap().to_owned();
    let message = failover_at(&stack, &id, "delivered").await;
    assert_eq!(message["status"], "expired");
    assert_eq!(message["failover"]["trigger"], "expired");
    // Without a failover the same numbers get nothing but their status.
    let plain_9 = stack.send(template("+447911130009")).await;
    let plain_2 = stack.send(template("+447911130002")).await;
    for answer in [&plain_9, &plain_2] {
        let id = answer.body["message_id"].as_str().unwrap().to_owned();
        eventually("the final status", WAIT, || async {
            let m = stack.message(&id).await;
            matches!(m["status"].as_str(), Some("failed" | "expired")).then_some(())
        })
        .await;
        assert_eq!(stack.message(&id).await["failover"], Value::Null);
    }
    assert_eq!(sms_sent(&stack).await.len(), 1);
}

#[tokio::test]
async fn the_deadline_and_the_business_default_with_a_template_sms_text() {
    let stack = Stack::start().await;
    // What `vbmctl business failover set --always --deadline 1 --no-expired --template-text …`
    // stores: every send fails over, with the template's SMS text, after 1 s without delivered.
    let store = vbm_store::Store::new(
        stack.env.dynamodb().await,
        stack.env.table.clone(),
        session_rules::Limits::default(),
        vbm_store::Retention::default(),
    );
    let policy = session_rules::failover::FailoverPolicy {
        always: true,
        sender_id: Some("Demo".into()),
        triggers: session_rules::failover::Triggers {
            expired: false,
            deadline_seconds: Some(1),
            ..Default::default()
        },
        template_texts: [("welcome".to_owned(), "Hi {{name}}, see you soon".to_owned())].into(),
        ..Default::default()
    };
    let demo = vbm_store::BusinessId::parse("demo").unwrap();
    assert!(
        store
            .businesses()
            .set_failover_policy(&demo, Some(&policy))
            .await
            .unwrap()
    );
    // The business cache of `send` is cold in a fresh stack: the default applies at once.
    let late = stack.send(template("+447911120002")).await;
    let delivered = stack.send(template("+447911123456")).await;
    let late = late.body["message_id"].as_str().unwrap().to_owned();
    let delivered = delivered.body["message_id"].as_str().unwrap().to_owned();
    let message = failover_at(&stack, &late, "delivered").await;
    assert_eq!(message["failover"]["trigger"], "deadline");
    assert_eq!(message["failover"]["sms_text"], "Hi Ann, see you soon");
    // Delivered by Viber within the deadline: the deadline finds it delivered, no SMS.
    eventually("delivered by Viber", WAIT, || async {
        (stack.message(&delivered).await["delivered_via"] == "viber").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let message = stack.message(&delivered).await;
    assert_eq!(message["failover"]["state"], "pending", "{message}");
    let sent = sms_sent(&stack).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["text"], "Hi Ann, see you soon");
}

#[tokio::test]
async fn a_bad_failover_is_refused_with_its_code_and_nothing_is_stored() {
    let stack = Stack::start().await;
    let before = stack.env.footprint().await;
    let cases = [
        (json!("sms"), "failover_invalid"),
        (json!({"whatsapp": {}}), "failover_invalid"),
        (json!({"sms": {"text": " "}}), "failover_text_invalid"),
        (
            json!({"sms": {"text": "x".repeat(1601)}}),
            "failover_text_invalid",
        ),
        (
            json!({"sms": {"text": "hi", "sender_id": "Way-too-long-id"}}),
            "failover_sender_id_invalid",
        ),
        (
            json!({"sms": {"sender_id": "Demo"}}),
            "failover_text_missing",
        ),
    ];
    for (failover, code) in cases {
        let mut body = template("+447911123456");
        body["failover"] = failover.clone();
        let answer = stack.send(body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{failover}: {answer:?}"
        );
        assert_eq!(answer.code(), code, "{failover}");
        assert!(
            answer.body["error"]["field"]
                .as_str()
                .unwrap()
                .starts_with("failover")
        );
    }
    assert_eq!(stack.env.footprint().await, before);
}

/// A campaign carries a failover like a single send: each recipient's message is stored with
/// it, a recipient Viber cannot reach gets the SMS (with their own parameters, from the
/// campaign's text), one Viber delivers to gets none; a bad one refuses the campaign whole.
#[tokio::test]
async fn a_campaigns_recipients_fail_over_like_single_sends() {
    let stack = Stack::start().await;
    let before = stack.env.footprint().await;
    let campaign = |failover: Value| {
        json!({
            "name": "with failover",
            "message": {"type": "template", "template": {"id": "welcome"}, "failover": failover},
            "recipients": [
                {"to": "+447911140009", "params": {"name": "Ann"}},
                {"to": "+447911140001", "params": {"name": "Bob"}},
            ],
        })
    };
    let bad = stack
        .post(
            "/v1/campaigns",
            campaign(json!({"sms": {"sender_id": "Demo"}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    assert_eq!(bad.code(), "failover_text_missing");
    // The business's SMS policy, at the campaign's creation: a text of more billed parts than
    // it allows (1,600 Cyrillic characters are 24), a sender id the operator did not register.
    for (failover, code) in [
        (
            json!({"sms": {"text": "Ж".repeat(1600), "sender_id": "Demo"}}),
            "failover_too_many_parts",
        ),
        (
            json!({"sms": {"text": "Hi", "sender_id": "HSBC"}}),
            "failover_sender_id_not_registered",
        ),
    ] {
        let bad = stack.post("/v1/campaigns", campaign(failover)).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(bad.code(), code);
    }
    assert_eq!(stack.env.footprint().await, before);

    let answer = stack
        .post(
            "/v1/campaigns",
            campaign(json!({"sms": {"text": "Welcome from the wave", "sender_id": "Demo"}})),
        )
        .await;
    assert!(answer.status.is_success(), "{answer:?}");
    let sent = eventually("the campaign's SMS", WAIT, || async {
        let sent = sms_sent(&stack).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0]["to"], "+447911140009");
    assert_eq!(sent[0]["text"], "Welcome from the wave");
    assert_eq!(sent[0]["origination_identity"], "Demo");
    let id = sent[0]["context"]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = failover_at(&stack, &id, "delivered").await;
    assert_eq!(message["failover"]["trigger"], "not_viber_user");
    // The delivered recipient: its message went through Viber; no SMS, ever.
    eventually("Bob's message delivered", WAIT, || async {
        let delivered = stack
            .get("/_sandbox/viber/delivered")
            .await
            .body
            .as_array()
            .cloned()
            .unwrap_or_default();
        delivered
            .iter()
            .any(|d| d["dest"] == "447911140001")
            .then_some(())
    })
    .await;
    let sent = sms_sent(&stack).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
}

/// SMS pumping, scaled down: six sends to numbers Viber answers 9 for, against a day's cap of
/// three (what `vbmctl business sms limits demo --per-day 3` stores). Three SMS go; the other
/// three failovers are refused, and the business sees why in the message and its events. A
/// premium-rate destination is refused at the send.
#[tokio::test]
async fn failovers_over_the_days_cap_are_refused_and_the_business_sees_why() {
    let stack = Stack::start().await;
    let store = vbm_store::Store::new(
        stack.env.dynamodb().await,
        stack.env.table.clone(),
        session_rules::Limits::default(),
        vbm_store::Retention::default(),
    );
    let demo = vbm_store::BusinessId::parse("demo").unwrap();
    store
        .businesses()
        .update_sms_policy(&demo, |p| p.max_per_day = 3)
        .await
        .unwrap()
        .unwrap();
    let premium = stack
        .send(with_sms(template("+449098790000"), "Welcome, Ann!"))
        .await;
    assert_eq!(
        premium.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{premium:?}"
    );
    assert_eq!(premium.code(), "failover_destination_refused");

    let mut ids = Vec::new();
    for n in 0..6 {
        let to = format!("+4479111{n}0009");
        let answer = stack.send(with_sms(template(&to), "Welcome, Ann!")).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        ids.push(answer.body["message_id"].as_str().unwrap().to_owned());
    }
    let mut refused = 0;
    for id in &ids {
        let message = eventually("the failover decided", WAIT, || async {
            let message = stack.message(id).await;
            let state = message["failover"]["state"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            ["delivered", "refused"]
                .contains(&state.as_str())
                .then_some(message)
        })
        .await;
        if message["failover"]["state"] == "refused" {
            refused += 1;
            assert_eq!(message["failover"]["reason"], "daily_cap");
            let history: Vec<&str> = message["status_history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["status"].as_str().unwrap())
                .collect();
            assert!(history.contains(&"failover_refused"), "{history:?}");
        }
    }
    assert_eq!(refused, 3);
    assert_eq!(sms_sent(&stack).await.len(), 3);
    let events = eventually("the refusals' events", WAIT, || async {
        let refusals: Vec<Value> = stack
            .events()
            .await
            .into_iter()
            .filter(|e| {
                e["event"]["type"] == "message.failover"
                    && e["event"]["data"]["status"] == "failover_refused"
            })
            .collect();
        (refusals.len() >= 3).then_some(refusals)
    })
    .await;
    assert!(
        events
            .iter()
            .all(|e| e["event"]["data"]["reason"] == "daily_cap")
    );
}
