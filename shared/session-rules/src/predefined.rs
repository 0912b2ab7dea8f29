//! Viber's predefined OTP templates: fixed ids every sender may use without registering
//! anything, each with its parameters, in the languages Viber translated them into.
//!
//! Sources (docs/viber.md, "Viber's predefined OTP templates"): the ids and names are in
//! CM.com's "OTP template messages" and Routee's "Viber OTP templates inventory"; the parameters
//! each one takes are Routee's quick reference (sent in camelCase: `businessPlatformName` for
//! `{{business_platform_name}}`); the languages are Sinch's list ("Template messages", Viber
//! BM channel). Viber holds the texts and renders them in the language asked for; we never send
//! a text, only the id, the language and the parameters.

use crate::{Language, Refusal, Template, TemplateCategory, TemplateId, TemplateReach};

/// One predefined OTP template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredefinedOtp {
    /// Viber's template id.
    pub id: &'static str,
    /// The name partners list it under.
    pub name: &'static str,
    /// The parameters it takes, all required, `pin` first.
    pub params: &'static [&'static str],
}

/// The nine predefined OTP templates partners list (CM.com, Routee, Sinch).
pub const PREDEFINED_OTP: [PredefinedOtp; 9] = [
    PredefinedOtp {
        id: "0aac888f-2ee2-4112-9659-1755a951966a",
        name: "Basic OTP",
        params: &["pin"],
    },
    PredefinedOtp {
        id: "c2cdc028-a48b-4187-bbaf-3aaa137b6e23",
        name: "Basic OTP valid for 5 minutes",
        params: &["pin"],
    },
    PredefinedOtp {
        id: "c33cccaf-735f-4d62-8383-a76bf4999e2d",
        name: "OTP with business/platform name",
        params: &["pin", "businessPlatformName"],
    },
    PredefinedOtp {
        id: "bed0942f-e07e-4879-834b-29cc4cf3ec35",
        name: "OTP with code validity time",
        params: &["pin", "codeValidityTime"],
    },
    PredefinedOtp {
        id: "60d67b38-b9fb-444a-80e6-754447e010c6",
        name: "OTP with code type & validity time",
        params: &["pin", "pinType", "codeValidityTime"],
    },
    PredefinedOtp {
        id: "6c929cef-29b4-4349-bc9d-2a07bdbb6e43",
        name: "OTP with business/platform name & validity time",
        params: &["pin", "businessPlatformName", "codeValidityTime"],
    },
    PredefinedOtp {
        id: "82ba31a3-db42-4e87-82e8-33fa92b9e5ed",
        name: "OTP with type of code",
        params: &["pin", "pinType"],
    },
    PredefinedOtp {
        id: "210ee8a9-1ed5-43cd-96e4-65bba311ab40",
        name: "OTP with details on OTP action/platform",
        params: &["pin", "businessPlatformActionName"],
    },
    PredefinedOtp {
        id: "be56d97b-2a33-4c89-ac5f-f555a2c827d9",
        name: "OTP with business/platform name & code reason",
        params: &["pin", "businessPlatformName", "codeReason"],
    },
];

/// The languages the predefined templates come in (Sinch's list; `br` is Brazilian
/// Portuguese, as Viber spells it, `pt` the European one).
pub const LANGUAGES: [&str; 32] = [
    "en", "ar", "bg", "hr", "cs", "da", "de", "el", "es", "fi", "fr", "he", "my", "hu", "id", "it",
    "no", "nl", "pl", "pt", "br", "ro", "ru", "sk", "sr", "sv", "th", "tr", "uk", "vi", "fa", "be",
];

/// The language when a send names none (CM.com: `templateLanguage`, "Default: en").
pub const DEFAULT_LANGUAGE: &str = "en";

/// The predefined template with Viber's id `id`, if it is one.
pub fn find(id: &TemplateId) -> Option<&'static PredefinedOtp> {
    PREDEFINED_OTP.iter().find(|p| p.id == id.as_str())
}

impl PredefinedOtp {
    /// The template a send of this one in `lang` (default English) fills: approved,
    /// category `otp`, to all devices (Viber's 1702), under Viber's own id. Its text only
    /// names the parameters (Viber holds the real one): it is what the parameters are checked
    /// against, never what is sent.
    pub fn template(&self, lang: Option<&Language>) -> Result<Template, Refusal> {
        let language = match lang {
            Some(lang) if LANGUAGES.contains(&lang.as_str()) => lang.clone(),
            Some(lang) => {
                return Err(Refusal::invalid(
                    "template.lang",
                    format!(
                        "Viber's predefined OTP templates come in {}; not '{}'",
                        LANGUAGES.join(", "),
                        lang.as_str()
                    ),
                ));
            }
            None => Language::parse(DEFAULT_LANGUAGE)?,
        };
        let text: Vec<String> = self.params.iter().map(|p| format!("{{{{{p}}}}}")).collect();
        let text = format!("{}: {}", self.name, text.join(" "));
        Ok(Template::parse(
            TemplateId::parse(self.id)?,
            language,
            TemplateCategory::Otp,
            true,
            &text,
        )?
        .with_reach(TemplateReach::AllDevices))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{BillingCategory, TemplateParams};

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_predefined_template_is_an_approved_otp_template_needing_its_pin() {
        let mut ids = std::collections::BTreeSet::new();
        for p in PREDEFINED_OTP {
            assert!(ids.insert(p.id), "{} twice", p.id);
            assert_eq!(p.params[0], "pin", "{}", p.name);
            let id = TemplateId::parse(p.id).unwrap();
            assert_eq!(find(&id), Some(&PREDEFINED_OTP[ids.len() - 1]));
            let t = p.template(None).unwrap();
            assert!(t.is_approved() && t.is_otp(), "{}", p.name);
            assert_eq!(t.language().as_str(), "en");
            assert_eq!(t.viber_template_id().as_str(), p.id);
            assert_eq!(t.placeholders(), p.params);
            // Every parameter given: fine; the pin left out: refused.
            let all: Vec<(&str, &str)> = p.params.iter().map(|n| (*n, "5")).collect();
            assert!(
                TemplateParams::fill(&t, &params(&all)).is_ok(),
                "{}",
                p.name
            );
            let refused = TemplateParams::fill(&t, &params(&all[1..])).unwrap_err();
            assert_eq!(refused.code(), "template_params_invalid");
            assert!(refused.to_string().contains("missing: pin"), "{refused}");
            let mut extra = all.clone();
            extra.push(("coupon", "X"));
            let refused = TemplateParams::fill(&t, &params(&extra)).unwrap_err();
            assert!(refused.to_string().contains("coupon"), "{refused}");
        }
        assert!(find(&TemplateId::parse("welcome").unwrap()).is_none());
        let _ = BillingCategory::Otp;
    }

    #[test]
    fn languages_are_viber_s_list() {
        let basic = &PREDEFINED_OTP[0];
        for lang in LANGUAGES {
            let t = basic
                .template(Some(&Language::parse(lang).unwrap()))
                .unwrap();
            assert_eq!(t.language().as_str(), lang);
        }
        let refused = basic
            .template(Some(&Language::parse("ja").unwrap()))
            .unwrap_err();
        assert_eq!(refused.code(), "validation_failed");
        assert_eq!(refused.field(), Some("template.lang"));
    }
}
