//! Viber's inbound callback (docs/viber.md): `POST /viber/inbound/{secret}` (or
//! `POST /viber/inbound` when no URL secret is configured), a user wrote to a business.
//!
//! One request, in order:
//! 1. **authenticate** ([`CallbackAuth`](viber::CallbackAuth): the URL secret, the source-CIDR
//!    allowlist and/or the `X-Viber-Signature` HMAC of the raw bytes, as configured):
//!    `401 unauthorized` / `403 ip_not_allowed`, nothing stored;
//! 2. **parse** ([`InboundCallback`], tolerant: the token and the time are optional);
//! 3. find the **business** by Viber's `service_id` (cached per container), and the service's
//!    kind: a user message on a one-way service is kept aside (`one_way_service`); on a two-way
//!    service it opens a session only while `VIBER_TWO_WAY_SESSIONS` is `open`;
//! 4. **record** it ([`Conversations::record_inbound`]: one transaction that opens or unlocks the session,
//!    ends an opt-out, and keeps the message, once per de-duplication key: Viber's
//!    `message_token`, or without one a key derived from the sender and the content,
//!    [`InboundCallback::dedupe_key`]; without Viber's time, the receive time is taken);
//! 5. **release** the messages the conversation holds for the user's reply
//!    ([`Messages::release_held`](vbm_store::Messages::release_held)), only when the write of step 4
//!    found some: each goes by the session rules and a direct send's write (its caps
//!    counted in it; over a cap it is dropped `quota_exceeded`), exactly once
//!    (a redelivered callback releases what a crashed first delivery left held); a store
//!    failure is `503`, so Viber retries;
//! 6. **publish** `contact.opted_in` (when an opt-out ended) and `message.inbound`. A redelivered
//!    callback changes nothing and publishes the same events again, with the same ids: that is
//!    what makes a crash between 4 and 5 lose nothing. A queue failure is `503` so Viber retries.
//!
//! An authenticated callback that cannot be parsed, or names a service id no business has, is
//! **kept whole in the quarantine** and answered `200` ([`vbm_callbacks::Aside`]); an operator
//! replays it with `vbmctl quarantine replay` through [`CallbackApp::replay`], the same code.
//! The pipeline itself is `vbm_callbacks::CallbackApp`'s; this crate is its [`Inbound`] route.
//!
//! Success is `200 {"status": 0, "status_message": "ok"}`.

mod events;

use session_rules::{Service, Timestamp, UserMessageEffect};
use vbm_callbacks::{Aside, CallbackApp, Callbacks, Route, Step};
use vbm_http::ApiError;
use vbm_platform::config::Config;
use vbm_store::{InboundContent, InboundOutcome};
use viber::InboundCallback;

pub use events::for_message as events_for_message;
pub use vbm_callbacks::{AuthSource, ServiceDirectory, StartError};
pub use vbm_http::Outcome;

/// The route, as the quarantine records it.
pub const ROUTE: &str = "POST /viber/inbound";

/// The inbound callback of one container.
pub type App = CallbackApp<Inbound>;

/// The inbound route: what a user message does once authenticated.
#[derive(Debug, Default)]
pub struct Inbound;

impl Route for Inbound {
    const ROUTE: &'static str = ROUTE;

    async fn from_config(_: &Config) -> Result<Self, StartError> {
        Ok(Self)
    }

    /// Everything after authentication, for a callback that arrived at `received` (a replay's
    /// is its first arrival: without Viber's time, that is when the user wrote).
    async fn process(
        &self,
        callbacks: &Callbacks,
        body: &[u8],
        received: Timestamp,
    ) -> Result<Step, ApiError> {
        let callback = match InboundCallback::parse(body) {
            Ok(callback) => callback,
            Err(error) => return Ok(Aside::unparseable(&error).into()),
        };
        let now = callbacks.now();
        let key = callback.dedupe_key(received);
        let sent_at = callback.sent_at(received);
        let span = tracing::Span::current();
        span.record("service_id", callback.service_id);
        span.record("message_token", key.as_str());
        vbm_callbacks::record_lag(now, sent_at);

        let (business, kind) = match callbacks.service(callback.service_id).await? {
            Ok(owner) => owner,
            Err(aside) => return Ok(aside.into()),
        };
        span.record("business", business.as_str());
        let store = callbacks.store();
        // What writing to this kind of service does (docs/viber.md, "Services").
        let opens_session = match UserMessageEffect::of(kind, store.limits().two_way_sessions) {
            UserMessageEffect::OpensSession => true,
            UserMessageEffect::InboundOnly => false,
            UserMessageEffect::Refused => {
                return Ok(Aside::one_way_service(callback.service_id, business.as_str()).into());
            }
        };

        let message = callback.message;
        let content = InboundContent {
            text: message.text,
            media: message.media,
            file_name: message.file_name,
            tracking_data: message.tracking_data,
            extra: message.extra,
        };
        let outcome = store
            .conversations()
            .record_user_message_on(
                &business,
                &callback.phone_number,
                &key,
                &content,
                sent_at,
                now,
                opens_session,
            )
            .await?;
        // Messages waiting for the user's reply go now, each by the session rules (step 5).
        // Nothing held: no call (the write above was conditioned on it).
        if outcome.record().holds_messages {
            let released = store
                .messages()
                .release_held(&business, &callback.phone_number, now)
                .await?;
            tracing::info!(
                released = released.iter().filter(|s| s.moved_now).count(),
                "held messages released"
            );
        }
        let service = Service {
            id: callback.service_id,
            kind,
        };
        for event in events::for_message(&business, service, outcome.record(), store.limits()) {
            callbacks.publish(&event).await?;
        }
        Ok(vbm_callbacks::ok(match outcome {
            InboundOutcome::New(ref r) if r.cleared_opt_out() => "recorded_opted_in",
            InboundOutcome::New(_) => "recorded",
            InboundOutcome::Duplicate(_) => "duplicate",
        })
        .into())
    }
}
