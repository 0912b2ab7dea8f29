//! What stops `dispatch`: a campaign's cancel (its messages become `cancelled`, within one
//! batch), a campaign's pause and a disabled business (their messages parked, not sent, not
//! dead-lettered, and queued again by `relay` when the hold is lifted). Against the emulator,
//! the table's stream read into `relay`, and a local HTTP server playing Viber.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dispatch::App;
use serde_json::{Value, json};
use session_rules::campaign::{CampaignRecipient, Control};
use session_rules::{MessageStatus, PhoneNumber, SendClass};
use vbm_events::{EventKind, EventsQueue};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::{CampaignQueue, OutboundQueue};
use vbm_store::{
    BusinessId, CampaignId, Candidate, ChunkRef, ControlOutcome, Hold, NewCampaign, NewSend, Store,
};
use vbm_testkit::TestEnv;
use vbm_testkit::sqs;
use vbm_testkit::stand_in::{self, Answer};

use crate::common;

const SERVICE_ID: u64 = 4242;

/// Viber's stand-in: takes every send (a few milliseconds each, as the network would), counts it.
async fn viber() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let recorder = received.clone();
    let addr = stand_in::serve(move |seen| {
        let body = seen.json();
        let n = {
            let mut seen = recorder.lock().unwrap();
            seen.push(body.clone());
            seen.len()
        };
        Answer::json(
            200,
            json!({"status": 0, "seq": body["seq"], "message_token": 7_000_000_000u64 + n as u64})
                .to_string(),
        )
        .after(Duration::from_millis(5))
    })
    .await;
    (format!("http://{addr}/vibersrvc/1"), received)
}

struct World {
    env: TestEnv,
    store: Store,
    relay: relay::App,
    stream: tokio::sync::Mutex<relay::reader::StreamReader>,
    sqs: aws_sdk_sqs::Client,
    app: App,
    business: BusinessId,
    sent: Arc<Mutex<Vec<Value>>>,
}

impl World {
    async fn new() -> Self {
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let dynamodb = env.dynamodb().await;
        let sqs = env.sqs().await;
        let store = || common::store(&env, &dynamodb);
        let business = common::business(&store(), "acme", SERVICE_ID).await;
        // Fast enough that Viber's pace never holds a batch back here.
        store().pace().set_pace_rate(&business, 1000).await.unwrap();
        let (url, sent) = viber().await;
        let app = common::app(&env, &sqs, store(), &url, Duration::from_secs(5));
        let stream =
            relay::reader::StreamReader::for_table(&dynamodb, env.streams().await, &env.table)
                .await
                .unwrap();
        let relay = relay::App::new(OutboundQueue::new(
            sqs.clone(),
            env.outbound_queue_url.clone(),
        ))
        .with_holds(relay::Holds {
            store: store(),
            campaign: Some(CampaignQueue::new(
                sqs.clone(),
                env.campaign_queue_url.clone(),
            )),
            failover: None,
        });
        Self {
            store: store(),
            relay,
            stream: tokio::sync::Mutex::new(stream),
            sqs,
            app,
            business,
            sent,
            env,
        }
    }

    /// The table's stream into `relay`: new messages and lifted holds to the queues.
    async fn relay(&self) {
        self.stream.lock().await.drain(&self.relay).await.unwrap();
    }

    fn sent(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// A running campaign of `count` recipients, all admitted (messages accepted and queued).
    async fn campaign(&self, count: usize) -> (CampaignId, Vec<PhoneNumber>) {
        let id = CampaignId::generate();
        let list: Vec<CampaignRecipient> = (0..count)
            .map(|i| CampaignRecipient {
                to: format!("+3805012{i:05}"),
                params: Default::default(),
            })
            .collect();
        let now = SystemClock.now();
        self.store
            .campaigns()
            .create_campaign(&NewCampaign {
                business: &self.business,
                id: id.clone(),
                name: None,
                message: r#"{"type":"promotional","text":"Sale"}"#,
                recipients: &list,
                send_at: None,
                window: None,
                idempotency: None,
                now,
            })
            .await
            .unwrap();
        self.store
            .campaigns()
            .start_campaign(&self.business, &id, now)
            .await
            .unwrap()
            .unwrap();
        let phones: Vec<PhoneNumber> = list
            .iter()
            .map(|r| PhoneNumber::parse(&r.to).unwrap())
            .collect();
        let payloads: Vec<String> = phones
            .iter()
            .map(|p| json!({"to": p.as_e164(), "type": "promotional", "text": "Sale"}).to_string())
            .collect();
        let candidates = phones
            .iter()
            .zip(&payloads)
            .enumerate()
            .map(|(slot, (to, payload))| Candidate::Send {
                slot,
                send: NewSend {
                    business: &self.business,
                    message_id: id.message_id(slot),
                    to,
                    class: SendClass::Informative,
                    kind: "promotional",
                    billing: session_rules::BillingCategory::Promotional,
                    payload,
                    service_id: None,
                    idempotency: None,
                    failover: None,
                    now,
                },
            })
            .collect();
        let at = ChunkRef {
            business: &self.business,
            campaign: &id,
            chunk: 0,
        };
        let admitted = self
            .store
            .campaigns()
            .admit_chunk(at, count, &BTreeSet::new(), candidates)
            .await
            .unwrap();
        assert_eq!(admitted.queued, count);
        self.relay().await;
        (id, phones)
    }

    /// One receive of up to ten jobs, handed to `dispatch` as Lambda would, and deleted as
    /// Lambda deletes what the answer does not list. Returns how many records there were.
    async fn dispatch_once(&self) -> usize {
        let records = sqs::receive_once(&self.sqs, &self.env.outbound_queue_url).await;
        if records.is_empty() {
            return 0;
        }
        let response = self.app.handle_batch(sqs::event(records.clone())).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        for record in &records {
            self.sqs
                .delete_message()
                .queue_url(&self.env.outbound_queue_url)
                .receipt_handle(record.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
        records.len()
    }

    async fn dispatch_all(&self) -> usize {
        let mut handled = 0;
        loop {
            match self.dispatch_once().await {
                0 => return handled,
                n => handled += n,
            }
        }
    }

    async fn status(&self, id: &vbm_store::MessageId) -> vbm_store::MessageRecord {
        self.store
            .messages()
            .get_message(&self.business, id, SystemClock.now())
            .await
            .unwrap()
            .unwrap()
    }

    async fn control(&self, id: &CampaignId, action: Control) {
        let outcome = self
            .store
            .campaigns()
            .control_campaign(&self.business, id, action, SystemClock.now())
            .await
            .unwrap();
        assert!(matches!(outcome, ControlOutcome::Changed(_)), "{outcome:?}");
    }
}

/// A cancel fired while `dispatch` works through a running campaign: once the cancel has
/// answered, at most the batch in flight (ten jobs) still reaches Viber; every other message
/// becomes `cancelled` with its reason, its event and its count.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_cancel_answers_at_most_the_batch_in_flight_reaches_viber() {
    let world = Arc::new(World::new().await);
    let (campaign, _) = world.campaign(80).await;
    let dispatcher = {
        let world = world.clone();
        tokio::spawn(async move { world.dispatch_all().await })
    };
    // Cancel once the first sends have gone out, while the rest are still on their way.
    while world.sent() < 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    world.control(&campaign, Control::Cancel).await;
    let at_cancel = world.sent();
    dispatcher.await.unwrap();
    let total = world.sent();
    eprintln!("sent to Viber: {at_cancel} when the cancel answered, {total} in all (of 80)");
    assert!(
        total - at_cancel <= 10,
        "{} messages reached Viber after the cancel answered ({at_cancel} before)",
        total - at_cancel
    );
    assert!(total < 80, "the cancel stopped nothing");

    let mut cancelled = 0;
    for i in 0..80 {
        let message = world.status(&campaign.message_id(i)).await;
        match message.track.current {
            MessageStatus::Sent => {}
            MessageStatus::Cancelled => {
                cancelled += 1;
                assert_eq!(
                    message.failure.as_ref().map(|f| f.reason.as_str()),
                    Some("campaign_cancelled")
                );
            }
            other => panic!("message {i} is {other:?}"),
        }
    }
    assert_eq!(cancelled, 80 - total);
    let events: Vec<_> = sqs::receive_all(&world.sqs, &world.env.events_queue_url)
        .await
        .iter()
        .map(|r| EventsQueue::parse(r.body.as_deref().unwrap()).unwrap())
        .filter(|e| e.kind == EventKind::MessageStatus && e.data["status"] == "cancelled")
        .collect();
    assert_eq!(events.len(), cancelled);
    let counted = world
        .store
        .campaigns()
        .get_campaign(&world.business, &campaign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.statuses.get("cancelled"), Some(&(cancelled as u64)));
    assert_eq!(counted.statuses.get("sent"), Some(&(total as u64)));
}

/// A paused campaign's messages are parked, not sent and not retried; resuming queues them
/// again (through the stream and `relay`) and they go. A pause then a cancel: they end
/// `cancelled`, never sent.
#[tokio::test]
async fn a_paused_campaigns_messages_wait_for_resume_and_a_cancel_ends_them() {
    let world = World::new().await;
    let (first, _) = world.campaign(12).await;
    let (second, _) = world.campaign(5).await;
    world.control(&first, Control::Pause).await;
    world.control(&second, Control::Pause).await;
    assert_eq!(world.dispatch_all().await, 17);
    assert_eq!(world.sent(), 0, "a paused campaign's message reached Viber");
    let parked = world
        .store
        .parking()
        .parked(&world.business, &Hold::Campaign(first.clone()))
        .await
        .unwrap();
    assert_eq!(parked.len(), 12);
    assert_eq!(
        world.status(&first.message_id(0)).await.track.current,
        MessageStatus::Accepted
    );

    // Resumed within SQS's five-minute de-duplication window of the first jobs: they go again.
    world.control(&first, Control::Resume).await;
    world.control(&second, Control::Cancel).await;
    world.relay().await;
    assert_eq!(world.dispatch_all().await, 17);
    assert_eq!(world.sent(), 12);
    for i in 0..12 {
        assert_eq!(
            world.status(&first.message_id(i)).await.track.current,
            MessageStatus::Sent
        );
    }
    for i in 0..5 {
        assert_eq!(
            world.status(&second.message_id(i)).await.track.current,
            MessageStatus::Cancelled
        );
    }
    for hold in [Hold::Campaign(first), Hold::Campaign(second)] {
        assert!(
            world
                .store
                .parking()
                .parked(&world.business, &hold)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// The operator's kill switch: a disabled business's queued messages are parked (answered
/// done to the queue: never dead-lettered), nothing reaches Viber; `enable` queues them again.
#[tokio::test]
async fn a_disabled_business_sends_nothing_until_it_is_enabled() {
    let world = World::new().await;
    let (campaign, _) = world.campaign(4).await;
    let now = SystemClock.now();
    let single = vbm_store::MessageId::generate();
    let to = PhoneNumber::parse("+380509990001").unwrap();
    let payload = json!({"to": to.as_e164(), "type": "promotional", "text": "Hi"}).to_string();
    world
        .store
        .messages()
        .record_send(&NewSend {
            business: &world.business,
            message_id: single.clone(),
            to: &to,
            class: SendClass::Informative,
            kind: "promotional",
            billing: session_rules::BillingCategory::Promotional,
            payload: &payload,
            service_id: None,
            idempotency: None,
            failover: None,
            now,
        })
        .await
        .unwrap();
    world.relay().await;
    world
        .store
        .businesses()
        .set_business_disabled(&world.business, true)
        .await
        .unwrap();

    assert_eq!(world.dispatch_all().await, 5);
    assert_eq!(
        world.sent(),
        0,
        "a disabled business's message reached Viber"
    );
    assert_eq!(
        world.status(&single).await.track.current,
        MessageStatus::Accepted
    );
    let parked = world
        .store
        .parking()
        .parked(&world.business, &Hold::Business)
        .await
        .unwrap();
    assert_eq!(parked.len(), 5);

    world
        .store
        .businesses()
        .set_business_disabled(&world.business, false)
        .await
        .unwrap();
    world.relay().await;
    assert_eq!(world.dispatch_all().await, 5);
    assert_eq!(world.sent(), 5);
    assert_eq!(
        world.status(&single).await.track.current,
        MessageStatus::Sent
    );
    assert_eq!(
        world.status(&campaign.message_id(3)).await.track.current,
        MessageStatus::Sent
    );
    assert!(
        world
            .store
            .parking()
            .parked(&world.business, &Hold::Business)
            .await
            .unwrap()
            .is_empty()
    );
}
