use std::time::Duration;

/// Viber's numbers, in one place. Viber has changed them before (12 h and 10 messages in older
/// material), so they are configuration with today's values as defaults, never literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A session ends this long after it started (fixed anchor: later user messages do not extend it).
    pub session_duration: Duration,
    /// A session ends when the business has sent this many session messages in it.
    pub max_session_messages: u32,
    /// This many session messages in a row without a user message lock session sending.
    pub max_consecutive: u32,
    /// Shortest message time-to-live Viber accepts.
    pub min_ttl: Duration,
    /// Longest message time-to-live Viber accepts.
    pub max_ttl: Duration,
    /// TTL used when a request gives none.
    pub default_ttl: Duration,
    /// How free-form transactional text goes to Viber, if at all.
    pub transactional_text: TransactionalText,
    /// Whether a user's reply on a two-way service opens a session (`VIBER_TWO_WAY_SESSIONS`).
    pub two_way_sessions: crate::TwoWaySessions,
}

/// Free-form transactional text of a business opted in to Viber's legacy types
/// ([`crate::LegacyTransactional`]; everyone else gets `template_required`): type 106 (legacy)
/// or 206 (deprecated since 2026-04-01: "use templates"), or refused for every business so that
/// transactional content goes only as templates (VIBER.md). A deployment setting
/// (`VIBER_TRANSACTIONAL_TEXT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TransactionalText {
    #[default]
    Type106,
    Type206,
    /// `template_only_transactional`: a free-form transactional send is `template_required`.
    TemplateOnly,
}

impl TransactionalText {
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "106" => Some(Self::Type106),
            "206" => Some(Self::Type206),
            "template_only_transactional" => Some(Self::TemplateOnly),
            _ => None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            session_duration: Duration::from_secs(24 * 60 * 60),
            max_session_messages: 60,
            max_consecutive: 5,
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(14 * 24 * 60 * 60),
            default_ttl: Duration::from_secs(24 * 60 * 60),
            transactional_text: TransactionalText::default(),
            two_way_sessions: crate::TwoWaySessions::default(),
        }
    }
}
