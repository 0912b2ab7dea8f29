//! Delivery windows in the recipient's local time: the wall-clock hours the recipient sees,
//! daylight saving included.
//!
//! The time zone comes from the number ([`crate::zones`]: its region where the numbering plan
//! says which, else its country, else UTC). A window `[start, end)` is minutes of the local
//! day; `now` is inside when the recipient's clock shows a minute in it. When it is outside, the
//! recipient waits for the next local day-time `start`: on a day whose clock skips `start` (the
//! spring-forward gap) the window opens at the first minute after the gap, and on a day whose
//! clock shows it twice (fall back) at the first of the two, so nobody gets a message at an
//! hour the window excludes, and nobody waits a day for an opening that the clock skipped.

use jiff::tz::TimeZone;
use session_rules::campaign::Window;
use session_rules::{PhoneNumber, Timestamp};

use crate::zones;

/// `None` when `now` is inside the window at the number's local time, else when it next opens
/// (on the minute).
pub fn wait_until(window: Window, to: &PhoneNumber, now: Timestamp) -> Option<Timestamp> {
    wait_until_in(window, zones::of(to), now)
}

/// [`wait_until`] for a time zone.
pub fn wait_until_in(window: Window, zone: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let minute_now = now.as_millis().div_euclid(60_000);
    // Outside jiff's range (years -9999..=9999): no such clock exists here; send.
    let at = jiff::Timestamp::from_second(minute_now.checked_mul(60)?).ok()?;
    let local = zone.to_datetime(at);
    let local_minute =
        u32::from(local.hour().unsigned_abs()) * 60 + u32::from(local.minute().unsigned_abs());
    if window.contains(local_minute) {
        return None;
    }
    let start = window.start_minute % 1440;
    // The next local `start` after now: today's (if the clock has not reached it), or the next
    // day's. `compatible` maps a skipped time past the gap and a repeated one to its first
    // occurrence; when that first one is already past (now is in the repeated hour), the second.
    let (hour, minute) = ((start / 60) as i8, (start % 60) as i8); // start < 1440
    let mut day = local.date();
    for _ in 0..3 {
        let ambiguous = zone.to_ambiguous_timestamp(day.at(hour, minute, 0, 0));
        for opens in [ambiguous.compatible(), ambiguous.later()] {
            if let Ok(opens) = opens
                && opens > at
            {
                return Some(Timestamp::from_millis(opens.as_millisecond()));
            }
        }
        day = day.tomorrow().ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 (day 20788 since the epoch) at h:m UTC.
    fn at(h: i64, m: i64) -> Timestamp {
        on(20_788, h, m)
    }

    fn on(day: i64, h: i64, m: i64) -> Timestamp {
        Timestamp::from_millis(((day * 24 + h) * 60 + m) * 60_000)
    }

    /// Days since the epoch of a date in 2026.
    fn day_2026(month: u32, day: u32) -> i64 {
        session_rules::days_from_civil(2026, month, day)
    }

    const DAY: Window = Window {
        start_minute: 9 * 60,
        end_minute: 20 * 60,
    };

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    #[test]
    fn the_window_is_the_recipients_local_time() {
        let kyiv = number("+380501234567");
        let london = number("+447911123456");
        // December: Kyiv is UTC+2, London UTC. 07:30 UTC is 09:30 in Kyiv (open) and 07:30 in
        // London (opens at 09:00 UTC).
        assert_eq!(wait_until(DAY, &kyiv, at(7, 30)), None);
        assert_eq!(wait_until(DAY, &london, at(7, 30)), Some(at(9, 0)));
        // 18:30 UTC is 20:30 in Kyiv: closed until 07:00 UTC tomorrow.
        assert_eq!(wait_until(DAY, &kyiv, at(18, 30)), Some(at(24 + 7, 0)));
        assert_eq!(wait_until(DAY, &london, at(19, 59)), None);
        assert_eq!(wait_until(DAY, &london, at(20, 0)), Some(at(24 + 9, 0)));
    }

    #[test]
    fn in_summer_the_window_follows_daylight_saving() {
        // July: London is UTC+1, Kyiv UTC+3. 08:30 UTC is 09:30 in London: open (a
        // standard-time table said 08:30, closed).
        let july = day_2026(7, 1);
        let london = number("+447911123456");
        let kyiv = number("+380501234567");
        assert_eq!(wait_until(DAY, &london, on(july, 8, 30)), None);
        assert_eq!(
            wait_until(DAY, &london, on(july, 7, 30)),
            Some(on(july, 8, 0))
        );
        assert_eq!(
            wait_until(DAY, &kyiv, on(july, 5, 59)),
            Some(on(july, 6, 0))
        );
        assert_eq!(wait_until(DAY, &kyiv, on(july, 16, 59)), None);
        assert_eq!(
            wait_until(DAY, &kyiv, on(july, 17, 0)),
            Some(on(july + 1, 6, 0))
        );
    }

    #[test]
    fn spring_forward_the_window_opens_at_the_new_wall_clock_time() {
        // Europe: 2026-03-29, 01:00 UTC, clocks go from 02:00 to 03:00 in Berlin (UTC+1 → +2).
        let mar28 = day_2026(3, 28);
        let berlin = number("+4915123456789");
        // Saturday 20:00 local (19:00 UTC) closes; Sunday 09:00 local is 07:00 UTC, not 08:00.
        assert_eq!(
            wait_until(DAY, &berlin, on(mar28, 19, 0)),
            Some(on(mar28 + 1, 7, 0))
        );
        // Sunday 07:30 UTC is 09:30 local: open; 18:00 UTC is 20:00: closed until Monday 07:00.
        assert_eq!(wait_until(DAY, &berlin, on(mar28 + 1, 7, 30)), None);
        assert_eq!(
            wait_until(DAY, &berlin, on(mar28 + 1, 18, 0)),
            Some(on(mar28 + 2, 7, 0))
        );
        // A window opening inside the gap (02:30 does not exist that night) opens at the
        // first minute after it, 03:30 local, 01:30 UTC.
        let night = Window {
            start_minute: 2 * 60 + 30,
            end_minute: 5 * 60,
        };
        assert_eq!(
            wait_until(night, &berlin, on(mar28, 23, 0)),
            Some(on(mar28 + 1, 1, 30))
        );
        assert_eq!(wait_until(night, &berlin, on(mar28 + 1, 1, 30)), None);
    }

    #[test]
    fn fall_back_the_window_opens_at_the_new_wall_clock_time() {
        // US: 2026-11-01, 06:00 UTC, New York goes from 02:00 EDT back to 01:00 EST (UTC-4 → -5).
        let oct31 = day_2026(10, 31);
        let new_york = number("+12125550123");
        // Saturday 20:00 EDT (00:00 UTC Sunday) closes; Sunday 09:00 EST is 14:00 UTC.
        assert_eq!(
            wait_until(DAY, &new_york, on(oct31 + 1, 0, 0)),
            Some(on(oct31 + 1, 14, 0))
        );
        assert_eq!(
            wait_until(DAY, &new_york, on(oct31 + 1, 13, 59)),
            Some(on(oct31 + 1, 14, 0))
        );
        assert_eq!(wait_until(DAY, &new_york, on(oct31 + 1, 14, 0)), None);
        // 01:30 happens twice that night: a window opening then opens at the first, 05:30 UTC;
        // in the repeated hour (06:30 UTC, 01:30 EST) it is open again.
        let night = Window {
            start_minute: 60 + 30,
            end_minute: 2 * 60,
        };
        assert_eq!(
            wait_until(night, &new_york, on(oct31 + 1, 5, 0)),
            Some(on(oct31 + 1, 5, 30))
        );
        assert_eq!(wait_until(night, &new_york, on(oct31 + 1, 5, 45)), None);
        assert_eq!(
            wait_until(night, &new_york, on(oct31 + 1, 6, 0)),
            Some(on(oct31 + 1, 6, 30))
        );
        assert_eq!(wait_until(night, &new_york, on(oct31 + 1, 6, 45)), None);
    }

    #[test]
    fn a_window_may_wrap_past_midnight() {
        let night = Window {
            start_minute: 22 * 60,
            end_minute: 6 * 60,
        };
        let london = number("+447911123456");
        assert_eq!(wait_until(night, &london, at(23, 0)), None);
        assert_eq!(wait_until(night, &london, at(5, 59)), None);
        assert_eq!(wait_until(night, &london, at(6, 0)), Some(at(22, 0)));
    }
}
