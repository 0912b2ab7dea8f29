//! The fan-out against the emulator: a start job queues the chunks, chunk jobs admit their
//! recipients; a job killed mid-chunk and delivered again sends nobody twice and skips nobody.

use std::sync::Arc;
use std::time::Duration;

use session_rules::Limits;
use session_rules::campaign::{CampaignRecipient, CampaignState};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_queue::CampaignJob;
use vbm_queue::CampaignQueue;
use vbm_store::{BusinessId, CampaignId, CreateOutcome, NewCampaign, Retention, Store};
use vbm_testkit::TestEnv;
use vbm_timers::{Target, Timers};

pub(crate) struct World {
    pub env: TestEnv,
    pub app: Arc<campaign::App>,
    pub store: Store,
    pub clock: Arc<OffsetClock>,
}

pub(crate) async fn world() -> World {
    let env = TestEnv::fresh();
    let config = env.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let store = || {
        Store::new(
            dynamodb.clone(),
            env.table.clone(),
            Limits::default(),
            Retention::default(),
        )
    };
    let timers = vbm_outbound::CampaignTimers::new(
        Timers::new(
            aws_sdk_scheduler::Client::new(&config),
            sqs.clone(),
            env.timers_group.clone(),
            "arn:aws:iam::123456789012:role/timers",
        ),
        Target::queue(&env.campaign_queue_url, "us-east-1").unwrap(),
    );
    let clock = Arc::new(OffsetClock::new());
    // A fast pace for "acme": these tests are about admission, `dispatch`'s test about pace.
    store()
        .pace()
        .set_pace_rate(&BusinessId::parse("acme").unwrap(), 1000)
        .await
        .unwrap();
    let parcel = session_rules::Template::parse(
        session_rules::TemplateId::parse("parcel").unwrap(),
        session_rules::Language::parse("en").unwrap(),
        session_rules::TemplateCategory::Transactional,
        true,
        "Your parcel is on its way",
    )
    .unwrap();
    store()
        .templates()
        .put_template(&BusinessId::parse("acme").unwrap(), &parcel)
        .await
        .unwrap();
    let app = Arc::new(campaign::App::new(
        store(),
        CampaignQueue::new(sqs.clone(), env.campaign_queue_url.clone()),
        timers,
        EventsQueue::new(sqs, env.events_queue_url.clone()),
        clock.clone(),
    ));
    World {
        store: store(),
        env,
        app,
        clock,
    }
}

async fn create(w: &World, business: &BusinessId, count: usize) -> CampaignId {
    let id = CampaignId::generate();
    let recipients: Vec<CampaignRecipient> = (0..count)
        .map(|i| CampaignRecipient {
            to: format!("+4479111{i:05}"),
            params: Default::default(),
        })
        .collect();
    let outcome = w
        .store
        .campaigns()
        .create_campaign(&NewCampaign {
            business,
            id: id.clone(),
            name: None,
            // Transactional means template (free-form needs the business's opt-in).
            message: r#"{"template":{"id":"parcel"},"type":"template"}"#,
            recipients: &recipients,
            send_at: None,
            window: None,
            idempotency: None,
            now: w.clock.now(),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, CreateOutcome::Created(_)));
    id
}

/// Takes every job off the campaign queue (bodies).
pub(crate) async fn drain(env: &TestEnv) -> Vec<CampaignJob> {
    vbm_testkit::drain(&env.sqs().await, &env.campaign_queue_url)
        .await
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

pub(crate) fn chunk_job(business: &BusinessId, id: &CampaignId, chunk: u32) -> CampaignJob {
    CampaignJob::Chunk {
        business: business.as_str().into(),
        campaign: id.as_str().into(),
        chunk,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_job_queues_every_chunk_and_the_chunks_complete_the_campaign() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    let id = create(&w, &business, 230).await;
    let start = CampaignJob::Start {
        business: business.as_str().into(),
        campaign: id.as_str().into(),
    };
    let done = w.app.handle_job(&start).await.unwrap();
    assert_eq!(done.chunks_queued, 3);
    let jobs = drain(&w.env).await;
    assert_eq!(jobs.len(), 3);
    let mut completed = 0;
    for job in &jobs {
        completed += usize::from(w.app.handle_job(job).await.unwrap().completed);
    }
    assert_eq!(completed, 1);
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Completed);
    assert_eq!(c.counts.get("queued"), Some(&230));
    assert_eq!(w.env.footprint().await.outbox.len(), 230);
    // The event, once: a chunk job delivered again finds the campaign announced.
    let again = w.app.handle_job(&jobs[0]).await.unwrap();
    assert!(!again.completed);
    let sqs = w.env.sqs().await;
    let events = sqs
        .receive_message()
        .queue_url(&w.env.events_queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let completed: Vec<_> = events
        .iter()
        .filter(|m| m.body().unwrap_or_default().contains("campaign.completed"))
        .collect();
    assert_eq!(completed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_job_killed_mid_chunk_and_delivered_again_sends_nobody_twice_and_skips_nobody() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    let id = create(&w, &business, 100).await;
    w.store
        .campaigns()
        .start_campaign(&business, &id, w.clock.now())
        .await
        .unwrap()
        .unwrap();
    let job = chunk_job(&business, &id, 0);
    // Killed once its first transaction has committed (a Lambda timing out, a container gone).
    let app = w.app.clone();
    let running = tokio::spawn({
        let job = job.clone();
        async move { app.handle_job(&job).await }
    });
    let mut killed_with = 0;
    for _ in 0..2000 {
        let c = w
            .store
            .campaigns()
            .get_campaign(&business, &id)
            .await
            .unwrap()
            .unwrap();
        killed_with = c.counts.get("queued").copied().unwrap_or(0);
        if killed_with > 0 || running.is_finished() {
            break;
        }
    }
    running.abort();
    let _ = running.await;
    assert!(
        (1..100).contains(&killed_with),
        "killed between its transactions ({killed_with} of 100 admitted)"
    );

    // Redelivered, twice (SQS may hand it out again while the first retry runs).
    let (a, b) = tokio::join!(w.app.handle_job(&job), w.app.handle_job(&job));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        killed_with_at_most(&w, 100).await,
        100,
        "every recipient exactly once"
    );
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("queued"), Some(&100));
    assert_eq!(c.chunks_done, 1);
    assert_eq!(c.state, CampaignState::Completed);
    assert!(a.admitted.queued + b.admitted.queued <= 100);
}

/// The messages on the outbox, checked to be distinct.
async fn killed_with_at_most(w: &World, most: usize) -> usize {
    let mut outbox = w.env.footprint().await.outbox;
    let all = outbox.len();
    outbox.sort();
    outbox.dedup();
    assert_eq!(outbox.len(), all, "a message written twice");
    assert!(all <= most);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_outside_its_window_waits_for_a_timer_then_goes() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    // London and Kyiv; the window is the hour Kyiv is in now, so London (two hours behind)
    // waits for it.
    let now = w.clock.now();
    // Kyiv's wall-clock hour now (UTC+2, or +3 in summer); London is two hours behind either way.
    let kyiv = campaign::zones::of(&session_rules::PhoneNumber::parse("+380501234567").unwrap());
    let kyiv_hour = kyiv
        .to_datetime(jiff::Timestamp::from_millisecond(now.as_millis()).unwrap())
        .hour() as u32;
    let id = CampaignId::generate();
    let recipients = [
        CampaignRecipient {
            to: "+447911123456".into(),
            params: Default::default(),
        },
        CampaignRecipient {
            to: "+380501234567".into(),
            params: Default::default(),
        },
    ];
    w.store
        .campaigns()
        .create_campaign(&NewCampaign {
            business: &business,
            id: id.clone(),
            name: None,
            message: r#"{"type":"promotional","text":"Hello"}"#,
            recipients: &recipients,
            send_at: None,
            window: Some(session_rules::campaign::Window {
                start_minute: kyiv_hour * 60,
                end_minute: kyiv_hour * 60 + 60,
            }),
            idempotency: None,
            now,
        })
        .await
        .unwrap();
    w.store
        .campaigns()
        .start_campaign(&business, &id, now)
        .await
        .unwrap();
    let done = w
        .app
        .handle_job(&chunk_job(&business, &id, 0))
        .await
        .unwrap();
    // Promotional first messages are refused (no prior contact): the Kyiv recipient is settled
    // as refused at once, the London one waits without being decided.
    assert_eq!(done.waiting, 1);
    assert_eq!(
        done.admitted.refused.get("first_message_promotional"),
        Some(&1)
    );
    let wake = done.wake_at.unwrap();
    assert!(wake > now && wake <= now.plus(Duration::from_secs(3 * 3600)));
    let schedules = w
        .env
        .scheduler()
        .await
        .list_schedules()
        .group_name(&w.env.timers_group)
        .send()
        .await
        .unwrap();
    assert_eq!(schedules.schedules().len(), 1, "one timer for the chunk");
    // At the opening, the chunk's job goes again and settles London.
    w.clock.advance(Duration::from_millis(
        (wake.as_millis() - now.as_millis()) as u64,
    ));
    let later = w
        .app
        .handle_job(&chunk_job(&business, &id, 0))
        .await
        .unwrap();
    assert_eq!(later.waiting, 0);
    assert!(later.completed);
}

/// Windows are the recipient's wall-clock hours across daylight-saving changes: after each of
/// Berlin's next two clock changes, at 07:30 UTC, a Berlin recipient of a 09:00-20:00 window is
/// admitted when the clock there shows 09:30 (summer time) and waits until 08:00 UTC when it
/// shows 08:30 (winter time). A standard-time table would have kept them waiting in summer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_follows_the_recipients_clock_across_both_dst_changes() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    let berlin = campaign::zones::of(&session_rules::PhoneNumber::parse("+4915123456789").unwrap());
    let from = jiff::Timestamp::from_millisecond(w.clock.now().as_millis()).unwrap();
    let changes: Vec<_> = berlin.following(from).take(2).collect();
    assert_eq!(changes.len(), 2);
    let mut seen_summer = false;
    let mut seen_winter = false;
    for change in changes {
        let change_ms = change.timestamp().as_millisecond();
        // The change is at 01:00 UTC; 07:30 UTC that day.
        let target = change_ms + 6 * 3_600_000 + 30 * 60_000;
        let now = w.clock.now().as_millis();
        w.clock
            .advance(Duration::from_millis((target - now) as u64));
        let now = w.clock.now();
        let summer = change.offset().seconds() == 7200;
        let id = CampaignId::generate();
        w.store
            .campaigns()
            .create_campaign(&NewCampaign {
                business: &business,
                id: id.clone(),
                name: None,
                message: r#"{"template":{"id":"parcel"},"type":"template"}"#,
                recipients: &[CampaignRecipient {
                    to: "+4915123456789".into(),
                    params: Default::default(),
                }],
                send_at: None,
                window: Some(session_rules::campaign::Window {
                    start_minute: 9 * 60,
                    end_minute: 20 * 60,
                }),
                idempotency: None,
                now,
            })
            .await
            .unwrap();
        w.store
            .campaigns()
            .start_campaign(&business, &id, now)
            .await
            .unwrap();
        let done = w
            .app
            .handle_job(&chunk_job(&business, &id, 0))
            .await
            .unwrap();
        if summer {
            seen_summer = true;
            assert_eq!(done.waiting, 0, "09:30 in Berlin is inside the window");
            assert_eq!(done.admitted.queued, 1);
        } else {
            seen_winter = true;
            assert_eq!(done.waiting, 1, "08:30 in Berlin is outside the window");
            let wake = done.wake_at.unwrap().as_millis();
            // 08:00 UTC (09:00 local), to the minute; `now` carries the test's seconds.
            assert_eq!(
                wake.div_euclid(60_000),
                (change_ms + 7 * 3_600_000) / 60_000
            );
        }
    }
    assert!(seen_summer && seen_winter);
}

/// The operator's kill switch: a start job of a disabled business queues nothing and is parked
/// (not retried into the dead-letter queue); enabling the business queues it again (`relay`,
/// as the table's stream hands it the change) and the campaign goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_businesss_campaign_is_parked_until_it_is_enabled() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    w.store
        .businesses()
        .create_business(&vbm_store::NewBusiness {
            id: business.clone(),
            service_id: 77,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let id = create(&w, &business, 150).await;
    w.store
        .businesses()
        .set_business_disabled(&business, true)
        .await
        .unwrap();
    let start = CampaignJob::Start {
        business: business.as_str().into(),
        campaign: id.as_str().into(),
    };
    w.app.handle_job(&start).await.unwrap();
    // A chunk job already queued before the switch is parked too.
    w.app
        .handle_job(&chunk_job(&business, &id, 1))
        .await
        .unwrap();
    assert!(
        drain(&w.env).await.is_empty(),
        "a disabled business's campaign went on"
    );
    assert_eq!(w.env.footprint().await.outbox.len(), 0);
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Scheduled);

    w.store
        .businesses()
        .set_business_disabled(&business, false)
        .await
        .unwrap();
    let sqs = w.env.sqs().await;
    let relay = relay::App::new(vbm_queue::OutboundQueue::new(
        sqs.clone(),
        w.env.outbound_queue_url.clone(),
    ))
    .with_holds(relay::Holds {
        store: Store::new(
            w.store.client().clone(),
            w.env.table.clone(),
            Limits::default(),
            Retention::default(),
        ),
        campaign: Some(CampaignQueue::new(sqs, w.env.campaign_queue_url.clone())),
        failover: None,
    });
    let released = relay
        .release(&relay::Release {
            business: business.clone(),
            hold: vbm_store::Hold::Business,
        })
        .await
        .unwrap();
    assert_eq!(released, 2);
    let mut jobs = drain(&w.env).await;
    assert_eq!(jobs.len(), 2);
    // The campaign's own cache may still say disabled: the park's condition tells it otherwise.
    while let Some(job) = jobs.pop() {
        w.app.handle_job(&job).await.unwrap();
        jobs.extend(drain(&w.env).await);
    }
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Completed);
    assert_eq!(c.counts.get("queued"), Some(&150));
}

/// A contact erased before the campaign starts is masked in its list and refused `erased`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_erased_before_the_start_is_never_messaged() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    let id = create(&w, &business, 3).await;
    let erased = session_rules::PhoneNumber::parse("+447911100001").unwrap();
    w.store
        .erasure()
        .erase_contact(&business, &erased)
        .await
        .unwrap();
    let start = CampaignJob::Start {
        business: business.as_str().into(),
        campaign: id.as_str().into(),
    };
    w.app.handle_job(&start).await.unwrap();
    for job in drain(&w.env).await {
        w.app.handle_job(&job).await.unwrap();
    }
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.counts.get("queued"), Some(&2), "{:?}", c.counts);
    assert_eq!(c.counts.get("refused_erased"), Some(&1));
    assert_eq!(w.env.footprint().await.outbox.len(), 2);
}
