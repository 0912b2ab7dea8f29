//! Prepare jobs: an uploaded list (CSV or JSONL in S3, up to 1,000,000 lines) becomes the
//! campaign's chunks, or the campaign is rejected with its bad lines and nothing is sent.
//!
//! A job reads the object from the campaign's cursor (a ranged GET, streamed), checks each line
//! exactly as an inline recipient is checked (`vbm_outbound::campaign::check_recipient`), and
//! writes what it read in steps: a step's chunks and the cursor past them are one transaction
//! conditioned on the cursor (`Campaigns::prepare_step`), so a job killed anywhere and delivered
//! again reads the same lines into the same chunks (recipient `i` is always line order `i`,
//! chunk `i / 100`), and two runners of one job never both advance. After the first bad line
//! no more chunks are written, but the rest is still read so every bad line is counted.
//! A number listed twice is named as it is read when both lines fall in one step, and across
//! the whole list once the list is otherwise clean (over its written chunks, at the end).
//! A job stops after [`PrepareLimits::lines_per_job`] lines (Lambda's timeout) and queues the
//! next; the last checks for numbers listed twice across the whole list (over the written
//! chunks) and settles the campaign: `scheduled` (and its start timer, as for an inline list)
//! or `rejected`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use vbm_store::campaigns::CHUNK_SIZE;
use vbm_store::{
    BusinessId, Campaign, CampaignId, CampaignJob, CampaignRecipient, CampaignState, Cursor,
    Settle, UploadFormat,
};
use vbm_uploads::reader::{Object, ReadError};

use crate::list_line::{Check, header};
use crate::{App, Done, JobError};

/// Bad lines named in a rejection.
const NAMED_ERRORS: usize = 20;
/// Line bytes in one step, under the transaction's 4 MB.
const STEP_BYTES: usize = 3 * 1024 * 1024;

/// The preparation's bounds.
#[derive(Debug, Clone)]
pub struct PrepareLimits {
    /// Recipients in one list (`too_many_recipients` past it).
    pub max_recipients: u64,
    /// Bytes of one list (`upload_too_large` past it).
    pub max_bytes: u64,
    /// The longest line (`line_too_long`): 100 of them fit a chunk item's 400 KB.
    pub max_line: usize,
    /// Chunks one step writes in its transaction (at most the 100-item limit less the
    /// campaign's own).
    pub step_chunks: usize,
    /// Lines one job reads before it queues the next (well inside the function's timeout).
    pub lines_per_job: u64,
    /// Also stop after this long.
    pub time_per_job: Duration,
    /// Tests only (never set in `from_env`): a job fails after this many committed steps,
    /// as a Lambda that timed out or lost its container.
    pub fail_after_steps: Option<u32>,
}

impl Default for PrepareLimits {
    fn default() -> Self {
        Self {
            max_recipients: 1_000_000,
            max_bytes: vbm_uploads::MAX_BYTES,
            max_line: 2048,
            step_chunks: vbm_store::MAX_TRANSACT_ITEMS - 1,
            lines_per_job: 50_000,
            time_per_job: Duration::from_secs(25),
            fail_after_steps: None,
        }
    }
}

/// A refusal of the whole list.
struct Rejection {
    code: &'static str,
    message: String,
}

impl Rejection {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// What one step read.
struct Step {
    to: Cursor,
    recipients: Vec<CampaignRecipient>,
    end: bool,
}

impl App {
    pub(crate) async fn prepare(
        &self,
        business: &BusinessId,
        id: &CampaignId,
    ) -> Result<Done, JobError> {
        let now = self.clock.now();
        let mut done = Done::default();
        let Some(campaign) = self.store.campaigns().get_campaign(business, id).await? else {
            return Ok(done);
        };
        match campaign.state {
            CampaignState::Preparing => {}
            // Settled by a job that may have died before its timer: the same timer again.
            CampaignState::Scheduled if campaign.upload.is_some() => {
                self.timers
                    .start_at(business, id, campaign.send_at.unwrap_or(now), now)
                    .await?;
                return Ok(done);
            }
            _ => return Ok(done),
        }
        let Some(upload) = campaign.upload.clone() else {
            return Err(JobError::Malformed(format!("campaign {id} has no upload")));
        };
        let Some(reader) = self.uploads.as_ref() else {
            return Err(JobError::Upload("UPLOADS_BUCKET is not set".into()));
        };
        let from = upload.cursor.clone();
        let mut object = match reader
            .open(&upload.key, from.offset, from.etag.as_deref())
            .await
        {
            Ok(object) => object,
            Err(ReadError::NotFound) => {
                let why = Rejection::new(
                    "upload_not_found",
                    "no list was uploaded under this upload id (or it expired)",
                );
                return self.reject(&campaign, &from, why, &mut done).await;
            }
            Err(ReadError::Changed) => {
                let why = Rejection::new(
                    "upload_changed",
                    "the list was replaced while it was being prepared",
                );
                return self.reject(&campaign, &from, why, &mut done).await;
            }
            Err(ReadError::Unavailable(e)) => return Err(JobError::Upload(e)),
        };
        if object.total > self.prepare_limits.max_bytes {
            let why = Rejection::new(
                "upload_too_large",
                format!(
                    "{} bytes; a list has at most {}",
                    object.total, self.prepare_limits.max_bytes
                ),
            );
            return self.reject(&campaign, &from, why, &mut done).await;
        }
        let message: Map<String, Value> = serde_json::from_str(&campaign.message)
            .map_err(|e| JobError::Malformed(format!("campaign {id}'s message: {e}")))?;
        let template = self.template(business, &message).await?;
        let check = Check {
            message: &message,
            template: template.as_ref(),
            base: vbm_outbound::campaign::base_params(&message),
            limits: self.store.limits(),
            format: upload.format,
        };

        let started = Instant::now();
        let mut cursor = from;
        if cursor.etag.is_none() {
            cursor.etag = object.etag.clone();
        }
        let mut steps = 0u32;
        let mut read = 0u64;
        loop {
            let step = match self.read_step(&mut object, &cursor, &check).await {
                Ok(step) => step,
                Err(StepError::Read(ReadError::Changed)) => {
                    let why = Rejection::new(
                        "upload_changed",
                        "the list was replaced while it was being prepared",
                    );
                    return self.reject(&campaign, &cursor, why, &mut done).await;
                }
                Err(StepError::Read(e)) => return Err(JobError::Upload(e.to_string())),
                Err(StepError::Reject(why)) => {
                    return self.reject(&campaign, &cursor, why, &mut done).await;
                }
            };
            // Chunks only while the list is clean: a rejected one's are never read.
            let first = (cursor.recipients / CHUNK_SIZE as u64) as u32;
            let chunks: Vec<(u32, &[CampaignRecipient])> = if step.to.invalid == 0 {
                step.recipients
                    .chunks(CHUNK_SIZE)
                    .enumerate()
                    .map(|(i, part)| (first + i as u32, part))
                    .collect()
            } else {
                Vec::new()
            };
            if !self
                .store
                .campaigns()
                .prepare_step(&campaign, &cursor, &step.to, &chunks)
                .await?
            {
                // Another runner of this job moved on, or the campaign was cancelled.
                return Ok(done);
            }
            read += step.to.lines - cursor.lines;
            done.lines_read = read;
            cursor = step.to;
            steps += 1;
            if self.prepare_limits.fail_after_steps == Some(steps) {
                return Err(JobError::Upload("test hook: failed after a step".into()));
            }
            // The whole-list check reads every chunk back: with time left, here; else in a
            // job of its own (it opens the object at its end and comes straight here).
            if step.end && started.elapsed() < self.prepare_limits.time_per_job / 2 {
                return self.finish(&campaign, &cursor, &mut done).await;
            }
            if step.end
                || read >= self.prepare_limits.lines_per_job
                || started.elapsed() >= self.prepare_limits.time_per_job
            {
                let body = serde_json::to_string(&CampaignJob::Prepare {
                    business: business.as_str().to_owned(),
                    campaign: id.as_str().to_owned(),
                })
                .map_err(|e| JobError::Malformed(e.to_string()))?;
                self.queue.enqueue_all(&[body]).await?;
                done.prepare_queued = true;
                return Ok(done);
            }
        }
    }

    /// Reads lines into one step: up to [`PrepareLimits::step_chunks`] chunks and [`STEP_BYTES`], ending on
    /// a chunk's boundary (so the next step's chunks start whole) or at the end of the list.
    async fn read_step(
        &self,
        object: &mut Object,
        from: &Cursor,
        check: &Check<'_>,
    ) -> Result<Step, StepError> {
        let limits = &self.prepare_limits;
        let step_chunks = limits
            .step_chunks
            .clamp(1, vbm_store::MAX_TRANSACT_ITEMS - 1);
        let mut to = from.clone();
        let mut recipients = Vec::new();
        let mut errors: Vec<Value> = match &from.errors_json {
            Some(j) => serde_json::from_str(j).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut columns: Option<Vec<String>> = from
            .columns_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        // Numbers twice within a step are named here; across steps, at the end.
        let mut seen = HashSet::new();
        let mut bytes = 0usize;
        let end = loop {
            let Some(line) = object.next_line(limits.max_line).await? else {
                break true;
            };
            to.offset += line.consumed;
            to.lines += 1;
            bytes += line.text.len();
            let mut text = String::from_utf8_lossy(&line.text).into_owned();
            if to.lines == 1 {
                // A byte-order mark from a spreadsheet's export.
                text = text.trim_start_matches('\u{feff}').to_owned();
            }
            let header_lines = u64::from(check.format == UploadFormat::Csv);
            if to.lines == header_lines {
                columns = Some(header(&text).map_err(|message| {
                    StepError::Reject(Rejection::new("invalid_header", message))
                })?);
                to.columns_json = serde_json::to_string(&columns).ok();
                continue;
            }
            if to.lines - header_lines > limits.max_recipients {
                return Err(StepError::Reject(Rejection::new(
                    "too_many_recipients",
                    format!(
                        "more than {} lines; a list has at most {} recipients",
                        limits.max_recipients, limits.max_recipients
                    ),
                )));
            }
            let outcome = if line.too_long {
                Err((
                    "line_too_long",
                    format!("a line has at most {} bytes", limits.max_line),
                ))
            } else if std::str::from_utf8(&line.text).is_err() {
                Err(("malformed_line", "not UTF-8".to_owned()))
            } else {
                check.line(&text, columns.as_deref(), &mut seen)
            };
            match outcome {
                Ok(recipient) => {
                    to.recipients += 1;
                    if to.invalid == 0 {
                        recipients.push(recipient);
                    }
                }
                Err((code, message)) => {
                    to.invalid += 1;
                    recipients.clear();
                    if errors.len() < NAMED_ERRORS {
                        errors.push(json!({"line": to.lines, "code": code, "message": message}));
                    }
                }
            }
            if to.invalid > 0 {
                // Only counting now: a step per so many lines keeps the cursor moving.
                if to.lines - from.lines >= (step_chunks * CHUNK_SIZE) as u64 {
                    break false;
                }
            } else if to.recipients.is_multiple_of(CHUNK_SIZE as u64)
                && (recipients.len() / CHUNK_SIZE >= step_chunks
                    || bytes + CHUNK_SIZE * limits.max_line > STEP_BYTES)
            {
                break false;
            }
        };
        if !errors.is_empty() {
            to.errors_json = serde_json::to_string(&errors).ok();
        }
        if end && check.format == UploadFormat::Csv && columns.is_none() {
            return Err(StepError::Reject(Rejection::new(
                "invalid_header",
                "the list is empty: a CSV list starts with its header row",
            )));
        }
        Ok(Step {
            to,
            recipients,
            end,
        })
    }

    /// The whole list is read: numbers twice, then `scheduled` with its start timer, or
    /// `rejected`.
    async fn finish(
        &self,
        campaign: &Campaign,
        cursor: &Cursor,
        done: &mut Done,
    ) -> Result<Done, JobError> {
        let header = u64::from(
            campaign
                .upload
                .as_ref()
                .is_some_and(|u| u.format == UploadFormat::Csv),
        );
        if cursor.invalid > 0 {
            let why = Rejection::new(
                "invalid_recipients",
                format!(
                    "{} of {} lines are not valid; nothing was sent",
                    cursor.invalid,
                    cursor.lines - header
                ),
            );
            return self.reject(campaign, cursor, why, done).await;
        }
        if cursor.recipients == 0 {
            let why = Rejection::new("empty_list", "the list has no recipients");
            return self.reject(campaign, cursor, why, done).await;
        }
        let numbers = self
            .store
            .campaigns()
            .campaign_numbers(&campaign.business, &campaign.id)
            .await?;
        if numbers.len() as u64 != cursor.recipients {
            // Chunks still to appear (an eventually consistent read would be wrong here).
            return Err(JobError::Upload(format!(
                "{} of {} recipients in the chunks",
                numbers.len(),
                cursor.recipients
            )));
        }
        let mut seen = HashSet::with_capacity(numbers.len());
        let mut errors = Vec::new();
        let mut twice = 0u64;
        for (index, number) in numbers.iter().enumerate() {
            if !seen.insert(*number) {
                twice += 1;
                if errors.len() < NAMED_ERRORS {
                    errors.push(json!({
                        "line": index as u64 + 1 + header,
                        "code": "duplicate_recipient",
                        "message": "this number is already in the list",
                    }));
                }
            }
        }
        if twice > 0 {
            let mut with_errors = cursor.clone();
            with_errors.invalid = twice;
            with_errors.errors_json = serde_json::to_string(&errors).ok();
            let why = Rejection::new(
                "invalid_recipients",
                format!(
                    "{twice} of {} lines are not valid; nothing was sent",
                    cursor.recipients
                ),
            );
            return self
                .reject_with(campaign, cursor, &with_errors, why, done)
                .await;
        }
        let now = self.clock.now();
        let outcome = Settle::Ready {
            recipients: cursor.recipients,
        };
        let Some(ready) = self
            .store
            .campaigns()
            .settle_preparation(&campaign.business, &campaign.id, cursor, outcome, now)
            .await?
        else {
            return Ok(done.clone());
        };
        // From here exactly as an inline list: the start at send_at (now when absent).
        self.timers
            .start_at(
                &ready.business,
                &ready.id,
                ready.send_at.unwrap_or(now),
                now,
            )
            .await?;
        tracing::info!(campaign = %ready.id, recipients = ready.recipients, "uploaded list prepared");
        done.settled = Some(ready.state);
        Ok(done.clone())
    }

    async fn reject(
        &self,
        campaign: &Campaign,
        at: &Cursor,
        why: Rejection,
        done: &mut Done,
    ) -> Result<Done, JobError> {
        self.reject_with(campaign, at, at, why, done).await
    }

    /// `rejected` from the cursor `at`, naming the bad lines `errors` holds.
    async fn reject_with(
        &self,
        campaign: &Campaign,
        at: &Cursor,
        errors: &Cursor,
        why: Rejection,
        done: &mut Done,
    ) -> Result<Done, JobError> {
        let named: Vec<Value> = errors
            .errors_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let rejection = json!({
            "code": why.code,
            "message": why.message,
            "invalid_count": errors.invalid,
            "errors": named,
        })
        .to_string();
        let now = self.clock.now();
        let settled = self
            .store
            .campaigns()
            .settle_preparation(
                &campaign.business,
                &campaign.id,
                at,
                Settle::Rejected {
                    rejection_json: &rejection,
                },
                now,
            )
            .await?;
        if let Some(c) = settled {
            tracing::info!(campaign = %c.id, code = why.code, "uploaded list rejected");
            done.settled = Some(c.state);
        }
        Ok(done.clone())
    }
}

enum StepError {
    Read(ReadError),
    Reject(Rejection),
}

impl From<ReadError> for StepError {
    fn from(e: ReadError) -> Self {
        StepError::Read(e)
    }
}
