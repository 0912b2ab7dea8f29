//! A campaign's messages counted by status, after admission.
//!
//! Each admitted campaign message is counted under the status it stands at now, the one
//! `GET /v1/messages/{id}` shows: `sent`, `delivered`, `seen`, `expired`, `failed_{reason}`
//! (a message still `accepted` is in none: it is the campaign's `queued` minus all of these).
//! The counters move only in the transaction that moves the message's status, and only when
//! that write moves it (its condition is the exact prior status): `+1` to the new status, `-1`
//! to the prior one. A redelivered job, a repeated or late callback changes no status, so it
//! changes no count; a `seen` before `delivered` counts the message once, under `seen`.
//!
//! | item          | pk               | sk                          |
//! |---------------|------------------|-----------------------------|
//! | count shard   | `BIZ#{business}` | `CCOUNT#{campaign}#{shard}` |
//!
//! A campaign of a million recipients moves about three million statuses: on one item that
//! is far past DynamoDB's ~1,000 writes a second per item, so the counters are spread over
//! [`SHARDS`] items (a message always counts in the shard of its id, so its `-1` meets its
//! `+1`) and summed on read with one `Query`. Single sends have no campaign and write no
//! counter.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use session_rules::MessageStatus;

use crate::attrs::{self, n, s};
use crate::campaigns::{COUNT_PREFIX, CampaignId};
use crate::{BusinessId, MessageId, Store, StoreError, keys};

/// Count shards per campaign: 16 items take ~16,000 status moves a second.
pub const SHARDS: u32 = 16;

/// The shard a message counts in: FNV-1a of its id (stable across processes and releases).
pub(crate) fn shard_of(message: &MessageId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in message.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % SHARDS
}

/// The counter a message at `status` counts in; `None` for `accepted` (not counted: it is
/// `queued` minus the rest). A failed message counts by its reason.
pub(crate) fn counter(status: MessageStatus, failure_reason: Option<&str>) -> Option<String> {
    match status {
        MessageStatus::Accepted => None,
        MessageStatus::Failed => Some(format!("failed_{}", failure_reason.unwrap_or("unknown"))),
        other => Some(other.as_str().to_owned()),
    }
}

/// One campaign message's status move, for its shard.
pub(crate) struct CountMove<'a> {
    pub business: &'a BusinessId,
    pub campaign: &'a CampaignId,
    pub message: &'a MessageId,
    /// The counter left (`None`: it was `accepted`).
    pub from: Option<String>,
    pub to: String,
    /// The message's own expiry (epoch seconds): the shard is kept as long as its messages.
    pub expires_at: i64,
}

impl Store {
    /// The `Update` of a move's shard, for the transaction that moves the message's status.
    pub(crate) fn count_update(&self, m: &CountMove<'_>) -> Result<Update, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(m.business)))
            .key(
                keys::SK,
                s(keys::campaign_count(m.campaign, shard_of(m.message))),
            )
            .expression_attribute_names("#to", format!("{COUNT_PREFIX}{}", m.to))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":x", n(m.expires_at));
        let set = "SET expires_at = if_not_exists(expires_at, :x)";
        update = match &m.from {
            Some(from) => update
                .expression_attribute_names("#from", format!("{COUNT_PREFIX}{from}"))
                .expression_attribute_values(":minus", n(-1))
                .update_expression(format!("{set} ADD #to :one, #from :minus")),
            None => update.update_expression(format!("{set} ADD #to :one")),
        };
        update.build().map_err(StoreError::build)
    }
}

impl crate::Campaigns<'_> {
    /// A campaign's messages by status now (`sent`, `delivered`, `seen`, `expired`,
    /// `failed_{reason}`), summed over its shards: one consistent `Query`. Zeros are left
    /// out; the sums are signed so that a negative one (which the moves never make) shows.
    pub async fn campaign_status_counts(
        &self,
        business: &BusinessId,
        campaign: &CampaignId,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::business(business)))
            .expression_attribute_values(":prefix", s(keys::campaign_counts(campaign)))
            .consistent_read(true);
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for item in attrs::query_all(query).await? {
            for (name, value) in &item {
                if let (Some(counter), AttributeValue::N(v)) =
                    (name.strip_prefix(COUNT_PREFIX), value)
                {
                    let v: i64 = v.parse().map_err(|_| {
                        StoreError::malformed(campaign.as_str(), format!("{name} is not a count"))
                    })?;
                    *counts.entry(counter.to_owned()).or_default() += v;
                }
            }
        }
        // A status every message has moved on from sums to 0.
        counts.retain(|_, v| *v != 0);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_spread_over_every_shard() {
        let campaign = CampaignId::generate();
        let mut per = [0u32; SHARDS as usize];
        for i in 0..1600 {
            per[shard_of(&campaign.message_id(i)) as usize] += 1;
        }
        assert!(per.iter().all(|n| (50..=150).contains(n)), "{per:?}");
        let id = campaign.message_id(7);
        assert_eq!(shard_of(&id), shard_of(&id));
    }

    #[test]
    fn a_failure_counts_by_its_reason_and_accepted_not_at_all() {
        assert_eq!(counter(MessageStatus::Accepted, None), None);
        assert_eq!(
            counter(MessageStatus::Failed, Some("SRVC_NOT_VIBER_USER")).as_deref(),
            Some("failed_SRVC_NOT_VIBER_USER")
        );
        assert_eq!(counter(MessageStatus::Seen, None).as_deref(), Some("seen"));
    }
}
