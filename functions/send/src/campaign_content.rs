//! One campaign recipient's message: the campaign's message with the recipient's `to` and
//! template parameters, parsed and admitted exactly as a `POST /v1/messages` with that body
//! would be (issue 15). The API checks every recipient with it before storing anything, and the
//! fan-out (`functions/campaign`) prepares each recipient's send with it, so a recipient is the
//! single send it stands for: same parsing, same template and regulation rules, same payload.

use serde_json::{Map, Value};
use session_rules::{
    Limits, PhoneNumber, Refusal, SendClass, SendRequest, SendRequestBody, Template,
};
use vbm_store::{Business, CampaignRecipient, FailoverRequest, FailoverSpec};

use crate::idempotency::canonical_request;

/// A recipient ready for the session rules.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub to: PhoneNumber,
    pub class: SendClass,
    pub kind: &'static str,
    /// What `dispatch` reads: the canonical send request, as a single send stores it.
    pub payload: String,
    /// The SMS failover (issue 16) the message is stored with: the campaign's `failover`,
    /// completed for this recipient as a single send's would be.
    pub failover: Option<FailoverSpec>,
}

/// The campaign message's `failover` member (checked when the campaign was created).
pub fn failover_request(
    message: &Map<String, Value>,
) -> Result<Option<FailoverRequest>, vbm_store::FailoverInvalid> {
    message
        .get("failover")
        .map(FailoverRequest::parse)
        .transpose()
}

/// The send request body for `recipient`: `message` plus `to`, and for a template message the
/// recipient's `params` over the campaign's.
pub fn recipient_request(message: &Map<String, Value>, recipient: &CampaignRecipient) -> Value {
    let mut body = message.clone();
    // Not part of the message `dispatch` reads: it goes with the message as its failover.
    body.remove("failover");
    body.insert("to".into(), Value::String(recipient.to.clone()));
    if !recipient.params.is_empty()
        && let Some(Value::Object(template)) = body.get_mut("template")
    {
        let params = template
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(params) = params {
            for (name, value) in &recipient.params {
                params.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    Value::Object(body)
}

/// Parses the recipient's request (the number, the message's fields).
pub fn parse_recipient(
    message: &Map<String, Value>,
    recipient: &CampaignRecipient,
    limits: &Limits,
) -> Result<(Value, SendRequest), Refusal> {
    let value = recipient_request(message, recipient);
    let body: SendRequestBody =
        serde_json::from_value(value.clone()).map_err(|e| Refusal::ValidationFailed {
            field: "message".into(),
            reason: e.to_string(),
        })?;
    let request = SendRequest::parse(&body, limits)?;
    Ok((value, request))
}

/// Where a recipient's failover comes from: the campaign's request and the business's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailoverSource<'a> {
    pub request: Option<&'a FailoverRequest>,
    pub business: Option<&'a Business>,
}

/// Parses and admits the recipient's request with the campaign's template (if any): the
/// refusal a single send would get, or what to write. A recipient whose failover cannot be
/// completed (no SMS text anywhere) is refused with the single send's code.
pub fn prepare(
    message: &Map<String, Value>,
    recipient: &CampaignRecipient,
    limits: &Limits,
    template: Option<&Template>,
    failover: FailoverSource<'_>,
) -> Result<Prepared, Refusal> {
    let (value, request) = parse_recipient(message, recipient, limits)?;
    let admission = request.admit(template)?;
    let failover = match failover.business {
        Some(business) => crate::failover::resolve(
            business,
            failover.request,
            template,
            admission.template_params.as_ref(),
        )
        .map_err(|error| Refusal::ValidationFailed {
            field: "message.failover".into(),
            reason: error.message.clone(),
        })?,
        None => None,
    };
    Ok(Prepared {
        payload: canonical_request(&value, &request.to),
        kind: request.message.kind(),
        to: request.to,
        class: admission.class,
        failover,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_recipient_params_go_over_the_campaigns() {
        let message: Map<String, Value> = serde_json::from_str(
            r#"{"type":"template","template":{"id":"sale","params":{"discount":"20%","name":"you"}}}"#,
        )
        .unwrap();
        let r = CampaignRecipient {
            to: "+447911123456".into(),
            params: BTreeMap::from([("name".to_owned(), "Ann".to_owned())]),
        };
        let v = recipient_request(&message, &r);
        assert_eq!(v["to"], "+447911123456");
        assert_eq!(v["template"]["params"]["name"], "Ann");
        assert_eq!(v["template"]["params"]["discount"], "20%");
        let (_, parsed) = parse_recipient(&message, &r, &Limits::default()).unwrap();
        assert_eq!(parsed.to.as_e164(), "+447911123456");
    }
}
