use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, SqsParameters,
    Target as ScheduleTarget,
};
use session_rules::Timestamp;

use crate::{Target, TimerError};

/// A schedule name as Scheduler takes it: `[0-9A-Za-z_.-]{1,64}`. Unique per purpose within the
/// group, and deterministic (e.g. `sx-<conversation>-<anchor>`), so that setting the same timer
/// twice is one timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerName(String);

impl TimerName {
    pub fn parse(name: &str) -> Result<Self, TimerError> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(TimerError::Invalid(format!(
                "timer name {name:?} is not [0-9A-Za-z_.-]{{1,64}}"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One timer: at `at`, `body` goes to `target`.
#[derive(Debug, Clone)]
pub struct Timer<'a> {
    pub name: &'a str,
    pub at: Timestamp,
    pub target: &'a Target,
    pub body: &'a str,
}

/// What [`Timers::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// A schedule now exists for it.
    Scheduled,
    /// It was due already: the body went to the queue at once.
    SentNow,
    /// A schedule of that name existed: nothing changed.
    AlreadySet,
}

/// The timers of one schedule group. Built once per process.
#[derive(Debug, Clone)]
pub struct Timers {
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    group: String,
    role_arn: String,
}

impl Timers {
    pub fn new(
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
        group: impl Into<String>,
        role_arn: impl Into<String>,
    ) -> Self {
        Self {
            scheduler,
            sqs,
            group: group.into(),
            role_arn: role_arn.into(),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Sets a timer; idempotent by name. A timer already due is not scheduled (Scheduler's
    /// handling of a past `at()` is not something to lean on): its body is sent now, with the
    /// name as the de-duplication id on a FIFO queue.
    pub async fn set(&self, timer: &Timer<'_>, now: Timestamp) -> Result<Set, TimerError> {
        let name = TimerName::parse(timer.name)?;
        if timer.at <= now {
            let mut send = self
                .sqs
                .send_message()
                .queue_url(timer.target.url())
                .message_body(timer.body);
            if let Some(group) = timer.target.group() {
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(name.as_str());
            }
            send.send().await.map_err(TimerError::sqs)?;
            return Ok(Set::SentNow);
        }
        let mut target = ScheduleTarget::builder()
            .arn(timer.target.arn())
            .role_arn(&self.role_arn)
            .input(timer.body);
        if let Some(group) = timer.target.group() {
            target =
                target.sqs_parameters(SqsParameters::builder().message_group_id(group).build());
        }
        let target = target
            .build()
            .map_err(|e| TimerError::Invalid(e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| TimerError::Invalid(e.to_string()))?;
        let created = self
            .scheduler
            .create_schedule()
            .group_name(&self.group)
            .name(name.as_str())
            .schedule_expression(at_expression(timer.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match created {
            Ok(_) => Ok(Set::Scheduled),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                Ok(Set::AlreadySet)
            }
            Err(err) => Err(TimerError::sdk(err)),
        }
    }

    /// Removes a timer that has not fired; one that is absent (fired, or never set) is fine.
    pub async fn cancel(&self, name: &str) -> Result<(), TimerError> {
        let name = TimerName::parse(name)?;
        let deleted = self
            .scheduler
            .delete_schedule()
            .group_name(&self.group)
            .name(name.as_str())
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(TimerError::sdk(err)),
        }
    }
}

/// `at(2026-12-01T12:00:00)`: Scheduler's one-time expression, to the second (rounded up, so a
/// timer never fires before its time).
pub(crate) fn at_expression(at: Timestamp) -> String {
    let up = Timestamp::from_millis(at.as_millis().saturating_add(999).div_euclid(1000) * 1000);
    format!("at({})", &up.rfc3339()[..19])
}

/// The instant an `at(...)` expression names (UTC): the inverse of [`at_expression`].
#[cfg(feature = "dev")]
pub(crate) fn parse_at(expression: &str) -> Option<Timestamp> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let b = inner.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| inner.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = session_rules::days_from_civil(y, mo as u32, d as u32);
    Some(Timestamp::from_secs(days * 86_400 + h * 3600 + mi * 60 + s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_scheduler_takes() {
        assert!(TimerName::parse("sx-01JABCDEF.x_1").is_ok());
        assert!(TimerName::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(TimerName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn at_is_to_the_second_and_never_early() {
        // 2026-11-27T13:34:24.123Z
        let t = Timestamp::from_millis(1_795_786_464_123);
        assert_eq!(at_expression(t), "at(2026-11-27T13:34:25)");
        assert_eq!(
            at_expression(Timestamp::from_millis(1_795_786_464_000)),
            "at(2026-11-27T13:34:24)"
        );
    }

    #[cfg(feature = "dev")]
    #[test]
    fn at_parses_back() {
        for millis in [0, 951_782_400_000, 1_795_786_464_000, 1_767_225_599_000] {
            let t = Timestamp::from_millis(millis);
            assert_eq!(parse_at(&at_expression(t)), Some(t), "{millis}");
        }
        for bad in [
            "at()",
            "rate(1 minute)",
            "at(2026-13-01T00:00:00)",
            "at(2026-12-01 00:00:00)",
        ] {
            assert_eq!(parse_at(bad), None, "{bad}");
        }
    }
}
