//! `POST /viber/status` against the emulator: in-process handler calls with real signatures.
//! Run with `infra/scripts/with-moto.sh cargo test -p status`.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Request;
use serde_json::{Value, json};
use session_rules::{
    Limits, MessageStatus, PhoneNumber, Refusal, SendClass, StatusEvent, StatusTrack, Timestamp,
};
use status::App;
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_store::{
    BusinessId, HistoryEntry, Kept, MessageId, MessageRecord, NewBusiness, NewSend, PendingStatus,
    QuarantineReason, Retention, SendOutcome, Store,
};
use vbm_testkit::TestEnv;
use vbm_testkit::callback::{self, Hostile, Reply, VIBER_IP};
use viber::CallbackAuth;

const SECRET: &str = "viber-callback-secret-for-tests";
const SERVICE_ID: u64 = 4242;
const USER: &str = "+447911123456";

struct Harness {
    env: TestEnv,
    app: App,
    business: BusinessId,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

/// A message `dispatch` has handed to Viber: stored, `sent`, and findable by its token.
struct Sent {
    id: MessageId,
    token: String,
    sent_at: Timestamp,
    created_at: Timestamp,
}

fn phone(p: &str) -> PhoneNumber {
    PhoneNumber::parse(p).unwrap()
}

fn request(body: &str, signature: Option<&str>) -> Request {
    callback::request("/viber/status", body, signature, VIBER_IP)
}

fn signed(body: &str) -> Request {
    request(body, Some(&viber::sign(SECRET.as_bytes(), body.as_bytes())))
}

fn code(status: MessageStatus) -> u8 {
    match status {
        MessageStatus::Delivered => 0,
        MessageStatus::Seen => 1,
        MessageStatus::Expired => 2,
        other => panic!("Viber sends no {other:?}"),
    }
}

/// A status callback as Viber posts it.
fn callback(token: &str, message_status: u8, at: Timestamp, user: Option<&str>) -> String {
    let mut body = json!({
        "message_token": token.parse::<u64>().map_or(json!(token), |n| json!(n)),
        "message_time": at.as_millis(),
        "message_status": message_status,
    });
    if let Some(user) = user {
        body["phone_number"] = json!(user.trim_start_matches('+'));
        body["service_id"] = json!(SERVICE_ID);
    }
    body.to_string()
}

impl Harness {
    async fn new() -> Self {
        // EMF metric lines go straight to stdout, past the test harness's capture.
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let dynamodb = env.dynamodb().await;
        let sqs = env.sqs().await;
        let app = App::new(
            Store::new(
                dynamodb.clone(),
                &env.table,
                Limits::default(),
                Retention::default(),
            ),
            EventsQueue::new(sqs.clone(), &env.events_queue_url),
            Arc::new(SystemClock),
            CallbackAuth::from_parts(Some(SECRET), "").unwrap(),
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
            app,
            business: business.id,
            sqs,
            dynamodb,
        }
    }

    fn store(&self) -> &Store {
        self.app.store()
    }

    fn now(&self) -> Timestamp {
        SystemClock.now()
    }

    async fn post(&self, body: &str) -> Reply {
        self.call(signed(body)).await
    }

    async fn call(&self, request: Request) -> Reply {
        Reply::of(self.app.handle(request).await)
    }

    /// What `send` records: a message of `class` to the user, at `now`.
    async fn record(&self, id: MessageId, class: SendClass, now: Timestamp) -> SendOutcome {
        self.store()
            .messages()
            .record_send(&NewSend {
                business: &self.business,
                message_id: id,
                to: &phone(USER),
                class,
                kind: "transactional",
                billing: session_rules::BillingCategory::TransactionalTemplate,
                payload: "{}",
                service_id: None,
                idempotency: None,
                failover: None,
                now,
            })
            .await
            .unwrap()
    }

    /// An informative message recorded (and accepted) at `now`.
    async fn accepted(&self, id: &MessageId, now: Timestamp) {
        let outcome = self.record(id.clone(), SendClass::Informative, now).await;
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }

    async fn send(&self, class: SendClass) -> SendOutcome {
        self.record(MessageId::generate(), class, self.now()).await
    }

    /// The business `rival`, another tenant (service id 5151).
    async fn rival(&self) {
        self.store()
            .businesses()
            .create_business(&NewBusiness {
                id: BusinessId::parse("rival").unwrap(),
                service_id: 5151,
                callback_url: None,
                allow_cidrs: vec![],
            })
            .await
            .unwrap();
    }

    /// Seeds what `send` and `dispatch` leave behind: the message, its `TOKEN` item, `sent`.
    async fn sent_message(&self, token: &str) -> Sent {
        let id = MessageId::generate();
        let created_at = self.now();
        self.accepted(&id, created_at).await;
        self.dynamodb
            .put_item()
            .table_name(&self.env.table)
            .item("pk", AttributeValue::S(format!("TOKEN#{token}")))
            .item("sk", AttributeValue::S("TOKEN".into()))
            .item("business_id", AttributeValue::S("acme".into()))
            .item("message_id", AttributeValue::S(id.to_string()))
            .item("phone", AttributeValue::S(USER.into()))
            .item("gsi1pk", AttributeValue::S(format!("CONTACT#acme#{USER}")))
            .item("gsi1sk", AttributeValue::S(format!("TOKEN#{token}")))
            .send()
            .await
            .unwrap();
        let sent_at = Timestamp::from_millis(created_at.as_millis() + 100);
        let change = self
            .store()
            .messages()
            .apply_status(&self.business, &id, MessageStatus::Sent, sent_at)
            .await
            .unwrap()
            .unwrap();
        assert!(change.moved);
        Sent {
            id,
            token: token.to_owned(),
            sent_at,
            created_at,
        }
    }

    /// What `send` leaves behind: an `accepted` message.
    async fn accepted_message(&self) -> MessageRecord {
        let id = MessageId::generate();
        self.accepted(&id, self.now()).await;
        self.message(&id).await
    }

    async fn message(&self, id: &MessageId) -> MessageRecord {
        self.store()
            .messages()
            .get_message(&self.business, id, self.now())
            .await
            .unwrap()
            .unwrap()
    }

    /// What `dispatch` does once Viber has taken `message` with `token`: `mark_sent`, then
    /// what was kept for the token. Returns how many kept statuses it applied.
    async fn dispatch_records(&self, message: &MessageRecord, token: &str, at: Timestamp) -> usize {
        let sent = vbm_store::Sent {
            token: Some(token),
            session_id: None,
            at,
        };
        let marked = self
            .store()
            .messages()
            .mark_sent(message, &phone(USER), sent)
            .await
            .unwrap();
        assert_eq!(marked, vbm_store::Marked::Recorded);
        let events = EventsQueue::new(self.sqs.clone(), &self.env.events_queue_url);
        dispatch::pending::reconcile(self.store(), &events, message, token, self.now())
            .await
            .unwrap()
    }

    async fn events(&self) -> Vec<Event> {
        vbm_testkit::drain_as(&self.sqs, &self.env.events_queue_url, EventsQueue::parse).await
    }

    async fn item_count(&self) -> i32 {
        self.env.item_count().await
    }

    async fn opted_out(&self) -> bool {
        self.store()
            .conversations()
            .get_conversation(&self.business, &phone(USER))
            .await
            .unwrap()
            .is_some_and(|c| c.opted_out)
    }
}

/// The distinct orders of a list with repeats.
fn orders(items: &[MessageStatus]) -> Vec<Vec<MessageStatus>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out: Vec<Vec<MessageStatus>> = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in orders(&rest) {
            tail.insert(0, first);
            if !out.contains(&tail) {
                out.push(tail);
            }
        }
    }
    out
}

#[tokio::test]
async fn every_order_of_late_and_duplicated_callbacks_ends_where_the_order_rule_says() {
    use MessageStatus::*;
    let h = Harness::new().await;
    let sets = [
        vec![Delivered, Delivered, Seen, Expired],
        vec![Expired, Expired, Delivered],
    ];
    let mut token = 7_000_000_000_000_000_000u64;
    let mut cases = 0;
    for set in sets {
        for order in orders(&set) {
            cases += 1;
            token += 1;
            let sent = h.sent_message(&token.to_string()).await;
            // Viber's times are when things happened, whatever order they arrive in.
            let at = |s: MessageStatus| {
                Timestamp::from_millis(sent.sent_at.as_millis() + 1000 * i64::from(code(s) + 1))
            };
            let mut model = StatusTrack::accepted(sent.created_at);
            model.apply(StatusEvent {
                status: Sent,
                at: sent.sent_at,
            });
            let mut expected_events = Vec::new();
            for status in &order {
                let moved = model.apply(StatusEvent {
                    status: *status,
                    at: at(*status),
                });
                let reply = h
                    .post(&callback(&sent.token, code(*status), at(*status), None))
                    .await;
                assert_eq!(reply.status, 200, "{order:?}: {}", reply.body);
                assert_eq!(reply.body["status"], 0);
                if moved || model.current == *status {
                    expected_events.push(*status);
                }
            }
            let stored = h.message(&sent.id).await;
            assert_eq!(stored.track, model, "{order:?}");

            let events = h.events().await;
            let mut got: Vec<_> = events
                .iter()
                .map(|e| {
                    assert_eq!(e.kind, EventKind::MessageStatus);
                    assert_eq!(e.data["message_id"], sent.id.as_str());
                    assert_eq!(e.data["to"], USER);
                    assert_eq!(e.data["viber_message_token"], sent.token);
                    let status = MessageStatus::parse(e.data["status"].as_str().unwrap()).unwrap();
                    assert_eq!(
                        e.event_id,
                        Event::new(
                            EventKind::MessageStatus,
                            "acme",
                            &format!("{}/{}", sent.id, status.as_str()),
                            h.now(),
                            json!({})
                        )
                        .event_id
                    );
                    assert_eq!(e.data["at"], vbm_platform::time::rfc3339(at(status)));
                    status.as_str()
                })
                .collect();
            got.sort_unstable();
            let mut want: Vec<_> = expected_events.iter().map(|s| s.as_str()).collect();
            want.sort_unstable();
            assert_eq!(got, want, "{order:?}");
            // Events only for real moves: every distinct event is a status the message moved to.
            let moved_to: Vec<_> = model.history[2..]
                .iter()
                .scan(Sent, |current, e| {
                    let moved = current.moves_to(e.status);
                    if moved {
                        *current = e.status;
                    }
                    Some(moved.then_some(e.status.as_str()))
                })
                .flatten()
                .collect();
            let mut distinct = got.clone();
            distinct.dedup();
            let mut moved_sorted = moved_to.clone();
            moved_sorted.sort_unstable();
            assert_eq!(distinct, moved_sorted, "{order:?}");
        }
    }
    assert_eq!(cases, 12 + 3);
}

/// A status before `dispatch` has recorded its token is kept and answered 200 (Viber must not
/// retry it until it gives up); a repeat keeps one; `dispatch`'s path after `mark_sent`
/// applies what was kept, with one event per status.
#[tokio::test]
async fn a_status_for_an_unknown_token_is_kept_and_applied_once_the_token_is_recorded() {
    let h = Harness::new().await;
    let token = "123456789";
    let items = h.item_count().await;
    let t0 = h.now();
    let at = |ms: i64| Timestamp::from_millis(t0.as_millis() + ms);
    let delivered = callback(token, 0, at(1000), Some(USER));
    for _ in 0..2 {
        let reply = h.post(&delivered).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["status"], 0);
    }
    let kept = h
        .store()
        .messages()
        .pending_statuses(token, h.now())
        .await
        .unwrap();
    assert_eq!(
        kept,
        [PendingStatus {
            status: MessageStatus::Delivered,
            at: at(1000)
        }]
    );
    assert_eq!(
        h.item_count().await,
        items + 1,
        "one TOKEN item holds what is kept"
    );
    assert!(
        h.store()
            .messages()
            .message_by_token(token, h.now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.events().await.is_empty());

    // dispatch: the send is recorded with this token, then what was kept is applied.
    let accepted = h.accepted_message().await;
    let sent_at = at(500);
    h.dispatch_records(&accepted, token, sent_at).await;
    let stored = h.message(&accepted.id).await;
    assert_eq!(stored.track.current, MessageStatus::Delivered);
    let history: Vec<_> = stored
        .track
        .history
        .iter()
        .map(|e| (e.status, e.at))
        .collect();
    assert_eq!(
        history,
        [
            (MessageStatus::Accepted, accepted.created_at),
            (MessageStatus::Sent, sent_at),
            (MessageStatus::Delivered, at(1000)),
        ]
    );
    let events = h.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data["status"], "delivered");
    assert_eq!(events[0].data["viber_message_token"], token);
    assert_eq!(events[0].data["to"], USER);
    // The billing the message was accepted with, carried on its token.
    assert_eq!(
        events[0].data["billing"],
        serde_json::json!({"category": "transactional_template", "billable": true})
    );
    assert!(
        h.store()
            .messages()
            .pending_statuses(token, h.now())
            .await
            .unwrap()
            .is_empty()
    );

    // Viber's repeat after that takes the ordinary path: the same event id again.
    let reply = h.post(&delivered).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let again = h.events().await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, events[0].event_id);
}

/// The window itself, forced step by step: the callback's lookup misses, `dispatch` records
/// the token and finds nothing kept, then the callback's keep. The keep must not be kept
/// (dispatch has already looked): it hands back the message for the callback to apply.
#[tokio::test]
async fn a_keep_after_the_token_is_recorded_hands_back_the_message() {
    let h = Harness::new().await;
    let token = "555000111";
    let accepted = h.accepted_message().await;
    assert!(
        h.store()
            .messages()
            .message_by_token(token, h.now())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(h.dispatch_records(&accepted, token, h.now()).await, 0);
    let pending = PendingStatus {
        status: MessageStatus::Seen,
        at: h.now(),
    };
    let kept = h
        .store()
        .messages()
        .keep_pending_status(token, pending, h.now())
        .await
        .unwrap();
    match kept {
        Kept::Known(message) => {
            assert_eq!(message.message_id, accepted.id);
            assert_eq!(message.business, h.business);
            assert_eq!(message.phone, phone(USER));
        }
        other => panic!("kept after the token was recorded: {other:?}"),
    }
    assert!(
        h.store()
            .messages()
            .pending_statuses(token, h.now())
            .await
            .unwrap()
            .is_empty()
    );
}

/// The race the keep is conditioned against: the callback finds no token, `dispatch` records
/// it and finds nothing kept, then the callback would keep it. Run for real, many times, with
/// the callback starting a little earlier or later each time: afterwards every status is
/// applied, and published with exactly one event id per status.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_status_racing_the_token_record_is_always_applied_once() {
    let h = Arc::new(Harness::new().await);
    let rounds: u64 = 40;
    let mut kept_for_dispatch = 0;
    for round in 0..rounds {
        let token = format!("{}", 800_000_000 + round);
        let accepted = h.accepted_message().await;
        let sent_at = h.now();
        let delivered_at = Timestamp::from_millis(sent_at.as_millis() + 10);
        let body = callback(&token, 0, delivered_at, None);
        // Staggered both ways around dispatch's two steps (a few ms each on the emulator).
        let lead = std::time::Duration::from_millis(round % 10);
        let callback = {
            let (h, body) = (h.clone(), body.clone());
            tokio::spawn(async move {
                if round % 2 == 0 {
                    tokio::time::sleep(lead).await;
                }
                h.post(&body).await
            })
        };
        let record = {
            let (h, token, accepted) = (h.clone(), token.clone(), accepted.clone());
            tokio::spawn(async move {
                if round % 2 == 1 {
                    tokio::time::sleep(lead).await;
                }
                h.dispatch_records(&accepted, &token, sent_at).await
            })
        };
        let reply = callback.await.unwrap();
        kept_for_dispatch += record.await.unwrap();
        assert_eq!(reply.status, 200, "round {round}: {}", reply.body);

        // Exactly one side applied it: one history entry, one event.
        let stored = h.message(&accepted.id).await;
        assert_eq!(
            stored.track.current,
            MessageStatus::Delivered,
            "round {round}"
        );
        let delivered = stored.track.history.iter();
        let delivered = delivered.filter(|e| e.status == MessageStatus::Delivered);
        assert_eq!(delivered.count(), 1, "round {round}: {:?}", stored.track);
        let events = h.events().await;
        assert_eq!(events.len(), 1, "round {round}: {events:?}");
        assert_eq!(events[0].data["status"], "delivered");
        assert!(
            h.store()
                .messages()
                .pending_statuses(&token, h.now())
                .await
                .unwrap()
                .is_empty(),
            "round {round}: left kept"
        );
    }
    // Which side won depends on scheduling, so it is reported, not asserted.
    println!("dispatch applied {kept_for_dispatch} of {rounds}, the callback the rest");
}

#[tokio::test]
async fn unsubscribe_blocks_sends_until_subscribe() {
    let h = Harness::new().await;
    h.store()
        .conversations()
        .record_user_message(&h.business, &phone(USER), h.now())
        .await
        .unwrap();
    let unsubscribe = callback("900001", 5, h.now(), Some(USER));
    let reply = h.post(&unsubscribe).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(h.opted_out().await);
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ContactOptedOut);
    assert_eq!(events[0].data["phone"], USER);
    assert_eq!(events[0].data["reason"], "unsubscribe");
    assert_eq!(events[0].data["viber_message_token"], "900001");

    assert_eq!(
        h.send(SendClass::Informative).await,
        SendOutcome::Refused(Refusal::RecipientOptedOut)
    );
    assert_eq!(
        h.send(SendClass::Session).await,
        SendOutcome::Refused(Refusal::RecipientOptedOut)
    );

    // Redelivered: nothing changes, the same event again.
    assert_eq!(h.post(&unsubscribe).await.status, 200);
    let again = h.events().await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, events[0].event_id);

    let reply = h.post(&callback("900002", 4, h.now(), Some(USER))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(!h.opted_out().await);
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ContactOptedIn);
    assert_eq!(events[0].data["reason"], "subscribe");
    assert!(matches!(
        h.send(SendClass::Informative).await,
        SendOutcome::Accepted { .. }
    ));
}

#[tokio::test]
async fn an_unsubscribe_without_phone_finds_the_user_through_the_token() {
    let h = Harness::new().await;
    let sent = h.sent_message("910001").await;
    let reply = h.post(&callback(&sent.token, 5, h.now(), None)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(h.opted_out().await);
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ContactOptedOut);
    assert_eq!(events[0].data["phone"], USER);

    // Neither a phone nor a known token: nothing says whose it is, refused retryably.
    let reply = h.post(&callback("910002", 4, h.now(), None)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.headers["retry-after"], "5");
    assert!(h.opted_out().await);
    // A service id nobody has: kept aside in the quarantine and answered 200, nothing changed.
    let unknown = callback("910003", 4, h.now(), Some(USER)).replace("4242", "999");
    let reply = h.post(&unknown).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(h.opted_out().await);
    assert!(h.events().await.is_empty());
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body, unknown.as_bytes());
    assert_eq!(kept[0].reason, QuarantineReason::UnknownService);
}

#[tokio::test]
async fn bad_signatures_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let sent = h.sent_message("920001").await;
    let body = callback(&sent.token, 1, h.now(), None);
    let good = viber::sign(SECRET.as_bytes(), body.as_bytes());
    for request in [
        request(&body, None),
        request(&body, Some(&viber::sign(b"wrong", body.as_bytes()))),
        request(
            &body.replace("\"message_status\":1", "\"message_status\":2"),
            Some(&good),
        ),
    ] {
        let reply = h.call(request).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.body["error"]["code"], "unauthorized");
    }
    let stored = h.message(&sent.id).await;
    assert_eq!(stored.track.current, MessageStatus::Sent);
    assert_eq!(stored.track.history.len(), 2);
    assert!(h.events().await.is_empty());
    // And an unknown code for a token nobody knows, correctly signed: kept aside, 200.
    let body = r#"{"message_token":1,"message_time":1700000000000,"message_status":3}"#;
    let reply = h.post(body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body, body.as_bytes());
    assert_eq!(kept[0].reason, QuarantineReason::TokenUnknown);
}

/// A correctly signed status callback with raw bytes for a body (which need not be UTF-8) and
/// extra raw headers.
fn signed_bytes(body: Vec<u8>, headers: &[(&str, &[u8])]) -> Request {
    let signature = viber::sign(SECRET.as_bytes(), &body);
    callback::with_raw(request("", Some(&signature)), body, headers)
}

/// The security matrix of the status callback: authentication failures and hostile
/// bodies that carry a valid signature, each refused with its status and code and leaving the
/// table and every queue exactly as they were; an authenticated one that cannot be parsed is
/// kept whole in the quarantine, and only there.
#[tokio::test]
async fn hostile_callbacks_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let sent = h.sent_message("930001").await;
    let body = callback(&sent.token, 0, h.now(), Some(USER));
    let good = viber::sign(SECRET.as_bytes(), body.as_bytes());
    // The valid callback with `field` set to this raw JSON.
    let hostile = Hostile { body: &body };
    let with = |field: &str, raw_json: &str| hostile.with(field, raw_json);
    let nested = Hostile::nested;
    let not_utf8: Vec<u8> = with("phone_number", r#""44791112345~""#)
        .into_iter()
        .map(|b| if b == b'~' { 0xff } else { b })
        .collect();
    let mut cases: Vec<callback::Case> = vec![
        ("unsigned", request(&body, None), 401, "unauthorized"),
        (
            "signed with another secret",
            request(&body, Some(&viber::sign(b"guess", body.as_bytes()))),
            401,
            "unauthorized",
        ),
        (
            "old signature, status changed to seen",
            request(
                &body.replace("\"message_status\":0", "\"message_status\":1"),
                Some(&good),
            ),
            401,
            "unauthorized",
        ),
        (
            "old signature, status changed to unsubscribe",
            request(
                &body.replace("\"message_status\":0", "\"message_status\":5"),
                Some(&good),
            ),
            401,
            "unauthorized",
        ),
        (
            "10k nested arrays in a field",
            signed_bytes(with("message_status", &nested(10_000)), &[]),
            400,
            "invalid_json",
        ),
        (
            "invalid UTF-8",
            signed_bytes(not_utf8, &[]),
            400,
            "invalid_json",
        ),
        (
            "message_status twice (unsubscribe, then delivered)",
            signed_bytes(
                body.replace(
                    "\"message_status\":0",
                    "\"message_status\":5,\"message_status\":0",
                )
                .into_bytes(),
                &[],
            ),
            400,
            "invalid_json",
        ),
        (
            "a key twice in a nested object",
            signed_bytes(with("extra", r#"{"a":{"k":1,"k":2}}"#), &[]),
            400,
            "invalid_json",
        ),
        (
            "status 2^64",
            signed_bytes(with("message_status", "18446744073709551616"), &[]),
            422,
            "validation_failed",
        ),
        (
            "status 1e400",
            signed_bytes(with("message_status", "1e400"), &[]),
            400,
            "invalid_json",
        ),
    ];
    // A 2^64 token, kept as its digits: a token like any other, not known yet, so kept pending.
    cases.extend(callback::signed_rows(
        &hostile,
        vbm_http::MAX_BODY_BYTES,
        "message_time",
        "kept_pending",
        signed_bytes,
    ));
    callback::check_matrix(
        &h.env,
        cases,
        async |request| h.call(request).await,
        async |_, _| {},
    )
    .await;
    // The genuine callback still goes through.
    let reply = h.post(&body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

impl Harness {
    /// The message item as stored, every attribute.
    async fn raw_message(
        &self,
        id: &MessageId,
    ) -> std::collections::HashMap<String, AttributeValue> {
        self.dynamodb
            .get_item()
            .table_name(&self.env.table)
            .key("pk", AttributeValue::S("BIZ#acme".into()))
            .key("sk", AttributeValue::S(format!("MSG#{id}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    }
}

/// an identical status callback delivered again, one after another and many at
/// once, changes nothing stored and publishes nothing but the first event again (same id).
#[tokio::test]
async fn a_replayed_status_callback_changes_nothing_and_publishes_nothing_new() {
    let h = Harness::new().await;
    let sent = h.sent_message("940001").await;
    let delivered_at = Timestamp::from_millis(sent.sent_at.as_millis() + 1000);
    let delivered = callback(&sent.token, 0, delivered_at, None);
    let reply = h.post(&delivered).await;
    assert_eq!(
        (reply.status, reply.body["status"].as_i64()),
        (200, Some(0))
    );
    let stored = h.raw_message(&sent.id).await;
    let first_events = h.events().await;
    assert_eq!(first_events.len(), 1);
    let event_id = first_events[0].event_id.clone();

    for _ in 0..5 {
        assert_eq!(h.post(&delivered).await.status, 200);
    }
    let together = futures_util::future::join_all((0..20).map(|_| h.post(&delivered))).await;
    assert!(together.iter().all(|r| r.status == 200));
    assert_eq!(
        h.raw_message(&sent.id).await,
        stored,
        "a replay changed the message"
    );
    let events = h.events().await;
    assert!(
        events.iter().all(|e| e.event_id == event_id),
        "a replay published a new event: {events:?}"
    );

    // A late callback (delivered after seen) is kept once, however often it comes again.
    let seen = callback(
        &sent.token,
        1,
        Timestamp::from_millis(delivered_at.as_millis() + 1000),
        None,
    );
    assert_eq!(h.post(&seen).await.status, 200);
    let late = callback(
        &sent.token,
        0,
        Timestamp::from_millis(delivered_at.as_millis() + 500),
        None,
    );
    futures_util::future::join_all((0..10).map(|_| h.post(&late))).await;
    let message = h.message(&sent.id).await;
    assert_eq!(message.track.current, MessageStatus::Seen);
    let statuses: Vec<_> = message.track.history.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            MessageStatus::Accepted,
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Seen,
            MessageStatus::Delivered
        ]
    );
    h.events().await;
}

/// whatever Viber sends, a message's history stays bounded: distinct callbacks
/// that do not move the status are kept up to `MAX_HISTORY` entries, then counted only; a real
/// move still goes through.
#[tokio::test]
async fn a_message_history_is_bounded_whatever_viber_sends() {
    let h = Harness::new().await;
    let sent = h.sent_message("940002").await;
    let at = |i: i64| Timestamp::from_millis(sent.sent_at.as_millis() + 1000 + i);
    let first = h
        .store()
        .messages()
        .apply_status(&h.business, &sent.id, MessageStatus::Delivered, at(0))
        .await
        .unwrap()
        .unwrap();
    assert!(first.moved);
    let extra = vbm_store::MAX_HISTORY as i64 + 20;
    for i in 1..=extra {
        let change = h
            .store()
            .messages()
            .apply_status(&h.business, &sent.id, MessageStatus::Delivered, at(i))
            .await
            .unwrap()
            .unwrap();
        assert!(!change.moved && !change.replay, "{i}");
    }
    let message = h.message(&sent.id).await;
    assert_eq!(message.track.history.len(), vbm_store::MAX_HISTORY);
    // Three entries (accepted, sent, delivered) were there before the repeats.
    let kept = vbm_store::MAX_HISTORY as i64 - 3;
    let item = h.raw_message(&sent.id).await;
    assert_eq!(
        item.get("history_dropped"),
        Some(&AttributeValue::N((extra - kept).to_string()))
    );
    let seen = h
        .store()
        .messages()
        .apply_status(&h.business, &sent.id, MessageStatus::Seen, at(extra + 1))
        .await
        .unwrap()
        .unwrap();
    assert!(seen.moved);
    let message = h.message(&sent.id).await;
    assert_eq!(message.track.current, MessageStatus::Seen);
    assert_eq!(message.track.history.len(), vbm_store::MAX_HISTORY + 1);
}

/// A message's history as `GET /v1/messages/{id}` lists it: (status name, Viber code).
fn told(m: &MessageRecord) -> Vec<(Option<MessageStatus>, Option<i64>)> {
    m.history
        .iter()
        .map(|e: &HistoryEntry| (e.status, e.viber_status))
        .collect()
}

/// A code nobody documents is answered 200, kept in the message's history as it came, and
/// changes nothing else: no status moves, no event.
#[tokio::test]
async fn an_unknown_status_code_is_kept_in_the_history_and_changes_nothing() {
    let h = Harness::new().await;
    let sent = h.sent_message("940001").await;
    let before = h.message(&sent.id).await;
    let reply = h
        .post(&callback(&sent.token, 17, h.now(), Some(USER)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], 0);
    let after = h.message(&sent.id).await;
    assert_eq!(
        after.track, before.track,
        "status and known history unchanged"
    );
    assert_eq!(
        told(&after),
        [
            (Some(MessageStatus::Accepted), None),
            (Some(MessageStatus::Sent), None),
            (None, Some(17)),
        ]
    );
    assert!(h.events().await.is_empty());
    assert!(
        h.store()
            .quarantine()
            .quarantined(h.now())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Property: whatever mix of known and unknown codes arrives, in any order, the message ends
/// where the known ones alone put it, and its history lists every callback as it came.
#[test]
fn an_unknown_status_never_changes_a_message() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let h = runtime.block_on(Harness::new());
    let code = prop_oneof![
        Just(0i64),
        Just(1),
        Just(2),
        Just(3),
        6i64..100,
        -10i64..0,
        Just(i64::from(u32::MAX)),
    ];
    // Each case is a few emulator round trips: a handful of cases, shrinking kept short.
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 12,
        max_shrink_iters: 8,
        ..RunnerConfig::default()
    });
    let next = std::sync::atomic::AtomicU64::new(950_000);
    runner
        .run(&proptest::collection::vec(code, 1..6), |codes| {
            runtime.block_on(async {
                let token = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sent = h.sent_message(&token.to_string()).await;
                let mut model = h.message(&sent.id).await.track;
                let mut expected = told(&h.message(&sent.id).await);
                for (i, code) in codes.iter().enumerate() {
                    let at = Timestamp::from_millis(sent.sent_at.as_millis() + 1 + i as i64);
                    let mut body: Value =
                        serde_json::from_str(&callback(&sent.token, 0, at, None)).unwrap();
                    body["message_status"] = json!(code);
                    let reply = h.post(&body.to_string()).await;
                    assert_eq!(reply.status, 200, "{codes:?}: {}", reply.body);
                    match viber_status(*code) {
                        Some(status) => {
                            model.apply(StatusEvent { status, at });
                            expected.push((Some(status), None));
                        }
                        None => expected.push((None, Some(*code))),
                    }
                }
                let stored = h.message(&sent.id).await;
                assert_eq!(stored.track, model, "{codes:?}");
                assert_eq!(told(&stored), expected, "{codes:?}");
                h.events().await;
            });
            Ok(())
        })
        .unwrap();
}

/// Viber's documented message codes, from VIBER.md rather than from the parser.
fn viber_status(code: i64) -> Option<MessageStatus> {
    match code {
        0 => Some(MessageStatus::Delivered),
        1 => Some(MessageStatus::Seen),
        2 => Some(MessageStatus::Expired),
        _ => None,
    }
}

/// #14 item 5: a status naming a service id is applied only to a message of the business
/// with that service id. Another tenant's service id is kept aside as a mismatch, answered 200,
/// and the message is untouched; a replay keeps it aside.
#[tokio::test]
async fn a_status_naming_another_tenants_service_id_is_never_applied() {
    let h = Harness::new().await;
    h.rival().await;
    let sent = h.sent_message("960001").await;
    let before = h.message(&sent.id).await;
    for code in [1, 17] {
        let mut crossed: Value =
            serde_json::from_str(&callback(&sent.token, code, h.now(), Some(USER))).unwrap();
        crossed["service_id"] = json!(5151);
        let crossed = crossed.to_string();
        let reply = h.post(&crossed).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let after = h.message(&sent.id).await;
        assert_eq!(after.track, before.track, "{code}");
        assert_eq!(after.history, before.history, "{code}");
    }
    assert!(h.events().await.is_empty());
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter()
            .all(|q| q.reason == QuarantineReason::ServiceMismatch)
    );
    assert!(kept[0].detail.contains("5151"), "{}", kept[0].detail);
    assert!(matches!(
        h.app.replay(&kept[0]).await.unwrap(),
        vbm_callbacks::Replay::StillAside(_)
    ));
    assert_eq!(h.message(&sent.id).await.track, before.track);
    // Its own service id applies as always.
    let own = callback(&sent.token, 1, h.now(), Some(USER));
    assert_eq!(h.post(&own).await.status, 200);
    assert_eq!(h.message(&sent.id).await.track.current, MessageStatus::Seen);
}

/// A status for a token still unknown past the window statuses are kept for (the message
/// retention) can never meet its message: kept aside whole, not pending. Without a time at all
/// a status is dated on arrival and applied.
#[tokio::test]
async fn statuses_too_old_for_their_unknown_token_are_quarantined_and_timeless_ones_applied() {
    let h = Harness::new().await;
    let old = Timestamp::from_millis(h.now().as_millis() - 31 * 86_400_000);
    let body = callback("970001", 0, old, Some(USER));
    let reply = h.post(&body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        h.store()
            .messages()
            .pending_statuses("970001", h.now())
            .await
            .unwrap()
            .is_empty()
    );
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, QuarantineReason::TokenUnknown);
    assert_eq!(kept[0].route, "POST /viber/status");

    let sent = h.sent_message("970002").await;
    let before = h.now();
    let reply = h
        .post(&format!(
            r#"{{"message_token":"{}","message_status":0}}"#,
            sent.token
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let m = h.message(&sent.id).await;
    assert_eq!(m.track.current, MessageStatus::Delivered);
    let at = m.track.history.last().unwrap().at;
    assert!(at >= before && at <= h.now(), "dated on arrival: {at:?}");
}

/// #14 item 5, before the token is known: a status naming another tenant's service id is kept
/// with that service id; when `dispatch` records the token for this tenant's message, it is not
/// applied but kept aside as a mismatch (a replay checks again and keeps it aside).
#[tokio::test]
async fn a_kept_status_naming_another_tenants_service_id_is_never_applied() {
    let h = Harness::new().await;
    h.rival().await;
    let token = "980001";
    let mut crossed: Value =
        serde_json::from_str(&callback(token, 1, h.now(), Some(USER))).unwrap();
    crossed["service_id"] = json!(5151);
    let reply = h.post(&crossed.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        h.store()
            .messages()
            .pending_statuses(token, h.now())
            .await
            .unwrap()
            .len(),
        1
    );

    let accepted = h.accepted_message().await;
    h.dispatch_records(&accepted, token, h.now()).await;
    let m = h.message(&accepted.id).await;
    assert_eq!(m.track.current, MessageStatus::Sent, "not applied");
    assert!(
        h.store()
            .messages()
            .pending_statuses(token, h.now())
            .await
            .unwrap()
            .is_empty()
    );
    let events = h.events().await;
    assert!(
        events.iter().all(|e| e.data["status"] != "seen"),
        "{events:?}"
    );
    let kept = h.store().quarantine().quarantined(h.now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, QuarantineReason::ServiceMismatch);
    let body: Value = serde_json::from_slice(&kept[0].body).unwrap();
    assert_eq!(body["service_id"], 5151);
    assert_eq!(body["message_status"], 1);
    assert!(matches!(
        h.app.replay(&kept[0]).await.unwrap(),
        vbm_callbacks::Replay::StillAside(_)
    ));
    assert_eq!(
        h.message(&accepted.id).await.track.current,
        MessageStatus::Sent
    );
}
