//! The error object of the HTTP APIs: `{"error": {"code": "...", "message": "...", ...}}`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};
use session_rules::Refusal;
use vbm_store::StoreError;

use crate::RETRY_AFTER_SECONDS;

/// An answer that is not a success. `code` is a stable string clients switch on (docs/api.md, "Errors");
/// `message` is for humans and may change; `details` are extra members of the error object
/// (e.g. `field` for `validation_failed`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, sent as `Retry-After` (and `retry_after` in the body).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// Every code the HTTP APIs can answer with, and its status. The OpenAPI document's test
    /// checks its error-code enum against this list; it includes every [`Refusal::ALL_CODES`].
    pub const ALL_CODES: &'static [(&'static str, u16)] = &[
        ("validation_failed", 422),
        ("invalid_phone", 422),
        ("template_params_invalid", 422),
        ("template_not_found", 422),
        ("template_not_approved", 422),
        ("template_required", 422),
        ("idempotency_key_reused", 422),
        // A business's Viber services: none can carry the message.
        ("no_service_for_message", 422),
        // Over one of the business's caps (`vbmctl business caps`).
        ("quota_exceeded", 429),
        ("no_session", 409),
        ("session_expired", 409),
        ("session_limit_reached", 409),
        ("session_locked", 409),
        ("recipient_opted_out", 409),
        ("first_message_promotional", 409),
        // A message waiting for the user's reply.
        ("hold_until_invalid", 422),
        ("too_many_held", 409),
        ("invalid_json", 400),
        // Campaigns.
        ("invalid_recipients", 400),
        ("too_many_recipients", 400),
        ("campaign_state_conflict", 409),
        ("invalid_cursor", 400),
        ("replay_too_large", 400),
        // Usage: a range of days the API does not answer (`from` after `to`, over a year).
        ("range_reversed", 400),
        ("range_too_long", 400),
        ("unauthorized", 401),
        ("ip_not_allowed", 403),
        ("not_found", 404),
        ("method_not_allowed", 405),
        ("payload_too_large", 413),
        // Per-business allowances: replay calls, upload slots.
        ("rate_limited", 429),
        ("too_many_uploads", 429),
        ("unavailable", 503),
        // SMS failover.
        ("failover_invalid", 422),
        ("failover_text_invalid", 422),
        ("failover_sender_id_invalid", 422),
        ("failover_text_missing", 422),
        // The business's SMS policy.
        ("failover_destination_refused", 422),
        ("failover_too_many_parts", 422),
        ("failover_sender_id_not_registered", 422),
        // Templates a business creates: the content rule broken, then the 2,000.
        ("template_placeholder_invalid", 422),
        ("template_placeholders_only", 422),
        ("template_pin_required", 422),
        ("template_pin_reserved", 422),
        ("template_text_too_long", 422),
        ("template_limit_reached", 422),
    ];

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Adds a member to the error object (`"field": "text"`).
    /// `Retry-After` (and `retry_after` in the body): when the same request will work again.
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_detail(mut self, name: &str, value: impl Into<Value>) -> Self {
        let mut map = match self.details.take() {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        map.insert(name.to_owned(), value.into());
        self.details = Some(Value::Object(map));
        self
    }

    /// 400: the body is not JSON.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// 422: the body is JSON but not a valid request; `field` names what is wrong when known.
    pub fn validation_failed(field: Option<&str>, message: impl Into<String>) -> Self {
        let error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        );
        match field {
            Some(field) => error.with_detail("field", field),
            None => error,
        }
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit_bytes} bytes"),
        )
    }

    /// 401 with `WWW-Authenticate: Bearer`: no key, a malformed key, or a key we do not know.
    /// One message for all three, so the answer tells an attacker nothing.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// 403: the key is good but the caller's address is not on the business's allowlist.
    pub fn ip_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "this source address is not on the business's IP allowlist",
        )
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405, with the methods the path does serve (`Allow`).
    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this path serves {}", allowed.join(", ")),
        )
        .with_detail("allow", allowed.to_vec())
    }

    /// 503 with `Retry-After`: something below us failed; the same request later will work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_SECONDS),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// The JSON answer.
    pub fn into_response(self) -> Response<Body> {
        let mut object = Map::new();
        object.insert("code".into(), json!(self.code));
        object.insert("message".into(), json!(self.message));
        if let Some(Value::Object(details)) = self.details {
            for (name, value) in details {
                object.entry(name).or_insert(value);
            }
        }
        if let Some(seconds) = self.retry_after {
            object.insert("retry_after".into(), json!(seconds));
        }
        let allow = (self.status == StatusCode::METHOD_NOT_ALLOWED)
            .then(|| object.get("allow").and_then(Value::as_array))
            .flatten()
            .map(|methods| {
                methods
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        let allow = allow.and_then(|a| HeaderValue::from_str(&a).ok());
        let mut response = crate::json_response(self.status, &json!({ "error": object }));
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(allow) = allow {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = refusal.code();
        let status = ApiError::ALL_CODES
            .iter()
            .find(|(c, _)| *c == code)
            .and_then(|(_, s)| StatusCode::from_u16(*s).ok())
            .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let field = refusal.field().map(str::to_owned);
        let mut error = ApiError::new(status, code, refusal.to_string());
        if let Refusal::NoServiceForMessage(none) = &refusal {
            // What the business lacks, machine-readable: the kinds that would carry it.
            let missing: Vec<Value> = none.missing.iter().map(|k| k.as_str().into()).collect();
            error = error.with_detail("missing", missing);
        }
        match field {
            Some(field) => error.with_detail("field", field),
            None => error,
        }
    }
}

impl From<StoreError> for ApiError {
    /// Every store error is retryable infrastructure trouble: logged in full, answered as 503
    /// without the detail (table names and SDK messages are not the caller's business).
    fn from(error: StoreError) -> Self {
        if matches!(error, StoreError::Erasing) {
            // Expected while an erasure runs; not an infrastructure failure.
            tracing::info!("contact being erased: answered retryably");
            return ApiError::unavailable("this contact is being erased; retry shortly");
        }
        tracing::error!(error = %error, "store unavailable");
        ApiError::unavailable("the service is briefly unavailable; retry the same request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn every_refusal_has_a_status_and_keeps_its_code() {
        for code in Refusal::ALL_CODES {
            assert!(
                ApiError::ALL_CODES.iter().any(|(c, _)| *c == code),
                "{code} missing from ApiError::ALL_CODES"
            );
        }
        let cases = [
            (Refusal::SessionLocked, 409),
            (Refusal::NoSession, 409),
            (Refusal::RecipientOptedOut, 409),
            (Refusal::FirstMessagePromotional, 409),
            (Refusal::TemplateNotFound, 422),
            (Refusal::TemplateRequired("use a template".into()), 422),
            (Refusal::InvalidPhone("x".into()), 422),
        ];
        for (refusal, status) in cases {
            let code = refusal.code();
            let error = ApiError::from(refusal);
            assert_eq!((error.code, error.status.as_u16()), (code, status));
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = ApiError::ALL_CODES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ApiError::ALL_CODES.len());
    }

    #[test]
    fn validation_errors_name_the_field() {
        let response = ApiError::from(Refusal::ValidationFailed {
            field: "button.caption".into(),
            reason: "at most 30 characters".into(),
        })
        .into_response();
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = body(&response);
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["field"], "button.caption");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("30 characters")
        );
    }

    #[test]
    fn headers_of_401_405_503() {
        let r = ApiError::unauthorized().into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let r = ApiError::method_not_allowed(&["GET", "DELETE"]).into_response();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[header::ALLOW], "GET, DELETE");
        let r = ApiError::from(StoreError::Contended).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let body = body(&r);
        assert_eq!(body["error"]["code"], "unavailable");
        assert_eq!(body["error"]["retry_after"], 1);
        assert!(!body.to_string().contains("conversation changed"));
    }
}
