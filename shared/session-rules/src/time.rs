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

    /// `2026-11-21T13:34:24.123Z`. Years outside 0000..=9999 are clamped (no such timestamps exist
    /// in this system; the clamp only keeps the output well-formed).
    pub fn rfc3339(self) -> String {
        const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        let millis = self.0.clamp(MIN, MAX);
        let days = millis.div_euclid(86_400_000);
        let in_day = millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000
        )
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Howard Hinnant's `days_from_civil`, the inverse of [`civil_from_days`]: (year, month, day) to
/// days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn every_day_for_a_thousand_years_round_trips() {
        // days_from_civil (the inverse) checks civil_from_days day by day.
        let mut previous = None;
        for days in -200_000..200_000 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days);
            if let Some(p) = previous {
                assert!((y, m, d) > p);
            }
            previous = Some((y, m, d));
        }
    }
}
