//! What both Viber callbacks (`inbound` and `status`) share: the start-up authentication
//! settings, the per-request check, the service-id directory, event publishing and the small
//! success answer.
//!
//! [`Callbacks`] is what one container of either function keeps (the table, the events queue,
//! the clock, the callback authentication, the service-id cache); each function adds its own
//! parsing and decisions on top. The authentication's secrets come from Secrets Manager
//! ([`AuthSource`]), refreshed on a TTL. [`CallbackApp`] is the one request pipeline both run,
//! each function supplying its [`Route`].

mod app;
mod auth_source;
pub mod moderation;
mod quarantine;
mod services;

use std::sync::Arc;
use std::time::Instant;

use lambda_http::RequestExt;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use session_rules::Timestamp;
use thiserror::Error;
use vbm_events::{Event, EventsQueue};
use vbm_http::{
    ApiError, MAX_BODY_BYTES, Outcome, header_str, json_response, reject_duplicate_keys, source_ip,
};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_platform::warm::Warmup;
use vbm_store::{BusinessId, Store};
use viber::auth::SIGNATURE_HEADER;
use viber::{AuthConfigError, AuthFailure, CallbackAuth, Verified};

pub use app::{CallbackApp, Route};
pub use auth_source::AuthSource;
pub use quarantine::{Aside, Replay, Step};
pub use services::{CACHE_TTL, ServiceDirectory};

/// Why the function will not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("VIBER_CALLBACK_SECRET_ID / VIBER_CALLBACK_CIDRS: {0}")]
    Auth(#[from] AuthConfigError),
    #[error("VIBER_CALLBACK_SECRET_ID: {0}")]
    Secret(#[from] vbm_secrets::SecretError),
}

/// What one container of a callback function keeps.
pub struct Callbacks {
    store: Store,
    events: EventsQueue,
    clock: Arc<dyn Clock>,
    auth: AuthSource,
    services: ServiceDirectory,
}

impl Callbacks {
    pub fn new(
        store: Store,
        events: EventsQueue,
        clock: Arc<dyn Clock>,
        auth: impl Into<AuthSource>,
    ) -> Self {
        Self {
            store,
            events,
            clock,
            auth: auth.into(),
            services: ServiceDirectory::default(),
        }
    }

    /// Reads the callback authentication's settings first (no secret id and no CIDRs, or a bad
    /// CIDR: an error, before any SDK work), then `VBM_TABLE`, `EVENTS_QUEUE_URL`, the session
    /// limits and `RETENTION_DAYS`, builds the SDK clients once, and reads the secret (one
    /// that cannot be read or holds nothing usable: an error).
    pub async fn from_config(config: &Config) -> Result<Self, StartError> {
        let auth = auth_source::Settings::from_config(config)?;
        let events_url = config.events_queue_url()?;
        let sdk = vbm_platform::aws::sdk_config().await;
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        let auth = auth.load(&sdk).await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        Warmup::new()
            .step("dynamodb", store.warm_up())
            .queue(&sqs, &events_url)
            .phone_numbers()
            .run_if_enabled(config)
            .await?;
        let events = EventsQueue::new(sqs, events_url);
        Ok(Self::new(store, events, Arc::new(SystemClock), auth))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A `POST` whose URL secret, raw body, signature header and source address pass
    /// [`authenticate`], and whose JSON has no key twice in one object (`400 invalid_json`:
    /// the same rule as the API bodies, before any parsing). Nothing has been read from or
    /// written to the table when this fails.
    ///
    /// A service id with a URL secret of its own: its callbacks must come with that secret, and
    /// a callback with it must name that service id (`401 unauthorized` otherwise).
    pub async fn check(&self, request: &Request) -> Result<(), ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::method_not_allowed(&["POST"]));
        }
        let auth = self.auth.current().await;
        let verified = authenticate(&auth, request)?;
        let body: &[u8] = request.body().as_ref();
        reject_duplicate_keys(body)?;
        auth.admits(verified, viber::callback::named_service_id(body))
            .map_err(refused)
    }

    /// The business of a Viber service id (cached per container); an unknown one is kept
    /// aside ([`Aside::unknown_service`]): a business created later, or a service id fixed,
    /// lets an operator replay it.
    pub async fn business(&self, service_id: u64) -> Result<Result<BusinessId, Aside>, ApiError> {
        Ok(self
            .services
            .business(&self.store, service_id, Instant::now())
            .await?
            .ok_or_else(|| Aside::unknown_service(service_id)))
    }

    /// The business of a Viber service id and the service's kind (cached per container); an
    /// unknown id is kept aside as for [`Callbacks::business`].
    pub async fn service(
        &self,
        service_id: u64,
    ) -> Result<Result<(BusinessId, session_rules::ServiceKind), Aside>, ApiError> {
        Ok(self
            .services
            .service(&self.store, service_id, Instant::now())
            .await?
            .ok_or_else(|| Aside::unknown_service(service_id)))
    }

    /// Queues one business event; a queue failure is `503` so Viber delivers the callback
    /// again.
    pub async fn publish(&self, event: &Event) -> Result<(), ApiError> {
        self.events.publish(event).await.map_err(|e| {
            tracing::error!(error = %e, event_id = %event.event_id, "event not queued");
            ApiError::unavailable("the event could not be queued; retry the same callback")
        })
    }
}

/// The path parameter of `POST /viber/inbound/{secret}` and `POST /viber/status/{secret}`.
pub const URL_SECRET_PARAMETER: &str = "secret";

/// Checks a callback's URL secret, raw body, signature header and source address. Nothing has
/// been read from or written to the table when this fails.
pub fn authenticate(auth: &CallbackAuth, request: &Request) -> Result<Verified, ApiError> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    let url_secret = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first(URL_SECRET_PARAMETER));
    auth.verify_for(
        url_secret,
        body,
        header_str(request, SIGNATURE_HEADER),
        source_ip(request),
    )
    .map_err(refused)
}

/// The answer to a callback the authentication refused (the reason goes to the log only).
fn refused(failure: AuthFailure) -> ApiError {
    tracing::warn!(reason = %failure, "callback refused");
    match failure.code() {
        "ip_not_allowed" => ApiError::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "this source address may not post Viber callbacks",
        ),
        code if matches!(
            failure,
            AuthFailure::MissingUrlSecret
                | AuthFailure::BadUrlSecret
                | AuthFailure::ServiceSecretRequired(_)
                | AuthFailure::OtherService(_)
        ) =>
        {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                "the callback URL must end in the registered secret",
            )
        }
        code => ApiError::new(
            StatusCode::UNAUTHORIZED,
            code,
            format!("a valid {SIGNATURE_HEADER} (hex HMAC-SHA256 of the body) is required"),
        ),
    }
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

/// Records how late an accepted callback arrived, our clock minus the time Viber stamped on it:
/// `lag_ms` on the current span and the `CallbackLagMs` metric.
pub fn record_lag(now: Timestamp, viber_time: Timestamp) {
    let lag_ms = now.as_millis() - viber_time.as_millis();
    tracing::Span::current().record("lag_ms", lag_ms);
    metrics::callback_lag(lag_ms);
}
