//! What Viber posts back: user messages and message statuses.
//!
//! Parsed as tolerantly as the public evidence demands (VIBER.md): Viber and partner emulators
//! add fields over time; tokens come as strings or as JSON numbers above 2^53 (kept as their
//! exact digits, never through a float); ids come as numbers or strings; phone numbers with or
//! without `+`; times in milliseconds or, through some gateways, seconds. A user message may come
//! without a token or a time (only `phone_number` and `message.text` are evidenced publicly): it
//! is still a user message, de-duplicated on a key derived from its sender and content
//! ([`InboundCallback::dedupe_key`]). A `message_status` code nobody documents is
//! [`CallbackStatus::Unknown`], not an error. The user's message itself is never refused: what
//! it carries beyond the known fields (or in them, typed otherwise) is kept for the business
//! ([`InboundContent::extra`]); a list's answer, whose shape no public source fixes, is
//! one. What still cannot be used is an error here, and the
//! callback functions keep it whole in the quarantine rather than refusing it.
//!
//! ```json
//! {"service_id": 1234, "phone_number": "380501234567", "message_token": 5379697806260881548,
//!  "time": 1700000000123, "message": {"text": "Hi", "tracking_data": "order-42"}}
//! {"message_token": "5379697806260881548", "message_time": 1700000000456, "message_status": 0,
//!  "phone_number": "380501234567", "service_id": 1234}
//! ```

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use session_rules::{CallbackStatus, PhoneNumber, Timestamp};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A callback body that cannot be used. The codes are the business API's
/// (`invalid_json`, `validation_failed`), so logs and the quarantine name both alike.
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
    /// Viber's id of the user's message, when it sends one (unverified: no public source shows
    /// it on user messages).
    pub message_token: Option<String>,
    /// When the user sent it, when Viber says (unverified as well).
    pub time: Option<Timestamp>,
    pub message: InboundContent,
}

/// What the user sent. All optional: a sticker or a contact card carries none of these and
/// still counts as the user writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct InboundContent {
    pub text: Option<String>,
    /// The business's tracking data of the message being answered, when Viber echoes it.
    pub tracking_data: Option<String>,
    /// URL of an image, video or file the user sent.
    pub media: Option<String>,
    pub file_name: Option<String>,
    /// Whatever else the message carried, as a JSON object's text: fields no public source
    /// shows (how a list answer or a sticker may come) and known fields of an unexpected
    /// type. Kept for the business rather than refused: our reading must never lose what
    /// the user sent.
    pub extra: Option<String>,
}

/// A status of a message the business sent, or the user's (un)subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The token [`crate::SendAnswer::message_token`] returned for the message.
    pub message_token: String,
    /// Viber's time; without one, the receiver takes its own.
    pub time: Option<Timestamp>,
    pub status: CallbackStatus,
    pub phone_number: Option<PhoneNumber>,
    pub service_id: Option<u64>,
}

/// How far apart two identical user messages without Viber's token and time must arrive to
/// count as two: within one window of the receive clock they are one message redelivered. A
/// redelivery straddling a window boundary is kept twice (a duplicate, never a loss).
pub const DERIVED_KEY_WINDOW_MS: i64 = 3_600_000;

/// The prefix of a de-duplication key derived from a message's content; never a Viber token
/// (those are digits or a gateway's id, and ours contains `:`).
pub const DERIVED_KEY_PREFIX: &str = "derived:";

impl InboundCallback {
    pub fn parse(raw: &[u8]) -> Result<Self, CallbackError> {
        let body = object(raw)?;
        let message = match get(&body, "message") {
            None => InboundContent::default(),
            Some(Value::Object(m)) => content(m),
            Some(_) => return Err(CallbackError::invalid("message", "must be an object")),
        };
        Ok(Self {
            service_id: service_id(required(&body, "service_id")?)?,
            phone_number: phone(required(&body, "phone_number")?)?,
            message_token: optional_token(raw, &body)?,
            time: optional_time(&body, "time", "message_time")?,
            message,
        })
    }

    /// What de-duplicates this message: Viber's token when it sent one; else a key derived from
    /// the sender, the content and Viber's time, or, without a time, the window of
    /// [`DERIVED_KEY_WINDOW_MS`] it was `received` in. Visible ASCII, at most
    /// [`MAX_TOKEN_BYTES`].
    pub fn dedupe_key(&self, received: Timestamp) -> String {
        if let Some(token) = &self.message_token {
            return token.clone();
        }
        let mut hash = Sha256::new();
        let mut part = |tag: &str, value: Option<&str>| {
            // Tagged and length-prefixed: no two different messages hash the same input.
            hash.update(tag.as_bytes());
            match value {
                None => hash.update(b"-"),
                Some(v) => {
                    hash.update((v.len() as u64).to_be_bytes());
                    hash.update(v.as_bytes());
                }
            }
        };
        part("service", Some(&self.service_id.to_string()));
        part("phone", Some(self.phone_number.as_e164()));
        part("text", self.message.text.as_deref());
        part("media", self.message.media.as_deref());
        part("file", self.message.file_name.as_deref());
        part("tracking", self.message.tracking_data.as_deref());
        // Only when present: the keys of messages without it stay what they always were.
        if let Some(extra) = &self.message.extra {
            part("extra", Some(extra));
        }
        let when = match self.time {
            Some(t) => format!("viber:{}", t.as_millis()),
            None => format!(
                "window:{}",
                received.as_millis().div_euclid(DERIVED_KEY_WINDOW_MS)
            ),
        };
        part("time", Some(&when));
        let digest = hash.finalize();
        format!("{DERIVED_KEY_PREFIX}{}", hex::encode(&digest[..16]))
    }

    /// When the user sent it: Viber's time, or `received` without one.
    pub fn sent_at(&self, received: Timestamp) -> Timestamp {
        self.time.unwrap_or(received)
    }
}

impl StatusCallback {
    pub fn parse(raw: &[u8]) -> Result<Self, CallbackError> {
        let body = object(raw)?;
        let code = integer(required(&body, "message_status")?, "message_status")?;
        Ok(Self {
            message_token: optional_token(raw, &body)?
                .ok_or_else(|| CallbackError::invalid("message_token", "required"))?,
            time: optional_time(&body, "message_time", "time")?,
            status: CallbackStatus::from_code(code),
            phone_number: get(&body, "phone_number").map(phone).transpose()?,
            service_id: get(&body, "service_id").map(service_id).transpose()?,
        })
    }

    /// When it happened: Viber's time, or `received` without one.
    pub fn at(&self, received: Timestamp) -> Timestamp {
        self.time.unwrap_or(received)
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

/// The user's message, read without refusing anything: the known fields as text (a number or
/// a boolean as its JSON text), everything else kept in [`InboundContent::extra`].
fn content(message: &Map<String, Value>) -> InboundContent {
    let mut out = InboundContent::default();
    let mut extra = Map::new();
    for (name, value) in message {
        let slot = match name.as_str() {
            "text" => &mut out.text,
            "tracking_data" => &mut out.tracking_data,
            "media" => &mut out.media,
            "file_name" => &mut out.file_name,
            _ => {
                extra.insert(name.clone(), value.clone());
                continue;
            }
        };
        match value {
            Value::Null => {}
            Value::String(s) => *slot = Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => *slot = Some(value.to_string()),
            Value::Array(_) | Value::Object(_) => {
                extra.insert(name.clone(), value.clone());
            }
        }
    }
    if !extra.is_empty() {
        out.extra = Some(Value::Object(extra).to_string());
    }
    out
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

/// Longest token accepted. Viber's are 64-bit integers (20 digits at most) and gateways'
/// string ids are far shorter; the token becomes part of a DynamoDB key (at most 1 KiB), so a
/// longer one would fail the write and be answered as a retryable 503 forever.
pub const MAX_TOKEN_BYTES: usize = 128;

/// The raw text of `message_token`: a JSON number is read from the body's own digits, since
/// serde_json's `Value` keeps integers beyond 64 bits only as a rounded float.
#[derive(Deserialize)]
struct RawToken<'a> {
    #[serde(borrow, default)]
    message_token: Option<&'a RawValue>,
}

/// Viber's message token, kept as text, exactly: a JSON integer as its digits (whatever its
/// size), a string trimmed. A string token is visible ASCII only: it goes into keys, events and
/// log fields.
fn optional_token(raw: &[u8], body: &Map<String, Value>) -> Result<Option<String>, CallbackError> {
    let refused = || {
        CallbackError::invalid(
            "message_token",
            format!("must be an integer or 1 to {MAX_TOKEN_BYTES} visible ASCII characters"),
        )
    };
    match get(body, "message_token") {
        None => Ok(None),
        Some(Value::String(s))
            if (1..=MAX_TOKEN_BYTES).contains(&s.trim().len())
                && s.trim().bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(s.trim().to_owned()))
        }
        Some(Value::Number(_)) => {
            let digits = serde_json::from_slice::<RawToken<'_>>(raw)
                .ok()
                .and_then(|t| t.message_token)
                .map(|t| t.get().trim())
                .ok_or_else(refused)?;
            let unsigned = digits.strip_prefix('-').unwrap_or(digits);
            let integer = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
            if integer && digits.len() <= MAX_TOKEN_BYTES {
                Ok(Some(digits.to_owned()))
            } else {
                Err(refused())
            }
        }
        Some(_) => Err(refused()),
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

/// The service id a callback's body names at its top level, read as the parsers read it; `None`
/// when the body is not a JSON object or names none (a valid one). For the callback
/// authentication, before the body is parsed for what it says.
pub fn named_service_id(body: &[u8]) -> Option<u64> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("service_id").and_then(|id| service_id(id).ok())
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
/// seconds (normalised); `None` when neither is there.
fn optional_time(
    body: &Map<String, Value>,
    first: &'static str,
    second: &'static str,
) -> Result<Option<Timestamp>, CallbackError> {
    let (field, value) = match (get(body, first), get(body, second)) {
        (Some(v), _) => (first, v),
        (None, Some(v)) => (second, v),
        (None, None) => return Ok(None),
    };
    let epoch = integer(value, field)?;
    if epoch <= 0 {
        return Err(CallbackError::invalid(
            field,
            "must be a positive epoch time",
        ));
    }
    Ok(Some(Timestamp::from_epoch_normalised(epoch)))
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
    use proptest::prelude::*;
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
        assert_eq!(cb.message_token.as_deref(), Some("5379697806260881548"));
        assert_eq!(cb.time, Some(Timestamp::from_millis(1_700_000_000_123)));
        assert_eq!(cb.message.text.as_deref(), Some("Коли буде доставка?"));
        assert_eq!(cb.message.tracking_data.as_deref(), Some("order-42"));
        assert_eq!(cb.message.media, None);
        assert_eq!(cb.message.file_name, None);
        let received = Timestamp::from_millis(1_800_000_000_000);
        assert_eq!(cb.dedupe_key(received), "5379697806260881548");
        assert_eq!(
            cb.sent_at(received),
            Timestamp::from_millis(1_700_000_000_123)
        );
    }

    #[test]
    fn inbound_file_with_plus_phone_string_token_and_seconds() {
        let raw = br#"{"service_id": "1234", "phone_number": "+447911123456",
            "message_token": "abc-1", "message_time": 1700000000,
            "message": {"media": "https://media.viber.example/f/1", "file_name": "scan.pdf"}}"#;
        let cb = InboundCallback::parse(raw).unwrap();
        assert_eq!(cb.service_id, 1234);
        assert_eq!(cb.phone_number.as_e164(), "+447911123456");
        assert_eq!(cb.message_token.as_deref(), Some("abc-1"));
        assert_eq!(cb.time, Some(Timestamp::from_millis(1_700_000_000_000)));
        assert_eq!(
            cb.message.media.as_deref(),
            Some("https://media.viber.example/f/1")
        );
        assert_eq!(cb.message.file_name.as_deref(), Some("scan.pdf"));
        assert_eq!(cb.message.text, None);
    }

    #[test]
    fn tokens_beyond_64_bits_keep_every_digit() {
        // 2^64 + 1 and a 30-digit token: through an f64 both would lose their last digits.
        for token in ["18446744073709551617", "123456789012345678901234567891"] {
            let inbound = format!(
                r#"{{"service_id":1,"phone_number":"380501234567","message_token":{token},"time":1700000000000}}"#
            );
            let cb = InboundCallback::parse(inbound.as_bytes()).unwrap();
            assert_eq!(cb.message_token.as_deref(), Some(token));
            let status = format!(
                r#"{{"message_token": {token} ,"message_time":1700000000000,"message_status":0}}"#
            );
            assert_eq!(
                StatusCallback::parse(status.as_bytes())
                    .unwrap()
                    .message_token,
                token
            );
        }
        // 2^53 + 1, the first integer a float cannot hold.
        let cb = StatusCallback::parse(
            br#"{"message_token":9007199254740993,"message_time":1,"message_status":1}"#,
        )
        .unwrap();
        assert_eq!(cb.message_token, "9007199254740993");
    }

    #[test]
    fn a_user_message_without_token_or_time_is_still_a_user_message() {
        let raw = br#"{"service_id":1,"phone_number":"380501234567","message":{"text":"Hi"}}"#;
        let cb = InboundCallback::parse(raw).unwrap();
        assert_eq!(cb.message_token, None);
        assert_eq!(cb.time, None);
        let received = Timestamp::from_millis(1_700_000_000_000);
        assert_eq!(cb.sent_at(received), received);
        let key = cb.dedupe_key(received);
        assert!(key.starts_with(DERIVED_KEY_PREFIX), "{key}");
        assert!(key.len() <= MAX_TOKEN_BYTES && key.bytes().all(|b| b.is_ascii_graphic()));
        // A redelivery within the window is the same message; later, or other content, or
        // another sender, is another one.
        let later = |ms: i64| Timestamp::from_millis(received.as_millis() + ms);
        let window_start = Timestamp::from_millis(
            received.as_millis().div_euclid(DERIVED_KEY_WINDOW_MS) * DERIVED_KEY_WINDOW_MS,
        );
        assert_eq!(cb.dedupe_key(window_start), key);
        assert_ne!(
            cb.dedupe_key(Timestamp::from_millis(
                window_start.as_millis() + DERIVED_KEY_WINDOW_MS
            )),
            key
        );
        let other_text =
            br#"{"service_id":1,"phone_number":"380501234567","message":{"text":"Hi!"}}"#;
        assert_ne!(
            InboundCallback::parse(other_text)
                .unwrap()
                .dedupe_key(received),
            key
        );
        let other_user =
            br#"{"service_id":1,"phone_number":"380501234568","message":{"text":"Hi"}}"#;
        assert_ne!(
            InboundCallback::parse(other_user)
                .unwrap()
                .dedupe_key(received),
            key
        );
        // Text "" and no text differ.
        let empty = br#"{"service_id":1,"phone_number":"380501234567","message":{"text":""}}"#;
        let none = br#"{"service_id":1,"phone_number":"380501234567"}"#;
        assert_ne!(
            InboundCallback::parse(empty).unwrap().dedupe_key(received),
            InboundCallback::parse(none).unwrap().dedupe_key(received)
        );
        // With Viber's time but no token, the time decides, not the receive clock.
        let timed = br#"{"service_id":1,"phone_number":"380501234567","time":1700000000000,"message":{"text":"Hi"}}"#;
        let timed = InboundCallback::parse(timed).unwrap();
        assert_eq!(
            timed.dedupe_key(received),
            timed.dedupe_key(later(DERIVED_KEY_WINDOW_MS * 5))
        );
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
        for (raw, name) in [
            (r#"{"phone_number":"380501234567"}"#, "service_id"),
            (r#"{"service_id":1}"#, "phone_number"),
            (
                r#"{"service_id":1,"phone_number":"380501234567","message":"hi"}"#,
                "message",
            ),
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
                r#"{"service_id":1,"phone_number":"380501234567","message_token":5e18,"time":1}"#,
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
        ] {
            assert_eq!(
                field(InboundCallback::parse(raw.as_bytes()).unwrap_err()),
                name,
                "{raw}"
            );
        }
    }

    #[test]
    fn tokens_are_at_most_128_visible_ascii_bytes() {
        let with_token = |token: &str| {
            format!(
                r#"{{"service_id":1,"phone_number":"380501234567","message_token":"{token}","time":1}}"#
            )
        };
        let longest = "7".repeat(128);
        let cb = InboundCallback::parse(with_token(&longest).as_bytes()).unwrap();
        assert_eq!(cb.message_token.as_deref(), Some(longest.as_str()));
        let err = InboundCallback::parse(with_token(&"7".repeat(129)).as_bytes()).unwrap_err();
        assert_eq!(field(err), "message_token");
        for token in [format!("\"{}\"", "7".repeat(129)), "7".repeat(129)] {
            let status =
                format!(r#"{{"message_token":{token},"message_time":1,"message_status":0}}"#);
            assert_eq!(
                field(StatusCallback::parse(status.as_bytes()).unwrap_err()),
                "message_token"
            );
        }
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
            (3, CallbackStatus::Unknown(3)),
            (17, CallbackStatus::Unknown(17)),
            (-1, CallbackStatus::Unknown(-1)),
        ] {
            let raw = format!(
                r#"{{"message_token":5379697806260881548,"message_time":1700000000456,"message_status":{code},"phone_number":"380501234567","service_id":1234}}"#
            );
            let cb = StatusCallback::parse(raw.as_bytes()).unwrap();
            assert_eq!(cb.status, expected);
            assert_eq!(cb.message_token, "5379697806260881548");
            assert_eq!(cb.time, Some(Timestamp::from_millis(1_700_000_000_456)));
            assert_eq!(
                cb.phone_number.as_ref().map(PhoneNumber::as_e164),
                Some("+380501234567")
            );
            assert_eq!(cb.service_id, Some(1234));
        }
    }

    #[test]
    fn status_with_only_the_essentials() {
        let cb = StatusCallback::parse(
            br#"{"message_token":"t-1","time":1700000000,"message_status":"1","new_field":[1]}"#,
        )
        .unwrap();
        assert_eq!(cb.status, CallbackStatus::Message(MessageStatus::Seen));
        assert_eq!(cb.time, Some(Timestamp::from_millis(1_700_000_000_000)));
        assert_eq!(cb.phone_number, None);
        assert_eq!(cb.service_id, None);
        // No time: the receiver's clock.
        let cb = StatusCallback::parse(br#"{"message_token":"t-1","message_status":0}"#).unwrap();
        assert_eq!(cb.time, None);
        let now = Timestamp::from_millis(1_700_000_000_999);
        assert_eq!(cb.at(now), now);
    }

    #[test]
    fn unusable_statuses_are_errors() {
        for (raw, name) in [
            (
                r#"{"message_token":1,"message_time":1700000000000,"message_status":"seen"}"#,
                "message_status",
            ),
            (
                r#"{"message_token":1,"message_time":1700000000000,"message_status":1.5}"#,
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

    /// How a token travels: a JSON number (only digits fit) or a string.
    #[derive(Debug, Clone)]
    enum Spelling {
        Number,
        String,
    }

    fn token_and_spelling() -> impl Strategy<Value = (String, Spelling)> {
        prop_oneof![
            // Digits of any size up to the limit, beyond 2^53 and 2^64 included.
            "[1-9][0-9]{0,40}".prop_map(|t| (t, Spelling::Number)),
            "[1-9][0-9]{0,40}".prop_map(|t| (t, Spelling::String)),
            "[A-Za-z0-9_.:-]{1,64}".prop_map(|t| (t, Spelling::String)),
        ]
    }

    /// Epoch milliseconds from 2001 to 2286, sent as milliseconds or as whole seconds.
    fn time_and_unit() -> impl Strategy<Value = (i64, bool)> {
        (1_000_000_000i64..9_999_999_999, any::<bool>(), 0i64..1000)
            .prop_map(|(secs, in_ms, ms)| (secs * 1000 + if in_ms { ms } else { 0 }, in_ms))
    }

    proptest! {
        /// Both token encodings and both time units parse to the same token text and the same
        /// instant, in both callbacks.
        #[test]
        fn both_token_encodings_and_both_time_units_parse(
            (token, spelling) in token_and_spelling(),
            (millis, in_ms) in time_and_unit(),
            code in prop_oneof![Just(0i64), Just(1), Just(2), Just(4), Just(5), -5i64..100],
            plus in any::<bool>(),
        ) {
            let token_json = match spelling {
                Spelling::Number => token.clone(),
                Spelling::String => format!("\"{token}\""),
            };
            let time_json = if in_ms { millis } else { millis / 1000 };
            let phone = if plus { "+380501234567" } else { "380501234567" };
            let status = format!(
                r#"{{"message_token":{token_json},"message_time":{time_json},"message_status":{code},"service_id":7,"phone_number":"{phone}","extra":{{"x":[1]}}}}"#
            );
            let cb = StatusCallback::parse(status.as_bytes()).unwrap();
            prop_assert_eq!(&cb.message_token, &token);
            prop_assert_eq!(cb.time, Some(Timestamp::from_millis(millis)));
            prop_assert_eq!(cb.status, CallbackStatus::from_code(code));
            prop_assert_eq!(cb.service_id, Some(7));
            prop_assert_eq!(cb.phone_number.as_ref().map(PhoneNumber::as_e164), Some("+380501234567"));

            let inbound = format!(
                r#"{{"service_id":7,"phone_number":"{phone}","message_token":{token_json},"time":{time_json},"message":{{"text":"hi","sticker":1}}}}"#
            );
            let cb = InboundCallback::parse(inbound.as_bytes()).unwrap();
            prop_assert_eq!(cb.message_token.as_deref(), Some(token.as_str()));
            prop_assert_eq!(cb.time, Some(Timestamp::from_millis(millis)));
            prop_assert_eq!(cb.dedupe_key(Timestamp::from_millis(1)), token);
        }
    }

    /// A list's answer: what the public sources show (the option's text, the list's tracking
    /// data echoed) and what they do not (other fields, other value types) all reach the
    /// business; nothing Viber sends is refused for being shaped otherwise than we expect.
    #[test]
    fn a_list_answer_is_kept_whatever_its_shape() {
        let answer = br#"{"service_id":1,"phone_number":"380501234567","message_token":9,"time":1700000000000,
            "message":{"text":"Late","tracking_data":"vbm-list:01JD0000000000000000000000:order-42"}}"#;
        let cb = InboundCallback::parse(answer).unwrap();
        assert_eq!(cb.message.text.as_deref(), Some("Late"));
        assert_eq!(
            cb.message.tracking_data.as_deref(),
            Some("vbm-list:01JD0000000000000000000000:order-42")
        );
        assert_eq!(cb.message.extra, None);

        let odd = br#"{"service_id":1,"phone_number":"380501234567",
            "message":{"text":2,"tracking_data":42,"list_reply":{"index":1,"title":"Late"},"media":["x"]}}"#;
        let cb = InboundCallback::parse(odd).unwrap();
        assert_eq!(cb.message.text.as_deref(), Some("2"));
        assert_eq!(cb.message.tracking_data.as_deref(), Some("42"));
        assert_eq!(cb.message.media, None);
        let extra: Value = serde_json::from_str(cb.message.extra.as_deref().unwrap()).unwrap();
        assert_eq!(
            extra,
            serde_json::json!({"list_reply": {"index": 1, "title": "Late"}, "media": ["x"]})
        );
        // Two answers differing only in what we do not read are two messages.
        let other = br#"{"service_id":1,"phone_number":"380501234567",
            "message":{"text":2,"tracking_data":42,"list_reply":{"index":2,"title":"Late"},"media":["x"]}}"#;
        let received = Timestamp::from_millis(1_700_000_000_000);
        assert_ne!(
            cb.dedupe_key(received),
            InboundCallback::parse(other).unwrap().dedupe_key(received)
        );
    }
}
