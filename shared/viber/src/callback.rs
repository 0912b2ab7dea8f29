//! What Viber posts back: user messages and message statuses.
//!
//! Parsed leniently where Viber varies (it adds fields over time; ids come as numbers or
//! strings; times in milliseconds or, through some gateways, seconds) and strictly where the
//! meaning is at stake: a callback without a token, a time, a number or a known status is
//! refused, not half-recorded.
//!
//! ```json
//! {"service_id": 1234, "phone_number": "380501234567", "message_token": 5379697806260881548,
//!  "time": 1700000000123, "message": {"text": "Hi", "tracking_data": "order-42"}}
//! {"message_token": 5379697806260881548, "message_time": 1700000000456, "message_status": 0,
//!  "phone_number": "380501234567", "service_id": 1234}
//! ```

use serde_json::{Map, Value};
use session_rules::{CallbackStatus, PhoneNumber, Timestamp};
use thiserror::Error;

/// A callback body that cannot be used. The codes are the business API's
/// (`invalid_json`, `validation_failed`), so the HTTP layer answers both alike.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackError {
    #[error("the body is not a JSON object: {0}")]
    InvalidJson(String),
    #[error("{field}: {reason}")]
    ValidationFailed { field: &'static str, reason: String },
}

impl CallbackError {
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidJson(_) => "invalid_json",
            CallbackError::ValidationFailed { .. } => "validation_failed",
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CallbackError::ValidationFailed {
            field,
            reason: reason.into(),
        }
    }
}

/// A message a user sent to the business: it opens or continues a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundCallback {
    pub service_id: u64,
    pub phone_number: PhoneNumber,
    /// Viber's id of the user's message; the key for de-duplication.
    pub message_token: String,
    pub time: Timestamp,
    pub message: InboundContent,
}

/// What the user sent. All optional: a sticker or a contact card carries none of these and
/// still counts as the user writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundContent {
    pub text: Option<String>,
    /// The business's tracking data of the message being answered, when Viber echoes it.
    pub tracking_data: Option<String>,
    /// URL of an image, video or file the user sent.
    pub media: Option<String>,
    pub file_name: Option<String>,
}

/// A status of a message the business sent, or the user's (un)subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The token [`crate::SendAnswer::message_token`] returned for the message.
    pub message_token: String,
    pub time: Timestamp,
    pub status: CallbackStatus,
    pub phone_number: Option<PhoneNumber>,
    pub service_id: Option<u64>,
}

impl InboundCallback {
    pub fn parse(raw: &[u8]) -> Result<Self, CallbackError> {
        let body = object(raw)?;
        let message = match get(&body, "message") {
            None => InboundContent::default(),
            Some(Value::Object(m)) => InboundContent {
                text: optional_string(m, "message.text", "text")?,
                tracking_data: optional_string(m, "message.tracking_data", "tracking_data")?,
                media: optional_string(m, "message.media", "media")?,
                file_name: optional_string(m, "message.file_name", "file_name")?,
            },
            Some(_) => return Err(CallbackError::invalid("message", "must be an object")),
        };
        Ok(Self {
            service_id: service_id(required(&body, "service_id")?)?,
            phone_number: phone(required(&body, "phone_number")?)?,
            message_token: token(required(&body, "message_token")?)?,
            time: time(&body, "time", "message_time")?,
            message,
        })
    }
}

impl StatusCallback {
    pub fn parse(raw: &[u8]) -> Result<Self, CallbackError> {
        let body = object(raw)?;
        let code = integer(required(&body, "message_status")?, "message_status")?;
        let status = CallbackStatus::from_code(code).ok_or_else(|| {
            CallbackError::invalid(
                "message_status",
                format!("unknown status {code} (known: 0, 1, 2, 4, 5)"),
            )
        })?;
        Ok(Self {
            message_token: token(required(&body, "message_token")?)?,
            time: time(&body, "message_time", "time")?,
            status,
            phone_number: get(&body, "phone_number").map(phone).transpose()?,
            service_id: get(&body, "service_id").map(service_id).transpose()?,
        })
    }
}

fn object(raw: &[u8]) -> Result<Map<String, Value>, CallbackError> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(CallbackError::InvalidJson(format!(
            "expected an object, got {}",
            kind(&other)
        ))),
        Err(e) => Err(CallbackError::InvalidJson(e.to_string())),
    }
}

/// A field, with `null` taken as absent.
fn get<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

fn required<'a>(
    body: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, CallbackError> {
    get(body, name).ok_or_else(|| CallbackError::invalid(name, "required"))
}

fn optional_string(
    body: &Map<String, Value>,
    field: &'static str,
    name: &str,
) -> Result<Option<String>, CallbackError> {
    match get(body, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(CallbackError::invalid(
            field,
            format!("must be a string, got {}", kind(other)),
        )),
    }
}

/// Longest string token accepted. Viber's are 64-bit integers (20 digits at most) and gateways'
/// string ids are far shorter; the token becomes part of a DynamoDB key (at most 1 KiB), so a
/// longer one would fail the write and be answered as a retryable 503 forever.
pub const MAX_TOKEN_BYTES: usize = 128;

/// Viber's message tokens are 64-bit integers, sent as JSON numbers by some gateways and as
/// strings by others; kept as text, exactly (a JSON number this large is not safe as a float).
/// A string token is visible ASCII only: it goes into keys, events and log fields.
fn token(value: &Value) -> Result<String, CallbackError> {
    match value {
        Value::String(s)
            if (1..=MAX_TOKEN_BYTES).contains(&s.trim().len())
                && s.trim().bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(s.trim().to_owned())
        }
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        _ => Err(CallbackError::invalid(
            "message_token",
            format!("must be an integer or 1 to {MAX_TOKEN_BYTES} visible ASCII characters"),
        )),
    }
}

/// An integer, as a JSON number or a string of digits.
fn integer(value: &Value, field: &'static str) -> Result<i64, CallbackError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| CallbackError::invalid(field, "must be an integer"))
}

fn service_id(value: &Value) -> Result<u64, CallbackError> {
    integer(value, "service_id")
        .ok()
        .and_then(|id| u64::try_from(id).ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| CallbackError::invalid("service_id", "must be a positive integer"))
}

/// Digits, with or without `+`; a JSON number is taken as its digits.
fn phone(value: &Value) -> Result<PhoneNumber, CallbackError> {
    let digits = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => {
            return Err(CallbackError::invalid(
                "phone_number",
                format!("must be a string of digits, got {}", kind(other)),
            ));
        }
    };
    PhoneNumber::parse_viber(&digits)
        .map_err(|refusal| CallbackError::invalid("phone_number", refusal.to_string()))
}

/// The callback's time from the first of two field names present, in epoch milliseconds or
/// seconds (normalised).
fn time(
    body: &Map<String, Value>,
    first: &'static str,
    second: &'static str,
) -> Result<Timestamp, CallbackError> {
    let (field, value) = match (get(body, first), get(body, second)) {
        (Some(v), _) => (first, v),
        (None, Some(v)) => (second, v),
        (None, None) => {
            return Err(CallbackError::invalid(
                first,
                format!("required ('{first}' or '{second}', epoch milliseconds)"),
            ));
        }
    };
    let epoch = integer(value, field)?;
    if epoch <= 0 {
        return Err(CallbackError::invalid(
            field,
            "must be a positive epoch time",
        ));
    }
    Ok(Timestamp::from_epoch_normalised(epoch))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_rules::MessageStatus;

    fn field(err: CallbackError) -> &'static str {
        match err {
            CallbackError::ValidationFailed { field, .. } => field,
            CallbackError::InvalidJson(m) => panic!("expected validation_failed, got {m}"),
        }
    }

    #[test]
    fn realistic_inbound_message() {
        let raw = r#"{
            "message_token": 5379697806260881548,
            "phone_number": "380501234567",
            "time": 1700000000123,
            "message": {"text": "Коли буде доставка?", "tracking_data": "order-42",
                        "sticker_id": 1},
            "service_id": 1234,
            "user_agent": "Viber 21.1",
            "chat_id": 9
        }"#;
        let cb = InboundCallback::parse(raw.as_bytes()).unwrap();
        assert_eq!(cb.service_id, 1234);
        assert_eq!(cb.phone_number.as_e164(), "+380501234567");
        assert_eq!(cb.message_token, "5379697806260881548");
        assert_eq!(cb.time, Timestamp::from_millis(1_700_000_000_123));
        assert_eq!(cb.message.text.as_deref(), Some("Коли буде доставка?"));
        assert_eq!(cb.message.tracking_data.as_deref(), Some("order-42"));
        assert_eq!(cb.message.media, None);
        assert_eq!(cb.message.file_name, None);
    }

    #[test]
    fn inbound_file_with_plus_phone_string_token_and_seconds() {
        let raw = br#"{"service_id": "1234", "phone_number": "+447911123456",
            "message_token": "abc-1", "message_time": 1700000000,
            "message": {"media": "https://media.viber.example/f/1", "file_name": "scan.pdf"}}"#;
        let cb = InboundCallback::parse(raw).unwrap();
        assert_eq!(cb.service_id, 1234);
        assert_eq!(cb.phone_number.as_e164(), "+447911123456");
        assert_eq!(cb.message_token, "abc-1");
        assert_eq!(cb.time, Timestamp::from_millis(1_700_000_000_000));
        assert_eq!(
            cb.message.media.as_deref(),
            Some("https://media.viber.example/f/1")
        );
        assert_eq!(cb.message.file_name.as_deref(), Some("scan.pdf"));
        assert_eq!(cb.message.text, None);
    }

    #[test]
    fn inbound_without_message_content_still_counts() {
        let raw = br#"{"service_id":1,"phone_number":"380501234567","message_token":1,"time":1700000000000}"#;
        let cb = InboundCallback::parse(raw).unwrap();
        assert_eq!(cb.message, InboundContent::default());
        let null_message = br#"{"service_id":1,"phone_number":"380501234567","message_token":1,"time":1700000000000,"message":null}"#;
        assert!(InboundCallback::parse(null_message).is_ok());
    }

    #[test]
    fn inbound_missing_or_bad_fields_are_named() {
        let ok = r#""service_id":1,"phone_number":"380501234567","message_token":7,"time":1700000000000"#;
        let with = |extra: &str| format!("{{{ok}{extra}}}");
        let without = |name: &str| {
            let fields: Vec<&str> = ok
                .split(',')
                .filter(|f| !f.starts_with(&format!("\"{name}\"")))
                .collect();
            format!("{{{}}}", fields.join(","))
        };
        for name in ["service_id", "phone_number", "message_token"] {
            let err = InboundCallback::parse(without(name).as_bytes()).unwrap_err();
            assert_eq!(err.code(), "validation_failed");
            assert_eq!(field(err), name);
        }
        assert_eq!(
            field(InboundCallback::parse(without("time").as_bytes()).unwrap_err()),
            "time"
        );
        for (bad, name) in [
            (r#","message":"hi""#, "message"),
            (r#","message":{"text":5}"#, "message.text"),
            (
                r#","message":{"tracking_data":{}}"#,
                "message.tracking_data",
            ),
        ] {
            assert_eq!(
                field(InboundCallback::parse(with(bad).as_bytes()).unwrap_err()),
                name
            );
        }
        let bad_values = [
            (
                r#"{"service_id":1,"phone_number":"12","message_token":7,"time":1}"#,
                "phone_number",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":"  ","time":1}"#,
                "message_token",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":1.5,"time":1}"#,
                "message_token",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":"a\r\nb","time":1}"#,
                "message_token",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":"tok en","time":1}"#,
                "message_token",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":"жж","time":1}"#,
                "message_token",
            ),
            (
                r#"{"service_id":-3,"phone_number":"380501234567","message_token":7,"time":1}"#,
                "service_id",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":7,"time":"soon"}"#,
                "time",
            ),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message_token":7,"time":0}"#,
                "time",
            ),
        ];
        for (raw, name) in bad_values {
            assert_eq!(
                field(InboundCallback::parse(raw.as_bytes()).unwrap_err()),
                name,
                "{raw}"
            );
        }
    }

    #[test]
    fn string_tokens_are_at_most_128_visible_ascii_bytes() {
        let with_token = |token: &str| {
            format!(
                r#"{{"service_id":1,"phone_number":"380501234567","message_token":"{token}","time":1}}"#
            )
        };
        let longest = "7".repeat(128);
        let cb = InboundCallback::parse(with_token(&longest).as_bytes()).unwrap();
        assert_eq!(cb.message_token, longest);
        let err = InboundCallback::parse(with_token(&"7".repeat(129)).as_bytes()).unwrap_err();
        assert_eq!(field(err), "message_token");
        let status = format!(
            r#"{{"message_token":"{}","message_time":1,"message_status":0}}"#,
            "7".repeat(129)
        );
        assert_eq!(
            field(StatusCallback::parse(status.as_bytes()).unwrap_err()),
            "message_token"
        );
    }

    #[test]
    fn not_json_or_not_an_object_is_invalid_json() {
        for raw in [&b""[..], b"{", b"[1,2]", b"\"text\"", b"null"] {
            let err = InboundCallback::parse(raw).unwrap_err();
            assert_eq!(err.code(), "invalid_json");
            let err = StatusCallback::parse(raw).unwrap_err();
            assert_eq!(err.code(), "invalid_json");
        }
    }

    #[test]
    fn status_codes_map_to_domain_statuses() {
        for (code, expected) in [
            (0, CallbackStatus::Message(MessageStatus::Delivered)),
            (1, CallbackStatus::Message(MessageStatus::Seen)),
            (2, CallbackStatus::Message(MessageStatus::Expired)),
            (4, CallbackStatus::Subscribe),
            (5, CallbackStatus::Unsubscribe),
        ] {
            let raw = format!(
                r#"{{"message_token":5379697806260881548,"message_time":1700000000456,"message_status":{code},"phone_number":"380501234567","service_id":1234}}"#
            );
            let cb = StatusCallback::parse(raw.as_bytes()).unwrap();
            assert_eq!(cb.status, expected);
            assert_eq!(cb.message_token, "5379697806260881548");
            assert_eq!(cb.time, Timestamp::from_millis(1_700_000_000_456));
            assert_eq!(
                cb.phone_number.as_ref().map(PhoneNumber::as_e164),
                Some("+380501234567")
            );
            assert_eq!(cb.service_id, Some(1234));
        }
    }

    #[test]
    fn status_with_only_the_essentials_in_seconds() {
        let cb = StatusCallback::parse(
            br#"{"message_token":"t-1","time":1700000000,"message_status":"1","new_field":[1]}"#,
        )
        .unwrap();
        assert_eq!(cb.status, CallbackStatus::Message(MessageStatus::Seen));
        assert_eq!(cb.time, Timestamp::from_millis(1_700_000_000_000));
        assert_eq!(cb.phone_number, None);
        assert_eq!(cb.service_id, None);
    }

    #[test]
    fn unknown_or_missing_status_is_refused() {
        for (raw, name) in [
            (
                r#"{"message_token":1,"message_time":1700000000000,"message_status":3}"#,
                "message_status",
            ),
            (
                r#"{"message_token":1,"message_time":1700000000000,"message_status":-1}"#,
                "message_status",
            ),
            (
                r#"{"message_token":1,"message_time":1700000000000,"message_status":"seen"}"#,
                "message_status",
            ),
            (
                r#"{"message_token":1,"message_time":1700000000000}"#,
                "message_status",
            ),
            (
                r#"{"message_time":1700000000000,"message_status":0}"#,
                "message_token",
            ),
            (r#"{"message_token":1,"message_status":0}"#, "message_time"),
            (
                r#"{"message_token":1,"message_time":1700000000000,"message_status":0,"phone_number":"abc"}"#,
                "phone_number",
            ),
        ] {
            let err = StatusCallback::parse(raw.as_bytes()).unwrap_err();
            assert_eq!(err.code(), "validation_failed");
            assert!(!err.message().is_empty());
            assert_eq!(field(err), name, "{raw}");
        }
    }
}
