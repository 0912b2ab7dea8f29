//! Delivery windows in the recipient's local time.
//!
//! The time zone comes from the number's country (`PhoneNumber::region`) through a fixed table
//! of UTC offsets: standard (winter) time, **no daylight saving**, so in summer a window opens an
//! hour later by the clock in countries that shift (documented in docs/api.md). A country with
//! several zones uses its capital's (US: Washington, RU: Moscow, AU: Canberra, BR: Brasília,
//! CA: Ottawa, MX: Mexico City, ID: Jakarta, KZ: Astana). A country not in the table is taken
//! as UTC. Small and dependency-free on purpose; a tz database would cost a crate and its data
//! in every cold start for an hour's precision twice a year.

use std::time::Duration;

use session_rules::{PhoneNumber, Timestamp};
use vbm_store::Window;

/// Minutes east of UTC, standard time, by ISO 3166 country.
#[rustfmt::skip]
const OFFSETS: &[(&str, i32)] = &[
    ("AE", 240), ("AF", 270), ("AM", 240), ("AR", -180), ("AT", 60), ("AU", 600),
    ("AZ", 240), ("BD", 360), ("BE", 60), ("BG", 120), ("BH", 180), ("BR", -180),
    ("BY", 180), ("CA", -300), ("CH", 60), ("CL", -240), ("CN", 480), ("CO", -300),
    ("CY", 120), ("CZ", 60), ("DE", 60), ("DK", 60), ("EE", 120), ("EG", 120),
    ("ES", 60), ("FI", 120), ("FR", 60), ("GB", 0), ("GE", 240), ("GR", 120),
    ("HK", 480), ("HR", 60), ("HU", 60), ("ID", 420), ("IE", 0), ("IL", 120),
    ("IN", 330), ("IQ", 180), ("IR", 210), ("IT", 60), ("JO", 180), ("JP", 540),
    ("KE", 180), ("KG", 360), ("KH", 420), ("KR", 540), ("KW", 180), ("KZ", 300),
    ("LA", 420), ("LB", 120), ("LK", 330), ("LT", 120), ("LV", 120), ("MA", 60),
    ("MD", 120), ("MM", 390), ("MX", -360), ("MY", 480), ("NG", 60), ("NL", 60),
    ("NO", 60), ("NP", 345), ("NZ", 720), ("OM", 240), ("PE", -300), ("PH", 480),
    ("PK", 300), ("PL", 60), ("PT", 0), ("QA", 180), ("RO", 120), ("RS", 60),
    ("RU", 180), ("SA", 180), ("SE", 60), ("SG", 480), ("SI", 60), ("SK", 60),
    ("TH", 420), ("TJ", 300), ("TM", 300), ("TR", 180), ("TW", 480), ("UA", 120),
    ("US", -300), ("UZ", 300), ("VE", -240), ("VN", 420), ("ZA", 120),
];

/// The number's offset from UTC in minutes (0 when its country is not in the table).
pub fn utc_offset_minutes(to: &PhoneNumber) -> i32 {
    to.region()
        .and_then(|r| OFFSETS.iter().find(|(c, _)| *c == r))
        .map_or(0, |(_, m)| *m)
}

/// `None` when `now` is inside the window at the number's local time, else when it next opens
/// (on the minute).
pub fn wait_until(window: Window, to: &PhoneNumber, now: Timestamp) -> Option<Timestamp> {
    let offset = i64::from(utc_offset_minutes(to));
    let minute_now = now.as_millis().div_euclid(60_000);
    let local = (minute_now + offset).rem_euclid(1440) as u32;
    let (start, end) = (window.start_minute % 1440, window.end_minute);
    let inside = if start < end {
        (start..end).contains(&local)
    } else {
        local >= start || local < end
    };
    if inside {
        return None;
    }
    let delta = (i64::from(start) - i64::from(local)).rem_euclid(1440) as u64;
    Some(Timestamp::from_millis(minute_now * 60_000).plus(Duration::from_secs(delta * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64, m: i64) -> Timestamp {
        // 2026-12-01 is day 20788 since the epoch.
        Timestamp::from_millis(((20_788 * 24 + h) * 60 + m) * 60_000)
    }

    const DAY: Window = Window {
        start_minute: 9 * 60,
        end_minute: 20 * 60,
    };

    #[test]
    fn the_window_is_the_recipients_local_time() {
        let kyiv = PhoneNumber::parse("+380501234567").unwrap();
        let london = PhoneNumber::parse("+447911123456").unwrap();
        assert_eq!(utc_offset_minutes(&kyiv), 120);
        // 07:30 UTC is 09:30 in Kyiv (open) and 07:30 in London (opens at 09:00 UTC).
        assert_eq!(wait_until(DAY, &kyiv, at(7, 30)), None);
        assert_eq!(wait_until(DAY, &london, at(7, 30)), Some(at(9, 0)));
        // 18:30 UTC is 20:30 in Kyiv: closed until 07:00 UTC tomorrow.
        assert_eq!(wait_until(DAY, &kyiv, at(18, 30)), Some(at(24 + 7, 0)));
        assert_eq!(wait_until(DAY, &london, at(19, 59)), None);
        assert_eq!(wait_until(DAY, &london, at(20, 0)), Some(at(24 + 9, 0)));
    }

    #[test]
    fn a_window_may_wrap_past_midnight() {
        let night = Window {
            start_minute: 22 * 60,
            end_minute: 6 * 60,
        };
        let london = PhoneNumber::parse("+447911123456").unwrap();
        assert_eq!(wait_until(night, &london, at(23, 0)), None);
        assert_eq!(wait_until(night, &london, at(5, 59)), None);
        assert_eq!(wait_until(night, &london, at(6, 0)), Some(at(22, 0)));
    }

    #[test]
    fn the_table_is_sorted_and_unique() {
        assert!(OFFSETS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
