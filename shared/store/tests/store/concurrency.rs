//! Real concurrency against the (serialized, so atomic) emulator.

use std::sync::Arc;

use session_rules::{PhoneNumber, Refusal, SendClass};
use vbm_store::{BusinessId, IdempotencyKey, MessageId, NewSend, SendOutcome, Store};
use vbm_testkit::TestEnv;

use crate::common;

use common::NOW;

async fn stores(n: usize) -> Vec<Arc<Store>> {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    // Several stores stand for several Lambda containers, each with its own hints.
    (0..n)
        .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect()
}

async fn send(
    store: &Store,
    business: &BusinessId,
    to: &PhoneNumber,
    key: Option<&IdempotencyKey>,
) -> SendOutcome {
    store
        .messages()
        .record_send(&NewSend {
            class: SendClass::Session,
            kind: "session",
            billing: session_rules::BillingCategory::Session,
            idempotency: key.map(|k| (k, "hash")),
            ..common::informative(business, MessageId::generate(), to, NOW)
        })
        .await
        .expect("store available")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_session_sends_admit_exactly_five() {
    let stores = stores(4).await;
    let business = BusinessId::parse("race").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    stores[0]
        .conversations()
        .record_user_message(&business, &to, NOW)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let (business, to) = (business.clone(), to.clone());
            tokio::spawn(async move { send(&store, &business, &to, None).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            SendOutcome::Accepted { .. } => accepted += 1,
            SendOutcome::Refused(Refusal::SessionLocked) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 5);
    let c = stores[0]
        .conversations()
        .get_conversation(&business, &to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.session.map(|s| (s.messages_sent, s.consecutive)),
        Some((5, 5))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_user_messages_and_sends_keep_the_counters_exact() {
    let stores = stores(3).await;
    let business = BusinessId::parse("mixed").unwrap();
    let to = PhoneNumber::parse("+447911123457").unwrap();
    stores[0]
        .conversations()
        .record_user_message(&business, &to, NOW)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = stores[i % stores.len()].clone();
        let (business, to) = (business.clone(), to.clone());
        tasks.push(tokio::spawn(async move {
            if i % 6 == 0 {
                store
                    .conversations()
                    .record_user_message(&business, &to, NOW)
                    .await
                    .unwrap();
                None
            } else {
                Some(send(&store, &business, &to, None).await)
            }
        }));
    }
    let mut accepted = 0u32;
    for task in tasks {
        if let Some(SendOutcome::Accepted { .. }) = task.await.unwrap() {
            accepted += 1;
        }
    }
    let c = stores[0]
        .conversations()
        .get_conversation(&business, &to)
        .await
        .unwrap()
        .unwrap();
    let session = c.session.unwrap();
    // Every accepted send was counted once, none lost, none twice; the lock was never passed.
    assert_eq!(session.messages_sent, accepted);
    assert!(session.consecutive <= 5);
    assert!(
        accepted >= 5,
        "at least one full run before the first lock: {accepted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_fifty_times_is_one_message() {
    let stores = stores(4).await;
    let business = BusinessId::parse("idem").unwrap();
    let to = PhoneNumber::parse("+447911123458").unwrap();
    stores[0]
        .conversations()
        .record_user_message(&business, &to, NOW)
        .await
        .unwrap();
    let key = IdempotencyKey::parse("order-42").unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let (business, to, key) = (business.clone(), to.clone(), key.clone());
            tokio::spawn(async move { send(&store, &business, &to, Some(&key)).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            SendOutcome::Accepted { .. } => accepted += 1,
            SendOutcome::Replayed {
                message_id, after, ..
            } => {
                ids.insert(message_id);
                assert_eq!(after.session.map(|s| s.messages_sent), Some(1));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(ids.len(), 1, "every replay names the one message");
    let c = stores[0]
        .conversations()
        .get_conversation(&business, &to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.session.map(|s| s.messages_sent), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_everything_about_the_contact_only() {
    let stores = stores(1).await;
    let store = &stores[0];
    let business = BusinessId::parse("erase").unwrap();
    let to = PhoneNumber::parse("+447911123459").unwrap();
    let other = PhoneNumber::parse("+447911123460").unwrap();
    for phone in [&to, &other] {
        store
            .conversations()
            .record_user_message(&business, phone, NOW)
            .await
            .unwrap();
    }
    let key = IdempotencyKey::parse("k1").unwrap();
    let SendOutcome::Accepted { .. } = send(store, &business, &to, Some(&key)).await else {
        panic!()
    };
    let SendOutcome::Accepted { .. } = send(store, &business, &other, None).await else {
        panic!()
    };
    let erased = store.erasure().erase_contact(&business, &to).await.unwrap();
    assert_eq!(erased, 3, "conversation, message, idempotency record");
    assert_eq!(
        store
            .conversations()
            .get_conversation(&business, &to)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .conversations()
            .get_conversation(&business, &other)
            .await
            .unwrap()
            .is_some()
    );
    // The key is free again: a new send with it is a new message.
    store
        .conversations()
        .record_user_message(&business, &to, NOW)
        .await
        .unwrap();
    assert!(matches!(
        send(store, &business, &to, Some(&key)).await,
        SendOutcome::Accepted { .. }
    ));
}
