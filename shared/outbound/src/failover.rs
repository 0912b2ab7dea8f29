//! SMS failover on a send: the request's `failover` member, completed from the
//! template's SMS text and the business's default into what the message is stored with.
//!
//! ```json
//! {"to": "+447911123456", "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}},
//!  "failover": {"sms": {"text": "Welcome, Ann!", "sender_id": "Acme"}}}
//! ```
//!
//! Refusals are `422` (like `validation_failed`) with their own codes (`failover_invalid`, `failover_text_invalid`,
//! `failover_sender_id_invalid`, `failover_text_missing`) and a `field`; nothing is stored.
//! The business's SMS policy ([`SmsPolicy`]) refuses the rest: a sender id the operator did not
//! register (`failover_sender_id_not_registered`), more billed parts than it allows
//! (`failover_too_many_parts`), a destination it does not send SMS to
//! (`failover_destination_refused`).

use lambda_http::http::StatusCode;
use serde_json::Value;
use session_rules::failover::{FailoverInvalid, FailoverRequest, FailoverSpec};
use session_rules::sms::SmsPolicy;
use session_rules::{PhoneNumber, Refusal, Template, TemplateParams};
use vbm_http::ApiError;
use vbm_store::Business;

/// Takes `failover` out of the request body (the rest is the message as `dispatch` reads it)
/// and checks it.
pub fn take(value: &mut Value) -> Result<Option<(FailoverRequest, String)>, ApiError> {
    let Some(raw) = value.as_object_mut().and_then(|o| o.remove("failover")) else {
        return Ok(None);
    };
    let request = FailoverRequest::parse(&raw).map_err(refusal)?;
    Ok(Some((request, raw.to_string())))
}

/// What the message fails over with: the request's, the template's SMS text (filled with the
/// same parameters), the business's default; its text and sender id within the business's SMS
/// policy.
pub fn resolve(
    business: &Business,
    request: Option<&FailoverRequest>,
    template: Option<&Template>,
    params: Option<&TemplateParams>,
) -> Result<Option<FailoverSpec>, ApiError> {
    let policy = business.failover.as_ref();
    let template_text = match (policy, template, params) {
        (Some(policy), Some(template), Some(params)) => policy
            .template_texts
            .get(template.id().as_str())
            .and_then(|text| render(text, template, params)),
        _ => None,
    };
    let spec = FailoverSpec::resolve(request, template_text, policy).map_err(refusal)?;
    if let Some(spec) = &spec {
        business
            .sms
            .check_content(&spec.sms.text, spec.sms.sender_id.as_deref())
            .map_err(Refusal::from)?;
    }
    Ok(spec)
}

/// Whether the SMS policy lets a failover go to `to` (when the message has one).
pub fn check_destination(
    policy: &SmsPolicy,
    to: &PhoneNumber,
    spec: Option<&FailoverSpec>,
) -> Result<(), Refusal> {
    match spec {
        Some(_) => policy.check_destination(to).map_err(Refusal::from),
        None => Ok(()),
    }
}

/// A template's SMS text with the template's parameters (`{{name}}` as in the template).
pub fn render(text: &str, template: &Template, params: &TemplateParams) -> Option<String> {
    let sms = Template::parse(
        template.id().clone(),
        template.language().clone(),
        template.category(),
        true,
        text,
    )
    .ok()?;
    Some(params.render(&sms))
}

/// The `422` of an invalid `failover` member, naming its `field`.
pub fn refusal(invalid: FailoverInvalid) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        invalid.code,
        invalid.message,
    )
    .with_detail("field", invalid.field)
}
