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
use session_rules::campaign::CampaignState;
use vbm_queue::CampaignJob;
use vbm_store::{BusinessId, Campaign, CampaignId, Cursor, Settle, UploadFormat};
use vbm_uploads::reader::{Object, ReadError};

use crate::list_line::Check;
use crate::{App, Done, JobError};

mod step;

use step::{AfterStep, Step, StepReader};

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
#[derive(Debug)]
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

/// Where a prepare job starts, from the campaign it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Still preparing: read on from the cursor.
    Prepare,
    /// Settled by a job that may have died before its timer: the same timer again.
    StartAgain,
    /// Rejected, cancelled, or never an uploaded list: nothing to do.
    Nothing,
}

impl Entry {
    fn of(state: CampaignState, uploaded: bool) -> Self {
        match state {
            CampaignState::Preparing => Entry::Prepare,
            CampaignState::Scheduled if uploaded => Entry::StartAgain,
            _ => Entry::Nothing,
        }
    }
}

/// An upload that cannot be opened: gone or replaced refuses the list; anything else is
/// retried.
fn opening_refusal(error: ReadError) -> Result<Rejection, JobError> {
    match error {
        ReadError::NotFound => Ok(Rejection::new(
            "upload_not_found",
            "no list was uploaded under this upload id (or it expired)",
        )),
        ReadError::Changed => Ok(Rejection::new(
            "upload_changed",
            "the list was replaced while it was being prepared",
        )),
        ReadError::Unavailable(e) => Err(JobError::Upload(e)),
    }
}

/// A step that could not be read: a bad list, or one replaced meanwhile, is refused; anything
/// else is retried.
fn step_refusal(error: StepError) -> Result<Rejection, JobError> {
    match error {
        StepError::Read(ReadError::Changed) => Ok(Rejection::new(
            "upload_changed",
            "the list was replaced while it was being prepared",
        )),
        StepError::Read(e) => Err(JobError::Upload(e.to_string())),
        StepError::Reject(why) => Ok(why),
    }
}

/// A list over `max` bytes is refused before a line is read.
fn too_large(total: u64, max: u64) -> Option<Rejection> {
    (total > max).then(|| {
        Rejection::new(
            "upload_too_large",
            format!("{total} bytes; a list has at most {max}"),
        )
    })
}

/// A whole list read with bad lines, or with no good one, is refused as it was read.
fn refused_as_read(cursor: &Cursor, header: u64) -> Option<Rejection> {
    if cursor.invalid > 0 {
        return Some(Rejection::new(
            "invalid_recipients",
            format!(
                "{} of {} lines are not valid; nothing was sent",
                cursor.invalid,
                cursor.lines - header
            ),
        ));
    }
    (cursor.recipients == 0).then(|| Rejection::new("empty_list", "the list has no recipients"))
}

/// Numbers listed twice across the whole list (`numbers` in list order, after `header` lines):
/// the refusal, and the cursor naming the first of them by line.
fn listed_twice(cursor: &Cursor, numbers: &[u64], header: u64) -> Option<(Cursor, Rejection)> {
    let mut seen = HashSet::with_capacity(numbers.len());
    let mut errors = Vec::new();
    let mut twice = 0u64;
    for (index, number) in numbers.iter().enumerate() {
        if seen.insert(*number) {
            continue;
        }
        twice += 1;
        if errors.len() < NAMED_ERRORS {
            errors.push(json!({
                "line": index as u64 + 1 + header,
                "code": "duplicate_recipient",
                "message": "this number is already in the list",
            }));
        }
    }
    if twice == 0 {
        return None;
    }
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
    Some((with_errors, why))
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
        match Entry::of(campaign.state, campaign.upload.is_some()) {
            Entry::Prepare => {}
            Entry::StartAgain => {
                self.timers
                    .start_at(business, id, campaign.send_at.unwrap_or(now), now)
                    .await?;
                return Ok(done);
            }
            Entry::Nothing => return Ok(done),
        }
        let Some(upload) = campaign.upload.clone() else {
            return Err(JobError::Malformed(format!("campaign {id} has no upload")));
        };
        let Some(reader) = self.uploads.as_ref() else {
            return Err(JobError::Upload("UPLOADS_BUCKET is not set".into()));
        };
        let from = upload.cursor.clone();
        let object = match reader
            .open(&upload.key, from.offset, from.etag.as_deref())
            .await
        {
            Ok(object) => object,
            Err(e) => {
                let why = opening_refusal(e)?;
                return self.reject(&campaign, &from, why, &mut done).await;
            }
        };
        if let Some(why) = too_large(object.total, self.prepare_limits.max_bytes) {
            return self.reject(&campaign, &from, why, &mut done).await;
        }
        self.prepare_from(&campaign, object, upload.format, from, done)
            .await
    }

    /// Reads the list from `from` in steps, each written with the cursor past it, until the
    /// list ends (then the whole-list check, with time left) or the job has read its share
    /// (then the next job is queued).
    async fn prepare_from(
        &self,
        campaign: &Campaign,
        mut object: Object,
        format: UploadFormat,
        from: Cursor,
        mut done: Done,
    ) -> Result<Done, JobError> {
        let message: Map<String, Value> = serde_json::from_str(&campaign.message)
            .map_err(|e| JobError::Malformed(format!("campaign {}'s message: {e}", campaign.id)))?;
        let template = self.template(&campaign.business, &message).await?;
        let check = Check {
            message: &message,
            template: template.as_ref(),
            base: vbm_outbound::campaign::base_params(&message),
            limits: self.store.limits(),
            format,
        };
        let started = Instant::now();
        let mut cursor = from;
        if cursor.etag.is_none() {
            cursor.etag = object.etag.clone();
        }
        let mut steps = 0u32;
        loop {
            let step = match self.read_step(&mut object, &cursor, &check).await {
                Ok(step) => step,
                Err(e) => {
                    let why = step_refusal(e)?;
                    return self.reject(campaign, &cursor, why, &mut done).await;
                }
            };
            // Chunks only while the list is clean: a rejected one's are never read.
            let chunks = step::chunks(&cursor, &step);
            if !self
                .store
                .campaigns()
                .prepare_step(campaign, &cursor, &step.to, &chunks)
                .await?
            {
                // Another runner of this job moved on, or the campaign was cancelled.
                return Ok(done);
            }
            done.lines_read += step.to.lines - cursor.lines;
            cursor = step.to;
            steps += 1;
            if self.prepare_limits.fail_after_steps == Some(steps) {
                return Err(JobError::Upload("test hook: failed after a step".into()));
            }
            match self
                .prepare_limits
                .after_step(step.end, done.lines_read, started.elapsed())
            {
                AfterStep::Next => {}
                AfterStep::Finish => return self.finish(campaign, &cursor, &mut done).await,
                AfterStep::QueueNext => return self.queue_next(campaign, done).await,
            }
        }
    }

    /// The same job again, to read on from the written cursor.
    async fn queue_next(&self, campaign: &Campaign, mut done: Done) -> Result<Done, JobError> {
        let body = serde_json::to_string(&CampaignJob::Prepare {
            business: campaign.business.as_str().to_owned(),
            campaign: campaign.id.as_str().to_owned(),
        })
        .map_err(|e| JobError::Malformed(e.to_string()))?;
        self.queue.enqueue_all(&[body]).await?;
        done.prepare_queued = true;
        Ok(done)
    }

    /// Reads lines into one step ([`StepReader`]).
    async fn read_step(
        &self,
        object: &mut Object,
        from: &Cursor,
        check: &Check<'_>,
    ) -> Result<Step, StepError> {
        let mut step = StepReader::new(from, &self.prepare_limits);
        loop {
            let Some(line) = object.next_line(self.prepare_limits.max_line).await? else {
                return step.finish(true, check.format).map_err(StepError::Reject);
            };
            if step.take(&line, check).map_err(StepError::Reject)? {
                return step.finish(false, check.format).map_err(StepError::Reject);
            }
        }
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
        if let Some(why) = refused_as_read(cursor, header) {
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
        if let Some((with_errors, why)) = listed_twice(cursor, &numbers, header) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_preparing_list_is_read_and_a_settled_one_gets_its_timer_again() {
        assert_eq!(Entry::of(CampaignState::Preparing, true), Entry::Prepare);
        assert_eq!(Entry::of(CampaignState::Scheduled, true), Entry::StartAgain);
        // An inline campaign's timer is `start`'s business, not a preparation's.
        assert_eq!(Entry::of(CampaignState::Scheduled, false), Entry::Nothing);
        for state in [
            CampaignState::Rejected,
            CampaignState::Cancelled,
            CampaignState::Running,
            CampaignState::Completed,
        ] {
            assert_eq!(Entry::of(state, true), Entry::Nothing, "{state:?}");
        }
    }

    #[test]
    fn a_list_gone_or_replaced_is_refused_and_an_unreachable_one_retried() {
        let code =
            |r: Result<Rejection, JobError>| r.map(|why| why.code).map_err(|e| e.to_string());
        assert_eq!(
            code(opening_refusal(ReadError::NotFound)),
            Ok("upload_not_found")
        );
        assert_eq!(
            code(opening_refusal(ReadError::Changed)),
            Ok("upload_changed")
        );
        assert!(matches!(
            opening_refusal(ReadError::Unavailable("s3".into())),
            Err(JobError::Upload(e)) if e == "s3"
        ));
        assert_eq!(
            code(step_refusal(StepError::Read(ReadError::Changed))),
            Ok("upload_changed")
        );
        // Gone between two reads of one job: retried (the next open says what it is).
        assert!(matches!(
            step_refusal(StepError::Read(ReadError::NotFound)),
            Err(JobError::Upload(e)) if e == "no such upload"
        ));
        assert!(matches!(
            step_refusal(StepError::Read(ReadError::Unavailable("s3".into()))),
            Err(JobError::Upload(e)) if e == "reading the upload: s3"
        ));
        let bad = Rejection::new("invalid_header", "no `to`");
        assert_eq!(
            code(step_refusal(StepError::Reject(bad))),
            Ok("invalid_header")
        );
    }

    #[test]
    fn a_list_read_with_bad_lines_or_none_good_is_refused() {
        let read = |lines, recipients, invalid| Cursor {
            lines,
            recipients,
            invalid,
            ..Cursor::default()
        };
        let why = refused_as_read(&read(11, 8, 2), 1).unwrap();
        assert_eq!(
            (why.code, why.message.as_str()),
            (
                "invalid_recipients",
                "2 of 10 lines are not valid; nothing was sent"
            )
        );
        assert_eq!(
            refused_as_read(&read(1, 0, 0), 1).unwrap().code,
            "empty_list"
        );
        assert!(refused_as_read(&read(3, 2, 0), 1).is_none());
    }

    #[test]
    fn numbers_twice_across_the_list_are_named_by_line() {
        let cursor = Cursor {
            lines: 5,
            recipients: 4,
            ..Cursor::default()
        };
        assert!(listed_twice(&cursor, &[1, 2, 3, 4], 1).is_none());
        let (named, why) = listed_twice(&cursor, &[1, 2, 1, 2], 1).unwrap();
        assert_eq!(named.invalid, 2);
        let errors: Vec<Value> =
            serde_json::from_str(named.errors_json.as_deref().unwrap()).unwrap();
        // The header is line 1: the third number is line 4.
        assert_eq!(
            (errors[0]["line"].as_u64(), errors[1]["line"].as_u64()),
            (Some(4), Some(5))
        );
        assert_eq!(errors[0]["code"], "duplicate_recipient");
        assert_eq!(why.message, "2 of 4 lines are not valid; nothing was sent");
        let many: Vec<u64> = std::iter::repeat_n(7, NAMED_ERRORS + 3).collect();
        let (named, _) = listed_twice(&cursor, &many, 0).unwrap();
        let errors: Vec<Value> =
            serde_json::from_str(named.errors_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            (errors.len(), named.invalid),
            (NAMED_ERRORS, NAMED_ERRORS as u64 + 2)
        );
    }

    #[test]
    fn a_list_over_its_bytes_is_refused() {
        assert!(too_large(10, 10).is_none());
        let why = too_large(11, 10).unwrap();
        assert_eq!(
            (why.code, why.message.as_str()),
            ("upload_too_large", "11 bytes; a list has at most 10")
        );
    }
}
