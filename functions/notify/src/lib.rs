//! `notify`: the events queue's consumer (DESIGN §3 "Business events"). Every queued event is
//! POSTed to its business's callback URL, signed.
//!
//! One record ([`App::handle_record`]):
//! 1. the body is an [`Event`]; anything else is a failure (dead-lettered after
//!    `MaxReceiveCount` receives, where an alarm sees it);
//! 2. the business is loaded (remembered for a minute); no callback URL → done (events stay
//!    readable through `GET /v1/messages/{id}`);
//! 3. `POST {callback_url}` with the event JSON, `Content-Type: application/json`, signed by
//!    the Standard Webhooks specification ([`signature`]): `webhook-id` (the event id),
//!    `webhook-timestamp`, `webhook-signature` (`v1,<base64 HMAC-SHA256>`, one per secret
//!    during a rotation), keyed with the business's `whsec_` secret;
//! 4. a 2xx answer → done. Anything else (another status, a timeout, a refused connection) →
//!    the record is failed and its visibility timeout backed off (30 s, 2 min, 8 min, 32 min,
//!    then at most an hour), until the redrive policy dead-letters it.
//!
//! Delivery is at least once: a business de-duplicates on `event_id`.

pub mod retry;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use thiserror::Error;
use tracing::{Instrument, field};
use vbm_events::{Event, EventsQueue, signature};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_platform::warm::Warmup;
use vbm_queue::batch::receive_count;
use vbm_queue::{Retries, batch_response};
use vbm_store::{BusinessCache, BusinessId, Store, StoreError};

/// How long a business's callback URL and secret are trusted from memory: a changed URL or a
/// rotated secret is used within this.
const BUSINESS_TTL: Duration = Duration::from_secs(60);

/// The header naming the event, for de-duplication without parsing the body.
pub const EVENT_ID_HEADER: &str = signature::ID_HEADER;

/// The function could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Why a record goes back to the queue.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("not an event: {0}")]
    Poison(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("callback answered HTTP {0}")]
    Refused(u16),
    #[error("callback unreachable: {0}")]
    Unreachable(String),
}

/// What one container keeps: clients, configuration, the business cache.
pub struct App {
    store: Store,
    http: reqwest::Client,
    retries: Retries,
    clock: Arc<dyn Clock>,
    businesses: BusinessCache,
}

/// The HTTP client for callbacks: one per process. Redirects are not followed (a redirected
/// POST would arrive elsewhere as a GET): a 3xx is a failed delivery.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vbm-notify/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl App {
    pub fn new(
        store: Store,
        http: reqwest::Client,
        sqs: aws_sdk_sqs::Client,
        events_url: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            http,
            retries: Retries::new(sqs, events_url, retry::SCHEDULE),
            clock,
            businesses: BusinessCache::new(BUSINESS_TTL),
        }
    }

    /// Reads `VBM_TABLE`, `EVENTS_QUEUE_URL` (for backing off its records),
    /// `CALLBACK_TIMEOUT_SECONDS`, and builds the clients once.
    pub async fn from_env() -> Result<Self, StartError> {
        let config = Config::from_env();
        let http = http_client(config.callback_timeout()?)?;
        let sdk = vbm_platform::aws::sdk_config().await;
        let store = vbm_platform::aws::store(&config, &sdk)?;
        // Its queue is only used to back off a failure: the store is what the first event needs.
        Warmup::new().store(&store).run_if_enabled(&config).await?;
        Ok(Self::new(
            store,
            http,
            aws_sdk_sqs::Client::new(&sdk),
            config.events_queue_url()?,
            Arc::new(SystemClock),
        ))
    }

    /// Handles one batch, every record concurrently; the answer lists exactly the records to
    /// retry. Counts the delivered and the retried events in CloudWatch.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let results =
            futures_util::future::join_all(event.records.iter().map(|record| async move {
                match self.handle_record(record).await {
                    Ok(outcome) => Ok(outcome),
                    Err(_) => Err(self.retries.fail(record).await),
                }
            }))
            .await;
        let delivered = results
            .iter()
            .filter(|r| matches!(r, Ok("delivered")))
            .count();
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        metrics::events_delivered(u32::try_from(delivered).unwrap_or(u32::MAX));
        metrics::events_retried(u32::try_from(failed.len()).unwrap_or(u32::MAX));
        batch_response(failed)
    }

    /// Handles one record in its own span (queue message id, business, event id, outcome).
    pub async fn handle_record(&self, record: &SqsMessage) -> Result<&'static str, RecordError> {
        let span = tracing::info_span!(
            "notify",
            sqs_message_id = record.message_id.as_deref().unwrap_or_default(),
            receive_count = receive_count(record),
            business = field::Empty,
            event_id = field::Empty,
            event_type = field::Empty,
            outcome = field::Empty,
        );
        async {
            let result = self.deliver(record).await;
            let span = tracing::Span::current();
            match &result {
                Ok(outcome) => {
                    span.record("outcome", *outcome);
                    tracing::info!("handled");
                }
                Err(error) => {
                    span.record("outcome", "retry");
                    match error {
                        RecordError::Refused(_) | RecordError::Unreachable(_) => {
                            tracing::warn!(%error, "will retry");
                        }
                        _ => tracing::error!(%error, "will retry"),
                    }
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn deliver(&self, record: &SqsMessage) -> Result<&'static str, RecordError> {
        let body = record.body.as_deref().unwrap_or_default();
        let event: Event =
            EventsQueue::parse(body).map_err(|e| RecordError::Poison(e.to_string()))?;
        let span = tracing::Span::current();
        span.record("business", event.business_id.as_str());
        span.record("event_id", event.event_id.as_str());
        span.record("event_type", event.kind.as_str());
        let business = BusinessId::parse(&event.business_id).map_err(RecordError::Poison)?;
        let Some(business) = self.businesses.get(&self.store, &business).await? else {
            tracing::warn!("event for an unknown business dropped");
            return Ok("unknown_business");
        };
        let Some(url) = business.callback_url.as_deref() else {
            return Ok("no_callback_url");
        };
        // The exact bytes signed are the bytes sent.
        let payload = serde_json::to_vec(&event).map_err(|e| RecordError::Poison(e.to_string()))?;
        let t = self.clock.now().as_secs();
        // During a secret rotation's overlap, signed with the new and the old secret.
        let signature =
            signature::sign_with_each(&business.signing_secrets(t), &event.event_id, t, &payload);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(signature::ID_HEADER, &event.event_id)
            .header(signature::TIMESTAMP_HEADER, t.to_string())
            .header(signature::SIGNATURE_HEADER, signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| {
                RecordError::Unreachable(if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    e.without_url().to_string()
                })
            })?;
        let status = response.status();
        if status.is_success() {
            Ok("delivered")
        } else {
            Err(RecordError::Refused(status.as_u16()))
        }
    }
}
