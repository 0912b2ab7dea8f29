//! The usage counters against the emulator: after a run with retried requests (the same
//! Idempotency-Key twice), redelivered dispatch jobs and campaign chunks, duplicate, late,
//! reordered and concurrent status callbacks and a redelivered user message, the figures are
//! exactly what the stored messages themselves say.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use session_rules::campaign::CampaignRecipient;
use session_rules::failover::{FailoverSms, FailoverSpec, Triggers};
use session_rules::prices::{Amount, CountryGroup, Currency, PriceTable};
use session_rules::sms::SmsAllowance;
use session_rules::usage::{Usage, UsageRange};
use session_rules::{BillingCategory, Country, MessageStatus, PhoneNumber, SendClass, Timestamp};
use vbm_store::{
    BusinessId, CampaignId, Candidate, ChunkRef, Claim, CreateOutcome, Failure, IdempotencyKey,
    InboundContent, Marked, MessageId, NewBusiness, NewCampaign, NewSend, SendOutcome, Sent, Store,
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
/// accepted and billable by category (and by their destination's country).
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
            if let Some(country) = PhoneNumber::parse(&m.to).unwrap().country() {
                *t.by_country
                    .entry(country)
                    .or_default()
                    .billable
                    .entry(billing.category)
                    .or_default() += 1;
            }
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

/// A campaign to `phones`, admitted twice (a redelivered chunk job): its message ids.
async fn campaign(store: &Store, phones: &[PhoneNumber]) -> Vec<MessageId> {
    let business = acme();
    let id = CampaignId::generate();
    let count = phones.len();
    let list: Vec<CampaignRecipient> = phones
        .iter()
        .map(|to| CampaignRecipient {
            to: to.as_e164().to_owned(),
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
    let recipients = campaign(&store, &(200..204).map(number).collect::<Vec<_>>()).await;
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

fn price(p: &str) -> Amount {
    Amount::parse_price(p).unwrap()
}

/// Transactional templates at 0.01 and SMS parts at 0.05; to DACH (DE, AT, CH) 0.05 and 0.08;
/// to "east" (UA) 0.02 and the table's SMS price.
fn grouped_prices() -> PriceTable {
    let country = |c| Country::parse(c).unwrap();
    let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
    table
        .categories
        .insert(BillingCategory::TransactionalTemplate, price("0.01"));
    table.sms_part = Some(price("0.05"));
    let mut dach = CountryGroup::new("DACH", ["DE", "AT", "CH"].map(country));
    dach.categories
        .insert(BillingCategory::TransactionalTemplate, price("0.05"));
    dach.sms_part = Some(price("0.08"));
    table.add_group(dach).unwrap();
    let mut east = CountryGroup::new("east", [country("UA")]);
    east.categories
        .insert(BillingCategory::TransactionalTemplate, price("0.02"));
    table.add_group(east).unwrap();
    table
}

#[tokio::test]
async fn messages_to_countries_in_different_groups_are_estimated_at_each_groups_prices() {
    let (_env, store) = fresh().await;
    let business = acme();
    store
        .businesses()
        .create_business(&NewBusiness {
            id: business.clone(),
            service_id: 7301,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    // The table with its groups, stored on the business and read back as it was set.
    let set = store
        .businesses()
        .set_prices(&business, Some(&grouped_prices()))
        .await
        .unwrap();
    assert_eq!(set.prices, Some(grouped_prices()));
    let stored = store
        .businesses()
        .get_business(&business)
        .await
        .unwrap()
        .unwrap();
    let table = stored.prices.expect("the table is stored");
    assert_eq!(table, grouped_prices());

    let phone = |n: &str| PhoneNumber::parse(n).unwrap();
    let germany = phone("+4915112345678");
    let failover = FailoverSpec {
        sms: FailoverSms {
            text: "Your order has shipped".into(),
            sender_id: Some("Acme".into()),
        },
        triggers: Triggers {
            deadline_seconds: Some(60),
            ..Triggers::default()
        },
    };
    // Single sends: two to Germany (one with an SMS failover of 2 parts), one each to Ukraine,
    // France (no group) and an international network (no country).
    let mut ids = Vec::new();
    for (to, with_failover) in [
        (germany.clone(), true),
        (phone("+4915112345679"), false),
        (phone("+380501234567"), false),
        (phone("+33612345678"), false),
        (phone("+8823451234567"), false),
    ] {
        let id = MessageId::generate();
        let outcome = store
            .messages()
            .record_send(&NewSend {
                failover: with_failover.then_some(&failover),
                ..informative(&business, id.clone(), &to, NOW)
            })
            .await
            .unwrap();
        assert!(matches!(outcome, SendOutcome::Accepted { .. }), "{to}");
        ids.push(id);
    }
    // A campaign to Austria and Ukraine.
    ids.extend(campaign(&store, &[phone("+436641234567"), phone("+380501234568")]).await);
    // The German message's SMS failover, claimed twice (a redelivered job): counted once.
    assert_eq!(
        mark_sent(&store, &ids[0], "de-1", at(1)).await,
        Marked::Recorded
    );
    let allowance = SmsAllowance {
        parts: 2,
        max_per_day: 1_000,
        max_per_month: 10_000,
    };
    for expected in [Claim::Claimed, Claim::Taken] {
        let claim = store
            .messages()
            .claim_failover(
                &business,
                &ids[0],
                &germany,
                session_rules::failover::Trigger::Expired,
                &allowance,
                at(2),
            )
            .await
            .unwrap();
        assert_eq!(claim, expected);
    }

    let day = session_rules::usage::Day::of(NOW).to_string();
    let counted = usage(&store, &day, &day).await;
    let tt = BillingCategory::TransactionalTemplate;
    let in_country = |c: &str| {
        let u = &counted.by_country[&Country::parse(c).unwrap()];
        (u.billable.get(&tt).copied().unwrap_or(0), u.sms_parts)
    };
    assert_eq!(in_country("DE"), (2, 2));
    assert_eq!(in_country("AT"), (1, 0));
    assert_eq!(in_country("UA"), (2, 0));
    assert_eq!(in_country("FR"), (1, 0));
    assert_eq!(
        counted.by_country.len(),
        4,
        "the network number has no country"
    );
    assert_eq!(counted.billable[&tt], 7);
    assert_eq!(counted.sms_parts, 2);
    // The countries' counts are the messages' own.
    let tallied = tally(&store, &ids).await;
    for (country, usage) in &counted.by_country {
        assert_eq!(
            usage.billable, tallied.by_country[country].billable,
            "{country}"
        );
    }
    // DACH 3 × 0.05 + 2 parts × 0.08, east 2 × 0.02, France and the network 2 × 0.01.
    let estimate = counted.estimated_cost(&table).unwrap();
    assert_eq!(estimate.amount.to_string(), "0.37");
    assert_eq!(estimate.currency.as_str(), "EUR");
}
