//! `POST /v1/messages` (send) and `GET /v1/messages/{id}` (where a message stands).
//!
//! A send, step by step:
//! 1. `Idempotency-Key` (optional) must be 1 to 255 printable ASCII characters;
//! 2. the body (≤ 64 KiB) must be JSON ([`SendRequestBody`]), then a valid [`SendRequest`];
//! 3. a template message loads its template; [`SendRequest::admit`] applies template and
//!    regulation rules and says what the message counts as; the business's Viber service for
//!    it is the kind the send names, else chosen by kind (`Services::choose`), or the send is
//!    `no_service_for_message`;
//! 4. [`Messages::record_send`](vbm_store::Messages::record_send) decides on the session and writes
//!    conversation, message and idempotency record in one transaction. When it commits, the
//!    message is accepted and the answer is `202`: the table's stream carries the new message to
//!    the outbound queue (`relay`, the transactional outbox), so there is no second write that
//!    could fail after the first, and nothing to take back.
//!
//! A business with caps on the message's billing category (`vbmctl business caps`) has each
//! cap's counter in that same transaction: a send over a cap is `429 quota_exceeded`, and a cap
//! reaching 80 % or 100 % is told once (`usage.cap_reached`).
//!
//! A retry with the same key and body is answered as the first time (same `message_id`, the
//! session as it was right after that send) and writes nothing.
//!
//! With `?dry_run=true` ([`super::dry_run`]) steps 1 to 3 run as they are, and step 4's decision
//! is made on the conversation as it is, without the write.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use session_rules::failover::FailoverSpec;
use session_rules::{
    Admission, Billing, Carriage, Conversation, OutboundMessage, Refusal, SendRequest,
    SendRequestBody, ServiceKind, Template, Timestamp, predefined,
};
use vbm_http::{Answer, ApiError, Outcome, from_value, json_response, read_json_value};
use vbm_platform::metrics;
use vbm_store::{Business, IdempotencyKey, MessageId, NewSend, SendOutcome};

use crate::App;
use crate::views::{MessageView, SendAccepted, SessionView};
use vbm_http::idempotency::{canonical_request, request_hash};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Counts the answer in CloudWatch (`SendAccepted`, also by the kind of service it goes on;
/// `SendRefused` by error code; a replay is neither: it was counted the first time).
pub async fn send(app: &App, business: &Business, request: &Request) -> Answer {
    if super::dry_run::requested(request)? {
        // Counted in nothing: not a send.
        return super::dry_run::send(app, business, request).await;
    }
    let answer = decide_and_record(app, business, request).await;
    if let Err(error) = &answer {
        metrics::send_refused(error.code);
    }
    answer
}

async fn decide_and_record(app: &App, business: &Business, request: &Request) -> Answer {
    let prepared = prepare(app, business, request).await?;
    let message_id = MessageId::generate();
    let now = app.clock().now();
    let new = prepared.new_send(business, message_id.clone(), now);
    let admission = &prepared.admission;
    // The business's caps on this billing category; none: no counter in the write.
    let caps = business.caps.for_send(admission.billing);

    let outcome = match &prepared.wait {
        Some(wait) => match super::held::record(app, new, wait, now, &caps).await? {
            Ok(outcome) => outcome,
            Err(held) => return Ok(held),
        },
        None => {
            app.store()
                .messages()
                .record_send_within(&new, &caps)
                .await?
        }
    };
    match outcome {
        SendOutcome::Accepted { after } => {
            tracing::Span::current().record("message_id", message_id.as_str());
            vbm_outbound::caps::tell(app.store(), app.events(), &business.id, &caps, now).await;
            metrics::send_accepted_on(prepared.service_kind.as_str());
            let billing = Billing::of_send(admission.billing, &after);
            Ok(accepted(app, message_id, &after, billing, now, "accepted"))
        }
        SendOutcome::Replayed {
            message_id,
            after,
            accepted_at,
        } => {
            tracing::Span::current().record("message_id", message_id.as_str());
            // The same request admitted the same way, on the state it left: the same billing.
            let billing = Billing::of_send(admission.billing, &after);
            Ok(accepted(
                app,
                message_id,
                &after,
                billing,
                accepted_at,
                "replayed",
            ))
        }
        SendOutcome::Refused(refusal) => Err(refusal.into()),
        SendOutcome::KeyReused => Err(key_reused()),
        SendOutcome::OverCap(cap) => Err(vbm_outbound::caps::quota_exceeded(&cap, now)),
    }
}

pub(crate) fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request body",
    )
}

/// A send request read, checked and admitted on content (everything a send does before its
/// write): shared by the real send and the dry run, so both refuse the same requests the
/// same way.
pub(crate) struct Prepared {
    pub key: Option<IdempotencyKey>,
    pub parsed: SendRequest,
    pub template: Option<Template>,
    pub admission: Admission,
    pub failover: Option<FailoverSpec>,
    pub payload: String,
    pub hash: String,
    /// The Viber service it goes out on (routed by its kind).
    pub service_id: u64,
    /// `wait_for_session`: it may wait for the user's reply.
    pub wait: Option<super::held::Wait>,
    pub service_kind: ServiceKind,
}

impl Prepared {
    pub(crate) fn new_send<'a>(
        &'a self,
        business: &'a Business,
        message_id: MessageId,
        now: Timestamp,
    ) -> NewSend<'a> {
        NewSend {
            business: &business.id,
            message_id,
            to: &self.parsed.to,
            class: self.admission.class,
            kind: self.parsed.message.kind(),
            billing: self.admission.billing,
            payload: &self.payload,
            service_id: Some(self.service_id),
            idempotency: self.key.as_ref().map(|k| (k, self.hash.as_str())),
            failover: self.failover.as_ref(),
            now,
        }
    }
}

/// Steps 1 to 3 of a send (module docs).
pub(crate) async fn prepare(
    app: &App,
    business: &Business,
    request: &Request,
) -> Result<Prepared, ApiError> {
    let key = idempotency_key(request)?;
    let mut value = read_json_value(request.body())?;
    if !value.is_object() {
        // serde would read a JSON array as the struct's fields in order (found by API fuzzing).
        return Err(ApiError::validation_failed(
            None,
            "the request body must be a JSON object",
        ));
    }
    // SMS failover: not part of the message dispatch reads.
    let failover_request = vbm_outbound::failover::take(&mut value)?;
    // Waiting for the user's reply: not part of the message either.
    let wait = value
        .as_object_mut()
        .and_then(|o| o.remove(super::held::WAIT_FOR_SESSION));
    let mut prepared = prepare_body(app, business, key, value, failover_request).await?;
    if let Some(raw) = wait {
        let wait = super::held::parse(app, business, &prepared, &raw).await?;
        // A retry must carry the same wait to be the same request.
        prepared.hash = request_hash(&format!("{}\u{0}{raw}", prepared.hash));
        prepared.wait = Some(wait);
    }
    Ok(prepared)
}

/// [`prepare`] of a body already read: a send's content, admitted (also a held message's
/// fallback template, `super::held`).
pub(crate) async fn prepare_body(
    app: &App,
    business: &Business,
    key: Option<IdempotencyKey>,
    value: serde_json::Value,
    failover_request: Option<(session_rules::failover::FailoverRequest, String)>,
) -> Result<Prepared, ApiError> {
    let body: SendRequestBody = from_value(&value)?;
    let limits = app.store().limits();
    let parsed = SendRequest::parse(&body, limits).map_err(|refusal| {
        let is_phone = refusal.code() == "invalid_phone";
        let error = ApiError::from(refusal);
        if is_phone {
            crate::with_field(error, "to")
        } else {
            error
        }
    })?;
    let template = match &parsed.message {
        // Viber's predefined OTP templates need no lookup: they are the same for every sender.
        OutboundMessage::Template { id, lang, .. } if predefined::find(id).is_some() => {
            predefined::find(id)
                .map(|p| p.template(lang.as_ref()))
                .transpose()?
        }
        // From the container's cache when warm: a template send is two AWS calls like any other.
        OutboundMessage::Template { id, .. } => {
            app.templates.get(app.store(), &business.id, id).await?
        }
        _ => None,
    };
    let admission = parsed
        .admit(template.as_ref(), business.transactional_opt_in())
        .map_err(|refusal| {
            let not_approved = refusal == Refusal::TemplateNotApproved;
            let error = ApiError::from(refusal);
            // Which state keeps it from going: pending_review, rejected or deleted.
            match template.as_ref().filter(|_| not_approved) {
                Some(t) => error.with_detail("template_state", t.state().as_str()),
                None => error,
            }
        })?;
    // The Viber service it goes out on: the kind it names, else by its message's kind; none of
    // the business's: refused here.
    let service = business
        .services
        .choose(
            Carriage::of(&parsed.message),
            limits.two_way_sessions,
            parsed.service,
        )
        .map_err(Refusal::NoServiceForMessage)?;
    let failover = vbm_outbound::failover::resolve(
        business,
        failover_request.as_ref().map(|(request, _)| request),
        template.as_ref(),
        admission.template_params.as_ref(),
    )?;
    vbm_outbound::failover::check_destination(&business.sms, &parsed.to, failover.as_ref())?;

    let payload = canonical_request(&value, &parsed.to);
    // A retry must carry the same failover to be the same request.
    let hash = match &failover_request {
        None => request_hash(&payload),
        Some((_, raw)) => request_hash(&format!("{payload}\u{0}{raw}")),
    };
    Ok(Prepared {
        key,
        parsed,
        template,
        admission,
        failover,
        payload,
        hash,
        service_id: service.id,
        wait: None,
        service_kind: service.kind,
    })
}

pub(crate) fn accepted(
    app: &App,
    message_id: MessageId,
    after: &Conversation,
    billing: Billing,
    at: Timestamp,
    outcome: &'static str,
) -> Response<Body> {
    let answer = SendAccepted {
        message_id: message_id.to_string(),
        status: "accepted",
        session: SessionView::from(after.snapshot(at, app.store().limits())),
        billing,
        hold: None,
    };
    let mut response = json_response(StatusCode::ACCEPTED, &answer);
    response.extensions_mut().insert(Outcome(outcome));
    response
}

pub(crate) fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(IdempotencyKey::parse)
        .map(Some)
        .ok_or_else(|| {
            ApiError::validation_failed(
                Some("Idempotency-Key"),
                "Idempotency-Key: 1 to 255 printable ASCII characters without spaces",
            )
        })
}

/// `GET /v1/messages/{id}`. An unknown id, a malformed one and another business's are all
/// `404 not_found`: the answer never tells whether an id exists elsewhere.
pub async fn get(app: &App, business: &Business, id: &str) -> Answer {
    let not_found = || ApiError::not_found("no such message");
    let id = MessageId::parse(id).ok_or_else(not_found)?;
    let now = app.clock().now();
    let Some(record) = app
        .store()
        .messages()
        .get_message(&business.id, &id, now)
        .await?
        .filter(|m| m.business == business.id)
    else {
        // Not sent (yet): a message waiting for the user's reply, or one that never went.
        let held = app
            .store()
            .messages()
            .get_held(&business.id, &id, now)
            .await?
            .ok_or_else(not_found)?;
        return Ok(json_response(StatusCode::OK, &MessageView::held(&held)));
    };
    tracing::Span::current().record("message_id", record.id.as_str());
    Ok(json_response(StatusCode::OK, &MessageView::from(&record)))
}
