use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// The crate never reads a clock; callers pass `now` in, which is what lets the local stack move
/// time forward and the tests walk through a day in a microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Viber sends epoch milliseconds, some gateways seconds: anything below 10^11 (a date in
    /// 1973 as milliseconds, in 5138 as seconds) is taken as seconds.
    pub const fn from_epoch_normalised(value: i64) -> Self {
        // unsigned_abs: i64::MIN has no i64 absolute value.
        if value.unsigned_abs() < 100_000_000_000 {
            Self::from_secs(value)
        } else {
            Self(value)
        }
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(duration)))
    }

    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(duration)))
    }
}

pub(crate) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_are_normalised() {
        assert_eq!(
            Timestamp::from_epoch_normalised(1_700_000_000),
            Timestamp::from_millis(1_700_000_000_000)
        );
        assert_eq!(
            Timestamp::from_epoch_normalised(1_700_000_000_123),
            Timestamp::from_millis(1_700_000_000_123)
        );
    }

    #[test]
    fn normalising_the_extremes_does_not_overflow() {
        assert_eq!(
            Timestamp::from_epoch_normalised(i64::MIN),
            Timestamp::from_millis(i64::MIN)
        );
        assert_eq!(
            Timestamp::from_epoch_normalised(-1),
            Timestamp::from_millis(-1000)
        );
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let end = Timestamp::from_millis(i64::MAX - 1).plus(Duration::from_secs(10));
        assert_eq!(end.as_millis(), i64::MAX);
    }
}
