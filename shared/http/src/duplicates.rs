//! Duplicate object keys in JSON: refused everywhere we read JSON from outside.
//!
//! serde_json keeps the last of two equal keys; a WAF, a log reader or another parser may keep
//! the first, and then they see a different request than the one we act on. Keys are compared
//! after unescaping (`"a"` and `"\u0061"` are the same key), at any depth.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The first duplicate key in `bytes` with its path (`template.params.name`), or `None`.
///
/// Only duplicates are this function's business: a body that is not JSON at all (or nested
/// deeper than serde_json's limit) gives `None` here and its error from the real parser.
pub fn duplicate_key(bytes: &[u8]) -> Option<String> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Check {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

struct Check<'a> {
    path: String,
    found: &'a RefCell<Option<String>>,
}

impl Check<'_> {
    fn child(&self, segment: &str) -> String {
        if self.path.is_empty() {
            segment.to_owned()
        } else {
            format!("{}.{segment}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            if !seen.insert(key) {
                *self.found.borrow_mut() = Some(path);
                // Stop here: the rest of the document does not matter any more.
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Check {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(Check {
                path: self.child(&index.to_string()),
                found: self.found,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_at_any_depth_and_after_unescaping() {
        for (text, path) in [
            (r#"{"to":"a","to":"b"}"#, "to"),
            (r#"{"a":{"b":1,"b":2}}"#, "a.b"),
            (r#"{"a":[{"x":1},{"y":1,"y":1}]}"#, "a.1.y"),
            (r#"{"t":{"p":{"n":"x","\u006e":"y"}}}"#, "t.p.n"),
            (r#"[[[[{"k":1,"k":1}]]]]"#, "0.0.0.0.k"),
        ] {
            assert_eq!(
                duplicate_key(text.as_bytes()).as_deref(),
                Some(path),
                "{text}"
            );
        }
        let mut deep = String::new();
        for _ in 0..100 {
            deep.push_str(r#"{"a":"#);
        }
        deep.push_str(r#"{"z":1,"z":2}"#);
        deep.push_str(&"}".repeat(100));
        assert!(duplicate_key(deep.as_bytes()).is_some_and(|p| p.ends_with("a.z")));
    }

    #[test]
    fn equal_keys_in_different_objects_and_non_json_are_not_duplicates() {
        for text in [
            r#"{"a":{"k":1},"b":{"k":1},"k":[{"k":1},{"k":2}]}"#,
            r#"{"A":1,"a":2}"#,
            r#"["a","a"]"#,
            "not json",
            r#"{"a":1,"b":"#,
            "",
        ] {
            assert_eq!(duplicate_key(text.as_bytes()), None, "{text}");
        }
    }
}
