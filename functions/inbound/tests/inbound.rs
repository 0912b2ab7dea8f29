//! `POST /viber/inbound` against the emulator: in-process handler calls with real signatures.
//! Run with `infra/scripts/with-moto.sh cargo test -p inbound`.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use inbound::App;
use lambda_http::Request;
use serde_json::{Value, json};
use session_rules::{Conversation, Limits, PhoneNumber, Session, Timestamp};
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_platform::config::Config;
use vbm_store::{BusinessId, NewBusiness, Retention, Store};
use vbm_testkit::TestEnv;
use vbm_testkit::callback::{self, Hostile, Reply, VIBER_IP};
use viber::CallbackAuth;

const SECRET: &str = "viber-callback-secret-for-tests";
const SERVICE_ID: u64 = 4242;
const USER: &str = "+380501234567";

struct Harness {
    env: TestEnv,
    app: Arc<App>,
    clock: Arc<OffsetClock>,
    business: BusinessId,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

fn phone(p: &str) -> PhoneNumber {
    PhoneNumber::parse(p).unwrap()
}

fn request(body: &str, signature: Option<&str>, source_ip: &str) -> Request {
    callback::request("/viber/inbound", body, signature, source_ip)
}

fn signed(body: &str) -> Request {
    request(
        body,
        Some(&viber::sign(SECRET.as_bytes(), body.as_bytes())),
        VIBER_IP,
    )
}

async fn call(app: &App, request: Request) -> Reply {
    Reply::of(app.handle(request).await)
}

/// A user message as Viber posts it.
fn user_message(token: &str, from: &str, at: Timestamp, text: &str) -> String {
    json!({
        "service_id": SERVICE_ID,
        "phone_number": from.trim_start_matches('+'),
        "message_token": token.parse::<u64>().map_or(json!(token), |n| json!(n)),
        "time": at.as_millis(),
        "message": {"text": text, "tracking_data": "order-42"},
        "user_agent": "Viber 21.1",
    })
    .to_string()
}

impl Harness {
    async fn new() -> Self {
        Self::with_auth(CallbackAuth::from_parts(Some(SECRET), "").unwrap()).await
    }

    async fn with_auth(auth: CallbackAuth) -> Self {
        // EMF metric lines go straight to stdout, past the test harness's capture.
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let dynamodb = env.dynamodb().await;
        let sqs = env.sqs().await;
        let clock = Arc::new(OffsetClock::new());
        let app = App::new(
            Store::new(
                dynamodb.clone(),
                &env.table,
                Limits::default(),
                Retention::default(),
            ),
            EventsQueue::new(sqs.clone(), &env.events_queue_url),
            clock.clone(),
            auth,
        );
        let (business, _key) = app
            .store()
            .businesses()
            .create_business(&NewBusiness {
                id: BusinessId::parse("acme").unwrap(),
                service_id: SERVICE_ID,
                callback_url: None,
                allow_cidrs: vec![],
            })
            .await
            .unwrap();
        Self {
            env,
            app: Arc::new(app),
            clock,
            business: business.id,
            sqs,
            dynamodb,
        }
    }

    /// Another container over the same table and queue.
    fn another_container(&self) -> App {
        App::new(
            Store::new(
                self.dynamodb.clone(),
                &self.env.table,
                Limits::default(),
                Retention::default(),
            ),
            EventsQueue::new(self.sqs.clone(), &self.env.events_queue_url),
            self.clock.clone(),
            CallbackAuth::from_parts(Some(SECRET), "").unwrap(),
        )
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn store(&self) -> &Store {
        self.app.store()
    }

    async fn post(&self, body: &str) -> Reply {
        call(&self.app, signed(body)).await
    }

    async fn conversation(&self, p: &str) -> Option<Conversation> {
        self.store()
            .conversations()
            .get_conversation(&self.business, &phone(p))
            .await
            .unwrap()
    }

    /// Every event on the events queue (received and deleted), in no particular order.
    async fn events(&self) -> Vec<Event> {
        vbm_testkit::drain_as(&self.sqs, &self.env.events_queue_url, EventsQueue::parse).await
    }

    /// How many items the table holds (the business's own items included).
    async fn item_count(&self) -> i32 {
        self.env.item_count().await
    }

    async fn inbound_items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.dynamodb
            .query()
            .table_name(&self.env.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", AttributeValue::S("BIZ#acme".into()))
            .expression_attribute_values(":p", AttributeValue::S("INBOUND#".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items()
            .to_vec()
    }
}

fn session_of(c: &Option<Conversation>) -> Session {
    c.and_then(|c| c.session).expect("a session")
}

#[tokio::test]
async fn a_user_message_opens_a_session_and_queues_message_inbound() {
    let h = Harness::new().await;
    assert_eq!(h.conversation(USER).await, None);
    let at = Timestamp::from_millis(h.now().as_millis() - 1_500);
    let reply = h
        .post(&user_message(
            "5379697806260881548",
            USER,
            at,
            "Коли буде доставка?",
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({"status": 0, "status_message": "ok"}));
    assert_eq!(reply.headers["content-type"], "application/json");

    let conversation = h.conversation(USER).await.unwrap();
    let session = session_of(&Some(conversation));
    // Anchored at the user's time (Viber's `time`), not at our receipt.
    assert_eq!(session.started_at, at);
    assert_eq!((session.messages_sent, session.consecutive), (0, 0));
    assert!(conversation.contacted && !conversation.opted_out);
    let snapshot = conversation.snapshot(h.now(), &Limits::default());
    assert_eq!(snapshot.state, "active");
    assert!(snapshot.can_send_session);

    let events = h.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.kind, EventKind::MessageInbound);
    assert_eq!(event.business_id, "acme");
    let expected_id = Event::new(
        EventKind::MessageInbound,
        "acme",
        "5379697806260881548",
        at,
        json!({}),
    )
    .event_id;
    assert_eq!(event.event_id, expected_id);
    let data = &event.data;
    assert_eq!(data["phone"], USER);
    assert_eq!(data["message_token"], "5379697806260881548");
    assert_eq!(data["text"], "Коли буде доставка?");
    assert_eq!(data["tracking_data"], "order-42");
    assert_eq!(data["media"], Value::Null);
    assert_eq!(data["file_name"], Value::Null);
    assert_eq!(data["sent_at"], vbm_platform::time::rfc3339(at));
    assert!(data["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(data["session"]["state"], "active");
    assert_eq!(
        data["session"]["started_at"],
        vbm_platform::time::rfc3339(at)
    );
    assert_eq!(data["session"]["messages_left"], 60);
    assert_eq!(data["session"]["consecutive_left"], 5);
    assert_eq!(data["session"]["opted_out"], false);

    let items = h.inbound_items().await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["gsi1pk"],
        AttributeValue::S(format!("CONTACT#acme#{USER}"))
    );
    assert!(items[0].contains_key("expires_at"));
}

#[tokio::test]
async fn a_user_message_unlocks_a_locked_session_without_moving_its_anchor() {
    let h = Harness::new().await;
    let started = Timestamp::from_millis(h.now().as_millis() - 3_600_000);
    let locked = Conversation {
        session: Some(Session {
            started_at: started,
            messages_sent: 7,
            consecutive: 5,
        }),
        opted_out: false,
        contacted: true,
    };
    h.store()
        .conversations()
        .put_conversation(&h.business, &phone(USER), &locked, h.now())
        .await
        .unwrap();
    assert_eq!(locked.snapshot(h.now(), &Limits::default()).state, "locked");

    let reply = h.post(&user_message("1001", USER, h.now(), "ok")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = session_of(&h.conversation(USER).await);
    assert_eq!(session.started_at, started, "the anchor stays");
    assert_eq!((session.messages_sent, session.consecutive), (7, 0));
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["session"]["state"], "active");
    assert_eq!(events[0].data["session"]["messages_sent"], 7);
}

#[tokio::test]
async fn a_user_message_after_24_hours_starts_a_new_session() {
    let h = Harness::new().await;
    let first = h.now();
    assert_eq!(
        h.post(&user_message("2001", USER, first, "hi"))
            .await
            .status,
        200
    );
    // A later message inside the session does not move the anchor.
    h.clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(
        h.post(&user_message("2002", USER, h.now(), "still there"))
            .await
            .status,
        200
    );
    assert_eq!(session_of(&h.conversation(USER).await).started_at, first);

    h.clock.advance(Duration::from_secs(2 * 3600));
    let later = h.now();
    assert_eq!(
        h.post(&user_message("2003", USER, later, "back again"))
            .await
            .status,
        200
    );
    let session = session_of(&h.conversation(USER).await);
    assert_eq!(session.started_at, later, "a new 24 h session");
    assert_eq!((session.messages_sent, session.consecutive), (0, 0));
}

#[tokio::test]
async fn a_user_message_ends_an_opt_out_and_queues_contact_opted_in() {
    let h = Harness::new().await;
    let opted_out = Conversation {
        session: None,
        opted_out: true,
        contacted: true,
    };
    h.store()
        .conversations()
        .put_conversation(&h.business, &phone(USER), &opted_out, h.now())
        .await
        .unwrap();
    let body = user_message("3001", USER, h.now(), "unblocked you");
    assert_eq!(h.post(&body).await.status, 200);
    let after = h.conversation(USER).await.unwrap();
    assert!(!after.opted_out);
    assert!(after.session.is_some());

    let mut events = h.events().await;
    events.sort_by_key(|e| e.kind.as_str());
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::ContactOptedIn, EventKind::MessageInbound]
    );
    assert_eq!(events[0].data["phone"], USER);
    assert_eq!(events[0].data["reason"], "user_message");
    assert_eq!(events[1].data["session"]["opted_out"], false);

    // The redelivery publishes both again, with the same ids, and changes nothing.
    assert_eq!(h.post(&body).await.status, 200);
    let mut again = h.events().await;
    again.sort_by_key(|e| e.kind.as_str());
    assert_eq!(again, events);
}

#[tokio::test]
async fn a_redelivered_callback_changes_nothing_and_yields_the_same_event() {
    let h = Harness::new().await;
    let body = user_message("4001", USER, h.now(), "hello");
    assert_eq!(h.post(&body).await.status, 200);
    let first_events = h.events().await;
    let state = h.conversation(USER).await;
    let items = h.item_count().await;

    // Minutes later, another container, and a session message sent in between: the redelivery
    // must neither unlock nor reset anything.
    h.clock.advance(Duration::from_secs(120));
    let mut sent = state
        .unwrap()
        .record_send(session_rules::SendClass::Session);
    sent.session.as_mut().unwrap().consecutive = 5;
    h.store()
        .conversations()
        .put_conversation(&h.business, &phone(USER), &sent, h.now())
        .await
        .unwrap();
    let other = h.another_container();
    let reply = call(&other, signed(&body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], 0);
    assert_eq!(h.conversation(USER).await, Some(sent), "nothing changed");
    assert_eq!(h.item_count().await, items, "nothing added");
    let second_events = h.events().await;
    assert_eq!(second_events.len(), 1);
    assert_eq!(second_events[0].event_id, first_events[0].event_id);
    // Built from the first recording: the very same event.
    assert_eq!(second_events, first_events);
}

/// A container whose events queue does not exist: every publish fails, as in an outage.
fn container_without_queue(h: &Harness) -> App {
    App::new(
        Store::new(
            h.dynamodb.clone(),
            &h.env.table,
            Limits::default(),
            Retention::default(),
        ),
        EventsQueue::new(h.sqs.clone(), format!("{}-missing", h.env.events_queue_url)),
        h.clock.clone(),
        CallbackAuth::from_parts(Some(SECRET), "").unwrap(),
    )
}

#[tokio::test]
async fn a_callback_recorded_but_not_queued_is_answered_503_and_its_retry_queues_the_event() {
    let h = Harness::new().await;
    let body = user_message("4002", USER, h.now(), "are you there?");

    // Recorded, then the queue fails: Viber must be told to retry.
    let failing = container_without_queue(&h);
    let reply = call(&failing, signed(&body)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(h.inbound_items().await.len(), 1, "the write landed");
    assert!(h.events().await.is_empty(), "nothing was queued");
    let state = h.conversation(USER).await;
    let items = h.item_count().await;

    // Viber retries the same callback later: it is a duplicate of the recorded message, and
    // the event must still be queued, built from the first recording.
    h.clock.advance(Duration::from_secs(30));
    let reply = h.post(&body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(h.conversation(USER).await, state, "nothing changed");
    assert_eq!(h.item_count().await, items, "nothing added");
    let events = h.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let record = h
        .store()
        .conversations()
        .record_inbound(
            &h.business,
            &phone(USER),
            "4002",
            &Default::default(),
            h.now(),
            h.now(),
        )
        .await
        .unwrap();
    assert!(record.is_duplicate());
    let service = session_rules::Service {
        id: SERVICE_ID,
        kind: session_rules::ServiceKind::DEFAULT,
    };
    let expected =
        inbound::events_for_message(&h.business, service, record.record(), &Limits::default());
    assert_eq!(events, expected, "the very event of the first recording");
    assert_eq!(events[0].kind, EventKind::MessageInbound);
    assert_eq!(events[0].data["message_token"], "4002");
    assert_eq!(events[0].data["service_id"], SERVICE_ID);
    assert_eq!(events[0].data["service_kind"], "two_way");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_user_messages_leave_one_consistent_session() {
    let h = Harness::new().await;
    let other = Arc::new(h.another_container());
    let base = h.now().as_millis() - 10_000;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let app = if i % 2 == 0 {
                h.app.clone()
            } else {
                other.clone()
            };
            let body = user_message(
                &format!("{}", 50_000 + i),
                USER,
                Timestamp::from_millis(base + i * 100),
                &format!("message {i}"),
            );
            tokio::spawn(async move { call(&app, signed(&body)).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let conversation = h.conversation(USER).await.unwrap();
    let session = conversation.session.unwrap();
    // One session, anchored at one of the messages' times, never reset by the others.
    assert!(
        (0..12).any(|i| session.started_at.as_millis() == base + i * 100),
        "{session:?}"
    );
    assert_eq!((session.messages_sent, session.consecutive), (0, 0));
    assert_eq!(h.inbound_items().await.len(), 12);
    let events = h.events().await;
    let mut ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    // Every event's snapshot is of that same session.
    for event in &events {
        assert_eq!(
            event.data["session"]["started_at"],
            vbm_platform::time::rfc3339(session.started_at)
        );
    }
}

#[tokio::test]
async fn unsigned_badly_signed_or_altered_callbacks_are_refused_and_store_nothing() {
    let h = Harness::new().await;
    let items = h.item_count().await;
    let body = user_message("6001", USER, h.now(), "hi");
    let good = viber::sign(SECRET.as_bytes(), body.as_bytes());
    let altered = body.replace("hi", "pay me");
    let cases = [
        request(&body, None, VIBER_IP),
        request(&body, Some("not hex at all"), VIBER_IP),
        request(
            &body,
            Some(&viber::sign(b"another secret", body.as_bytes())),
            VIBER_IP,
        ),
        request(&altered, Some(&good), VIBER_IP),
    ];
    for case in cases {
        let reply = call(&h.app, case).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.body["error"]["code"], "unauthorized");
    }
    assert_eq!(h.item_count().await, items);
    assert_eq!(h.conversation(USER).await, None);
    assert!(h.events().await.is_empty());
}

#[tokio::test]
async fn a_source_ip_outside_the_allowlist_is_refused() {
    let h = Harness::with_auth(CallbackAuth::from_parts(None, "198.51.100.0/24").unwrap()).await;
    let body = user_message("7001", USER, h.now(), "hi");
    let reply = call(&h.app, request(&body, None, VIBER_IP)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "ip_not_allowed");
    assert_eq!(h.conversation(USER).await, None);
    assert!(h.events().await.is_empty());

    let reply = call(&h.app, request(&body, None, "198.51.100.20")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(h.conversation(USER).await.is_some());
}

/// The quarantine entries in the table, raw.
async fn quarantine_items(h: &Harness) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    h.dynamodb
        .query()
        .table_name(&h.env.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("QUARANTINE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

/// Authenticated but unusable: kept whole in the quarantine and answered 200 (a 4xx would make
/// Viber retry, then drop what the user wrote); nothing else is stored or published. Once the
/// cause is fixed (here: the business is created), a replay through the same code records it.
#[tokio::test]
async fn bad_bodies_and_unknown_service_ids_are_quarantined_and_replayable() {
    let h = Harness::new().await;
    let t0 = h.now();
    let reply = h.post("{not json").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({"status": 0, "status_message": "ok"}));
    let unknown = user_message("8001", "+380501234599", h.now(), "hi").replace("4242", "999");
    let reply = h.post(&unknown).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Viber retries the same callback: still one entry.
    assert_eq!(h.post(&unknown).await.status, 200);
    assert_eq!(h.conversation("+380501234599").await, None);
    assert!(h.events().await.is_empty());

    let items = quarantine_items(&h).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 2);
    let by_body = |body: &[u8]| {
        kept.iter()
            .find(|q| q.body == body)
            .unwrap_or_else(|| panic!("{:?} kept", String::from_utf8_lossy(body)))
            .clone()
    };
    let garbage = by_body(b"{not json");
    assert_eq!(garbage.route, "POST /viber/inbound");
    assert_eq!(garbage.reason, vbm_store::QuarantineReason::Unparseable);
    assert!(
        garbage.detail.starts_with("invalid_json"),
        "{}",
        garbage.detail
    );
    assert!(garbage.received_at >= t0);
    let stranger = by_body(unknown.as_bytes());
    assert_eq!(stranger.reason, vbm_store::QuarantineReason::UnknownService);
    assert!(stranger.detail.contains("999"), "{}", stranger.detail);
    // Retention: the table's TTL removes it with the messages' retention.
    let expires: i64 = items[0]["expires_at"].as_n().unwrap().parse().unwrap();
    let days = (expires - h.now().as_secs()) / 86_400;
    assert!((29..=30).contains(&days), "{days}");

    // Replayed before the cause is fixed: still aside, still kept.
    let replay = h.app.replay(&stranger).await.unwrap();
    assert!(
        matches!(&replay, vbm_callbacks::Replay::StillAside(a) if a.reason == vbm_store::QuarantineReason::UnknownService),
        "{replay:?}"
    );
    assert_eq!(
        h.store()
            .quarantine()
            .quarantined(h.now())
            .await
            .unwrap()
            .len(),
        2
    );

    // The operator creates the business of service id 999; the replay records the message.
    h.store()
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("late").unwrap(),
            service_id: 999,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let replay = h.app.replay(&stranger).await.unwrap();
    assert_eq!(replay, vbm_callbacks::Replay::Used("recorded"));
    let late = BusinessId::parse("late").unwrap();
    let conversation = h
        .store()
        .conversations()
        .get_conversation(&late, &phone("+380501234599"))
        .await
        .unwrap()
        .expect("the replay opened the session");
    assert!(conversation.session.is_some());
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::MessageInbound);
    assert_eq!(events[0].data["text"], "hi");
    let left = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, garbage.id);
    // Replaying garbage stays garbage.
    assert!(matches!(
        h.app.replay(&garbage).await.unwrap(),
        vbm_callbacks::Replay::StillAside(_)
    ));
}

/// Only `phone_number` and `message.text` are evidenced on user messages: without a token and
/// a time it is still a user message. It opens the session at the receive time; a redelivery
/// (same sender and content, same hour) is a duplicate; the same words an hour later are a new
/// message.
#[tokio::test]
async fn a_user_message_without_token_or_time_opens_the_session_once() {
    let h = Harness::new().await;
    let body = json!({
        "service_id": SERVICE_ID,
        "phone_number": USER.trim_start_matches('+'),
        "message": {"text": "Hi there"},
    })
    .to_string();
    let received = h.now();
    let reply = h.post(&body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = session_of(&h.conversation(USER).await);
    let lag = session.started_at.as_millis() - received.as_millis();
    assert!(
        (0..5_000).contains(&lag),
        "anchored at the receive time: {lag} ms"
    );
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::MessageInbound);
    assert_eq!(events[0].data["text"], "Hi there");
    let key = events[0].data["message_token"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with(viber::callback::DERIVED_KEY_PREFIX),
        "{key}"
    );

    // Redelivered a moment later: nothing new stored, the same event again.
    let before = h.inbound_items().await.len();
    assert_eq!(h.post(&body).await.status, 200);
    assert_eq!(h.inbound_items().await.len(), before);
    let again = h.events().await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, events[0].event_id);
    assert_eq!(session_of(&h.conversation(USER).await), session);

    // The same words in the next window are another message.
    h.clock.advance(Duration::from_millis(
        viber::callback::DERIVED_KEY_WINDOW_MS as u64,
    ));
    assert_eq!(h.post(&body).await.status, 200);
    assert_eq!(h.inbound_items().await.len(), before + 1);
    assert_eq!(h.events().await.len(), 1);
}

#[tokio::test]
async fn the_function_refuses_to_start_without_secret_or_cidrs() {
    let config = Config::from_pairs([
        ("VBM_TABLE", "vbm"),
        ("EVENTS_QUEUE_URL", "http://127.0.0.1:1/000000000000/events"),
        ("VIBER_CALLBACK_SECRET_ID", "  "),
        ("VIBER_CALLBACK_CIDRS", ""),
    ]);
    let err = App::from_config(&config).await.err().expect("refused");
    assert!(matches!(err, inbound::StartError::Auth(_)), "{err}");
    assert!(err.to_string().contains("VIBER_CALLBACK_SECRET_ID"));
    let err = App::from_config(&Config::from_pairs([
        ("VBM_TABLE", "vbm"),
        ("EVENTS_QUEUE_URL", "http://127.0.0.1:1/000000000000/events"),
        ("VIBER_CALLBACK_CIDRS", "10.0.0.0/33"),
    ]))
    .await
    .err()
    .expect("a bad CIDR is refused");
    assert!(err.to_string().contains("10.0.0.0/33"));
    // The process environment of this test sets neither.
    if std::env::var_os("VIBER_CALLBACK_SECRET_ID").is_none()
        && std::env::var_os("VIBER_CALLBACK_CIDRS").is_none()
    {
        assert!(matches!(
            App::from_env().await,
            Err(inbound::StartError::Auth(_))
        ));
    }
    // With CIDRs alone it starts. (The secret's cases: shared/callbacks/tests/url_secret.rs.)
    let config = Config::from_pairs([
        ("VBM_TABLE", "vbm"),
        ("EVENTS_QUEUE_URL", "http://127.0.0.1:1/000000000000/events"),
        ("VIBER_CALLBACK_CIDRS", "203.0.113.0/24"),
    ]);
    assert!(App::from_config(&config).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_messages_racing_session_sends_lose_no_update() {
    use vbm_store::{MessageId, NewSend, SendOutcome};
    let h = Harness::new().await;
    let to = phone(USER);
    // An open session, locked by five session messages in a row.
    let started = Timestamp::from_millis(h.now().as_millis() - 60_000);
    let locked = Conversation {
        session: Some(Session {
            started_at: started,
            messages_sent: 5,
            consecutive: 5,
        }),
        opted_out: false,
        contacted: true,
    };
    h.store()
        .conversations()
        .put_conversation(&h.business, &to, &locked, h.now())
        .await
        .unwrap();
    // A container that last saw the locked state: its hint goes stale below.
    let stale = h.another_container();
    stale
        .store()
        .conversations()
        .get_conversation(&h.business, &to)
        .await
        .unwrap();
    let other = Arc::new(h.another_container());
    let now = h.now();
    let send = |app: Arc<App>| {
        let (business, to) = (h.business.clone(), to.clone());
        async move {
            let outcome = app
                .store()
                .messages()
                .record_send(&NewSend {
                    business: &business,
                    message_id: MessageId::generate(),
                    to: &to,
                    class: session_rules::SendClass::Session,
                    kind: "session",
                    billing: session_rules::BillingCategory::Session,
                    payload: "{}",
                    service_id: None,
                    idempotency: None,
                    failover: None,
                    now,
                })
                .await
                .unwrap();
            u32::from(matches!(outcome, SendOutcome::Accepted { .. }))
        }
    };
    let sends: Vec<_> = (0..12)
        .map(|i| {
            let app = if i % 2 == 0 {
                h.app.clone()
            } else {
                other.clone()
            };
            tokio::spawn(send(app))
        })
        .collect();
    let reply = call(&h.app, signed(&user_message("9001", USER, now, "go on"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut accepted = 0;
    for task in sends {
        accepted += task.await.unwrap();
    }
    // One more after the unlock, so at least one send counts in the unlocked session.
    accepted += send(other.clone()).await;
    assert!((1..=5).contains(&accepted), "{accepted}");
    let session = session_of(&h.conversation(USER).await);
    assert_eq!(
        (session.messages_sent, session.consecutive),
        (5 + accepted, accepted)
    );

    // The stale container's user message must start from the real state, not its hint.
    let reply = call(
        &stale,
        signed(&user_message("9002", USER, h.now(), "and again")),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = session_of(&h.conversation(USER).await);
    assert_eq!(session.started_at, started);
    assert_eq!(
        (session.messages_sent, session.consecutive),
        (5 + accepted, 0),
        "every accepted send is still counted"
    );
}

/// A correctly signed callback with raw bytes for a body (which need not be UTF-8), and extra
/// raw headers.
fn signed_bytes(body: Vec<u8>, headers: &[(&str, &[u8])]) -> Request {
    let signature = viber::sign(SECRET.as_bytes(), &body);
    callback::with_raw(request("", Some(&signature), VIBER_IP), body, headers)
}

/// The security matrix of the inbound callback: authentication failures and hostile
/// bodies that carry a valid signature, each refused with its status and code and leaving the
/// table and every queue exactly as they were; an authenticated one that cannot be parsed is
/// kept whole in the quarantine, and only there.
#[tokio::test]
async fn hostile_callbacks_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let body = user_message("9001", USER, h.now(), "hi");
    let good = viber::sign(SECRET.as_bytes(), body.as_bytes());
    // A valid user message with `field` set to this raw JSON.
    let hostile = Hostile { body: &body };
    let with = |field: &str, raw_json: &str| hostile.with(field, raw_json);
    let nested = Hostile::nested;
    let mut cases: Vec<callback::Case> = vec![
        (
            "unsigned",
            request(&body, None, VIBER_IP),
            401,
            "unauthorized",
        ),
        (
            "signed with another secret",
            request(
                &body,
                Some(&viber::sign(b"guess", body.as_bytes())),
                VIBER_IP,
            ),
            401,
            "unauthorized",
        ),
        (
            "signature of another body",
            request(&body.replace("hi", "pay me"), Some(&good), VIBER_IP),
            401,
            "unauthorized",
        ),
        (
            "signature not UTF-8",
            {
                let mut r = request(&body, None, VIBER_IP);
                r.headers_mut().insert(
                    "X-Viber-Signature",
                    lambda_http::http::HeaderValue::from_bytes(b"ab\xff").unwrap(),
                );
                r
            },
            401,
            "unauthorized",
        ),
        (
            "10k nested arrays in message",
            signed_bytes(with("message", &nested(10_000)), &[]),
            400,
            "invalid_json",
        ),
        (
            "invalid UTF-8 in the text",
            signed_bytes(
                body.replace("hi", "h~")
                    .bytes()
                    .map(|b| if b == b'~' { 0xff } else { b })
                    .collect(),
                &[],
            ),
            400,
            "invalid_json",
        ),
        ("empty body", signed_bytes(vec![], &[]), 400, "invalid_json"),
        (
            "a key twice (the text of another message after it)",
            signed_bytes(
                with(
                    "message",
                    r#"{"text":"hi","tracking_data":"order-42","text":"pay me"}"#,
                ),
                &[],
            ),
            400,
            "invalid_json",
        ),
        (
            "phone_number twice",
            signed_bytes(
                body.replacen("{", r#"{"phone_number":"380501234567","#, 1)
                    .into_bytes(),
                &[],
            ),
            400,
            "invalid_json",
        ),
        (
            "a JSON array",
            signed_bytes(b"[]".to_vec(), &[]),
            400,
            "invalid_json",
        ),
        (
            "service_id 1e400",
            signed_bytes(with("service_id", "1e400"), &[]),
            400,
            "invalid_json",
        ),
        (
            "service_id -1",
            signed_bytes(with("service_id", "-1"), &[]),
            422,
            "validation_failed",
        ),
        (
            "token 1.5",
            signed_bytes(with("message_token", "1.5"), &[]),
            422,
            "validation_failed",
        ),
        (
            "token with CR LF",
            signed_bytes(with("message_token", r#""77\r\nX: 1""#), &[]),
            422,
            "validation_failed",
        ),
        (
            "time 1e400",
            signed_bytes(with("time", "1e400"), &[]),
            400,
            "invalid_json",
        ),
        (
            "phone with CR LF",
            signed_bytes(with("phone_number", r#""380501234567\r\nX: 1""#), &[]),
            422,
            "validation_failed",
        ),
        (
            "phone 2^64",
            signed_bytes(with("phone_number", "18446744073709551616"), &[]),
            422,
            "validation_failed",
        ),
    ];
    // Kept as its digits, never through a float: a 2^64 token is a token like any other.
    cases.extend(callback::signed_rows(
        &hostile,
        vbm_http::MAX_BODY_BYTES,
        "time",
        "recorded",
        signed_bytes,
    ));
    callback::check_matrix(
        &h.env,
        cases,
        async |request| call(&h.app, request).await,
        async |name, _| assert_eq!(h.events().await.len(), 1, "{name}: recorded"),
    )
    .await;
    // The same body with its own signature goes through; replayed as is, it changes nothing.
    assert_eq!(h.post(&body).await.status, 200);
    let after_first = h.env.footprint().await;
    let events = h.events().await.len();
    assert!(events > 0);
    let again = h.post(&body).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let replayed = h.events().await.len();
    assert_eq!(replayed, events, "a replay re-publishes the same events");
    assert_eq!(h.env.footprint().await.items, after_first.items);
}

/// A list's answer whose shape no public source fixes: fields we do not read and values of
/// other JSON types are recorded and reach the business (`extra`), never quarantined; the list
/// it answers is named from the echoed tracking data; a redelivery, read back from the store,
/// yields the very same event.
#[tokio::test]
async fn a_list_answer_of_any_shape_reaches_the_business_whole() {
    let h = Harness::new().await;
    let tracking = viber::ReplyTracking::encode(
        viber::Interactive::List,
        "01JD0000000000000000000000",
        &["Great".to_owned(), "Late".to_owned()],
        None,
    )
    .unwrap();
    let body = json!({
        "service_id": SERVICE_ID,
        "phone_number": USER.trim_start_matches('+'),
        "message_token": 5001,
        "time": h.now().as_millis(),
        "message": {"text": "Late", "tracking_data": tracking.as_str(),
                    "list_reply": {"index": 1, "title": "Late"}, "media": ["x"]},
    })
    .to_string();
    let reply = h.post(&body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(quarantine_items(&h).await.is_empty());
    let first = h.events().await;
    let inbound = first
        .iter()
        .find(|e| e.kind == EventKind::MessageInbound)
        .expect("message.inbound");
    assert_eq!(
        inbound.data["reply_to"],
        json!({"message_id": "01JD0000000000000000000000", "type": "list",
               "option": "Late", "option_index": 1})
    );
    assert_eq!(inbound.data["tracking_data"], "");
    assert_eq!(
        inbound.data["extra"],
        json!({"list_reply": {"index": 1, "title": "Late"}, "media": ["x"]})
    );
    let again = call(&h.another_container(), signed(&body)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let second = h.events().await;
    assert_eq!(second.len(), first.len());
    assert_eq!(second, first);
}

/// A user message as Viber posts it, on another service id of the business.
fn user_message_on(service_id: u64, token: &str, from: &str, at: Timestamp) -> String {
    json!({
        "service_id": service_id,
        "phone_number": from.trim_start_matches('+'),
        "message_token": token,
        "time": at.as_millis(),
        "message": {"text": "Hi"},
    })
    .to_string()
}

/// Users cannot write to a one-way service: a message naming one is kept aside with its
/// reason, and nothing else happens (no session, no event).
#[tokio::test]
async fn a_user_message_on_a_one_way_service_is_quarantined() {
    let h = Harness::new().await;
    let one_way = session_rules::Service {
        id: 5151,
        kind: session_rules::ServiceKind::OneWay,
    };
    h.store()
        .businesses()
        .add_service(&h.business, one_way)
        .await
        .unwrap();
    let reply = h
        .post(&user_message_on(5151, "t-one-way", USER, h.now()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(h.conversation(USER).await, None);
    assert!(h.events().await.is_empty());
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason.as_str(), "one_way_service");
    assert!(kept[0].detail.contains("5151"), "{}", kept[0].detail);
    assert_eq!(kept[0].service_id, Some(5151));
    assert!(h.inbound_items().await.is_empty());
}

/// A message on the business's session service opens a session there.
#[tokio::test]
async fn a_user_message_on_the_session_service_opens_a_session() {
    let h = Harness::new().await;
    let session = session_rules::Service {
        id: 5252,
        kind: session_rules::ServiceKind::Session,
    };
    h.store()
        .businesses()
        .add_service(&h.business, session)
        .await
        .unwrap();
    let reply = h
        .post(&user_message_on(5252, "t-session", USER, h.now()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let opened = h.conversation(USER).await.unwrap();
    assert!(opened.session.is_some(), "{opened:?}");
    let events = h.events().await;
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::MessageInbound]);
    // The business hears which of its services the user wrote to.
    assert_eq!(events[0].data["service_id"], 5252);
    assert_eq!(events[0].data["service_kind"], "session");
}

/// With `VIBER_TWO_WAY_SESSIONS=closed`, a reply on a two-way service reaches the business as
/// `message.inbound` and ends an opt-out, but opens no session.
#[tokio::test]
async fn a_reply_on_a_two_way_service_opens_no_session_when_two_way_sessions_are_closed() {
    vbm_platform::metrics::set_enabled(false);
    let env = TestEnv::fresh();
    let dynamodb = env.dynamodb().await;
    let sqs = env.sqs().await;
    let limits = Limits {
        two_way_sessions: session_rules::TwoWaySessions::Closed,
        ..Limits::default()
    };
    let app = App::new(
        Store::new(dynamodb.clone(), &env.table, limits, Retention::default()),
        EventsQueue::new(sqs.clone(), &env.events_queue_url),
        Arc::new(OffsetClock::new()),
        CallbackAuth::from_parts(Some(SECRET), "").unwrap(),
    );
    let (business, _) = app
        .store()
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("acme").unwrap(),
            service_id: SERVICE_ID,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let at = Timestamp::from_millis(1_800_000_000_000);
    app.store()
        .conversations()
        .set_opted_out(&business.id, &phone(USER), true, at)
        .await
        .unwrap();
    let body = user_message_on(SERVICE_ID, "t-two-way", USER, at);
    let reply = call(&app, signed(&body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let conversation = app
        .store()
        .conversations()
        .get_conversation(&business.id, &phone(USER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.session, None, "{conversation:?}");
    assert!(!conversation.opted_out);
    let events = vbm_testkit::drain_as(&sqs, &env.events_queue_url, EventsQueue::parse).await;
    let mut kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(
        kinds,
        vec![EventKind::ContactOptedIn, EventKind::MessageInbound]
    );
}

/// A session message held for the user's reply (`wait_for_session`).
async fn hold_message(h: &Harness) -> vbm_store::MessageId {
    let id = vbm_store::MessageId::generate();
    let to = phone(USER);
    let outcome = h
        .store()
        .messages()
        .record_hold(
            &vbm_store::NewHold {
                send: vbm_store::NewSend {
                    business: &h.business,
                    message_id: id.clone(),
                    to: &to,
                    class: session_rules::SendClass::Session,
                    kind: "session",
                    billing: session_rules::BillingCategory::Session,
                    payload: "{}",
                    service_id: None,
                    idempotency: None,
                    failover: None,
                    now: h.now(),
                },
                until: h.now().plus(Duration::from_secs(3600)),
                fallback: None,
            },
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(outcome, vbm_store::HoldOutcome::Held { .. }));
    id
}

#[tokio::test]
async fn the_users_message_releases_what_waits_for_it_once_whatever_is_redelivered() {
    let h = Harness::new().await;
    let held = [hold_message(&h).await, hold_message(&h).await];
    let body = user_message("71001", USER, h.now(), "hi");
    // The same callback twice at once (Viber's redelivery), from two containers.
    let other = h.another_container();
    let (a, b) = tokio::join!(h.post(&body), call(&other, signed(&body)));
    assert_eq!((a.status, b.status), (200, 200));
    for id in &held {
        let message = h
            .store()
            .messages()
            .get_message(&h.business, id, h.now())
            .await
            .unwrap();
        let message = message.expect("released: a message item the outbox takes to Viber");
        assert_eq!(message.class, "session");
    }
    let c = h.conversation(USER).await;
    assert_eq!(session_of(&c).messages_sent, 2, "each released once");
    // A later user message with nothing held makes no release.
    let again = h.post(&user_message("71002", USER, h.now(), "hi")).await;
    assert_eq!(again.status, 200);
    assert_eq!(session_of(&h.conversation(USER).await).messages_sent, 2);
}

/// A service id with its own callback URL secret: its user messages come with that secret (the
/// deployment's is refused for it), and its secret speaks for no other service. Every refusal
/// is `401` with nothing stored; either value of its rotation is accepted.
#[tokio::test]
async fn a_service_with_its_own_url_secret_is_held_to_it() {
    const DEPLOYMENT: &str = "deployment-url-secret-0001";
    const CHAT: &str = "chat-service-url-secret-01";
    const CHAT_OLD: &str = "chat-service-url-secret-00";
    let secrets = viber::CallbackSecrets::default()
        .with_url_secrets([DEPLOYMENT])
        .unwrap()
        .with_service_url_secrets(5252, [CHAT, CHAT_OLD])
        .unwrap();
    let h = Harness::with_auth(CallbackAuth::new(secrets, "").unwrap()).await;
    let chat = session_rules::Service {
        id: 5252,
        kind: session_rules::ServiceKind::Session,
    };
    h.store()
        .businesses()
        .add_service(&h.business, chat)
        .await
        .unwrap();
    let post = |body: String, secret: &'static str| {
        let app = h.app.clone();
        async move {
            call(
                &app,
                callback::with_url_secret("/viber/inbound", body, Some(secret)),
            )
            .await
        }
    };
    let items = h.item_count().await;
    let on_chat = user_message_on(5252, "t-chat-1", USER, h.now());
    let on_primary = user_message_on(SERVICE_ID, "t-primary-1", USER, h.now());
    for (body, secret) in [
        // The deployment's secret for the service that has its own.
        (on_chat.clone(), DEPLOYMENT),
        // The service's secret for another service.
        (on_primary.clone(), CHAT),
        // The service's secret on a body that names no service.
        (json!({"phone_number": "380501234567"}).to_string(), CHAT),
    ] {
        let reply = post(body, secret).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.body["error"]["code"], "unauthorized");
    }
    assert_eq!(h.item_count().await, items, "nothing stored");
    assert!(h.events().await.is_empty());
    assert!(
        h.store()
            .quarantine()
            .quarantined(h.now())
            .await
            .unwrap()
            .is_empty()
    );

    // Its own secret (either value), and the deployment's for the service without one.
    let reply = post(on_chat, CHAT).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(user_message_on(5252, "t-chat-2", USER, h.now()), CHAT_OLD).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(on_primary, DEPLOYMENT).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut services: Vec<u64> = h
        .events()
        .await
        .iter()
        .filter(|e| e.kind == EventKind::MessageInbound)
        .filter_map(|e| e.data["service_id"].as_u64())
        .collect();
    services.sort();
    assert_eq!(services, [SERVICE_ID, 5252, 5252]);
}
