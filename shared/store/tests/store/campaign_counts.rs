//! A campaign's messages counted by status against the emulator: each message once,
//! under the status it stands at, whatever `dispatch` redelivers and Viber repeats, reorders
//! or sends concurrently; single sends write no counter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use session_rules::campaign::CampaignRecipient;
use session_rules::{Limits, MessageStatus, PhoneNumber, SendClass, Timestamp};
use vbm_store::{
    BusinessId, CampaignId, Candidate, ChunkRef, CreateOutcome, Failure, Marked, MessageId,
    NewCampaign, NewSend, Retention, SendOutcome, Sent, Store,
};
use vbm_testkit::TestEnv;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(NOW.as_millis() + seconds * 1000)
}

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479111{i:05}")).unwrap()
}

fn acme() -> BusinessId {
    BusinessId::parse("acme").unwrap()
}

async fn store() -> (TestEnv, Store) {
    let env = TestEnv::fresh();
    let store = Store::new(
        env.dynamodb().await,
        env.table.clone(),
        Limits::default(),
        Retention::default(),
    );
    (env, store)
}

/// A running campaign of `count` new numbers, all admitted: their message ids.
async fn admitted(store: &Store, count: usize) -> (CampaignId, Vec<MessageId>) {
    let business = acme();
    let id = CampaignId::generate();
    let list: Vec<CampaignRecipient> = (0..count)
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
            message: r#"{"type":"transactional","text":"Hi"}"#,
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
    let phones: Vec<PhoneNumber> = (0..count).map(number).collect();
    let candidates = phones
        .iter()
        .enumerate()
        .map(|(slot, to)| Candidate::Send {
            slot,
            send: NewSend {
                business: &business,
                message_id: id.message_id(slot),
                to,
                class: SendClass::Informative,
                kind: "transactional",
                billing: session_rules::BillingCategory::TransactionalTemplate,
                payload: "{}",
                service_id: None,
                idempotency: None,
                failover: None,
                now: NOW,
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
    assert_eq!(report.queued, count);
    let ids = (0..count).map(|i| id.message_id(i)).collect();
    (id, ids)
}

async fn mark_sent(store: &Store, id: &MessageId, i: usize) -> Marked {
    let message = store
        .messages()
        .get_message(&acme(), id, NOW)
        .await
        .unwrap()
        .unwrap();
    let token = format!("token-{i}");
    store
        .messages()
        .mark_sent(
            &message,
            &number(i),
            Sent {
                token: Some(&token),
                session_id: None,
                at: at(1),
            },
        )
        .await
        .unwrap()
}

async fn mark_failed(store: &Store, id: &MessageId, i: usize, reason: &str) -> Marked {
    let message = store
        .messages()
        .get_message(&acme(), id, NOW)
        .await
        .unwrap()
        .unwrap();
    let failure = Failure {
        code: Some(9),
        reason: reason.into(),
    };
    store
        .messages()
        .mark_failed(&message, &number(i), &failure, at(1), false)
        .await
        .unwrap()
}

async fn apply(store: &Store, id: &MessageId, status: MessageStatus, seconds: i64) {
    store
        .messages()
        .apply_status(&acme(), id, status, at(seconds))
        .await
        .unwrap()
        .expect("the message is stored");
}

/// The counts the messages themselves give: each by its current status (and reason).
async fn tally(store: &Store, ids: &[MessageId]) -> BTreeMap<String, i64> {
    let mut by = BTreeMap::new();
    for id in ids {
        let m = store
            .messages()
            .get_message(&acme(), id, NOW)
            .await
            .unwrap()
            .unwrap();
        let name = match (m.track.current, &m.failure) {
            (MessageStatus::Accepted, _) => continue,
            (MessageStatus::Failed, Some(f)) => format!("failed_{}", f.reason),
            (status, _) => status.as_str().to_owned(),
        };
        *by.entry(name).or_default() += 1;
    }
    by
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn repeated_late_and_reordered_statuses_count_each_message_once() {
    let (_env, store) = store().await;
    let (campaign, ids) = admitted(&store, 8).await;

    // 0: a redelivered dispatch job, the same delivered twice, another delivered, seen twice.
    assert_eq!(mark_sent(&store, &ids[0], 0).await, Marked::Recorded);
    assert_eq!(mark_sent(&store, &ids[0], 0).await, Marked::AlreadyHandled);
    apply(&store, &ids[0], MessageStatus::Delivered, 2).await;
    apply(&store, &ids[0], MessageStatus::Delivered, 2).await;
    apply(&store, &ids[0], MessageStatus::Delivered, 3).await;
    apply(&store, &ids[0], MessageStatus::Seen, 4).await;
    apply(&store, &ids[0], MessageStatus::Seen, 4).await;
    // 1: seen before delivered: seen, once.
    mark_sent(&store, &ids[1], 1).await;
    apply(&store, &ids[1], MessageStatus::Seen, 4).await;
    apply(&store, &ids[1], MessageStatus::Delivered, 2).await;
    // 2: expired, then delivered after all (forward: delivered ranks above expired).
    mark_sent(&store, &ids[2], 2).await;
    apply(&store, &ids[2], MessageStatus::Expired, 2).await;
    apply(&store, &ids[2], MessageStatus::Delivered, 3).await;
    // 3: failed, redelivered as failed and as sent: failed once, by its reason.
    assert_eq!(
        mark_failed(&store, &ids[3], 3, "SRVC_NOT_VIBER_USER").await,
        Marked::Recorded
    );
    assert_eq!(
        mark_failed(&store, &ids[3], 3, "SRVC_NOT_VIBER_USER").await,
        Marked::AlreadyHandled
    );
    assert_eq!(mark_sent(&store, &ids[3], 3).await, Marked::AlreadyHandled);
    // 4: sent only. 5: expired twice. 6: blocked. 7: still accepted.
    mark_sent(&store, &ids[4], 4).await;
    mark_sent(&store, &ids[5], 5).await;
    apply(&store, &ids[5], MessageStatus::Expired, 2).await;
    apply(&store, &ids[5], MessageStatus::Expired, 5).await;
    mark_failed(&store, &ids[6], 6, "SRVC_USER_BLOCKED").await;

    let expected = counts(&[
        ("seen", 2),
        ("delivered", 1),
        ("sent", 1),
        ("expired", 1),
        ("failed_SRVC_NOT_VIBER_USER", 1),
        ("failed_SRVC_USER_BLOCKED", 1),
    ]);
    let stored = store
        .campaigns()
        .campaign_status_counts(&acme(), &campaign)
        .await
        .unwrap();
    assert_eq!(stored, expected);
    assert_eq!(tally(&store, &ids).await, expected);

    // The campaign shows them beside its admission counts.
    let c = store
        .campaigns()
        .get_campaign(&acme(), &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("queued"), Some(&8));
    assert_eq!(c.statuses.get("seen"), Some(&2));
    assert_eq!(c.statuses.get("failed_SRVC_USER_BLOCKED"), Some(&1));
    assert_eq!(c.settled(), 8, "statuses are not settlements");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callbacks_count_each_message_once() {
    let (_env, store) = store().await;
    let store = Arc::new(store);
    let (campaign, ids) = admitted(&store, 24).await;
    for (i, id) in ids.iter().enumerate() {
        mark_sent(&store, id, i).await;
    }
    // Every message gets its callbacks at once, each twice (Viber's retries): the even ones
    // delivered, expired and seen (ending seen), the odd ones delivered and expired (ending
    // delivered). Racing moves of one message must give back exactly what they took.
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut callbacks = vec![(MessageStatus::Delivered, 2), (MessageStatus::Expired, 3)];
        if i % 2 == 0 {
            callbacks.push((MessageStatus::Seen, 4));
        }
        for (status, seconds) in callbacks {
            for _ in 0..2 {
                let (store, id) = (Arc::clone(&store), id.clone());
                tasks.push(tokio::spawn(async move {
                    apply(&store, &id, status, seconds).await;
                }));
            }
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let expected = counts(&[("seen", 12), ("delivered", 12)]);
    assert_eq!(tally(&store, &ids).await, expected);
    assert_eq!(
        store
            .campaigns()
            .campaign_status_counts(&acme(), &campaign)
            .await
            .unwrap(),
        expected
    );
}

#[tokio::test]
async fn a_single_send_writes_no_counter() {
    let (env, store) = store().await;
    let to = number(1);
    let id = MessageId::generate();
    let outcome = store
        .messages()
        .record_send(&NewSend {
            business: &acme(),
            message_id: id.clone(),
            to: &to,
            class: SendClass::Informative,
            kind: "transactional",
            billing: session_rules::BillingCategory::TransactionalTemplate,
            payload: "{}",
            service_id: None,
            idempotency: None,
            failover: None,
            now: NOW,
        })
        .await
        .unwrap();
    assert!(matches!(outcome, SendOutcome::Accepted { .. }));
    mark_sent(&store, &id, 1).await;
    apply(&store, &id, MessageStatus::Delivered, 2).await;
    apply(&store, &id, MessageStatus::Seen, 3).await;
    let m = store
        .messages()
        .get_message(&acme(), &id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.track.current, MessageStatus::Seen);
    assert_eq!(m.campaign, None);
    let shards = store
        .client()
        .scan()
        .table_name(&env.table)
        .filter_expression("begins_with(sk, :c)")
        .expression_attribute_values(
            ":c",
            aws_sdk_dynamodb::types::AttributeValue::S("CCOUNT#".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shards.count(), 0, "{:?}", shards.items());
}
