//! Campaign admission against the emulator: the single send's rules, batched; counted once,
//! sent at most once, whatever is redelivered.

use std::collections::BTreeSet;

use session_rules::campaign::{CampaignRecipient, CampaignState, Control};
use session_rules::{Conversation, PhoneNumber, SendClass};
use vbm_store::{
    BusinessId, CampaignId, Candidate, ChunkRef, ControlOutcome, CreateOutcome, IdempotencyKey,
    NewCampaign, NewSend, Store,
};
use vbm_testkit::TestEnv;

use crate::common;

use common::NOW;

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479111{i:05}")).unwrap()
}

async fn store() -> (TestEnv, Store) {
    common::fresh().await
}

fn recipients(count: usize) -> Vec<CampaignRecipient> {
    (0..count)
        .map(|i| CampaignRecipient {
            to: number(i).as_e164().to_owned(),
            params: Default::default(),
        })
        .collect()
}

async fn create(store: &Store, business: &BusinessId, count: usize) -> CampaignId {
    let id = CampaignId::generate();
    let list = recipients(count);
    let outcome = store
        .campaigns()
        .create_campaign(&NewCampaign {
            business,
            id: id.clone(),
            name: Some("spring"),
            message: r#"{"type":"promotional","text":"Sale"}"#,
            recipients: &list,
            send_at: None,
            window: None,
            idempotency: None,
            now: NOW,
        })
        .await
        .unwrap();
    assert!(matches!(outcome, CreateOutcome::Created(_)));
    id
}

/// The candidates of one chunk as the fan-out builds them: every pending slot a send of `class`.
async fn admit(
    store: &Store,
    business: &BusinessId,
    campaign: &CampaignId,
    chunk: u32,
    class: SendClass,
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
    let kind = if class == SendClass::Promotional {
        "promotional"
    } else {
        "transactional"
    };
    let candidates = phones
        .iter()
        .enumerate()
        .map(|(slot, to)| Candidate::Send {
            slot,
            send: NewSend {
                class,
                kind,
                billing: if class == SendClass::Promotional {
                    session_rules::BillingCategory::Promotional
                } else {
                    session_rules::BillingCategory::TransactionalTemplate
                },
                ..common::informative(
                    business,
                    campaign.message_id(chunk as usize * 100 + slot),
                    to,
                    NOW,
                )
            },
        })
        .collect();
    let settled: BTreeSet<usize> = stored.settled.keys().copied().collect();
    store
        .campaigns()
        .admit_chunk(at, phones.len(), &settled, candidates)
        .await
        .unwrap()
}

async fn messages(env: &TestEnv) -> usize {
    env.footprint().await.outbox.len()
}

#[tokio::test]
async fn a_chunk_is_admitted_in_batches_by_the_single_send_rules_and_counted_once() {
    let (env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 100).await;
    // Number 3 opted out, number 4 has written (contacted): a promotional message goes only
    // to contacted numbers that did not opt out; everyone else is refused with the reason.
    store
        .conversations()
        .put_conversation(
            &business,
            &number(3),
            &Conversation {
                opted_out: true,
                contacted: true,
                session: None,
            },
            NOW,
        )
        .await
        .unwrap();
    store
        .conversations()
        .record_user_message(&business, &number(4), NOW)
        .await
        .unwrap();
    store
        .campaigns()
        .control_campaign(&business, &campaign, Control::Pause, NOW)
        .await
        .unwrap();
    // Paused: nothing is admitted.
    let halted = admit(&store, &business, &campaign, 0, SendClass::Promotional).await;
    assert!(halted.halted);
    assert_eq!(messages(&env).await, 0);
    let ControlOutcome::Changed(resumed) = store
        .campaigns()
        .control_campaign(&business, &campaign, Control::Resume, NOW)
        .await
        .unwrap()
    else {
        panic!("resumed")
    };
    assert_eq!(resumed.state, CampaignState::Scheduled);
    store
        .campaigns()
        .start_campaign(&business, &campaign, NOW)
        .await
        .unwrap()
        .unwrap();

    let report = admit(&store, &business, &campaign, 0, SendClass::Promotional).await;
    assert_eq!(report.queued, 1, "{report:?}");
    assert_eq!(report.refused.get("recipient_opted_out"), Some(&1));
    assert_eq!(report.refused.get("first_message_promotional"), Some(&98));
    assert!(report.finished);
    let c = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("queued"), Some(&1));
    assert_eq!(c.counts.get("refused_first_message_promotional"), Some(&98));
    assert_eq!((c.chunks_done, c.chunks), (1, 1));
    assert_eq!(messages(&env).await, 1);

    // Redelivered: nothing more is written or counted.
    let again = admit(&store, &business, &campaign, 0, SendClass::Promotional).await;
    assert_eq!((again.queued, again.refused.len()), (0, 0));
    assert!(again.finished);
    let after = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.counts, c.counts);
    assert_eq!(after.chunks_done, 1);
    assert_eq!(messages(&env).await, 1);
    let done = store
        .campaigns()
        .complete_campaign(&business, &campaign, NOW)
        .await
        .unwrap();
    assert_eq!(done.map(|c| c.state), Some(CampaignState::Completed));
}

#[tokio::test]
async fn several_recipients_share_a_transaction_and_a_stale_one_is_retried_alone() {
    let (env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 100).await;
    store
        .campaigns()
        .start_campaign(&business, &campaign, NOW)
        .await
        .unwrap();
    let report = admit(&store, &business, &campaign, 0, SendClass::Informative).await;
    assert_eq!(report.queued, 100);
    // 100 new numbers: two items each plus one shared suppression check, 48 a transaction.
    assert_eq!(report.transactions, 3, "{report:?}");
    assert_eq!(messages(&env).await, 100);
    let c = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("queued"), Some(&100));
    let after = store
        .conversations()
        .get_conversation(&business, &number(0))
        .await
        .unwrap()
        .unwrap();
    assert!(!after.opted_out);
}

#[tokio::test]
async fn a_redelivery_racing_the_first_delivery_sends_nobody_twice() {
    let (env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 250).await;
    store
        .campaigns()
        .start_campaign(&business, &campaign, NOW)
        .await
        .unwrap();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    // Each chunk handed to three workers at once, as redeliveries of a slow job would be.
    for chunk in 0..3u32 {
        for _ in 0..3 {
            let (store, business, campaign) = (store.clone(), business.clone(), campaign.clone());
            tasks.push(tokio::spawn(async move {
                admit(&store, &business, &campaign, chunk, SendClass::Informative).await
            }));
        }
    }
    let mut queued = 0;
    for t in tasks {
        queued += t.await.unwrap().queued;
    }
    assert_eq!(queued, 250);
    assert_eq!(messages(&env).await, 250);
    let mut outbox = env.footprint().await.outbox;
    outbox.dedup();
    assert_eq!(outbox.len(), 250);
    let c = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("queued"), Some(&250));
    assert_eq!(c.chunks_done, 3);
}

#[tokio::test]
async fn the_create_key_replays_and_refuses_another_body() {
    let (env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let key = IdempotencyKey::parse("campaign-1").unwrap();
    let list = recipients(3);
    let new = |id: CampaignId, hash: &'static str| {
        let (store, list, key, business) = (&store, &list, &key, &business);
        async move {
            store
                .campaigns()
                .create_campaign(&NewCampaign {
                    business,
                    id,
                    name: None,
                    message: "{}",
                    recipients: list,
                    send_at: None,
                    window: None,
                    idempotency: Some((key, hash)),
                    now: NOW,
                })
                .await
                .unwrap()
        }
    };
    let first = CampaignId::generate();
    let CreateOutcome::Created(c) = new(first.clone(), "h1").await else {
        panic!("created")
    };
    assert_eq!(c.id, first);
    let CreateOutcome::Replayed(again) = new(CampaignId::generate(), "h1").await else {
        panic!("replayed")
    };
    assert_eq!(again.id, first);
    assert_eq!(
        new(CampaignId::generate(), "h2").await,
        CreateOutcome::KeyReused
    );
    let (list, _) = store
        .campaigns()
        .list_campaigns(&business, 10, None)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    drop(env);
}

/// Viber's pace: concurrent reservations from several containers get distinct slots, a full
/// interval apart, never more than the rate in any second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_are_spaced_by_the_rate() {
    use vbm_store::pace::{Lane, Reservation};
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let business = BusinessId::parse("acme").unwrap();
    let stores: Vec<std::sync::Arc<Store>> = (0..4)
        .map(|_| std::sync::Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect();
    stores[0].pace().set_pace_rate(&business, 25).await.unwrap();
    assert_eq!(stores[1].pace().pace_rate(&business).await.unwrap(), 25);
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let (store, business) = (stores[i % 4].clone(), business.clone());
            tokio::spawn(async move {
                store
                    .pace()
                    .reserve(
                        &business,
                        Lane::Viber,
                        1,
                        25,
                        NOW,
                        std::time::Duration::from_secs(60),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut slots = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Reservation::At(at) => slots.push(at.as_millis()),
            other => panic!("{other:?}"),
        }
    }
    slots.sort();
    assert!(slots.windows(2).all(|w| w[1] - w[0] >= 40), "{slots:?}");
    assert_eq!(slots[0], NOW.as_millis());
    assert_eq!(slots[59] - slots[0], 59 * 40);
    // Past the horizon: told when to come back, nothing reserved.
    let busy = stores[0]
        .pace()
        .reserve(
            &business,
            Lane::Viber,
            1,
            25,
            NOW,
            std::time::Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(matches!(busy, Reservation::Busy { retry_at } if retry_at > NOW));
    // The campaign lane is its own, at four fifths of the rate.
    let campaign = stores[0]
        .pace()
        .reserve(
            &business,
            Lane::Campaigns,
            20,
            25,
            NOW,
            std::time::Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(campaign, Reservation::At(NOW));
    let next = stores[0]
        .pace()
        .reserve(
            &business,
            Lane::Campaigns,
            1,
            25,
            NOW,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        next,
        Reservation::At(NOW.plus(std::time::Duration::from_secs(1)))
    );
}

/// Pause, resume and cancel fired at once, as an impatient operator's scripts do: a lost
/// condition is read again and the action answered from the state it meets, so every cancel
/// cancels (whatever pause or resume got in first) and the campaign ends cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_controls_answer_from_the_state_they_meet_and_every_cancel_cancels() {
    let (_env, store) = store().await;
    let store = std::sync::Arc::new(store);
    let business = BusinessId::parse("acme").unwrap();
    for round in 0..3 {
        let campaign = create(&store, &business, 3).await;
        if round == 1 {
            // Started: resume goes back to running, not scheduled.
            store
                .campaigns()
                .start_campaign(&business, &campaign, NOW)
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..30 {
            let action = [Control::Pause, Control::Resume, Control::Cancel][i % 3];
            let (store, business, campaign) = (store.clone(), business.clone(), campaign.clone());
            tasks.push(tokio::spawn(async move {
                let outcome = store
                    .campaigns()
                    .control_campaign(&business, &campaign, action, NOW)
                    .await
                    .unwrap();
                (action, outcome)
            }));
        }
        for task in tasks {
            let (action, outcome) = task.await.unwrap();
            match (action, outcome) {
                (Control::Cancel, ControlOutcome::Changed(c) | ControlOutcome::Already(c)) => {
                    assert_eq!(c.state, CampaignState::Cancelled)
                }
                (Control::Cancel, other) => panic!("a cancel answered {other:?}"),
                // Pause and resume conflict only with a campaign already cancelled.
                (_, ControlOutcome::Conflict(c)) => {
                    assert_eq!(c.state, CampaignState::Cancelled, "{action:?}")
                }
                (_, ControlOutcome::Changed(_) | ControlOutcome::Already(_)) => {}
                (_, ControlOutcome::NotFound) => panic!("not found"),
            }
        }
        let end = store
            .campaigns()
            .get_campaign_item(&business, &campaign)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(end.state, CampaignState::Cancelled);
    }
}

/// A contact whose erasure was interrupted (its tombstone left behind) is refused as
/// `erasing`; the other 99 recipients of its chunk are admitted and the chunk finishes.
#[tokio::test]
async fn a_recipient_under_erasure_is_refused_without_failing_its_chunk() {
    let (env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 100).await;
    store
        .campaigns()
        .start_campaign(&business, &campaign, NOW)
        .await
        .unwrap();
    // What an erasure cut off after its first step leaves: the tombstone on the conversation
    // item (one known, one a number never contacted, whose item the erasure created).
    store
        .conversations()
        .record_user_message(&business, &number(5), NOW)
        .await
        .unwrap();
    let client = env.dynamodb().await;
    for i in [5, 7] {
        client
            .update_item()
            .table_name(&env.table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("BIZ#acme".into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("CONV#{}", number(i).as_e164())),
            )
            .update_expression("SET erasing = :e")
            .expression_attribute_values(
                ":e",
                aws_sdk_dynamodb::types::AttributeValue::S("x".into()),
            )
            .send()
            .await
            .unwrap();
    }
    let report = admit(&store, &business, &campaign, 0, SendClass::Informative).await;
    assert_eq!(report.queued, 98, "{report:?}");
    assert_eq!(report.refused.get("erasing"), Some(&2));
    assert!(report.finished);
    let c = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("refused_erasing"), Some(&2));
    assert_eq!((c.chunks_done, c.chunks), (1, 1));
    assert_eq!(messages(&env).await, 98);
}

/// Erasure reaches campaigns: a campaign message admitted just now for a campaign created an
/// hour ago (its id carries that hour) is found without the contact index (made to lag here),
/// the contact is masked in every chunk that lists it (a campaign not started yet included),
/// and quarantined callbacks naming the number are gone.
#[tokio::test]
async fn erasure_finds_campaign_messages_and_masks_the_contact_in_chunks_and_the_quarantine() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let old_id = CampaignId::parse(&ulid::Ulid::from_parts(hour_ago, 7).to_string()).unwrap();
    let list = recipients(3);
    for (id, start) in [(old_id.clone(), true), (CampaignId::generate(), false)] {
        store
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
        if start {
            store
                .campaigns()
                .start_campaign(&business, &id, NOW)
                .await
                .unwrap();
            let report = admit(&store, &business, &id, 0, SendClass::Informative).await;
            assert_eq!(report.queued, 3);
        }
    }
    let erased = number(1);
    let message = old_id.message_id(1);
    // The contact index has not caught up with the message yet.
    let client = env.dynamodb().await;
    client
        .update_item()
        .table_name(&env.table)
        .key("pk", AttributeValue::S("BIZ#acme".into()))
        .key("sk", AttributeValue::S(format!("MSG#{}", message.as_str())))
        .update_expression("REMOVE gsi1pk, gsi1sk")
        .send()
        .await
        .unwrap();
    let digits = erased.as_e164().trim_start_matches('+');
    let other = number(2);
    for (body, who) in [
        (
            format!(
                r#"{{"event":"message","sender":{{"id":"{digits}"}},"message":{{"text":"my address"}}}}"#
            ),
            "erased",
        ),
        (
            format!(
                r#"{{"phone_number":"{}"}}"#,
                other.as_e164().trim_start_matches('+')
            ),
            "other",
        ),
    ] {
        store
            .quarantine()
            .quarantine(
                "POST /viber/inbound",
                body.as_bytes(),
                vbm_store::QuarantineReason::UnknownService,
                who,
                NOW,
            )
            .await
            .unwrap();
    }

    store
        .erasure()
        .erase_contact(&business, &erased)
        .await
        .unwrap();

    assert_eq!(
        store
            .messages()
            .get_message(&business, &message, NOW)
            .await
            .unwrap(),
        None,
        "the campaign message outlived the erasure"
    );
    let raw = env.footprint().await;
    let dump = format!("{raw:?}");
    assert!(
        !dump.contains(erased.as_e164()),
        "the erased number is still stored: {dump}"
    );
    assert!(dump.contains(other.as_e164()), "the others were erased too");
    let quarantined = store.quarantine().quarantined(NOW).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].detail, "other");
}

/// A park lands only while its hold stands, and a lift deletes a parked job only as it read
/// it: a job parked anew meanwhile (disabled again, its work met it again) waits for the next.
#[tokio::test]
async fn a_park_needs_its_hold_and_a_lift_deletes_only_what_it_read() {
    use vbm_store::{Hold, Parked, ParkedQueue};
    let (_env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    store
        .businesses()
        .create_business(&vbm_store::NewBusiness {
            id: business.clone(),
            service_id: 5,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let job = |at: i64| Parked {
        work: "01J0000000000000000000000A".into(),
        queue: ParkedQueue::Outbound,
        body: "{}".into(),
        group: Some("g".into()),
        parked_at: session_rules::Timestamp::from_millis(at),
    };
    // Enabled: nothing to hold it.
    assert!(
        !store
            .parking()
            .park(&business, &Hold::Business, &job(1))
            .await
            .unwrap()
    );
    store
        .businesses()
        .set_business_disabled(&business, true)
        .await
        .unwrap();
    assert!(
        store
            .parking()
            .park(&business, &Hold::Business, &job(1))
            .await
            .unwrap()
    );
    let read = store
        .parking()
        .parked(&business, &Hold::Business)
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].1, job(1));
    // Parked anew before the lift's delete: it stays.
    assert!(
        store
            .parking()
            .park(&business, &Hold::Business, &job(2))
            .await
            .unwrap()
    );
    let first: Vec<_> = read
        .iter()
        .map(|(sk, j)| (sk.clone(), j.parked_at))
        .collect();
    store.parking().unpark(&business, &first).await.unwrap();
    let left = store
        .parking()
        .parked(&business, &Hold::Business)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, job(2));
    let second: Vec<_> = left
        .iter()
        .map(|(sk, j)| (sk.clone(), j.parked_at))
        .collect();
    store.parking().unpark(&business, &second).await.unwrap();
    assert!(
        store
            .parking()
            .parked(&business, &Hold::Business)
            .await
            .unwrap()
            .is_empty()
    );
    // A paused campaign holds its messages; a running one does not.
    let campaign = create(&store, &business, 1).await;
    let hold = Hold::Campaign(campaign.clone());
    assert!(
        !store
            .parking()
            .park(&business, &hold, &job(3))
            .await
            .unwrap()
    );
    store
        .campaigns()
        .control_campaign(&business, &campaign, Control::Pause, NOW)
        .await
        .unwrap();
    assert!(
        store
            .parking()
            .park(&business, &hold, &job(3))
            .await
            .unwrap()
    );
}

/// The admitted messages are counted by billing category in the write that admits them, and
/// each message item carries its category: refused recipients count in neither, a redelivered
/// chunk counts nothing twice, and the categories do not count as recipients of their own.
#[tokio::test]
async fn admitted_messages_are_counted_by_billing_category() {
    use session_rules::BillingCategory;
    let (_env, store) = store().await;
    let business = BusinessId::parse("acme").unwrap();
    let campaign = create(&store, &business, 10).await;
    store
        .campaigns()
        .start_campaign(&business, &campaign, NOW)
        .await
        .unwrap();
    let at = ChunkRef {
        business: &business,
        campaign: &campaign,
        chunk: 0,
    };
    let phones: Vec<PhoneNumber> = (0..10).map(number).collect();
    let candidates = || {
        phones
            .iter()
            .enumerate()
            .map(|(slot, to)| match slot {
                // Refused by the content rules: counted as refused, not by category.
                8 | 9 => Candidate::Refused {
                    slot,
                    code: "template_params_invalid",
                },
                _ => Candidate::Send {
                    slot,
                    send: NewSend {
                        kind: "template",
                        billing: if slot % 2 == 0 {
                            BillingCategory::Otp
                        } else {
                            BillingCategory::TransactionalTemplate
                        },
                        ..common::informative(&business, campaign.message_id(slot), to, NOW)
                    },
                },
            })
            .collect::<Vec<_>>()
    };
    let report = store
        .campaigns()
        .admit_chunk(at, 10, &BTreeSet::new(), candidates())
        .await
        .unwrap();
    assert_eq!(report.queued, 8, "{report:?}");
    let counted = |c: &vbm_store::Campaign| {
        (
            c.counts.get("queued").copied(),
            c.billing_counts(),
            c.settled(),
        )
    };
    let c = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    let expected = (
        Some(8),
        [
            ("otp".to_owned(), 4),
            ("transactional_template".to_owned(), 4),
        ]
        .into(),
        10,
    );
    assert_eq!(counted(&c), expected);
    for slot in [0, 1] {
        let message = store
            .messages()
            .get_message(&business, &campaign.message_id(slot), NOW)
            .await
            .unwrap()
            .unwrap();
        let billing = message.billing.unwrap();
        assert!(billing.billable);
        assert_eq!(
            billing.category,
            if slot == 0 {
                BillingCategory::Otp
            } else {
                BillingCategory::TransactionalTemplate
            }
        );
    }
    // Redelivered: every slot is settled, nothing is counted again.
    let settled: BTreeSet<usize> = (0..10).collect();
    store
        .campaigns()
        .admit_chunk(at, 10, &BTreeSet::new(), candidates())
        .await
        .unwrap();
    store
        .campaigns()
        .admit_chunk(at, 10, &settled, candidates())
        .await
        .unwrap();
    let again = store
        .campaigns()
        .get_campaign(&business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted(&again), expected);
}
