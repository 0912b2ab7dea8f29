//! SQS adapter: the queues between the functions.
//!
//! - [`OutboundQueue`] (FIFO): `relay` puts an [`OutboundJob`] for every accepted message it
//!   reads on the table's stream; `dispatch` reads it, loads the message from the store and
//!   sends it to Viber. Grouped per conversation (one user's messages go out in order),
//!   de-duplicated by message id (a stream record handed over twice within SQS's 5-minute
//!   window is queued once; later, `dispatch` finds the message no longer `accepted`).
//! - [`CampaignQueue`]: the campaign fan-out's [`CampaignJob`]s (start, prepare, chunk).
//! - [`Queue`]: one queue's client and URL and its two sends (one message, batches of ten),
//!   which every typed queue here and the business events queue (`vbm_events`) wrap.
//! - [`batch`]: what both queue consumers (`dispatch`, `notify`) do with a batch: back off the
//!   failed records on a schedule and answer with exactly their ids.
//! - [`patience`]: trying a repeatable step again for a few seconds before giving up on it.

pub mod batch;
// Campaigns: the fan-out queue.
pub mod campaign;
mod error;
pub mod failover;
pub mod outbound;
pub mod patience;
mod queue;

pub use batch::{Backoff, Retries, batch_response};
pub use campaign::{CampaignJob, CampaignQueue};
pub use error::QueueError;
pub use failover::{FailoverJob, FailoverQueue};
pub use outbound::{OutboundJob, OutboundQueue};
pub use queue::{Queue, json_body};
