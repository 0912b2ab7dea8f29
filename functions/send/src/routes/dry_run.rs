//! Dry runs: `POST /v1/messages?dry_run=true` and `POST /v1/campaigns?dry_run=true` answer what
//! the request would do, running everything the real one runs up to its write, and write and
//! count nothing (no message, no conversation change, no idempotency record, no metric).
//!
//! A message's dry run reads what the real send reads when its container is cold (the
//! template, the conversation, consistently) plus what the send's transaction would check (the
//! idempotency record when a key is given, the suppression of an erased opted-out number, the
//! counters of the business's caps on the message's billing category; a campaign's, the
//! counters of the caps its recipients count against, applied in list order), and
//! decides with the rules' own preview (`Conversation::preview_send`, the same
//! `decide_send` the store's write runs). A `wait_for_session` message is decided as the
//! real send decides it (`Messages::preview_hold`): `held` with its deadline when no session
//! admits it now, else as the send it would be. Every refusal the real send would answer with a 4xx
//! is a `200` whose `result` is `refused` and whose `refusal` is that error object with its
//! `status`; a 5xx stays a 5xx (the dry run could not tell).

use std::collections::BTreeMap;

use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::Serialize;
use serde_json::{Map, Value, json};
use session_rules::campaign::CampaignRecipient;
use session_rules::caps::{Cap, CapSubject};
use session_rules::prices::{Billed, Estimate};
use session_rules::{
    Billing, BillingCategory, Country, Limits, Template, Timestamp, TransactionalText,
};
use vbm_http::{Answer, ApiError, Outcome, json_response};
use vbm_store::{
    Business, Candidate, HoldOutcome, MessageId, NewHold, NewSend, Previewed, SendOutcome,
};

use vbm_outbound::campaign::{
    FailoverSource, failover_request, prepare as prepare_recipient, wait_request,
};

/// A held recipient among the previewed outcomes (never a refusal code).
const HELD: &str = "held";

use super::messages::{Prepared, key_reused, prepare};
use crate::App;
use crate::views::{HoldView, SessionView};

/// The query parameter that asks for a dry run.
pub const PARAM: &str = "dry_run";

/// Whether the request asks for a dry run: `dry_run=true` (or `false`, the default); any other
/// value, or the parameter twice, is `422 validation_failed` (a typo must not send for real).
pub fn requested(request: &Request) -> Result<bool, ApiError> {
    let params = request.query_string_parameters();
    let invalid = || ApiError::validation_failed(Some(PARAM), "dry_run: true or false");
    match params.all(PARAM).as_deref() {
        None | Some([]) => Ok(false),
        Some(["true"]) => Ok(true),
        Some(["false"]) => Ok(false),
        Some(_) => Err(invalid()),
    }
}

/// `200` to `POST /v1/messages?dry_run=true`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendDryRun {
    /// Always `true`: nothing was sent, stored or counted.
    pub dry_run: bool,
    /// `accepted` (the send would be `202`), `held` (a `wait_for_session` message no session
    /// admits now: it would be `202` `held`, waiting for the user's reply), `replayed` (its
    /// `Idempotency-Key` was accepted before with this body: the send would answer as then)
    /// or `refused`.
    pub result: &'static str,
    /// The error the send would answer (`status`, `code`, `message`, …); `null` unless refused.
    pub refusal: Option<Value>,
    /// The earlier message of a `replayed` send; else `null`.
    pub message_id: Option<String>,
    /// The Viber message type it would go as (306, 1701, …); `null` when refused before its
    /// content was known.
    pub viber_type: Option<u16>,
    /// What it would be billed as; `null` when refused.
    pub billing: Option<Billing>,
    /// The session now; `null` when refused before the conversation was read.
    pub session_before: Option<SessionView>,
    /// The session right after the send (the same as `session_before` when refused; a
    /// `replayed` send's is the one its first answer had).
    pub session_after: Option<SessionView>,
    /// What it would cost in the business's price table (`vbmctl business prices`): its
    /// category's price to the recipient's country when billable, 0 when not (a held message's: were it to go on the
    /// conversation as it is); `null` when refused, or without a price for its category.
    pub estimated_price: Option<Estimate>,
    /// A `wait_for_session` message that would be held (or was, `replayed`): its deadline and
    /// whether it has a fallback, as the real answer's `hold`; else `null`.
    pub hold: Option<HoldView>,
}

impl SendDryRun {
    fn refused(error: &ApiError) -> Self {
        Self {
            dry_run: true,
            result: "refused",
            refusal: Some(refusal(error)),
            message_id: None,
            viber_type: None,
            billing: None,
            session_before: None,
            session_after: None,
            estimated_price: None,
            hold: None,
        }
    }
}

/// The error object a refused request answers (`code`, `message`, details) with its HTTP
/// `status`.
pub fn refusal(error: &ApiError) -> Value {
    let mut object = Map::new();
    object.insert("status".into(), json!(error.status.as_u16()));
    object.insert("code".into(), json!(error.code));
    object.insert("message".into(), json!(error.message));
    if let Some(Value::Object(details)) = &error.details {
        for (name, value) in details {
            object.entry(name.clone()).or_insert(value.clone());
        }
    }
    Value::Object(object)
}

/// A request that is not a send at all (no JSON body, a body that breaks the schema) is answered
/// with its error, as the real send answers it: only what the real send would refuse of a
/// well-formed request is described.
fn malformed(error: &ApiError) -> bool {
    error.status == StatusCode::BAD_REQUEST || error.code == "validation_failed"
}

/// A refusal the dry run describes (4xx), or trouble it cannot see past (5xx: answered as is).
fn describe(error: ApiError) -> Result<SendDryRun, ApiError> {
    if error.status.is_client_error() && !malformed(&error) {
        Ok(SendDryRun::refused(&error))
    } else {
        Err(error)
    }
}

fn answer(dry: &SendDryRun) -> Answer {
    let mut response = json_response(StatusCode::OK, dry);
    response.extensions_mut().insert(Outcome("dry_run"));
    Ok(response)
}

/// `POST /v1/messages?dry_run=true`.
pub async fn send(app: &App, business: &Business, request: &Request) -> Answer {
    let prepared = match prepare(app, business, request).await {
        Ok(prepared) => prepared,
        Err(error) => return answer(&describe(error)?),
    };
    let now = app.clock().now();
    let limits = app.store().limits();
    // The id is never used: nothing is written.
    let new = prepared.new_send(business, MessageId::generate(), now);
    // The business's caps on its category: their counters are read too.
    let caps = business.caps.for_send(prepared.admission.billing);
    let viber_type = viber_type(&prepared, limits);
    let category = prepared.admission.billing;
    // At the price of the recipient's country (its group's, or the table's).
    let country = new.to.country();
    let price = |billing| {
        business
            .prices
            .as_ref()
            .and_then(|p| p.message(billing, country))
    };
    let Some(wait) = &prepared.wait else {
        let preview = app
            .store()
            .messages()
            .preview_send_within(&new, &caps)
            .await?;
        let before = SessionView::of(&preview.before, now, limits);
        let dry = sent(
            &price,
            category,
            viber_type,
            before,
            preview.outcome,
            now,
            limits,
        );
        return answer(&dry);
    };
    // `wait_for_session`: what `Messages::record_hold` would do.
    let hold = super::held::new_hold(new, wait);
    let preview = app.store().messages().preview_hold(&hold, &caps).await?;
    let before = SessionView::of(&preview.before, now, limits);
    let view = HoldView::waiting(wait.until, wait.fallback.is_some());
    let dry = match preview.outcome {
        HoldOutcome::Sent(outcome) => {
            sent(&price, category, viber_type, before, outcome, now, limits)
        }
        HoldOutcome::Held { conversation } => {
            // Billed as the real answer says: on the conversation as it is.
            let billing = Billing::of_send(category, &conversation);
            SendDryRun {
                dry_run: true,
                result: "held",
                refusal: None,
                message_id: None,
                viber_type,
                billing: Some(billing),
                estimated_price: price(billing),
                session_after: Some(before.clone()),
                session_before: Some(before),
                hold: Some(view),
            }
        }
        HoldOutcome::ReplayedHeld {
            message_id,
            conversation,
            accepted_at,
        } => SendDryRun {
            hold: Some(view),
            ..replayed(
                &message_id,
                viber_type,
                Billing::of_send(category, &conversation),
                before,
                SessionView::of(&conversation, accepted_at, limits),
            )
        },
    };
    answer(&dry)
}

/// The dry answer of a send's outcome (a message that goes now, or is refused).
fn sent(
    price: &dyn Fn(Billing) -> Option<Estimate>,
    category: BillingCategory,
    viber_type: Option<u16>,
    before: SessionView,
    outcome: SendOutcome,
    now: Timestamp,
    limits: &Limits,
) -> SendDryRun {
    match outcome {
        SendOutcome::Accepted { after } => SendDryRun {
            dry_run: true,
            result: "accepted",
            refusal: None,
            message_id: None,
            viber_type,
            billing: Some(Billing::of_send(category, &after)),
            estimated_price: price(Billing::of_send(category, &after)),
            session_before: Some(before),
            session_after: Some(SessionView::of(&after, now, limits)),
            hold: None,
        },
        SendOutcome::Replayed {
            message_id,
            after,
            accepted_at,
        } => replayed(
            &message_id,
            viber_type,
            Billing::of_send(category, &after),
            before,
            SessionView::of(&after, accepted_at, limits),
        ),
        SendOutcome::Refused(refusal) => SendDryRun {
            viber_type,
            session_before: Some(before.clone()),
            session_after: Some(before),
            ..SendDryRun::refused(&ApiError::from(refusal))
        },
        SendOutcome::KeyReused => SendDryRun {
            viber_type,
            session_before: Some(before.clone()),
            session_after: Some(before),
            ..SendDryRun::refused(&key_reused())
        },
        SendOutcome::OverCap(cap) => SendDryRun {
            viber_type,
            session_before: Some(before.clone()),
            session_after: Some(before),
            ..SendDryRun::refused(&vbm_outbound::caps::quota_exceeded(&cap, now))
        },
    }
}

/// The Viber type `dispatch` would send it as: the same body builder, the same deployment
/// setting for free-form transactional text.
/// The dry answer of a request its key already answered: the first answer's message, and
/// nothing more to pay (it was accepted and counted then).
fn replayed(
    message_id: &MessageId,
    viber_type: Option<u16>,
    billing: Billing,
    before: SessionView,
    after: SessionView,
) -> SendDryRun {
    SendDryRun {
        dry_run: true,
        result: "replayed",
        refusal: None,
        message_id: Some(message_id.to_string()),
        viber_type,
        billing: Some(billing),
        estimated_price: None,
        session_before: Some(before),
        session_after: Some(after),
        hold: None,
    }
}

fn viber_type(prepared: &Prepared, limits: &Limits) -> Option<u16> {
    let built = viber::SendMessage::build(
        0,
        0,
        &prepared.parsed.to,
        &prepared.parsed.message,
        prepared.parsed.ttl,
        prepared.parsed.tracking_data.as_ref(),
        prepared
            .template
            .as_ref()
            .zip(prepared.admission.template_params.as_ref()),
    )
    .ok()?;
    let built = match limits.transactional_text {
        TransactionalText::Type206 => built.as_type_206(prepared.parsed.tracking_data.as_ref()),
        TransactionalText::Type106 | TransactionalText::TemplateOnly => built,
    };
    Some(built.message_type.code())
}

/// `200` to `POST /v1/campaigns?dry_run=true`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignDryRun {
    /// Always `true`: no campaign was stored, nothing sent or counted.
    pub dry_run: bool,
    /// `accepted` (the campaign would be created, `202`) or `refused` (the request would be
    /// answered with `refusal`).
    pub result: &'static str,
    pub refusal: Option<Value>,
    /// The recipients listed; `null` for an uploaded list (read only when the campaign is
    /// prepared) or a refused request.
    pub recipients: Option<usize>,
    /// Each recipient's outcome were it admitted now; `null` as `recipients`.
    pub outcomes: Option<CampaignDryRunOutcomes>,
}

/// Recipients by outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CampaignDryRunOutcomes {
    /// Would be admitted (`queued` in the campaign's counts).
    pub accepted: usize,
    /// Would be held for the user's reply (`wait_for_session`; `held` in the campaign's
    /// counts).
    pub held: usize,
    /// Would be refused, by the code the single send would get.
    pub refused: BTreeMap<&'static str, usize>,
    /// The accepted by billing category.
    pub billing: BTreeMap<&'static str, usize>,
    /// Of the accepted, those billable.
    pub billable: usize,
    /// What the accepted would cost in the business's price table, each at its recipient's
    /// country's price; `null` without a price for some category where one goes.
    pub estimated_total: Option<Estimate>,
}

/// A campaign request the real one would refuse (4xx), described; a 5xx as it is.
pub fn campaign_refused(error: ApiError) -> Answer {
    if !error.status.is_client_error() || malformed(&error) {
        return Err(error);
    }
    campaign_answer(&CampaignDryRun {
        dry_run: true,
        result: "refused",
        refusal: Some(refusal(&error)),
        recipients: None,
        outcomes: None,
    })
}

fn campaign_answer(dry: &CampaignDryRun) -> Answer {
    let mut response = json_response(StatusCode::OK, dry);
    response.extensions_mut().insert(Outcome("dry_run"));
    Ok(response)
}

/// A checked campaign request: each inline recipient prepared as the fan-out prepares it
/// (`campaign_content::prepare`, with the business as it is now) and decided on its
/// conversation now ([`vbm_store::Messages::preview_sends`]), as if every recipient were
/// admitted at this moment (no `send_at`, no window: the conversations may change by then).
pub async fn campaign(
    app: &App,
    business: &Business,
    message: &Map<String, Value>,
    template: Option<&Template>,
    recipients: &[CampaignRecipient],
    uploaded: bool,
    now: Timestamp,
) -> Answer {
    if uploaded {
        return campaign_answer(&CampaignDryRun {
            dry_run: true,
            result: "accepted",
            refusal: None,
            recipients: None,
            outcomes: None,
        });
    }
    let limits = app.store().limits();
    let request = failover_request(message).map_err(vbm_outbound::failover::refusal)?;
    let source = FailoverSource {
        request: request.as_ref(),
        business: Some(business),
    };
    let legacy = business.transactional_opt_in();
    let mut outcomes = CampaignDryRunOutcomes::default();
    let mut ready = Vec::new();
    for recipient in recipients {
        match prepare_recipient(message, recipient, limits, template, source, legacy) {
            Ok(prepared) => ready.push(prepared),
            Err(refusal) => *outcomes.refused.entry(refusal.code()).or_default() += 1,
        }
    }
    let sends: Vec<NewSend<'_>> = ready
        .iter()
        .map(|p| p.new_send(&business.id, MessageId::generate(), now))
        .collect();
    let mut decided = match wait_request(message) {
        // Each recipient decided as admission decides a hold: sent now, held, or refused.
        Ok(Some(wait)) => {
            let candidates: Vec<Candidate<'_>> = sends
                .iter()
                .enumerate()
                .map(|(slot, send)| Candidate::Hold {
                    slot,
                    hold: NewHold {
                        send: send.clone(),
                        until: wait.until,
                        fallback: None,
                    },
                })
                .collect();
            let previewed = app
                .store()
                .campaigns()
                .preview_candidates(&business.id, &candidates)
                .await?;
            previewed
                .into_iter()
                .map(|p| match p {
                    Previewed::Queued(after) => Ok(after),
                    Previewed::Held => Err(HELD),
                    Previewed::Refused(code) => Err(code),
                })
                .collect()
        }
        _ => {
            app.store()
                .messages()
                .preview_sends(&business.id, &sends)
                .await?
        }
    };
    // The business's caps, as the fan-out applies them: in list order while they have room.
    let caps: Vec<Cap> = business
        .caps
        .all()
        .into_iter()
        .filter(|c| match c.subject {
            CapSubject::CampaignRecipients => true,
            CapSubject::Category(category) => sends.iter().any(|s| s.billing == category),
        })
        .collect();
    if !caps.is_empty() {
        let mut room: Vec<u64> = app
            .store()
            .businesses()
            .cap_counts(&business.id, &caps, now)
            .await?
            .iter()
            .map(|c| session_rules::caps::room(c.count, c.cap.limit))
            .collect();
        let needs: Vec<Vec<usize>> = sends
            .iter()
            .zip(&decided)
            .map(|(send, outcome)| match outcome {
                Ok(_) => session_rules::caps::recipient_needs(&caps, send.billing),
                Err(_) => Vec::new(),
            })
            .collect();
        let fits = session_rules::caps::admit_in_order(&mut room, &needs);
        for (outcome, fits) in decided.iter_mut().zip(fits) {
            if !fits {
                *outcome = Err(vbm_store::QUOTA_REFUSAL);
            }
        }
    }
    // By the recipients' countries, each priced at its group's prices.
    let mut billed: BTreeMap<Option<Country>, Billed> = BTreeMap::new();
    for (send, outcome) in sends.iter().zip(decided) {
        match outcome {
            Ok(after) => {
                outcomes.accepted += 1;
                let billing = Billing::of_send(send.billing, &after);
                billed.entry(send.to.country()).or_default().add(billing);
                *outcomes
                    .billing
                    .entry(billing.category.as_str())
                    .or_default() += 1;
                outcomes.billable += usize::from(billing.billable);
            }
            Err(HELD) => outcomes.held += 1,
            Err(code) => *outcomes.refused.entry(code).or_default() += 1,
        }
    }
    outcomes.estimated_total = business
        .prices
        .as_ref()
        .and_then(|p| p.total(billed.iter().map(|(c, b)| (*c, b))));
    campaign_answer(&CampaignDryRun {
        dry_run: true,
        result: "accepted",
        refusal: None,
        recipients: Some(recipients.len()),
        outcomes: Some(outcomes),
    })
}
