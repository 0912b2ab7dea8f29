//! `notify` against the emulator (table, events queue) and a local HTTP server playing a
//! business's callback endpoint. Events are published with `EventsQueue::publish`, received back
//! from the test's own events queue and handed to `App::handle_batch`, as Lambda would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use hyper::HeaderMap;
use hyper::body::Bytes;
use notify::{App, CallbackClient};
use serde_json::json;
use session_rules::callback_address::CallbackAddresses;
use session_rules::{Limits, Timestamp};
use vbm_events::{Event, EventKind, EventsQueue, signature};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_store::{Business, BusinessId, NewBusiness, Retention, Store};
use vbm_testkit::TestEnv;
use vbm_testkit::sqs;
use vbm_testkit::stand_in::{self, Answer};

struct Delivery {
    headers: HeaderMap,
    body: Bytes,
}

/// A business's callback endpoint: records deliveries, answers `status` after `delay`.
struct Endpoint {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Delivery>>>,
}

impl Endpoint {
    async fn start(status: u16, delay: Duration) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        let addr = stand_in::serve(move |seen| {
            assert_eq!(seen.method, "POST");
            assert_eq!(seen.path, "/hooks/viber");
            recorder.lock().unwrap().push(Delivery {
                headers: seen.headers,
                body: seen.body,
            });
            Answer::plain(status, "ok").after(delay)
        })
        .await;
        Self { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/viber", self.addr)
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

struct World {
    env: TestEnv,
    sqs: aws_sdk_sqs::Client,
    events: EventsQueue,
    app: App,
    business: Business,
}

impl World {
    async fn new(callback_url: Option<String>) -> Self {
        // The test's endpoint is on the loopback, as the local stack's sink.
        Self::with_client(
            callback_url,
            notify::http_client(Duration::from_secs(1), CallbackAddresses::AlsoLoopback).unwrap(),
        )
        .await
    }

    /// With this HTTP client (the one Lambda builds, or the local stack's).
    async fn with_client(callback_url: Option<String>, http: CallbackClient) -> Self {
        // EMF metric lines go straight to stdout, past the test harness's capture.
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let dynamodb = env.dynamodb().await;
        let sqs = env.sqs().await;
        let store = || {
            Store::new(
                dynamodb.clone(),
                env.table.clone(),
                Limits::default(),
                Retention::default(),
            )
        };
        let (business, _key) = store()
            .businesses()
            .create_business(&NewBusiness {
                id: BusinessId::parse("acme").unwrap(),
                service_id: 77,
                callback_url,
                allow_cidrs: vec![],
            })
            .await
            .unwrap();
        let app = App::new(
            store(),
            http,
            sqs.clone(),
            env.events_queue_url.clone(),
            Arc::new(SystemClock),
        );
        Self {
            events: EventsQueue::new(sqs.clone(), env.events_queue_url.clone()),
            sqs,
            app,
            business,
            env,
        }
    }

    async fn publish(&self, subject: &str) -> Event {
        let event = Event::new(
            EventKind::MessageStatus,
            "acme",
            subject,
            Timestamp::from_millis(1_800_000_000_000),
            json!({"message_id": "01JD0Z6Q9T3M8V4K2X7B5N1C0A", "status": "delivered"}),
        );
        self.events.publish(&event).await.unwrap();
        event
    }

    async fn batch(&self) -> SqsEvent {
        sqs::event(sqs::receive_once(&self.sqs, &self.env.events_queue_url).await)
    }
}

/// The client `notify` builds in Lambda.
fn lambda_client() -> CallbackClient {
    notify::http_client(Duration::from_secs(1), CallbackAddresses::PublicOnly).unwrap()
}

fn failed(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn events_reach_the_business_signed_with_its_secret() {
    let endpoint = Endpoint::start(204, Duration::ZERO).await;
    let world = World::new(Some(endpoint.url())).await;
    let first = world.publish("m1/delivered").await;
    let second = world.publish("m1/seen").await;

    let batch = world.batch().await;
    assert_eq!(batch.records.len(), 2);
    let response = world.app.handle_batch(batch).await;
    assert!(failed(&response).is_empty());

    let received = endpoint.received.lock().unwrap();
    assert_eq!(received.len(), 2);
    let now = SystemClock.now().as_secs();
    let mut ids = Vec::new();
    for delivery in received.iter() {
        let h = |name: &str| delivery.headers.get(name).unwrap().to_str().unwrap();
        assert_eq!(h("content-type"), "application/json");
        // Verified with the Standard Webhooks reference library (not our signing code), as a
        // business would: its secret, the three headers, the body.
        let mut headers = delivery.headers.clone();
        standardwebhooks::Webhook::new(&world.business.callback_secret)
            .expect("a whsec_ secret")
            .verify(&delivery.body, &headers)
            .expect("the business's secret verifies the signature");
        // Another secret does not, and neither does a changed body or event id.
        assert!(
            standardwebhooks::Webhook::new("whsec_b3RoZXItc2VjcmV0LWJ5dGVz")
                .unwrap()
                .verify(&delivery.body, &headers)
                .is_err()
        );
        let mut tampered = delivery.body.to_vec();
        tampered.push(b' ');
        assert!(
            standardwebhooks::Webhook::new(&world.business.callback_secret)
                .unwrap()
                .verify(&tampered, &headers)
                .is_err()
        );
        headers.insert("webhook-id", "evt_other".parse().unwrap());
        assert!(
            standardwebhooks::Webhook::new(&world.business.callback_secret)
                .unwrap()
                .verify(&delivery.body, &headers)
                .is_err()
        );
        // Our own verification agrees.
        signature::verify(
            world.business.callback_secret.as_bytes(),
            h(signature::ID_HEADER),
            h(signature::TIMESTAMP_HEADER),
            h(signature::SIGNATURE_HEADER),
            &delivery.body,
            now,
            300,
        )
        .expect("our verification agrees");
        let event: Event = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(h(notify::EVENT_ID_HEADER), event.event_id);
        ids.push(event);
    }
    ids.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let mut expected = vec![first, second];
    expected.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_refused_or_slow_delivery_is_retried() {
    for (name, endpoint) in [
        ("HTTP 500", Endpoint::start(500, Duration::ZERO).await),
        ("HTTP 302", Endpoint::start(302, Duration::ZERO).await),
        (
            "timeout",
            Endpoint::start(200, Duration::from_secs(3)).await,
        ),
    ] {
        let world = World::new(Some(endpoint.url())).await;
        world.publish("m1/delivered").await;
        let batch = world.batch().await;
        let response = world.app.handle_batch(batch.clone()).await;
        assert_eq!(
            failed(&response),
            [batch.records[0].message_id.clone().unwrap()],
            "{name}"
        );
        assert_eq!(endpoint.count(), 1, "{name}");
        // Backed off: not handed out again at once.
        assert!(world.batch().await.records.is_empty(), "{name}");
    }
}

/// Lambda's client reaches public addresses only: a callback URL naming the loopback, by
/// address or by a name that resolves to it, gets no connection; the attempt is logged with
/// the reason and retried (the URL may be fixed), and the endpoint sees nothing.
#[tokio::test]
async fn lambdas_client_never_connects_to_an_internal_address() {
    let endpoint = Endpoint::start(204, Duration::ZERO).await;
    let port = endpoint.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/hooks/viber"),
        format!("http://[::ffff:127.0.0.1]:{port}/hooks/viber"),
        format!("http://0x7f.1:{port}/hooks/viber"),
        format!("http://localhost:{port}/hooks/viber"),
    ] {
        let world = World::with_client(Some(url.clone()), lambda_client()).await;
        let event = world.publish("m1/delivered").await;
        let batch = world.batch().await;
        let response = world.app.handle_batch(batch.clone()).await;
        assert_eq!(failed(&response).len(), 1, "{url}");
        assert_eq!(endpoint.count(), 0, "{url}: the endpoint was reached");
        let store = Store::new(
            world.env.dynamodb().await,
            world.env.table.clone(),
            Limits::default(),
            Retention::default(),
        );
        let logged = store
            .events()
            .logged_events(&world.business.id, &[event.event_id], SystemClock.now())
            .await
            .unwrap();
        let error = logged[0]
            .last_attempt
            .as_ref()
            .unwrap()
            .error
            .clone()
            .unwrap();
        assert!(error.contains("loopback"), "{url}: {error}");
    }
}

#[tokio::test]
async fn without_a_callback_url_nothing_is_called() {
    let endpoint = Endpoint::start(200, Duration::ZERO).await;
    let world = World::new(None).await;
    world.publish("m1/delivered").await;
    let response = world.app.handle_batch(world.batch().await).await;
    assert!(failed(&response).is_empty());
    assert_eq!(endpoint.count(), 0);
}

#[tokio::test]
async fn garbage_is_failed_and_one_failure_does_not_fail_the_batch() {
    let endpoint = Endpoint::start(200, Duration::ZERO).await;
    let world = World::new(Some(endpoint.url())).await;
    world.publish("m1/delivered").await;
    let mut batch = world.batch().await;
    let mut garbage = SqsMessage::default();
    garbage.message_id = Some("garbage".into());
    garbage.body = Some("{\"not\": \"an event\"}".into());
    batch.records.push(garbage);
    let response = world.app.handle_batch(batch).await;
    assert_eq!(failed(&response), ["garbage"]);
    assert_eq!(endpoint.count(), 1);
}
