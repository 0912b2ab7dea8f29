//! The failover queue: SMS failover jobs for `failover`, standard (not FIFO: each job
//! names one message, and order between messages does not matter).
//!
//! A job only names the message and what triggered it; `failover` loads the message, and the
//! decision to send is a conditional write there, so a job delivered twice, or two triggers of
//! one message, send one SMS. The deadline trigger is this same job with an SQS delivery delay
//! (`DelaySeconds`, at most 900 s).
//!
//! ```json
//! {"business_id": "acme", "message_id": "01JD0Z6Q9T3M8V4K2X7B5N1C0A", "trigger": "expired"}
//! ```

use std::time::Duration;

use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use crate::{Queue, QueueError, json_body};

/// SQS's longest delivery delay.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverJob {
    pub business_id: String,
    pub message_id: String,
    /// `not_viber_user`, `no_suitable_device`, `expired` or `deadline`.
    pub trigger: String,
}

/// The failover queue. Cheap to clone; build once per process.
#[derive(Debug, Clone)]
pub struct FailoverQueue {
    queue: Queue,
}

impl FailoverQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            queue: Queue::new(client, url),
        }
    }

    pub fn url(&self) -> &str {
        self.queue.url()
    }

    /// Queues `job`, delivered after `delay` (at most [`MAX_DELAY`]).
    pub async fn enqueue(&self, job: &FailoverJob, delay: Duration) -> Result<(), QueueError> {
        let delay = delay.min(MAX_DELAY).as_secs() as i32;
        let body = json_body(job)?;
        self.queue.send(body, |m| m.delay_seconds(delay)).await
    }
}
