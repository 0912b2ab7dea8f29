//! SMS failover on the emulator: the claim is the one decision "failover now?",
//! and it is atomic with the status writes and the opt-out. Concurrency with real tasks.

use std::sync::Arc;
use std::time::Duration;

use session_rules::failover::{
    FailoverSms, FailoverSpec, FailoverState, FailoverStep, Trigger, Triggers,
};
use session_rules::sms::{SmsAllowance, SmsPeriod};
use session_rules::{MessageStatus, PhoneNumber, Timestamp};
use vbm_store::{AttemptEnd, BusinessId, Claim, MessageId, NewSend, SendOutcome, Store};
use vbm_testkit::TestEnv;

use crate::common;

use common::NOW;

/// Caps no test of one message reaches.
const ALLOW: SmsAllowance = SmsAllowance {
    parts: 1,
    max_per_day: 1_000,
    max_per_month: 10_000,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(NOW.as_millis() + ms)
}

async fn store() -> (TestEnv, Store) {
    common::fresh().await
}

fn spec() -> FailoverSpec {
    FailoverSpec {
        sms: FailoverSms {
            text: "Your code is 1234".into(),
            sender_id: Some("Acme".into()),
        },
        triggers: Triggers {
            deadline_seconds: Some(60),
            ..Triggers::default()
        },
    }
}

/// A sent message to `phone` (distinct per test item), with a failover unless `without`.
async fn sent_message(
    store: &Store,
    phone: &PhoneNumber,
    failover: Option<&FailoverSpec>,
) -> MessageId {
    let business = BusinessId::parse("acme").unwrap();
    let id = MessageId::generate();
    let outcome = store
        .messages()
        .record_send(&NewSend {
            failover,
            ..common::informative(&business, id.clone(), phone, NOW)
        })
        .await
        .unwrap();
    assert!(matches!(outcome, SendOutcome::Accepted { .. }));
    store
        .messages()
        .apply_status(&business, &id, MessageStatus::Sent, at(1))
        .await
        .unwrap()
        .unwrap();
    id
}

fn phone(n: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479111{n:05}")).unwrap()
}

fn acme() -> BusinessId {
    BusinessId::parse("acme").unwrap()
}

#[tokio::test]
async fn one_claim_per_message_and_none_without_a_failover() {
    let (_env, store) = store().await;
    let id = sent_message(&store, &phone(1), Some(&spec())).await;
    let (business, to) = (acme(), phone(1));
    let messages = store.messages();
    let claim = |trigger| messages.claim_failover(&business, &id, &to, trigger, &ALLOW, at(2));
    assert_eq!(claim(Trigger::Expired).await.unwrap(), Claim::Claimed);
    // The same trigger again (a redelivery) and another trigger: taken, nothing written.
    assert_eq!(claim(Trigger::Expired).await.unwrap(), Claim::Taken);
    assert_eq!(claim(Trigger::Deadline).await.unwrap(), Claim::Taken);
    let message = store
        .messages()
        .get_message(&acme(), &id, at(3))
        .await
        .unwrap()
        .unwrap();
    let failover = message.failover.unwrap();
    assert_eq!(failover.state, Some(FailoverState::Claimed));
    assert_eq!(failover.trigger, Some(Trigger::Expired));
    assert_eq!(failover.spec, spec());
    let steps: Vec<_> = message.history.iter().filter_map(|e| e.failover).collect();
    assert_eq!(steps, [FailoverStep::Triggered]);

    let plain = sent_message(&store, &phone(2), None).await;
    assert_eq!(
        store
            .messages()
            .claim_failover(&acme(), &plain, &phone(2), Trigger::Expired, &ALLOW, at(2))
            .await
            .unwrap(),
        Claim::NoFailover
    );
    let gone = MessageId::generate();
    assert_eq!(
        store
            .messages()
            .claim_failover(&acme(), &gone, &phone(2), Trigger::Expired, &ALLOW, at(2))
            .await
            .unwrap(),
        Claim::Gone
    );
}

#[tokio::test]
async fn never_after_delivered_nor_for_an_opted_out_user() {
    let (_env, store) = store().await;
    let delivered = sent_message(&store, &phone(1), Some(&spec())).await;
    store
        .messages()
        .apply_status(&acme(), &delivered, MessageStatus::Delivered, at(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .messages()
            .claim_failover(
                &acme(),
                &delivered,
                &phone(1),
                Trigger::Deadline,
                &ALLOW,
                at(3)
            )
            .await
            .unwrap(),
        Claim::Delivered
    );

    let opted_out = sent_message(&store, &phone(2), Some(&spec())).await;
    assert!(
        store
            .conversations()
            .set_opted_out(&acme(), &phone(2), true, at(2))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .messages()
            .claim_failover(
                &acme(),
                &opted_out,
                &phone(2),
                Trigger::Expired,
                &ALLOW,
                at(3)
            )
            .await
            .unwrap(),
        Claim::OptedOut
    );
    for id in [&delivered, &opted_out] {
        let message = store
            .messages()
            .get_message(&acme(), id, at(4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.failover.unwrap().state, None, "nothing claimed");
        assert!(message.history.iter().all(|e| e.failover.is_none()));
    }
}

/// A late `delivered` racing the deadline, on 30 messages at once: the claim and the status
/// write are serialized by DynamoDB, so either the claim came first (and the `delivered` is
/// recorded after it) or the `delivered` did and nothing is claimed. Never a claim after it.
#[tokio::test]
async fn a_late_delivered_racing_the_deadline_claims_at_most_before_it() {
    let (_env, store) = store().await;
    let store = Arc::new(store);
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push((n, sent_message(&store, &phone(n), Some(&spec())).await));
    }
    let mut tasks = Vec::new();
    for (n, id) in &ids {
        let (n, id) = (*n, id.clone());
        let (s1, s2) = (store.clone(), store.clone());
        let id2 = id.clone();
        tasks.push(tokio::spawn(async move {
            s1.messages()
                .apply_status(&acme(), &id, MessageStatus::Delivered, at(60_000))
                .await
                .unwrap()
        }));
        tasks.push(tokio::spawn(async move {
            s2.messages()
                .claim_failover(
                    &acme(),
                    &id2,
                    &phone(n),
                    Trigger::Deadline,
                    &ALLOW,
                    at(60_001),
                )
                .await
                .map(|c| {
                    assert!(matches!(c, Claim::Claimed | Claim::Delivered), "{c:?}");
                    None
                })
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (mut claimed, mut not) = (0, 0);
    for (_, id) in &ids {
        let message = store
            .messages()
            .get_message(&acme(), id, at(70_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            message.track.current,
            MessageStatus::Delivered,
            "the delivered is recorded"
        );
        let delivered = message
            .history
            .iter()
            .position(|e| e.status == Some(MessageStatus::Delivered))
            .unwrap();
        match message
            .history
            .iter()
            .position(|e| e.failover == Some(FailoverStep::Triggered))
        {
            Some(triggered) => {
                assert!(
                    triggered < delivered,
                    "a claim after delivered: {:?}",
                    message.history
                );
                assert_eq!(
                    message.failover.unwrap().state,
                    Some(FailoverState::Claimed)
                );
                claimed += 1;
            }
            None => {
                assert_eq!(message.failover.unwrap().state, None);
                not += 1;
            }
        }
    }
    assert_eq!(claimed + not, 30);
    eprintln!("race outcomes: {claimed} claimed before the delivered, {not} after it");
}

/// The `expired` callback, the deadline and redeliveries of both, all at once: one claim.
#[tokio::test]
async fn concurrent_triggers_claim_once_and_one_caller_takes_the_attempt() {
    let (_env, store) = store().await;
    let store = Arc::new(store);
    let id = sent_message(&store, &phone(7), Some(&spec())).await;
    let claims = futures(20, |i| {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let trigger = if i % 2 == 0 {
                Trigger::Expired
            } else {
                Trigger::Deadline
            };
            store
                .messages()
                .claim_failover(&acme(), &id, &phone(7), trigger, &ALLOW, at(2))
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(claims.iter().filter(|c| **c == Claim::Claimed).count(), 1);
    assert_eq!(claims.iter().filter(|c| **c == Claim::Taken).count(), 19);

    let begun = futures(20, |_| {
        let (store, id) = (store.clone(), id.clone());
        async move {
            store
                .messages()
                .begin_failover_attempt(&acme(), &id, 0, Duration::from_secs(60), at(3))
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(begun.iter().filter(|b| **b).count(), 1, "one caller sends");
    // Its end is recorded once; a stale attempt number records nothing.
    assert!(
        store
            .messages()
            .end_failover_attempt(&acme(), &id, 1, AttemptEnd::Sent("sms-1"), at(4))
            .await
            .unwrap()
    );
    assert!(
        !store
            .messages()
            .end_failover_attempt(&acme(), &id, 1, AttemptEnd::Sent("sms-2"), at(5))
            .await
            .unwrap()
    );
    // The receipt moves it once; a repeat or another SMS's receipt does nothing.
    assert!(
        store
            .messages()
            .record_failover_receipt(&acme(), &id, "sms-1", None, at(6))
            .await
            .unwrap()
    );
    assert!(
        !store
            .messages()
            .record_failover_receipt(&acme(), &id, "sms-1", None, at(7))
            .await
            .unwrap()
    );
    let message = store
        .messages()
        .get_message(&acme(), &id, at(8))
        .await
        .unwrap()
        .unwrap();
    let failover = message.failover.unwrap();
    assert_eq!(failover.state, Some(FailoverState::Delivered));
    assert_eq!(failover.sms_message_id.as_deref(), Some("sms-1"));
    let steps: Vec<_> = message.history.iter().filter_map(|e| e.failover).collect();
    assert_eq!(
        steps,
        [
            FailoverStep::Triggered,
            FailoverStep::Sent,
            FailoverStep::Delivered
        ]
    );
}

#[tokio::test]
async fn an_attempt_whose_lease_ran_out_is_failed_never_retried() {
    let (_env, store) = store().await;
    let id = sent_message(&store, &phone(8), Some(&spec())).await;
    store
        .messages()
        .claim_failover(&acme(), &id, &phone(8), Trigger::Expired, &ALLOW, at(2))
        .await
        .unwrap();
    assert!(
        store
            .messages()
            .begin_failover_attempt(&acme(), &id, 0, Duration::from_secs(60), at(3))
            .await
            .unwrap()
    );
    // Still leased: not abandoned.
    assert!(
        !store
            .messages()
            .abandon_failover_attempt(&acme(), &id, 1, at(30_000))
            .await
            .unwrap()
    );
    assert!(
        store
            .messages()
            .abandon_failover_attempt(&acme(), &id, 1, at(61_000))
            .await
            .unwrap()
    );
    // The caller comes back late with the answer: not recorded, and no attempt can begin.
    assert!(
        !store
            .messages()
            .end_failover_attempt(&acme(), &id, 1, AttemptEnd::Sent("late"), at(62_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .messages()
            .begin_failover_attempt(&acme(), &id, 1, Duration::from_secs(60), at(63_000))
            .await
            .unwrap()
    );
    let failover = store
        .messages()
        .get_message(&acme(), &id, at(64_000))
        .await
        .unwrap()
        .unwrap()
        .failover
        .unwrap();
    assert_eq!(failover.state, Some(FailoverState::Failed));
    assert_eq!(failover.reason.as_deref(), Some("outcome_unknown"));
}

async fn futures<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// The SMS caps (the business's SMS policy): 30 claims on 30 messages at once against a day's
/// cap of 10 admit exactly 10, because each claim moves the day counter in its own
/// conditional write. The rest come back capped and change nothing.
#[tokio::test]
async fn thirty_concurrent_claims_against_a_day_cap_of_ten_admit_exactly_ten() {
    let (_env, store) = store().await;
    let store = Arc::new(store);
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push((
            n,
            sent_message(&store, &phone(100 + n), Some(&spec())).await,
        ));
    }
    let cap = SmsAllowance {
        parts: 2,
        max_per_day: 10,
        max_per_month: 10_000,
    };
    let tasks: Vec<_> = ids
        .iter()
        .map(|(n, id)| {
            let (store, id, n) = (store.clone(), id.clone(), *n);
            tokio::spawn(async move {
                store
                    .messages()
                    .claim_failover(&acme(), &id, &phone(100 + n), Trigger::Expired, &cap, at(2))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claims = Vec::new();
    for task in tasks {
        claims.push(task.await.unwrap());
    }
    let claimed = claims.iter().filter(|c| **c == Claim::Claimed).count();
    let capped = claims
        .iter()
        .filter(|c| **c == Claim::Capped(SmsPeriod::Day))
        .count();
    assert_eq!((claimed, capped), (10, 20), "{claims:?}");
    let usage = store.businesses().sms_usage(&acme(), at(3)).await.unwrap();
    assert_eq!((usage.day.sms, usage.day.parts), (10, 20));
    assert_eq!((usage.month.sms, usage.month.parts), (10, 20));
    // A capped message was not touched: no state, no history entry.
    for ((_, id), claim) in ids.iter().zip(&claims) {
        let message = store
            .messages()
            .get_message(&acme(), id, at(3))
            .await
            .unwrap()
            .unwrap();
        let failover = message.failover.unwrap();
        match claim {
            Claim::Claimed => assert_eq!(failover.state, Some(FailoverState::Claimed)),
            _ => {
                assert_eq!(failover.state, None);
                assert!(message.history.iter().all(|e| e.failover.is_none()));
            }
        }
    }
}

/// The month's cap holds across days; the day's counter starts again the next UTC day.
#[tokio::test]
async fn the_month_cap_holds_across_days_and_the_day_cap_resets_each_day() {
    let (_env, store) = store().await;
    let cap = SmsAllowance {
        parts: 1,
        max_per_day: 2,
        max_per_month: 3,
    };
    let day = 86_400_000;
    let mut outcomes = Vec::new();
    for (n, when) in [(0, 2), (1, 3), (2, 4), (3, day + 2), (4, day + 3)] {
        let id = sent_message(&store, &phone(200 + n), Some(&spec())).await;
        outcomes.push(
            store
                .messages()
                .claim_failover(
                    &acme(),
                    &id,
                    &phone(200 + n),
                    Trigger::Expired,
                    &cap,
                    at(when),
                )
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        outcomes,
        [
            Claim::Claimed,
            Claim::Claimed,
            Claim::Capped(SmsPeriod::Day),
            Claim::Claimed,
            Claim::Capped(SmsPeriod::Month),
        ]
    );
    let usage = store
        .businesses()
        .sms_usage(&acme(), at(day + 5))
        .await
        .unwrap();
    assert_eq!((usage.day.sms, usage.month.sms), (1, 3));
}

/// A refused failover is recorded once, with its reason, counted, and never claimed after.
#[tokio::test]
async fn a_refused_failover_is_recorded_once_counted_and_never_claimed() {
    let (_env, store) = store().await;
    let id = sent_message(&store, &phone(300), Some(&spec())).await;
    let business = acme();
    let messages = store.messages();
    let refuse = |reason| messages.refuse_failover(&business, &id, Trigger::Expired, reason, at(2));
    assert!(refuse("premium_rate").await.unwrap());
    assert!(!refuse("daily_cap").await.unwrap());
    assert_eq!(
        store
            .messages()
            .claim_failover(&acme(), &id, &phone(300), Trigger::Expired, &ALLOW, at(3))
            .await
            .unwrap(),
        Claim::Taken
    );
    let message = store
        .messages()
        .get_message(&acme(), &id, at(4))
        .await
        .unwrap()
        .unwrap();
    let failover = message.failover.unwrap();
    assert_eq!(failover.state, Some(FailoverState::Refused));
    assert_eq!(failover.reason.as_deref(), Some("premium_rate"));
    assert_eq!(failover.trigger, Some(Trigger::Expired));
    let steps: Vec<_> = message.history.iter().filter_map(|e| e.failover).collect();
    assert_eq!(steps, [FailoverStep::Refused]);
    let usage = store.businesses().sms_usage(&acme(), at(4)).await.unwrap();
    assert_eq!((usage.day.refused, usage.day.sms), (1, 0));
    assert_eq!((usage.month.refused, usage.month.sms), (1, 0));
    // A delivered message is not refused after the fact.
    let delivered = sent_message(&store, &phone(301), Some(&spec())).await;
    store
        .messages()
        .apply_status(&acme(), &delivered, MessageStatus::Delivered, at(5))
        .await
        .unwrap();
    assert!(
        !store
            .messages()
            .refuse_failover(&acme(), &delivered, Trigger::Deadline, "daily_cap", at(6))
            .await
            .unwrap()
    );
}
