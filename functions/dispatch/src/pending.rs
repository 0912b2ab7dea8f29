//! Status callbacks that came before the token was recorded: `status` kept them on the `TOKEN`
//! item, and they are applied here right after `mark_sent` wrote it, through the same
//! `apply_status` and the same event as when `status` applies one itself.
//!
//! Reading after writing the token is what closes the race with `status` (which keeps a
//! callback only while the token is still unknown): see the `vbm_store` `pending` module.
//!
//! Each kept status is applied, its event queued, and only then forgotten, so a crash in
//! between leaves it kept for the job's redelivery, which applies it again: the status only
//! moves forward and the event id is the same, so that repeat is harmless (the history shows
//! the callback twice).

use session_rules::Timestamp;
use vbm_events::{CallbackStatus, EventsQueue};
use vbm_store::{MessageRecord, Store};

use crate::RecordError;

/// Applies and forgets what was kept for `token`, the token `message` was sent with; returns
/// how many statuses were applied.
pub async fn reconcile(
    store: &Store,
    events: &EventsQueue,
    message: &MessageRecord,
    token: &str,
    now: Timestamp,
) -> Result<usize, RecordError> {
    let kept = store.pending_statuses(token, now).await?;
    for pending in &kept {
        let change = store
            .apply_status(&message.business, &message.id, pending.status, pending.at)
            .await?;
        if change.is_some_and(|c| c.publishes(pending.status)) {
            let report = CallbackStatus {
                business: message.business.as_str(),
                message_id: message.id.as_str(),
                to: &message.to,
                status: pending.status,
                at: pending.at,
                token,
            };
            events.publish(&report.event()).await?;
        }
        store.forget_pending_status(token, pending.status).await?;
    }
    if !kept.is_empty() {
        tracing::info!(applied = kept.len(), "statuses kept for the token applied");
    }
    Ok(kept.len())
}
