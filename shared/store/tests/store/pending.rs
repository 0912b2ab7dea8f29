//! Statuses kept for a Viber token not recorded yet, on the emulator: one per status however
//! often it comes, untouched by `mark_sent`, refused once the token is known, treated as gone
//! past their expiry (the emulator never deletes by TTL), and forgotten without leaving items.

use aws_sdk_dynamodb::types::AttributeValue;
use session_rules::{MessageStatus, PhoneNumber, Timestamp};
use vbm_store::{BusinessId, Kept, MessageId, PendingStatus, Retention, Sent, Store};
use vbm_testkit::TestEnv;

use crate::common;

use common::NOW;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(NOW.as_millis() + ms)
}

fn pending(status: MessageStatus, ms: i64) -> PendingStatus {
    PendingStatus { status, at: at(ms) }
}

async fn store(env: &TestEnv) -> Store {
    common::store_on(env).await
}

#[tokio::test]
async fn kept_statuses_survive_mark_sent_and_are_refused_after_it() {
    let env = TestEnv::fresh();
    let store = store(&env).await;
    let token = "4400001";
    for p in [
        pending(MessageStatus::Seen, 300),
        pending(MessageStatus::Delivered, 200),
        pending(MessageStatus::Delivered, 100), // a repeat: the first time stays
    ] {
        let kept = store
            .messages()
            .keep_pending_status(token, p, NOW)
            .await
            .expect("kept");
        assert_eq!(kept, Kept::Pending);
    }
    let expected = [
        pending(MessageStatus::Delivered, 200),
        pending(MessageStatus::Seen, 300),
    ];
    assert_eq!(
        store
            .messages()
            .pending_statuses(token, NOW)
            .await
            .expect("read"),
        expected
    );
    assert_eq!(
        store
            .messages()
            .message_by_token(token, NOW)
            .await
            .expect("read"),
        None
    );

    let business = BusinessId::parse("keep").expect("valid id");
    let to = PhoneNumber::parse("+447911123400").expect("valid number");
    let id = MessageId::generate();
    store
        .messages()
        .record_send(&common::informative(&business, id.clone(), &to, NOW))
        .await
        .expect("accepted");
    let message = store
        .messages()
        .get_message(&business, &id, NOW)
        .await
        .expect("read")
        .expect("stored");
    let sent = Sent {
        token: Some(token),
        session_id: None,
        at: at(50),
    };
    store
        .messages()
        .mark_sent(&message, &to, sent)
        .await
        .expect("sent");

    assert_eq!(
        store
            .messages()
            .pending_statuses(token, NOW)
            .await
            .expect("read"),
        expected
    );
    let known = store
        .messages()
        .message_by_token(token, NOW)
        .await
        .expect("read");
    assert_eq!(known.as_ref().map(|m| &m.message_id), Some(&id));
    // Known now: a keep writes nothing and names the message.
    let late = store
        .messages()
        .keep_pending_status(token, pending(MessageStatus::Expired, 400), NOW)
        .await
        .expect("answered");
    assert_eq!(late, Kept::Known(known.expect("known")));
    assert_eq!(
        store
            .messages()
            .pending_statuses(token, NOW)
            .await
            .expect("read"),
        expected
    );

    for p in expected {
        store
            .messages()
            .forget_pending_status(token, p.status)
            .await
            .expect("forgotten");
    }
    assert!(
        store
            .messages()
            .pending_statuses(token, NOW)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .messages()
            .message_by_token(token, NOW)
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test]
async fn expired_and_missing_token_items_are_neither_kept_nor_created() {
    let env = TestEnv::fresh();
    let store = store(&env).await;
    let before = env.item_count().await;
    // Forgetting on a token nobody wrote leaves no item behind.
    store
        .messages()
        .forget_pending_status("4400002", MessageStatus::Delivered)
        .await
        .expect("nothing to forget");
    assert_eq!(env.item_count().await, before);

    // A recorded token past its retention (still there: TTL deletion lags).
    let token = "4400003";
    store
        .client()
        .put_item()
        .table_name(&env.table)
        .item("pk", AttributeValue::S(format!("TOKEN#{token}")))
        .item("sk", AttributeValue::S("TOKEN".into()))
        .item("business_id", AttributeValue::S("keep".into()))
        .item(
            "message_id",
            AttributeValue::S(MessageId::generate().to_string()),
        )
        .item("phone", AttributeValue::S("+447911123400".into()))
        .item("expires_at", AttributeValue::N(NOW.as_secs().to_string()))
        .send()
        .await
        .expect("seeded");
    assert_eq!(
        store
            .messages()
            .message_by_token(token, NOW)
            .await
            .expect("read"),
        None
    );
    let kept = store
        .messages()
        .keep_pending_status(token, pending(MessageStatus::Delivered, 1), NOW)
        .await
        .expect("answered");
    assert_eq!(kept, Kept::Gone);
    assert!(
        store
            .messages()
            .pending_statuses(token, NOW)
            .await
            .expect("read")
            .is_empty()
    );

    // Kept statuses expire with their item.
    let token = "4400004";
    let kept = store
        .messages()
        .keep_pending_status(token, pending(MessageStatus::Seen, 1), NOW)
        .await
        .expect("kept");
    assert_eq!(kept, Kept::Pending);
    let later = NOW.plus(Retention::default().messages);
    assert!(
        store
            .messages()
            .pending_statuses(token, later)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store
            .messages()
            .pending_statuses(token, NOW)
            .await
            .expect("read")
            .len(),
        1
    );
}
