//! Viber's status callback (docs/viber.md): `POST /viber/status/{secret}` (or
//! `POST /viber/status` when no URL secret is configured), what became of a message the
//! business sent, or the user's (un)subscription.
//!
//! One request, in order:
//! 1. **authenticate** ([`CallbackAuth`](viber::CallbackAuth): URL secret, source CIDRs, HMAC): `401 unauthorized` /
//!    `403 ip_not_allowed`, nothing stored;
//! 2. **parse** ([`StatusCallback`], tolerant: without `message_time` the arrival time is
//!    taken); a callback naming a `service_id` no business has is kept aside;
//! 3. by `message_status`:
//!    - **0 delivered, 1 seen, 2 expired**: the message is found through Viber's
//!      `message_token` (the `TOKEN` item `dispatch` writes with `sent`), and the status is
//!      applied forward only ([`Messages::apply_status`]; every distinct callback is kept in the
//!      history in arrival order, up to [`vbm_store::MAX_HISTORY`] entries, then only counted;
//!      an identical one, same status and time, delivered again writes nothing). When it moved, `message.status` is published. When it did not move but
//!      the message already stands at this very status, the same event is published again (same
//!      `event_id`): that is a redelivery, possibly after a crash between the write and the
//!      queueing, and the business de-duplicates. A late `delivered` after `seen` publishes
//!      nothing.
//!    - **4 subscribe, 5 unsubscribe**: the user is `phone_number` at the business of
//!      `service_id` when the callback names both, else the recipient of the token's message;
//!      the opt-out is set ([`Conversations::set_opted_out`]) and `contact.opted_in` /
//!      `contact.opted_out` is published (again, with the same id, for a redelivery).
//!    - **any other code**: counted (`CallbackStatusUnknown`), kept in the message's history as
//!      it came (`{"status": "unknown", "viber_status": N}`), and nothing else: no status
//!      moves, no event.
//!
//! A status naming a `service_id` is applied only to a message of the business with that
//! service id: a mismatch is kept aside, never applied to another tenant's message.
//!
//! **Kept aside** (the quarantine, answered `200`; `vbmctl quarantine replay` runs
//! [`CallbackApp::replay`], this same code, once the cause is fixed): a body that cannot be parsed, an
//! unknown or mismatched service id, a status for a token still unknown past the message
//! retention (the window statuses are kept for), an unknown code for a token not known yet.
//!
//! **A status for a token we do not know yet is kept** ([`Messages::keep_pending_status`]) and
//! answered `200`: Viber can call back before `dispatch` has recorded the token (its answer to
//! `send_message` and the first status race, and a backed-up `dispatch` can take longer than
//! Viber keeps retrying). `dispatch` applies what was kept right after it records the token,
//! through the same [`Messages::apply_status`] and the same event. The keep is conditioned on the
//! token still being unknown, so if `dispatch` recorded it in between, the status is applied
//! here instead: exactly one of the two applies it (the `vbm_store` `pending` module says why).
//! A repeat of a kept status keeps one. An (un)subscribe with neither a phone number nor a
//! known token is still refused with `503 unavailable` and `Retry-After` (nothing tells whose
//! it is). A status for a message that is gone (erased, or past its retention) is answered
//! `200` and dropped: there is nothing left to update.
//!
//! Success is `200 {"status": 0, "status_message": "ok"}`; a queue failure is `503`.

use serde_json::json;
use session_rules::{CallbackStatus, MessageStatus, PhoneNumber, Timestamp};
use vbm_callbacks::{Aside, CallbackApp, Callbacks, Route, Step};
use vbm_events::{Event, EventKind};
use vbm_http::ApiError;
use vbm_platform::config::Config;
use vbm_platform::time::rfc3339;
use vbm_store::{BusinessId, Kept, PendingStatus, TokenRef};
use viber::StatusCallback;

pub use vbm_callbacks::{AuthSource, ServiceDirectory, StartError};
pub use vbm_http::Outcome;

/// `Retry-After` for an (un)subscribe without a phone number whose token is not known yet:
/// long enough for `dispatch` to record the send it is racing with.
pub const UNKNOWN_TOKEN_RETRY_AFTER_SECONDS: u32 = 5;

/// The route, as the quarantine records it.
pub const ROUTE: &str = "POST /viber/status";

/// The status callback of one container.
pub type App = CallbackApp<Status>;

/// The status route: what a delivery status or an (un)subscription does once authenticated.
#[derive(Debug, Default)]
pub struct Status {
    /// SMS failover: where `expired` queues a failover job; `None` when not deployed.
    failover: Option<vbm_queue::FailoverQueue>,
}

impl Status {
    /// Queues an SMS failover job on `queue` when a message expires.
    pub fn with_failover(mut self, queue: vbm_queue::FailoverQueue) -> Self {
        self.failover = Some(queue);
        self
    }
}

impl Route for Status {
    const ROUTE: &'static str = ROUTE;

    /// `FAILOVER_QUEUE_URL`: the SMS failover queue.
    async fn from_config(config: &Config) -> Result<Self, StartError> {
        let failover = vbm_queue::FailoverQueue::new(
            aws_sdk_sqs::Client::new(&vbm_platform::aws::sdk_config().await),
            config.failover_queue_url()?,
        );
        Ok(Self {
            failover: Some(failover),
        })
    }

    async fn process(
        &self,
        callbacks: &Callbacks,
        body: &[u8],
        received: Timestamp,
    ) -> Result<Step, ApiError> {
        let handling = Handling {
            callbacks,
            failover: self.failover.as_ref(),
        };
        handling.process(body, received).await
    }
}

/// One callback being handled: the container's shared parts and the route's.
struct Handling<'a> {
    callbacks: &'a Callbacks,
    failover: Option<&'a vbm_queue::FailoverQueue>,
}

impl Handling<'_> {
    /// Everything after authentication, for a callback that arrived at `received` (without
    /// Viber's time, the status is dated then).
    async fn process(&self, body: &[u8], received: Timestamp) -> Result<Step, ApiError> {
        let callback = match StatusCallback::parse(body) {
            Ok(callback) => callback,
            Err(error) => return Ok(Aside::unparseable(&error).into()),
        };
        let now = self.callbacks.now();
        let at = callback.at(received);
        let span = tracing::Span::current();
        span.record("message_token", callback.message_token.as_str());
        span.record("viber_status", status_name(callback.status));
        vbm_callbacks::record_lag(now, at);
        let named = match callback.service_id {
            None => None,
            Some(service_id) => match self.callbacks.business(service_id).await? {
                Ok(business) => Some((service_id, business)),
                Err(aside) => return Ok(aside.into()),
            },
        };
        let told = Told {
            callback: &callback,
            at,
            named: named.as_ref(),
        };
        match callback.status {
            CallbackStatus::Message(status) => self.message_status(&told, status, now).await,
            CallbackStatus::Subscribe => self.subscription(&told, false, now).await,
            CallbackStatus::Unsubscribe => self.subscription(&told, true, now).await,
            CallbackStatus::Unknown(code) => self.unknown_status(&told, code, now).await,
        }
    }

    /// The message of a token, when the callback may be applied to it: a callback naming a
    /// service id applies only to a message of the business with that service id (#14: never
    /// another tenant's message).
    fn owned(told: &Told<'_>, message: TokenRef) -> Result<TokenRef, Aside> {
        match told.named {
            Some((service_id, business)) if *business != message.business => Err(
                Aside::service_mismatch(*service_id, message.business.as_str()),
            ),
            _ => Ok(message),
        }
    }

    /// The message of an (un)subscribe's token, or `503` with `Retry-After` when it is not
    /// known yet.
    async fn token(&self, callback: &StatusCallback, now: Timestamp) -> Result<TokenRef, ApiError> {
        match self
            .callbacks
            .store()
            .messages()
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
        told: &Told<'_>,
        status: MessageStatus,
        now: Timestamp,
    ) -> Result<Step, ApiError> {
        let callback = told.callback;
        let store = self.callbacks.store();
        let message = match store
            .messages()
            .message_by_token(&callback.message_token, now)
            .await?
        {
            Some(message) => message,
            None => {
                // Statuses are kept for an unknown token as long as messages are: one older
                // than that can no longer meet its message.
                if now.as_millis() - told.at.as_millis()
                    > store.retention().messages.as_millis() as i64
                {
                    return Ok(Aside::token_unknown(
                        "a status for a token still unknown past the message retention",
                    )
                    .into());
                }
                let pending = PendingStatus {
                    status,
                    at: told.at,
                };
                let claimed = told.named.map(|(service_id, _)| *service_id);
                match store
                    .messages()
                    .keep_pending_status_for(&callback.message_token, pending, claimed, now)
                    .await?
                {
                    Kept::Pending => return Ok(vbm_callbacks::ok("kept_pending").into()),
                    // Recorded since we looked: dispatch will not see this status, apply it here.
                    Kept::Known(message) => message,
                    Kept::Gone => return Ok(vbm_callbacks::ok("message_gone").into()),
                }
            }
        };
        let message = match Self::owned(told, message) {
            Ok(message) => message,
            Err(aside) => return Ok(aside.into()),
        };
        let span = tracing::Span::current();
        span.record("business", message.business.as_str());
        span.record("message_id", message.message_id.as_str());
        let Some(change) = store
            .messages()
            .apply_status(&message.business, &message.message_id, status, told.at)
            .await?
        else {
            return Ok(vbm_callbacks::ok("message_gone").into());
        };
        let outcome = match (change.publishes(status), change.moved, change.replay) {
            (true, true, _) => "moved",
            (true, false, true) => "replayed",
            (true, false, false) => "repeated",
            (false, _, true) => return Ok(vbm_callbacks::ok("replayed").into()),
            (false, _, false) => return Ok(vbm_callbacks::ok("kept_in_history").into()),
        };
        self.callbacks
            .publish(&status_event(&message, status, callback, told.at))
            .await?;
        if status == MessageStatus::Expired {
            self.queue_failover(&message, now).await?;
        }
        Ok(vbm_callbacks::ok(outcome).into())
    }

    /// SMS failover: an `expired` message whose failover may start on it gets a
    /// job (again on a redelivered callback: the first may have died before queueing it;
    /// `failover` sends one SMS whatever the number of jobs).
    async fn queue_failover(&self, message: &TokenRef, now: Timestamp) -> Result<(), ApiError> {
        let Some(queue) = &self.failover else {
            return Ok(());
        };
        let Some(record) = self
            .callbacks
            .store()
            .messages()
            .get_message(&message.business, &message.message_id, now)
            .await?
        else {
            return Ok(());
        };
        let trigger = session_rules::failover::Trigger::Expired;
        if record.failover.as_ref().is_some_and(|f| f.fires(trigger)) {
            let job = vbm_queue::FailoverJob {
                business_id: message.business.as_str().to_owned(),
                message_id: message.message_id.as_str().to_owned(),
                trigger: trigger.as_str().to_owned(),
            };
            queue
                .enqueue(&job, std::time::Duration::ZERO)
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
        }
        Ok(())
    }

    /// A `message_status` code no source documents: counted, kept in its message's history as
    /// it came, and nothing else (no status moves, no event). For a token not known yet there
    /// is no history to keep it in: it is kept aside, for a replay once the token is known.
    async fn unknown_status(
        &self,
        told: &Told<'_>,
        code: i64,
        now: Timestamp,
    ) -> Result<Step, ApiError> {
        vbm_platform::metrics::callback_status_unknown();
        tracing::warn!(code, "a message_status code we do not know");
        let store = self.callbacks.store();
        let Some(message) = store
            .messages()
            .message_by_token(&told.callback.message_token, now)
            .await?
        else {
            return Ok(Aside::token_unknown(format!(
                "message_status {code} (not a known code) for a token not known yet"
            ))
            .into());
        };
        let message = match Self::owned(told, message) {
            Ok(message) => message,
            Err(aside) => return Ok(aside.into()),
        };
        let span = tracing::Span::current();
        span.record("business", message.business.as_str());
        span.record("message_id", message.message_id.as_str());
        let kept = store
            .messages()
            .note_unknown_status(&message.business, &message.message_id, code, told.at)
            .await?;
        Ok(vbm_callbacks::ok(if kept {
            "unknown_status_kept"
        } else {
            "message_gone"
        })
        .into())
    }

    async fn subscription(
        &self,
        told: &Told<'_>,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<Step, ApiError> {
        let callback = told.callback;
        let (business, phone) = match (&callback.phone_number, told.named) {
            (Some(phone), Some((_, business))) => (business.clone(), phone.clone()),
            _ => {
                let message = match Self::owned(told, self.token(callback, now).await?) {
                    Ok(message) => message,
                    Err(aside) => return Ok(aside.into()),
                };
                (message.business, message.phone)
            }
        };
        tracing::Span::current().record("business", business.as_str());
        let changed = self
            .callbacks
            .store()
            .conversations()
            .set_opted_out(&business, &phone, opted_out, now)
            .await?;
        // Unchanged means the user already stood where this callback puts them: a redelivery
        // (perhaps after a crash before the event was queued), so the same event goes again.
        self.callbacks
            .publish(&opt_event(&business, &phone, opted_out, callback, told.at))
            .await?;
        Ok(vbm_callbacks::ok(match (opted_out, changed) {
            (true, true) => "opted_out",
            (true, false) => "opted_out_repeated",
            (false, true) => "opted_in",
            (false, false) => "opted_in_repeated",
        })
        .into())
    }
}

/// A parsed status callback with what the handler has learnt about it.
struct Told<'a> {
    callback: &'a StatusCallback,
    /// Viber's time, or the arrival time without one.
    at: Timestamp,
    /// The service id the callback names and its business.
    named: Option<&'a (u64, BusinessId)>,
}

fn status_name(status: CallbackStatus) -> &'static str {
    match status {
        CallbackStatus::Message(s) => s.as_str(),
        CallbackStatus::Subscribe => "subscribe",
        CallbackStatus::Unsubscribe => "unsubscribe",
        CallbackStatus::Unknown(_) => "unknown",
    }
}

/// `message.status`, one per message and status ([`CallbackStatus::event`]: the same event
/// `dispatch` builds for a status it applies after keeping it).
pub fn status_event(
    message: &TokenRef,
    status: MessageStatus,
    callback: &StatusCallback,
    at: Timestamp,
) -> Event {
    vbm_events::CallbackStatus {
        business: message.business.as_str(),
        message_id: message.message_id.as_str(),
        to: message.phone.as_e164(),
        status,
        at,
        token: &callback.message_token,
        billing: message.billing,
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
    at: Timestamp,
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
        at,
        json!({
            "phone": phone.as_e164(),
            "reason": reason,
            "at": rfc3339(at),
            "viber_message_token": callback.message_token,
        }),
    )
}
