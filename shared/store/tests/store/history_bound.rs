//! A message's history stays bounded whatever Viber sends: status codes nobody documents are
//! kept like any other callback up to `MAX_HISTORY` entries, then only counted.

use aws_sdk_dynamodb::types::AttributeValue;
use session_rules::{PhoneNumber, Timestamp};
use vbm_store::{BusinessId, MAX_HISTORY, MessageId, SendOutcome};
use vbm_testkit::TestEnv;

use crate::common;

use common::NOW;

#[tokio::test]
async fn unknown_status_codes_fill_the_history_to_its_bound_then_are_counted() {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let store = common::store_with(client.clone(), env.table.clone());
    let business = BusinessId::parse("acme").unwrap();
    let id = MessageId::generate();
    let outcome = store
        .messages()
        .record_send(&common::informative(
            &business,
            id.clone(),
            &PhoneNumber::parse("+447911123456").unwrap(),
            NOW,
        ))
        .await
        .unwrap();
    assert!(matches!(outcome, SendOutcome::Accepted { .. }));

    let extra = 6;
    for i in 0..(MAX_HISTORY + extra) {
        let at = Timestamp::from_millis(NOW.as_millis() + 1 + i as i64);
        assert!(
            store
                .messages()
                .note_unknown_status(&business, &id, 17, at)
                .await
                .unwrap()
        );
    }
    let message = store
        .messages()
        .get_message(&business, &id, NOW)
        .await
        .unwrap()
        .unwrap();
    // `accepted`, then unknown codes up to the bound.
    assert_eq!(message.history.len(), MAX_HISTORY);
    let item = client
        .get_item()
        .table_name(&env.table)
        .key("pk", AttributeValue::S("BIZ#acme".into()))
        .key("sk", AttributeValue::S(format!("MSG#{id}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    // Every callback past the bound is counted: the 100th entry is the 99th code.
    assert_eq!(
        item["history_dropped"],
        AttributeValue::N((extra + 1).to_string())
    );

    // A message that is not stored is told apart.
    let gone = MessageId::generate();
    assert!(
        !store
            .messages()
            .note_unknown_status(&business, &gone, 17, NOW)
            .await
            .unwrap()
    );
}
