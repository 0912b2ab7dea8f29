//! Messages waiting for the user's reply: held, released when the user writes (by the session
//! rules and the direct send's write), settled at their deadline, each exactly once whatever
//! races (real concurrency against the serialized emulator).

use std::sync::Arc;
use std::time::Duration;

use session_rules::{BillingCategory, Conversation, HeldState, PhoneNumber, Refusal, SendClass};
use vbm_store::{
    BusinessId, HeldFallback, HoldOutcome, InboundContent, MessageId, NewHold, NewSend,
    SendOutcome, Store,
};
use vbm_testkit::TestEnv;

use crate::common::{self, NOW};

const UNTIL: Duration = Duration::from_secs(3600);

fn session<'a>(business: &'a BusinessId, id: MessageId, to: &'a PhoneNumber) -> NewSend<'a> {
    NewSend {
        class: SendClass::Session,
        kind: "session",
        billing: BillingCategory::Session,
        payload: "{\"text\":\"your order shipped\"}",
        ..common::informative(business, id, to, NOW)
    }
}

fn fallback() -> HeldFallback {
    HeldFallback {
        kind: "template".into(),
        class: SendClass::Informative,
        billing: BillingCategory::TransactionalTemplate,
        payload: "{\"template\":{\"id\":\"order_shipped\"}}".into(),
        service_id: None,
    }
}

async fn hold(
    store: &Store,
    business: &BusinessId,
    to: &PhoneNumber,
    with_fallback: bool,
) -> (MessageId, HoldOutcome) {
    let id = MessageId::generate();
    let outcome = store
        .messages()
        .record_hold(
            &NewHold {
                send: session(business, id.clone(), to),
                until: NOW.plus(UNTIL),
                fallback: with_fallback.then(fallback),
            },
            &[],
        )
        .await
        .expect("store available");
    (id, outcome)
}

async fn user_writes(store: &Store, business: &BusinessId, to: &PhoneNumber, token: &str) -> bool {
    store
        .conversations()
        .record_inbound(business, to, token, &InboundContent::default(), NOW, NOW)
        .await
        .expect("store available")
        .record()
        .holds_messages
}

async fn message_exists(store: &Store, business: &BusinessId, id: &MessageId) -> bool {
    store
        .messages()
        .get_message(business, id, NOW)
        .await
        .unwrap()
        .is_some()
}

async fn stores(n: usize) -> (TestEnv, Vec<Arc<Store>>) {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let stores = (0..n)
        .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect();
    (env, stores)
}

#[tokio::test]
async fn a_message_held_without_a_session_goes_when_the_user_writes() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();

    let (id, outcome) = hold(&store, &business, &to, false).await;
    assert!(matches!(outcome, HoldOutcome::Held { .. }), "{outcome:?}");
    // Held: no message (the outbox never sees it), nothing counted.
    assert!(!message_exists(&store, &business, &id).await);
    let held = store
        .messages()
        .get_held(&business, &id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held.state, held.until), (HeldState::Held, NOW.plus(UNTIL)));
    assert_eq!(
        store
            .conversations()
            .get_conversation(&business, &to)
            .await
            .unwrap(),
        Some(Conversation::default())
    );

    assert!(user_writes(&store, &business, &to, "t1").await);
    let settled = store
        .messages()
        .release_held(&business, &to, NOW)
        .await
        .unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(
        (settled[0].state, settled[0].moved_now),
        (HeldState::Released, true)
    );
    let message = store
        .messages()
        .get_message(&business, &id, NOW)
        .await
        .unwrap()
        .unwrap();
    let hold = message.hold.expect("the message tells its hold");
    assert_eq!(
        (hold.outcome, hold.until),
        (HeldState::Released, NOW.plus(UNTIL))
    );
    assert_eq!(message.class, "session");
    let c = store
        .conversations()
        .get_conversation(&business, &to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.session.map(|s| (s.messages_sent, s.consecutive)),
        Some((1, 1))
    );

    // Nothing held any more: the next user message says so, a release does nothing.
    assert!(!user_writes(&store, &business, &to, "t2").await);
    assert!(
        store
            .messages()
            .release_held(&business, &to, NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn with_an_open_session_it_is_sent_at_once() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    user_writes(&store, &business, &to, "t1").await;
    let (id, outcome) = hold(&store, &business, &to, false).await;
    assert!(
        matches!(outcome, HoldOutcome::Sent(SendOutcome::Accepted { .. })),
        "{outcome:?}"
    );
    assert!(message_exists(&store, &business, &id).await);
    assert!(
        store
            .messages()
            .get_held(&business, &id, NOW)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_opted_out_user_is_refused_and_a_conversation_holds_at_most_twenty() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let out = PhoneNumber::parse("+447911123456").unwrap();
    store
        .conversations()
        .put_conversation(&business, &out, &Conversation::default().opt_out(), NOW)
        .await
        .unwrap();
    let (_, outcome) = hold(&store, &business, &out, false).await;
    assert_eq!(
        outcome,
        HoldOutcome::Sent(SendOutcome::Refused(Refusal::RecipientOptedOut))
    );

    let to = PhoneNumber::parse("+447911123457").unwrap();
    for _ in 0..20 {
        let (_, outcome) = hold(&store, &business, &to, false).await;
        assert!(matches!(outcome, HoldOutcome::Held { .. }));
    }
    let (id, outcome) = hold(&store, &business, &to, false).await;
    assert_eq!(
        outcome,
        HoldOutcome::Sent(SendOutcome::Refused(Refusal::TooManyHeld(20)))
    );
    assert!(
        store
            .messages()
            .get_held(&business, &id, NOW)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_reply_releases_five_in_acceptance_order_and_the_rest_wait_for_the_next() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(hold(&store, &business, &to, false).await.0);
        // Distinct milliseconds: acceptance order is the ids' order.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    user_writes(&store, &business, &to, "t1").await;
    let first = store
        .messages()
        .release_held(&business, &to, NOW)
        .await
        .unwrap();
    let released: Vec<_> = first.iter().map(|s| s.id.clone()).collect();
    assert_eq!(released, ids[..5], "the first five, in order");
    for id in &ids[5..] {
        let held = store
            .messages()
            .get_held(&business, id, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            held.state,
            HeldState::Held,
            "locked: waits for the next reply"
        );
        assert!(!message_exists(&store, &business, id).await);
    }
    assert!(user_writes(&store, &business, &to, "t2").await);
    let second = store
        .messages()
        .release_held(&business, &to, NOW)
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        ids[5..]
    );
    let c = store
        .conversations()
        .get_conversation(&business, &to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.session.map(|s| (s.messages_sent, s.consecutive)),
        Some((7, 2))
    );
}

#[tokio::test]
async fn a_stale_container_still_sees_what_another_one_held() {
    let (_env, stores) = stores(2).await;
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    // Container 0 learns the conversation (no session, nothing held)...
    user_writes(&stores[0], &business, &to, "t0").await;
    // ...the session ends, and container 1 holds a message.
    let later = NOW.plus(Duration::from_secs(25 * 3600));
    let id = MessageId::generate();
    let outcome = stores[1]
        .messages()
        .record_hold(
            &NewHold {
                send: NewSend {
                    now: later,
                    ..session(&business, id.clone(), &to)
                },
                until: later.plus(UNTIL),
                fallback: None,
            },
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(outcome, HoldOutcome::Held { .. }), "{outcome:?}");
    // Container 0's hint knows nothing of it; its write's condition does.
    let outcome = stores[0]
        .conversations()
        .record_inbound(
            &business,
            &to,
            "t1",
            &InboundContent::default(),
            later,
            later,
        )
        .await
        .unwrap();
    assert!(outcome.record().holds_messages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_releases_release_each_message_once() {
    let (_env, stores) = stores(4).await;
    let business = BusinessId::parse("acme").unwrap();
    for round in 0..5 {
        let to = PhoneNumber::parse(&format!("+44791112345{round}")).unwrap();
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(hold(&stores[0], &business, &to, false).await.0);
        }
        user_writes(&stores[0], &business, &to, &format!("t{round}")).await;
        // Two inbound callbacks (or a redelivery) releasing at once, from several containers.
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let store = stores[i].clone();
                let (business, to) = (business.clone(), to.clone());
                tokio::spawn(
                    async move { store.messages().release_held(&business, &to, NOW).await },
                )
            })
            .collect();
        let mut moved = 0;
        for task in tasks {
            moved += task
                .await
                .unwrap()
                .unwrap()
                .iter()
                .filter(|s| s.moved_now)
                .count();
        }
        assert_eq!(moved, 4, "each of the 4 moved exactly once");
        for id in &ids {
            let held = stores[0]
                .messages()
                .get_held(&business, id, NOW)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(held.state, HeldState::Released);
            assert!(message_exists(&stores[0], &business, id).await);
        }
        let c = stores[0]
            .conversations()
            .get_conversation(&business, &to)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            c.session.map(|s| (s.messages_sent, s.consecutive)),
            Some((4, 4)),
            "counted once each"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_users_message_racing_the_deadline_has_exactly_one_outcome() {
    let (_env, stores) = stores(2).await;
    let business = BusinessId::parse("acme").unwrap();
    let deadline = NOW.plus(UNTIL);
    let mut outcomes = std::collections::HashMap::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let to = PhoneNumber::parse(&format!("+4479111234{i:02}")).unwrap();
        let (id, _) = hold(&stores[0], &business, &to, true).await;
        let (a, b) = (stores[0].clone(), stores[1].clone());
        let business = business.clone();
        tasks.push(tokio::spawn(async move {
            let user = {
                let (business, to) = (business.clone(), to.clone());
                tokio::spawn(async move {
                    // Staggered, so that both orders occur.
                    tokio::time::sleep(Duration::from_millis(4 * (i % 10))).await;
                    a.conversations()
                        .record_inbound(
                            &business,
                            &to,
                            &format!("reply-{i}"),
                            &InboundContent::default(),
                            deadline,
                            deadline,
                        )
                        .await
                        .unwrap();
                    a.messages()
                        .release_held(&business, &to, deadline)
                        .await
                        .unwrap()
                })
            };
            let timer = {
                let (business, id) = (business.clone(), id.clone());
                tokio::spawn(async move {
                    b.messages()
                        .settle_held(&business, &id, deadline)
                        .await
                        .unwrap()
                })
            };
            let released = user.await.unwrap();
            let at_deadline = timer.await.unwrap().expect("kept");
            (to, id, released, at_deadline)
        }));
    }
    for task in tasks {
        let (to, id, released, at_deadline) = task.await.unwrap();
        let movers =
            released.iter().filter(|s| s.moved_now).count() + usize::from(at_deadline.moved_now);
        assert_eq!(movers, 1, "exactly one of release and deadline moved {id}");
        let held = stores[0]
            .messages()
            .get_held(&business, &id, NOW)
            .await
            .unwrap()
            .unwrap();
        let message = stores[0]
            .messages()
            .get_message(&business, &id, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.hold.unwrap().outcome, held.state);
        let c = stores[0]
            .conversations()
            .get_conversation(&business, &to)
            .await
            .unwrap()
            .unwrap();
        let sent = c.session.map(|s| s.messages_sent);
        match held.state {
            HeldState::Released => {
                assert_eq!((message.kind.as_str(), sent), ("session", Some(1)));
            }
            HeldState::Fallback => {
                // The template went before the reply: the session counts nothing.
                assert_eq!((message.kind.as_str(), sent), ("template", Some(0)));
            }
            other => panic!("{id}: {other:?}"),
        }
        *outcomes.entry(held.state).or_insert(0) += 1;
    }
    eprintln!("outcomes of the race: {outcomes:?}");
    assert_eq!(outcomes.values().sum::<i32>(), 20);
}

#[tokio::test]
async fn at_the_deadline_the_fallback_goes_or_the_message_expires() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    let (with, _) = hold(&store, &business, &to, true).await;
    let (without, _) = hold(&store, &business, &to, false).await;
    let deadline = NOW.plus(UNTIL);

    let settled = store
        .messages()
        .settle_held(&business, &with, deadline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (settled.state, settled.moved_now),
        (HeldState::Fallback, true)
    );
    let message = store
        .messages()
        .get_message(&business, &with, deadline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (message.kind.as_str(), message.class.as_str()),
        ("template", "informative")
    );

    let settled = store
        .messages()
        .settle_held(&business, &without, deadline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (settled.state, settled.moved_now),
        (HeldState::Expired, true)
    );
    assert!(!message_exists(&store, &business, &without).await);
    // A timer fired twice: the second finds it settled.
    let again = store
        .messages()
        .settle_held(&business, &without, deadline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.state, again.moved_now), (HeldState::Expired, false));
    // Nothing held any more: a user message adds nothing.
    assert!(!user_writes(&store, &business, &to, "t1").await);
}

#[tokio::test]
async fn erasure_deletes_held_messages_and_an_opt_out_drops_them() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    let (id, _) = hold(&store, &business, &to, true).await;
    store.erasure().erase_contact(&business, &to).await.unwrap();
    assert!(
        store
            .messages()
            .get_held(&business, &id, NOW)
            .await
            .unwrap()
            .is_none()
    );
    // Its deadline then finds nothing to do.
    assert!(
        store
            .messages()
            .settle_held(&business, &id, NOW.plus(UNTIL))
            .await
            .unwrap()
            .is_none()
    );

    let other = PhoneNumber::parse("+447911123457").unwrap();
    let (id, _) = hold(&store, &business, &other, true).await;
    store
        .conversations()
        .change_conversation(&business, &other, NOW, |c| c.opt_out())
        .await
        .unwrap();
    let dropped = store
        .messages()
        .drop_held(&business, &other, Refusal::RecipientOptedOut, NOW)
        .await
        .unwrap();
    assert_eq!(dropped.len(), 1);
    let held = store
        .messages()
        .get_held(&business, &id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (held.state, held.reason.as_deref()),
        (HeldState::Dropped, Some("recipient_opted_out"))
    );
    // The user writing later releases nothing.
    assert!(!user_writes(&store, &business, &other, "t1").await);
    assert!(!message_exists(&store, &business, &id).await);
}

/// Releases count against the business's caps in their own write, as direct sends do: with a
/// daily cap of 2 session messages and four users writing back at once (four stores), exactly
/// two held messages go and are counted; the others are dropped `quota_exceeded` (a cap is
/// not cured by the user's next reply), each exactly once, and a second release changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releases_count_against_the_caps_and_one_over_a_cap_is_dropped_once() {
    use session_rules::caps::{Cap, CapPeriod, CapSubject};
    let (_env, stores) = stores(4).await;
    let business = BusinessId::parse("capped").unwrap();
    stores[0]
        .businesses()
        .create_business(&vbm_store::NewBusiness {
            id: business.clone(),
            service_id: 7100,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let cap = Cap {
        subject: CapSubject::Category(BillingCategory::Session),
        period: CapPeriod::Day,
        limit: 2,
    };
    stores[0]
        .businesses()
        .update_caps(&business, |caps| {
            caps.set(cap.subject, cap.period, Some(u64::from(cap.limit)))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let numbers: Vec<PhoneNumber> = (0..4)
        .map(|i| PhoneNumber::parse(&format!("+4479112000{i:02}")).unwrap())
        .collect();
    let mut ids = Vec::new();
    for to in &numbers {
        let (id, outcome) = hold(&stores[0], &business, to, false).await;
        assert!(matches!(outcome, HoldOutcome::Held { .. }), "{outcome:?}");
        ids.push(id);
    }
    let count = || async {
        stores[0]
            .businesses()
            .cap_counts(&business, &[cap], NOW)
            .await
            .unwrap()[0]
            .count
    };
    assert_eq!(count().await, 0, "held: counted in nothing");

    let tasks: Vec<_> = numbers
        .iter()
        .enumerate()
        .map(|(i, to)| {
            let (store, business, to) = (stores[i].clone(), business.clone(), to.clone());
            tokio::spawn(async move {
                assert!(user_writes(&store, &business, &to, &format!("t{i}")).await);
                store
                    .messages()
                    .release_held(&business, &to, NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut states = Vec::new();
    for task in tasks {
        let settled = task.await.unwrap();
        assert_eq!(settled.len(), 1);
        assert!(settled[0].moved_now);
        states.push(settled[0].state);
    }
    let released = states.iter().filter(|s| **s == HeldState::Released).count();
    let dropped = states.iter().filter(|s| **s == HeldState::Dropped).count();
    assert_eq!((released, dropped), (2, 2), "{states:?}");
    assert_eq!(count().await, 2, "each release counted once");
    for id in &ids {
        let held = stores[0]
            .messages()
            .get_held(&business, id, NOW)
            .await
            .unwrap()
            .unwrap();
        let sent = message_exists(&stores[0], &business, id).await;
        match held.state {
            HeldState::Released => assert!(sent),
            HeldState::Dropped => {
                assert!(!sent, "over the cap: not sent");
                assert_eq!(held.reason.as_deref(), Some("quota_exceeded"));
            }
            other => panic!("{other:?}"),
        }
    }
    // Again (a redelivered callback, the deadline): nothing moves, nothing more is counted.
    for to in &numbers {
        let again = stores[1]
            .messages()
            .release_held(&business, to, NOW)
            .await
            .unwrap();
        assert!(again.iter().all(|s| !s.moved_now), "{again:?}");
    }
    for id in &ids {
        let settled = stores[2]
            .messages()
            .settle_held(&business, id, NOW.plus(UNTIL))
            .await
            .unwrap()
            .unwrap();
        assert!(!settled.moved_now);
    }
    assert_eq!(count().await, 2);
}

/// At the deadline the fallback template counts against its category's caps too: over one, the
/// held message is dropped `quota_exceeded` and nothing goes.
#[tokio::test]
async fn a_fallback_over_its_cap_is_dropped_at_the_deadline() {
    use session_rules::caps::CapPeriod;
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("capped").unwrap();
    store
        .businesses()
        .create_business(&vbm_store::NewBusiness {
            id: business.clone(),
            service_id: 7101,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    store
        .businesses()
        .update_caps(&business, |caps| {
            caps.set(
                session_rules::caps::CapSubject::Category(BillingCategory::TransactionalTemplate),
                CapPeriod::Month,
                Some(0),
            )
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    let (id, outcome) = hold(&store, &business, &to, true).await;
    assert!(matches!(outcome, HoldOutcome::Held { .. }), "{outcome:?}");
    let settled = store
        .messages()
        .settle_held(&business, &id, NOW.plus(UNTIL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (settled.state, settled.moved_now),
        (HeldState::Dropped, true)
    );
    let held = store
        .messages()
        .get_held(&business, &id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.reason.as_deref(), Some("quota_exceeded"));
    assert!(!message_exists(&store, &business, &id).await);
}
