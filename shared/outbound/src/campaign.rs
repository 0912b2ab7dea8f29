//! One campaign recipient's message: the campaign's message with the recipient's `to` and
//! template parameters, parsed and admitted exactly as a `POST /v1/messages` with that body
//! would be. The API checks every recipient with it before storing anything, and the
//! fan-out (`functions/campaign`) prepares each recipient's send with it, so a recipient is the
//! single send it stands for: same parsing, same template and regulation rules, same payload.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use session_rules::campaign::CampaignRecipient;
use session_rules::failover::{FailoverRequest, FailoverSpec};
use session_rules::{
    BillingCategory, Carriage, LegacyTransactional, Limits, PhoneNumber, Refusal, SendClass,
    SendRequest, SendRequestBody, Template, TemplateParams, Timestamp,
};
use vbm_store::{Business, BusinessId, HeldFallback, MessageId, NewHold, NewSend};

use vbm_http::idempotency::canonical_request;

/// A recipient ready for the session rules.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub to: PhoneNumber,
    pub class: SendClass,
    pub kind: &'static str,
    /// What the message is billed as (the admission's category).
    pub billing: BillingCategory,
    /// What `dispatch` reads: the canonical send request, as a single send stores it.
    pub payload: String,
    /// The Viber service it goes out on, chosen as a single send's (`None` without the business).
    pub service_id: Option<u64>,
    /// The SMS failover the message is stored with: the campaign's `failover`,
    /// completed for this recipient as a single send's would be.
    pub failover: Option<FailoverSpec>,
    /// `wait_for_session`: held until the user writes, and what goes at the deadline instead.
    pub hold: Option<HoldTerms>,
}

/// A recipient's hold: its deadline and its fallback, prepared for this recipient.
#[derive(Debug, Clone)]
pub struct HoldTerms {
    pub until: Timestamp,
    pub fallback: Option<HeldFallback>,
}

/// The campaign message's `wait_for_session` member.
pub const WAIT_FOR_SESSION: &str = "wait_for_session";

/// The campaign message's `wait_for_session`, read: its deadline, and its fallback as a
/// template message (`{"type": "template", "template": ...}`) to prepare per recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignWait {
    pub until: Timestamp,
    pub fallback: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitBody {
    until: String,
    #[serde(default)]
    fallback: Option<FallbackBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackBody {
    template: Value,
}

/// A `wait_for_session` as a single send and a campaign message write it.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitTerms {
    pub until: Timestamp,
    /// The fallback's `template` object, as written (prepared by the caller).
    pub fallback_template: Option<Value>,
}

/// Why a `wait_for_session` cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitError {
    /// Not the object's shape (an unknown field, a missing `until`, ...).
    Shape(String),
    /// `until` is not an RFC 3339 time.
    Until,
}

impl WaitError {
    pub const UNTIL_HINT: &'static str = "an RFC 3339 time, e.g. 2026-12-01T09:00:00Z";
}

/// Reads a `wait_for_session` object.
pub fn read_wait(raw: &Value) -> Result<WaitTerms, WaitError> {
    let body: WaitBody =
        serde_json::from_value(raw.clone()).map_err(|e| WaitError::Shape(e.to_string()))?;
    let until = vbm_platform::time::parse_rfc3339(&body.until).ok_or(WaitError::Until)?;
    Ok(WaitTerms {
        until,
        fallback_template: body.fallback.map(|f| f.template),
    })
}

/// Reads the message's `wait_for_session` (same shape as a single send's): `Err` names the
/// field and why.
pub fn wait_request(
    message: &Map<String, Value>,
) -> Result<Option<CampaignWait>, (&'static str, String)> {
    let Some(raw) = message.get(WAIT_FOR_SESSION) else {
        return Ok(None);
    };
    let terms = read_wait(raw).map_err(|e| match e {
        WaitError::Shape(why) => ("message.wait_for_session", why),
        WaitError::Until => (
            "message.wait_for_session.until",
            WaitError::UNTIL_HINT.to_owned(),
        ),
    })?;
    let fallback = terms.fallback_template.map(|template| {
        Map::from_iter([
            ("type".to_owned(), Value::String("template".into())),
            ("template".to_owned(), template),
        ])
    });
    Ok(Some(CampaignWait {
        until: terms.until,
        fallback,
    }))
}

/// The hold of one recipient prepared as `message`'s: its fallback template prepared as the
/// recipient's own template send (its parameters over the fallback's).
pub fn prepare_hold(
    wait: &CampaignWait,
    recipient: &CampaignRecipient,
    limits: &Limits,
    fallback_template: Option<&Template>,
    business: Option<&Business>,
) -> Result<HoldTerms, Refusal> {
    let fallback = match &wait.fallback {
        None => None,
        Some(message) => {
            let source = FailoverSource {
                request: None,
                business,
            };
            let p = prepare(
                message,
                recipient,
                limits,
                fallback_template,
                source,
                LegacyTransactional::default(),
            )?;
            Some(HeldFallback {
                kind: p.kind.to_owned(),
                class: p.class,
                billing: p.billing,
                payload: p.payload,
                service_id: p.service_id,
            })
        }
    };
    Ok(HoldTerms {
        until: wait.until,
        fallback,
    })
}

impl Prepared {
    /// The recipient's send as the store admits it (a campaign recipient has no
    /// `Idempotency-Key`: its slot in the chunk makes it once).
    pub fn new_send<'a>(
        &'a self,
        business: &'a BusinessId,
        message_id: MessageId,
        now: Timestamp,
    ) -> NewSend<'a> {
        NewSend {
            business,
            message_id,
            to: &self.to,
            class: self.class,
            kind: self.kind,
            billing: self.billing,
            payload: &self.payload,
            service_id: self.service_id,
            idempotency: None,
            failover: self.failover.as_ref(),
            now,
        }
    }

    /// The recipient's hold as the store admits it, when its message waits (a held message
    /// has no SMS failover: its fallback template is its alternative).
    pub fn new_hold<'a>(
        &'a self,
        business: &'a BusinessId,
        message_id: MessageId,
        now: Timestamp,
    ) -> Option<NewHold<'a>> {
        let terms = self.hold.as_ref()?;
        Some(NewHold {
            send: NewSend {
                failover: None,
                ..self.new_send(business, message_id, now)
            },
            until: terms.until,
            fallback: terms.fallback.clone(),
        })
    }
}

/// The campaign message's `failover` member (checked when the campaign was created).
pub fn failover_request(
    message: &Map<String, Value>,
) -> Result<Option<FailoverRequest>, session_rules::failover::FailoverInvalid> {
    message
        .get("failover")
        .map(FailoverRequest::parse)
        .transpose()
}

/// The send request body for `recipient`: `message` plus `to`, and for a template message the
/// recipient's `params` over the campaign's.
pub fn recipient_request(message: &Map<String, Value>, recipient: &CampaignRecipient) -> Value {
    let mut body = message.clone();
    // Not part of the message `dispatch` reads: it goes with the message as its failover, or
    // says how it waits.
    body.remove("failover");
    body.remove(WAIT_FOR_SESSION);
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
/// completed (no SMS text anywhere) is refused with the single send's code. `legacy`: the
/// business's opt-in to free-form transactional content, as it is at fan-out.
pub fn prepare(
    message: &Map<String, Value>,
    recipient: &CampaignRecipient,
    limits: &Limits,
    template: Option<&Template>,
    failover: FailoverSource<'_>,
    legacy: LegacyTransactional,
) -> Result<Prepared, Refusal> {
    let (value, request) = parse_recipient(message, recipient, limits)?;
    let admission = request.admit(template, legacy)?;
    let service_id = failover
        .business
        .map(|business| {
            business
                .services
                .choose(
                    Carriage::of(&request.message),
                    limits.two_way_sessions,
                    request.service,
                )
                .map(|service| service.id)
                .map_err(Refusal::NoServiceForMessage)
        })
        .transpose()?;
    let failover = match failover.business {
        Some(business) => {
            let spec = crate::failover::resolve(
                business,
                failover.request,
                template,
                admission.template_params.as_ref(),
            )
            .map_err(|error| Refusal::ValidationFailed {
                field: "message.failover".into(),
                reason: error.message.clone(),
            })?;
            // A destination the SMS policy refuses is this recipient's refusal, counted with
            // its code; the campaign's other recipients go on.
            crate::failover::check_destination(&business.sms, &request.to, spec.as_ref())?;
            spec
        }
        None => None,
    };
    Ok(Prepared {
        payload: canonical_request(&value, &request.to),
        service_id,
        kind: request.message.kind(),
        to: request.to,
        class: admission.class,
        billing: admission.billing,
        failover,
        hold: None,
    })
}

/// One recipient as the business lists it (inline, or a line of an uploaded JSONL list).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientBody {
    to: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

/// The campaign message's own template parameters (the recipients' go over them).
pub fn base_params(message: &Map<String, Value>) -> BTreeMap<String, String> {
    message
        .get("template")
        .and_then(|t| t.get("params"))
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default()
}

/// A listed recipient checked as its own send would be (number, template parameters, the
/// message with them), and not a number of `seen`: the recipient to store, or a stable code
/// and a message for the business.
pub fn check_recipient(
    entry: &Value,
    message: &Map<String, Value>,
    template: Option<&Template>,
    base_params: &BTreeMap<String, String>,
    limits: &session_rules::Limits,
    seen: &mut HashSet<String>,
) -> Result<CampaignRecipient, (&'static str, String)> {
    let body: RecipientBody = serde_json::from_value(entry.clone()).map_err(|e| {
        (
            "malformed_entry",
            format!("{{\"to\": ..., \"params\": {{...}}}}: {e}"),
        )
    })?;
    let to = PhoneNumber::parse(&body.to).map_err(|r| (r.code(), r.to_string()))?;
    if template.is_none() && !body.params.is_empty() {
        // No template to fill: the parameters cannot fit it.
        return Err((
            "template_params_invalid",
            "params are for template messages only".into(),
        ));
    }
    if !seen.insert(to.as_e164().to_owned()) {
        return Err((
            "duplicate_recipient",
            "this number is already in the list".into(),
        ));
    }
    let recipient = CampaignRecipient {
        to: to.as_e164().to_owned(),
        params: body.params,
    };
    if let Some(template) = template {
        let mut params = base_params.clone();
        params.extend(recipient.params.clone());
        TemplateParams::fill(template, &params).map_err(|r| (r.code(), r.to_string()))?;
    }
    parse_recipient(message, &recipient, limits).map_err(|r| (r.code(), r.to_string()))?;
    Ok(recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_read_with_its_deadline_and_fallback_template_or_refused_by_what_is_wrong() {
        let terms = read_wait(&serde_json::json!({
            "until": "2026-12-01T09:00:00Z",
            "fallback": {"template": {"id": "sale"}},
        }))
        .unwrap();
        assert_eq!(terms.until.rfc3339(), "2026-12-01T09:00:00.000Z");
        assert_eq!(
            terms.fallback_template,
            Some(serde_json::json!({"id": "sale"}))
        );
        let bare = read_wait(&serde_json::json!({"until": "2026-12-01T09:00:00Z"})).unwrap();
        assert_eq!(bare.fallback_template, None);
        assert!(matches!(
            read_wait(&serde_json::json!({"until": "2026-12-01T09:00:00Z", "after": 1})),
            Err(WaitError::Shape(_))
        ));
        assert!(matches!(
            read_wait(&serde_json::json!({"fallback": {"template": {}}})),
            Err(WaitError::Shape(_))
        ));
        assert_eq!(
            read_wait(&serde_json::json!({"until": "tomorrow"})),
            Err(WaitError::Until)
        );
    }

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

    /// A recipient whose number the business's SMS policy sends no SMS to is that recipient's
    /// refusal, with the single send's code; the others are prepared with their failover.
    #[test]
    fn a_recipient_the_sms_policy_refuses_is_refused_with_its_code() {
        let message: Map<String, Value> = serde_json::from_str(
            r#"{"type":"promotional","text":"Sale","failover":{"sms":{"text":"Sale"}}}"#,
        )
        .unwrap();
        let request = failover_request(&message).unwrap();
        let business = Business {
            id: vbm_store::BusinessId::parse("acme").unwrap(),
            services: session_rules::Services::single(1, session_rules::ServiceKind::DEFAULT),
            callback_url: None,
            callback_secret: String::new(),
            previous_callback_secret: None,
            allow_cidrs: vec![],
            api_key_hash: String::new(),
            disabled: false,
            failover: None,
            sms: Default::default(),
            legacy_transactional: false,
            caps: Default::default(),
            prices: None,
        };
        let source = FailoverSource {
            request: request.as_ref(),
            business: Some(&business),
        };
        let recipient = |to: &str| CampaignRecipient {
            to: to.into(),
            params: BTreeMap::new(),
        };
        let limits = Limits::default();
        // A promotional message: the legacy transactional opt-in plays no part.
        const LEGACY: session_rules::LegacyTransactional =
            session_rules::LegacyTransactional::Refused;
        let ok = prepare(
            &message,
            &recipient("+447911123456"),
            &limits,
            None,
            source,
            LEGACY,
        )
        .unwrap();
        assert_eq!(ok.failover.unwrap().sms.text, "Sale");
        for premium in ["+449098790000", "+2693212345", "+8823451234567"] {
            let refused =
                prepare(&message, &recipient(premium), &limits, None, source, LEGACY).unwrap_err();
            assert_eq!(refused.code(), "failover_destination_refused", "{premium}");
        }
        // Without a failover, the number is Viber's business only.
        let mut plain = message.clone();
        plain.remove("failover");
        let none = FailoverSource {
            request: None,
            business: Some(&business),
        };
        let prepared = prepare(
            &plain,
            &recipient("+449098790000"),
            &limits,
            None,
            none,
            LEGACY,
        )
        .unwrap();
        assert!(prepared.failover.is_none());
    }
}
