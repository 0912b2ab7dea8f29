//! `lifecycle` against the emulator: conversation changes written to the table, the table's
//! stream read as the event source mapping reads it (`relay::reader::StreamReader`), session
//! events taken back from the events queue. A record handed over again, or a function that died
//! before queueing, gives each event exactly once.

use std::sync::Arc;

use aws_sdk_sqs::Client as Sqs;
use lifecycle::App;
use lifecycle::transitions::Expiring;
use relay::reader::StreamReader;
use session_rules::{Conversation, Limits, PhoneNumber, Timestamp};
use vbm_events::{Event, EventsQueue};
use vbm_platform::clock::SystemClock;
use vbm_store::{BusinessId, Retention, Store};
use vbm_testkit::TestEnv;
use vbm_timers::{Target, Timers};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

struct World {
    env: TestEnv,
    sqs: Sqs,
    store: Store,
    business: BusinessId,
    phone: PhoneNumber,
}

impl World {
    async fn new() -> Self {
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let store = Store::new(
            env.dynamodb().await,
            &env.table,
            Limits::default(),
            Retention::default(),
        );
        Self {
            sqs: env.sqs().await,
            store,
            business: BusinessId::parse("acme").unwrap(),
            phone: PhoneNumber::parse("+447911123456").unwrap(),
            env,
        }
    }

    async fn app(&self, events_url: &str) -> App {
        let sdk = self.env.sdk_config().await;
        App::new(
            Store::new(
                self.env.dynamodb().await,
                &self.env.table,
                Limits::default(),
                Retention::default(),
            ),
            EventsQueue::new(self.sqs.clone(), events_url),
            Timers::new(
                aws_sdk_scheduler::Client::new(&sdk),
                self.sqs.clone(),
                &self.env.timers_group,
                "arn:aws:iam::123456789012:role/timers",
            ),
            Target::queue(&self.env.session_timers_queue_url, "us-east-1").unwrap(),
            // T0 is ahead of the real clock: every session here is still open.
            Arc::new(SystemClock),
            Expiring::default(),
        )
    }

    async fn reader(&self) -> StreamReader {
        StreamReader::for_table(
            &self.env.dynamodb().await,
            self.env.streams().await,
            &self.env.table,
        )
        .await
        .unwrap()
    }

    async fn write(&self, c: &Conversation, at: Timestamp) {
        self.store
            .conversations()
            .put_conversation(&self.business, &self.phone, c, at)
            .await
            .unwrap();
    }

    async fn events(&self) -> Vec<Event> {
        vbm_testkit::drain(&self.sqs, &self.env.events_queue_url)
            .await
            .iter()
            .map(|m| EventsQueue::parse(&m.body).unwrap())
            .collect()
    }
}

/// Opens a session, sends five in a row (locked), the user replies (unlocked).
async fn a_session_story(world: &World) {
    let limits = Limits::default();
    let mut c = Conversation::default().user_message(T0, &limits);
    world.write(&c, T0).await;
    for i in 1..=5 {
        let mut s = c.session.unwrap();
        s.messages_sent += 1;
        s.consecutive += 1;
        c.session = Some(s);
        world
            .write(&c, T0.plus(std::time::Duration::from_secs(i)))
            .await;
    }
    let replied = c.user_message(T0.plus(std::time::Duration::from_secs(10)), &limits);
    world
        .write(&replied, T0.plus(std::time::Duration::from_secs(10)))
        .await;
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn each_transition_once_even_when_the_stream_hands_it_over_again() {
    let world = World::new().await;
    a_session_story(&world).await;
    let app = world.app(&world.env.events_queue_url).await;

    let mut reader = world.reader().await;
    while reader
        .pump_once_with(|e| app.handle_stream(e))
        .await
        .unwrap()
        > 0
    {}
    let first = world.events().await;
    assert_eq!(
        types(&first),
        ["session.opened", "session.locked", "session.unlocked"],
        "{first:?}"
    );
    let opened = &first[0];
    assert_eq!(opened.data["phone"], "+447911123456");
    assert_eq!(opened.data["session"]["state"], "active");
    assert_eq!(first[1].data["session"]["state"], "locked");
    assert_eq!(first[1].data["session"]["consecutive"], 5);
    assert_eq!(first[2].data["session"]["consecutive"], 0);

    // The whole stream handed over again (a redelivery, a second reader from the start).
    let mut again = world.reader().await;
    let taken = again
        .pump_once_with(|e| app.handle_stream(e))
        .await
        .unwrap();
    assert!(taken >= 7, "{taken} records handed over again");
    assert!(world.events().await.is_empty(), "no event a second time");

    // The session's two timers are set, with deterministic names (a second set is AlreadySet).
    let scheduler = aws_sdk_scheduler::Client::new(&world.env.sdk_config().await);
    let listed = scheduler
        .list_schedules()
        .group_name(&world.env.timers_group)
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = listed.schedules().iter().filter_map(|s| s.name()).collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("-closed") && names[1].ends_with("-expiring"));
}

#[tokio::test]
async fn a_function_that_could_not_queue_loses_nothing() {
    let world = World::new().await;
    a_session_story(&world).await;
    // The events queue refuses (no such queue): the first record is reported, nothing logged.
    let broken = world
        .app(&format!("{}-missing", world.env.events_queue_url))
        .await;
    let mut reader = world.reader().await;
    let taken = reader
        .pump_once_with(|e| broken.handle_stream(e))
        .await
        .unwrap();
    // At most the emulator's key-only INSERT (no conversation in it) is taken: the record that
    // opened the session failed, and nothing after it.
    assert!(taken <= 1, "{taken} records taken past a failure");
    assert!(world.events().await.is_empty());
    // Retried from there by a working function: every event, once.
    let app = world.app(&world.env.events_queue_url).await;
    while reader
        .pump_once_with(|e| app.handle_stream(e))
        .await
        .unwrap()
        > 0
    {}
    assert_eq!(
        types(&world.events().await),
        ["session.opened", "session.locked", "session.unlocked"]
    );
}

#[tokio::test]
async fn a_timer_tells_only_about_the_session_it_was_set_for() {
    let world = World::new().await;
    let limits = Limits::default();
    let c = Conversation::default().user_message(T0, &limits);
    world.write(&c, T0).await;
    let body = |anchor: Timestamp, kind: &str| {
        format!(
            r#"{{"business_id":"acme","phone":"+447911123456","anchor":{},"kind":"{kind}"}}"#,
            anchor.as_millis()
        )
    };
    let record = |body: String| {
        let mut r = aws_lambda_events::sqs::SqsMessage::default();
        r.message_id = Some("m".into());
        r.body = Some(body);
        r
    };
    // Before the end (the real clock is before T0): expiring goes out; closed is early, retried.
    let app = world.app(&world.env.events_queue_url).await;
    assert_eq!(
        app.timer_record(&record(body(T0, "expiring")))
            .await
            .unwrap(),
        "emitted"
    );
    assert!(app.timer_record(&record(body(T0, "closed"))).await.is_err());
    // Fired twice: the second finds it logged and queues nothing.
    assert_eq!(
        app.timer_record(&record(body(T0, "expiring")))
            .await
            .unwrap(),
        "emitted"
    );
    let events = world.events().await;
    assert_eq!(types(&events), ["session.expiring"], "{events:?}");
    assert_eq!(events[0].data["reason"], "time");
    // A timer of another session (another anchor) says nothing.
    let other = T0.minus(std::time::Duration::from_secs(3600));
    assert_eq!(
        app.timer_record(&record(body(other, "expiring")))
            .await
            .unwrap(),
        "session_replaced"
    );
    assert!(app.timer_record(&record("{}".into())).await.is_err());
    assert!(world.events().await.is_empty());
}

/// Holds a session message for `to`, accepted two hours ago with a deadline an hour ago.
async fn hold(world: &World, to: &PhoneNumber, with_fallback: bool) -> vbm_store::MessageId {
    use vbm_platform::clock::Clock;
    let now = SystemClock.now();
    let id = vbm_store::MessageId::generate();
    let outcome = world
        .store
        .messages()
        .record_hold(
            &vbm_store::NewHold {
                send: vbm_store::NewSend {
                    business: &world.business,
                    message_id: id.clone(),
                    to,
                    class: session_rules::SendClass::Session,
                    kind: "session",
                    billing: session_rules::BillingCategory::Session,
                    payload: "{}",
                    service_id: None,
                    idempotency: None,
                    failover: None,
                    now: now.minus(std::time::Duration::from_secs(7200)),
                },
                // Already due: its timer goes to the timers queue at once.
                until: now.minus(std::time::Duration::from_secs(3600)),
                fallback: with_fallback.then(|| vbm_store::HeldFallback {
                    kind: "template".into(),
                    class: session_rules::SendClass::Informative,
                    billing: session_rules::BillingCategory::Otp,
                    payload: "{}".into(),
                    service_id: None,
                }),
            },
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(outcome, vbm_store::HoldOutcome::Held { .. }));
    id
}

#[tokio::test]
async fn a_held_message_is_told_timed_and_settled_once_at_its_deadline() {
    let world = World::new().await;
    let other = PhoneNumber::parse("+447911123457").unwrap();
    let with = hold(&world, &world.phone, true).await;
    let without = hold(&world, &other, false).await;
    let app = world.app(&world.env.events_queue_url).await;
    let mut reader = world.reader().await;
    let mut pump = async || {
        while reader
            .pump_once_with(|e| app.handle_stream(e))
            .await
            .unwrap()
            > 0
        {}
    };
    pump().await;
    let held = world.events().await;
    assert_eq!(types(&held), ["message.held", "message.held"], "{held:?}");
    assert_eq!(held[0].data["fallback"], true);

    // Their deadline timers (due already: on the queue at once), each delivered twice.
    let timers = vbm_testkit::drain(&world.sqs, &world.env.session_timers_queue_url).await;
    assert_eq!(timers.len(), 2);
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        for timer in &timers {
            let mut record = aws_lambda_events::sqs::SqsMessage::default();
            record.message_id = Some("m".into());
            record.body = Some(timer.body.clone());
            outcomes.push(app.timer_record(&record).await.unwrap());
        }
    }
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["already_settled", "already_settled", "expired", "fallback"]
    );
    pump().await;
    let mut told = world.events().await;
    told.sort_by_key(|e| e.kind.as_str());
    assert_eq!(
        types(&told),
        ["message.released", "message.status"],
        "{told:?}"
    );
    assert_eq!(told[0].data["outcome"], "fallback");
    assert_eq!(told[0].data["message_id"], with.as_str());
    assert_eq!(
        (&told[1].data["status"], &told[1].data["message_id"]),
        (
            &serde_json::json!("expired"),
            &serde_json::json!(without.as_str())
        )
    );
}

#[tokio::test]
async fn an_opt_out_drops_what_the_conversation_holds() {
    use vbm_platform::clock::Clock;
    let world = World::new().await;
    let now = SystemClock.now();
    let id = hold(&world, &world.phone, true).await;
    let app = world.app(&world.env.events_queue_url).await;
    let mut reader = world.reader().await;
    while reader
        .pump_once_with(|e| app.handle_stream(e))
        .await
        .unwrap()
        > 0
    {}
    world.events().await;
    world
        .store
        .conversations()
        .change_conversation(&world.business, &world.phone, now, |c| c.opt_out())
        .await
        .unwrap();
    while reader
        .pump_once_with(|e| app.handle_stream(e))
        .await
        .unwrap()
        > 0
    {}
    let held = world
        .store
        .messages()
        .get_held(&world.business, &id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.state, session_rules::HeldState::Dropped);
    assert_eq!(held.reason.as_deref(), Some("recipient_opted_out"));
    while reader
        .pump_once_with(|e| app.handle_stream(e))
        .await
        .unwrap()
        > 0
    {}
    let told = world.events().await;
    let failed: Vec<_> = told
        .iter()
        .filter(|e| e.kind.as_str() == "message.status")
        .collect();
    assert_eq!(failed.len(), 1, "{told:?}");
    assert_eq!(failed[0].data["failure"]["reason"], "recipient_opted_out");
}

/// A campaign whose last held recipient's message moves is completed by that move: its
/// `campaign.completed` comes once, after the held message's own event.
#[tokio::test]
async fn the_move_of_a_campaigns_last_held_message_completes_it_once() {
    use vbm_platform::clock::Clock;
    let world = World::new().await;
    let now = SystemClock.now();
    let campaign = vbm_store::CampaignId::generate();
    let list = [session_rules::campaign::CampaignRecipient {
        to: world.phone.as_e164().to_owned(),
        params: Default::default(),
    }];
    world
        .store
        .campaigns()
        .create_campaign(&vbm_store::NewCampaign {
            business: &world.business,
            id: campaign.clone(),
            name: None,
            message: r#"{"type":"session","text":"hi"}"#,
            recipients: &list,
            send_at: None,
            window: None,
            idempotency: None,
            now,
        })
        .await
        .unwrap();
    world
        .store
        .campaigns()
        .start_campaign(&world.business, &campaign, now)
        .await
        .unwrap();
    let at = vbm_store::ChunkRef {
        business: &world.business,
        campaign: &campaign,
        chunk: 0,
    };
    let hold = vbm_store::Candidate::Hold {
        slot: 0,
        hold: vbm_store::NewHold {
            send: vbm_store::NewSend {
                business: &world.business,
                message_id: campaign.message_id(0),
                to: &world.phone,
                class: session_rules::SendClass::Session,
                kind: "session",
                billing: session_rules::BillingCategory::Session,
                payload: "{}",
                service_id: None,
                idempotency: None,
                failover: None,
                now: now.minus(std::time::Duration::from_secs(7200)),
            },
            // Already due: its timer goes to the timers queue at once.
            until: now.minus(std::time::Duration::from_secs(3600)),
            fallback: None,
        },
    };
    let admitted = world
        .store
        .campaigns()
        .admit_chunk(at, 1, &Default::default(), vec![hold])
        .await
        .unwrap();
    assert_eq!((admitted.held, admitted.finished), (1, true));

    let app = world.app(&world.env.events_queue_url).await;
    let mut reader = world.reader().await;
    let mut pump = async || {
        while reader
            .pump_once_with(|e| app.handle_stream(e))
            .await
            .unwrap()
            > 0
        {}
    };
    pump().await;
    assert_eq!(types(&world.events().await), ["message.held"]);
    let timers = vbm_testkit::drain(&world.sqs, &world.env.session_timers_queue_url).await;
    assert_eq!(timers.len(), 1);
    let mut record = aws_lambda_events::sqs::SqsMessage::default();
    record.message_id = Some("m".into());
    record.body = Some(timers[0].body.clone());
    assert_eq!(app.timer_record(&record).await.unwrap(), "expired");
    pump().await;
    let told = world.events().await;
    assert_eq!(
        types(&told),
        ["message.status", "campaign.completed"],
        "{told:?}"
    );
    assert_eq!(told[1].data["counts"]["held"]["expired"], 1);
    let c = world
        .store
        .campaigns()
        .get_campaign(&world.business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, session_rules::campaign::CampaignState::Completed);
}
