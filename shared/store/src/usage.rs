//! A business's usage counters: per UTC day, in shards, moved in the very write that moves
//! what they count, so a retried request, a redelivered job, a repeated callback or a replay
//! (whose write changes nothing, or is cancelled) counts nothing twice.
//!
//! | item        | pk               | sk                           | attributes                          |
//! |-------------|------------------|------------------------------|-------------------------------------|
//! | usage shard | `BIZ#{business}` | `USAGE#{yyyy-mm-dd}#{shard}` | the counters (`session_rules::usage`), `expires_at` |
//!
//! Where each counter moves (always one `Update` of one shard, added to the transaction that
//! makes the change):
//! - the send transaction (`send.rs`), a campaign batch (`campaign_admit.rs`, one shard per
//!   transaction for all its recipients: a transaction may touch an item once) and a held
//!   message's release (`held.rs`): `accepted_{category}`, `billable_{category}` and its
//!   destination country's `{CC}.{c}`, and `campaign_recipients` for a campaign's;
//! - every status move (`dispatch.rs`'s `accepted → sent|failed|cancelled`, `status.rs`'s
//!   callbacks): `status_{new}` +1 and `status_{prior}` −1 in the transaction conditioned on
//!   the exact prior status, in the shard of the message id;
//! - a user message that opens a new session (`inbound.rs`): `sessions_opened`;
//! - an SMS failover's claim (`failover.rs`, the write that counts it against the SMS caps):
//!   `sms_failovers`, `sms_parts` and the destination country's `{CC}.sms`.
//!
//! Everything counts on the UTC day the change is written (the store's `now`).
//!
//! **Shards.** [`SHARDS`] items a day: a busy business's writes spread over them (shard of the
//! message id, the user message's token, or the campaign batch's first message), so none is
//! hot (DynamoDB takes about 1,000 writes a second per item). A transaction that meets another
//! one on the same shard is cancelled with `TransactionConflict` and tried again
//! ([`send_retrying`]). A range is read with one `Query` (pages of 1 MB): a year of a business
//! is at most 366 × 16 small items.
//!
//! **Cost.** An item in a transaction costs 2 write units: each counted change adds 2 WCU
//! (its shard's update), and a status callback of a single send, which was one `UpdateItem`,
//! becomes a transaction of the message and its shard (the message's units doubled, plus 2).
//! The country counters are attributes of the same update, not another item; an item's write is
//! billed per KB of it, and a busy shard with 50 country and category pairs is still under 1 KB
//! (a unit test below measures it: 597 bytes without them, 947 with).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use session_rules::Timestamp;
use session_rules::usage::{Day, Usage, UsageRange};

use crate::attrs::{self, n, s};
use crate::cancelled::Cancelled;
use crate::{BusinessId, Store, StoreError, keys};

/// Shards per business and day: 16 items take ~16,000 counted changes a second.
pub const SHARDS: u32 = 16;

const PREFIX: &str = "USAGE#";
/// How long a day's counters are kept: two years and a little, for invoicing.
const KEPT_SECS: i64 = 800 * 86_400;
/// Tries of a transaction cancelled only by another one on the same items.
const CONFLICT_TRIES: u32 = 8;

/// The shard a change counts in: FNV-1a of what it is about (a message id, a token).
pub(crate) fn shard_of(key: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % SHARDS
}

fn sk(day: Day, shard: u32) -> String {
    format!("{PREFIX}{day}#{shard:02}")
}

/// What one write moves on the usage counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UsageMove(BTreeMap<String, i64>);

impl UsageMove {
    pub(crate) fn of(moves: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut this = Self::default();
        for (name, v) in moves {
            this.add(name, v);
        }
        this
    }

    pub(crate) fn add(&mut self, name: String, v: i64) {
        *self.0.entry(name).or_default() += v;
    }

    /// A status move: +1 to `to`, −1 to `from` (`None`: from `accepted`, counted nowhere).
    pub(crate) fn status(from: Option<&str>, to: &str) -> Self {
        let mut this = Self::default();
        this.add(session_rules::usage::status(to), 1);
        if let Some(from) = from {
            this.add(session_rules::usage::status(from), -1);
        }
        this
    }
}

/// `request` sent, and sent again (a few times, after a short jittered pause) while it is
/// cancelled only because another transaction held one of its items: with the usage shards
/// every business's writes share a few items, which real DynamoDB does not let two
/// transactions change at once. Any other answer is the caller's.
pub(crate) async fn send_retrying(
    request: TransactWriteItemsFluentBuilder,
) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError, HttpResponse>> {
    let mut tries = 0;
    loop {
        tries += 1;
        let answer = request.clone().send().await;
        let conflict_only = match &answer {
            Err(err) => Cancelled::of(err).is_some_and(|c| c.conflict_only()),
            Ok(_) => false,
        };
        if !conflict_only || tries >= CONFLICT_TRIES {
            return answer;
        }
        let spread: u64 = 5 << tries.min(6);
        tokio::time::sleep(Duration::from_millis(5 + rand::random_range(0..spread))).await;
    }
}

impl Store {
    /// The `Update` of the shard `shard_key` counts in, on `now`'s day, for the transaction
    /// that makes the change; `None` when it moves nothing.
    pub(crate) fn usage_update(
        &self,
        business: &BusinessId,
        shard_key: &str,
        now: Timestamp,
        moves: &UsageMove,
    ) -> Result<Option<Update>, StoreError> {
        let moves: Vec<(&String, &i64)> = moves.0.iter().filter(|(_, v)| **v != 0).collect();
        if moves.is_empty() {
            return Ok(None);
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(sk(Day::of(now), shard_of(shard_key))))
            .expression_attribute_values(":kept", n(now.as_secs() + KEPT_SECS));
        let mut adds = Vec::with_capacity(moves.len());
        for (i, (name, v)) in moves.into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#u{i}"), name.as_str())
                .expression_attribute_values(format!(":u{i}"), n(v));
            adds.push(format!("#u{i} :u{i}"));
        }
        update
            .update_expression(format!(
                "SET {} = if_not_exists({}, :kept) ADD {}",
                keys::EXPIRES_AT,
                keys::EXPIRES_AT,
                adds.join(", ")
            ))
            .build()
            .map(Some)
            .map_err(StoreError::build)
    }
}

impl crate::Businesses<'_> {
    /// A business's usage over `range`, per period in order (a period without any counted
    /// change is there, empty): one consistent `Query` over the range's day shards, paged.
    pub async fn usage(
        &self,
        business: &BusinessId,
        range: &UsageRange,
    ) -> Result<Vec<(String, Usage)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::business(business)))
            .expression_attribute_values(":lo", s(format!("{PREFIX}{}#", range.from)))
            .expression_attribute_values(":hi", s(format!("{PREFIX}{}#~", range.to)))
            .consistent_read(true);
        let mut periods: BTreeMap<String, Usage> = range
            .periods()
            .into_iter()
            .map(|p| (p, Usage::default()))
            .collect();
        for item in attrs::query_all(query).await? {
            let key = attrs::get_s(&item, keys::SK)?;
            let day = key
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('#').next())
                .and_then(Day::parse)
                .ok_or_else(|| StoreError::malformed(key, "not a usage shard"))?;
            let usage = periods.entry(range.granularity.period_of(day)).or_default();
            for (name, value) in &item {
                if name == keys::EXPIRES_AT {
                    continue;
                }
                if let AttributeValue::N(v) = value {
                    let v: i64 = v.parse().map_err(|_| {
                        StoreError::malformed(key, format!("{name} is not a count"))
                    })?;
                    usage.add(name, v);
                }
            }
        }
        Ok(periods
            .into_iter()
            .map(|(period, usage)| (period, usage.without_zeros()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sort_by_day_then_shard_within_the_range_bounds() {
        let day = Day::parse("2026-12-07").unwrap();
        assert_eq!(sk(day, 3), "USAGE#2026-12-07#03");
        assert!(sk(day, 0).as_str() > "USAGE#2026-12-07#");
        assert!(sk(day, SHARDS - 1).as_str() < "USAGE#2026-12-07#~");
        assert!(sk(day.next(), 0).as_str() > "USAGE#2026-12-07#~");
    }

    /// An attribute's size as DynamoDB bills it: its name's bytes, and a string's UTF-8 bytes or
    /// a number's 1 byte per two significant digits and 1.
    fn billed_size(name: &str, value: &AttributeValue) -> usize {
        name.len()
            + match value {
                AttributeValue::S(s) => s.len(),
                AttributeValue::N(v) => {
                    let digits = v.trim_start_matches('-').trim_matches('0').len().max(1);
                    digits.div_ceil(2) + 1
                }
                _ => unreachable!("a shard holds strings and numbers"),
            }
    }

    /// The country counters sit in the shard item every counted change rewrites, and a write
    /// is billed per KB of the item: a busy day's shard (the longest business id, every
    /// category, nine statuses, six-digit counts) with 50 country and category pairs stays
    /// under 1 KB, so the counters cost no write unit more.
    #[test]
    fn a_busy_shard_with_fifty_countries_stays_under_a_kilobyte() {
        use session_rules::usage::{
            CAMPAIGN_RECIPIENTS, SESSIONS_OPENED, SMS_FAILOVERS, SMS_PARTS, accepted, billable,
            billable_in, status,
        };
        use session_rules::{BillingCategory, Country};
        let business = "b".repeat(64);
        let mut item: Vec<(String, AttributeValue)> = vec![
            (
                keys::PK.into(),
                s(keys::business(&BusinessId::parse(&business).unwrap())),
            ),
            (
                keys::SK.into(),
                s(sk(Day::parse("2026-12-07").unwrap(), 15)),
            ),
            (keys::EXPIRES_AT.into(), n(1_865_000_000)),
        ];
        let count = || n(987_654);
        for c in BillingCategory::ALL {
            item.push((accepted(c), count()));
            item.push((billable(c), count()));
        }
        for s in [
            "sent",
            "delivered",
            "seen",
            "expired",
            "cancelled",
            "failed_SRVC_NOT_VIBER_USER",
            "failed_SRVC_USER_BLOCKED",
            "failed_SRVC_NOT_SUBSCRIBED_USER",
            "failed_SRVC_FAILED",
        ] {
            item.push((status(s), n(-98_765)));
        }
        for name in [
            SESSIONS_OPENED,
            SMS_FAILOVERS,
            SMS_PARTS,
            CAMPAIGN_RECIPIENTS,
        ] {
            item.push((name.to_owned(), count()));
        }
        let size = |item: &[(String, AttributeValue)]| -> usize {
            item.iter().map(|(k, v)| billed_size(k, v)).sum()
        };
        let before = size(&item);
        let countries = [
            "DE", "AT", "CH", "FR", "IT", "ES", "PL", "UA", "GB", "US", "NL", "BE", "CZ",
        ];
        let mut pairs = 0;
        'fill: for code in countries {
            for c in BillingCategory::ALL {
                if pairs == 50 {
                    break 'fill;
                }
                item.push((billable_in(c, Country::parse(code).unwrap()), n(9_999)));
                pairs += 1;
            }
        }
        assert_eq!(pairs, 50);
        let after = size(&item);
        assert!(
            after < 1024,
            "{before} bytes, {after} with {pairs} country pairs"
        );
        assert!((after - before) / pairs <= 8, "{before} → {after}");
    }

    #[test]
    fn a_status_move_adds_to_the_new_and_takes_from_the_prior() {
        let m = UsageMove::status(Some("sent"), "delivered");
        assert_eq!(m.0["status_sent"], -1);
        assert_eq!(m.0["status_delivered"], 1);
        assert_eq!(UsageMove::status(None, "sent").0.len(), 1);
    }
}
