//! What makes two send requests "the same" for `Idempotency-Key`: their canonical JSON.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The body re-serialized with object keys sorted (recursively) and no insignificant
/// whitespace: the same JSON written with keys in another order or other spacing gives the
/// same text. It is also the payload stored for `dispatch`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
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
}
