//! Viber's status callback (DESIGN §3 "Viber side"): `POST /viber/status/{secret}` (or
//! `POST /viber/status` when no URL secret is configured), what became of a message the
//! business sent, or the user's (un)subscription.
//!
//! One request, in order:
//! 1. **authenticate** ([`CallbackAuth`](viber::CallbackAuth): URL secret, source CIDRs, HMAC): `401 unauthorized` /
//!    `403 ip_not_allowed`, nothing stored;
//! 2. **parse** ([`StatusCallback`]): `400 invalid_json` / `422 validation_failed`;
//! 3. by `message_status`:
//!    - **0 delivered, 1 seen, 2 expired**: the message is found through Viber's
//!      `message_token` (the `TOKEN` item `dispatch` writes with `sent`), and the status is
//!      applied forward only ([`Store::apply_status`]; every distinct callback is kept in the
//!      history in arrival order, up to [`vbm_store::MAX_HISTORY`] entries, then only counted;
//!      an identical one, same status and time, delivered again writes nothing). When it moved, `message.status` is published. When it did not move but
//!      the message already stands at this very status, the same event is published again (same
//!      `event_id`): that is a redelivery, possibly after a crash between the write and the
//!      queueing, and the business de-duplicates. A late `delivered` after `seen` publishes
//!      nothing.
//!    - **4 subscribe, 5 unsubscribe**: the user is `phone_number` at the business of
//!      `service_id` when the callback names both, else the recipient of the token's message;
//!      the opt-out is set ([`Store::set_opted_out`]) and `contact.opted_in` /
//!      `contact.opted_out` is published (again, with the same id, for a redelivery).
//!
//! **A status for a token we do not know yet is kept** ([`Store::keep_pending_status`]) and
//! answered `200`: Viber can call back before `dispatch` has recorded the token (its answer to
//! `send_message` and the first status race, and a backed-up `dispatch` can take longer than
//! Viber keeps retrying). `dispatch` applies what was kept right after it records the token,
//! through the same [`Store::apply_status`] and the same event. The keep is conditioned on the
//! token still being unknown, so if `dispatch` recorded it in between, the status is applied
//! here instead: exactly one of the two applies it (the `vbm_store` `pending` module says why).
//! A repeat of a kept status keeps one. An (un)subscribe with neither a phone number nor a
//! known token is still refused with `503 unavailable` and `Retry-After` (nothing tells whose
//! it is). A status for a message that is gone (erased, or past its retention) is answered
//! `200` and dropped: there is nothing left to update.
//!
//! Success is `200 {"status": 0, "status_message": "ok"}`; a queue failure is `503`.

use std::sync::Arc;
use std::time::Instant;

use lambda_http::{Body, Request, Response};
use serde_json::json;
use session_rules::{CallbackStatus, MessageStatus, PhoneNumber, Timestamp};
use tracing::{Instrument, field};
use vbm_callbacks::Callbacks;
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_platform::clock::Clock;
use vbm_platform::config::Config;
use vbm_platform::http::{Answer, ApiError, respond_recorded};
use vbm_platform::time::rfc3339;
use vbm_store::{BusinessId, Kept, PendingStatus, Store, TokenRef};
use viber::StatusCallback;

pub use vbm_callbacks::{AuthSource, ServiceDirectory, StartError};
pub use vbm_platform::http::Outcome;

/// `Retry-After` for an (un)subscribe without a phone number whose token is not known yet:
/// long enough for `dispatch` to record the send it is racing with.
pub const UNKNOWN_TOKEN_RETRY_AFTER_SECONDS: u32 = 5;

/// The status callback of one container.
pub struct App {
    callbacks: Callbacks,
}

impl App {
    pub fn new(
        store: Store,
        events: EventsQueue,
        clock: Arc<dyn Clock>,
        auth: impl Into<AuthSource>,
    ) -> Self {
        Self {
            callbacks: Callbacks::new(store, events, clock, auth),
        }
    }

    /// Reads the callback authentication's settings first (no secret id and no CIDRs: an
    /// error, before any SDK work), then `VBM_TABLE`, `EVENTS_QUEUE_URL`, the session limits
    /// and `RETENTION_DAYS`, builds the SDK clients once and reads the callback secret from
    /// Secrets Manager ([`AuthSource`]).
    pub async fn from_config(config: &Config) -> Result<Self, StartError> {
        Ok(Self {
            callbacks: Callbacks::from_config(config).await?,
        })
    }

    pub async fn from_env() -> Result<Self, StartError> {
        Self::from_config(&Config::from_env()).await
    }

    pub fn store(&self) -> &Store {
        self.callbacks.store()
    }

    /// Answers one callback. Never fails: every error is an HTTP answer.
    ///
    /// One span per callback with the business, the message id, Viber's token and status, the
    /// callback lag (our clock minus Viber's `message_time`) and the outcome; phone numbers are
    /// never logged.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = tracing::info_span!(
            "callback",
            route = "POST /viber/status",
            business = field::Empty,
            message_id = field::Empty,
            message_token = field::Empty,
            viber_status = field::Empty,
            lag_ms = field::Empty,
            outcome = field::Empty,
            status = field::Empty,
        );
        let started = Instant::now();
        async move {
            let response = respond_recorded(self.answer(&request).await);
            tracing::info!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "callback answered"
            );
            response
        }
        .instrument(span)
        .await
    }

    async fn answer(&self, request: &Request) -> Answer {
        self.callbacks.check(request).await?;
        let callback =
            StatusCallback::parse(request.body().as_ref()).map_err(vbm_callbacks::parse_error)?;
        let now = self.callbacks.now();
        let span = tracing::Span::current();
        span.record("message_token", callback.message_token.as_str());
        span.record("viber_status", status_name(callback.status));
        vbm_callbacks::record_lag(now, callback.time);
        match callback.status {
            CallbackStatus::Message(status) => self.message_status(&callback, status, now).await,
            CallbackStatus::Subscribe => self.subscription(&callback, false, now).await,
            CallbackStatus::Unsubscribe => self.subscription(&callback, true, now).await,
        }
    }

    /// The message of an (un)subscribe's token, or `503` with `Retry-After` when it is not
    /// known yet.
    async fn token(&self, callback: &StatusCallback, now: Timestamp) -> Result<TokenRef, ApiError> {
        match self
            .callbacks
            .store()
            .message_by_token(&callback.message_token, now)
            .await?
        {
            Some(found) => Ok(found),
            None => {
                tracing::warn!("(un)subscribe for a token not known (yet): refused retryably");
                Err(ApiError {
                    retry_after: Some(UNKNOWN_TOKEN_RETRY_AFTER_SECONDS),
                    ..ApiError::unavailable(
                        "this message_token is not known yet; deliver the callback again later",
                    )
                })
            }
        }
    }

    async fn message_status(
        &self,
        callback: &StatusCallback,
        status: MessageStatus,
        now: Timestamp,
    ) -> Answer {
        let store = self.callbacks.store();
        let message = match store.message_by_token(&callback.message_token, now).await? {
            Some(message) => message,
            None => {
                let pending = PendingStatus {
                    status,
                    at: callback.time,
                };
                match store
                    .keep_pending_status(&callback.message_token, pending, now)
                    .await?
                {
                    Kept::Pending => return Ok(vbm_callbacks::ok("kept_pending")),
                    // Recorded since we looked: dispatch will not see this status, apply it here.
                    Kept::Known(message) => message,
                    Kept::Gone => return Ok(vbm_callbacks::ok("message_gone")),
                }
            }
        };
        let span = tracing::Span::current();
        span.record("business", message.business.as_str());
        span.record("message_id", message.message_id.as_str());
        let Some(change) = store
            .apply_status(
                &message.business,
                &message.message_id,
                status,
                callback.time,
            )
            .await?
        else {
            return Ok(vbm_callbacks::ok("message_gone"));
        };
        let outcome = match (change.publishes(status), change.moved, change.replay) {
            (true, true, _) => "moved",
            (true, false, true) => "replayed",
            (true, false, false) => "repeated",
            (false, _, true) => return Ok(vbm_callbacks::ok("replayed")),
            (false, _, false) => return Ok(vbm_callbacks::ok("kept_in_history")),
        };
        self.callbacks
            .publish(&status_event(&message, status, callback))
            .await?;
        Ok(vbm_callbacks::ok(outcome))
    }

    async fn subscription(
        &self,
        callback: &StatusCallback,
        opted_out: bool,
        now: Timestamp,
    ) -> Answer {
        let (business, phone) = match (&callback.phone_number, callback.service_id) {
            (Some(phone), Some(service_id)) => {
                let business = self.callbacks.business(service_id).await?;
                (business, phone.clone())
            }
            _ => {
                let message = self.token(callback, now).await?;
                (message.business, message.phone)
            }
        };
        tracing::Span::current().record("business", business.as_str());
        let changed = self
            .callbacks
            .store()
            .set_opted_out(&business, &phone, opted_out, now)
            .await?;
        // Unchanged means the user already stood where this callback puts them: a redelivery
        // (perhaps after a crash before the event was queued), so the same event goes again.
        self.callbacks
            .publish(&opt_event(&business, &phone, opted_out, callback))
            .await?;
        Ok(vbm_callbacks::ok(match (opted_out, changed) {
            (true, true) => "opted_out",
            (true, false) => "opted_out_repeated",
            (false, true) => "opted_in",
            (false, false) => "opted_in_repeated",
        }))
    }
}

fn status_name(status: CallbackStatus) -> &'static str {
    match status {
        CallbackStatus::Message(s) => s.as_str(),
        CallbackStatus::Subscribe => "subscribe",
        CallbackStatus::Unsubscribe => "unsubscribe",
    }
}

/// `message.status`, one per message and status ([`CallbackStatus::event`]: the same event
/// `dispatch` builds for a status it applies after keeping it).
pub fn status_event(message: &TokenRef, status: MessageStatus, callback: &StatusCallback) -> Event {
    vbm_events::CallbackStatus {
        business: message.business.as_str(),
        message_id: message.message_id.as_str(),
        to: message.phone.as_e164(),
        status,
        at: callback.time,
        token: &callback.message_token,
    }
    .event()
}

/// `contact.opted_out` / `contact.opted_in` for one (un)subscribe callback: its id is derived
/// from the user, the direction and Viber's token, so a redelivery yields the same `event_id`.
///
/// ```json
/// {"type": "contact.opted_out", "data": {"phone": "+380501234567", "reason": "unsubscribe",
///  "at": "…", "viber_message_token": "5379697806260881548"}}
/// ```
pub fn opt_event(
    business: &BusinessId,
    phone: &PhoneNumber,
    opted_out: bool,
    callback: &StatusCallback,
) -> Event {
    let (kind, reason) = if opted_out {
        (EventKind::ContactOptedOut, "unsubscribe")
    } else {
        (EventKind::ContactOptedIn, "subscribe")
    };
    Event::new(
        kind,
        business.as_str(),
        &format!("{}/{reason}/{}", phone.as_e164(), callback.message_token),
        callback.time,
        json!({
            "phone": phone.as_e164(),
            "reason": reason,
            "at": rfc3339(callback.time),
            "viber_message_token": callback.message_token,
        }),
    )
}
