//! What Viber posts to `/viber/inbound` and `/viber/status`: both parsers, and the callback
//! authentication (the HMAC signature over the raw body, and the source-CIDR allowlist).
//!
//! Input: the raw callback body. The same bytes are also tried as the signature header and as
//! the configured CIDR list, the two other strings the authentication reads.

use std::net::IpAddr;

use serde_json::Value;
use session_rules::{CallbackStatus, MessageStatus, PhoneNumber, Timestamp};
use viber::{AuthFailure, CallbackAuth, InboundCallback, StatusCallback, sign};

const SECRET: &str = "fuzz-viber-secret";

pub fn check(data: &[u8]) {
    let json = serde_json::from_slice::<Value>(data).ok();
    let inbound = InboundCallback::parse(data);
    let status = StatusCallback::parse(data);

    let object = json.as_ref().and_then(Value::as_object);
    for error in [inbound.as_ref().err(), status.as_ref().err()]
        .into_iter()
        .flatten()
    {
        // invalid_json exactly when the body is not a JSON object.
        assert_eq!(
            error.code() == "invalid_json",
            object.is_none(),
            "{error:?}"
        );
    }
    // A numeric token is read from its own digits (never through a float), so a respelling
    // through `Value` only keeps the meaning while every token fits 64 bits.
    let token_fits = object
        .and_then(|o| o.get("message_token"))
        .is_none_or(|t| !t.is_number() || t.is_u64() || t.is_i64());
    if let (Some(value), true) = (&json, token_fits) {
        // The parsers read the JSON value, not its spelling: re-serialised, it parses the same.
        let respelled = serde_json::to_vec(value).unwrap_or_default();
        assert_eq!(InboundCallback::parse(&respelled), inbound);
        assert_eq!(StatusCallback::parse(&respelled), status);
    }
    if let Ok(callback) = &inbound {
        assert!(callback.service_id > 0);
        callback.message_token.iter().for_each(|t| check_token(t));
        callback.time.into_iter().for_each(check_time);
        check_phone(&callback.phone_number);
        let key = callback.dedupe_key(Timestamp::from_millis(1_700_000_000_000));
        check_token(&key);
        assert!(key.len() <= viber::callback::MAX_TOKEN_BYTES);
    }
    if let (Ok(callback), Some(body)) = (&status, object) {
        check_token(&callback.message_token);
        callback.time.into_iter().for_each(check_time);
        callback.phone_number.iter().for_each(check_phone);
        assert!(callback.service_id.is_none_or(|id| id > 0));
        assert_eq!(Some(callback.status), status_of(body.get("message_status")));
    }
    check_signature(data);
    check_allowlist(data);
}

fn check_token(token: &str) {
    assert!(
        !token.is_empty() && token.trim() == token,
        "token {token:?}"
    );
}

/// A positive epoch time, normalised to milliseconds: never before one second after 1970.
fn check_time(time: Timestamp) {
    assert!(time.as_millis() >= 1000, "{time:?}");
}

fn check_phone(number: &PhoneNumber) {
    assert_eq!(PhoneNumber::parse(number.as_e164()).as_ref(), Ok(number));
}

/// Viber's status codes, from its documentation rather than from the parser.
fn status_of(value: Option<&Value>) -> Option<CallbackStatus> {
    let code = match value? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    Some(match code {
        0 => CallbackStatus::Message(MessageStatus::Delivered),
        1 => CallbackStatus::Message(MessageStatus::Seen),
        2 => CallbackStatus::Message(MessageStatus::Expired),
        4 => CallbackStatus::Subscribe,
        5 => CallbackStatus::Unsubscribe,
        other => CallbackStatus::Unknown(other),
    })
}

fn check_signature(data: &[u8]) {
    let auth = CallbackAuth::from_parts(Some(SECRET), "")
        .unwrap_or_else(|e| unreachable!("a literal secret configures: {e}"));
    let good = sign(SECRET.as_bytes(), data);
    assert_eq!(good.len(), 64);
    assert_eq!(auth.verify(data, Some(&good), None), Ok(()));
    assert_eq!(auth.verify(data, Some(&good.to_uppercase()), None), Ok(()));
    assert_eq!(
        auth.verify(data, None, None),
        Err(AuthFailure::MissingSignature)
    );

    // One hex digit changed, or one byte more in the body: refused.
    let mut tampered = good.clone().into_bytes();
    tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8_lossy(&tampered).into_owned();
    assert_eq!(
        auth.verify(data, Some(&tampered), None),
        Err(AuthFailure::BadSignature)
    );
    let longer = [data, b" "].concat();
    assert_eq!(
        auth.verify(&longer, Some(&good), None),
        Err(AuthFailure::BadSignature)
    );

    // The bytes as a signature header: refused unless they spell the right one.
    let header = String::from_utf8_lossy(data);
    let verdict = auth.verify(data, Some(&header), None);
    if header.trim().eq_ignore_ascii_case(&good) {
        assert_eq!(verdict, Ok(()));
    } else {
        assert!(
            matches!(
                verdict,
                Err(AuthFailure::MalformedSignature | AuthFailure::BadSignature)
            ),
            "{verdict:?}"
        );
    }
}

/// The bytes as an allowlist: when it configures, each network admits its own first and last
/// address (IPv4 ones also as seen through a dual-stack socket).
fn check_allowlist(data: &[u8]) {
    let cidrs = String::from_utf8_lossy(data);
    let Ok(auth) = CallbackAuth::from_parts(None, &cidrs) else {
        return;
    };
    assert!(!auth.requires_signature());
    assert!(!auth.allowed_networks().is_empty());
    assert_eq!(
        auth.verify(data, None, None),
        Err(AuthFailure::MissingSourceIp)
    );
    for net in auth.allowed_networks() {
        for ip in [net.network(), net.broadcast()] {
            assert_eq!(auth.verify(data, None, Some(ip)), Ok(()), "{ip} in {net}");
            if let IpAddr::V4(v4) = ip {
                let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                assert_eq!(auth.verify(data, None, Some(mapped)), Ok(()), "{mapped}");
            }
        }
    }
}
