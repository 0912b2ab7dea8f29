//! What both Viber callbacks (inbound and status) share: start-up authentication settings, the
//! per-request check, the service-id directory and the small success answer. The same file is in
//! `functions/status`; it belongs in a shared crate once one carries both `lambda_http` and
//! `viber`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use thiserror::Error;
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::http::{ApiError, MAX_BODY_BYTES, Outcome, header_str, json_response, source_ip};
use vbm_store::{BusinessId, Store, StoreError};
use viber::auth::SIGNATURE_HEADER;
use viber::{AuthConfigError, CallbackAuth, CallbackError};

/// Why the function will not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("VIBER_CALLBACK_SECRET / VIBER_CALLBACK_CIDRS: {0}")]
    Auth(#[from] AuthConfigError),
}

/// The callback authentication from `VIBER_CALLBACK_SECRET` and `VIBER_CALLBACK_CIDRS`; an
/// error when neither is set (the function must then refuse to start).
pub fn callback_auth(config: &Config) -> Result<CallbackAuth, StartError> {
    let secret = config.viber_callback_secret()?;
    let cidrs = config.viber_callback_cidrs()?;
    Ok(CallbackAuth::from_parts(secret.as_deref(), &cidrs)?)
}

/// Checks a callback's raw body, signature header and source address. Nothing has been read
/// from or written to the table when this fails.
pub fn authenticate(auth: &CallbackAuth, request: &Request) -> Result<(), ApiError> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    auth.verify(
        body,
        header_str(request, SIGNATURE_HEADER),
        source_ip(request),
    )
    .map_err(|failure| {
        tracing::warn!(reason = %failure, "callback refused");
        match failure.code() {
            "ip_not_allowed" => ApiError::new(
                StatusCode::FORBIDDEN,
                "ip_not_allowed",
                "this source address may not post Viber callbacks",
            ),
            code => ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                format!("a valid {SIGNATURE_HEADER} (hex HMAC-SHA256 of the body) is required"),
            ),
        }
    })
}

/// `200 {"status": 0, "status_message": "ok"}`, with what happened for the log line.
pub fn ok(outcome: &'static str) -> Response<Body> {
    let mut response = json_response(
        StatusCode::OK,
        &serde_json::json!({"status": 0, "status_message": "ok"}),
    );
    response.extensions_mut().insert(Outcome(outcome));
    response
}

/// A callback body that cannot be used, as the API's error object.
pub fn parse_error(error: CallbackError) -> ApiError {
    match error {
        CallbackError::InvalidJson(m) => ApiError::invalid_json(m),
        CallbackError::ValidationFailed { field, reason } => {
            ApiError::validation_failed(Some(field), format!("{field}: {reason}"))
        }
    }
}

// Viber service id → business, cached per container.

/// How long a container trusts a service id it has looked up. Service ids are set when a
/// business is created and practically never move; a busy sender costs no lookups.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

const CACHE_CAPACITY: usize = 1024;

/// Known service ids only: an unknown one is looked up every time, so a business created a
/// second ago is found at once.
#[derive(Default)]
pub struct ServiceDirectory {
    cache: Mutex<HashMap<u64, (Instant, BusinessId)>>,
}

impl ServiceDirectory {
    pub async fn business(
        &self,
        store: &Store,
        service_id: u64,
        now: Instant,
    ) -> Result<Option<BusinessId>, StoreError> {
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(&service_id)
                .filter(|(at, _)| now.duration_since(*at) < CACHE_TTL)
                .map(|(_, id)| id.clone())
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(business) = store.business_by_service_id(service_id).await? else {
            return Ok(None);
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(service_id, (now, business.id.clone()));
        }
        Ok(Some(business.id))
    }
}
