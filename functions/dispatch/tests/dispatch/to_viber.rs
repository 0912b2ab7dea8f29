//! `dispatch` against the emulator (table, outbound FIFO queue, events queue) and a local HTTP
//! server playing Viber. Every test goes the whole way: the store accepts a send
//! (`record_send`), the job is enqueued, received back from the test's own outbound queue and
//! handed to `App::handle_batch`, as Lambda would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use dispatch::App;
use serde_json::{Value, json};
use session_rules::{
    Language, Limits, MessageStatus, PhoneNumber, SendRequest, SendRequestBody, SessionState,
    Template, TemplateCategory, TemplateId,
};
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::{OutboundJob, OutboundQueue};
use vbm_store::{BusinessId, MessageId, NewSend, SendOutcome, Store};
use vbm_testkit::TestEnv;
use vbm_testkit::sqs;
use vbm_testkit::stand_in::{self, Answer};
use viber::seq_for;

use crate::common;

const SERVICE_ID: u64 = 4242;

/// How the stand-in answers one request.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn viber_status(status: i64) -> Reply {
    Reply {
        status: 200,
        body: json!({"status": status, "seq": 1}).to_string(),
        delay: Duration::ZERO,
    }
}

fn http(status: u16) -> Reply {
    Reply {
        status,
        body: "{}".into(),
        delay: Duration::ZERO,
    }
}

type Responder = Arc<dyn Fn(&Value, usize) -> Reply + Send + Sync>;

/// Viber's stand-in: records every request body, answers with `respond(body, n)` (`n`: how
/// many requests came before).
struct FakeViber {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Value>>>,
}

impl FakeViber {
    /// Answers every send with success and a fresh token.
    async fn accepting() -> Self {
        Self::start(Arc::new(|body: &Value, n| Reply {
            status: 200,
            body: json!({"status": 0, "seq": body["seq"], "message_token": 9_000_000_000u64 + n as u64,
                         "session_id": format!("s-{n}")})
            .to_string(),
            delay: Duration::ZERO,
        }))
        .await
    }

    async fn answering(reply: Reply) -> Self {
        Self::start(Arc::new(move |_: &Value, _| reply.clone())).await
    }

    async fn start(respond: Responder) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        let addr = stand_in::serve(move |seen| {
            assert_eq!(seen.path, "/vibersrvc/1/send_message");
            let body = seen.json();
            let reply = {
                let mut seen = recorder.lock().unwrap();
                let reply = respond(&body, seen.len());
                seen.push(body);
                reply
            };
            Answer::json(reply.status, reply.body).after(reply.delay)
        })
        .await;
        Self { addr, received }
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

/// One test's world: a fresh table and queues, a business, the app under test.
struct World {
    env: TestEnv,
    store: Store,
    /// The outbox, as Lambda runs it: the table's stream read into `relay`.
    relay: relay::App,
    stream: tokio::sync::Mutex<relay::reader::StreamReader>,
    sqs: aws_sdk_sqs::Client,
    app: App,
    business: BusinessId,
    viber: FakeViber,
}

impl World {
    async fn new(viber: FakeViber) -> Self {
        Self::with_timeout(viber, Duration::from_secs(5)).await
    }

    async fn with_timeout(viber: FakeViber, timeout: Duration) -> Self {
        // EMF metric lines go straight to stdout, past the test harness's capture.
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let dynamodb = env.dynamodb().await;
        let sqs = env.sqs().await;
        let store = || common::store(&env, &dynamodb);
        let business = common::business(&store(), "acme", SERVICE_ID).await;
        let app = common::app(
            &env,
            &sqs,
            store(),
            &format!("http://{}/vibersrvc/1", viber.addr),
            timeout,
        );
        let stream =
            relay::reader::StreamReader::for_table(&dynamodb, env.streams().await, &env.table)
                .await
                .unwrap();
        Self {
            relay: relay::App::new(OutboundQueue::new(
                sqs.clone(),
                env.outbound_queue_url.clone(),
            )),
            stream: tokio::sync::Mutex::new(stream),
            store: store(),
            sqs,
            app,
            business,
            viber,
            env,
        }
    }

    /// The user writes to the business: a session opens.
    async fn user_writes(&self, to: &str) {
        self.store
            .conversations()
            .record_user_message(&self.business, &phone(to), SystemClock.now())
            .await
            .unwrap();
    }

    /// What `send` does: admit and record (one transaction); then the table's stream and
    /// `relay` put the job on the outbound queue. Returns the message id.
    async fn accept(&self, body: Value) -> MessageId {
        let wire: SendRequestBody = serde_json::from_value(body.clone()).unwrap();
        let request = SendRequest::parse(&wire, self.store.limits()).unwrap();
        let template = match &request.message {
            session_rules::OutboundMessage::Template { id, .. } => self
                .store
                .templates()
                .get_template(&self.business, id)
                .await
                .unwrap(),
            _ => None,
        };
        let admission = request
            .admit(
                template.as_ref(),
                session_rules::LegacyTransactional::Allowed,
            )
            .unwrap();
        let id = MessageId::generate();
        let payload = body.to_string();
        let outcome = self
            .store
            .messages()
            .record_send(&NewSend {
                business: &self.business,
                message_id: id.clone(),
                to: &request.to,
                class: admission.class,
                kind: request.message.kind(),
                billing: admission.billing,
                payload: &payload,
                service_id: None,
                idempotency: None,
                failover: None,
                now: SystemClock.now(),
            })
            .await
            .unwrap();
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
        self.stream.lock().await.drain(&self.relay).await.unwrap();
        id
    }

    /// Hands what is on the outbound queue to `dispatch`, which must retry none of it.
    async fn dispatch_batch(&self) {
        let response = self.app.handle_batch(self.batch().await).await;
        assert!(response.batch_item_failures.is_empty());
    }

    /// Receives what is on the outbound queue, as Lambda would hand it over.
    async fn batch(&self) -> SqsEvent {
        sqs::event(sqs::receive_all(&self.sqs, &self.env.outbound_queue_url).await)
    }

    async fn status(&self, id: &MessageId) -> vbm_store::MessageRecord {
        self.store
            .messages()
            .get_message(&self.business, id, SystemClock.now())
            .await
            .unwrap()
            .expect("message stored")
    }

    async fn conversation(&self, to: &str) -> session_rules::Conversation {
        self.store
            .conversations()
            .get_conversation(&self.business, &phone(to))
            .await
            .unwrap()
            .expect("conversation stored")
    }

    /// How many messages the session with `to` has counted (`None`: no session).
    async fn messages_sent(&self, to: &str) -> Option<u32> {
        self.conversation(to).await.session.map(|s| s.messages_sent)
    }

    /// Everything queued for `notify` so far.
    async fn events(&self) -> Vec<Event> {
        sqs::receive_all(&self.sqs, &self.env.events_queue_url)
            .await
            .iter()
            .map(|r| EventsQueue::parse(r.body.as_deref().unwrap()).unwrap())
            .collect()
    }

    async fn token_item(&self, token: &str) -> Option<HashMap<String, AttributeValue>> {
        self.store
            .client()
            .get_item()
            .table_name(&self.env.table)
            .key("pk", AttributeValue::S(format!("TOKEN#{token}")))
            .key("sk", AttributeValue::S("TOKEN".into()))
            .send()
            .await
            .unwrap()
            .item()
            .cloned()
    }
}

fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

const ANN: &str = "+380501234567";
const BOB: &str = "+380501234568";
const CAT: &str = "+380501234569";

fn session_text(to: &str, text: &str) -> Value {
    json!({"to": to, "type": "session", "text": text, "tracking_data": "order-42"})
}

fn failed_ids(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn statuses_of(events: &[Event]) -> Vec<(EventKind, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.data["status"]
                    .as_str()
                    .or(e.data["phone"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn session_and_template_messages_go_out_once_and_are_recorded_as_sent() {
    let world = World::new(FakeViber::accepting().await).await;
    let template = Template::parse(
        TemplateId::parse("order_ready").unwrap(),
        Language::parse("uk").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Замовлення {{order}} готове",
    )
    .unwrap();
    world
        .store
        .templates()
        .put_template(&world.business, &template)
        .await
        .unwrap();
    world.user_writes(ANN).await;
    let session = world.accept(session_text(ANN, "Your order is ready")).await;
    let templated = world
        .accept(json!({"to": ANN, "type": "template",
                       "template": {"id": "order_ready", "params": {"order": "42"}}}))
        .await;

    let batch = world.batch().await;
    assert_eq!(batch.records.len(), 2);
    let response = world.app.handle_batch(batch.clone()).await;
    assert_eq!(failed_ids(&response), Vec::<String>::new());

    // What Viber saw, in the conversation's order.
    let sent = world.viber.received();
    assert_eq!(sent.len(), 2);
    let (s, t) = (&sent[0], &sent[1]);
    assert_eq!(s["service_id"], json!(SERVICE_ID));
    assert_eq!(s["dest"], json!("380501234567"));
    assert_eq!(s["seq"], json!(seq_for(session.as_str())));
    assert_eq!(s["type"], json!(306));
    assert_eq!(s["label"], json!("transaction"));
    assert_eq!(s["message"]["#txt"], json!("Your order is ready"));
    assert_eq!(s["message"]["#tracking_data"], json!("order-42"));
    let ttl = s["ttl"].as_u64().unwrap();
    assert!((86_390..=86_400).contains(&ttl), "{ttl}");
    assert_eq!(t["seq"], json!(seq_for(templated.as_str())));
    assert_eq!(
        t["type"],
        json!(1702),
        "a template reaches all devices by default"
    );
    assert_eq!(t["templateId"], json!("order_ready"));
    assert_eq!(t["templateLang"], json!("uk"));
    assert_eq!(t["templateParams"], json!({"order": "42"}));
    assert!(t.get("message").is_none());

    // Recorded: sent, the token, the TOKEN item that leads status callbacks back.
    for id in [&session, &templated] {
        let m = world.status(id).await;
        assert_eq!(m.track.current, MessageStatus::Sent);
        let statuses: Vec<_> = m.track.history.iter().map(|e| e.status).collect();
        assert_eq!(statuses, [MessageStatus::Accepted, MessageStatus::Sent]);
        let token = m.viber_message_token.clone().expect("token recorded");
        let item = world.token_item(&token).await.expect("TOKEN item");
        assert_eq!(item["message_id"], AttributeValue::S(id.to_string()));
        assert_eq!(item["business_id"], AttributeValue::S("acme".into()));
        assert_eq!(item["phone"], AttributeValue::S(ANN.into()));
        assert_eq!(
            item["gsi1pk"],
            AttributeValue::S(format!("CONTACT#acme#{ANN}"))
        );
        assert!(item.contains_key("expires_at"));
    }
    assert_eq!(
        world.status(&session).await.viber_session_id.as_deref(),
        Some("s-0")
    );

    let events = world.events().await;
    assert_eq!(
        statuses_of(&events),
        [
            (EventKind::MessageStatus, "sent".into()),
            (EventKind::MessageStatus, "sent".into())
        ]
    );
    assert_eq!(events[0].data["message_id"], json!(session.as_str()));
    assert_eq!(events[0].business_id, "acme");
    assert!(events[0].data["viber_message_token"].is_string());

    // The same jobs again (a redelivery): Viber is not called again, the events are queued
    // again with the same ids (the business de-duplicates), nothing fails.
    let response = world.app.handle_batch(batch).await;
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(world.viber.received().len(), 2);
    let again = world.events().await;
    let ids = |e: &[Event]| {
        let mut ids: Vec<_> = e.iter().map(|e| e.event_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&events));
    // Two session messages counted: none given back.
    let c = world.conversation(ANN).await;
    assert_eq!(c.session.map(|s| s.messages_sent), Some(1));
}

#[tokio::test]
async fn a_blocked_user_is_opted_out_and_the_session_slot_given_back() {
    let world = World::new(FakeViber::answering(viber_status(8)).await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "hello")).await;
    assert_eq!(world.messages_sent(ANN).await, Some(1));

    world.dispatch_batch().await;

    let m = world.status(&id).await;
    assert_eq!(m.track.current, MessageStatus::Failed);
    let failure = m.failure.expect("failure recorded");
    assert_eq!(
        (failure.code, failure.reason.as_str()),
        (Some(8), "SRVC_USER_BLOCKED")
    );
    let c = world.conversation(ANN).await;
    assert!(c.opted_out);
    assert_eq!(
        c.session.map(|s| (s.messages_sent, s.consecutive)),
        Some((0, 0))
    );
    let events = world.events().await;
    assert_eq!(
        statuses_of(&events),
        [
            (EventKind::MessageStatus, "failed".into()),
            (EventKind::ContactOptedOut, ANN.into())
        ]
    );
    assert_eq!(
        events[0].data["failure"],
        json!({"code": 8, "reason": "SRVC_USER_BLOCKED"})
    );
}

#[tokio::test]
async fn wait_for_user_response_locks_the_session_and_keeps_the_slot() {
    let world = World::new(FakeViber::answering(viber_status(21)).await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "hello")).await;

    world.dispatch_batch().await;

    let m = world.status(&id).await;
    assert_eq!(m.track.current, MessageStatus::Failed);
    assert_eq!(m.failure.and_then(|f| f.code), Some(21));
    let c = world.conversation(ANN).await;
    assert!(!c.opted_out);
    assert_eq!(c.session.map(|s| s.messages_sent), Some(1));
    assert_eq!(
        c.state(SystemClock.now(), &Limits::default()),
        SessionState::Locked
    );
    assert_eq!(
        statuses_of(&world.events().await),
        [(EventKind::MessageStatus, "failed".into())]
    );
}

#[tokio::test]
async fn another_refusal_of_a_session_message_gives_its_slot_back() {
    let world = World::new(FakeViber::answering(viber_status(9)).await).await;
    world.user_writes(ANN).await;
    world.accept(session_text(ANN, "first")).await;
    let id = world.accept(session_text(ANN, "second")).await;
    assert_eq!(world.messages_sent(ANN).await, Some(2));

    world.dispatch_batch().await;

    let m = world.status(&id).await;
    assert_eq!(m.track.current, MessageStatus::Failed);
    let failure = m.failure.unwrap();
    assert_eq!(
        (failure.code, failure.reason.as_str()),
        (Some(9), "SRVC_NOT_VIBER_USER")
    );
    // Both refused: both slots back, exactly once each.
    let c = world.conversation(ANN).await;
    assert_eq!(
        c.session.map(|s| (s.messages_sent, s.consecutive)),
        Some((0, 0))
    );
    assert!(!c.opted_out);
}

#[tokio::test]
async fn viber_errors_and_timeouts_leave_the_message_accepted_for_a_retry() {
    for (name, viber, timeout) in [
        ("http 500", FakeViber::answering(http(500)).await, 5),
        (
            "viber status 1",
            FakeViber::answering(viber_status(1)).await,
            5,
        ),
        (
            "timeout",
            FakeViber::answering(Reply {
                delay: Duration::from_secs(3),
                ..viber_status(0)
            })
            .await,
            1,
        ),
    ] {
        let world = World::with_timeout(viber, Duration::from_secs(timeout)).await;
        world.user_writes(ANN).await;
        let id = world.accept(session_text(ANN, "hello")).await;
        let batch = world.batch().await;
        let response = world.app.handle_batch(batch.clone()).await;
        assert_eq!(
            failed_ids(&response),
            [batch.records[0].message_id.clone().unwrap()],
            "{name}"
        );
        assert_eq!(
            world.status(&id).await.track.current,
            MessageStatus::Accepted
        );
        assert_eq!(
            world.messages_sent(ANN).await,
            Some(1),
            "{name}: the slot stays taken while the message may still go"
        );
        assert!(world.events().await.is_empty(), "{name}");
        // Backed off: not handed out again at once.
        assert!(world.batch().await.records.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn a_non_retryable_http_error_fails_the_message() {
    let world = World::new(FakeViber::answering(http(400)).await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "hello")).await;
    world.dispatch_batch().await;
    let m = world.status(&id).await;
    assert_eq!(m.track.current, MessageStatus::Failed);
    assert_eq!(m.failure.unwrap().reason, "VIBER_HTTP_400");
    assert_eq!(world.messages_sent(ANN).await, Some(0));
}

#[tokio::test]
async fn a_batch_lists_exactly_the_failed_records() {
    // Bob's sends fail; Ann's and Cat's go.
    let viber = FakeViber::start(Arc::new(|body: &Value, n| {
        if body["dest"] == json!("380501234568") {
            http(503)
        } else {
            Reply {
                status: 200,
                body: json!({"status": 0, "message_token": format!("tok-{n}")}).to_string(),
                delay: Duration::ZERO,
            }
        }
    }))
    .await;
    let world = World::new(viber).await;
    for to in [ANN, BOB, CAT] {
        world.user_writes(to).await;
    }
    let ann = world.accept(session_text(ANN, "a")).await;
    let bob = world.accept(session_text(BOB, "b")).await;
    let cat = world.accept(session_text(CAT, "c")).await;

    let batch = world.batch().await;
    assert_eq!(batch.records.len(), 3);
    let bob_record = batch
        .records
        .iter()
        .find(|r| r.body.as_deref().unwrap().contains(bob.as_str()))
        .unwrap();
    let response = world.app.handle_batch(batch.clone()).await;
    assert_eq!(
        failed_ids(&response),
        [bob_record.message_id.clone().unwrap()]
    );
    assert_eq!(world.status(&ann).await.track.current, MessageStatus::Sent);
    assert_eq!(
        world.status(&bob).await.track.current,
        MessageStatus::Accepted
    );
    assert_eq!(world.status(&cat).await.track.current, MessageStatus::Sent);
}

#[tokio::test]
async fn after_a_failure_the_rest_of_the_conversation_waits() {
    // The first send fails; the second, to the same user, must not overtake it.
    let viber = FakeViber::start(Arc::new(|_: &Value, n| {
        if n == 0 {
            http(500)
        } else {
            Reply {
                status: 200,
                body: json!({"status": 0, "message_token": format!("tok-{n}")}).to_string(),
                delay: Duration::ZERO,
            }
        }
    }))
    .await;
    let world = World::new(viber).await;
    world.user_writes(ANN).await;
    let first = world.accept(session_text(ANN, "first")).await;
    let second = world.accept(session_text(ANN, "second")).await;
    let batch = world.batch().await;
    assert_eq!(batch.records.len(), 2);
    let response = world.app.handle_batch(batch.clone()).await;
    let all: Vec<String> = batch
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    assert_eq!(failed_ids(&response), all);
    assert_eq!(world.viber.received().len(), 1);
    for id in [&first, &second] {
        assert_eq!(
            world.status(id).await.track.current,
            MessageStatus::Accepted
        );
    }
}

#[tokio::test]
async fn garbage_fails_the_record_and_vanished_messages_are_skipped() {
    let world = World::new(FakeViber::accepting().await).await;
    let mut garbage = SqsMessage::default();
    garbage.message_id = Some("garbage".into());
    garbage.body = Some("not json".into());
    let mut gone = SqsMessage::default();
    gone.message_id = Some("gone".into());
    gone.body = Some(
        serde_json::to_string(&OutboundJob::new(
            "acme",
            MessageId::generate().as_str(),
            ANN,
        ))
        .unwrap(),
    );
    let mut event = SqsEvent::default();
    event.records = vec![garbage, gone];
    let response = world.app.handle_batch(event).await;
    assert_eq!(failed_ids(&response), ["garbage"]);
    assert!(world.viber.received().is_empty());
}

#[tokio::test]
async fn a_job_that_keeps_failing_goes_to_the_dead_letter_queue_after_max_receives() {
    let world = World::new(FakeViber::answering(http(500)).await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "hello")).await;
    // The template's MaxReceiveCount is 5: five tries, each reported as a batch item failure.
    for attempt in 1..=5 {
        let batch = world.batch().await;
        assert_eq!(batch.records.len(), 1, "attempt {attempt}");
        let response = world.app.handle_batch(batch.clone()).await;
        assert_eq!(failed_ids(&response).len(), 1, "attempt {attempt}");
        // Skip the back-off so the test does not wait for it.
        world
            .sqs
            .change_message_visibility()
            .queue_url(&world.env.outbound_queue_url)
            .receipt_handle(batch.records[0].receipt_handle.clone().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    // The next receive finds it moved to the dead-letter queue, where the alarm watches.
    assert!(world.batch().await.records.is_empty());
    let dead = sqs::receive_all(&world.sqs, &world.env.outbound_dlq_url).await;
    assert_eq!(dead.len(), 1);
    let job: vbm_queue::OutboundJob =
        serde_json::from_str(dead[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(job.message_id, id.as_str());
    // Still `accepted`, slot still held: a redrive from the DLQ can still send it.
    assert_eq!(
        world.status(&id).await.track.current,
        MessageStatus::Accepted
    );
}

/// Statuses Viber called back with before the token was recorded, kept by `status` on the
/// `TOKEN` item: applied right after `mark_sent`, each event once, then forgotten.
#[tokio::test]
async fn statuses_kept_before_the_token_are_applied_once_it_is_recorded() {
    use vbm_store::{Kept, PendingStatus};
    let world = World::new(FakeViber::accepting().await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "Your order is ready")).await;
    // The stand-in's first token; Viber's callbacks for it arrive before dispatch runs.
    let token = "9000000000";
    let t0 = SystemClock.now();
    let at = |ms: i64| session_rules::Timestamp::from_millis(t0.as_millis() + ms);
    for (status, ms) in [
        (MessageStatus::Seen, 2000),
        (MessageStatus::Delivered, 1000),
        (MessageStatus::Delivered, 1500), // a duplicate: the first one's time is kept
    ] {
        let kept = world
            .store
            .messages()
            .keep_pending_status(token, PendingStatus { status, at: at(ms) }, t0)
            .await
            .unwrap();
        assert_eq!(kept, Kept::Pending);
    }
    assert!(
        world
            .store
            .messages()
            .message_by_token(token, t0)
            .await
            .unwrap()
            .is_none()
    );

    let batch = world.batch().await;
    let response = world.app.handle_batch(batch.clone()).await;
    assert_eq!(failed_ids(&response), Vec::<String>::new());

    let m = world.status(&id).await;
    assert_eq!(m.viber_message_token.as_deref(), Some(token));
    assert_eq!(m.track.current, MessageStatus::Seen);
    let history: Vec<_> = m.track.history.iter().map(|e| (e.status, e.at)).collect();
    assert_eq!(
        history[1..],
        [
            (MessageStatus::Sent, history[1].1),
            (MessageStatus::Delivered, at(1000)),
            (MessageStatus::Seen, at(2000)),
        ]
    );
    let events = world.events().await;
    assert_eq!(
        statuses_of(&events),
        [
            (EventKind::MessageStatus, "sent".into()),
            (EventKind::MessageStatus, "delivered".into()),
            (EventKind::MessageStatus, "seen".into()),
        ]
    );
    assert_eq!(events[1].data["viber_message_token"], json!(token));
    assert_eq!(events[1].data["to"], json!(ANN));
    // Each carries the billing the message was accepted with: the session's first reply.
    for event in &events {
        assert_eq!(
            event.data["billing"],
            json!({"category": "session", "billable": true})
        );
    }
    // The same id `status` gives the event when it applies a callback itself.
    let direct = vbm_events::CallbackStatus {
        business: "acme",
        message_id: id.as_str(),
        to: ANN,
        status: MessageStatus::Delivered,
        at: at(1000),
        token,
        billing: Some(session_rules::Billing {
            category: session_rules::BillingCategory::Session,
            billable: true,
        }),
    }
    .event();
    assert_eq!(events[1], direct);
    // Forgotten once applied; the token's record is whole.
    let item = world.token_item(token).await.expect("TOKEN item");
    assert!(!item.keys().any(|k| k.starts_with("pending_")), "{item:?}");
    assert_eq!(item["message_id"], AttributeValue::S(id.to_string()));

    // A redelivery applies nothing twice.
    let response = world.app.handle_batch(batch).await;
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(world.status(&id).await.track.history.len(), 4);
    assert_eq!(
        statuses_of(&world.events().await),
        [(EventKind::MessageStatus, "sent".into())]
    );
}

/// A delivery that recorded the token but died before applying what was kept: the job's
/// redelivery applies it.
#[tokio::test]
async fn a_redelivered_job_applies_what_its_first_delivery_left_kept() {
    let world = World::new(FakeViber::accepting().await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "Your order is ready")).await;
    let batch = world.batch().await;
    assert_eq!(
        failed_ids(&world.app.handle_batch(batch.clone()).await),
        Vec::<String>::new()
    );
    let token = world.status(&id).await.viber_message_token.unwrap();
    let first = world.events().await;
    // As if kept in the moment before mark_sent, and the delivery died right after it.
    let delivered_at = SystemClock.now();
    world
        .store
        .client()
        .update_item()
        .table_name(&world.env.table)
        .key("pk", AttributeValue::S(format!("TOKEN#{token}")))
        .key("sk", AttributeValue::S("TOKEN".into()))
        .update_expression("SET pending_delivered = :at")
        .expression_attribute_values(
            ":at",
            AttributeValue::N(delivered_at.as_millis().to_string()),
        )
        .send()
        .await
        .unwrap();

    assert_eq!(
        failed_ids(&world.app.handle_batch(batch).await),
        Vec::<String>::new()
    );
    let m = world.status(&id).await;
    assert_eq!(m.track.current, MessageStatus::Delivered);
    assert_eq!(m.track.history.last().map(|e| e.at), Some(delivered_at));
    let events = world.events().await;
    assert_eq!(
        statuses_of(&events),
        [
            (EventKind::MessageStatus, "sent".into()),
            (EventKind::MessageStatus, "delivered".into()),
        ]
    );
    assert_eq!(events[0].event_id, first[0].event_id);
    assert!(
        world
            .store
            .messages()
            .pending_statuses(&token, SystemClock.now())
            .await
            .unwrap()
            .is_empty()
    );
}

/// a 21 that answers a message admitted before the user wrote again does not lock
/// the session the user's message unlocked.
#[tokio::test]
async fn a_late_21_does_not_relock_a_session_the_user_unlocked() {
    let world = World::new(FakeViber::answering(viber_status(21)).await).await;
    world.user_writes(ANN).await;
    let id = world.accept(session_text(ANN, "hello")).await;
    // The user writes after the send was admitted, before Viber's answer is recorded: the
    // path of the inbound function.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let content = vbm_store::InboundContent {
        text: Some("I'm here".into()),
        media: None,
        file_name: None,
        tracking_data: None,
        extra: None,
    };
    let now = SystemClock.now();
    world
        .store
        .conversations()
        .record_inbound(&world.business, &phone(ANN), "77001", &content, now, now)
        .await
        .unwrap();
    world.dispatch_batch().await;
    assert_eq!(world.status(&id).await.track.current, MessageStatus::Failed);
    let c = world.conversation(ANN).await;
    assert_eq!(
        c.state(SystemClock.now(), &Limits::default()),
        SessionState::Active,
        "{c:?}"
    );
    assert_eq!(c.session.map(|s| s.consecutive), Some(0));
}

/// With real concurrency: the user's message and the recording of Viber's 21 run
/// at the same time, in every order the runtime gives (Viber answers after 0 to 45 ms). The
/// user wrote after the send was admitted, so however they interleave, the session ends
/// unlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_21_racing_a_user_message_never_leaves_the_session_locked() {
    let viber = FakeViber::start(Arc::new(|_: &Value, n| Reply {
        delay: Duration::from_millis(15 * (n as u64 % 4)),
        ..viber_status(21)
    }))
    .await;
    let world = World::new(viber).await;
    for round in 0..8 {
        world.user_writes(ANN).await;
        let id = world
            .accept(session_text(ANN, &format!("round {round}")))
            .await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        let batch = world.batch().await;
        assert_eq!(batch.records.len(), 1, "round {round}");
        let receipts: Vec<_> = batch
            .records
            .iter()
            .filter_map(|r| r.receipt_handle.clone())
            .collect();
        let (response, ()) = tokio::join!(world.app.handle_batch(batch), async {
            tokio::time::sleep(Duration::from_millis(7 * (round % 3))).await;
            world.user_writes(ANN).await;
        });
        assert!(response.batch_item_failures.is_empty(), "round {round}");
        // What Lambda does with a record handled: deleted, so the FIFO group moves on.
        for receipt in receipts {
            world
                .sqs
                .delete_message()
                .queue_url(&world.env.outbound_queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
        assert_eq!(world.status(&id).await.track.current, MessageStatus::Failed);
        let c = world.conversation(ANN).await;
        assert_eq!(
            c.state(SystemClock.now(), &Limits::default()),
            SessionState::Active,
            "round {round}: {c:?}"
        );
    }
    // A 21 for a message admitted after the user's last message still locks.
    let _ = world.accept(session_text(ANN, "after")).await;
    world.app.handle_batch(world.batch().await).await;
    assert_eq!(
        world
            .conversation(ANN)
            .await
            .state(SystemClock.now(), &Limits::default()),
        SessionState::Locked
    );
}
