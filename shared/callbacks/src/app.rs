//! The one request pipeline of both Viber callbacks: authenticate, run the route's own step
//! (parse, find the business, record, publish), keep aside what cannot be used yet, answer; and
//! the replay of a quarantined callback through the same step. `inbound` and `status` supply
//! only their [`Route`].

use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use session_rules::Timestamp;
use tracing::field;
use vbm_events::EventsQueue;
use vbm_http::{Answer, ApiError};
use vbm_platform::clock::Clock;
use vbm_platform::config::Config;
use vbm_store::{Quarantined, Store};

use crate::{AuthSource, Callbacks, Replay, StartError, Step};

/// What one callback route does after authentication.
pub trait Route: Sized + Send + Sync + 'static {
    /// The route, as the quarantine records it (`POST /viber/inbound`).
    const ROUTE: &'static str;

    /// The route's own settings (`status`: the failover queue); read after the shared ones.
    fn from_config(config: &Config) -> impl Future<Output = Result<Self, StartError>> + Send;

    /// Everything after authentication, for a callback that arrived at `received` (a replay's
    /// is its first arrival).
    fn process(
        &self,
        callbacks: &Callbacks,
        body: &[u8],
        received: Timestamp,
    ) -> impl Future<Output = Result<Step, ApiError>> + Send;
}

/// A callback function of one container: the shared [`Callbacks`] and the route.
pub struct CallbackApp<R> {
    callbacks: Callbacks,
    route: R,
}

impl<R: Route> CallbackApp<R> {
    pub fn with_route(callbacks: Callbacks, route: R) -> Self {
        Self { callbacks, route }
    }

    pub fn new(
        store: Store,
        events: EventsQueue,
        clock: Arc<dyn Clock>,
        auth: impl Into<AuthSource>,
    ) -> Self
    where
        R: Default,
    {
        Self::with_route(Callbacks::new(store, events, clock, auth), R::default())
    }

    /// A container that only replays quarantined callbacks (`vbmctl`).
    pub fn for_replay(store: Store, events: EventsQueue, clock: Arc<dyn Clock>) -> Self
    where
        R: Default,
    {
        Self::with_route(Callbacks::for_replay(store, events, clock), R::default())
    }

    /// Reads the callback authentication's settings first (no secret id and no CIDRs: an
    /// error, before any SDK work), then `VBM_TABLE`, `EVENTS_QUEUE_URL`, the session limits
    /// and `RETENTION_DAYS`, builds the SDK clients once and reads the callback secret from
    /// Secrets Manager ([`AuthSource`]); then the route's own settings.
    pub async fn from_config(config: &Config) -> Result<Self, StartError> {
        let callbacks = Callbacks::from_config(config).await?;
        Ok(Self::with_route(callbacks, R::from_config(config).await?))
    }

    pub async fn from_env() -> Result<Self, StartError> {
        Self::from_config(&Config::from_env()).await
    }

    pub fn store(&self) -> &Store {
        self.callbacks.store()
    }

    pub fn route(&self) -> &R {
        &self.route
    }

    /// The same container with its route changed (`status`: with the failover queue).
    pub fn map_route(self, change: impl FnOnce(R) -> R) -> Self {
        Self {
            callbacks: self.callbacks,
            route: change(self.route),
        }
    }

    /// Answers one callback. Never fails: every error is an HTTP answer.
    ///
    /// One span per callback, ending in one "answered" line, with what the route
    /// records of the business, Viber's service id, token and status, our message id, the
    /// callback lag (our clock minus Viber's time) and the outcome (fields a route leaves empty
    /// are not logged). Phone numbers and texts are never logged.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = tracing::info_span!(
            "callback",
            route = R::ROUTE,
            business = field::Empty,
            service_id = field::Empty,
            message_id = field::Empty,
            message_token = field::Empty,
            viber_status = field::Empty,
            lag_ms = field::Empty,
            outcome = field::Empty,
            status = field::Empty,
        );
        vbm_http::answer_in(span, self.answer(&request)).await
    }

    async fn answer(&self, request: &Request) -> Answer {
        self.callbacks.check(request).await?;
        let body = request.body().as_ref();
        let step = self
            .route
            .process(&self.callbacks, body, self.callbacks.now())
            .await;
        self.callbacks.finish(R::ROUTE, body, step).await
    }

    /// Replays a quarantined callback through the same code as a fresh one; used, it leaves
    /// the quarantine.
    pub async fn replay(&self, entry: &Quarantined) -> Result<Replay, ApiError> {
        let step = self
            .route
            .process(&self.callbacks, &entry.body, entry.received_at)
            .await;
        self.callbacks.replayed(entry, step).await
    }
}
