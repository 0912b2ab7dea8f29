//! What makes two send requests "the same" for `Idempotency-Key`: their canonical JSON.
//!
//! Two bodies are the same request when they parse to the same JSON value once
//! - object keys are sorted (key order and whitespace do not matter; escapes are resolved:
//!   `"\u0068i"` is `"hi"`);
//! - numbers are compared by value: a whole number is written as an integer whatever its
//!   spelling (`3600`, `3600.0`, `36e2` and `3.6E3` are one number), any other number as the
//!   shortest text of its IEEE-754 double (`0.5` and `5e-1` are one number);
//! - `to` is the E.164 number it names (`+4407911123456` is `+447911123456`).
//!
//! Everything else counts: string content and case, a field present or absent, array order.

use serde_json::{Number, Value};
use session_rules::PhoneNumber;
use sha2::{Digest, Sha256};

/// The canonical text of a send request whose `to` parsed as `to`: also the payload stored
/// for `dispatch` (which parses it again, so nothing it reads may change meaning).
pub fn canonical_request(value: &Value, to: &PhoneNumber) -> String {
    let mut value = value.clone();
    if let Some(field) = value.get_mut("to") {
        *field = Value::String(to.as_e164().to_owned());
    }
    canonical_json(&value)
}

/// The body re-serialized with object keys sorted (recursively), numbers normalised (module
/// docs) and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// A number as one spelling: integers stay as they are, a whole float within `i64`/`u64` becomes
/// that integer, anything else stays the double serde_json parsed (written shortest).
fn normal_number(number: &Number) -> String {
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    match number.as_f64() {
        // Exact: |f| < 2^63 (or 2^64 when positive) converts without rounding, and a whole
        // f64 of that size is exactly the integer it prints as.
        Some(f) if f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63) => {
            (f as i64).to_string()
        }
        Some(f) if f.fract() == 0.0 && f >= 0.0 && f < 2f64.powi(64) => (f as u64).to_string(),
        _ => number.to_string(),
    }
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Number(number) => out.push_str(&normal_number(number)),
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// SHA-256 of the canonical JSON, hex: what the idempotency record compares.
pub fn request_hash(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(text: &str) -> String {
        request_hash(&canonical_json(&serde_json::from_str(text).unwrap()))
    }

    #[test]
    fn key_order_and_spacing_do_not_matter() {
        let a = r#"{"to":"+380501234567","type":"template","template":{"id":"t","params":{"a":"1","b":"2"}}}"#;
        let b = r#"{ "template": {"params": {"b": "2", "a": "1"}, "id": "t"},
                    "type": "template", "to": "+380501234567" }"#;
        assert_eq!(hash_of(a), hash_of(b));
        assert_eq!(
            canonical_json(&serde_json::from_str(b).unwrap()),
            r#"{"template":{"id":"t","params":{"a":"1","b":"2"}},"to":"+380501234567","type":"template"}"#
        );
        assert_eq!(hash_of(a).len(), 64);
    }

    #[test]
    fn any_difference_in_content_does() {
        let base = hash_of(r#"{"to":"+380501234567","type":"session","text":"hi"}"#);
        for other in [
            r#"{"to":"+380501234567","type":"session","text":"hi "}"#,
            r#"{"to":"+380501234568","type":"session","text":"hi"}"#,
            r#"{"to":"+380501234567","type":"session","text":"hi","ttl_seconds":60}"#,
        ] {
            assert_ne!(hash_of(other), base, "{other}");
        }
        // Escapes are normalised by parsing: "\u0068i" is "hi".
        assert_eq!(
            hash_of(r#"{"to":"+380501234567","type":"session","text":"\u0068i"}"#),
            base
        );
    }

    #[test]
    fn numbers_are_compared_by_value_whatever_their_spelling() {
        let canon = |n: &str| canonical_json(&serde_json::from_str(n).unwrap());
        for same in ["3600", "3600.0", "36e2", "3.6E3", "360000e-2", "3600.000"] {
            assert_eq!(canon(same), "3600", "{same}");
        }
        for same in ["0", "-0", "0.0", "-0.0", "0e5"] {
            assert_eq!(canon(same), "0", "{same}");
        }
        assert_eq!(canon("-5.0"), "-5");
        assert_eq!(canon("0.5"), canon("5e-1"));
        assert_eq!(canon("0.5"), "0.5");
        assert_ne!(canon("3600.5"), canon("3600"));
        // Beyond every integer type it stays a double; 2^64 is no u64.
        assert_eq!(
            canon("18446744073709551616"),
            canon("1.8446744073709552e19")
        );
        assert_eq!(canon("18446744073709551615"), "18446744073709551615");
        assert_eq!(canon("9223372036854775807"), "9223372036854775807");
        assert_eq!(canon("-9223372036854775808.0"), "-9223372036854775808");
        let ttl = |t: &str| {
            hash_of(&format!(
                r#"{{"to":"+380501234567","type":"session","text":"hi","ttl_seconds":{t}}}"#
            ))
        };
        assert_eq!(ttl("3600"), ttl("3600.0"));
        assert_eq!(ttl("3600"), ttl("3.6e3"));
        assert_ne!(ttl("3600"), ttl("3601"));
    }

    #[test]
    fn the_recipient_is_compared_as_the_number_it_names() {
        // What `to` says is replaced by the parsed number: the same number is one request.
        let value: Value =
            serde_json::from_str(r#"{"to":"+447911123456","type":"session","text":"hi"}"#).unwrap();
        let other = PhoneNumber::parse("+447911123457").unwrap();
        assert_eq!(
            canonical_request(&value, &PhoneNumber::parse("+447911123456").unwrap()),
            r#"{"text":"hi","to":"+447911123456","type":"session"}"#
        );
        assert_eq!(
            canonical_request(&value, &other),
            r#"{"text":"hi","to":"+447911123457","type":"session"}"#
        );
        // The national trunk prefix written after the country code names the same number.
        let spelt: Value =
            serde_json::from_str(r#"{"to":"+4407911123456","type":"session","text":"hi"}"#)
                .unwrap();
        let to = PhoneNumber::parse("+4407911123456").unwrap();
        assert_eq!(
            canonical_request(&spelt, &to),
            r#"{"text":"hi","to":"+447911123456","type":"session"}"#
        );
    }
}
