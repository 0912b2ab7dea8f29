//! Pre-approved templates (Viber types 1701/1702) and the parameters that fill them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::content::{MAX_TEXT_CHARS, is_blank};
use crate::{Refusal, Timestamp};

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
    /// A one-time password template: it has `{{pin}}`, Viber shows it with a copy button and
    /// partners price it apart (docs/viber.md, "Templates a business creates").
    Otp,
    Promotional,
}

impl TemplateCategory {
    /// A category for a template being registered: `transactional`. No public source has a
    /// promotional template (Viber's 1701 and 1702 are both transactional), so `promotional`
    /// is refused, saying where promotional content goes instead.
    pub fn parse(input: &str) -> Result<Self, Refusal> {
        match input {
            "transactional" => Ok(Self::Transactional),
            "otp" => Ok(Self::Otp),
            "promotional" => Err(Refusal::invalid(
                "category",
                "Viber has no promotional templates (1701 and 1702 are both transactional); \
                 send promotional content as a message of type promotional",
            )),
            _ => Err(Refusal::invalid("category", "must be transactional or otp")),
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
            Self::Otp => "otp",
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

/// Where a template stands with Viber. A template is never edited: a change is a new template
/// (Routee, "Viber transactional templates": delete it and create a new one, with a new id).
///
/// ```text
/// pending_review ──approve──▶ approved ──delete──▶ deleted
///       │                                              ▲
///       └──────reject──────▶ rejected ─────delete──────┘
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateState {
    /// Submitted; Viber's moderation has not answered yet (up to 24 h, CM.com).
    PendingReview,
    /// Viber approved it: the only state a template can be sent in.
    Approved,
    /// Viber declined it (the reason is kept). It still counts toward the 2,000 until deleted.
    Rejected,
    /// The business deleted it; kept for the history of the messages sent with it.
    Deleted,
}

impl TemplateState {
    pub const ALL: [TemplateState; 4] = [
        TemplateState::PendingReview,
        TemplateState::Approved,
        TemplateState::Rejected,
        TemplateState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingReview => "pending_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(input: &str) -> Result<Self, Refusal> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == input)
            .ok_or_else(|| {
                Refusal::invalid(
                    "state",
                    "must be one of pending_review, approved, rejected, deleted",
                )
            })
    }
}

/// Who created a template: an operator with `vbmctl template put` (its id is Viber's own id),
/// or the business through `POST /v1/templates` (our id; Viber's comes with the approval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateOrigin {
    #[default]
    Operator,
    Api,
}

impl TemplateOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Api => "api",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "operator" => Some(Self::Operator),
            "api" => Some(Self::Api),
            _ => None,
        }
    }
}

/// A registered template: its text with `{{name}}` placeholders, language, category, the
/// devices it reaches and where it stands with Viber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    id: TemplateId,
    language: Language,
    category: TemplateCategory,
    reach: TemplateReach,
    state: TemplateState,
    text: String,
    placeholders: Vec<String>,
    name: Option<String>,
    origin: TemplateOrigin,
    viber_id: Option<TemplateId>,
    rejection_reason: Option<String>,
    created_at: Option<Timestamp>,
}

impl Template {
    /// Parses a template's text and finds its placeholders. A placeholder is `{{name}}` with a
    /// name of letters, digits and `_` (spaces inside the braces are ignored). `approved`
    /// gives the state `approved`, else `pending_review`. An `otp` template must have
    /// `{{pin}}`. (The stricter rules for a template a business creates are
    /// [`TemplateDraft::parse`]'s: this one also reads what operators registered before.)
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
        if category == TemplateCategory::Otp && !placeholders.iter().any(|p| p == PIN) {
            return Err(Refusal::TemplateRule(
                TemplateRule::PinRequired,
                "an otp template must contain {{pin}}".into(),
            ));
        }
        Ok(Self {
            id,
            language,
            category,
            reach: TemplateReach::default(),
            state: if approved {
                TemplateState::Approved
            } else {
                TemplateState::PendingReview
            },
            text: text.to_owned(),
            placeholders,
            name: None,
            origin: TemplateOrigin::Operator,
            viber_id: None,
            rejection_reason: None,
            created_at: None,
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
    /// An OTP template: of category `otp`, or (registered by an operator before that category
    /// existed) one with a `pin` placeholder (VIBER.md: OTP templates need a `pin`; a send
    /// without it is refused as `template_params_invalid` before it reaches Viber).
    pub fn is_otp(&self) -> bool {
        self.category == TemplateCategory::Otp || self.placeholders.iter().any(|p| p == PIN)
    }
    pub fn is_approved(&self) -> bool {
        self.state == TemplateState::Approved
    }
    pub fn state(&self) -> TemplateState {
        self.state
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Placeholder names in order of first appearance.
    pub fn placeholders(&self) -> &[String] {
        &self.placeholders
    }
    /// The business's name for it (templates created through the API).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    pub fn origin(&self) -> TemplateOrigin {
        self.origin
    }
    /// Viber's id, once it approved a template created through the API.
    pub fn viber_id(&self) -> Option<&TemplateId> {
        self.viber_id.as_ref()
    }
    /// The `templateId` Viber knows this template by: the id Viber gave at approval, else (an
    /// operator registers a template under Viber's id) its own id.
    pub fn viber_template_id(&self) -> &TemplateId {
        self.viber_id.as_ref().unwrap_or(&self.id)
    }
    pub fn rejection_reason(&self) -> Option<&str> {
        self.rejection_reason.as_deref()
    }
    pub fn created_at(&self) -> Option<Timestamp> {
        self.created_at
    }

    /// The template as approved by Viber.
    pub fn approve(mut self) -> Self {
        self.state = TemplateState::Approved;
        self
    }

    /// The same template in `state`, with what it was stored with (the store's reading).
    pub fn restored(
        mut self,
        state: TemplateState,
        origin: TemplateOrigin,
        name: Option<String>,
        viber_id: Option<TemplateId>,
        rejection_reason: Option<String>,
        created_at: Option<Timestamp>,
    ) -> Self {
        self.state = state;
        self.origin = origin;
        self.name = name;
        self.viber_id = viber_id;
        self.rejection_reason = rejection_reason;
        self.created_at = created_at;
        self
    }

    /// What Viber's moderation answer makes of this template. `Unchanged` for the same answer
    /// given again (an operator repeating a command whose event may not have gone out);
    /// refused when it contradicts where the template stands.
    pub fn moderate(&self, moderation: &Moderation) -> Result<Moderated, ModerationRefused> {
        match (self.state, moderation) {
            (TemplateState::PendingReview, Moderation::Approve { viber_id }) => {
                let viber_id = match (viber_id, self.origin) {
                    (Some(id), _) => Some(id.clone()),
                    (None, TemplateOrigin::Operator) => None,
                    (None, TemplateOrigin::Api) => {
                        return Err(ModerationRefused(
                            "a template created through the API needs Viber's template id \
                             (--viber-id)"
                                .into(),
                        ));
                    }
                };
                let mut t = self.clone();
                t.state = TemplateState::Approved;
                t.viber_id = viber_id;
                Ok(Moderated::Changed(t))
            }
            (TemplateState::PendingReview, Moderation::Reject { reason }) => {
                let mut t = self.clone();
                t.state = TemplateState::Rejected;
                t.rejection_reason = Some(reason.clone());
                Ok(Moderated::Changed(t))
            }
            (TemplateState::Approved, Moderation::Approve { viber_id })
                if viber_id.is_none() || viber_id.as_ref() == Some(self.viber_template_id()) =>
            {
                Ok(Moderated::Unchanged(self.clone()))
            }
            (TemplateState::Rejected, Moderation::Reject { reason })
                if self.rejection_reason.as_deref() == Some(reason.as_str()) =>
            {
                Ok(Moderated::Unchanged(self.clone()))
            }
            (state, _) => Err(ModerationRefused(format!(
                "template {} is {}: only a template pending review can be approved or \
                 rejected (templates are never edited)",
                self.id.as_str(),
                state.as_str()
            ))),
        }
    }

    /// The template deleted; `None` when it already was.
    pub fn delete(&self) -> Option<Template> {
        (self.state != TemplateState::Deleted).then(|| {
            let mut t = self.clone();
            t.state = TemplateState::Deleted;
            t
        })
    }
}

/// Viber's answer on a template, as the operator relays it (`vbmctl template approve|reject`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderation {
    /// Approved; Viber's template id (required for a template created through the API).
    Approve { viber_id: Option<TemplateId> },
    /// Declined, with Viber's reason.
    Reject { reason: String },
}

/// Longest rejection reason kept.
pub const MAX_REJECTION_REASON_CHARS: usize = 500;

impl Moderation {
    pub fn reject(reason: &str) -> Result<Self, Refusal> {
        let chars = reason.chars().count();
        if is_blank(reason) || chars > MAX_REJECTION_REASON_CHARS {
            return Err(Refusal::invalid(
                "reason",
                format!("1 to {MAX_REJECTION_REASON_CHARS} characters"),
            ));
        }
        Ok(Self::Reject {
            reason: reason.to_owned(),
        })
    }
}

/// What a moderation answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderated {
    /// The template moved (approved or rejected): store it, then tell the business.
    Changed(Template),
    /// It already stood there: nothing to store; telling the business again is harmless (the
    /// event has the same id).
    Unchanged(Template),
}

/// A moderation answer that contradicts where the template stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModerationRefused(pub String);

/// The placeholder an OTP template must have (VIBER.md; Routee, CM.com, Infobip).
pub const PIN: &str = "pin";

/// Which content rule a new template broke: each is its own error code, so a business can tell
/// what to change (docs/viber.md, "Templates a business creates", lists the sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateRule {
    /// `{{` without `}}`, `}}` without `{{`, or a placeholder name that is not a letter
    /// followed by letters, digits and `_` (at most [`MAX_PLACEHOLDER_NAME_CHARS`]).
    PlaceholderInvalid,
    /// No fixed text: only placeholders, spaces and punctuation.
    PlaceholdersOnly,
    /// An OTP template without `{{pin}}`.
    PinRequired,
    /// `{{pin}}` in a transactional template: it makes an OTP template (its own category).
    PinReserved,
    /// More than [`MAX_TEXT_CHARS`] characters.
    TextTooLong,
}

impl TemplateRule {
    pub const ALL: [TemplateRule; 5] = [
        TemplateRule::PlaceholderInvalid,
        TemplateRule::PlaceholdersOnly,
        TemplateRule::PinRequired,
        TemplateRule::PinReserved,
        TemplateRule::TextTooLong,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::PlaceholderInvalid => "template_placeholder_invalid",
            Self::PlaceholdersOnly => "template_placeholders_only",
            Self::PinRequired => "template_pin_required",
            Self::PinReserved => "template_pin_reserved",
            Self::TextTooLong => "template_text_too_long",
        }
    }
}

/// Longest placeholder name in a new template.
pub const MAX_PLACEHOLDER_NAME_CHARS: usize = 32;
/// Longest name a business gives a template.
pub const MAX_TEMPLATE_NAME_CHARS: usize = 64;
/// Templates one business may hold, rejected ones included (Routee: "up to 2,000 transactional
/// templates per sender"; declined ones count, VIBER.md). Deleting one frees its place.
pub const MAX_TEMPLATES_PER_BUSINESS: u32 = 2_000;

/// `POST /v1/templates` as it arrives.
///
/// ```json
/// {"name": "Order shipped", "lang": "en", "category": "transactional",
///  "text": "Hi {{name}}, your order {{order_id}} is on its way.", "reach": "all_devices"}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTemplateDraft {
    pub name: String,
    pub lang: String,
    pub category: String,
    pub text: String,
    #[serde(default, deserialize_with = "crate::message::not_null")]
    pub reach: Option<String>,
}

/// A template a business submits, checked against the content rules partners publish before
/// anything is stored. It becomes a [`Template`] `pending_review` until Viber answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDraft {
    name: String,
    template: Template,
}

impl TemplateDraft {
    pub fn parse(raw: &RawTemplateDraft) -> Result<Self, Refusal> {
        // As given (openapi.yaml's pattern says the same: one visible line, nothing trimmed).
        let name = raw.name.as_str();
        if is_blank(name)
            || name.chars().count() > MAX_TEMPLATE_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(Refusal::invalid(
                "name",
                format!("1 to {MAX_TEMPLATE_NAME_CHARS} characters on one line"),
            ));
        }
        let language = Language::parse(&raw.lang)?;
        let category = TemplateCategory::parse(&raw.category)?;
        let reach = match raw.reach.as_deref() {
            None => TemplateReach::default(),
            Some(reach) => TemplateReach::parse(reach)?,
        };
        let text = raw.text.as_str();
        if is_blank(text) {
            return Err(Refusal::invalid("text", "required"));
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(rule(
                TemplateRule::TextTooLong,
                format!("at most {MAX_TEXT_CHARS} characters (got {chars})"),
            ));
        }
        if text.contains('\0') {
            return Err(Refusal::invalid("text", "must not contain NUL"));
        }
        let segments = segments(text)
            .map_err(|refusal| rule(TemplateRule::PlaceholderInvalid, refusal_reason(&refusal)))?;
        let mut has_fixed_text = false;
        for segment in &segments {
            match segment {
                Segment::Literal(literal) => {
                    if literal.contains("}}") {
                        return Err(rule(
                            TemplateRule::PlaceholderInvalid,
                            "a '}}' without its opening '{{'".into(),
                        ));
                    }
                    has_fixed_text |= literal.chars().any(char::is_alphanumeric);
                }
                Segment::Placeholder(name) => check_placeholder_name(name)?,
            }
        }
        if !has_fixed_text {
            return Err(rule(
                TemplateRule::PlaceholdersOnly,
                "a template is fixed text with placeholders in it: this one has no fixed text"
                    .into(),
            ));
        }
        let has_pin = segments
            .iter()
            .any(|s| matches!(s, Segment::Placeholder(name) if *name == PIN));
        match category {
            TemplateCategory::Otp if !has_pin => {
                return Err(rule(
                    TemplateRule::PinRequired,
                    "an otp template must contain {{pin}} (Viber shows it with a copy button)"
                        .into(),
                ));
            }
            TemplateCategory::Transactional if has_pin => {
                return Err(rule(
                    TemplateRule::PinReserved,
                    "{{pin}} makes a one-time password template: create it with category otp"
                        .into(),
                ));
            }
            _ => {}
        }
        // The id is a stand-in until `into_template` gives the real one.
        let id = TemplateId(String::from("draft"));
        let template = Template::parse(id, language, category, false, text)?.with_reach(reach);
        Ok(Self {
            name: name.to_owned(),
            template,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template as stored: `pending_review`, created through the API, with its id.
    pub fn into_template(self, id: TemplateId, created_at: Timestamp) -> Template {
        let mut t = self.template;
        t.id = id;
        t.name = Some(self.name);
        t.origin = TemplateOrigin::Api;
        t.created_at = Some(created_at);
        t
    }
}

fn rule(rule: TemplateRule, detail: String) -> Refusal {
    Refusal::TemplateRule(rule, detail)
}

fn refusal_reason(refusal: &Refusal) -> String {
    match refusal {
        Refusal::ValidationFailed { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn check_placeholder_name(name: &str) -> Result<(), Refusal> {
    let ok = name.len() <= MAX_PLACEHOLDER_NAME_CHARS
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(rule(
            TemplateRule::PlaceholderInvalid,
            format!(
                "placeholder '{{{{{name}}}}}': a name is a letter, then letters, digits or '_', \
                 at most {MAX_PLACEHOLDER_NAME_CHARS} characters (like {{{{order_id}}}})"
            ),
        ))
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

    fn draft(category: &str, text: &str) -> Result<TemplateDraft, Refusal> {
        TemplateDraft::parse(&RawTemplateDraft {
            name: "Order shipped".into(),
            lang: "en".into(),
            category: category.into(),
            text: text.into(),
            reach: None,
        })
    }

    #[test]
    fn a_new_template_names_the_content_rule_it_breaks() {
        let ok = draft(
            "transactional",
            "Hi {{name}}, order {{order_id}} is on its way.",
        )
        .unwrap();
        let t = ok.into_template(
            TemplateId::parse("01JD0Z6Q9T3M8V4K2X7B5N1C0A").unwrap(),
            Timestamp::from_millis(1),
        );
        assert_eq!(t.state(), TemplateState::PendingReview);
        assert_eq!(t.origin(), TemplateOrigin::Api);
        assert_eq!(t.name(), Some("Order shipped"));
        assert!(!t.is_otp());
        let otp = draft("otp", "Your login code is {{pin}}").unwrap();
        assert_eq!(otp.template.category(), TemplateCategory::Otp);
        for (category, text, code) in [
            ("transactional", "Hi {{name", "template_placeholder_invalid"),
            (
                "transactional",
                "Hi name}} there",
                "template_placeholder_invalid",
            ),
            ("transactional", "Hi {{1}}", "template_placeholder_invalid"),
            ("transactional", "Hi {{_x}}", "template_placeholder_invalid"),
            (
                "transactional",
                "Hi {{first-name}}",
                "template_placeholder_invalid",
            ),
            ("transactional", "Hi {{}}", "template_placeholder_invalid"),
            (
                "transactional",
                &format!("Hi {{{{{}}}}}", "a".repeat(33)),
                "template_placeholder_invalid",
            ),
            ("transactional", "{{name}}", "template_placeholders_only"),
            (
                "transactional",
                " {{a}}, {{b}}! ",
                "template_placeholders_only",
            ),
            ("otp", "Your code is {{code}}", "template_pin_required"),
            (
                "transactional",
                "Your code is {{pin}}",
                "template_pin_reserved",
            ),
            ("transactional", &"a".repeat(1001), "template_text_too_long"),
            ("transactional", "   ", "validation_failed"),
            ("promotional", "Sale {{x}}", "validation_failed"),
        ] {
            let refused = draft(category, text).unwrap_err();
            assert_eq!(refused.code(), code, "{text:?}");
        }
        assert!(draft("transactional", &"a".repeat(1000)).is_ok());
        assert!(draft("transactional", &format!("Hi {{{{{}}}}}", "a".repeat(32))).is_ok());
        let long_name = TemplateDraft::parse(&RawTemplateDraft {
            name: "n".repeat(65),
            lang: "en".into(),
            category: "transactional".into(),
            text: "Hi".into(),
            reach: None,
        })
        .unwrap_err();
        assert_eq!(long_name.field(), Some("name"));
    }

    #[test]
    fn moderation_moves_a_pending_template_once() {
        let pending = draft("transactional", "Hi {{name}}")
            .unwrap()
            .into_template(TemplateId::parse("t1").unwrap(), Timestamp::from_millis(1));
        let viber = TemplateId::parse("4f1c2d9e-0000-4000-8000-000000000001").unwrap();
        // A template created through the API needs Viber's id.
        assert!(
            pending
                .moderate(&Moderation::Approve { viber_id: None })
                .is_err()
        );
        let approve = Moderation::Approve {
            viber_id: Some(viber.clone()),
        };
        let Ok(Moderated::Changed(approved)) = pending.moderate(&approve) else {
            panic!("approved")
        };
        assert!(approved.is_approved());
        assert_eq!(approved.viber_template_id(), &viber);
        // The same answer again changes nothing; a contradicting one is refused.
        assert!(matches!(
            approved.moderate(&approve),
            Ok(Moderated::Unchanged(_))
        ));
        let reject = Moderation::reject("promotional content").unwrap();
        assert!(approved.moderate(&reject).is_err());
        let Ok(Moderated::Changed(rejected)) = pending.moderate(&reject) else {
            panic!("rejected")
        };
        assert_eq!(rejected.state(), TemplateState::Rejected);
        assert_eq!(rejected.rejection_reason(), Some("promotional content"));
        assert!(matches!(
            rejected.moderate(&reject),
            Ok(Moderated::Unchanged(_))
        ));
        assert!(rejected.moderate(&approve).is_err());
        let deleted = rejected.delete().unwrap();
        assert_eq!(deleted.state(), TemplateState::Deleted);
        assert!(deleted.delete().is_none());
        assert!(deleted.moderate(&approve).is_err());
        assert!(Moderation::reject("  ").is_err());
        // An operator's template is registered under Viber's id already.
        let operator = template("Hi {{name}}");
        let operator = Template::parse(
            operator.id().clone(),
            operator.language().clone(),
            TemplateCategory::Transactional,
            false,
            "Hi {{name}}",
        )
        .unwrap();
        let Ok(Moderated::Changed(ok)) = operator.moderate(&Moderation::Approve { viber_id: None })
        else {
            panic!("approved")
        };
        assert_eq!(ok.viber_template_id(), ok.id());
        for state in TemplateState::ALL {
            assert_eq!(TemplateState::parse(state.as_str()), Ok(state));
        }
    }
}
