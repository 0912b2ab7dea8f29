//! A campaign of session messages that wait for each user's reply (`wait_for_session`): a
//! recipient without a session is held in the admitting write, counted `held`, and what became
//! of it (released, fallback, expired, dropped) counted in the write that moves it; a cancel
//! stops every held message that has not gone; the campaign completes when none is held.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use session_rules::campaign::{CampaignRecipient, Control};
use session_rules::{BillingCategory, Conversation, HeldState, PhoneNumber, SendClass};
use vbm_store::{
    Admitted, BusinessId, CampaignId, Candidate, ChunkRef, ControlOutcome, HeldFallback,
    InboundContent, MessageId, NewCampaign, NewHold, NewSend, Store,
};
use vbm_testkit::TestEnv;

use crate::common::{self, NOW};

const UNTIL: Duration = Duration::from_secs(3600);

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479112{i:05}")).unwrap()
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

/// A started campaign to numbers `first..first + count`.
async fn create_from(
    store: &Store,
    business: &BusinessId,
    first: usize,
    count: usize,
) -> CampaignId {
    let id = CampaignId::generate();
    let list: Vec<CampaignRecipient> = (first..first + count)
        .map(|i| CampaignRecipient {
            to: number(i).as_e164().to_owned(),
            params: Default::default(),
        })
        .collect();
    store
        .campaigns()
        .create_campaign(&NewCampaign {
            business,
            id: id.clone(),
            name: None,
            message: r#"{"type":"session","text":"your order shipped"}"#,
            recipients: &list,
            send_at: None,
            window: None,
            idempotency: None,
            now: NOW,
        })
        .await
        .unwrap();
    store
        .campaigns()
        .start_campaign(business, &id, NOW)
        .await
        .unwrap()
        .expect("started");
    id
}

async fn create(store: &Store, business: &BusinessId, count: usize) -> CampaignId {
    create_from(store, business, 0, count).await
}

/// Chunk 0's recipients as the fan-out makes them: each a session message that may wait
/// (recipients in `with_fallback` with a fallback template). `settled`: the slots this
/// delivery of the job believes settled (a redelivery may believe fewer than there are).
async fn admit(
    store: &Store,
    business: &BusinessId,
    campaign: &CampaignId,
    settled: &BTreeSet<usize>,
    with_fallback: &[usize],
) -> Admitted {
    let at = ChunkRef {
        business,
        campaign,
        chunk: 0,
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
        .map(|(slot, to)| Candidate::Hold {
            slot,
            hold: NewHold {
                send: NewSend {
                    class: SendClass::Session,
                    kind: "session",
                    billing: BillingCategory::Session,
                    payload: "{\"text\":\"your order shipped\"}",
                    ..common::informative(business, campaign.message_id(slot), to, NOW)
                },
                until: NOW.plus(UNTIL),
                fallback: with_fallback.contains(&slot).then(fallback),
            },
        })
        .collect();
    store
        .campaigns()
        .admit_chunk(at, phones.len(), settled, candidates)
        .await
        .unwrap()
}

async fn user_writes(store: &Store, business: &BusinessId, to: &PhoneNumber, token: &str) {
    store
        .conversations()
        .record_inbound(business, to, token, &InboundContent::default(), NOW, NOW)
        .await
        .unwrap();
}

async fn held_counts(
    store: &Store,
    business: &BusinessId,
    campaign: &CampaignId,
) -> Vec<(String, u64)> {
    let c = store
        .campaigns()
        .get_campaign(business, campaign)
        .await
        .unwrap()
        .unwrap();
    c.held_counts().into_iter().collect()
}

async fn message_exists(store: &Store, business: &BusinessId, id: &MessageId) -> bool {
    store
        .messages()
        .get_message(business, id, NOW)
        .await
        .unwrap()
        .is_some()
}

fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[tokio::test]
async fn recipients_without_a_session_are_held_once_counted_and_released_when_they_write() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 3).await;
    // Number 0 has an open session: its message goes now. Number 2 opted out.
    user_writes(&store, &business, &number(0), "t0").await;
    store
        .conversations()
        .put_conversation(
            &business,
            &number(2),
            &Conversation {
                opted_out: true,
                contacted: true,
                session: None,
            },
            NOW,
        )
        .await
        .unwrap();

    let admitted = admit(&store, &business, &campaign, &BTreeSet::new(), &[]).await;
    assert_eq!((admitted.queued, admitted.held), (1, 1), "{admitted:?}");
    assert_eq!(admitted.refused.get("recipient_opted_out"), Some(&1));
    assert!(admitted.finished);
    let held_id = campaign.message_id(1);
    let held = store
        .messages()
        .get_held(&business, &held_id, NOW)
        .await
        .unwrap()
        .expect("held as a single send's hold");
    assert_eq!(
        (held.state, held.campaign.as_ref()),
        (HeldState::Held, Some(&campaign))
    );
    assert!(!message_exists(&store, &business, &held_id).await);
    assert!(message_exists(&store, &business, &campaign.message_id(0)).await);

    // A redelivered job that believes nothing settled holds nobody twice.
    let again = admit(&store, &business, &campaign, &BTreeSet::new(), &[]).await;
    assert_eq!((again.queued, again.held, again.already), (0, 0, 3));
    let c = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.counts.get("queued"), c.counts.get("held"), c.settled()),
        (Some(&1), Some(&1), 3)
    );
    assert_eq!(c.still_held(), 1);
    // Every chunk is done, but a recipient is still held: not completed.
    assert!(
        store
            .campaigns()
            .complete_campaign(&business, &campaign, NOW)
            .await
            .unwrap()
            .is_none()
    );

    // The user writes back: released, and counted in the same write.
    user_writes(&store, &business, &number(1), "t1").await;
    let settled = store
        .messages()
        .release_held(&business, &number(1), NOW)
        .await
        .unwrap();
    assert_eq!(settled.len(), 1);
    assert!(settled[0].moved_now);
    let sent = store
        .messages()
        .get_message(&business, &held_id, NOW)
        .await
        .unwrap()
        .expect("sent");
    // A campaign message as its admitted ones: its statuses count on the campaign, and
    // `dispatch` stops it if the campaign is paused or cancelled.
    assert_eq!(sent.campaign.as_ref(), Some(&campaign));
    assert_eq!(
        held_counts(&store, &business, &campaign).await,
        counts(&[("held", 1), ("held_released", 1)])
    );
    // A repeated release moves nothing and counts nothing.
    store
        .messages()
        .release_held(&business, &number(1), NOW)
        .await
        .unwrap();
    assert_eq!(
        held_counts(&store, &business, &campaign).await,
        counts(&[("held", 1), ("held_released", 1)])
    );
    let done = store
        .campaigns()
        .complete_campaign(&business, &campaign, NOW)
        .await
        .unwrap()
        .expect("completed once nobody is held");
    assert_eq!(done.still_held(), 0);
}

#[tokio::test]
async fn at_the_deadline_held_recipients_fall_back_or_expire_counted_once() {
    let (_env, store) = common::fresh().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 2).await;
    let admitted = admit(&store, &business, &campaign, &BTreeSet::new(), &[0]).await;
    assert_eq!(admitted.held, 2);

    let later = NOW.plus(UNTIL);
    for slot in [0, 1] {
        // The deadline's timer, delivered twice.
        for _ in 0..2 {
            store
                .messages()
                .settle_held(&business, &campaign.message_id(slot), later)
                .await
                .unwrap()
                .unwrap();
        }
    }
    assert_eq!(
        held_counts(&store, &business, &campaign).await,
        counts(&[("held", 2), ("held_expired", 1), ("held_fallback", 1)])
    );
    assert!(message_exists(&store, &business, &campaign.message_id(0)).await);
    assert!(!message_exists(&store, &business, &campaign.message_id(1)).await);
    assert!(
        store
            .campaigns()
            .complete_campaign(&business, &campaign, later)
            .await
            .unwrap()
            .is_some()
    );
}

/// A cancel racing the users' replies (releases from several containers at once): whatever
/// the interleaving, no held message of the campaign goes once the cancel has returned, and
/// each is counted once, released or dropped `campaign_cancelled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_releases_lets_nothing_go_after_it_returns() {
    const HELD: usize = 6;
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let stores: Vec<Arc<Store>> = (0..4)
        .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect();
    let business = BusinessId::parse("acme").unwrap();
    for round in 0..3 {
        // New numbers each round: the last round's users are in a session now.
        let first = round * 100;
        let campaign = create_from(&stores[0], &business, first, HELD).await;
        let admitted = admit(&stores[0], &business, &campaign, &BTreeSet::new(), &[]).await;
        assert_eq!(admitted.held, HELD, "round {round}");
        for i in 0..HELD {
            user_writes(
                &stores[0],
                &business,
                &number(first + i),
                &format!("t{round}-{i}"),
            )
            .await;
        }
        let ids: Vec<MessageId> = (0..HELD).map(|i| campaign.message_id(i)).collect();

        let cancel = {
            let (store, business, campaign, ids) = (
                stores[0].clone(),
                business.clone(),
                campaign.clone(),
                ids.clone(),
            );
            tokio::spawn(async move {
                let outcome = store
                    .campaigns()
                    .control_campaign(&business, &campaign, Control::Cancel, NOW)
                    .await
                    .unwrap();
                assert!(matches!(outcome, ControlOutcome::Changed(_)));
                // The messages that exist the moment the cancel has returned.
                let mut gone_out = BTreeSet::new();
                for id in &ids {
                    if message_exists(&store, &business, id).await {
                        gone_out.insert(id.clone());
                    }
                }
                gone_out
            })
        };
        let releases: Vec<_> = (0..HELD)
            .map(|i| {
                let store = stores[1 + i % 3].clone();
                let business = business.clone();
                tokio::spawn(async move {
                    store
                        .messages()
                        .release_held(&business, &number(first + i), NOW)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let before_cancel_returned = cancel.await.unwrap();
        for r in releases {
            r.await.unwrap();
        }
        // Releases after the cancel (a late or redelivered callback) drop what is left.
        for i in 0..HELD {
            stores[0]
                .messages()
                .release_held(&business, &number(first + i), NOW)
                .await
                .unwrap();
        }
        let mut released = 0;
        for id in &ids {
            let held = stores[0]
                .messages()
                .get_held(&business, id, NOW)
                .await
                .unwrap()
                .unwrap();
            let exists = message_exists(&stores[0], &business, id).await;
            match held.state {
                HeldState::Released => {
                    released += 1;
                    assert!(
                        before_cancel_returned.contains(id),
                        "round {round}: {id} went after the cancel returned"
                    );
                }
                HeldState::Dropped => {
                    assert_eq!(held.reason.as_deref(), Some("campaign_cancelled"));
                    assert!(!exists);
                }
                other => panic!("round {round}: {id} left {other:?}"),
            }
        }
        let mut expected = vec![("held".to_owned(), HELD as u64)];
        if HELD > released {
            expected.push((
                "held_dropped_campaign_cancelled".to_owned(),
                (HELD - released) as u64,
            ));
        }
        if released > 0 {
            expected.push(("held_released".to_owned(), released as u64));
        }
        expected.sort();
        assert_eq!(
            held_counts(&stores[0], &business, &campaign).await,
            expected,
            "round {round}"
        );
    }
}
