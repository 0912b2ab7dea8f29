//! The outbox against the emulator: sends recorded by the store (one transaction each) reach the
//! outbound FIFO queue through the table's stream and `relay`, each once, in each conversation's
//! order, whatever dies or fails on the way. Run with `infra/scripts/with-moto.sh cargo test -p
//! relay` (or `make test`).

use std::collections::BTreeMap;

use relay::reader::StreamReader;
use session_rules::{PhoneNumber, SendClass};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::{OutboundJob, OutboundQueue};
use vbm_store::{BusinessId, MessageId, NewSend, Retention, SendOutcome, Store};
use vbm_testkit::TestEnv;

struct World {
    env: TestEnv,
    store: Store,
    sqs: aws_sdk_sqs::Client,
    relay: relay::App,
    stream: StreamReader,
    business: BusinessId,
}

impl World {
    async fn new() -> Self {
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let dynamodb = env.dynamodb().await;
        let sqs = env.sqs().await;
        let store = Store::new(
            dynamodb.clone(),
            env.table.clone(),
            session_rules::Limits::default(),
            Retention::default(),
        );
        let relay = relay::App::new(OutboundQueue::new(sqs.clone(), &env.outbound_queue_url));
        let stream = StreamReader::for_table(&dynamodb, env.streams().await, &env.table)
            .await
            .unwrap();
        Self {
            env,
            store,
            sqs,
            relay,
            stream,
            business: BusinessId::parse("acme").unwrap(),
        }
    }

    /// A transactional send recorded as `send` records it (one transaction); its id.
    async fn send(&self, to: &str) -> MessageId {
        let id = MessageId::generate();
        let to = PhoneNumber::parse(to).unwrap();
        let outcome = self
            .store
            .messages()
            .record_send(&NewSend {
                business: &self.business,
                message_id: id.clone(),
                to: &to,
                class: SendClass::Informative,
                kind: "transactional",
                billing: session_rules::BillingCategory::TransactionalTemplate,
                payload: r#"{"type":"transactional","text":"Your order is ready"}"#,
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
        id
    }

    /// Everything on the outbound queue, received and deleted: (group, job) in queue order.
    async fn queued(&self) -> Vec<(String, OutboundJob)> {
        vbm_testkit::drain(&self.sqs, &self.env.outbound_queue_url)
            .await
            .into_iter()
            .map(|m| {
                let job: OutboundJob = serde_json::from_str(&m.body).unwrap();
                (m.group.unwrap_or_default(), job)
            })
            .collect()
    }
}

fn ids(jobs: &[(String, OutboundJob)]) -> Vec<String> {
    jobs.iter().map(|(_, j)| j.message_id.clone()).collect()
}

#[tokio::test]
async fn every_accepted_message_is_queued_once_in_its_conversations_order() {
    let mut w = World::new().await;
    let (ann, bob) = ("+447911000001", "+447911000002");
    let mut sent: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Interleaved, and more than one SendMessageBatch (10) and one stream batch's worth.
    for i in 0..26 {
        let to = if i % 3 == 0 { bob } else { ann };
        sent.entry(to)
            .or_default()
            .push(w.send(to).await.to_string());
    }
    let World { stream, relay, .. } = &mut w;
    stream.drain(relay).await.unwrap();
    let jobs = w.queued().await;
    assert_eq!(jobs.len(), 26, "{jobs:?}");
    for (to, expected) in &sent {
        let group = vbm_queue::outbound::conversation_group("acme", to);
        let in_group: Vec<String> = jobs
            .iter()
            .filter(|(g, _)| *g == group)
            .map(|(_, j)| j.message_id.clone())
            .collect();
        assert_eq!(
            &in_group, expected,
            "{to}: the queue's order is the sends' order"
        );
        assert!(jobs.iter().all(|(g, j)| *g == j.conversation));
    }
    // Handed over once: a second drain queues nothing more.
    let World { stream, relay, .. } = &mut w;
    assert_eq!(stream.drain(relay).await.unwrap(), 0);
    assert!(w.queued().await.is_empty());
}

#[tokio::test]
async fn a_consumer_killed_between_reading_and_queueing_loses_nothing_and_sends_once() {
    let mut w = World::new().await;
    let id = w.send("+447911000001").await.to_string();
    // Killed after reading the batch, before queueing it: no checkpoint moved.
    let read = w.stream.read().await.unwrap();
    assert!(!read.is_empty());
    drop(read);
    assert!(w.queued().await.is_empty());
    // The next delivery of the same records queues the message, once.
    let World { stream, relay, .. } = &mut w;
    stream.drain(relay).await.unwrap();
    assert_eq!(ids(&w.queued().await), vec![id]);
}

#[tokio::test]
async fn a_consumer_killed_after_queueing_but_before_its_checkpoint_queues_the_message_once() {
    let mut w = World::new().await;
    let id = w.send("+447911000001").await.to_string();
    // Queued, then killed before the event source mapping could move past the batch.
    for batch in w.stream.read().await.unwrap() {
        let answer = w.relay.handle_batch(batch.event.clone()).await;
        assert!(answer.batch_item_failures.is_empty());
    }
    // The records come again: the FIFO queue's de-duplication (message id) keeps one job.
    let World { stream, relay, .. } = &mut w;
    stream.drain(relay).await.unwrap();
    assert_eq!(ids(&w.queued().await), vec![id]);
}

#[tokio::test]
async fn a_queue_that_refuses_names_the_first_record_not_queued_and_nothing_is_lost() {
    let mut w = World::new().await;
    let first = w.send("+447911000001").await.to_string();
    let second = w.send("+447911000001").await.to_string();
    let broken = relay::App::new(OutboundQueue::new(
        w.sqs.clone(),
        format!("{}/123456789012/no-such-queue.fifo", w.env.endpoint),
    ));
    let batches = w.stream.read().await.unwrap();
    let batch = batches.first().expect("the two sends are on the stream");
    let answer = broken.handle_batch(batch.event.clone()).await;
    let failed: Vec<_> = answer
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect();
    // The first record not queued is the first message's INSERT.
    let first_insert = batch
        .event
        .records
        .iter()
        .find(|r| matches!(relay::entry(r), relay::Entry::Accepted(ref j) if j.message_id == first))
        .and_then(|r| r.change.sequence_number.clone())
        .unwrap();
    assert_eq!(failed, vec![first_insert]);
    // The reader moves only up to it; with the queue working again both go, in order.
    let World { stream, .. } = &mut w;
    stream.drain(&broken).await.unwrap();
    assert!(w.queued().await.is_empty());
    let World { stream, relay, .. } = &mut w;
    stream.drain(relay).await.unwrap();
    assert_eq!(ids(&w.queued().await), vec![first, second]);
}

#[tokio::test]
async fn status_changes_conversations_and_refused_sends_queue_nothing() {
    let mut w = World::new().await;
    let to = PhoneNumber::parse("+447911000001").unwrap();
    // A user message (conversation item), and a session send refused by the rules after the
    // session locks: only accepted messages are ever on the queue.
    w.store
        .conversations()
        .record_user_message(&w.business, &to, SystemClock.now())
        .await
        .unwrap();
    let mut accepted = Vec::new();
    for _ in 0..7 {
        let id = MessageId::generate();
        let outcome = w
            .store
            .messages()
            .record_send(&NewSend {
                business: &w.business,
                message_id: id.clone(),
                to: &to,
                class: SendClass::Session,
                kind: "session",
                billing: session_rules::BillingCategory::Session,
                payload: r#"{"type":"session","text":"hi"}"#,
                service_id: None,
                idempotency: None,
                failover: None,
                now: SystemClock.now(),
            })
            .await
            .unwrap();
        if matches!(outcome, SendOutcome::Accepted { .. }) {
            accepted.push(id.to_string());
        }
    }
    assert_eq!(accepted.len(), 5, "the session locks after five");
    let World { stream, relay, .. } = &mut w;
    stream.drain(relay).await.unwrap();
    let mut queued = ids(&w.queued().await);
    queued.sort();
    accepted.sort();
    assert_eq!(queued, accepted);
}
