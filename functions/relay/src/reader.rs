//! What Lambda's DynamoDB event source mapping does, for the local stack (`make dev`), the tests
//! and `vbmctl outbox redrive`: read the table's stream from where the last batch ended, hand each batch to the same
//! [`App::handle_batch`] the Lambda binary runs, and move past what it took. A reported failure
//! is read again from that record on the next round (Lambda: retried from the failed sequence
//! number); a round that cannot read the stream (the emulator down) leaves the position as it
//! was. Nothing here is in the Lambda binary (feature `reader`).

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::dynamodb::{Event, EventRecord, StreamViewType};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{AttributeValue as Sdk, Record, ShardIteratorType};
use serde_dynamo::AttributeValue;

use crate::App;

/// At most this many records a batch (Lambda's default `BatchSize` for streams is 100).
pub const BATCH_SIZE: i32 = 100;

/// The stream of one table, and how far this reader has handed it over.
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    /// Per shard id, in the order the stream lists them.
    shards: Vec<(String, Shard)>,
}

#[derive(Default)]
struct Shard {
    /// The sequence number of the last record handed over and taken.
    done: Option<String>,
    /// Where the next read starts (after `done`), while it is known; rebuilt from `done` after
    /// a failure.
    iterator: Option<String>,
}

/// One shard's next records, read but not yet taken.
pub struct Batch {
    pub shard: String,
    pub event: Event,
    next: Option<String>,
}

/// The stream could not be read.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB stream: {0}")]
pub struct StreamError(String);

fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: aws_sdk_dynamodbstreams::error::SdkError<E, R>,
) -> StreamError {
    StreamError(DisplayErrorContext(err).to_string())
}

impl StreamReader {
    /// The stream of `table`, from its oldest record (`TRIM_HORIZON`, as the template's event
    /// source mapping starts).
    pub async fn for_table(
        ddb: &aws_sdk_dynamodb::Client,
        client: Client,
        table: &str,
    ) -> Result<Self, StreamError> {
        let described = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                StreamError(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| StreamError(format!("table {table} has no stream")))?
            .to_owned();
        Ok(Self {
            client,
            stream_arn,
            shards: Vec::new(),
        })
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    async fn list_shards(&mut self) -> Result<(), StreamError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(sdk_error)?;
        let ids = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(Vec::new);
        for id in ids {
            if !self.shards.iter().any(|(known, _)| *known == id) {
                self.shards.push((id, Shard::default()));
            }
        }
        Ok(())
    }

    /// The next records of every shard, from where this reader stands, without moving it: only
    /// [`StreamReader::commit`] does (as Lambda moves its checkpoint only past a batch the
    /// function took).
    pub async fn read(&mut self) -> Result<Vec<Batch>, StreamError> {
        if self.shards.is_empty() {
            self.list_shards().await?;
        }
        let mut batches = Vec::new();
        let mut closed = false;
        for (id, shard) in &mut self.shards {
            let iterator = match &shard.iterator {
                Some(iterator) => iterator.clone(),
                None => {
                    let request = self
                        .client
                        .get_shard_iterator()
                        .stream_arn(&self.stream_arn)
                        .shard_id(id.as_str());
                    let request = match &shard.done {
                        Some(seq) => request
                            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                            .sequence_number(seq),
                        None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                    };
                    match request.send().await.map_err(sdk_error)?.shard_iterator() {
                        Some(iterator) => iterator.to_owned(),
                        None => continue,
                    }
                }
            };
            let got = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(BATCH_SIZE)
                .send()
                .await
                .map_err(sdk_error)?;
            let next = got.next_shard_iterator().map(str::to_owned);
            closed |= next.is_none();
            if got.records().is_empty() {
                shard.iterator = next;
                continue;
            }
            let mut event = Event::default();
            event.records = got
                .records()
                .iter()
                .map(|r| lambda_record(r, &self.stream_arn))
                .collect();
            batches.push(Batch {
                shard: id.clone(),
                event,
                next,
            });
        }
        if closed {
            // A shard ended (split): its children are new shards.
            self.list_shards().await?;
        }
        Ok(batches)
    }

    /// Moves past the first `taken` records of `batch`; the rest are read again next time.
    pub fn commit(&mut self, batch: &Batch, taken: usize) {
        let Some((_, shard)) = self.shards.iter_mut().find(|(id, _)| *id == batch.shard) else {
            return;
        };
        let records = &batch.event.records;
        if let Some(last) = taken
            .min(records.len())
            .checked_sub(1)
            .and_then(|i| records[i].change.sequence_number.clone())
        {
            shard.done = Some(last);
        }
        shard.iterator = if taken >= records.len() {
            batch.next.clone()
        } else {
            None
        };
    }

    /// One round: reads every shard's next batch, hands it to `app` and moves past what it took
    /// (up to the record before a reported failure). Returns how many records `app` took.
    pub async fn pump_once(&mut self, app: &App) -> Result<usize, StreamError> {
        self.pump_once_with(|event| app.handle_batch(event)).await
    }

    /// [`StreamReader::pump_once`] for any stream consumer (a second event source mapping on
    /// the same stream, with its own position: the session lifecycle consumer).
    pub async fn pump_once_with<F, Fut>(&mut self, handle: F) -> Result<usize, StreamError>
    where
        F: Fn(Event) -> Fut,
        Fut: std::future::Future<Output = DynamoDbEventResponse>,
    {
        let mut taken = 0;
        for batch in self.read().await? {
            let sequence: Vec<Option<String>> = batch
                .event
                .records
                .iter()
                .map(|r| r.change.sequence_number.clone())
                .collect();
            let answer = handle(batch.event.clone()).await;
            let upto = answer
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .filter_map(|id| sequence.iter().position(|s| s.as_deref() == Some(id)))
                .min()
                .unwrap_or(sequence.len());
            self.commit(&batch, upto);
            taken += upto;
        }
        Ok(taken)
    }

    /// Rounds until a round takes nothing: everything written so far is handed over (or the
    /// function keeps refusing the rest).
    pub async fn drain(&mut self, app: &App) -> Result<usize, StreamError> {
        let mut total = 0;
        loop {
            match self.pump_once(app).await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Rounds forever (the local stack), `idle` apart when there was nothing to hand over.
    pub async fn run(self, app: &App, idle: Duration) {
        self.run_with(|event| app.handle_batch(event), idle).await
    }

    /// [`StreamReader::run`] for any stream consumer.
    pub async fn run_with<F, Fut>(mut self, handle: F, idle: Duration)
    where
        F: Fn(Event) -> Fut,
        Fut: std::future::Future<Output = DynamoDbEventResponse>,
    {
        loop {
            match self.pump_once_with(&handle).await {
                Ok(0) => tokio::time::sleep(idle).await,
                Ok(_) => {}
                Err(error) => {
                    for (_, shard) in &mut self.shards {
                        shard.iterator = None;
                    }
                    tracing::warn!(error = %error, "reading the table's stream failed; trying again");
                    tokio::time::sleep(idle.max(Duration::from_millis(500))).await;
                }
            }
        }
    }
}

/// A stream record as Lambda hands it to the function.
fn lambda_record(record: &Record, stream_arn: &str) -> EventRecord {
    let mut out = EventRecord::default();
    out.event_id = record.event_id().unwrap_or_default().to_owned();
    out.event_name = record
        .event_name()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    out.event_source = record.event_source().map(str::to_owned);
    out.event_version = record.event_version().map(str::to_owned);
    out.aws_region = record.aws_region().unwrap_or_default().to_owned();
    out.event_source_arn = Some(stream_arn.to_owned());
    if let Some(change) = record.dynamodb() {
        out.change.keys = item(change.keys());
        out.change.new_image = item(change.new_image());
        out.change.old_image = item(change.old_image());
        out.change.sequence_number = change.sequence_number().map(str::to_owned);
        out.change.size_bytes = change.size_bytes().unwrap_or_default();
        out.change.stream_view_type = change.stream_view_type().map(|v| match v.as_str() {
            "NEW_IMAGE" => StreamViewType::NewImage,
            "OLD_IMAGE" => StreamViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
            _ => StreamViewType::KeysOnly,
        });
        if let Some(at) = change.approximate_creation_date_time() {
            out.change.approximate_creation_date_time =
                chrono_from_secs(at.secs(), at.subsec_nanos());
        }
    }
    out
}

fn chrono_from_secs(secs: i64, nanos: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default()
}

fn item(map: Option<&HashMap<String, Sdk>>) -> serde_dynamo::Item {
    map.map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), value(v)))
            .collect::<HashMap<_, _>>()
    })
    .unwrap_or_default()
    .into()
}

fn value(v: &Sdk) -> AttributeValue {
    match v {
        Sdk::S(s) => AttributeValue::S(s.clone()),
        Sdk::N(n) => AttributeValue::N(n.clone()),
        Sdk::Bool(b) => AttributeValue::Bool(*b),
        Sdk::Null(b) => AttributeValue::Null(*b),
        Sdk::B(b) => AttributeValue::B(b.as_ref().to_vec()),
        Sdk::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), value(v))).collect()),
        Sdk::L(l) => AttributeValue::L(l.iter().map(value).collect()),
        Sdk::Ss(s) => AttributeValue::Ss(s.clone()),
        Sdk::Ns(n) => AttributeValue::Ns(n.clone()),
        Sdk::Bs(b) => AttributeValue::Bs(b.iter().map(|b| b.as_ref().to_vec()).collect()),
        // A type newer than this code: kept visible rather than dropped.
        _ => AttributeValue::Null(true),
    }
}

/// A batch Lambda's event source mapping gave up on, as it writes it to the on-failure
/// destination (`RelayFailureQueue`): where it is on the stream, not its records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FailedBatch {
    #[serde(rename = "DDBStreamBatchInfo")]
    pub info: FailedBatchInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub stream_arn: String,
}

impl FailedBatch {
    /// Reads one message of the failure queue.
    pub fn parse(body: &str) -> Result<Self, StreamError> {
        serde_json::from_str(body)
            .map_err(|e| StreamError(format!("not a stream batch failure record: {e}")))
    }
}

/// Sequence numbers are decimal strings of up to 40 digits, without leading zeros.
fn sequence_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Reads the records of `failed` from the stream again (it keeps them 24 hours) and hands them
/// to `app`, as the event source mapping would have. Returns how many records it handed over.
pub async fn redrive(
    client: &Client,
    app: &App,
    failed: &FailedBatch,
) -> Result<usize, StreamError> {
    redrive_with(client, |event| app.handle_batch(event), failed).await
}

/// [`redrive`] for any stream consumer (the lifecycle function's failure queue).
pub async fn redrive_with<F, Fut>(
    client: &Client,
    handle: F,
    failed: &FailedBatch,
) -> Result<usize, StreamError>
where
    F: Fn(Event) -> Fut,
    Fut: std::future::Future<Output = DynamoDbEventResponse>,
{
    let info = &failed.info;
    let mut iterator = client
        .get_shard_iterator()
        .stream_arn(&info.stream_arn)
        .shard_id(&info.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&info.start_sequence_number)
        .send()
        .await
        .map_err(sdk_error)?
        .shard_iterator()
        .map(str::to_owned);
    let mut records = Vec::new();
    'read: while let Some(at) = iterator {
        let got = client
            .get_records()
            .shard_iterator(at)
            .limit(BATCH_SIZE)
            .send()
            .await
            .map_err(sdk_error)?;
        if got.records().is_empty() {
            break;
        }
        for record in got.records() {
            let seq = record
                .dynamodb()
                .and_then(|d| d.sequence_number())
                .unwrap_or_default();
            if sequence_cmp(seq, &info.end_sequence_number).is_gt() {
                break 'read;
            }
            records.push(lambda_record(record, &info.stream_arn));
        }
        iterator = got.next_shard_iterator().map(str::to_owned);
    }
    if records.is_empty() {
        return Err(StreamError(format!(
            "no records from {} to {} on {} (past the stream's 24 h?)",
            info.start_sequence_number, info.end_sequence_number, info.shard_id
        )));
    }
    let n = records.len();
    let mut event = Event::default();
    event.records = records;
    let answer = handle(event).await;
    if answer.batch_item_failures.is_empty() {
        Ok(n)
    } else {
        Err(StreamError(
            "the function refused the redriven records (its queue unavailable?)".into(),
        ))
    }
}
