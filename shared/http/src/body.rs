//! JSON request bodies: a size limit, then syntax, then shape.

use lambda_http::Body;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ApiError;

/// Largest body the APIs read: 64 KiB (a send request is a few hundred bytes; the largest
/// legitimate one, 1000 characters of text plus tracking data, is well under this).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads a body as JSON of any shape: `413 payload_too_large` over [`MAX_BODY_BYTES`],
/// `400 invalid_json` for an empty body, a syntax error or a duplicate object key.
pub fn read_json_value(body: &Body) -> Result<Value, ApiError> {
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_json(format!("the request body is not valid JSON: {e}")))?;
    reject_duplicate_keys(bytes)?;
    Ok(value)
}

/// `400 invalid_json` naming the first key that appears twice in one object (see
/// [`duplicate_key`](crate::duplicate_key)); the API bodies and the Viber callbacks both use it.
pub fn reject_duplicate_keys(bytes: &[u8]) -> Result<(), ApiError> {
    match crate::duplicate_key(bytes) {
        None => Ok(()),
        Some(path) => Err(ApiError::invalid_json(format!(
            "the key `{path}` appears twice in one object; every key must be unique"
        ))),
    }
}

/// Reads parsed JSON as `T`. Wrong types, unknown fields and missing fields are
/// `422 validation_failed`, with serde's message and the path of the offending field
/// (`file.url`) in `field` where there is one.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // The path ends at the offending field, except for a missing one, which serde names
        // only in the message.
        let missing = backticked(&message).filter(|_| message.starts_with("missing field"));
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => Some(name.to_owned()),
            (".", None) => None,
            (path, Some(name)) => Some(format!("{path}.{name}")),
            (path, None) => Some(path.to_owned()),
        };
        ApiError::validation_failed(field.as_deref(), message)
    })
}

/// Both steps: [`read_json_value`] then [`from_value`].
pub fn read_json<T: DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    from_value(&read_json_value(body)?)
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        to: String,
        file: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        url: String,
    }

    fn read(text: &str) -> Result<Probe, ApiError> {
        read_json(&Body::from(text))
    }

    fn field(e: &ApiError) -> Option<&str> {
        e.details.as_ref()?.get("field")?.as_str()
    }

    #[test]
    fn syntax_and_empty_are_invalid_json() {
        for text in [
            "",
            "  ",
            "{",
            r#"{"to": }"#,
            "nope",
            r#"{"to":"a"} trailing"#,
            r#"{"to":"a","to":"b"}"#,
            r#"{"to":"a","file":{"url":"x","url":"y"}}"#,
        ] {
            let e = read(text).unwrap_err();
            assert_eq!(
                (e.code, e.status.as_u16()),
                ("invalid_json", 400),
                "{text:?}"
            );
        }
    }

    #[test]
    fn shape_errors_are_validation_failed_with_the_field() {
        let e = read(r#"{"to": 5}"#).unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("validation_failed", 422));
        assert_eq!(field(&e), Some("to"));
        assert!(e.message.contains("invalid type"));

        let e = read(r#"{"to": "x", "colour": "red"}"#).unwrap_err();
        assert_eq!(field(&e), Some("colour"));
        assert!(e.message.contains("unknown field"));

        let e = read(r#"{}"#).unwrap_err();
        assert_eq!(field(&e), Some("to"));

        let e = read(r#"{"to": "x", "file": {"url": 1}}"#).unwrap_err();
        assert_eq!(field(&e), Some("file.url"));

        let e = read(r#"{"to": "x", "file": {}}"#).unwrap_err();
        assert_eq!(field(&e), Some("file.url"));

        let e = read(r#""text""#).unwrap_err();
        assert_eq!((e.code, field(&e)), ("validation_failed", None));
    }

    #[test]
    fn the_limit_is_64_kib() {
        let padding = " ".repeat(MAX_BODY_BYTES - 10);
        let at_limit = format!(r#"{{"to":"x"}}{padding}"#);
        assert_eq!(at_limit.len(), MAX_BODY_BYTES);
        assert!(read(&at_limit).is_ok());
        let over = format!("{at_limit} ");
        let e = read(&over).unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("payload_too_large", 413));
    }
}
