//! A send transaction whose answer is lost (the connection cut after DynamoDB applied it) is
//! sent again by the SDK's retry. That second attempt must report the send as written, once,
//! not as a conflict that would answer 503 while the message stays counted.

use session_rules::{Conversation, Limits, PhoneNumber, SendClass, Session, Timestamp};
use vbm_store::send::WriteResult;
use vbm_store::{BusinessId, MessageId, NewSend, Retention, Store};
use vbm_testkit::TestEnv;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

#[tokio::test]
async fn a_send_written_twice_by_a_retry_is_written_once() {
    let env = TestEnv::fresh();
    let store = Store::new(
        env.dynamodb().await,
        env.table.clone(),
        Limits::default(),
        Retention::default(),
    );
    let business = BusinessId::parse("lost").expect("valid id");
    let to = PhoneNumber::parse("+447911123499").expect("valid number");
    let before = Conversation {
        session: Some(Session {
            started_at: NOW,
            messages_sent: 2,
            consecutive: 1,
        }),
        opted_out: false,
        contacted: true,
    };
    store
        .put_conversation(&business, &to, &before, NOW)
        .await
        .expect("seeded");
    let send = NewSend {
        business: &business,
        message_id: MessageId::generate(),
        to: &to,
        class: SendClass::Session,
        kind: "session",
        payload: "{}",
        idempotency: None,
        now: NOW,
    };
    let after = Conversation {
        session: Some(Session {
            started_at: NOW,
            messages_sent: 3,
            consecutive: 2,
        }),
        ..before
    };

    let first = store.try_send_write(&send, Some(&before), &after).await;
    let again = store.try_send_write(&send, Some(&before), &after).await;

    assert_eq!(first.expect("first write"), WriteResult::Written);
    assert_eq!(again.expect("the retried write"), WriteResult::Written);
    let stored = store
        .get_conversation(&business, &to)
        .await
        .expect("read back");
    assert_eq!(stored, Some(after), "counted once");
}
