//! SMS failover triggers in `dispatch`: Viber's 9 (not a Viber user) and 10 (no
//! suitable device) queue a failover job at once; `sent` queues the deadline's job, delayed by
//! the deadline (at most 900 s, SQS's longest delay), which finds the message delivered, or
//! claims the failover. `failover` decides; a job queued twice (a redelivered dispatch job
//! queues again, in case the first died before queueing) sends one SMS.

use std::time::Duration;

use session_rules::failover::Trigger;
use session_rules::{MessageStatus, Timestamp};
use vbm_queue::{FailoverJob, FailoverQueue, QueueError};
use vbm_store::{Failure, MessageRecord};

/// The job `dispatch` queues for what it recorded (`status` at `at`, with `failure`), and its
/// delay, if the message's failover asks for one.
pub fn job(
    message: &MessageRecord,
    status: MessageStatus,
    at: Timestamp,
    failure: Option<&Failure>,
    now: Timestamp,
) -> Option<(FailoverJob, Duration)> {
    let failover = message.failover.as_ref()?;
    if message.track.current.rank() >= MessageStatus::Delivered.rank() {
        return None;
    }
    let (trigger, delay) = match status {
        MessageStatus::Failed => (Trigger::of_viber_status(failure?.code?)?, Duration::ZERO),
        MessageStatus::Sent => {
            let seconds = failover.spec.triggers.deadline_seconds?;
            let due = at.as_millis() + i64::from(seconds) * 1000;
            let left = u64::try_from(due - now.as_millis()).unwrap_or(0);
            (Trigger::Deadline, Duration::from_millis(left))
        }
        _ => return None,
    };
    failover.fires(trigger).then(|| {
        (
            FailoverJob {
                business_id: message.business.as_str().to_owned(),
                message_id: message.id.as_str().to_owned(),
                trigger: trigger.as_str().to_owned(),
            },
            delay,
        )
    })
}

/// Queues the job, when there is a queue and a job.
pub async fn queue(
    queue: Option<&FailoverQueue>,
    job: Option<(FailoverJob, Duration)>,
) -> Result<(), QueueError> {
    if let (Some(queue), Some((job, delay))) = (queue, job) {
        tracing::info!(trigger = %job.trigger, delay_s = delay.as_secs(), "failover job queued");
        queue.enqueue(&job, delay).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_rules::StatusTrack;
    use session_rules::failover::{
        FailoverRecord, FailoverSms, FailoverSpec, FailoverState, Triggers,
    };
    use vbm_store::{BusinessId, MessageId};

    fn message(
        current: MessageStatus,
        deadline: Option<u32>,
        state: Option<FailoverState>,
    ) -> MessageRecord {
        let t0 = Timestamp::from_millis(1_800_000_000_000);
        MessageRecord {
            id: MessageId::generate(),
            business: BusinessId::parse("acme").unwrap(),
            to: "+447911123456".into(),
            kind: "template".into(),
            class: "informative".into(),
            payload: "{}".into(),
            service_id: None,
            track: StatusTrack {
                current,
                history: Vec::new(),
            },
            created_at: t0,
            session_started_at: None,
            viber_message_token: None,
            viber_session_id: None,
            failure: None,
            history: Vec::new(),
            campaign: None,
            billing: None,
            hold: None,
            failover: Some(FailoverRecord {
                spec: FailoverSpec {
                    sms: FailoverSms {
                        text: "hi".into(),
                        sender_id: None,
                    },
                    triggers: Triggers {
                        deadline_seconds: deadline,
                        ..Triggers::default()
                    },
                },
                state,
                trigger: None,
                attempts: 0,
                lease_until: None,
                sms_message_id: None,
                reason: None,
                at: None,
            }),
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + s * 1000)
    }

    fn code(c: i64) -> Failure {
        Failure {
            code: Some(c),
            reason: String::new(),
        }
    }

    #[test]
    fn nine_and_ten_queue_at_once_and_nothing_else_fails_over() {
        let m = message(MessageStatus::Failed, None, None);
        let (queued, delay) = job(&m, MessageStatus::Failed, at(0), Some(&code(9)), at(0)).unwrap();
        assert_eq!(
            (queued.trigger.as_str(), delay),
            ("not_viber_user", Duration::ZERO)
        );
        let (queued, _) = job_of(&m, 10).unwrap();
        assert_eq!(queued.trigger, "no_suitable_device");
        for other in [3, 8, 21] {
            assert!(job_of(&m, other).is_none(), "{other}");
        }
        // Already claimed (a redelivered dispatch job): nothing queued again.
        let claimed = message(MessageStatus::Failed, None, Some(FailoverState::Sent));
        assert!(job_of(&claimed, 9).is_none());
    }

    fn job_of(m: &MessageRecord, c: i64) -> Option<(FailoverJob, Duration)> {
        job(m, MessageStatus::Failed, at(0), Some(&code(c)), at(0))
    }

    #[test]
    fn sent_queues_the_deadline_for_what_is_left_of_it() {
        let m = message(MessageStatus::Sent, Some(60), None);
        let (queued, delay) = job(&m, MessageStatus::Sent, at(0), None, at(0)).unwrap();
        assert_eq!(
            (queued.trigger.as_str(), delay),
            ("deadline", Duration::from_secs(60))
        );
        // Redelivered 45 s later: 15 s left; past it: at once.
        let (_, delay) = job(&m, MessageStatus::Sent, at(0), None, at(45)).unwrap();
        assert_eq!(delay, Duration::from_secs(15));
        let (_, delay) = job(&m, MessageStatus::Sent, at(0), None, at(90)).unwrap();
        assert_eq!(delay, Duration::ZERO);
        // No deadline configured, or the message already delivered: nothing.
        let off = message(MessageStatus::Sent, None, None);
        assert!(job(&off, MessageStatus::Sent, at(0), None, at(0)).is_none());
        let delivered = message(MessageStatus::Delivered, Some(60), None);
        assert!(job(&delivered, MessageStatus::Sent, at(0), None, at(1)).is_none());
    }
}
