//! A business's `POST /v1/messages` body: JSON → [`SendRequestBody`] → [`SendRequest::parse`] →
//! [`SendRequest::admit`] without a template and with each of a few registered ones → the Viber
//! `send_message` body it would be dispatched as.
//!
//! Input: the request body's bytes.

use std::sync::OnceLock;

use session_rules::{
    Language, LegacyTransactional, Limits, OutboundMessage, Refusal, SendClass, SendRequest,
    SendRequestBody, Template, TemplateCategory, TemplateId,
};
use viber::{Label, SendMessage};

pub fn check(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<SendRequestBody>(data) else {
        return;
    };
    let limits = Limits::default();
    let request = match SendRequest::parse(&body, &limits) {
        Ok(request) => request,
        Err(refusal) => {
            // Parsing judges the request alone: never a session or template verdict.
            assert!(
                matches!(refusal.code(), "validation_failed" | "invalid_phone"),
                "parse refused with {refusal:?}"
            );
            return;
        }
    };
    check_parsed(&body, &limits, &request);
    // Without the business's opt-in, free-form transactional content is never admitted.
    if let OutboundMessage::Transactional { .. } | OutboundMessage::TransactionalFile(_) =
        &request.message
    {
        let refused = request.admit(None, LegacyTransactional::Refused);
        assert_eq!(
            refused.map(|_| ()).map_err(|r| r.code()),
            Err("template_required")
        );
    }
    check_admission(&request, None);
    for template in templates() {
        check_admission(&request, Some(template));
    }
}

fn check_parsed(body: &SendRequestBody, limits: &Limits, request: &SendRequest) {
    assert_eq!(request.message.kind(), body.kind);
    assert_eq!(
        session_rules::PhoneNumber::parse(request.to.as_e164()).as_ref(),
        Ok(&request.to)
    );
    let ttl = request.ttl.as_secs();
    assert!(limits.min_ttl.as_secs() <= ttl && ttl <= limits.max_ttl.as_secs());
    if let Some(asked) = body.ttl_seconds {
        assert_eq!(ttl, asked);
    }
    assert_eq!(
        request.tracking_data.as_ref().map(|t| t.as_str()),
        body.tracking_data.as_deref()
    );
}

fn check_admission(request: &SendRequest, template: Option<&Template>) {
    let regulated = request
        .to
        .region()
        .is_some_and(|r| super::REGULATED.contains(&r));
    // With the opt-in, so that the regulation's own refusals show.
    let admission = match request.admit(template, LegacyTransactional::Allowed) {
        Ok(admission) => admission,
        Err(refusal) => {
            check_refusal(request, template, &refusal);
            return;
        }
    };
    let expected_class = match (&request.message, template) {
        (OutboundMessage::Session(_), _) => SendClass::Session,
        (OutboundMessage::Transactional { .. } | OutboundMessage::TransactionalFile(_), _) => {
            assert!(!regulated, "plain transactional admitted to {}", request.to);
            SendClass::Informative
        }
        (OutboundMessage::Promotional { .. } | OutboundMessage::Carousel(_), _) => {
            SendClass::Promotional
        }
        (OutboundMessage::List(list), _) => match list.delivery() {
            session_rules::ListDelivery::Session => SendClass::Session,
            session_rules::ListDelivery::Transactional => {
                assert!(!regulated, "transactional list admitted to {}", request.to);
                SendClass::Informative
            }
        },
        (OutboundMessage::Template { id, .. }, Some(t)) => {
            assert_eq!(t.id(), id);
            assert!(t.is_approved(), "unapproved template {id:?} admitted");
            if regulated && t.category() != TemplateCategory::Promotional {
                assert!(matches!(t.language().as_str(), "ru" | "uk"));
            }
            match t.category() {
                TemplateCategory::Transactional | TemplateCategory::Otp => SendClass::Informative,
                TemplateCategory::Promotional => SendClass::Promotional,
            }
        }
        (OutboundMessage::Template { id, .. }, None) => {
            panic!("template {id:?} admitted without its template")
        }
    };
    assert_eq!(admission.class, expected_class);

    let filled = admission.template_params.as_ref();
    assert_eq!(
        filled.is_some(),
        matches!(request.message, OutboundMessage::Template { .. })
    );
    let viber_template = template.zip(filled);
    let send = match SendMessage::build(
        1,
        2,
        &request.to,
        &request.message,
        request.ttl,
        request.tracking_data.as_ref(),
        viber_template,
    ) {
        Ok(send) => send,
        Err(error) => panic!("an admitted request does not build: {error}"),
    };
    assert_eq!(send.dest, request.to.digits());
    assert_eq!(send.ttl, request.ttl.as_secs());
    // Every template is a transaction (Viber has no promotional template type).
    let label = match (expected_class, viber_template) {
        (_, Some(_)) => Label::Transaction,
        (SendClass::Promotional, None) => Label::Promotion,
        _ => Label::Transaction,
    };
    assert_eq!(send.label, label);
    if let Some((_, params)) = viber_template {
        assert_eq!(send.template_params.as_ref(), Some(params.values()));
    }
    // What dispatch puts on the wire is valid JSON with the fields Viber requires.
    let wire = serde_json::to_vec(&send)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let Some(wire) = wire else {
        panic!("send_message body does not serialise: {send:?}");
    };
    for field in ["service_id", "dest", "seq", "label", "type", "ttl"] {
        assert!(wire.get(field).is_some(), "{field} missing from {wire}");
    }
}

fn check_refusal(request: &SendRequest, template: Option<&Template>, refusal: &Refusal) {
    let allowed = [
        "template_required",
        "template_not_found",
        "template_not_approved",
        "template_params_invalid",
    ];
    assert!(
        allowed.contains(&refusal.code()),
        "admit refused with {refusal:?}"
    );
    match &request.message {
        OutboundMessage::Session(_)
        | OutboundMessage::Promotional { .. }
        | OutboundMessage::Carousel(_) => {
            panic!("{} message refused: {refusal:?}", request.message.kind())
        }
        OutboundMessage::List(list) if list.delivery() == session_rules::ListDelivery::Session => {
            panic!("session list refused: {refusal:?}")
        }
        OutboundMessage::Transactional { .. }
        | OutboundMessage::TransactionalFile(_)
        | OutboundMessage::List(_) => {
            assert_eq!(refusal.code(), "template_required");
        }
        OutboundMessage::Template { id, .. } => {
            if template.is_none_or(|t| t.id() != id) {
                assert_eq!(refusal, &Refusal::TemplateNotFound);
            }
        }
    }
}

/// The templates of the local stack's demo business, plus an unapproved one and a Ukrainian one.
fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        use TemplateCategory::{Promotional, Transactional};
        [
            ("welcome", "en", Transactional, true, "Hello {{name}}"),
            ("code_ru", "ru", Transactional, true, "Ваш код {{ code }}"),
            ("code_uk", "uk", Transactional, true, "Ваш код: {{code}}"),
            (
                "spring_sale",
                "en",
                Promotional,
                true,
                "{{name}}, -{{percent}}% until {{date}}!",
            ),
            ("draft", "en", Transactional, false, "Draft for {{name}}"),
            ("plain", "en", Transactional, true, "Thank you!"),
        ]
        .into_iter()
        .map(|(id, lang, category, approved, text)| {
            let template = TemplateId::parse(id).and_then(|id| {
                Template::parse(id, Language::parse(lang)?, category, approved, text)
            });
            template.unwrap_or_else(|e| unreachable!("a valid literal template: {e}"))
        })
        .collect()
    })
}
