//! `failover` against the emulator (table, failover and events queues) and a local HTTP server
//! playing End User Messaging's `SendTextMessage` (AWS JSON 1.0, as the SDK speaks it; moto
//! answers this API 500). Jobs and receipts go through `App::handle_body` as the queue would
//! deliver them, redeliveries and concurrent deliveries included.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failover::App;
use failover::sms::SmsSender;
use serde_json::{Value, json};
use session_rules::failover::{FailoverSms, FailoverSpec, FailoverState, FailoverStep, Triggers};
use session_rules::{Limits, MessageStatus, PhoneNumber, SendClass};
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_queue::Retries;
use vbm_store::{BusinessId, MessageId, NewBusiness, NewSend, Retention, SendOutcome, Store};
use vbm_testkit::TestEnv;
use vbm_testkit::stand_in::{self, Answer};

/// End User Messaging's stand-in: records every SendTextMessage; the first `failing` calls are
/// answered `InternalServerException` (500, nothing sent).
struct FakeSms {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<Value>>>,
    calls: Arc<AtomicUsize>,
}

impl FakeSms {
    async fn start(failing: usize) -> Self {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let (sent2, calls2) = (sent.clone(), calls.clone());
        let addr = stand_in::serve(move |request| {
            let target = request.header("x-amz-target").unwrap_or_default();
            assert_eq!(target, "PinpointSMSVoiceV2.SendTextMessage");
            let body = request.json();
            let n = calls2.fetch_add(1, Ordering::SeqCst);
            let (status, answer) = if n < failing {
                (
                    500,
                    json!({"__type": "InternalServerException", "Message": "stand-in failure"}),
                )
            } else {
                let mut sent = sent2.lock().unwrap();
                sent.push(body);
                (200, json!({"MessageId": format!("sms-{}", sent.len())}))
            };
            Answer::json(status, answer).with_content_type("application/x-amz-json-1.0")
        })
        .await;
        Self { addr, sent, calls }
    }

    fn sent(&self) -> Vec<Value> {
        self.sent.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

struct World {
    env: TestEnv,
    store: Store,
    sqs: aws_sdk_sqs::Client,
    app: App,
    clock: Arc<OffsetClock>,
    sms: FakeSms,
    business: BusinessId,
}

const ANN: &str = "+447911123456";

impl World {
    async fn new(failing: usize, max_attempts: u32) -> Self {
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let sdk = env.sdk_config().await;
        let sqs = env.sqs().await;
        let store = || {
            Store::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                env.table.clone(),
                Limits::default(),
                Retention::default(),
            )
        };
        // The business, with the sender id its failovers name registered by the operator.
        let business = BusinessId::parse("acme").unwrap();
        store()
            .businesses()
            .create_business(&NewBusiness {
                id: business.clone(),
                service_id: 1001,
                callback_url: None,
                allow_cidrs: vec![],
            })
            .await
            .unwrap();
        store()
            .businesses()
            .update_sms_policy(&business, |p| {
                p.senders.insert("Acme".into());
            })
            .await
            .unwrap()
            .unwrap();
        let sms = FakeSms::start(failing).await;
        let clock = Arc::new(OffsetClock::new());
        let app = App::new(
            store(),
            SmsSender::new(
                &sdk,
                Some(&format!("http://{}", sms.addr)),
                None,
                Some("Default".into()),
            ),
            EventsQueue::new(sqs.clone(), env.events_queue_url.clone()),
            Retries::new(
                sqs.clone(),
                env.failover_queue_url.clone(),
                failover::SCHEDULE,
            ),
            clock.clone(),
            max_attempts,
        );
        Self {
            store: store(),
            sqs,
            app,
            clock,
            sms,
            business,
            env,
        }
    }

    /// A message to `to`, sent by Viber, with `spec` as its failover.
    async fn sent(&self, to: &str, spec: Option<&FailoverSpec>) -> MessageId {
        let id = MessageId::generate();
        let now = self.clock.now();
        let outcome = self
            .store
            .messages()
            .record_send(&NewSend {
                business: &self.business,
                message_id: id.clone(),
                to: &PhoneNumber::parse(to).unwrap(),
                class: SendClass::Informative,
                kind: "transactional",
                billing: session_rules::BillingCategory::TransactionalTemplate,
                payload: "{}",
                service_id: None,
                idempotency: None,
                failover: spec,
                now,
            })
            .await
            .unwrap();
        assert!(matches!(outcome, SendOutcome::Accepted { .. }));
        self.status(&id, MessageStatus::Sent).await;
        id
    }

    async fn status(&self, id: &MessageId, status: MessageStatus) {
        self.store
            .messages()
            .apply_status(&self.business, id, status, self.clock.now())
            .await
            .unwrap()
            .unwrap();
    }

    fn job(&self, id: &MessageId, trigger: &str) -> String {
        json!({"business_id": "acme", "message_id": id.as_str(), "trigger": trigger}).to_string()
    }

    async fn failover(&self, id: &MessageId) -> session_rules::failover::FailoverRecord {
        self.store
            .messages()
            .get_message(&self.business, id, self.clock.now())
            .await
            .unwrap()
            .unwrap()
            .failover
            .unwrap()
    }

    async fn steps(&self, id: &MessageId) -> Vec<FailoverStep> {
        self.store
            .messages()
            .get_message(&self.business, id, self.clock.now())
            .await
            .unwrap()
            .unwrap()
            .history
            .iter()
            .filter_map(|e| e.failover)
            .collect()
    }

    /// The `message.failover` events queued so far (drained).
    async fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.env.events_queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                return events;
            }
            for m in out.messages() {
                let event = EventsQueue::parse(m.body().unwrap()).unwrap();
                if event.kind == EventKind::MessageFailover {
                    events.push(event);
                }
            }
        }
    }

    fn receipt(&self, id: &MessageId, sms_id: &str, kind: &str) -> String {
        json!({"eventType": kind, "eventVersion": "1.0", "eventTimestamp": 1_800_000_000_000i64,
               "isFinal": true, "messageId": sms_id, "messageStatus": "DELIVERED",
               "destinationPhoneNumber": ANN,
               "context": {"business_id": "acme", "message_id": id.as_str()}})
        .to_string()
    }
}

fn spec(triggers: Triggers) -> FailoverSpec {
    FailoverSpec {
        sms: FailoverSms {
            text: "Your code is 1234".into(),
            sender_id: Some("Acme".into()),
        },
        triggers,
    }
}

fn with_deadline() -> Triggers {
    Triggers {
        deadline_seconds: Some(60),
        ..Triggers::default()
    }
}

#[tokio::test]
async fn every_trigger_sends_one_sms_with_the_message_as_context() {
    let world = World::new(0, 4).await;
    for trigger in [
        "not_viber_user",
        "no_suitable_device",
        "expired",
        "deadline",
    ] {
        let id = world.sent(ANN, Some(&spec(with_deadline()))).await;
        let outcome = world
            .app
            .handle_body(&world.job(&id, trigger))
            .await
            .unwrap();
        assert_eq!(outcome, "failover_sent", "{trigger}");
        let failover = world.failover(&id).await;
        assert_eq!(failover.state, Some(FailoverState::Sent), "{trigger}");
        assert_eq!(failover.trigger.map(|t| t.as_str()), Some(trigger));
        assert_eq!(failover.attempts, 1);
        let last = world.sms.sent().last().cloned().unwrap();
        assert_eq!(last["DestinationPhoneNumber"], ANN);
        assert_eq!(last["MessageBody"], "Your code is 1234");
        assert_eq!(last["OriginationIdentity"], "Acme");
        assert_eq!(last["MessageType"], "TRANSACTIONAL");
        assert_eq!(last["Context"]["message_id"], id.as_str());
        assert_eq!(last["Context"]["business_id"], "acme");
    }
    assert_eq!(world.sms.sent().len(), 4);
    let events = world.events().await;
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|e| e.data["status"] == "failover_sent" && e.data["channel"] == "sms")
    );
}

#[tokio::test]
async fn a_redelivered_or_concurrent_job_sends_one_sms() {
    let world = Arc::new(World::new(0, 4).await);
    let id = world.sent(ANN, Some(&spec(with_deadline()))).await;
    // The expired callback's job and the deadline's, each delivered several times, at once.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (world, id) = (world.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let trigger = if i % 2 == 0 { "expired" } else { "deadline" };
            world.app.handle_body(&world.job(&id, trigger)).await.ok()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(world.sms.calls(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Some("failover_sent"))
            .count(),
        1,
        "{outcomes:?}"
    );
    // The ones that met the attempt in flight are retried later, and then find it sent.
    for trigger in ["expired", "deadline", "expired"] {
        assert_eq!(
            world
                .app
                .handle_body(&world.job(&id, trigger))
                .await
                .unwrap(),
            "already_handled"
        );
    }
    assert_eq!(world.sms.calls(), 1);
    assert_eq!(
        world.steps(&id).await,
        [FailoverStep::Triggered, FailoverStep::Sent]
    );
    // Every repeat queues the same event again: one id.
    let events = world.events().await;
    assert!(events.len() >= 2);
    assert!(events.iter().all(|e| e.event_id == events[0].event_id));
}

#[tokio::test]
async fn the_receipt_records_delivery_once_and_the_view_says_sms() {
    let world = World::new(0, 4).await;
    let id = world.sent(ANN, Some(&spec(Triggers::default()))).await;
    world
        .app
        .handle_body(&world.job(&id, "expired"))
        .await
        .unwrap();
    let sms_id = world.failover(&id).await.sms_message_id.unwrap();
    // Progress events change nothing.
    assert_eq!(
        world
            .app
            .handle_body(&world.receipt(&id, &sms_id, "TEXT_QUEUED"))
            .await
            .unwrap(),
        "receipt_progress"
    );
    let delivered = world.receipt(&id, &sms_id, "TEXT_DELIVERED");
    assert_eq!(
        world.app.handle_body(&delivered).await.unwrap(),
        "receipt_recorded"
    );
    assert_eq!(
        world.app.handle_body(&delivered).await.unwrap(),
        "receipt_repeated"
    );
    // A receipt for another SMS of this message cannot be.
    assert_eq!(
        world
            .app
            .handle_body(&world.receipt(&id, "other", "TEXT_DELIVERED"))
            .await
            .unwrap(),
        "receipt_repeated"
    );
    assert_eq!(
        world.failover(&id).await.state,
        Some(FailoverState::Delivered)
    );
    assert_eq!(
        world.steps(&id).await,
        [
            FailoverStep::Triggered,
            FailoverStep::Sent,
            FailoverStep::Delivered
        ]
    );
    let kinds: Vec<Value> = world
        .events()
        .await
        .iter()
        .map(|e| e.data["status"].clone())
        .collect();
    assert!(kinds.contains(&json!("failover_delivered")), "{kinds:?}");
    // A late Viber `delivered` after the SMS went: recorded, no second SMS.
    world.status(&id, MessageStatus::Delivered).await;
    assert_eq!(
        world
            .app
            .handle_body(&world.job(&id, "deadline"))
            .await
            .unwrap(),
        "already_handled"
    );
    assert_eq!(world.sms.calls(), 1);
    let message = world
        .store
        .messages()
        .get_message(&world.business, &id, world.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.track.current, MessageStatus::Delivered);
}

#[tokio::test]
async fn a_failing_provider_is_retried_then_sends_once() {
    let world = World::new(2, 4).await;
    let id = world.sent(ANN, Some(&spec(Triggers::default()))).await;
    let job = world.job(&id, "not_viber_user");
    assert!(
        world.app.handle_body(&job).await.is_err(),
        "first refusal: retried"
    );
    assert!(
        world.app.handle_body(&job).await.is_err(),
        "second refusal: retried"
    );
    assert_eq!(world.app.handle_body(&job).await.unwrap(), "failover_sent");
    assert_eq!(
        world.app.handle_body(&job).await.unwrap(),
        "already_handled"
    );
    assert_eq!(world.sms.calls(), 3);
    assert_eq!(world.sms.sent().len(), 1, "nothing sent twice");
    let failover = world.failover(&id).await;
    assert_eq!(
        (failover.state, failover.attempts),
        (Some(FailoverState::Sent), 3)
    );
    assert_eq!(
        failover.reason, None,
        "the refusals before do not stay as its reason"
    );
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_reported_failed_and_never_called_again() {
    let world = World::new(usize::MAX, 3).await;
    let id = world.sent(ANN, Some(&spec(Triggers::default()))).await;
    let job = world.job(&id, "expired");
    assert!(world.app.handle_body(&job).await.is_err());
    assert!(world.app.handle_body(&job).await.is_err());
    assert_eq!(
        world.app.handle_body(&job).await.unwrap(),
        "failover_failed"
    );
    assert_eq!(
        world.app.handle_body(&job).await.unwrap(),
        "already_handled"
    );
    assert_eq!(world.sms.calls(), 3, "max attempts, then no call");
    assert!(world.sms.sent().is_empty());
    let failover = world.failover(&id).await;
    assert_eq!(failover.state, Some(FailoverState::Failed));
    assert!(failover.reason.unwrap().contains("InternalServerException"));
    let events = world.events().await;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.data["status"] == "failover_failed"));
    assert_eq!(
        world.steps(&id).await,
        [FailoverStep::Triggered, FailoverStep::Failed]
    );
}

#[tokio::test]
async fn never_for_an_opted_out_user_after_delivered_or_for_a_trigger_that_is_off() {
    let world = World::new(0, 4).await;
    let opted_out = world.sent(ANN, Some(&spec(with_deadline()))).await;
    world
        .store
        .conversations()
        .set_opted_out(
            &world.business,
            &PhoneNumber::parse(ANN).unwrap(),
            true,
            world.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        world
            .app
            .handle_body(&world.job(&opted_out, "expired"))
            .await
            .unwrap(),
        "opted_out"
    );
    let delivered = world
        .sent("+447911123457", Some(&spec(with_deadline())))
        .await;
    world.status(&delivered, MessageStatus::Delivered).await;
    assert_eq!(
        world
            .app
            .handle_body(&world.job(&delivered, "deadline"))
            .await
            .unwrap(),
        "after_delivered"
    );
    let off = world
        .sent(
            "+447911123458",
            Some(&spec(Triggers {
                expired: false,
                ..Triggers::default()
            })),
        )
        .await;
    assert_eq!(
        world
            .app
            .handle_body(&world.job(&off, "expired"))
            .await
            .unwrap(),
        "trigger_off"
    );
    assert_eq!(
        world
            .app
            .handle_body(&world.job(&off, "deadline"))
            .await
            .unwrap(),
        "trigger_off"
    );
    let none = world.sent("+447911123459", None).await;
    assert_eq!(
        world
            .app
            .handle_body(&world.job(&none, "expired"))
            .await
            .unwrap(),
        "no_failover"
    );
    assert_eq!(world.sms.calls(), 0);
    assert!(world.events().await.is_empty());
}

#[tokio::test]
async fn an_attempt_that_died_in_flight_is_reported_failed_not_sent_again() {
    let world = World::new(0, 4).await;
    let id = world.sent(ANN, Some(&spec(Triggers::default()))).await;
    // A delivery claimed and began its attempt, then died before recording the answer.
    world
        .store
        .messages()
        .claim_failover(
            &world.business,
            &id,
            &PhoneNumber::parse(ANN).unwrap(),
            session_rules::failover::Trigger::Expired,
            &session_rules::sms::SmsAllowance::of(&Default::default(), 1),
            world.clock.now(),
        )
        .await
        .unwrap();
    assert!(
        world
            .store
            .messages()
            .begin_failover_attempt(&world.business, &id, 0, failover::LEASE, world.clock.now())
            .await
            .unwrap()
    );
    let job = world.job(&id, "expired");
    // While its lease runs, the redelivery waits.
    assert!(world.app.handle_body(&job).await.is_err());
    world
        .clock
        .advance(failover::LEASE + Duration::from_secs(1));
    assert_eq!(
        world.app.handle_body(&job).await.unwrap(),
        "failover_failed"
    );
    assert_eq!(world.sms.calls(), 0, "at most once: never sent again");
    let failover = world.failover(&id).await;
    assert_eq!(failover.reason.as_deref(), Some("outcome_unknown"));
}

#[tokio::test]
async fn a_batch_reports_exactly_the_records_to_retry() {
    let world = World::new(1, 4).await;
    let refused = world.sent(ANN, Some(&spec(Triggers::default()))).await;
    use vbm_testkit::sqs::{event, record};
    let event = event(vec![
        record("a", world.job(&refused, "expired")),
        record("b", "not json"),
    ]);
    let answer = world.app.handle_batch(event).await;
    let mut failed: Vec<String> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(failed, ["a", "b"]);
}

/// The business's SMS policy is checked again at the claim (the operator may have changed it
/// since the send was accepted, or the message came another way): a failover it refuses is
/// recorded `refused` with its reason, its `message.failover` event says so, and no SMS goes.
#[tokio::test]
async fn a_failover_the_policy_refuses_at_the_claim_is_recorded_with_its_reason_never_sent() {
    let world = World::new(0, 4).await;
    let cyrillic = "Ж".repeat(1600);
    let cases = [
        ("+449098790000", "Your code is 1234", "Acme", "premium_rate"),
        ("+19002345678", "Your code is 1234", "Acme", "premium_rate"),
        (
            "+2693212345",
            "Your code is 1234",
            "Acme",
            "country_not_allowed",
        ),
        (
            "+8823451234567",
            "Your code is 1234",
            "Acme",
            "international_network",
        ),
        (ANN, cyrillic.as_str(), "Acme", "too_many_parts"),
        (ANN, "Your code is 1234", "HSBC", "sender_not_registered"),
    ];
    let mut ids = Vec::new();
    for (to, text, sender, reason) in cases {
        let spec = FailoverSpec {
            sms: FailoverSms {
                text: text.into(),
                sender_id: Some(sender.into()),
            },
            triggers: Triggers::default(),
        };
        let id = world.sent(to, Some(&spec)).await;
        let job = world.job(&id, "not_viber_user");
        assert_eq!(
            world.app.handle_body(&job).await.unwrap(),
            "failover_refused",
            "{to} {reason}"
        );
        let failover = world.failover(&id).await;
        assert_eq!(failover.state.map(|s| s.as_str()), Some("refused"), "{to}");
        assert_eq!(failover.reason.as_deref(), Some(reason), "{to}");
        // A redelivery, or another trigger, finds it refused and sends nothing.
        assert_eq!(
            world.app.handle_body(&job).await.unwrap(),
            "already_handled"
        );
        assert_eq!(
            world
                .app
                .handle_body(&world.job(&id, "expired"))
                .await
                .unwrap(),
            "already_handled"
        );
        ids.push((id, reason));
    }
    assert_eq!(world.sms.calls(), 0);
    let events = world.events().await;
    for (id, reason) in &ids {
        let mine: Vec<&Event> = events
            .iter()
            .filter(|e| e.data["message_id"] == id.as_str())
            .collect();
        assert!(!mine.is_empty(), "no event for {id}");
        assert!(mine.iter().all(|e| e.event_id == mine[0].event_id));
        assert_eq!(mine[0].data["status"], "failover_refused");
        assert_eq!(mine[0].data["reason"], *reason);
    }
}

/// The day's SMS cap holds under real concurrency: 30 failovers at once against a cap of 10
/// send exactly 10 SMS; the other 20 are recorded refused (`daily_cap`) and counted.
#[tokio::test]
async fn thirty_concurrent_failovers_against_a_day_cap_of_ten_send_exactly_ten_sms() {
    let world = Arc::new(World::new(0, 4).await);
    world
        .store
        .businesses()
        .update_sms_policy(&world.business, |p| p.max_per_day = 10)
        .await
        .unwrap()
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..30 {
        let to = format!("+4479111{n:05}");
        ids.push(world.sent(&to, Some(&spec(Triggers::default()))).await);
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (world, id) = (world.clone(), id.clone());
            tokio::spawn(async move {
                world
                    .app
                    .handle_body(&world.job(&id, "not_viber_user"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let count = |o: &str| outcomes.iter().filter(|x| **x == o).count();
    assert_eq!(
        (count("failover_sent"), count("failover_refused")),
        (10, 20),
        "{outcomes:?}"
    );
    assert_eq!(world.sms.calls(), 10);
    for id in &ids {
        let failover = world.failover(id).await;
        match failover.state {
            Some(FailoverState::Sent) => {}
            Some(FailoverState::Refused) => {
                assert_eq!(failover.reason.as_deref(), Some("daily_cap"));
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    let usage = world
        .store
        .businesses()
        .sms_usage(&world.business, world.clock.now())
        .await
        .unwrap();
    assert_eq!((usage.day.sms, usage.day.refused), (10, 20));
}

/// The operator's kill switch: a failover job of a disabled business is parked, no SMS sent
/// and nothing left to dead-letter; once the business is enabled, the job `relay` queues again
/// (the parked body) sends the SMS.
#[tokio::test]
async fn a_disabled_business_sends_no_sms_until_it_is_enabled() {
    // The world's business is stored (with its SMS policy), so it can be disabled.
    let world = World::new(0, 4).await;
    let id = world.sent(ANN, Some(&spec(with_deadline()))).await;
    world
        .store
        .businesses()
        .set_business_disabled(&world.business, true)
        .await
        .unwrap();
    let outcome = world
        .app
        .handle_body(&world.job(&id, "expired"))
        .await
        .unwrap();
    assert_eq!(
        world.sms.sent().len(),
        0,
        "a disabled business's SMS went out"
    );
    assert_eq!(outcome, "parked");
    let parked = world
        .store
        .parking()
        .parked(&world.business, &vbm_store::Hold::Business)
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);

    world
        .store
        .businesses()
        .set_business_disabled(&world.business, false)
        .await
        .unwrap();
    let outcome = world.app.handle_body(&parked[0].1.body).await.unwrap();
    assert_eq!(outcome, "failover_sent");
    assert_eq!(world.sms.sent().len(), 1);
}
