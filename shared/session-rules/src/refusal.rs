use thiserror::Error;

/// Every reason this crate says no, one variant per stable error code of the business API.
///
/// The HTTP layer maps each to a status code; the [`Refusal::code`] strings are a public contract
/// (clients switch on them) and never change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error(
        "no session is open with this user: only non-session messages (template, transactional) can be sent until the user writes"
    )]
    NoSession,
    #[error(
        "the session with this user expired (24 h after it started): only non-session messages can be sent until the user writes again"
    )]
    SessionExpired,
    #[error(
        "the session has used all its session messages: only non-session messages can be sent until the user writes again"
    )]
    SessionLimitReached,
    #[error(
        "too many session messages in a row without a reply: session sending is locked until the user writes"
    )]
    SessionLocked,
    #[error("the user has blocked this sender")]
    RecipientOptedOut,
    #[error("the first message to a user must not be promotional")]
    FirstMessagePromotional,
    #[error("{0}")]
    TemplateRequired(String),
    #[error("template not found")]
    TemplateNotFound,
    #[error(
        "template is not approved by Viber: only an approved template can be sent (this one is pending review, rejected or deleted)"
    )]
    TemplateNotApproved,
    #[error("template parameters are invalid: {0}")]
    TemplateParamsInvalid(String),
    /// A new template breaks one of the content rules (its code names the rule).
    #[error("text: {1}")]
    TemplateRule(crate::TemplateRule, String),
    /// The business already holds the most templates it may (rejected ones included).
    #[error(
        "this business holds {0} templates, the most Viber allows a sender (rejected ones included): delete one to create another"
    )]
    TemplateLimitReached(u32),
    #[error("{field}: {reason}")]
    ValidationFailed { field: String, reason: String },
    #[error("invalid phone number: {0}")]
    InvalidPhone(String),
    /// No Viber service of the business can carry the message (a session message without a
    /// session service, a template without a one-way or two-way one).
    #[error("{0}")]
    NoServiceForMessage(crate::NoService),
    /// The business's SMS policy refuses the message's failover.
    #[error("{0}")]
    Sms(crate::sms::SmsRefusal),
    /// A message asked to wait for the user's reply until a time it may not wait for.
    #[error("wait_for_session.until: {0}")]
    HoldUntilInvalid(String),
    /// The conversation already holds the most messages it may (`hold::MAX_HELD_PER_CONVERSATION`).
    #[error(
        "this conversation already holds {0} messages waiting for the user's reply, the most it may"
    )]
    TooManyHeld(usize),
}

impl From<crate::sms::SmsRefusal> for Refusal {
    fn from(refusal: crate::sms::SmsRefusal) -> Self {
        Refusal::Sms(refusal)
    }
}

impl Refusal {
    /// The stable error code (docs/api.md lists them).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoSession => "no_session",
            Refusal::SessionExpired => "session_expired",
            Refusal::SessionLimitReached => "session_limit_reached",
            Refusal::SessionLocked => "session_locked",
            Refusal::RecipientOptedOut => "recipient_opted_out",
            Refusal::FirstMessagePromotional => "first_message_promotional",
            Refusal::TemplateRequired(_) => "template_required",
            Refusal::TemplateNotFound => "template_not_found",
            Refusal::TemplateNotApproved => "template_not_approved",
            Refusal::TemplateParamsInvalid(_) => "template_params_invalid",
            Refusal::TemplateRule(rule, _) => rule.code(),
            Refusal::TemplateLimitReached(_) => "template_limit_reached",
            Refusal::ValidationFailed { .. } => "validation_failed",
            Refusal::InvalidPhone(_) => "invalid_phone",
            Refusal::NoServiceForMessage(_) => "no_service_for_message",
            Refusal::Sms(refusal) => refusal.code(),
            Refusal::HoldUntilInvalid(_) => "hold_until_invalid",
            Refusal::TooManyHeld(_) => "too_many_held",
        }
    }

    /// Every code this crate can produce, for the API document's test.
    pub const ALL_CODES: [&'static str; 24] = [
        "no_session",
        "session_expired",
        "session_limit_reached",
        "session_locked",
        "recipient_opted_out",
        "first_message_promotional",
        "template_required",
        "template_not_found",
        "template_not_approved",
        "template_params_invalid",
        "validation_failed",
        "invalid_phone",
        "failover_destination_refused",
        "failover_too_many_parts",
        "failover_sender_id_not_registered",
        // Templates a business creates: each content rule, then the 2,000.
        "template_placeholder_invalid",
        "template_placeholders_only",
        "template_pin_required",
        "template_pin_reserved",
        "template_text_too_long",
        "template_limit_reached",
        "no_service_for_message",
        // A message waiting for the user's reply.
        "hold_until_invalid",
        "too_many_held",
    ];

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Refusal::ValidationFailed {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The field a validation refusal is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Refusal::ValidationFailed { field, .. } => Some(field),
            Refusal::TemplateRule(..) => Some("text"),
            Refusal::Sms(refusal) => Some(refusal.field()),
            Refusal::HoldUntilInvalid(_) => Some("wait_for_session.until"),
            _ => None,
        }
    }
}
