//! A send transaction whose answer is lost (the connection cut after DynamoDB applied it) is
//! sent again by the SDK's retry. That second attempt must report the send as written, once,
//! not as a conflict that would answer 503 while the message stays counted.

use session_rules::{Conversation, PhoneNumber, SendClass, Session};
use vbm_store::send::WriteResult;
use vbm_store::{BusinessId, MessageId, NewSend, Store};
use vbm_testkit::TestEnv;

use crate::common;

use common::NOW;

#[tokio::test]
async fn a_send_written_twice_by_a_retry_is_written_once() {
    let (_env, store) = common::fresh().await;
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
        .conversations()
        .put_conversation(&business, &to, &before, NOW)
        .await
        .expect("seeded");
    let send = NewSend {
        class: SendClass::Session,
        kind: "session",
        billing: session_rules::BillingCategory::Session,
        ..common::informative(&business, MessageId::generate(), &to, NOW)
    };
    let after = Conversation {
        session: Some(Session {
            started_at: NOW,
            messages_sent: 3,
            consecutive: 2,
        }),
        ..before
    };

    let first = store
        .messages()
        .try_send_write(&send, Some(&before), &after)
        .await;
    let again = store
        .messages()
        .try_send_write(&send, Some(&before), &after)
        .await;

    assert_eq!(first.expect("first write"), WriteResult::Written);
    assert_eq!(again.expect("the retried write"), WriteResult::Written);
    let stored = store
        .conversations()
        .get_conversation(&business, &to)
        .await
        .expect("read back");
    assert_eq!(stored, Some(after), "counted once");
}

/// Loses the answer of every `TransactWriteItems` after the emulator applied it (as a connection
/// cut between DynamoDB's commit and its answer would), every SDK attempt included; other calls
/// go through. The store's calls are one at a time here, so "the call under way" is one flag.
#[derive(Debug, Clone, Default)]
struct LoseTransactionAnswers(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl aws_sdk_dynamodb::config::Intercept for LoseTransactionAnswers {
    fn name(&self) -> &'static str {
        "lose-transaction-answers"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let is_transaction = context
            .input()
            .downcast_ref::<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput>()
            .is_some();
        self.0
            .store(is_transaction, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("connection reset after the request was sent".into());
        }
        Ok(())
    }
}

async fn store_losing_transaction_answers(env: &TestEnv) -> Store {
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&env.sdk_config().await)
            .interceptor(LoseTransactionAnswers::default())
            .build(),
    );
    common::store_with(client, env.table.clone())
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_after_it_committed_is_accepted_and_counted_once() {
    // Without the read-back this answered 503 while the message stayed counted and, with the
    // stream as the outbox, went to Viber: the business would send it again.
    let env = TestEnv::fresh();
    let store = store_losing_transaction_answers(&env).await;
    let business = BusinessId::parse("lost").expect("valid id");
    let to = PhoneNumber::parse("+447911123499").expect("valid number");
    let id = MessageId::generate();
    let outcome = store
        .messages()
        .record_send(&common::informative(&business, id.clone(), &to, NOW))
        .await
        .expect("accepted, though its answer was lost");
    assert!(
        matches!(outcome, vbm_store::SendOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let reader = common::store_on(&env).await;
    assert!(
        reader
            .messages()
            .get_message(&business, &id, NOW)
            .await
            .unwrap()
            .is_some()
    );
    let stored = reader
        .conversations()
        .get_conversation(&business, &to)
        .await
        .unwrap();
    assert!(
        stored.is_some_and(|c| c.contacted),
        "counted once, as the 202 says"
    );
}

#[tokio::test]
async fn a_send_that_did_not_commit_is_still_unavailable() {
    // A transaction the emulator refused before committing (the table does not exist) leaves no
    // message: the read-back finds none and the answer stays a retryable error.
    let env = TestEnv::fresh();
    let store = common::store_with(env.dynamodb().await, format!("{}-missing", env.table));
    let business = BusinessId::parse("lost").expect("valid id");
    let to = PhoneNumber::parse("+447911123499").expect("valid number");
    let result = store
        .messages()
        .record_send(&common::informative(
            &business,
            MessageId::generate(),
            &to,
            NOW,
        ))
        .await;
    assert!(
        matches!(result, Err(vbm_store::StoreError::Unavailable(_))),
        "{result:?}"
    );
}
