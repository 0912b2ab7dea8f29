//! A business's caps (`caps` on its profile, JSON; absent: none) and their counters: one item
//! per capped subject and window, moved in the very transaction that admits what it counts.
//!
//! | item        | pk               | sk                                      | attributes                         |
//! |-------------|------------------|-----------------------------------------|------------------------------------|
//! | cap counter | `BIZ#{business}` | `CAPUSE#day#2026-12-07#promotional`     | `count`, `t80`, `t100`, `expires_at` |
//! | cap counter | `BIZ#{business}` | `CAPUSE#month#2026-12#campaign_recipients` | the same                        |
//!
//! The counter's `Update` in a send's (or a campaign batch's) transaction adds what the
//! transaction admits, conditioned on the sum staying within the limit, so no concurrency passes
//! a cap by one, and a cancelled transaction (a refusal, a retry replayed from its idempotency
//! record) counts nothing. Only a subject with a cap has a counter: a business without caps
//! writes nothing more. Not sharded: an exact cap needs one item to condition on (about 1,000
//! writes a second, see docs/deploy.md).
//!
//! `t80` and `t100` mark the notices given (`usage.cap_reached`): set by a conditional update
//! (`attribute_not_exists`), so a threshold is told once per window whatever the concurrency.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, Update};
use session_rules::Timestamp;
use session_rules::caps::{self, Cap, CapPeriod, Caps};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::conditional;
use crate::profile::ProfileSetting;
use crate::{BusinessId, Store, StoreError, keys};

/// The profile attribute holding the caps.
const CAPS: &str = "caps";
/// The caps as a profile setting: no caps, no attribute (and no counter written by any send).
const CAPS_SETTING: ProfileSetting<Caps> = ProfileSetting {
    attribute: CAPS,
    read: caps_from_item,
    absent: Caps::is_empty,
};
/// How long counters are kept after their window started: a day's 40 days, a month's 400.
const DAY_KEPT_SECS: i64 = 40 * 86_400;
const MONTH_KEPT_SECS: i64 = 400 * 86_400;

/// A cap reached at a threshold, to tell the business (once per cap, window and threshold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapNotice {
    pub cap: Cap,
    /// 80 or 100 (percent of the limit).
    pub threshold: u8,
    /// The count when it was seen reached.
    pub count: u64,
    /// `2026-12-07` or `2026-12` (UTC).
    pub window: String,
}

/// What a cap's counter holds now (the dry run's and `vbmctl business caps`'s view).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CapCount {
    #[serde(flatten)]
    pub cap: Cap,
    pub window: String,
    pub count: u64,
}

pub(crate) fn counter_sk(cap: &Cap, now: Timestamp) -> String {
    format!(
        "CAPUSE#{}#{}#{}",
        cap.period.as_str(),
        cap.period.window(now),
        cap.subject.as_str()
    )
}

fn kept_until(period: CapPeriod, now: Timestamp) -> i64 {
    now.as_secs()
        + match period {
            CapPeriod::Day => DAY_KEPT_SECS,
            CapPeriod::Month => MONTH_KEPT_SECS,
        }
}

fn marker(threshold: u8) -> String {
    format!("t{threshold}")
}

/// The business item's `caps`; none when absent.
pub(crate) fn caps_from_item(item: &Item) -> Result<Caps, StoreError> {
    attrs::opt_s(item, CAPS)?
        .map(|json| {
            serde_json::from_str(json).map_err(|e| StoreError::malformed(CAPS, e.to_string()))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// A counter's count (0 for an absent item).
pub(crate) fn count_of(item: Option<&Item>) -> Result<u64, StoreError> {
    Ok(match item {
        Some(item) => attrs::opt_n(item, "count")?.unwrap_or(0),
        None => 0,
    })
}

/// The counter's `Update` in an admitting transaction: `adding` more, unless that passes the
/// limit (then the transaction is cancelled, and `ALL_OLD` says the count). `None` when
/// `adding` alone is over the limit: nothing to write, refused as it is.
pub(crate) fn counter_update(
    store: &Store,
    business: &BusinessId,
    cap: &Cap,
    adding: u64,
    now: Timestamp,
) -> Result<Option<Update>, StoreError> {
    if !caps::admits(0, adding, cap.limit) {
        return Ok(None);
    }
    // `count <= limit - adding`: the sum stays within the limit.
    let most = caps::room(adding, cap.limit);
    Update::builder()
        .table_name(&store.table)
        .key(keys::PK, s(keys::business(business)))
        .key(keys::SK, s(counter_sk(cap, now)))
        .condition_expression("attribute_not_exists(#count) OR #count <= :most")
        .update_expression("ADD #count :adding SET expires_at = if_not_exists(expires_at, :until)")
        .expression_attribute_names("#count", "count")
        .expression_attribute_values(":most", n(most))
        .expression_attribute_values(":adding", n(adding))
        .expression_attribute_values(":until", n(kept_until(cap.period, now)))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map(Some)
        .map_err(StoreError::build)
}

impl crate::Businesses<'_> {
    /// A business's caps; `None` when the business does not exist.
    pub async fn caps(&self, business: &BusinessId) -> Result<Option<Caps>, StoreError> {
        let item = self.profile(business).await?;
        item.as_ref().map(caps_from_item).transpose()
    }

    /// Changes a business's caps with `change`, on the caps as stored (a concurrent change is
    /// read again and `change` applied to it); the new caps, `None` when the business does not
    /// exist, or `change`'s error (nothing written).
    pub async fn update_caps<E>(
        &self,
        business: &BusinessId,
        change: impl Fn(&mut Caps) -> Result<(), E>,
    ) -> Result<Option<Result<Caps, E>>, StoreError> {
        self.change_profile_setting(business, &CAPS_SETTING, change)
            .await
    }

    /// The counts of `caps` in the windows of `now`, read consistently.
    pub async fn cap_counts(
        &self,
        business: &BusinessId,
        caps: &[Cap],
        now: Timestamp,
    ) -> Result<Vec<CapCount>, StoreError> {
        let mut out = Vec::with_capacity(caps.len());
        for cap in caps {
            let item = self
                .get_consistent(keys::business(business), counter_sk(cap, now), None)
                .await?;
            out.push(CapCount {
                cap: *cap,
                window: cap.period.window(now),
                count: count_of(item.as_ref())?,
            });
        }
        Ok(out)
    }

    /// After an admission counted against `caps` committed: the thresholds their counters have
    /// reached that no one has told yet, each claimed here (a conditional update of its
    /// marker), so each is returned to exactly one caller per window. The caller tells the
    /// business, and gives the claim back ([`Businesses::release_cap_notice`](crate::Businesses::release_cap_notice)) when it cannot.
    pub async fn claim_cap_notices(
        &self,
        business: &BusinessId,
        caps: &[Cap],
        now: Timestamp,
    ) -> Result<Vec<CapNotice>, StoreError> {
        let mut notices = Vec::new();
        for cap in caps {
            let sk = counter_sk(cap, now);
            let Some(item) = self
                .get_consistent(keys::business(business), sk.clone(), None)
                .await?
            else {
                continue;
            };
            let count = count_of(Some(&item))?;
            for threshold in caps::thresholds_reached(count, cap.limit) {
                if item.contains_key(&marker(threshold)) {
                    continue;
                }
                let claimed = self
                    .update_business_item(business, &sk)
                    .update_expression("SET #m = :now")
                    .condition_expression("attribute_exists(pk) AND attribute_not_exists(#m)")
                    .expression_attribute_names("#m", marker(threshold))
                    .expression_attribute_values(":now", n(now.as_millis()))
                    .send()
                    .await;
                if conditional(claimed)?.is_some() {
                    notices.push(CapNotice {
                        cap: *cap,
                        threshold,
                        count,
                        window: cap.period.window(now),
                    });
                }
            }
        }
        Ok(notices)
    }

    /// Gives back a notice's claim that could not be told, so the next admission tells it.
    pub async fn release_cap_notice(
        &self,
        business: &BusinessId,
        notice: &CapNotice,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let answer = self
            .update_business_item(business, counter_sk(&notice.cap, now))
            .update_expression("REMOVE #m")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#m", marker(notice.threshold))
            .send()
            .await;
        conditional(answer)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_rules::BillingCategory;
    use session_rules::caps::CapSubject;

    #[test]
    fn counters_are_keyed_by_period_window_and_subject() {
        let cap = Cap {
            subject: CapSubject::Category(BillingCategory::Promotional),
            period: CapPeriod::Day,
            limit: 10,
        };
        let at = Timestamp::from_millis(1_796_687_999_999);
        assert_eq!(counter_sk(&cap, at), "CAPUSE#day#2026-12-07#promotional");
        let month = Cap {
            subject: CapSubject::CampaignRecipients,
            period: CapPeriod::Month,
            ..cap
        };
        assert_eq!(
            counter_sk(&month, at),
            "CAPUSE#month#2026-12#campaign_recipients"
        );
    }

    #[test]
    fn absent_caps_are_none() {
        assert!(caps_from_item(&Item::new()).unwrap().is_empty());
    }
}
