//! One step of a preparation, decided without I/O: the lines a ranged read hands over become
//! the step's recipients, its named bad lines and the cursor past them; [`StepReader::take`]
//! says when the step is full (on a chunk's boundary, or after so many lines once the list is
//! known bad).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use session_rules::campaign::{CHUNK_SIZE, CampaignRecipient};
use vbm_store::{Cursor, UploadFormat};
use vbm_uploads::reader::Line;

use super::{NAMED_ERRORS, PrepareLimits, Rejection, STEP_BYTES};
use crate::list_line::{Check, header};

/// What one step read.
#[derive(Debug)]
pub(super) struct Step {
    pub to: Cursor,
    pub recipients: Vec<CampaignRecipient>,
    pub end: bool,
}

/// A step being read: up to [`PrepareLimits::step_chunks`] chunks and [`STEP_BYTES`], from the
/// cursor `from`.
pub(super) struct StepReader<'a> {
    from_lines: u64,
    limits: &'a PrepareLimits,
    step_chunks: usize,
    to: Cursor,
    recipients: Vec<CampaignRecipient>,
    errors: Vec<Value>,
    columns: Option<Vec<String>>,
    /// Numbers twice within a step are named here; across steps, at the end.
    seen: HashSet<String>,
    bytes: usize,
}

impl<'a> StepReader<'a> {
    pub fn new(from: &Cursor, limits: &'a PrepareLimits) -> Self {
        Self {
            from_lines: from.lines,
            limits,
            step_chunks: limits
                .step_chunks
                .clamp(1, vbm_store::MAX_TRANSACT_ITEMS - 1),
            to: from.clone(),
            recipients: Vec::new(),
            errors: match &from.errors_json {
                Some(j) => serde_json::from_str(j).unwrap_or_default(),
                None => Vec::new(),
            },
            columns: from
                .columns_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            seen: HashSet::new(),
            bytes: 0,
        }
    }

    /// Takes one line; `Ok(true)` when the step is full after it.
    pub fn take(&mut self, line: &Line, check: &Check<'_>) -> Result<bool, Rejection> {
        self.to.offset += line.consumed;
        self.to.lines += 1;
        self.bytes += line.text.len();
        let mut text = String::from_utf8_lossy(&line.text).into_owned();
        if self.to.lines == 1 {
            // A byte-order mark from a spreadsheet's export.
            text = text.trim_start_matches('\u{feff}').to_owned();
        }
        let header_lines = u64::from(check.format == UploadFormat::Csv);
        if self.to.lines == header_lines {
            self.columns =
                Some(header(&text).map_err(|message| Rejection::new("invalid_header", message))?);
            self.to.columns_json = serde_json::to_string(&self.columns).ok();
            return Ok(false);
        }
        let max = self.limits.max_recipients;
        if self.to.lines - header_lines > max {
            return Err(Rejection::new(
                "too_many_recipients",
                format!("more than {max} lines; a list has at most {max} recipients"),
            ));
        }
        let outcome = if line.too_long {
            Err((
                "line_too_long",
                format!("a line has at most {} bytes", self.limits.max_line),
            ))
        } else if std::str::from_utf8(&line.text).is_err() {
            Err(("malformed_line", "not UTF-8".to_owned()))
        } else {
            check.line(&text, self.columns.as_deref(), &mut self.seen)
        };
        self.count(outcome);
        Ok(self.full())
    }

    /// A good line joins the step while the list is clean; a bad one is counted (the first
    /// [`NAMED_ERRORS`] named) and no chunk is written from then on.
    fn count(&mut self, outcome: Result<CampaignRecipient, (&'static str, String)>) {
        match outcome {
            Ok(recipient) => {
                self.to.recipients += 1;
                if self.to.invalid == 0 {
                    self.recipients.push(recipient);
                }
            }
            Err((code, message)) => {
                self.to.invalid += 1;
                self.recipients.clear();
                if self.errors.len() < NAMED_ERRORS {
                    let line = self.to.lines;
                    self.errors
                        .push(json!({"line": line, "code": code, "message": message}));
                }
            }
        }
    }

    fn full(&self) -> bool {
        if self.to.invalid > 0 {
            // Only counting now: a step per so many lines keeps the cursor moving.
            return self.to.lines - self.from_lines >= (self.step_chunks * CHUNK_SIZE) as u64;
        }
        self.to.recipients.is_multiple_of(CHUNK_SIZE as u64)
            && (self.recipients.len() / CHUNK_SIZE >= self.step_chunks
                || self.bytes + CHUNK_SIZE * self.limits.max_line > STEP_BYTES)
    }

    /// The step as read; `end` when the list has no more lines (a CSV list must have had its
    /// header by then).
    pub fn finish(mut self, end: bool, format: UploadFormat) -> Result<Step, Rejection> {
        if !self.errors.is_empty() {
            self.to.errors_json = serde_json::to_string(&self.errors).ok();
        }
        if end && format == UploadFormat::Csv && self.columns.is_none() {
            return Err(Rejection::new(
                "invalid_header",
                "the list is empty: a CSV list starts with its header row",
            ));
        }
        Ok(Step {
            to: self.to,
            recipients: self.recipients,
            end,
        })
    }
}

/// The chunks a step writes: numbered by the recipients before it (recipient `i` is always in
/// chunk `i / 100`), and none once the list is known bad.
pub(super) fn chunks<'s>(from: &Cursor, step: &'s Step) -> Vec<(u32, &'s [CampaignRecipient])> {
    if step.to.invalid > 0 {
        return Vec::new();
    }
    let first = (from.recipients / CHUNK_SIZE as u64) as u32;
    step.recipients
        .chunks(CHUNK_SIZE)
        .enumerate()
        .map(|(i, part)| (first + i as u32, part))
        .collect()
}

/// What a job does after a step is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterStep {
    /// Read the next step.
    Next,
    /// The list is read, with time left for the whole-list check (it reads every chunk back).
    Finish,
    /// Its share is read, or its time is up: the next job reads on (or, at the end, does the
    /// whole-list check: it opens the object at its end and comes straight to it).
    QueueNext,
}

impl PrepareLimits {
    /// After a step that read to the list's `end` (or not), `read` lines into the job, `elapsed`
    /// since it began.
    pub(super) fn after_step(&self, end: bool, read: u64, elapsed: Duration) -> AfterStep {
        if end && elapsed < self.time_per_job / 2 {
            AfterStep::Finish
        } else if end || read >= self.lines_per_job || elapsed >= self.time_per_job {
            AfterStep::QueueNext
        } else {
            AfterStep::Next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use session_rules::{Language, Limits, Template, TemplateCategory, TemplateId};

    struct Fixture {
        message: Map<String, Value>,
        template: Template,
        limits: Limits,
    }

    fn fixture() -> Fixture {
        let message =
            serde_json::from_str(r#"{"template":{"id":"parcel"},"type":"template"}"#).unwrap();
        let template = Template::parse(
            TemplateId::parse("parcel").unwrap(),
            Language::parse("en").unwrap(),
            TemplateCategory::Transactional,
            true,
            "Your parcel is on its way",
        )
        .unwrap();
        Fixture {
            message,
            template,
            limits: Limits::default(),
        }
    }

    impl Fixture {
        fn check(&self, format: UploadFormat) -> Check<'_> {
            Check {
                message: &self.message,
                template: Some(&self.template),
                base: vbm_outbound::campaign::base_params(&self.message),
                limits: &self.limits,
                format,
            }
        }
    }

    fn line(text: &str) -> Line {
        Line {
            text: text.as_bytes().to_vec(),
            consumed: text.len() as u64 + 1,
            too_long: false,
        }
    }

    fn number(i: usize) -> String {
        format!("+4479111{i:05}")
    }

    fn jsonl(i: usize) -> Line {
        line(&format!(r#"{{"to":"{}"}}"#, number(i)))
    }

    fn one_chunk_steps() -> PrepareLimits {
        PrepareLimits {
            step_chunks: 1,
            ..PrepareLimits::default()
        }
    }

    #[test]
    fn a_clean_step_ends_on_a_chunks_boundary() {
        let f = fixture();
        let check = f.check(UploadFormat::Jsonl);
        let limits = one_chunk_steps();
        let mut reader = StepReader::new(&Cursor::default(), &limits);
        for i in 0..CHUNK_SIZE - 1 {
            assert!(!reader.take(&jsonl(i), &check).unwrap(), "line {i}");
        }
        assert!(reader.take(&jsonl(CHUNK_SIZE), &check).unwrap());
        let step = reader.finish(false, UploadFormat::Jsonl).unwrap();
        assert_eq!(step.recipients.len(), CHUNK_SIZE);
        assert_eq!(step.recipients[0].to, number(0));
        assert_eq!(
            (step.to.lines, step.to.recipients, step.to.invalid),
            (CHUNK_SIZE as u64, CHUNK_SIZE as u64, 0)
        );
        let consumed: u64 = (0..CHUNK_SIZE - 1).map(|i| jsonl(i).consumed).sum();
        assert_eq!(step.to.offset, consumed + jsonl(CHUNK_SIZE).consumed);
        assert!(step.to.errors_json.is_none());
    }

    #[test]
    fn after_a_bad_line_only_counting_and_naming_goes_on() {
        let f = fixture();
        let check = f.check(UploadFormat::Jsonl);
        let limits = one_chunk_steps();
        let mut reader = StepReader::new(&Cursor::default(), &limits);
        assert!(!reader.take(&jsonl(0), &check).unwrap());
        assert!(!reader.take(&line("not json"), &check).unwrap());
        // The same number again is a bad line too, named as it is read.
        assert!(!reader.take(&jsonl(0), &check).unwrap());
        let mut full = false;
        let mut lines = 3;
        while !full {
            full = reader.take(&jsonl(lines), &check).unwrap();
            lines += 1;
        }
        // A step per `step_chunks` chunks' worth of lines, none of them kept.
        assert_eq!(lines, CHUNK_SIZE);
        let step = reader.finish(false, UploadFormat::Jsonl).unwrap();
        assert!(step.recipients.is_empty());
        assert_eq!(step.to.invalid, 2);
        let named: Vec<Value> =
            serde_json::from_str(step.to.errors_json.as_deref().unwrap()).unwrap();
        assert_eq!(named[0]["line"], 2);
        assert_eq!(named[0]["code"], "malformed_line");
        assert_eq!(named[1]["line"], 3);
        assert_eq!(named[1]["code"], "duplicate_recipient");
    }

    #[test]
    fn at_most_so_many_bad_lines_are_named() {
        let f = fixture();
        let check = f.check(UploadFormat::Jsonl);
        let limits = PrepareLimits::default();
        let mut reader = StepReader::new(&Cursor::default(), &limits);
        for _ in 0..NAMED_ERRORS + 5 {
            reader.take(&line("{}"), &check).unwrap();
        }
        let step = reader.finish(false, UploadFormat::Jsonl).unwrap();
        let named: Vec<Value> =
            serde_json::from_str(step.to.errors_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            (named.len(), step.to.invalid),
            (NAMED_ERRORS, NAMED_ERRORS as u64 + 5)
        );
    }

    #[test]
    fn a_too_long_or_non_utf8_line_is_bad() {
        let f = fixture();
        let check = f.check(UploadFormat::Jsonl);
        let limits = PrepareLimits::default();
        let mut reader = StepReader::new(&Cursor::default(), &limits);
        let mut long = jsonl(0);
        long.too_long = true;
        reader.take(&long, &check).unwrap();
        let mut bytes = jsonl(1);
        bytes.text.push(0xff);
        reader.take(&bytes, &check).unwrap();
        let step = reader.finish(false, UploadFormat::Jsonl).unwrap();
        let named: Vec<Value> =
            serde_json::from_str(step.to.errors_json.as_deref().unwrap()).unwrap();
        assert_eq!(named[0]["code"], "line_too_long");
        assert_eq!(named[1]["code"], "malformed_line");
    }

    #[test]
    fn a_csv_list_starts_with_its_header_even_after_a_byte_order_mark() {
        let f = fixture();
        let check = f.check(UploadFormat::Csv);
        let limits = PrepareLimits::default();
        let mut reader = StepReader::new(&Cursor::default(), &limits);
        assert!(!reader.take(&line("\u{feff}to"), &check).unwrap());
        reader.take(&line(&number(1)), &check).unwrap();
        let step = reader.finish(true, UploadFormat::Csv).unwrap();
        assert_eq!(step.to.columns_json.as_deref(), Some(r#"["to"]"#));
        assert_eq!((step.to.lines, step.to.recipients), (2, 1));
        // The next step goes on with the columns the cursor kept.
        let mut next = StepReader::new(&step.to, &limits);
        next.take(&line(&number(2)), &check).unwrap();
        assert_eq!(
            next.finish(false, UploadFormat::Csv)
                .unwrap()
                .recipients
                .len(),
            1
        );

        let mut bad = StepReader::new(&Cursor::default(), &limits);
        let refused = bad.take(&line("name"), &check).unwrap_err();
        assert_eq!(refused.code, "invalid_header");
        let empty = StepReader::new(&Cursor::default(), &limits);
        let refused = empty.finish(true, UploadFormat::Csv).unwrap_err();
        assert_eq!(refused.code, "invalid_header");
        // An empty JSONL list is not refused here (`empty_list` is the whole list's check).
        let empty = StepReader::new(&Cursor::default(), &limits);
        assert!(empty.finish(true, UploadFormat::Jsonl).is_ok());
    }

    #[test]
    fn a_list_longer_than_its_bound_is_refused() {
        let f = fixture();
        let check = f.check(UploadFormat::Csv);
        let limits = PrepareLimits {
            max_recipients: 2,
            ..PrepareLimits::default()
        };
        let mut reader = StepReader::new(&Cursor::default(), &limits);
        reader.take(&line("to"), &check).unwrap();
        reader.take(&line(&number(1)), &check).unwrap();
        reader.take(&line(&number(2)), &check).unwrap();
        let refused = reader.take(&line(&number(3)), &check).unwrap_err();
        assert_eq!(refused.code, "too_many_recipients");
    }

    fn recipients(n: usize) -> Vec<CampaignRecipient> {
        (0..n)
            .map(|i| CampaignRecipient {
                to: number(i),
                params: Default::default(),
            })
            .collect()
    }

    #[test]
    fn chunks_are_numbered_by_the_recipients_before_them_and_a_bad_list_writes_none() {
        let from = Cursor {
            recipients: 3 * CHUNK_SIZE as u64,
            ..Cursor::default()
        };
        let mut step = Step {
            to: Cursor::default(),
            recipients: recipients(2 * CHUNK_SIZE + 1),
            end: true,
        };
        let written: Vec<(u32, usize)> = chunks(&from, &step)
            .iter()
            .map(|(i, part)| (*i, part.len()))
            .collect();
        assert_eq!(written, [(3, CHUNK_SIZE), (4, CHUNK_SIZE), (5, 1)]);
        step.to.invalid = 1;
        assert!(chunks(&from, &step).is_empty());
    }

    #[test]
    fn a_job_finishes_with_time_left_else_queues_the_next() {
        let limits = PrepareLimits {
            lines_per_job: 1000,
            time_per_job: Duration::from_secs(20),
            ..PrepareLimits::default()
        };
        let s = Duration::from_secs;
        assert_eq!(limits.after_step(true, 10, s(9)), AfterStep::Finish);
        assert_eq!(limits.after_step(true, 10, s(10)), AfterStep::QueueNext);
        assert_eq!(limits.after_step(false, 999, s(19)), AfterStep::Next);
        assert_eq!(limits.after_step(false, 1000, s(1)), AfterStep::QueueNext);
        assert_eq!(limits.after_step(false, 10, s(20)), AfterStep::QueueNext);
    }
}
