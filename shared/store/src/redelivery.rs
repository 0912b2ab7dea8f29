//! At most one pending redelivery per logged event: `POST /v1/events/replay` claims an event
//! (`redelivery_at` on its log entry, set only when none is pending) before it queues it, and
//! `notify` clears the claim when an attempt settles the event (delivered, or failed for good).
//! A replay of an event whose redelivery is still pending is a no-op, however many replays
//! arrive at once: the claim is one conditional write.
//!
//! A claim whose redelivery never settles (the replay died between the claim and the queue, or
//! the queue refused and the release failed too) lapses after [`CLAIM_LAPSES_AFTER`], longer
//! than `notify`'s whole retry schedule.

use std::time::Duration;

use session_rules::Timestamp;

use crate::attrs::n;
use crate::cancelled::conditional;
use crate::{BusinessId, StoreError, keys};

/// How long a redelivery may stay pending before another replay may queue the event again.
pub const CLAIM_LAPSES_AFTER: Duration = Duration::from_secs(2 * 3600);

/// The attribute holding a pending redelivery's claim (epoch ms).
pub(crate) const REDELIVERY_AT: &str = "redelivery_at";

impl crate::Events<'_> {
    /// Claims the redelivery of a logged event: `true` when this caller may queue it, `false`
    /// when a redelivery is pending already (or the event is not logged).
    pub async fn claim_redelivery(
        &self,
        business: &BusinessId,
        event_id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let lapsed = now.as_millis() - CLAIM_LAPSES_AFTER.as_millis() as i64;
        let answer = self
            .update_business_item(business, keys::event(event_id))
            .update_expression("SET #r = :now")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#r) OR #r < :lapsed)",
            )
            .expression_attribute_names("#r", REDELIVERY_AT)
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":lapsed", n(lapsed))
            .send()
            .await;
        Ok(conditional(answer)?.is_some())
    }

    /// Gives back a claim this caller made at `claimed_at` (its redelivery was not queued after
    /// all). Someone else's later claim stays.
    pub async fn release_redelivery(
        &self,
        business: &BusinessId,
        event_id: &str,
        claimed_at: Timestamp,
    ) -> Result<(), StoreError> {
        let answer = self
            .update_business_item(business, keys::event(event_id))
            .update_expression("REMOVE #r")
            .condition_expression("#r = :at")
            .expression_attribute_names("#r", REDELIVERY_AT)
            .expression_attribute_values(":at", n(claimed_at.as_millis()))
            .send()
            .await;
        conditional(answer)?;
        Ok(())
    }
}
