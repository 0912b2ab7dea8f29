//! The business API (docs/api.md): `POST /v1/messages` and the reads around it, behind API Gateway
//! (HTTP API) or a Function URL.
//!
//! [`App`] holds what lives for the whole container (the store, the clock and short caches of API
//! keys and approved templates) and answers one request with
//! [`App::handle`]: route, authenticate, then the endpoint's module in [`routes`]. Every domain
//! answer, including every refusal, is an HTTP response; infrastructure trouble is
//! `503 unavailable` with `Retry-After`.

mod auth;
// Campaigns.
pub mod routes;
pub mod views;

use std::sync::Arc;
use std::time::Instant;

use lambda_http::{Body, Request, Response};
use session_rules::campaign::Control;
use tracing::field;
use vbm_events::EventsQueue;
use vbm_http::{Answer, ApiError, request_id, request_path, with_request_id};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_platform::warm::Warmup;
use vbm_store::{Store, TemplateCache};

use crate::auth::Authenticator;
use crate::routes::Endpoint;
use vbm_outbound::CampaignTimers;

/// The business API of one container.
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    businesses: Authenticator,
    templates: TemplateCache,
    /// Campaigns' start timers; `None` where the deployment has no campaign queue.
    campaign_timers: Option<CampaignTimers>,
    /// Where a replay queues events again; without it a replay answers `503`.
    events: Option<EventsQueue>,
    /// Signs upload URLs for campaigns' recipient lists; `None` without a bucket.
    uploads: Option<vbm_uploads::Presigner>,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            businesses: Authenticator::default(),
            templates: TemplateCache::new(auth::CACHE_TTL),
            campaign_timers: None,
            events: None,
            uploads: None,
        }
    }

    /// With campaigns: their start timers on the fan-out queue.
    pub fn with_campaigns(mut self, timers: CampaignTimers) -> Self {
        self.campaign_timers = Some(timers);
        self
    }

    pub fn campaign_timers(&self) -> Option<&CampaignTimers> {
        self.campaign_timers.as_ref()
    }

    /// With uploaded recipient lists: `POST /v1/campaigns/uploads`.
    pub fn with_uploads(mut self, presigner: vbm_uploads::Presigner) -> Self {
        self.uploads = Some(presigner);
        self
    }

    pub fn uploads(&self) -> Option<&vbm_uploads::Presigner> {
        self.uploads.as_ref()
    }

    /// The events queue `POST /v1/events/replay` queues to.
    pub fn with_events(mut self, events: EventsQueue) -> Self {
        self.events = Some(events);
        self
    }

    pub fn events(&self) -> Option<&EventsQueue> {
        self.events.as_ref()
    }

    /// Reads `VBM_TABLE`, the session limits, `RETENTION_DAYS` and `EVENTS_QUEUE_URL` (replay),
    /// and builds the DynamoDB and SQS clients once. A send is one DynamoDB transaction: the table's stream, not this function,
    /// puts accepted messages on the outbound queue (`relay`).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env();
        let sdk = vbm_platform::aws::sdk_config().await;
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        Warmup::new()
            .step("dynamodb", store.warm_up())
            .phone_numbers()
            .run_if_enabled(&config)
            .await?;
        let events = EventsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.events_queue_url()?);
        Ok(Self::new(store, Arc::new(SystemClock))
            .with_events(events)
            .with_uploads(vbm_uploads::Presigner::from_sdk(
                &sdk,
                config.uploads_bucket()?,
            ))
            .with_campaigns(CampaignTimers::from_config(&config, &sdk)?))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Answers one request. Never fails: every error is an HTTP answer.
    ///
    /// One span per request with the route template (never the raw path, which can hold a phone
    /// number), the business, the message id and the outcome (the error code, or what
    /// happened); API keys are never logged. Every answer carries `x-request-id`, and an error
    /// body its `request_id`: the id every log line of the invocation carries.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            route = field::Empty,
            business = field::Empty,
            message_id = field::Empty,
            outcome = field::Empty,
            status = field::Empty,
        );
        let id = request_id(&request);
        let answer = async {
            match (self.route(&request).await, id) {
                (Err(error), Some(id)) => Err(error.with_detail("request_id", id)),
                (answer, _) => answer,
            }
        };
        with_request_id(vbm_http::answer_in(span, answer).await, id)
    }

    async fn route(&self, request: &Request) -> Answer {
        let (endpoint, params) = routes::resolve(request.method(), request_path(request))?;
        tracing::Span::current().record("route", endpoint.path());
        let business = self
            .businesses
            .authenticate(&self.store, request, Instant::now())
            .await?;
        tracing::Span::current().record("business", business.id.as_str());
        let param = || params.first().map(String::as_str).unwrap_or_default();
        match endpoint {
            Endpoint::SendMessage => routes::messages::send(self, &business, request).await,
            Endpoint::GetMessage => routes::messages::get(self, &business, param()).await,
            Endpoint::GetSession => routes::sessions::get(self, &business, param()).await,
            Endpoint::EraseContact => routes::contacts::erase(self, &business, param()).await,
            Endpoint::ListTemplates => routes::templates::list(self, &business, request).await,
            Endpoint::CreateTemplate => routes::templates::create(self, &business, request).await,
            Endpoint::GetTemplate => routes::templates::get(self, &business, param()).await,
            Endpoint::DeleteTemplate => routes::templates::delete(self, &business, param()).await,
            Endpoint::CreateCampaign => routes::campaigns::create(self, &business, request).await,
            Endpoint::CreateUpload => routes::uploads::create(self, &business, request).await,
            Endpoint::ListCampaigns => routes::campaigns::list(self, &business, request).await,
            Endpoint::GetCampaign => routes::campaigns::get(self, &business, param()).await,
            Endpoint::PauseCampaign => {
                routes::campaigns::control(self, &business, param(), Control::Pause).await
            }
            Endpoint::ResumeCampaign => {
                routes::campaigns::control(self, &business, param(), Control::Resume).await
            }
            Endpoint::CancelCampaign => {
                routes::campaigns::control(self, &business, param(), Control::Cancel).await
            }
            Endpoint::ListEvents => routes::events::list(self, &business, request).await,
            Endpoint::ReplayEvents => routes::events::replay(self, &business, request).await,
            Endpoint::GetUsage => routes::usage::get(self, &business, request).await,
        }
    }
}

/// An [`ApiError`] for a refusal in a path parameter or field, with `field` set.
pub(crate) fn with_field(error: ApiError, field: &str) -> ApiError {
    error.with_detail("field", field)
}
