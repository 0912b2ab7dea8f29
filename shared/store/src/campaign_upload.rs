//! A campaign whose list was uploaded (up to 1,000,000 recipients): the preparation's
//! cursor on the campaign item, and its steps.
//!
//! The fan-out reads the object in order. Each step writes the chunks of the next lines and
//! moves the cursor past them in **one transaction** whose condition is that the campaign is
//! still `preparing` and the cursor still where the step started: a step that crashed wrote
//! nothing (its redelivery reads the same lines again and writes the same chunks: chunk keys
//! and recipient indexes follow from line order), and of two runners of the same job only the
//! first moves the cursor; the other's transaction fails and it stops. Chunks are inert until
//! the campaign leaves `preparing`, so nothing is sent before the whole list is checked.
//!
//! Campaign item attributes: `upload_key`, `upload_format`, the cursor (`prep_offset`: the next
//! byte to read; `prep_lines`: lines read, a CSV header included; `prep_recipients`: good lines,
//! the index of the next recipient; `prep_invalid` and `prep_errors_json`: bad lines, the first
//! ones named; `prep_etag`: the object read; `prep_columns_json`: a CSV header), and
//! `rejection_json` once refused.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use session_rules::Timestamp;
use session_rules::campaign::{CHUNK_SIZE, CampaignRecipient, CampaignState, chunk_count};

use crate::attrs::{self, Item, n, s};
use crate::campaigns::{Campaign, CampaignId, STATE, campaign_answered, chunk_item};
use crate::cancelled::conditional;
use crate::{BusinessId, StoreError, keys};

/// How an uploaded list is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFormat {
    /// A header row with a `to` column and one column per template parameter.
    Csv,
    /// One recipient object per line, as inline (`{"to": ..., "params": {...}}`).
    Jsonl,
}

impl UploadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadFormat::Csv => "csv",
            UploadFormat::Jsonl => "jsonl",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "csv" => Some(UploadFormat::Csv),
            "jsonl" => Some(UploadFormat::Jsonl),
            _ => None,
        }
    }
}

/// The list of a campaign to create from an upload.
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    /// The object key (`vbm_uploads::key`: it names the business).
    pub key: &'a str,
    pub format: UploadFormat,
}

/// How far a preparation got (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor {
    pub offset: u64,
    pub lines: u64,
    pub recipients: u64,
    pub invalid: u64,
    /// The first bad lines, a JSON array of `{"line", "code", "message"}`.
    pub errors_json: Option<String>,
    pub etag: Option<String>,
    /// A CSV list's columns (JSON array of strings), once its header is read.
    pub columns_json: Option<String>,
}

/// A campaign's uploaded list.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignUpload {
    pub key: String,
    pub format: UploadFormat,
    pub cursor: Cursor,
    /// Why the list was refused: JSON `{"code", "message", "invalid_count", "errors"}`.
    pub rejection_json: Option<String>,
}

/// How a preparation ends.
#[derive(Debug, Clone, Copy)]
pub enum Settle<'a> {
    /// Every line is good: `scheduled`, with this many recipients.
    Ready { recipients: u64 },
    /// `rejected`, nothing sent.
    Rejected { rejection_json: &'a str },
}

pub(crate) fn upload_attrs(upload: &NewUpload<'_>) -> Vec<(&'static str, AttributeValue)> {
    vec![
        ("upload_key", s(upload.key)),
        ("upload_format", s(upload.format.as_str())),
        ("prep_offset", n(0)),
        ("prep_lines", n(0)),
        ("prep_recipients", n(0)),
        ("prep_invalid", n(0)),
    ]
}

pub(crate) fn parse_upload(item: &Item) -> Result<Option<CampaignUpload>, StoreError> {
    let Some(key) = attrs::opt_s(item, "upload_key")? else {
        return Ok(None);
    };
    let format = attrs::get_s(item, "upload_format")?;
    let owned = |name: &str| -> Result<Option<String>, StoreError> {
        Ok(attrs::opt_s(item, name)?.map(str::to_owned))
    };
    Ok(Some(CampaignUpload {
        key: key.to_owned(),
        format: UploadFormat::parse(format)
            .ok_or_else(|| StoreError::malformed(key, format!("upload format {format}")))?,
        cursor: Cursor {
            offset: attrs::get_n(item, "prep_offset")?,
            lines: attrs::get_n(item, "prep_lines")?,
            recipients: attrs::get_n(item, "prep_recipients")?,
            invalid: attrs::get_n(item, "prep_invalid")?,
            errors_json: owned("prep_errors_json")?,
            etag: owned("prep_etag")?,
            columns_json: owned("prep_columns_json")?,
        },
        rejection_json: owned("rejection_json")?,
    }))
}

/// `SET` of the cursor's attributes (`REMOVE`-free: optional ones are only ever added).
fn cursor_update(to: &Cursor) -> (String, Vec<(String, AttributeValue)>) {
    let mut sets = vec![
        "prep_offset = :to_offset",
        "prep_lines = :to_lines",
        "prep_recipients = :to_recipients",
        "prep_invalid = :to_invalid",
    ];
    let mut values = vec![
        (":to_offset".to_owned(), n(to.offset)),
        (":to_lines".to_owned(), n(to.lines)),
        (":to_recipients".to_owned(), n(to.recipients)),
        (":to_invalid".to_owned(), n(to.invalid)),
    ];
    for (set, name, value) in [
        ("prep_errors_json = :errors", ":errors", &to.errors_json),
        ("prep_etag = :etag", ":etag", &to.etag),
        ("prep_columns_json = :columns", ":columns", &to.columns_json),
    ] {
        if let Some(v) = value {
            sets.push(set);
            values.push((name.to_owned(), s(v)));
        }
    }
    (format!("SET {}", sets.join(", ")), values)
}

const AT_CURSOR: &str =
    "campaign_state = :preparing AND prep_offset = :from_offset AND prep_lines = :from_lines";

impl crate::Campaigns<'_> {
    /// When a campaign's items expire (as `create_campaign` computes it).
    pub fn campaign_expiry(&self, campaign: &Campaign) -> i64 {
        campaign
            .send_at
            .unwrap_or(campaign.created_at)
            .max(campaign.created_at)
            .plus(self.retention.messages)
            .as_secs()
    }

    /// One step of a preparation: `chunks` (each its index and its recipients, at most
    /// `MAX_TRANSACT_ITEMS - 1` and 4 MB in all) written and the cursor moved from `from` to
    /// `to`, in one transaction. `false` when the campaign is no longer `preparing` at `from`
    /// (another runner moved on, or it was cancelled): nothing was written.
    pub async fn prepare_step(
        &self,
        campaign: &Campaign,
        from: &Cursor,
        to: &Cursor,
        chunks: &[(u32, &[CampaignRecipient])],
    ) -> Result<bool, StoreError> {
        let pk = keys::business(&campaign.business);
        let expires = self.campaign_expiry(campaign);
        let (expression, values) = cursor_update(to);
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(&pk))
            .key(keys::SK, s(keys::campaign(&campaign.id)))
            .update_expression(expression)
            .condition_expression(AT_CURSOR)
            .expression_attribute_values(":preparing", s(CampaignState::Preparing.as_str()))
            .expression_attribute_values(":from_offset", n(from.offset))
            .expression_attribute_values(":from_lines", n(from.lines));
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .update(update.build().map_err(StoreError::build)?)
                .build(),
        );
        for (index, part) in chunks {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(chunk_item(&pk, &campaign.id, *index, part, expires)?))
                .build()
                .map_err(StoreError::build)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if cursor_moved(&err) => Ok(false),
            Err(err) => Err(StoreError::sdk(err)),
        }
    }

    /// Ends a preparation whose cursor is `from`: `scheduled` with its recipients and chunks,
    /// or `rejected` (with `finished_at`). `None` when it is no longer `preparing` at `from`.
    pub async fn settle_preparation(
        &self,
        business: &BusinessId,
        id: &CampaignId,
        from: &Cursor,
        outcome: Settle<'_>,
        now: Timestamp,
    ) -> Result<Option<Campaign>, StoreError> {
        let update = self
            .campaign_update(business, id)
            .condition_expression(AT_CURSOR)
            .expression_attribute_values(":preparing", s(CampaignState::Preparing.as_str()))
            .expression_attribute_values(":from_offset", n(from.offset))
            .expression_attribute_values(":from_lines", n(from.lines))
            .return_values(ReturnValue::AllNew);
        let update = match outcome {
            Settle::Ready { recipients } => update
                .update_expression(format!(
                    "SET {STATE} = :to, recipients_total = :recipients, chunks_total = :chunks"
                ))
                .expression_attribute_values(":to", s(CampaignState::Scheduled.as_str()))
                .expression_attribute_values(":recipients", n(recipients))
                .expression_attribute_values(":chunks", n(chunk_count(recipients as usize))),
            Settle::Rejected { rejection_json } => update
                .update_expression(format!(
                    "SET {STATE} = :to, rejection_json = :why, finished_at = :now"
                ))
                .expression_attribute_values(":to", s(CampaignState::Rejected.as_str()))
                .expression_attribute_values(":why", s(rejection_json))
                .expression_attribute_values(":now", n(now.as_millis())),
        };
        conditional(update.send().await)?
            .map(|out| campaign_answered(&out))
            .transpose()
    }

    /// The numbers of a campaign's chunks, in recipient order, as their E.164 digits (15 at
    /// most: a `u64`, so a 1,000,000-number check takes 8 MB, not strings): the duplicate
    /// check of an uploaded list, once all its chunks are written.
    pub async fn campaign_numbers(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> Result<Vec<u64>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::business(business)))
            .expression_attribute_values(":prefix", s(keys::campaign_chunks(id)))
            .projection_expression("recipients_json")
            .consistent_read(true);
        let mut numbers = Vec::new();
        // Chunk by chunk: the items of a 1,000,000-recipient list are ~100 MB together.
        attrs::query_each(query, |item| {
            let list: Vec<CampaignRecipient> =
                serde_json::from_str(attrs::get_s(&item, "recipients_json")?)
                    .map_err(|e| StoreError::malformed(id.as_str(), e.to_string()))?;
            debug_assert!(list.len() <= CHUNK_SIZE);
            for r in list {
                let digits = r.to.strip_prefix('+').and_then(|d| d.parse().ok());
                numbers.push(digits.ok_or_else(|| {
                    StoreError::malformed(id.as_str(), format!("{:?} is not E.164", r.to))
                })?);
            }
            Ok(())
        })
        .await?;
        Ok(numbers)
    }
}

/// The transaction failed on the campaign item's condition (its first member).
fn cursor_moved(err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .first()
            .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}
