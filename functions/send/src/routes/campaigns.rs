//! `POST /v1/campaigns` and the reads and controls around it.
//!
//! A campaign request, step by step:
//! 1. `Idempotency-Key` (optional), then the body (≤ [`MAX_CAMPAIGN_BODY`]) as JSON;
//! 2. the message: a send request without `to`, parsed as `POST /v1/messages` parses one (a
//!    stand-in number), never a session message; its template must exist and be approved;
//! 3. every recipient, parsed as its own send would be (number, template parameters), and no
//!    number twice: the first bad entries are named in one `400 invalid_recipients`, and more
//!    than [`MAX_INLINE_RECIPIENTS`] is `400 too_many_recipients`; either way nothing is stored;
//! 4. the store records the chunks, then the campaign with the key's record; the start is a
//!    timer at `send_at` (sent at once when due or absent). The answer is `202` with the
//!    campaign; a retry with the same key and body answers the same campaign.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use session_rules::campaign::{
    CampaignRecipient, CampaignState, Control, MAX_INLINE_RECIPIENTS, Window,
};
use session_rules::{Refusal, ServiceKind, Template, Timestamp};
use vbm_http::{Answer, ApiError, from_value, json_response};
use vbm_platform::time::parse_rfc3339;
use vbm_store::{
    Business, Campaign, CampaignId, ControlOutcome, CreateOutcome, NewCampaign, NewUpload,
    UploadFormat,
};
use vbm_uploads::UploadId;

use crate::App;
use crate::routes::messages::idempotency_key;
use vbm_http::idempotency::{canonical_json, request_hash};
use vbm_outbound::campaign::{
    base_params, check_recipient, failover_request, parse_recipient, wait_request,
};
use vbm_outbound::{CampaignTimers, CampaignView};

/// Largest campaign body: 5 MiB, under Lambda's 6 MB request payload; 10,000 recipients with
/// a few parameters each take about 1 MiB.
pub const MAX_CAMPAIGN_BODY: usize = 5 * 1024 * 1024;
/// How far ahead `send_at` may be: within the retention of what the campaign stores.
const MAX_AHEAD: Duration = Duration::from_secs(30 * 24 * 3600);
/// Bad entries named in one `invalid_recipients` answer.
const NAMED_ERRORS: usize = 10;
/// A number that parses, for checking the message on its own.
const STAND_IN: &str = "+447911123456";

/// `null` is not a value for an optional field (the document says "a string"; leave it out),
/// as for send requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
    message: Map<String, Value>,
    /// Inline, or else `recipients_upload`: exactly one of the two.
    #[serde(default, deserialize_with = "not_null")]
    recipients: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "not_null")]
    recipients_upload: Option<UploadBody>,
    #[serde(default, deserialize_with = "not_null")]
    send_at: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    window: Option<WindowBody>,
}

fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A list uploaded first (`POST /v1/campaigns/uploads`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadBody {
    upload_id: String,
    format: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    start: String,
    end: String,
}

pub async fn create(app: &App, business: &Business, request: &Request) -> Answer {
    let starter = app
        .campaign_timers()
        .ok_or_else(|| ApiError::unavailable("campaigns are not configured on this deployment"))?;
    let dry_run = super::dry_run::requested(request)?;
    let now = app.clock().now();
    let checked = match check(app, business, request, now).await {
        Ok(checked) => checked,
        Err(error) if dry_run => return super::dry_run::campaign_refused(error),
        Err(error) => return Err(error),
    };
    if dry_run {
        return super::dry_run::campaign(
            app,
            business,
            &checked.body.message,
            checked.template.as_ref(),
            &checked.recipients,
            checked.upload.is_some(),
            now,
        )
        .await;
    }
    let campaign = store_campaign(app, business, checked, now).await?;
    tracing::Span::current().record("message_id", campaign.id.as_str());
    follow_up(starter, business, &campaign, now).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &CampaignView::from(&campaign),
    ))
}

/// The checked campaign stored (step 4): its chunks, then the campaign with the key's record;
/// a replay of the same key and body is the campaign it made.
async fn store_campaign(
    app: &App,
    business: &Business,
    checked: Checked,
    now: Timestamp,
) -> Result<Campaign, ApiError> {
    let Checked {
        key,
        value,
        body,
        send_at,
        window,
        recipients,
        upload,
        ..
    } = checked;
    let message = canonical_json(&Value::Object(body.message.clone()));
    let hash = request_hash(&canonical_json(&value));
    let new = NewCampaign {
        business: &business.id,
        id: CampaignId::generate(),
        name: body.name.as_deref(),
        message: &message,
        recipients: &recipients,
        send_at,
        window,
        idempotency: key.as_ref().map(|k| (k, hash.as_str())),
        now,
    };
    let created = match &upload {
        Some((key, format)) => {
            let upload = NewUpload {
                key,
                format: *format,
            };
            app.store()
                .campaigns()
                .create_campaign_from_upload(&new, &upload)
                .await?
        }
        None => app.store().campaigns().create_campaign(&new).await?,
    };
    created_campaign(created)
}

/// What the store's answer to a creation means for the request.
fn created_campaign(created: CreateOutcome) -> Result<Campaign, ApiError> {
    match created {
        CreateOutcome::Created(c) | CreateOutcome::Replayed(c) => Ok(c),
        CreateOutcome::KeyReused => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        )),
    }
}

/// What a stored campaign needs next, set again on a replay: the first request may have died
/// between its write and its job or timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowUp {
    /// An uploaded list: its preparation job (one run twice finds the cursor moved and does
    /// nothing).
    Prepare,
    /// Its start timer (the same name is the same timer).
    StartAt(Timestamp),
    Nothing,
}

impl FollowUp {
    /// For a campaign in `state`, to start at `send_at` (at once when absent).
    fn of(state: CampaignState, send_at: Option<Timestamp>, now: Timestamp) -> Self {
        match state {
            CampaignState::Preparing => FollowUp::Prepare,
            CampaignState::Scheduled => FollowUp::StartAt(send_at.unwrap_or(now)),
            _ => FollowUp::Nothing,
        }
    }
}

async fn follow_up(
    starter: &CampaignTimers,
    business: &Business,
    campaign: &Campaign,
    now: Timestamp,
) -> Result<(), ApiError> {
    match FollowUp::of(campaign.state, campaign.send_at, now) {
        FollowUp::Prepare => {
            starter
                .prepare_now(&business.id, &campaign.id, now)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "queueing a campaign's preparation");
                    retry_later()
                })?;
        }
        FollowUp::StartAt(at) => {
            starter
                .start_at(&business.id, &campaign.id, at, now)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "setting a campaign's start timer");
                    retry_later()
                })?;
        }
        FollowUp::Nothing => {}
    }
    Ok(())
}

fn retry_later() -> ApiError {
    ApiError::unavailable("the service is briefly unavailable; retry the same request")
}

/// A campaign request read and checked (steps 1 to 3 of the module docs): everything before
/// the store, shared by the real request and its dry run.
struct Checked {
    key: Option<vbm_store::IdempotencyKey>,
    value: Value,
    body: CampaignBody,
    send_at: Option<Timestamp>,
    window: Option<Window>,
    template: Option<Template>,
    recipients: Vec<CampaignRecipient>,
    upload: Option<(String, UploadFormat)>,
}

async fn check(
    app: &App,
    business: &Business,
    request: &Request,
    now: Timestamp,
) -> Result<Checked, ApiError> {
    let key = idempotency_key(request)?;
    let value = read_body(request.body())?;
    if !value.is_object() {
        return Err(ApiError::validation_failed(
            None,
            "the request body must be a JSON object",
        ));
    }
    let body: CampaignBody = from_value(&value)?;
    if body
        .name
        .as_deref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 200)
    {
        return Err(ApiError::validation_failed(
            Some("name"),
            "1 to 200 characters",
        ));
    }
    let send_at = body
        .send_at
        .as_deref()
        .map(|t| {
            parse_rfc3339(t).ok_or_else(|| {
                ApiError::validation_failed(
                    Some("send_at"),
                    "an RFC 3339 time, e.g. 2026-12-01T09:00:00Z",
                )
            })
        })
        .transpose()?;
    if send_at.is_some_and(|at| at > now.plus(MAX_AHEAD)) {
        return Err(ApiError::validation_failed(
            Some("send_at"),
            "at most 30 days ahead",
        ));
    }
    let window = body.window.as_ref().map(parse_window).transpose()?;
    let (template, named) = check_message(app, business, &body.message).await?;
    check_wait_until(&body.message, send_at.unwrap_or(now))?;
    // Its Viber service, as a single send's (campaigns send no session messages).
    business
        .services
        .choose(
            session_rules::Carriage::BusinessInitiated,
            app.store().limits().two_way_sessions,
            named,
        )
        .map_err(session_rules::Refusal::NoServiceForMessage)?;
    check_failover(app, business, &body.message, template.as_ref())?;
    let (recipients, upload) = match (&body.recipients, &body.recipients_upload) {
        (Some(entries), None) => (
            check_recipients(app, &body.message, entries, template.as_ref())?,
            None,
        ),
        (None, Some(upload)) => (Vec::new(), Some(check_upload(app, business, upload)?)),
        (Some(_), Some(_)) => {
            return Err(ApiError::validation_failed(
                Some("recipients_upload"),
                "either `recipients` or `recipients_upload`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::validation_failed(
                Some("recipients"),
                "`recipients` (inline) or `recipients_upload` (an uploaded list) is required",
            ));
        }
    };

    Ok(Checked {
        key,
        value,
        body,
        send_at,
        window,
        template,
        recipients,
        upload,
    })
}

fn read_body(body: &Body) -> Result<Value, ApiError> {
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_CAMPAIGN_BODY {
        return Err(ApiError::payload_too_large(MAX_CAMPAIGN_BODY));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_json(format!("the request body is not valid JSON: {e}")))?;
    vbm_http::reject_duplicate_keys(bytes)?;
    Ok(value)
}

/// The message on its own (with a stand-in number), and its template.
async fn check_message(
    app: &App,
    business: &Business,
    message: &Map<String, Value>,
) -> Result<(Option<Template>, Option<ServiceKind>), ApiError> {
    if message.contains_key("to") {
        return Err(ApiError::validation_failed(
            Some("message.to"),
            "the recipients are in `recipients`, not in the message",
        ));
    }
    // Lists and carousels are conversation content: a session list needs the user's session,
    // and an answer is read one user at a time. A session message goes only to recipients in a
    // session, so a campaign of them waits for each user's reply (`wait_for_session`).
    let wait = wait_request(message)
        .map_err(|(field, why)| ApiError::validation_failed(Some(field), why))?;
    let kind = message.get("type").and_then(Value::as_str);
    if wait.is_some() && kind != Some("session") {
        return Err(ApiError::validation_failed(
            Some("message.wait_for_session"),
            "only a session message waits for the user's reply; other messages go at any time",
        ));
    }
    if let Some(kind @ ("session" | "list" | "carousel")) = kind
        && !(kind == "session" && wait.is_some())
    {
        return Err(ApiError::validation_failed(
            Some("message.type"),
            format!(
                "a campaign sends transactional, promotional or template messages, or session \
                 messages that wait for each user's reply (`wait_for_session`), not {kind} ones"
            ),
        ));
    }
    let stand_in = CampaignRecipient {
        to: STAND_IN.into(),
        params: BTreeMap::new(),
    };
    let limits = app.store().limits();
    let (_, parsed) = parse_recipient(message, &stand_in, limits).map_err(|refusal| {
        let field = refusal.field().map(|f| format!("message.{f}"));
        let error = ApiError::from(refusal);
        match field {
            Some(f) => error.with_detail("field", f),
            None => error,
        }
    })?;
    if let Some(fallback) = wait.as_ref().and_then(|w| w.fallback.as_ref()) {
        check_fallback(app, business, fallback, &stand_in).await?;
    }
    let session_rules::OutboundMessage::Template { id, .. } = &parsed.message else {
        // Free-form transactional content needs the business's opt-in, as a single send does.
        parsed
            .admit(None, business.transactional_opt_in())
            .map_err(ApiError::from)?;
        return Ok((None, parsed.service));
    };
    let template = app.templates.get(app.store(), &business.id, id).await?;
    match &template {
        None => Err(Refusal::TemplateNotFound.into()),
        Some(t) if !t.is_approved() => Err(Refusal::TemplateNotApproved.into()),
        Some(_) => Ok((template, parsed.service)),
    }
}

/// A held message's fallback template, checked as the template send it would be (with a
/// stand-in number): it parses, and its template exists and is approved.
async fn check_fallback(
    app: &App,
    business: &Business,
    fallback: &Map<String, Value>,
    stand_in: &CampaignRecipient,
) -> Result<(), ApiError> {
    let at = |e: ApiError| e.with_detail("field", "message.wait_for_session.fallback");
    let (_, parsed) =
        parse_recipient(fallback, stand_in, app.store().limits()).map_err(|r| at(r.into()))?;
    let session_rules::OutboundMessage::Template { id, .. } = &parsed.message else {
        return Err(ApiError::validation_failed(
            Some("message.wait_for_session.fallback"),
            "a template",
        ));
    };
    match app.templates.get(app.store(), &business.id, id).await? {
        None => Err(at(Refusal::TemplateNotFound.into())),
        Some(t) if !t.is_approved() => Err(at(Refusal::TemplateNotApproved.into())),
        Some(t) => parsed
            .admit(Some(&t), business.transactional_opt_in())
            .map(|_| ())
            .map_err(|r| at(r.into())),
    }
}

/// The message's `wait_for_session.until`, checked as a single send's against the campaign's
/// start (`send_at`, else now): `422 hold_until_invalid` when it is not ahead or too far.
fn check_wait_until(message: &Map<String, Value>, starts: Timestamp) -> Result<(), ApiError> {
    if let Ok(Some(wait)) = wait_request(message) {
        session_rules::hold::check_until(wait.until, starts).map_err(ApiError::from)?;
    }
    Ok(())
}

/// The message's `failover`, checked as a single send's: its shape, and that it
/// completes (an SMS text from it, the template or the business default) for the message with
/// the campaign's own parameters.
fn check_failover(
    app: &App,
    business: &Business,
    message: &Map<String, Value>,
    template: Option<&Template>,
) -> Result<(), ApiError> {
    let request = failover_request(message).map_err(vbm_outbound::failover::refusal)?;
    let Some(request) = request else {
        return Ok(());
    };
    let stand_in = CampaignRecipient {
        to: STAND_IN.into(),
        params: BTreeMap::new(),
    };
    let limits = app.store().limits();
    let (_, parsed) = parse_recipient(message, &stand_in, limits).map_err(ApiError::from)?;
    let params = parsed
        .admit(template, business.transactional_opt_in())
        .ok()
        .and_then(|admission| admission.template_params);
    vbm_outbound::failover::resolve(business, Some(&request), template, params.as_ref()).map(|_| ())
}

/// Every recipient parsed as its own send would be; the first bad entries named.
fn check_recipients(
    app: &App,
    message: &Map<String, Value>,
    entries: &[Value],
    template: Option<&Template>,
) -> Result<Vec<CampaignRecipient>, ApiError> {
    if entries.is_empty() {
        return Err(ApiError::validation_failed(
            Some("recipients"),
            "at least one recipient",
        ));
    }
    if entries.len() > MAX_INLINE_RECIPIENTS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "too_many_recipients",
            format!(
                "{} recipients; a campaign carries at most {MAX_INLINE_RECIPIENTS} inline",
                entries.len()
            ),
        )
        .with_detail("limit", MAX_INLINE_RECIPIENTS));
    }
    let limits = app.store().limits();
    let base_params = base_params(message);
    let mut seen = HashSet::with_capacity(entries.len());
    let mut recipients = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    let mut bad = 0usize;
    for (index, entry) in entries.iter().enumerate() {
        let checked = check_recipient(entry, message, template, &base_params, limits, &mut seen);
        match checked {
            Ok(r) => recipients.push(r),
            Err((code, text)) => {
                bad += 1;
                if errors.len() < NAMED_ERRORS {
                    errors.push(json!({"index": index, "code": code, "message": text}));
                }
            }
        }
    }
    if bad > 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_recipients",
            format!(
                "{bad} of {} recipients are not valid; nothing was stored",
                entries.len()
            ),
        )
        .with_detail("invalid_count", bad)
        .with_detail("errors", Value::Array(errors)));
    }
    Ok(recipients)
}

/// The upload named by `recipients_upload`: its key (the authenticated business's, so another
/// business's id names nothing) and format. Whether the object is there is the preparation's
/// to find out (`send` links no S3 client): a missing one rejects the campaign
/// `upload_not_found`.
fn check_upload(
    app: &App,
    business: &Business,
    upload: &UploadBody,
) -> Result<(String, UploadFormat), ApiError> {
    if app.uploads().is_none() {
        return Err(ApiError::unavailable(
            "uploaded lists are not configured on this deployment",
        ));
    }
    let id = UploadId::parse(&upload.upload_id).ok_or_else(|| {
        ApiError::validation_failed(
            Some("recipients_upload.upload_id"),
            "an upload id from POST /v1/campaigns/uploads",
        )
    })?;
    let format = UploadFormat::parse(&upload.format).ok_or_else(|| {
        ApiError::validation_failed(Some("recipients_upload.format"), "`csv` or `jsonl`")
    })?;
    Ok((vbm_uploads::key(business.id.as_str(), &id), format))
}

fn parse_window(w: &WindowBody) -> Result<Window, ApiError> {
    Window::parse(&w.start, &w.end)
        .map_err(|invalid| ApiError::validation_failed(Some(invalid.field), invalid.message))
}

fn campaign_id(id: &str) -> Result<CampaignId, ApiError> {
    CampaignId::parse(id).ok_or_else(|| ApiError::not_found("no such campaign"))
}

/// `GET /v1/campaigns/{id}`.
pub async fn get(app: &App, business: &Business, id: &str) -> Answer {
    let id = campaign_id(id)?;
    let campaign = app
        .store()
        .campaigns()
        .get_campaign(&business.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such campaign"))?;
    Ok(json_response(
        StatusCode::OK,
        &CampaignView::from(&campaign),
    ))
}

/// `GET /v1/campaigns?limit=&after=`: newest first.
pub async fn list(app: &App, business: &Business, request: &Request) -> Answer {
    let query = request.query_string_parameters();
    let limit = match query.first("limit") {
        None => 20,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| ApiError::validation_failed(Some("limit"), "1 to 100"))?,
    };
    let after = match query.first("after") {
        None => None,
        // As the API writes ids: 26 upper-case Crockford base-32 characters.
        Some(a)
            if a.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) =>
        {
            Some(
                CampaignId::parse(a)
                    .ok_or_else(|| ApiError::validation_failed(Some("after"), "a campaign id"))?,
            )
        }
        Some(_) => {
            return Err(ApiError::validation_failed(Some("after"), "a campaign id"));
        }
    };
    let (campaigns, more) = app
        .store()
        .campaigns()
        .list_campaigns(&business.id, limit, after.as_ref())
        .await?;
    let next = if more {
        campaigns.last().map(|c| c.id.to_string())
    } else {
        None
    };
    let views: Vec<CampaignView> = campaigns.iter().map(CampaignView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"campaigns": views, "next": next}),
    ))
}

/// `POST /v1/campaigns/{id}/pause|resume|cancel`.
pub async fn control(app: &App, business: &Business, id: &str, action: Control) -> Answer {
    let id = campaign_id(id)?;
    let now = app.clock().now();
    let campaign = match app
        .store()
        .campaigns()
        .control_campaign(&business.id, &id, action, now)
        .await?
    {
        // Already in the state asked for: answered like the change (a retried call, or another
        // caller's action that got there first).
        ControlOutcome::Changed(c) | ControlOutcome::Already(c) => c,
        ControlOutcome::NotFound => return Err(ApiError::not_found("no such campaign")),
        ControlOutcome::Conflict(c) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "campaign_state_conflict",
                format!(
                    "the campaign is {}: it cannot be {}",
                    c.state.as_str(),
                    match action {
                        Control::Pause => "paused",
                        Control::Resume => "resumed",
                        Control::Cancel => "cancelled",
                    }
                ),
            )
            .with_detail("state", c.state.as_str()));
        }
    };
    // Also when already resumed: the start job of the call that resumed it may not have been
    // queued (its answer lost), and a second one is harmless.
    if action == Control::Resume {
        resume(app, &business.id, &campaign, now).await?;
    }
    Ok(json_response(
        StatusCode::OK,
        &CampaignView::from(&campaign),
    ))
}

/// A resumed campaign starts again: its start job now (running: it queues the chunks again,
/// which skip what is settled), or at `send_at` (scheduled: the same timer as at creation).
async fn resume(
    app: &App,
    business: &vbm_store::BusinessId,
    campaign: &Campaign,
    now: Timestamp,
) -> Result<(), ApiError> {
    let starter = app
        .campaign_timers()
        .ok_or_else(|| ApiError::unavailable("campaigns are not configured on this deployment"))?;
    let at = match campaign.state {
        CampaignState::Scheduled => campaign.send_at.unwrap_or(now),
        _ => now,
    };
    starter
        .start_at(business, &campaign.id, at, now)
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::error!(error = %e, "setting a resumed campaign's start");
            ApiError::unavailable("the service is briefly unavailable; resume again")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        let t = |s| parse_rfc3339(s).map(|t| t.as_millis());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(t("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339("2026-11-21T13:34:24.123Z").map(|t| t.rfc3339()),
            Some("2026-11-21T13:34:24.123Z".to_owned())
        );
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-11-21 13:34:24Z",
            "2026-11-21T13:34:24",
            "2026-11-21T25:00:00Z",
            "2026-11-21T13:34:24.Z",
            "+026-11-21T13:34:24Z",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows() {
        let w = |s: &str, e: &str| {
            parse_window(&WindowBody {
                start: s.into(),
                end: e.into(),
            })
            .map(|w| (w.start_minute, w.end_minute))
        };
        assert_eq!(w("09:00", "20:00"), Ok((540, 1200)));
        assert_eq!(w("22:00", "06:30"), Ok((1320, 390)));
        assert!(w("9:00", "20:00").is_err());
        assert!(w("09:60", "20:00").is_err());
        assert!(w("09:00", "09:00").is_err());
        assert!(w("24:01", "09:00").is_err());
        for bad in ["+1:00", "-1:00", "é:00", "0é:00", "09:0é", " 9:00", "09:+1"] {
            assert!(w(bad, "20:00").is_err(), "{bad}");
            assert!(w("20:00", bad).is_err(), "{bad}");
        }
    }

    fn campaign(state: CampaignState) -> Campaign {
        Campaign {
            id: CampaignId::generate(),
            business: vbm_store::BusinessId::parse("acme").unwrap(),
            name: None,
            state,
            message: "{}".into(),
            recipients: 1,
            chunks: 1,
            chunks_done: 0,
            counts: BTreeMap::new(),
            statuses: BTreeMap::new(),
            created_at: Timestamp::from_millis(0),
            send_at: None,
            started_at: None,
            finished_at: None,
            window: None,
            upload: None,
        }
    }

    #[test]
    fn a_created_or_replayed_campaign_is_answered_and_a_reused_key_refused() {
        let made = campaign(CampaignState::Scheduled);
        let answered = |outcome| created_campaign(outcome).map(|c| c.id);
        assert_eq!(
            answered(CreateOutcome::Created(made.clone())).ok(),
            Some(made.id.clone())
        );
        assert_eq!(
            answered(CreateOutcome::Replayed(made.clone())).ok(),
            Some(made.id.clone())
        );
        let refused = created_campaign(CreateOutcome::KeyReused).unwrap_err();
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
        );
    }

    #[test]
    fn a_stored_campaign_gets_its_preparation_or_its_start_timer_again() {
        let now = Timestamp::from_millis(1_000);
        let later = Timestamp::from_millis(60_000);
        assert_eq!(
            FollowUp::of(CampaignState::Preparing, Some(later), now),
            FollowUp::Prepare
        );
        assert_eq!(
            FollowUp::of(CampaignState::Scheduled, Some(later), now),
            FollowUp::StartAt(later)
        );
        assert_eq!(
            FollowUp::of(CampaignState::Scheduled, None, now),
            FollowUp::StartAt(now)
        );
        for state in [
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Cancelled,
            CampaignState::Rejected,
            CampaignState::Completed,
        ] {
            assert_eq!(
                FollowUp::of(state, None, now),
                FollowUp::Nothing,
                "{state:?}"
            );
        }
    }
}
