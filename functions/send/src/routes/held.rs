//! `wait_for_session` on `POST /v1/messages`: a session message that waits for the user's
//! reply instead of being refused `no_session` (docs/api.md, "A message that waits for the
//! user's reply").
//!
//! The request's `wait_for_session` is `{"until": RFC 3339, "fallback": {"template": {...}}}`.
//! It is read here, the fallback admitted as the template send it would be (the same steps as
//! a send's, on a body `{"to", "type": "template", "template"}`). The store answers a retry as
//! the first time, then checks `until` (`session_rules::hold::check_until`: a retry after
//! `until` passed is still the same request) and decides send-now or hold on the conversation
//! (`Messages::record_hold`; the dry run's `Messages::preview_hold`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use session_rules::{Billing, Conversation, SendClass, Timestamp};
use vbm_http::{ApiError, Outcome, json_response};
use vbm_outbound::campaign::{WaitError, read_wait};
use vbm_store::{Business, HeldFallback, HoldOutcome, MessageId, NewHold, NewSend, SendOutcome};

use super::messages::{Prepared, prepare_body};
use crate::App;
use crate::views::{HoldView, SendAccepted, SessionView};

/// The request's field.
pub const WAIT_FOR_SESSION: &str = "wait_for_session";

/// A send's `wait_for_session`, read and checked.
#[derive(Debug, Clone)]
pub struct Wait {
    pub until: Timestamp,
    pub fallback: Option<HeldFallback>,
}

fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::validation_failed(Some(field), why.to_string())
}

/// Reads `wait_for_session` of a send whose message is `prepared`.
pub(crate) async fn parse(
    app: &App,
    business: &Business,
    prepared: &Prepared,
    raw: &Value,
) -> Result<Wait, ApiError> {
    let read = read_wait(raw);
    // The shape first, then the class, then `until`: the order the checks always had.
    if let Err(WaitError::Shape(why)) = &read {
        return Err(invalid(WAIT_FOR_SESSION, why));
    }
    if prepared.admission.class != SendClass::Session {
        return Err(invalid(
            WAIT_FOR_SESSION,
            "only a session message waits for the user's reply; other messages go at any time",
        ));
    }
    let terms = read.map_err(|_| invalid("wait_for_session.until", WaitError::UNTIL_HINT))?;
    let fallback = match terms.fallback_template {
        None => None,
        Some(template) => {
            let value = json!({
                "to": prepared.parsed.to.as_e164(),
                "type": "template",
                "template": template,
            });
            let template = Box::pin(prepare_body(app, business, None, value, None)).await?;
            Some(HeldFallback {
                kind: template.parsed.message.kind().to_owned(),
                class: template.admission.class,
                billing: template.admission.billing,
                payload: template.payload,
                service_id: Some(template.service_id),
            })
        }
    };
    Ok(Wait {
        until: terms.until,
        fallback,
    })
}

/// Records a send that may wait: `Ok(outcome)` when it went (or was refused) as a send, or
/// `Err(answer)`, the `202 held` answer.
pub(crate) async fn record(
    app: &App,
    send: NewSend<'_>,
    wait: &Wait,
    now: Timestamp,
    caps: &[session_rules::caps::Cap],
) -> Result<Result<SendOutcome, Response<Body>>, ApiError> {
    // `until` is checked by the store after an earlier answer for the key is looked up: a
    // retry after `until` passed answers as the first time.
    let message_id = send.message_id.clone();
    let billing = send.billing;
    let hold = new_hold(send, wait);
    let view = HoldView::waiting(wait.until, wait.fallback.is_some());
    Ok(
        match app.store().messages().record_hold(&hold, caps).await? {
            HoldOutcome::Sent(outcome) => Ok(outcome),
            HoldOutcome::Held { conversation } => Err(held(
                app,
                message_id,
                &conversation,
                billing,
                now,
                view,
                "held",
            )),
            HoldOutcome::ReplayedHeld {
                message_id,
                conversation,
                accepted_at,
            } => Err(held(
                app,
                message_id,
                &conversation,
                billing,
                accepted_at,
                view,
                "replayed",
            )),
        },
    )
}

/// The hold a send that may wait asks the store for.
pub(crate) fn new_hold<'a>(send: NewSend<'a>, wait: &Wait) -> NewHold<'a> {
    NewHold {
        // A held message has no SMS failover: its fallback template is its alternative.
        send: NewSend {
            failover: None,
            ..send
        },
        until: wait.until,
        fallback: wait.fallback.clone(),
    }
}

fn held(
    app: &App,
    message_id: MessageId,
    conversation: &Conversation,
    billing: session_rules::BillingCategory,
    at: Timestamp,
    hold: HoldView,
    outcome: &'static str,
) -> Response<Body> {
    tracing::Span::current().record("message_id", message_id.as_str());
    let answer = SendAccepted {
        message_id: message_id.to_string(),
        status: "held",
        session: SessionView::from(conversation.snapshot(at, app.store().limits())),
        // What it will be billed as when it goes, on the conversation as it is.
        billing: Billing::of_send(billing, conversation),
        hold: Some(hold),
    };
    let mut response = json_response(StatusCode::ACCEPTED, &answer);
    response.extensions_mut().insert(Outcome(outcome));
    response
}
