//! Timestamps on the wire: RFC 3339, UTC, milliseconds (`2026-11-21T13:34:24.123Z`).

use serde::Serializer;
use session_rules::Timestamp;

/// `2026-11-21T13:34:24.123Z` ([`Timestamp::rfc3339`]).
pub fn rfc3339(t: Timestamp) -> String {
    t.rfc3339()
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
}
