//! A list end to end: sent in a session, built as Viber's 802 with its options, answered by the
//! user in the sandbox, and the answer reaching the business as `message.inbound` naming the
//! list and the option.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vbm_e2e::{Stack, eventually};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_list_answered_by_the_user_reaches_the_business_with_the_option() {
    let stack = Stack::start().await;
    let bea = "+447911123461";
    stack.user_writes(bea, "Hello").await;

    let sent = stack
        .send(
            json!({"to": bea, "type": "list", "tracking_data": "delivery-survey",
                     "list": {"title": "How was your delivery?",
                              "options": ["Great", "Late", "Damaged"]}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    let id = sent.body["message_id"].as_str().unwrap().to_owned();
    eventually("the list to be delivered", WAIT, || async {
        (stack.message(&id).await["status"] == "seen").then_some(())
    })
    .await;
    let request = stack
        .viber_sent()
        .await
        .into_iter()
        .find(|r| r["type"] == 802)
        .expect("the list reached Viber as type 802");
    assert_eq!(
        request["survey"],
        json!({"list_message_ui_type": 1, "options": ["Great", "Late", "Damaged"]})
    );
    assert_eq!(request["message"]["#txt"], "How was your delivery?");

    let answer = stack
        .post(
            "/_sandbox/viber/answer_list",
            json!({"service_id": 1000, "phone_number": bea, "option_index": 1}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["inbound_status"], 200, "{answer:?}");

    let inbound = eventually("the answer to reach the business", WAIT, || async {
        stack.events().await.into_iter().find(|e| {
            e["event"]["type"] == "message.inbound" && e["event"]["data"]["text"] == "Late"
        })
    })
    .await;
    assert_eq!(inbound["signature_valid"], true);
    let data = &inbound["event"]["data"];
    assert_eq!(
        data["reply_to"],
        json!({"message_id": id, "type": "list", "option": "Late", "option_index": 1})
    );
    assert_eq!(data["tracking_data"], "delivery-survey");
    assert_eq!(data["phone"], bea);
    // The answer is the user writing: the row of session messages starts again.
    assert_eq!(data["session"]["consecutive"], 0);
    // The greeting before it named no list.
    let greeting = stack
        .events()
        .await
        .into_iter()
        .find(|e| e["event"]["type"] == "message.inbound" && e["event"]["data"]["text"] == "Hello")
        .expect("the greeting's event");
    assert_eq!(greeting["event"]["data"]["reply_to"], Value::Null);
}
