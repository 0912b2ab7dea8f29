//! A business's SMS policy (`sms_policy` on its profile, JSON; absent is the default) and its
//! SMS counters: one item per business and UTC day, one per business and UTC month.
//!
//! | item          | pk               | sk                      | attributes                       |
//! |---------------|------------------|-------------------------|----------------------------------|
//! | day counter   | `BIZ#{business}` | `SMSUSE#D#2026-12-07`   | `sms`, `parts`, `refused`, `expires_at` |
//! | month counter | `BIZ#{business}` | `SMSUSE#M#2026-12`      | `sms`, `parts`, `refused`, `expires_at` |
//!
//! `sms` moves in the failover claim's own transaction, conditioned on the cap
//! ([`Messages::claim_failover`](crate::Messages::claim_failover)), so concurrent claims cannot pass a cap by one; `parts` sums the
//! billed parts with it (what the SMS costs); `refused` counts the failovers the policy or a cap
//! refused, in the refusal's own transaction ([`Messages::refuse_failover`](crate::Messages::refuse_failover)). Not sharded: one item
//! takes about 1,000 writes a second, above End User Messaging's sending rate for an account
//! (a business's SMS cannot go faster than that), and an exact cap needs one item to condition
//! on. Counts of other things (Viber messages by billing category) can live on the same items.

use std::convert::Infallible;

use aws_sdk_dynamodb::types::Update;
use session_rules::sms::{SmsAllowance, SmsPeriod, SmsPolicy};
use session_rules::{Timestamp, civil_from_days};

use crate::attrs::{self, Item, n, s};
use crate::profile::ProfileSetting;
use crate::{BusinessId, Store, StoreError, keys};

/// How long counters are kept: a day's for 40 days, a month's for 400 (the usage an operator
/// invoices from).
const DAY_KEPT_SECS: i64 = 40 * 86_400;
const MONTH_KEPT_SECS: i64 = 400 * 86_400;

/// One period's counter: `2026-12-07` or `2026-12`, UTC.
pub(crate) fn period_key(period: SmsPeriod, at: Timestamp) -> String {
    let (y, m, d) = civil_from_days(at.as_secs().div_euclid(86_400));
    match period {
        SmsPeriod::Day => format!("SMSUSE#D#{y:04}-{m:02}-{d:02}"),
        SmsPeriod::Month => format!("SMSUSE#M#{y:04}-{m:02}"),
    }
}

fn kept_until(period: SmsPeriod, at: Timestamp) -> i64 {
    at.as_secs()
        + match period {
            SmsPeriod::Day => DAY_KEPT_SECS,
            SmsPeriod::Month => MONTH_KEPT_SECS,
        }
}

/// The counter's update in a claim: one more SMS and its parts, unless the cap is reached.
pub(crate) fn claim_counter(
    store: &Store,
    business: &BusinessId,
    period: SmsPeriod,
    allowance: &SmsAllowance,
    now: Timestamp,
) -> Result<Update, StoreError> {
    let cap = match period {
        SmsPeriod::Day => allowance.max_per_day,
        SmsPeriod::Month => allowance.max_per_month,
    };
    Update::builder()
        .table_name(&store.table)
        .key(keys::PK, s(keys::business(business)))
        .key(keys::SK, s(period_key(period, now)))
        .condition_expression("attribute_not_exists(sms) OR sms < :cap")
        .update_expression("ADD sms :one, parts :parts SET expires_at = :until")
        .expression_attribute_values(":cap", n(cap))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":parts", n(allowance.parts))
        .expression_attribute_values(":until", n(kept_until(period, now)))
        .build()
        .map_err(StoreError::build)
}

/// A counter's update in a refusal: one more refused.
pub(crate) fn refusal_counter(
    store: &Store,
    business: &BusinessId,
    period: SmsPeriod,
    now: Timestamp,
) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(&store.table)
        .key(keys::PK, s(keys::business(business)))
        .key(keys::SK, s(period_key(period, now)))
        .update_expression("ADD refused :one SET expires_at = :until")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":until", n(kept_until(period, now)))
        .build()
        .map_err(StoreError::build)
}

/// One period's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SmsCounts {
    pub sms: u64,
    pub parts: u64,
    pub refused: u64,
}

/// Today's and this month's counts (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SmsUsage {
    pub day: SmsCounts,
    pub month: SmsCounts,
}

/// The profile attribute holding the SMS policy.
const SMS_POLICY: &str = "sms_policy";
/// The SMS policy as a profile setting: always written once changed.
const SMS_POLICY_SETTING: ProfileSetting<SmsPolicy> = ProfileSetting {
    attribute: SMS_POLICY,
    read: policy_from_item,
    absent: |_| false,
};

/// The business item's `sms_policy`; the default when absent.
pub(crate) fn policy_from_item(item: &Item) -> Result<SmsPolicy, StoreError> {
    attrs::opt_s(item, SMS_POLICY)?
        .map(|json| {
            serde_json::from_str(json).map_err(|e| StoreError::malformed(SMS_POLICY, e.to_string()))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

impl crate::Businesses<'_> {
    /// A business's SMS policy; `None` when the business does not exist.
    pub async fn sms_policy(&self, business: &BusinessId) -> Result<Option<SmsPolicy>, StoreError> {
        let item = self.profile(business).await?;
        item.as_ref().map(policy_from_item).transpose()
    }

    /// Changes a business's SMS policy with `change`, on the policy as stored (a concurrent
    /// change is read again and `change` applied to it); the new policy, or `None` when the
    /// business does not exist.
    pub async fn update_sms_policy(
        &self,
        business: &BusinessId,
        change: impl Fn(&mut SmsPolicy),
    ) -> Result<Option<SmsPolicy>, StoreError> {
        let changed = self
            .change_profile_setting(business, &SMS_POLICY_SETTING, |policy| {
                change(policy);
                Ok::<_, Infallible>(())
            })
            .await?;
        Ok(changed.map(|policy| policy.unwrap_or_else(|never| match never {})))
    }

    /// The business's SMS counts for the UTC day and month of `now`.
    pub async fn sms_usage(
        &self,
        business: &BusinessId,
        now: Timestamp,
    ) -> Result<SmsUsage, StoreError> {
        let counts = |item: Option<Item>| -> Result<SmsCounts, StoreError> {
            let Some(item) = item else {
                return Ok(SmsCounts::default());
            };
            Ok(SmsCounts {
                sms: attrs::opt_n(&item, "sms")?.unwrap_or(0),
                parts: attrs::opt_n(&item, "parts")?.unwrap_or(0),
                refused: attrs::opt_n(&item, "refused")?.unwrap_or(0),
            })
        };
        let pk = keys::business(business);
        let day = self
            .get_consistent(pk.clone(), period_key(SmsPeriod::Day, now), None)
            .await?;
        let month = self
            .get_consistent(pk, period_key(SmsPeriod::Month, now), None)
            .await?;
        Ok(SmsUsage {
            day: counts(day)?,
            month: counts(month)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_keyed_by_the_utc_day_and_month() {
        // 2026-12-07T23:59:59.999Z and a millisecond later.
        let late = Timestamp::from_millis(1_796_687_999_999);
        assert_eq!(period_key(SmsPeriod::Day, late), "SMSUSE#D#2026-12-07");
        assert_eq!(period_key(SmsPeriod::Month, late), "SMSUSE#M#2026-12");
        let next = Timestamp::from_millis(1_796_688_000_000);
        assert_eq!(period_key(SmsPeriod::Day, next), "SMSUSE#D#2026-12-08");
        let new_year = Timestamp::from_millis(1_798_761_600_000);
        assert_eq!(period_key(SmsPeriod::Month, new_year), "SMSUSE#M#2027-01");
    }

    #[test]
    fn an_absent_policy_is_the_default() {
        let item = Item::new();
        assert_eq!(policy_from_item(&item).unwrap(), SmsPolicy::default());
    }
}
