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

use session_rules::{MessageStatus, Timestamp};
use vbm_events::{CallbackStatus, EventsQueue};
use vbm_store::{MessageRecord, QuarantineReason, Store};

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
    let kept = store
        .messages()
        .pending_statuses_claimed(token, now)
        .await?;
    for (pending, claimed) in &kept {
        let owner = match claimed {
            None => None,
            Some(service_id) => Some((
                *service_id,
                store
                    .businesses()
                    .business_by_service_id(*service_id)
                    .await?
                    .map(|b| b.id),
            )),
        };
        if let Some((service_id, named)) =
            owner.filter(|(_, b)| b.as_ref() != Some(&message.business))
        {
            // Its callback named another tenant's service id: never applied to this message.
            // Kept aside as the callback it was (a replay checks the service id again).
            let body = serde_json::json!({
                "message_token": token,
                "message_status": viber_code(pending.status),
                "message_time": pending.at.as_millis(),
                "service_id": service_id,
            })
            .to_string();
            let detail = format!(
                "a status kept for this token named service id {service_id} (business {}), \
                 but the message belongs to business {}",
                named.as_ref().map_or("none", |b| b.as_str()),
                message.business
            );
            store
                .quarantine()
                .quarantine(
                    "POST /viber/status",
                    body.as_bytes(),
                    QuarantineReason::ServiceMismatch,
                    &detail,
                    now,
                )
                .await?;
            vbm_platform::metrics::callback_quarantined();
            tracing::warn!(%detail, "kept status not applied: service id mismatch");
            store
                .messages()
                .forget_pending_status(token, pending.status)
                .await?;
            continue;
        }
        let change = store
            .messages()
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
                billing: message.billing,
            };
            events.publish(&report.event()).await?;
        }
        store
            .messages()
            .forget_pending_status(token, pending.status)
            .await?;
    }
    if !kept.is_empty() {
        tracing::info!(applied = kept.len(), "statuses kept for the token applied");
    }
    Ok(kept.len())
}

/// Viber's `message_status` code of a status it reports (kept statuses are only these).
fn viber_code(status: MessageStatus) -> i64 {
    match status {
        MessageStatus::Delivered => 0,
        MessageStatus::Seen => 1,
        _ => 2,
    }
}
