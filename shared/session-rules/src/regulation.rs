//! Local regulation: in Russia, Ukraine and Belarus, transactional (informative) messages go only
//! as Viber-approved templates written in Russian or Ukrainian.

use crate::{OutboundMessage, PhoneNumber, Refusal, Template, TemplateCategory};

/// Regions whose transactional traffic must be templated.
pub const REGULATED_REGIONS: [&str; 3] = ["RU", "UA", "BY"];
/// Languages such templates may be written in.
pub const ALLOWED_LANGUAGES: [&str; 2] = ["ru", "uk"];

pub fn is_regulated(to: &PhoneNumber) -> bool {
    to.region().is_some_and(|r| REGULATED_REGIONS.contains(&r))
}

/// Refuses a transactional message to a regulated number unless it is a transactional template
/// in an allowed language. Approval itself is checked with the template.
pub fn check(
    to: &PhoneNumber,
    message: &OutboundMessage,
    template: Option<&Template>,
) -> Result<(), Refusal> {
    if !is_regulated(to) {
        return Ok(());
    }
    let region = to.region().unwrap_or_default();
    match message {
        OutboundMessage::Transactional { .. } | OutboundMessage::TransactionalFile(_) => {
            Err(Refusal::TemplateRequired(format!(
                "transactional messages to {region} numbers must be sent as a Viber-approved template in Russian or Ukrainian"
            )))
        }
        OutboundMessage::Template { .. } => match template {
            Some(t)
                if t.category() != TemplateCategory::Promotional
                    && !ALLOWED_LANGUAGES.contains(&t.language().as_str()) =>
            {
                Err(Refusal::TemplateRequired(format!(
                    "transactional templates to {region} numbers must be written in Russian or Ukrainian, not '{}'",
                    t.language().as_str()
                )))
            }
            _ => Ok(()),
        },
        // A transactional list (801) is free-form transactional content like a text.
        OutboundMessage::List(list) if list.delivery() == crate::ListDelivery::Transactional => {
            Err(Refusal::TemplateRequired(format!(
                "transactional messages to {region} numbers must be sent as a Viber-approved template in Russian or Ukrainian"
            )))
        }
        OutboundMessage::Session(_)
        | OutboundMessage::Promotional { .. }
        | OutboundMessage::List(_)
        | OutboundMessage::Carousel(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Language, LegacyTransactional, Limits, RawTemplate, SendRequest, SendRequestBody,
        TemplateId,
    };

    fn transactional(to: &str) -> SendRequest {
        SendRequest::parse(
            &SendRequestBody {
                to: to.into(),
                kind: "transactional".into(),
                text: Some("Your code is 1234".into()),
                ..Default::default()
            },
            &Limits::default(),
        )
        .unwrap()
    }

    fn templated(to: &str) -> SendRequest {
        SendRequest::parse(
            &SendRequestBody {
                to: to.into(),
                kind: "template".into(),
                template: Some(RawTemplate {
                    id: "code".into(),
                    params: [("code".to_string(), "1234".to_string())].into(),
                    lang: None,
                }),
                ..Default::default()
            },
            &Limits::default(),
        )
        .unwrap()
    }

    fn template(lang: &str, category: TemplateCategory) -> Template {
        Template::parse(
            TemplateId::parse("code").unwrap(),
            Language::parse(lang).unwrap(),
            category,
            true,
            "Код {{code}}",
        )
        .unwrap()
    }

    #[test]
    fn plain_transactional_to_ru_ua_by_needs_a_template() {
        for to in ["+79123456789", "+380501234567", "+375291234567"] {
            assert_eq!(
                transactional(to)
                    .admit(None, LegacyTransactional::Allowed)
                    .unwrap_err()
                    .code(),
                "template_required",
                "{to}"
            );
        }
    }

    #[test]
    fn kazakhstan_on_plus_seven_is_not_regulated() {
        assert!(
            transactional("+77011234567")
                .admit(None, LegacyTransactional::Allowed)
                .is_ok()
        );
        assert!(
            transactional("+447911123456")
                .admit(None, LegacyTransactional::Allowed)
                .is_ok()
        );
    }

    #[test]
    fn transactional_templates_there_must_be_russian_or_ukrainian() {
        let req = templated("+79123456789");
        assert!(
            req.admit(
                Some(&template("ru", TemplateCategory::Transactional)),
                LegacyTransactional::Refused
            )
            .is_ok()
        );
        assert!(
            req.admit(
                Some(&template("uk", TemplateCategory::Transactional)),
                LegacyTransactional::Refused
            )
            .is_ok()
        );
        assert_eq!(
            req.admit(
                Some(&template("en", TemplateCategory::Transactional)),
                LegacyTransactional::Refused
            )
            .unwrap_err()
            .code(),
            "template_required"
        );
        // Promotional templates are not under this rule.
        assert!(
            req.admit(
                Some(&template("en", TemplateCategory::Promotional)),
                LegacyTransactional::Refused
            )
            .is_ok()
        );
        // Elsewhere any language goes.
        assert!(
            templated("+447911123456")
                .admit(
                    Some(&template("en", TemplateCategory::Transactional)),
                    LegacyTransactional::Refused
                )
                .is_ok()
        );
    }
}
