//! The usage counters against the emulator: after a run with retried requests (the same
//! Idempotency-Key twice), redelivered dispatch jobs and campaign chunks, duplicate, late,
//! reordered and concurrent status callbacks and a redelivered user message, the figures are
//! exactly what the stored messages themselves say.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use session_rules::campaign::CampaignRecipient;
use session_rules::usage::{Usage, UsageRange};
use session_rules::{BillingCategory, MessageStatus, PhoneNumber, SendClass, Timestamp};
use vbm_store::{
    BusinessId, CampaignId, Candidate, ChunkRef, CreateOutcome, Failure, IdempotencyKey,
    InboundContent, Marked, MessageId, NewCampaign, NewSend, SendOutcome, Sent, Store,
};

use crate::common::{NOW, fresh, informative};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(NOW.as_millis() + seconds * 1000)
}

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479222{i:05}")).unwrap()
}

fn acme() -> BusinessId {
    BusinessId::parse("acme").unwrap()
}

/// The usage of `from..=to` summed over its periods.
async fn usage(store: &Store, from: &str, to: &str) -> Usage {
    let range = UsageRange::parse(from, to, Some("day")).unwrap();
    let mut sum = Usage::default();
    for (_, day) in store.businesses().usage(&acme(), &range).await.unwrap() {
        sum.merge(&day);
    }
    sum.without_zeros()
}

/// What the stored messages say: their statuses (a failure by its reason), and how many were
/// accepted and billable by category.
async fn tally(store: &Store, ids: &[MessageId]) -> Usage {
    let mut t = Usage::default();
    for id in ids {
        let m = store
            .messages()
            .get_message(&acme(), id, NOW)
            .await
            .unwrap()
            .unwrap();
        let billing = m.billing.expect("billing recorded");
        *t.accepted.entry(billing.category).or_default() += 1;
        if billing.billable {
            *t.billable.entry(billing.category).or_default() += 1;
        }
        let name = match (m.track.current, &m.failure) {
            (MessageStatus::Accepted, _) => continue,
            (MessageStatus::Failed, Some(f)) => format!("failed_{}", f.reason),
            (status, _) => status.as_str().to_owned(),
        };
        *t.statuses.entry(name).or_default() += 1;
    }
    t.without_zeros()
}

async fn mark_sent(store: &Store, id: &MessageId, token: &str, when: Timestamp) -> Marked {
    let message = store
        .messages()
        .get_message(&acme(), id, NOW)
        .await
        .unwrap()
        .unwrap();
    let to = PhoneNumber::parse(&message.to).unwrap();
    store
        .messages()
        .mark_sent(
            &message,
            &to,
            Sent {
                token: Some(token),
                session_id: None,
                at: when,
            },
        )
        .await
        .unwrap()
}

async fn mark_failed(store: &Store, id: &MessageId, reason: &str) -> Marked {
    let message = store
        .messages()
        .get_message(&acme(), id, NOW)
        .await
        .unwrap()
        .unwrap();
    let to = PhoneNumber::parse(&message.to).unwrap();
    let failure = Failure {
        code: Some(9),
        reason: reason.into(),
    };
    store
        .messages()
        .mark_failed(&message, &to, &failure, at(1), false)
        .await
        .unwrap()
}

async fn apply(store: &Store, id: &MessageId, status: MessageStatus, when: Timestamp) {
    store
        .messages()
        .apply_status(&acme(), id, status, when)
        .await
        .unwrap()
        .expect("the message is stored");
}

/// A campaign of `count` new numbers (from `first`), admitted twice (a redelivered chunk job):
/// its message ids.
async fn campaign(store: &Store, first: usize, count: usize) -> Vec<MessageId> {
    let business = acme();
    let id = CampaignId::generate();
    let list: Vec<CampaignRecipient> = (first..first + count)
        .map(|i| CampaignRecipient {
            to: number(i).as_e164().to_owned(),
            params: Default::default(),
        })
        .collect();
    let created = store
        .campaigns()
        .create_campaign(&NewCampaign {
            business: &business,
            id: id.clone(),
            name: None,
            message: r#"{"type":"promotional","text":"Sale"}"#,
            recipients: &list,
            send_at: None,
            window: None,
            idempotency: None,
            now: NOW,
        })
        .await
        .unwrap();
    assert!(matches!(created, CreateOutcome::Created(_)));
    store
        .campaigns()
        .start_campaign(&business, &id, NOW)
        .await
        .unwrap();
    let phones: Vec<PhoneNumber> = (first..first + count).map(number).collect();
    for delivery in 0..2 {
        let candidates = phones
            .iter()
            .enumerate()
            .map(|(slot, to)| Candidate::Send {
                slot,
                send: NewSend {
                    class: SendClass::Informative,
                    kind: "transactional",
                    billing: BillingCategory::TransactionalTemplate,
                    ..informative(&business, id.message_id(slot), to, NOW)
                },
            })
            .collect();
        let report = store
            .campaigns()
            .admit_chunk(
                ChunkRef {
                    business: &business,
                    campaign: &id,
                    chunk: 0,
                },
                count,
                &BTreeSet::new(),
                candidates,
            )
            .await
            .unwrap();
        if delivery == 0 {
            assert_eq!(report.queued, count);
        } else {
            assert_eq!(report.queued, 0, "a redelivered chunk admits nothing again");
        }
    }
    (0..count).map(|i| id.message_id(i)).collect()
}

#[tokio::test]
async fn usage_is_the_tally_of_the_messages_after_retries_and_repeats() {
    let (_env, store) = fresh().await;
    let business = acme();
    let mut ids = Vec::new();

    // Six single transactional sends; the first retried with its Idempotency-Key.
    let key = IdempotencyKey::parse("order-1").unwrap();
    for i in 0..6 {
        let to = number(i);
        let id = MessageId::generate();
        let mut send = informative(&business, id.clone(), &to, NOW);
        if i == 0 {
            send.idempotency = Some((&key, "hash-1"));
        }
        assert!(matches!(
            store.messages().record_send(&send).await.unwrap(),
            SendOutcome::Accepted { .. }
        ));
        if i == 0 {
            let retry = NewSend {
                message_id: MessageId::generate(),
                ..send.clone()
            };
            assert!(matches!(
                store.messages().record_send(&retry).await.unwrap(),
                SendOutcome::Replayed { .. }
            ));
        }
        ids.push(id);
    }
    // A user writes (the callback comes twice): a session, counted once; two session
    // replies, the first billable.
    let user = number(100);
    for _ in 0..2 {
        store
            .conversations()
            .record_inbound(
                &business,
                &user,
                "inbound-1",
                &InboundContent {
                    text: Some("hi".into()),
                    ..Default::default()
                },
                at(0),
                at(0),
            )
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let id = MessageId::generate();
        let send = NewSend {
            class: SendClass::Session,
            kind: "session",
            billing: BillingCategory::Session,
            ..informative(&business, id.clone(), &user, at(1))
        };
        assert!(matches!(
            store.messages().record_send(&send).await.unwrap(),
            SendOutcome::Accepted { .. }
        ));
        ids.push(id);
    }
    // A campaign of four, its chunk delivered twice.
    let recipients = campaign(&store, 200, 4).await;
    ids.extend(recipients.iter().cloned());

    // Dispatch, each job delivered twice; one refused by Viber.
    for (i, id) in ids.iter().enumerate() {
        if i == 3 {
            assert_eq!(
                mark_failed(&store, id, "SRVC_NOT_VIBER_USER").await,
                Marked::Recorded
            );
            assert_eq!(
                mark_failed(&store, id, "SRVC_NOT_VIBER_USER").await,
                Marked::AlreadyHandled
            );
            continue;
        }
        let token = format!("token-{i}");
        assert_eq!(mark_sent(&store, id, &token, at(2)).await, Marked::Recorded);
        assert_eq!(
            mark_sent(&store, id, &token, at(2)).await,
            Marked::AlreadyHandled
        );
    }
    // Callbacks: repeated, late, reordered.
    use MessageStatus::{Delivered, Expired, Seen};
    let d = |s: i64| at(10 + s);
    apply(&store, &ids[0], Delivered, d(1)).await;
    apply(&store, &ids[0], Delivered, d(1)).await;
    apply(&store, &ids[0], Delivered, d(2)).await;
    apply(&store, &ids[0], Seen, d(3)).await;
    apply(&store, &ids[0], Seen, d(3)).await;
    apply(&store, &ids[1], Seen, d(3)).await;
    apply(&store, &ids[1], Delivered, d(1)).await;
    apply(&store, &ids[2], Expired, d(1)).await;
    apply(&store, &ids[2], Delivered, d(2)).await;
    apply(&store, &ids[4], Expired, d(1)).await;
    apply(&store, &ids[4], Expired, d(5)).await;
    apply(&store, &ids[6], Delivered, d(1)).await;
    apply(&store, &recipients[0], Delivered, d(1)).await;
    apply(&store, &recipients[0], Seen, d(2)).await;
    apply(&store, &recipients[1], Seen, d(2)).await;
    apply(&store, &recipients[1], Seen, d(2)).await;

    let day = session_rules::usage::Day::of(NOW).to_string();
    let counted = usage(&store, &day, &day).await;
    let mut expected = tally(&store, &ids).await;
    expected.sessions_opened = 1;
    expected.campaign_recipients = 4;
    assert_eq!(counted, expected);
    // The figures themselves, so the tally cannot agree by being wrong the same way.
    assert_eq!(
        counted.accepted[&BillingCategory::TransactionalTemplate],
        10
    );
    assert_eq!(counted.accepted[&BillingCategory::Session], 2);
    assert_eq!(counted.billable[&BillingCategory::Session], 1);
    assert_eq!(counted.statuses["seen"], 4);
    assert_eq!(counted.statuses["failed_SRVC_NOT_VIBER_USER"], 1);
}

#[tokio::test]
async fn a_status_on_a_later_day_moves_that_day_and_the_range_adds_up() {
    let (_env, store) = fresh().await;
    let business = acme();
    let to = number(1);
    let id = MessageId::generate();
    store
        .messages()
        .record_send(&informative(&business, id.clone(), &to, NOW))
        .await
        .unwrap();
    mark_sent(&store, &id, "t-1", at(1)).await;
    let next_day = at(86_400);
    apply(&store, &id, MessageStatus::Delivered, next_day).await;

    let first = session_rules::usage::Day::of(NOW);
    let second = first.next();
    let one = usage(&store, &first.to_string(), &first.to_string()).await;
    assert_eq!(one.statuses, BTreeMap::from([("sent".to_owned(), 1)]));
    let two = usage(&store, &second.to_string(), &second.to_string()).await;
    assert_eq!(
        two.statuses,
        BTreeMap::from([("sent".to_owned(), -1), ("delivered".to_owned(), 1)])
    );
    assert!(two.accepted.is_empty());
    let both = usage(&store, &first.to_string(), &second.to_string()).await;
    assert_eq!(both.statuses, BTreeMap::from([("delivered".to_owned(), 1)]));
    // By month: one period holding both days (unless they straddle a month's end).
    let range = UsageRange::parse(&first.to_string(), &second.to_string(), Some("month")).unwrap();
    let months = store.businesses().usage(&business, &range).await.unwrap();
    assert_eq!(months.len(), range.periods().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callbacks_for_one_message_count_it_once() {
    let (_env, store) = fresh().await;
    let store = Arc::new(store);
    let business = acme();
    let mut ids = Vec::new();
    for i in 0..12 {
        let to = number(i);
        let id = MessageId::generate();
        store
            .messages()
            .record_send(&informative(&business, id.clone(), &to, NOW))
            .await
            .unwrap();
        mark_sent(&store, &id, &format!("c-{i}"), at(1)).await;
        ids.push(id);
    }
    // Every message's callbacks at once, each three times: even ones delivered, expired and
    // seen (ending seen), odd ones delivered and expired (ending delivered).
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut callbacks = vec![(MessageStatus::Delivered, 2), (MessageStatus::Expired, 3)];
        if i % 2 == 0 {
            callbacks.push((MessageStatus::Seen, 4));
        }
        for (status, seconds) in callbacks {
            for _ in 0..3 {
                let (store, id) = (Arc::clone(&store), id.clone());
                tasks.push(tokio::spawn(async move {
                    apply(&store, &id, status, at(seconds)).await;
                }));
            }
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let day = session_rules::usage::Day::of(NOW).to_string();
    let counted = usage(&store, &day, &day).await;
    assert_eq!(counted, tally(&store, &ids).await);
    assert_eq!(
        counted.statuses,
        BTreeMap::from([("seen".to_owned(), 6), ("delivered".to_owned(), 6)])
    );
}
