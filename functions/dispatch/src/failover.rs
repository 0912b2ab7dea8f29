//! SMS failover triggers in `dispatch` (issue 16): Viber's 9 (not a Viber user) and 10 (no
//! suitable device) queue a failover job at once; `sent` queues the deadline's job, delayed by
//! the deadline (at most 900 s, SQS's longest delay), which finds the message delivered, or
//! claims the failover. `failover` decides; a job queued twice (a redelivered dispatch job
//! queues again, in case the first died before queueing) sends one SMS.

use std::time::Duration;

use session_rules::{MessageStatus, Timestamp};
use vbm_queue::{FailoverJob, FailoverQueue, QueueError};
use vbm_store::{Failure, MessageRecord, Trigger};

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
