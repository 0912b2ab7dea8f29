//! Timestamps on the wire: RFC 3339, UTC, milliseconds (`2026-11-21T13:34:24.123Z`).

use serde::Serializer;
use session_rules::{Timestamp, civil_from_days, days_from_civil};

/// `2026-11-21T13:34:24.123Z` ([`Timestamp::rfc3339`]).
pub fn rfc3339(t: Timestamp) -> String {
    t.rfc3339()
}

/// Parses an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as [`rfc3339`] writes
/// and as OpenAPI's `format: date-time` means), to the millisecond (finer fractions are cut).
/// A leap second (`:60`) counts as the next second. `None` for anything else (a missing zone,
/// an impossible date such as February 30).
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = bytes.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    // Bytes 0..19 are ASCII, so 19 is a character boundary.
    let rest = &text[19..];
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(after) => {
            let len = after.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            let millis = format!("{:0<3}", &after[..len.min(3)]);
            (millis.parse::<i64>().ok()?, &after[len..])
        }
        None => (0, rest),
    };
    let offset_minutes = match zone.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: &u8, b: &u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(h1, h2)?, two(m1, m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    let days = days_from_civil(year, month, day);
    // An impossible day (February 30) lands on another date: refuse it.
    if day == 0 || civil_from_days(days) != (year, month, day) {
        return None;
    }
    let local = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + fraction;
    Some(Timestamp::from_millis(local - offset_minutes * 60_000))
}

/// `#[serde(serialize_with = "vbm_platform::time::serialize")]` for a [`Timestamp`] field.
pub fn serialize<S: Serializer>(t: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*t))
}

/// `#[serde(serialize_with = "vbm_platform::time::serialize_option")]`: `null` when absent.
pub fn serialize_option<S: Serializer>(
    t: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serializer.serialize_str(&rfc3339(*t)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(
            rfc3339(Timestamp::from_millis(0)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_795_786_464_123)),
            "2026-11-27T13:34:24.123Z"
        );
        // A leap day and the last millisecond of a year.
        assert_eq!(
            rfc3339(Timestamp::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_767_225_599_999)),
            "2025-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(-1)),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn parses_what_it_writes_and_refuses_the_rest() {
        for millis in [0, -1, 951_782_400_000, 1_795_786_464_123, 1_767_225_599_999] {
            let t = Timestamp::from_millis(millis);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-11-27T13:34:24Z"),
            Some(Timestamp::from_millis(1_795_786_464_000))
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T13:34:24.1234567Z"),
            Some(Timestamp::from_millis(1_795_786_464_123))
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T13:34:24.5Z"),
            Some(Timestamp::from_millis(1_795_786_464_500))
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T15:34:24.123+02:00"),
            Some(Timestamp::from_millis(1_795_786_464_123))
        );
        assert_eq!(
            parse_rfc3339("2026-11-27t12:04:24.123456789123-01:30"),
            Some(Timestamp::from_millis(1_795_786_464_123))
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            Some(Timestamp::from_millis(-62_135_596_800_000))
        );
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T13:34:24",
            "2026-11-27T13:34:24+2:00",
            "2026-11-27T13:34:24+24:00",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T13:34:24.Z",
            "2026-11-27 13:34:24Z",
            "+026-11-27T13:34:24Z",
            "2026-11-27T13:34:24Zjunk",
            "2026-11-27T13:34:2éZ",
            "2026-12-01T09:00:00é0000",
            "2026-12-01T09:00:00+0é:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Whatever a request carries, the parser answers and never panics: arbitrary text,
        /// and valid times with one character swapped for any other (a multi-byte one lands
        /// inside the fixed positions the parser reads).
        #[test]
        fn never_panics(text in ".{0,40}", millis in -62_135_596_800_000i64..253_402_300_799_999, at in 0usize..30, c in proptest::char::any()) {
            let _ = parse_rfc3339(&text);
            let mut chars: Vec<char> = rfc3339(Timestamp::from_millis(millis)).chars().collect();
            if at < chars.len() {
                chars[at] = c;
            } else {
                chars.push(c);
            }
            let mutated: String = chars.into_iter().collect();
            let _ = parse_rfc3339(&mutated);
            let offset = format!("{}{c}0000", &rfc3339(Timestamp::from_millis(millis))[..19]);
            let _ = parse_rfc3339(&offset);
        }
    }
}
