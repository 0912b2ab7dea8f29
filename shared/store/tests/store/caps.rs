//! Caps per billing category, counted in the send's own transaction: real concurrency against
//! the emulator.

use std::sync::Arc;

use session_rules::caps::{Cap, CapPeriod, CapSubject};
use session_rules::{BillingCategory, PhoneNumber, SendClass};
use vbm_store::{BusinessId, IdempotencyKey, MessageId, NewSend, SendOutcome, Store};
use vbm_testkit::TestEnv;

use crate::common::{self, NOW};

fn promo_cap(period: CapPeriod, limit: u32) -> Cap {
    Cap {
        subject: CapSubject::Category(BillingCategory::Promotional),
        period,
        limit,
    }
}

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479111{i:05}")).unwrap()
}

/// Free-form transactional content, billed as promotional (it may open a conversation, which a
/// promotional message may not).
fn promotional<'a>(business: &'a BusinessId, to: &'a PhoneNumber) -> NewSend<'a> {
    NewSend {
        class: SendClass::Informative,
        kind: "transactional",
        billing: BillingCategory::Promotional,
        ..common::informative(business, MessageId::generate(), to, NOW)
    }
}

/// Sends to different numbers (no conversation contention): only the cap stands between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_against_a_cap_admit_exactly_the_cap() {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let stores: Vec<Arc<Store>> = (0..4)
        .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect();
    let business = BusinessId::parse("capped").unwrap();
    let caps = vec![
        promo_cap(CapPeriod::Day, 7),
        promo_cap(CapPeriod::Month, 100),
    ];
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let (business, caps) = (business.clone(), caps.clone());
            tokio::spawn(async move {
                let to = number(i);
                let outcome = store
                    .messages()
                    .record_send_within(&promotional(&business, &to), &caps)
                    .await
                    .expect("store available");
                let notices = match outcome {
                    SendOutcome::Accepted { .. } => store
                        .businesses()
                        .claim_cap_notices(&business, &caps, NOW)
                        .await
                        .expect("store available"),
                    _ => Vec::new(),
                };
                (outcome, notices)
            })
        })
        .collect();
    let (mut accepted, mut over, mut notices) = (0, 0, Vec::new());
    for task in tasks {
        let (outcome, told) = task.await.unwrap();
        match outcome {
            SendOutcome::Accepted { .. } => accepted += 1,
            SendOutcome::OverCap(cap) => {
                assert_eq!(cap, promo_cap(CapPeriod::Day, 7));
                over += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        notices.extend(told);
    }
    assert_eq!((accepted, over), (7, 23));
    let counts = stores[0]
        .businesses()
        .cap_counts(&business, &caps, NOW)
        .await
        .unwrap();
    assert_eq!(
        counts.iter().map(|c| c.count).collect::<Vec<_>>(),
        vec![7, 7]
    );
    // The day's cap was told at 80 % (6 of 7) and at 100 %, once each; the month's not yet.
    let mut told: Vec<(CapPeriod, u8)> = notices
        .iter()
        .map(|n| (n.cap.period, n.threshold))
        .collect();
    told.sort();
    assert_eq!(told, vec![(CapPeriod::Day, 80), (CapPeriod::Day, 100)]);
    // Nothing more to tell, whoever asks again.
    assert!(
        stores[1]
            .businesses()
            .claim_cap_notices(&business, &caps, NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn count(store: &Store, business: &BusinessId, caps: &[Cap]) -> u64 {
    store
        .businesses()
        .cap_counts(business, caps, NOW)
        .await
        .unwrap()[0]
        .count
}

#[tokio::test]
async fn a_retried_send_counts_once_and_is_answered_as_first_even_when_the_cap_is_full() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("retry").unwrap();
    let caps = vec![promo_cap(CapPeriod::Day, 2)];
    let key = IdempotencyKey::parse("order-1").unwrap();
    let to = number(1);
    let first_id = MessageId::generate();
    let keyed = |id: MessageId| NewSend {
        message_id: id,
        idempotency: Some((&key, "hash")),
        ..promotional(&business, &to)
    };
    let first = store
        .messages()
        .record_send_within(&keyed(first_id.clone()), &caps)
        .await
        .unwrap();
    assert!(matches!(first, SendOutcome::Accepted { .. }));
    // The retry (a new request id, the same key) replays, counting nothing.
    let retry = store
        .messages()
        .record_send_within(&keyed(MessageId::generate()), &caps)
        .await
        .unwrap();
    assert!(
        matches!(retry, SendOutcome::Replayed { ref message_id, .. } if *message_id == first_id)
    );
    assert_eq!(count(&store, &business, &caps).await, 1);
    // Fill the cap with another send, then retry the first again: still its answer.
    let other = number(2);
    let second = store
        .messages()
        .record_send_within(&promotional(&business, &other), &caps)
        .await
        .unwrap();
    assert!(matches!(second, SendOutcome::Accepted { .. }));
    let again = store
        .messages()
        .record_send_within(&keyed(MessageId::generate()), &caps)
        .await
        .unwrap();
    assert!(
        matches!(again, SendOutcome::Replayed { ref message_id, .. } if *message_id == first_id)
    );
    let third = number(3);
    let refused = store
        .messages()
        .record_send_within(&promotional(&business, &third), &caps)
        .await
        .unwrap();
    assert_eq!(refused, SendOutcome::OverCap(caps[0]));
    assert_eq!(count(&store, &business, &caps).await, 2);
    // The refused send wrote nothing: no conversation for its number.
    assert_eq!(
        store
            .conversations()
            .get_conversation(&business, &third)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_send_without_caps_writes_no_counter_and_other_categories_are_not_counted() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("uncapped").unwrap();
    let to = number(4);
    let caps = vec![promo_cap(CapPeriod::Day, 1)];
    // A template send: the promotional cap does not apply (the caller passes `for_send`).
    let template = common::informative(&business, MessageId::generate(), &to, NOW);
    assert!(matches!(
        store
            .messages()
            .record_send_within(&template, &[])
            .await
            .unwrap(),
        SendOutcome::Accepted { .. }
    ));
    assert_eq!(
        store
            .businesses()
            .cap_counts(&business, &caps, NOW)
            .await
            .unwrap()[0]
            .count,
        0
    );
    // A cap of 0 refuses without a write.
    let closed = vec![promo_cap(CapPeriod::Month, 0)];
    assert_eq!(
        store
            .messages()
            .record_send_within(&promotional(&business, &number(5)), &closed)
            .await
            .unwrap(),
        SendOutcome::OverCap(closed[0])
    );
    // The dry run says the same as the write, on the same state.
    let capped_to = number(6);
    let send = promotional(&business, &capped_to);
    assert!(matches!(
        store
            .messages()
            .preview_send_within(&send, &caps)
            .await
            .unwrap()
            .outcome,
        SendOutcome::Accepted { .. }
    ));
    assert!(matches!(
        store
            .messages()
            .record_send_within(&send, &caps)
            .await
            .unwrap(),
        SendOutcome::Accepted { .. }
    ));
    let next_to = number(7);
    let next = promotional(&business, &next_to);
    assert_eq!(
        store
            .messages()
            .preview_send_within(&next, &caps)
            .await
            .unwrap()
            .outcome,
        SendOutcome::OverCap(caps[0])
    );
    assert_eq!(
        store
            .messages()
            .record_send_within(&next, &caps)
            .await
            .unwrap(),
        SendOutcome::OverCap(caps[0])
    );
}

mod campaigns {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use session_rules::campaign::CampaignRecipient;
    use session_rules::caps::{CapPeriod, CapSubject, Caps};
    use session_rules::{BillingCategory, PhoneNumber};
    use vbm_store::{
        BusinessId, CampaignId, Candidate, ChunkRef, CreateOutcome, NewCampaign, Store,
    };
    use vbm_testkit::TestEnv;

    use super::number;
    use crate::common::{self, NOW};

    async fn create(store: &Store, business: &BusinessId, count: usize) -> CampaignId {
        let id = CampaignId::generate();
        let list: Vec<CampaignRecipient> = (0..count)
            .map(|i| CampaignRecipient {
                to: number(i).as_e164().to_owned(),
                params: Default::default(),
            })
            .collect();
        let outcome = store
            .campaigns()
            .create_campaign(&NewCampaign {
                business,
                id: id.clone(),
                name: None,
                message: r#"{"type":"template"}"#,
                recipients: &list,
                send_at: None,
                window: None,
                idempotency: None,
                now: NOW,
            })
            .await
            .unwrap();
        assert!(matches!(outcome, CreateOutcome::Created(_)));
        store
            .campaigns()
            .start_campaign(business, &id, NOW)
            .await
            .unwrap();
        id
    }

    /// One chunk's candidates, as the fan-out builds them: template sends.
    async fn admit(
        store: &Store,
        business: &BusinessId,
        campaign: &CampaignId,
        chunk: u32,
        caps: &Caps,
    ) -> vbm_store::Admitted {
        let at = ChunkRef {
            business,
            campaign,
            chunk,
        };
        let stored = store.campaigns().get_chunk(at).await.unwrap().unwrap();
        let phones: Vec<PhoneNumber> = stored
            .recipients
            .iter()
            .map(|r| PhoneNumber::parse(&r.to).unwrap())
            .collect();
        let candidates = phones
            .iter()
            .enumerate()
            .map(|(slot, to)| Candidate::Send {
                slot,
                send: common::informative(
                    business,
                    campaign.message_id(chunk as usize * 100 + slot),
                    to,
                    NOW,
                ),
            })
            .collect();
        let settled: BTreeSet<usize> = stored.settled.keys().copied().collect();
        store
            .campaigns()
            .admit_chunk_within(at, phones.len(), &settled, candidates, caps)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_chunks_admit_exactly_the_caps_room_and_refuse_the_rest_counted() {
        let env = TestEnv::fresh();
        let client = env.dynamodb().await;
        let stores: Vec<Arc<Store>> = (0..3)
            .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
            .collect();
        let business = BusinessId::parse("capped").unwrap();
        let mut caps = Caps::default();
        caps.set(CapSubject::CampaignRecipients, CapPeriod::Day, Some(130))
            .unwrap();
        caps.set(
            CapSubject::Category(BillingCategory::TransactionalTemplate),
            CapPeriod::Month,
            Some(1000),
        )
        .unwrap();
        // A promotional cap does not concern template recipients: no counter for it.
        caps.set(
            CapSubject::Category(BillingCategory::Promotional),
            CapPeriod::Day,
            Some(0),
        )
        .unwrap();
        let campaign = create(&stores[0], &business, 250).await;
        let tasks: Vec<_> = (0..3u32)
            .map(|chunk| {
                let store = stores[chunk as usize].clone();
                let (business, campaign, caps) = (business.clone(), campaign.clone(), caps.clone());
                tokio::spawn(async move { admit(&store, &business, &campaign, chunk, &caps).await })
            })
            .collect();
        let (mut queued, mut over) = (0, 0);
        for task in tasks {
            let admitted = task.await.unwrap();
            queued += admitted.queued;
            over += admitted.refused.get("quota_exceeded").copied().unwrap_or(0);
            assert_eq!(
                admitted.refused.len(),
                usize::from(admitted.refused.contains_key("quota_exceeded"))
            );
        }
        assert_eq!((queued, over), (130, 120));
        // A redelivered chunk admits and counts nothing more.
        let again = admit(&stores[1], &business, &campaign, 0, &caps).await;
        assert_eq!(again.queued, 0);
        let counts = stores[0]
            .businesses()
            .cap_counts(&business, &caps.all(), NOW)
            .await
            .unwrap();
        let by: Vec<(&str, u64)> = counts
            .iter()
            .map(|c| (c.cap.subject.as_str(), c.count))
            .collect();
        assert_eq!(
            by,
            vec![
                ("transactional_template", 130),
                ("promotional", 0),
                ("campaign_recipients", 130)
            ]
        );
        // The campaign counts the refusals by their reason.
        let stored = stores[0]
            .campaigns()
            .get_campaign(&business, &campaign)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.counts.get("refused_quota_exceeded"), Some(&120));
        assert_eq!(stored.counts.get("queued"), Some(&130));
        assert_eq!(env.footprint().await.outbox.len(), 130);
    }
}
