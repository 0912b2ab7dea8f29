//! Callbacks kept aside: what a handler decides when an authenticated callback cannot be used
//! now, and how it is kept ([`Callbacks::finish`]) or replayed ([`Callbacks::replayed`]).
//!
//! Viber gets `200` for a callback kept aside: a `4xx` would make it retry, then drop what the
//! user wrote. The callback is kept whole in the table (`vbm_store` `quarantine` module),
//! counted (`CallbackQuarantined`, alarmed in `template.yaml`), and an operator replays it
//! through the same handler code once the cause is fixed (`vbmctl quarantine replay`).

use std::sync::Arc;

use lambda_http::{Body, Response};
use vbm_events::EventsQueue;
use vbm_http::{Answer, ApiError, Outcome};
use vbm_platform::clock::Clock;
use vbm_platform::metrics;
use vbm_store::{QuarantineReason, Quarantined, Store};
use viber::{CallbackAuth, CallbackError};

use crate::Callbacks;

/// Why a callback cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aside {
    pub reason: QuarantineReason,
    pub detail: String,
    /// The Viber service id the callback names, once it was read.
    pub service_id: Option<u64>,
}

impl Aside {
    pub fn unparseable(error: &CallbackError) -> Self {
        Self {
            reason: QuarantineReason::Unparseable,
            detail: format!("{}: {}", error.code(), error.message()),
            service_id: None,
        }
    }

    pub fn unknown_service(service_id: u64) -> Self {
        Self {
            reason: QuarantineReason::UnknownService,
            detail: format!("no business has Viber service id {service_id}"),
            service_id: Some(service_id),
        }
    }

    /// A user message on a one-way service id: users cannot write to one, so nothing says
    /// which conversation it belongs to; kept for an operator (say, the id was registered
    /// with the wrong kind: fix it with `vbmctl business service`, then replay).
    pub fn one_way_service(service_id: u64, business: &str) -> Self {
        Self {
            reason: QuarantineReason::OneWayService,
            detail: format!(
                "a user message on service id {service_id}, business {business}'s one-way \
                 service: users cannot write to a one-way service"
            ),
            service_id: Some(service_id),
        }
    }

    /// A status naming `named`, for a message of a business whose service id is not it.
    pub fn service_mismatch(named: u64, owner: &str) -> Self {
        Self {
            reason: QuarantineReason::ServiceMismatch,
            detail: format!(
                "the status names service id {named}, but its message belongs to business {owner}"
            ),
            service_id: Some(named),
        }
    }

    pub fn token_unknown(detail: impl Into<String>) -> Self {
        Self {
            reason: QuarantineReason::TokenUnknown,
            detail: detail.into(),
            service_id: None,
        }
    }
}

/// What handling a callback's body came to.
#[derive(Debug)]
pub enum Step {
    /// Used: Viber's answer.
    Done(Response<Body>),
    /// Not usable now: to be kept (a fresh callback) or left where it is (a replay).
    Aside(Aside),
}

impl From<Response<Body>> for Step {
    fn from(response: Response<Body>) -> Self {
        Step::Done(response)
    }
}

impl From<Aside> for Step {
    fn from(aside: Aside) -> Self {
        Step::Aside(aside)
    }
}

/// What a replay of a quarantined callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Used (the handler's outcome, e.g. `recorded`); taken out of the quarantine.
    Used(&'static str),
    /// Still not usable: left in the quarantine, with today's reason.
    StillAside(Aside),
}

impl Callbacks {
    /// A container that only replays quarantined callbacks (`vbmctl`): it never authenticates
    /// a request, so its check refuses everything.
    pub fn for_replay(store: Store, events: EventsQueue, clock: Arc<dyn Clock>) -> Self {
        // A random secret nobody holds: no request can pass.
        let never = hex::encode(rand::random::<[u8; 32]>());
        let auth = CallbackAuth::from_parts(Some(&never), "")
            .unwrap_or_else(|e| unreachable!("a non-empty secret configures: {e}"));
        Self::new(store, events, clock, auth)
    }

    /// Viber's answer for a fresh callback: `Done` as it is, `Aside` kept whole in the
    /// quarantine (a write failure is `503`, so Viber retries) and answered `200`.
    pub async fn finish(&self, route: &str, body: &[u8], step: Result<Step, ApiError>) -> Answer {
        match step? {
            Step::Done(response) => Ok(response),
            Step::Aside(aside) => {
                let id = self
                    .store
                    .quarantine()
                    .quarantine_from(
                        route,
                        body,
                        aside.reason,
                        &aside.detail,
                        aside.service_id,
                        self.now(),
                    )
                    .await?;
                metrics::callback_quarantined();
                tracing::warn!(
                    quarantine_id = %id,
                    reason = aside.reason.as_str(),
                    detail = %aside.detail,
                    "callback kept in the quarantine"
                );
                Ok(crate::ok("quarantined"))
            }
        }
    }

    /// What a replay of `entry` came to: used, it leaves the quarantine.
    pub async fn replayed(
        &self,
        entry: &Quarantined,
        step: Result<Step, ApiError>,
    ) -> Result<Replay, ApiError> {
        match step? {
            Step::Done(response) => {
                self.store
                    .quarantine()
                    .release_quarantined(&entry.id)
                    .await?;
                Ok(Replay::Used(
                    response.extensions().get::<Outcome>().map_or("ok", |o| o.0),
                ))
            }
            Step::Aside(aside) => Ok(Replay::StillAside(aside)),
        }
    }
}
