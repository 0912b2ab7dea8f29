//! `notify`: the events queue's consumer (docs/api.md, "Business events"). Every queued event is
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
//!
//! Callbacks reach public addresses only ([`http_client`]): an address literal in the URL is
//! checked before the request, and a name is resolved by a resolver that drops every address
//! `session_rules::callback_address` refuses, so the check and the connection use the same
//! resolution. A refused address is a failed attempt (logged with the reason, retried: the URL
//! may be fixed); the endpoint sees nothing.
//!
//! Every attempt is recorded in the delivery log ([`vbm_store::event_log`]: time, HTTP status
//! or error, latency; `GET /v1/events`) before the record is answered: an attempt that could
//! not be logged is retried (at least once, the same `webhook-id`), so the log never misses a
//! delivery the business saw.

pub mod retry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use session_rules::PhoneNumber;
use session_rules::callback_address::{CallbackAddresses, CallbackHost, callback_host};
use thiserror::Error;
use tracing::{Instrument, field};
use vbm_events::{Event, EventsQueue, signature};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::metrics;
use vbm_platform::warm::Warmup;
use vbm_queue::batch::{self, receive_count};
use vbm_queue::{Retries, batch_response};
use vbm_store::{
    Attempt, AttemptRecord, BusinessCache, BusinessId, DeliveryState, QueuedRecord, Store,
    StoreError,
};

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
    http: CallbackClient,
    retries: Retries,
    clock: Arc<dyn Clock>,
    businesses: BusinessCache,
    /// The events queue's `maxReceiveCount`: a failed attempt on that receive is the last.
    max_receive_count: u32,
}

/// The events queue's default `maxReceiveCount` (template.yaml's `MaxReceiveCount`).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;

/// The HTTP client for callbacks and the addresses it may reach.
#[derive(Debug, Clone)]
pub struct CallbackClient {
    http: reqwest::Client,
    allowed: CallbackAddresses,
}

impl CallbackClient {
    /// Why `url` must not be called, when its host is an address literal a callback may not
    /// reach (a name is checked as it is resolved).
    fn refusal(&self, url: &str) -> Option<String> {
        match callback_host(url) {
            Ok(CallbackHost::Ip(ip)) => self.allowed.check(ip).err().map(|kind| {
                format!("{ip} is a {kind} address: callbacks go to public addresses only")
            }),
            _ => None,
        }
    }
}

/// The HTTP client for callbacks: one per process. Redirects are not followed (a redirected
/// POST would arrive elsewhere as a GET): a 3xx is a failed delivery. `allowed` says which
/// addresses it connects to: [`CallbackAddresses::PublicOnly`] in Lambda (`from_env`); the
/// local stack passes `AlsoLoopback` for its own callback sink.
pub fn http_client(
    timeout: Duration,
    allowed: CallbackAddresses,
) -> Result<CallbackClient, reqwest::Error> {
    // reqwest's rustls has no provider of its own: ring, as the AWS SDK's client (idempotent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vbm-notify/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver { allowed }))
        .build()?;
    Ok(CallbackClient { http, allowed })
}

/// Resolves a callback host and keeps only the addresses a callback may reach: the connection
/// uses exactly the addresses checked (no second lookup a rebinding DNS server could answer
/// differently).
struct CheckedResolver {
    allowed: CallbackAddresses,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match allowed.check(addr.ip()) {
                    Ok(()) => true,
                    Err(kind) => {
                        refused = Some((addr.ip(), kind));
                        false
                    }
                })
                .collect();
            if usable.is_empty() {
                let why = match refused {
                    Some((ip, kind)) => format!(
                        "{host} resolves to {ip}, a {kind} address: callbacks go to public addresses only"
                    ),
                    None => format!("{host} has no address"),
                };
                return Err(why.into());
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An error and its causes, one line (reqwest's own text is only the outermost).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl App {
    pub fn new(
        store: Store,
        http: CallbackClient,
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
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
        }
    }

    /// The events queue's `maxReceiveCount`, when not [`DEFAULT_MAX_RECEIVE_COUNT`].
    pub fn with_max_receive_count(mut self, count: u32) -> Self {
        self.max_receive_count = count.max(1);
        self
    }

    /// Reads `VBM_TABLE`, `EVENTS_QUEUE_URL` (for backing off its records),
    /// `EVENTS_MAX_RECEIVE_COUNT`, `CALLBACK_TIMEOUT_SECONDS`, and builds the clients once.
    pub async fn from_env() -> Result<Self, StartError> {
        let config = Config::from_env();
        // Public addresses only: never anything else in Lambda.
        let http = http_client(config.callback_timeout()?, CallbackAddresses::PublicOnly)?;
        let sdk = vbm_platform::aws::sdk_config().await;
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        // Its queue is only used to back off a failure: the store is what the first event needs.
        Warmup::new()
            .step("dynamodb", store.warm_up())
            .run_if_enabled(&config)
            .await?;
        Ok(Self::new(
            store,
            http,
            aws_sdk_sqs::Client::new(&sdk),
            config.events_queue_url()?,
            Arc::new(SystemClock),
        )
        .with_max_receive_count(config.events_max_receive_count()?))
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
            tracing::Span::current().record("outcome", batch::outcome(&result));
            match &result {
                Ok(_) => tracing::info!("handled"),
                Err(error @ (RecordError::Refused(_) | RecordError::Unreachable(_))) => {
                    tracing::warn!(%error, "will retry");
                }
                Err(error) => tracing::error!(%error, "will retry"),
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
        let attempted_at = self.clock.now();
        let started = Instant::now();
        let outcome = match self.http.refusal(url) {
            Some(why) => Err(RecordError::Unreachable(why)),
            None => {
                let response = self
                    .http
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header(signature::ID_HEADER, &event.event_id)
                    .header(signature::TIMESTAMP_HEADER, t.to_string())
                    .header(signature::SIGNATURE_HEADER, signature)
                    .body(payload)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        Ok(response.status().as_u16())
                    }
                    Ok(response) => Err(RecordError::Refused(response.status().as_u16())),
                    Err(e) => Err(RecordError::Unreachable(if e.is_timeout() {
                        "timed out".to_owned()
                    } else {
                        error_chain(&e.without_url())
                    })),
                }
            }
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.log_attempt(record, &event, body, attempted_at, latency_ms, &outcome)
            .await?;
        outcome.map(|_| "delivered")
    }

    /// Records the attempt in the delivery log; its state says whether another will follow.
    async fn log_attempt(
        &self,
        record: &SqsMessage,
        event: &Event,
        body: &str,
        at: session_rules::Timestamp,
        latency_ms: u64,
        outcome: &Result<u16, RecordError>,
    ) -> Result<(), RecordError> {
        let business = BusinessId::parse(&event.business_id).map_err(RecordError::Poison)?;
        let (status, error, state) = match outcome {
            Ok(code) => (Some(*code), None, DeliveryState::Delivered),
            Err(e) => {
                let status = match e {
                    RecordError::Refused(code) => Some(*code),
                    _ => None,
                };
                let error = status.is_none().then(|| e.to_string());
                let state = if receive_count(record) >= self.max_receive_count {
                    DeliveryState::Failed
                } else {
                    DeliveryState::Pending
                };
                (status, error, state)
            }
        };
        let now = self.clock.now();
        let created_at = vbm_platform::time::parse_rfc3339(&event.created_at).unwrap_or(now);
        let contact = event
            .data
            .get("phone")
            .or_else(|| event.data.get("to"))
            .and_then(serde_json::Value::as_str)
            .and_then(|p| PhoneNumber::parse(p).ok());
        self.store
            .events()
            .record_attempt(
                &AttemptRecord {
                    event: QueuedRecord {
                        business: &business,
                        event_id: &event.event_id,
                        event_type: event.kind.as_str(),
                        created_at,
                        body,
                        contact: contact.as_ref(),
                    },
                    attempt: Attempt {
                        at,
                        status,
                        error,
                        latency_ms,
                    },
                    state,
                },
                now,
            )
            .await?;
        Ok(())
    }
}
