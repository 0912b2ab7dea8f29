//! Pre-approved templates (Viber types 1701/1702) and the parameters that fill them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Refusal;
use crate::content::{MAX_TEXT_CHARS, is_blank};

/// Longest value of one template parameter.
pub const MAX_PARAM_CHARS: usize = 125;

/// A template's identifier: 1 to 64 of `A-Z a-z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TemplateId(String);

impl TemplateId {
    pub fn parse(input: &str) -> Result<Self, Refusal> {
        let ok = (1..=64).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Refusal::invalid(
                "template.id",
                "1 to 64 letters, digits, '_', '-' or '.'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 639-1 language code, lowercase (`ru`, `uk`, `en`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    pub fn parse(input: &str) -> Result<Self, Refusal> {
        if input.len() == 2 && input.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(input.to_ascii_lowercase()))
        } else {
            Err(Refusal::invalid(
                "lang",
                "a two-letter ISO 639-1 language code such as en, ru or uk",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    Transactional,
    Promotional,
}

impl TemplateCategory {
    /// A category for a template being registered: `transactional`. No public source has a
    /// promotional template (Viber's 1701 and 1702 are both transactional), so `promotional`
    /// is refused, saying where promotional content goes instead.
    pub fn parse(input: &str) -> Result<Self, Refusal> {
        match input {
            "transactional" => Ok(Self::Transactional),
            "promotional" => Err(Refusal::invalid(
                "category",
                "Viber has no promotional templates (1701 and 1702 are both transactional); \
                 send promotional content as a message of type promotional",
            )),
            _ => Err(Refusal::invalid("category", "must be transactional")),
        }
    }

    /// A category as stored: also `promotional`, for templates registered before it was
    /// refused (they still count as promotional for the first-message rule).
    pub fn parse_stored(input: &str) -> Result<Self, Refusal> {
        match input {
            "promotional" => Ok(Self::Promotional),
            other => Self::parse(other),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Promotional => "promotional",
        }
    }
}

/// Which devices a template reaches. Viber has two template types, both transactional
/// (VIBER.md): 1701 smartphones only, 1702 all devices (desktop included), the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateReach {
    Smartphones,
    #[default]
    AllDevices,
}

impl TemplateReach {
    pub fn parse(input: &str) -> Result<Self, Refusal> {
        match input {
            "smartphones" => Ok(Self::Smartphones),
            "all_devices" => Ok(Self::AllDevices),
            _ => Err(Refusal::invalid(
                "reach",
                "must be smartphones (Viber type 1701) or all_devices (1702)",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smartphones => "smartphones",
            Self::AllDevices => "all_devices",
        }
    }
}

/// A registered template: its text with `{{name}}` placeholders, language, category, the
/// devices it reaches and whether Viber has approved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    id: TemplateId,
    language: Language,
    category: TemplateCategory,
    reach: TemplateReach,
    approved: bool,
    text: String,
    placeholders: Vec<String>,
}

impl Template {
    /// Parses a template's text and finds its placeholders. A placeholder is `{{name}}` with a
    /// name of letters, digits and `_` (spaces inside the braces are ignored).
    pub fn parse(
        id: TemplateId,
        language: Language,
        category: TemplateCategory,
        approved: bool,
        text: &str,
    ) -> Result<Self, Refusal> {
        if is_blank(text) || text.chars().count() > MAX_TEXT_CHARS {
            return Err(Refusal::invalid(
                "text",
                format!("a template text of 1 to {MAX_TEXT_CHARS} characters"),
            ));
        }
        let mut placeholders = Vec::new();
        for segment in segments(text)? {
            if let Segment::Placeholder(name) = segment
                && !placeholders.iter().any(|p| p == name)
            {
                placeholders.push(name.to_owned());
            }
        }
        Ok(Self {
            id,
            language,
            category,
            reach: TemplateReach::default(),
            approved,
            text: text.to_owned(),
            placeholders,
        })
    }

    pub fn id(&self) -> &TemplateId {
        &self.id
    }
    pub fn language(&self) -> &Language {
        &self.language
    }
    pub fn category(&self) -> TemplateCategory {
        self.category
    }
    pub fn reach(&self) -> TemplateReach {
        self.reach
    }
    /// The same template reaching `reach`.
    pub fn with_reach(mut self, reach: TemplateReach) -> Self {
        self.reach = reach;
        self
    }
    /// An OTP template: one with a `pin` placeholder (VIBER.md: OTP templates need a `pin`;
    /// a send without it is refused as `template_params_invalid` before it reaches Viber).
    pub fn is_otp(&self) -> bool {
        self.placeholders.iter().any(|p| p == "pin")
    }
    pub fn is_approved(&self) -> bool {
        self.approved
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Placeholder names in order of first appearance.
    pub fn placeholders(&self) -> &[String] {
        &self.placeholders
    }

    /// The template as approved by Viber.
    pub fn approve(mut self) -> Self {
        self.approved = true;
        self
    }
}

enum Segment<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

fn segments(text: &str) -> Result<Vec<Segment<'_>>, Refusal> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push(Segment::Literal(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| Refusal::invalid("text", "a '{{' without its closing '}}'"))?;
        let name = after[..close].trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Refusal::invalid(
                "text",
                format!("placeholder '{{{{{name}}}}}': names are letters, digits and '_'"),
            ));
        }
        out.push(Segment::Placeholder(name));
        rest = &after[close + 2..];
    }
    out.push(Segment::Literal(rest));
    Ok(out)
}

/// A complete filling of one template: every placeholder has a value, no value is extra, each is
/// plain text of at most [`MAX_PARAM_CHARS`] characters without URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateParams {
    template_id: TemplateId,
    values: BTreeMap<String, String>,
}

impl TemplateParams {
    pub fn fill(template: &Template, raw: &BTreeMap<String, String>) -> Result<Self, Refusal> {
        let missing: Vec<&str> = template
            .placeholders()
            .iter()
            .filter(|p| !raw.contains_key(p.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::TemplateParamsInvalid(format!(
                "missing: {}",
                missing.join(", ")
            )));
        }
        let extra: Vec<&str> = raw
            .keys()
            .filter(|k| !template.placeholders().contains(k))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            return Err(Refusal::TemplateParamsInvalid(format!(
                "not in the template: {}",
                extra.join(", ")
            )));
        }
        for (name, value) in raw {
            check_param(name, value)?;
        }
        let params = Self {
            template_id: template.id().clone(),
            values: raw.clone(),
        };
        let rendered = params.render(template).chars().count();
        if rendered > MAX_TEXT_CHARS {
            return Err(Refusal::TemplateParamsInvalid(format!(
                "the filled template has {rendered} characters, more than {MAX_TEXT_CHARS}"
            )));
        }
        Ok(params)
    }

    pub fn template_id(&self) -> &TemplateId {
        &self.template_id
    }

    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// The text the user will see.
    pub fn render(&self, template: &Template) -> String {
        let mut out = String::with_capacity(template.text().len());
        // The template parsed once already, so its segments parse again.
        for segment in segments(template.text()).unwrap_or_default() {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Placeholder(name) => out.push_str(
                    self.values
                        .get(name)
                        .map(String::as_str)
                        .unwrap_or_default(),
                ),
            }
        }
        out
    }
}

fn check_param(name: &str, value: &str) -> Result<(), Refusal> {
    let chars = value.chars().count();
    if is_blank(value) {
        return Err(Refusal::TemplateParamsInvalid(format!(
            "{name}: empty (or only whitespace and invisible characters)"
        )));
    }
    if chars > MAX_PARAM_CHARS {
        return Err(Refusal::TemplateParamsInvalid(format!(
            "{name}: at most {MAX_PARAM_CHARS} characters (got {chars})"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Refusal::TemplateParamsInvalid(format!(
            "{name}: control characters are not allowed"
        )));
    }
    if looks_like_url(value) {
        return Err(Refusal::TemplateParamsInvalid(format!(
            "{name}: parameters must not contain URLs"
        )));
    }
    Ok(())
}

/// Viber refuses links in template parameters; catch the usual spellings of one.
fn looks_like_url(value: &str) -> bool {
    let lower = value.to_lowercase();
    lower.contains("://") || lower.contains("www.") || lower.split_whitespace().any(is_bare_domain)
}

/// `example.com`, `bit.ly/x`: a dotted word whose last label is alphabetic, 2+ letters.
fn is_bare_domain(word: &str) -> bool {
    let host = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split('/')
        .next()
        .unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_templates_need_their_pin_and_promotional_ones_are_refused() {
        let otp = Template::parse(
            TemplateId::parse("login").unwrap(),
            Language::parse("en").unwrap(),
            TemplateCategory::Transactional,
            true,
            "Your code is {{pin}}",
        )
        .unwrap();
        assert!(otp.is_otp());
        assert_eq!(otp.reach(), TemplateReach::AllDevices, "1702 by default");
        let without_pin = BTreeMap::new();
        let refused = TemplateParams::fill(&otp, &without_pin).unwrap_err();
        assert_eq!(refused.code(), "template_params_invalid");
        let with_pin: BTreeMap<String, String> = [("pin".to_owned(), "4711".to_owned())].into();
        assert!(TemplateParams::fill(&otp, &with_pin).is_ok());

        let refused = TemplateCategory::parse("promotional").unwrap_err();
        assert!(
            refused.to_string().contains("no promotional templates"),
            "{refused}"
        );
        assert_eq!(
            TemplateCategory::parse_stored("promotional"),
            Ok(TemplateCategory::Promotional)
        );
        assert_eq!(
            TemplateReach::parse("smartphones"),
            Ok(TemplateReach::Smartphones)
        );
        for reach in [TemplateReach::Smartphones, TemplateReach::AllDevices] {
            assert_eq!(TemplateReach::parse(reach.as_str()), Ok(reach));
        }
    }

    fn template(text: &str) -> Template {
        Template::parse(
            TemplateId::parse("order_ready").unwrap(),
            Language::parse("en").unwrap(),
            TemplateCategory::Transactional,
            true,
            text,
        )
        .unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_are_found_once_in_order() {
        let t = template("Hi {{name}}, order {{ order }} is ready. Bye {{name}}");
        assert_eq!(t.placeholders(), ["name", "order"]);
    }

    #[test]
    fn broken_placeholders_are_refused() {
        for bad in ["Hi {{name", "Hi {{}}", "Hi {{na me}}", "Hi {{a-b}}"] {
            let err = Template::parse(
                TemplateId::parse("t").unwrap(),
                Language::parse("en").unwrap(),
                TemplateCategory::Transactional,
                true,
                bad,
            )
            .unwrap_err();
            assert_eq!(err.code(), "validation_failed", "{bad}");
        }
    }

    #[test]
    fn all_placeholders_filled_none_extra() {
        let t = template("Hi {{name}}, order {{order}}");
        let ok = TemplateParams::fill(&t, &params(&[("name", "Ann"), ("order", "42")])).unwrap();
        assert_eq!(ok.render(&t), "Hi Ann, order 42");
        let missing = TemplateParams::fill(&t, &params(&[("name", "Ann")])).unwrap_err();
        assert_eq!(
            missing,
            Refusal::TemplateParamsInvalid("missing: order".into())
        );
        let extra = TemplateParams::fill(
            &t,
            &params(&[("name", "Ann"), ("order", "1"), ("coupon", "X")]),
        )
        .unwrap_err();
        assert_eq!(
            extra,
            Refusal::TemplateParamsInvalid("not in the template: coupon".into())
        );
    }

    #[test]
    fn parameter_length_boundary_is_125() {
        let t = template("Hi {{name}}");
        assert!(TemplateParams::fill(&t, &params(&[("name", &"a".repeat(125))])).is_ok());
        let err = TemplateParams::fill(&t, &params(&[("name", &"a".repeat(126))])).unwrap_err();
        assert_eq!(err.code(), "template_params_invalid");
    }

    /// Parameters go inline into text Viber approved: one visible line each (the
    /// same rule as openapi.yaml's `minLength` and `pattern`).
    #[test]
    fn parameters_are_one_visible_line() {
        let t = template("Hi {{name}}");
        for bad in [
            "",
            "   ",
            "\u{200B}",
            "\u{2060}\u{FEFF}",
            " \u{200D} \u{00AD}",
            "\u{E0041}",
            "Ann\nSmith",
            "Ann\r\n",
            "tab\there",
        ] {
            let err = TemplateParams::fill(&t, &params(&[("name", bad)])).unwrap_err();
            assert_eq!(err.code(), "template_params_invalid", "{bad:?}");
        }
        for fine in ["A", "Ann\u{200B}", "O'Brien", "😀"] {
            assert!(
                TemplateParams::fill(&t, &params(&[("name", fine)])).is_ok(),
                "{fine:?}"
            );
        }
    }

    #[test]
    fn parameters_must_not_carry_urls() {
        let t = template("Hi {{name}}");
        for url in [
            "https://x.io",
            "go to www.shop",
            "visit example.com now",
            "bit.ly/abc",
            "HTTP://A.B",
        ] {
            let err = TemplateParams::fill(&t, &params(&[("name", url)])).unwrap_err();
            assert_eq!(err.code(), "template_params_invalid", "{url}");
        }
        for fine in ["Ann", "order 12.5", "Mr. Smith", "3.14", "Київ"] {
            assert!(
                TemplateParams::fill(&t, &params(&[("name", fine)])).is_ok(),
                "{fine}"
            );
        }
    }
}
