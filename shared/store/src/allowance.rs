//! Fixed-window allowances: at most `limit` uses of something per business per window.
//!
//! | item      | pk               | sk                                |
//! |-----------|------------------|-----------------------------------|
//! | allowance | `BIZ#{business}` | `ALLOW#{what}#{window start, s}`  |
//!
//! One conditional `UpdateItem` per use (`ADD uses 1` while `uses < limit`), so concurrent
//! callers in any number of containers never get past the limit together. A new window is a new
//! item; the old one expires by TTL a window later. Used for the replay calls of
//! `POST /v1/events/replay` and the upload slots of `POST /v1/campaigns/uploads`.

use std::time::Duration;

use session_rules::Timestamp;

use crate::attrs::n;
use crate::cancelled::conditional;
use crate::{BusinessId, StoreError, keys};

/// What is counted, and how many uses a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// A short name, part of the item's key (`replay`, `upload`).
    pub what: &'static str,
    pub limit: u32,
    pub window: Duration,
}

/// The answer to one use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Granted,
    /// The window's uses are spent: the next window starts in `retry_after`.
    Refused {
        retry_after: Duration,
    },
}

impl Allowance {
    /// The start of the window `now` falls in, and the time left in it (at least a second).
    pub fn window_of(&self, now: Timestamp) -> (i64, Duration) {
        let window_ms = i64::try_from(self.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let start = now.as_millis().div_euclid(window_ms) * window_ms;
        let left_ms = u64::try_from(start + window_ms - now.as_millis()).unwrap_or(0);
        (start / 1000, Duration::from_millis(left_ms.max(1000)))
    }
}

impl crate::Allowances<'_> {
    /// Takes one use of `allowance` for `business` at `now`, atomically.
    pub async fn take_allowance(
        &self,
        business: &BusinessId,
        allowance: &Allowance,
        now: Timestamp,
    ) -> Result<Use, StoreError> {
        let (start, left) = allowance.window_of(now);
        let expires = now.plus(left).plus(allowance.window).as_secs();
        let answer = self
            .update_business_item(business, keys::allowance(allowance.what, start))
            .update_expression("ADD uses :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(uses) OR uses < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":limit", n(allowance.limit))
            .send()
            .await;
        Ok(match conditional(answer)? {
            Some(_) => Use::Granted,
            None => Use::Refused { retry_after: left },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_say_what_is_left() {
        let a = Allowance {
            what: "replay",
            limit: 10,
            window: Duration::from_secs(60),
        };
        assert_eq!(
            a.window_of(Timestamp::from_millis(120_000)),
            (120, Duration::from_secs(60))
        );
        assert_eq!(
            a.window_of(Timestamp::from_millis(179_500)),
            (120, Duration::from_secs(1))
        );
        assert_eq!(
            a.window_of(Timestamp::from_millis(150_000)),
            (120, Duration::from_secs(30))
        );
    }
}
