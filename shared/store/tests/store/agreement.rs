//! The DynamoDB conditions and the pure rules must agree on every state: random conversation
//! states go through `Conversation::decide_send` and through the conditional write against the
//! emulator.

use std::time::Duration;

use crate::common;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use session_rules::{Conversation, Limits, PhoneNumber, SendClass, Session};
use vbm_store::send::WriteResult;
use vbm_store::{BusinessId, MessageId, NewSend, SendOutcome, Store};

use common::NOW;

fn limits() -> Limits {
    Limits::default()
}

fn state() -> impl Strategy<Value = Option<Conversation>> {
    // Weighted toward the edges, where a wrong operator in a condition would show.
    let session = (
        prop_oneof![0i64..100, 86_390i64..86_410, 0i64..200_000],
        prop_oneof![0u32..3, 57u32..62],
        prop_oneof![1 => 0u32..7, 2 => 4u32..7],
    )
        .prop_map(|(age, sent, row)| Session {
            started_at: NOW.minus(Duration::from_secs(age as u64)),
            messages_sent: sent,
            consecutive: row,
        });
    let conversation = (
        prop::option::weighted(0.85, session),
        prop::bool::weighted(0.15),
        any::<bool>(),
    )
        .prop_map(|(session, opted_out, contacted)| Conversation {
            session,
            opted_out,
            contacted,
        });
    prop::option::weighted(0.9, conversation)
}

fn class() -> impl Strategy<Value = SendClass> {
    prop_oneof![
        3 => Just(SendClass::Session),
        1 => Just(SendClass::Informative),
        1 => Just(SendClass::Promotional)
    ]
}

async fn store() -> Store {
    common::fresh().await.1
}

fn phone(i: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479111{:05}", i % 100_000)).expect("valid UK mobile")
}

#[test]
fn conditional_write_agrees_with_decide_send() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(store());
    let business = BusinessId::parse("agree").unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0u32);
    runner
        .run(&(state(), class()), |(state, class)| {
            case.set(case.get() + 1);
            let to = phone(case.get());
            let decision = state.unwrap_or_default().decide_send(class, NOW, &limits());
            let after = state.unwrap_or_default().record_send(class);
            let written = rt.block_on(async {
                if let Some(c) = &state {
                    store
                        .conversations()
                        .put_conversation(&business, &to, c, NOW)
                        .await
                        .unwrap();
                }
                let send = NewSend {
                    class,
                    kind: "session",
                    billing: session_rules::BillingCategory::Session,
                    ..common::informative(&business, MessageId::generate(), &to, NOW)
                };
                // The write is attempted even where the rules refuse: DynamoDB alone must refuse.
                store
                    .messages()
                    .try_send_write(&send, state.as_ref(), &after)
                    .await
                    .unwrap()
            });
            match (&decision, &written) {
                (Ok(_), WriteResult::Written) => {
                    let stored = rt
                        .block_on(store.conversations().get_conversation(&business, &to))
                        .unwrap();
                    prop_assert_eq!(stored, Some(after));
                }
                (Err(_), WriteResult::Cancelled { conversation, .. }) => {
                    // ALL_OLD hands back the state the refusal rests on.
                    prop_assert_eq!(*conversation, Some(state));
                }
                _ => prop_assert!(
                    false,
                    "pure {:?} but DynamoDB {:?} for {:?} {:?}",
                    decision,
                    written,
                    state,
                    class
                ),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn record_send_refuses_exactly_as_the_rules_do_even_with_a_stale_hint() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = store().await;
        let business = BusinessId::parse("stale").unwrap();
        let to = phone(1);
        // Container A learns the session is locked...
        let open = Conversation::default().user_message(NOW, &limits());
        let mut locked = open;
        for _ in 0..5 {
            locked = locked.record_send(SendClass::Session);
        }
        store
            .conversations()
            .put_conversation(&business, &to, &locked, NOW)
            .await
            .unwrap();
        let send = |class| NewSend {
            class,
            kind: "session",
            billing: session_rules::BillingCategory::Session,
            ..common::informative(&business, MessageId::generate(), &to, NOW)
        };
        assert_eq!(
            store
                .messages()
                .record_send(&send(SendClass::Session))
                .await
                .unwrap(),
            SendOutcome::Refused(session_rules::Refusal::SessionLocked)
        );
        // ...then the user replies through another container: the hint is stale, yet the next
        // send goes (a refusal is only ever based on a fresh read).
        let other = common::store_with(store.client().clone(), store.table());
        other
            .conversations()
            .record_user_message(&business, &to, NOW)
            .await
            .unwrap();
        match store
            .messages()
            .record_send(&send(SendClass::Session))
            .await
            .unwrap()
        {
            SendOutcome::Accepted { after } => {
                let s = after.session.unwrap();
                assert_eq!((s.messages_sent, s.consecutive), (6, 1));
            }
            other => panic!("expected accepted, got {other:?}"),
        }
        // And a stale "open" hint is corrected by the cancelled write's ALL_OLD.
        other
            .conversations()
            .put_conversation(&business, &to, &locked, NOW)
            .await
            .unwrap();
        assert_eq!(
            store
                .messages()
                .record_send(&send(SendClass::Session))
                .await
                .unwrap(),
            SendOutcome::Refused(session_rules::Refusal::SessionLocked)
        );
    });
}
