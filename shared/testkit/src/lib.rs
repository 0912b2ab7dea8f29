//! A fresh table and queues for one test, on the emulator `make test` starts.
//!
//! Tests run under `infra/scripts/with-moto.sh` (which `make test` uses), which exports
//! `AWS_ENDPOINT_URL`. Each [`TestEnv`] gets its own table and queues, created by
//! `infra/local/resources.py` from `template.yaml`, so tests see the deployed shapes and never
//! each other's items or messages. Test code, so it panics with a clear message when the set-up
//! is missing.

pub mod callback;
pub mod docs;
pub mod secrets;
pub mod sqs;
pub mod stand_in;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;

/// What one test works against.
#[derive(Debug, Clone, Deserialize)]
pub struct TestEnv {
    pub table: String,
    /// The table's stream (the outbox `relay` reads).
    pub stream_arn: String,
    pub outbound_queue_url: String,
    pub events_queue_url: String,
    pub outbound_dlq_url: String,
    pub events_dlq_url: String,
    /// Where the outbox's event source mapping puts the batches it gave up on.
    pub relay_failure_queue_url: String,
    /// SMS failover: jobs and receipts, and its dead-letter queue.
    pub failover_queue_url: String,
    pub failover_dlq_url: String,
    /// The EventBridge Scheduler group of the timers (`vbm-timers`).
    pub timers_group: String,
    /// Campaigns: the fan-out queue and its dead-letter queue.
    pub campaign_queue_url: String,
    pub campaign_dlq_url: String,
    /// Where session timers fire (business events).
    pub session_timers_queue_url: String,
    /// Where the lifecycle function's stream mapping puts the batches it gave up on.
    pub lifecycle_failure_queue_url: String,
    /// Campaigns' uploaded recipient lists: the S3 bucket.
    pub uploads_bucket: String,
    #[serde(skip)]
    pub endpoint: String,
}

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The emulator endpoint, or a panic that says how to run the tests.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the tests with `make test`, or \
             `infra/scripts/with-moto.sh cargo test ...` to start the local emulator"
        )
    })
}

impl TestEnv {
    /// Creates a table and queues with a unique name.
    pub fn fresh() -> Self {
        let endpoint = endpoint();
        let name = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        let output = Command::new(&python)
            .arg(root.join("infra/local/resources.py"))
            .args([
                "--endpoint",
                &endpoint,
                "--table",
                &name,
                "--prefix",
                &format!("{name}-"),
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "running {}: {e} (run infra/scripts/python-env.sh)",
                    python.display()
                )
            });
        assert!(
            output.status.success(),
            "resources.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut env: TestEnv =
            serde_json::from_slice(&output.stdout).expect("resources.py prints JSON");
        env.endpoint = endpoint;
        env
    }

    /// SDK configuration for the emulator (the SDK reads `AWS_ENDPOINT_URL` itself).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    pub async fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.sdk_config().await)
    }

    pub async fn streams(&self) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::new(&self.sdk_config().await)
    }

    /// The on-failure record Lambda writes for a stream batch, naming the stream's whole range
    /// so far (its first shard): what `vbmctl outbox redrive` and `events lifecycle-redrive`
    /// read off their failure queues.
    pub async fn stream_failure_record(&self) -> serde_json::Value {
        let streams = self.streams().await;
        let shard = streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .expect("describing the test table's stream")
            .stream_description()
            .and_then(|d| d.shards().first())
            .and_then(|s| s.shard_id())
            .expect("the stream has a shard")
            .to_owned();
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("a shard iterator");
        let records = streams
            .get_records()
            .shard_iterator(iterator.shard_iterator().unwrap_or_default())
            .send()
            .await
            .expect("reading the test table's stream");
        let seq = |r: Option<&aws_sdk_dynamodbstreams::types::Record>| {
            r.and_then(|r| r.dynamodb())
                .and_then(|d| d.sequence_number())
                .expect("a record with a sequence number")
                .to_owned()
        };
        serde_json::json!({
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
            "version": "1.0",
            "timestamp": "2026-12-01T09:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": seq(records.records().first()),
                "endSequenceNumber": seq(records.records().last()),
                "approximateArrivalOfFirstRecord": "2026-12-01T08:59:00Z",
                "approximateArrivalOfLastRecord": "2026-12-01T08:59:00Z",
                "batchSize": records.records().len(),
                "streamArn": self.stream_arn,
            }
        })
    }

    /// Every record on the table's stream so far, oldest first: (event name, sort key).
    pub async fn stream_records(&self) -> Vec<(String, String)> {
        let streams = self.streams().await;
        let described = streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .expect("describing the test table's stream");
        let mut records = Vec::new();
        for shard in described
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
        {
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard.shard_id().unwrap_or_default())
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("a shard iterator")
                .shard_iterator()
                .map(str::to_owned);
            while let Some(at) = iterator {
                let page = streams
                    .get_records()
                    .shard_iterator(at)
                    .send()
                    .await
                    .expect("reading the test table's stream");
                if page.records().is_empty() {
                    break;
                }
                for record in page.records() {
                    let sk = record
                        .dynamodb()
                        .and_then(|d| d.keys())
                        .and_then(|k| k.get("sk"))
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default();
                    let name = record
                        .event_name()
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default();
                    records.push((name, sk));
                }
                iterator = page.next_shard_iterator().map(str::to_owned);
            }
        }
        records
    }
}

/// A message [`drain`] took off a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    pub body: String,
    /// The FIFO message group, when there is one.
    pub group: Option<String>,
}

/// Receives and deletes every message visible on `url` now, in the order received: what a
/// test reads of what the code under test queued.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Drained> {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    let mut drained = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receiving from {url}: {e:?}"));
        if out.messages().is_empty() {
            return drained;
        }
        for m in out.messages() {
            drained.push(Drained {
                body: m.body().unwrap_or_default().to_owned(),
                group: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned(),
            });
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap_or_else(|e| panic!("deleting from {url}: {e:?}"));
        }
    }
}

/// [`drain`], each body read with `parse` (a panic on one it refuses): the events a test
/// reads back, `drain_as(&sqs, url, EventsQueue::parse)`.
pub async fn drain_as<T, E: std::fmt::Debug>(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Vec<T> {
    drain(sqs, url)
        .await
        .iter()
        .map(|m| parse(&m.body).unwrap_or_else(|e| panic!("{e:?}: {}", m.body)))
        .collect()
}

/// Everything a refused request must leave as it was: every item of the table (a full,
/// consistent scan, sorted by key), the messages on the table's stream (the outbox) and the
/// depth of every queue (visible, in flight and delayed). Compare one taken before with one
/// taken after.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    pub items: Vec<BTreeMap<String, AttributeValue>>,
    /// What the outbox carries: the stream's inserts of message items (sort keys), oldest first.
    /// (Other stream records, such as an erasure's tombstone written and removed again, leave
    /// the table as it was and put nothing on the way to Viber.)
    pub outbox: Vec<String>,
    /// Queue URL and its message count, in the order of [`TestEnv::queue_urls`].
    pub queues: Vec<(String, u64)>,
}

impl TestEnv {
    /// The outbound and events queues and their dead-letter queues.
    pub fn queue_urls(&self) -> [&str; 4] {
        [
            &self.outbound_queue_url,
            &self.events_queue_url,
            &self.outbound_dlq_url,
            &self.events_dlq_url,
        ]
    }

    /// How many items the table holds (a consistent count).
    pub async fn item_count(&self) -> i32 {
        self.dynamodb()
            .await
            .scan()
            .table_name(&self.table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .consistent_read(true)
            .send()
            .await
            .expect("counting the test table's items")
            .count()
    }

    /// The table and queues as they are now.
    pub async fn footprint(&self) -> Footprint {
        let config = self.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let mut items: Vec<BTreeMap<String, AttributeValue>> = Vec::new();
        let mut start = None;
        loop {
            let page = dynamodb
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scanning the test table");
            items.extend(page.items().iter().map(|i| i.clone().into_iter().collect()));
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        let key = |item: &BTreeMap<String, AttributeValue>| {
            let s = |name: &str| match item.get(name) {
                Some(AttributeValue::S(s)) => s.clone(),
                _ => String::new(),
            };
            (s("pk"), s("sk"))
        };
        items.sort_by_key(key);
        let mut queues = Vec::new();
        for url in self.queue_urls() {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .expect("reading the test queue's attributes");
            let depth = attributes
                .attributes()
                .into_iter()
                .flatten()
                .map(|(_, count)| count.parse::<u64>().expect("a message count"))
                .sum();
            queues.push((url.to_owned(), depth));
        }
        Footprint {
            items,
            outbox: self
                .stream_records()
                .await
                .into_iter()
                .filter(|(event, sk)| event == "INSERT" && sk.starts_with("MSG#"))
                .map(|(_, sk)| sk)
                .collect(),
            queues,
        }
    }
}
